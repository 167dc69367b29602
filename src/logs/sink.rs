//! Where formatted events go: one redaction, then console, rolling file, ring buffer and
//! broadcast all receive the same redacted line.
//!
//! The `fmt` layer formats each event that passed the filter into one buffer and writes it with
//! a single `write_all` to the writer that [`HubWriter::make_writer_for`] returned; that writer
//! redacts and fans out when it is dropped. Redaction therefore runs once per recorded event
//! and never for filtered-out ones, and no sink can see unredacted text.
use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{SecondsFormat, Utc};
use parking_lot::{Condvar, Mutex, RwLock};
use tokio::sync::broadcast;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::{Format, Full};
use tracing_subscriber::fmt::{self, FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

use super::{LogError, LogLine};

/// Lines kept in memory for the panel's live view.
pub const RING_CAPACITY: usize = 2000;
/// Slack for slow SSE clients before they start missing lines (they get `Lagged` and resume).
const BROADCAST_CAPACITY: usize = 1024;

pub(crate) struct Sinks {
    console: AtomicBool,
    file: RwLock<Option<FileSink>>,
    live: Mutex<Live>,
    tx: broadcast::Sender<LogLine>,
    /// Repeated identical warnings and errors are written once per window.
    throttle: super::throttle::Throttle,
}

struct Live {
    next_seq: u64,
    ring: VecDeque<LogLine>,
}

impl Sinks {
    pub(crate) fn new(console: bool, file: Option<FileSink>) -> Self {
        Self {
            console: AtomicBool::new(console),
            file: RwLock::new(file),
            live: Mutex::new(Live {
                next_seq: 1,
                ring: VecDeque::with_capacity(RING_CAPACITY),
            }),
            tx: broadcast::channel(BROADCAST_CAPACITY).0,
            throttle: super::throttle::Throttle::default(),
        }
    }

    fn dispatch(&self, level: Level, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        // Without the header it is `fmt`'s own "unable to format" notice.
        let (target, text) = match text.split_once(TARGET_END) {
            Some((target, body)) => (target.to_owned(), body),
            None => ("tracing_subscriber::fmt".to_owned(), &*text),
        };
        let message = super::redact(text.trim_end_matches(['\n', '\r'])).into_owned();
        self.deliver(level, target, message);
    }

    /// Writes one line, already redacted, to every sink.
    pub(crate) fn deliver(&self, level: Level, target: String, mut message: String) {
        if level <= Level::WARN {
            let key = format!("{target}{TARGET_END}{message}");
            match self.throttle.check(&key, std::time::Instant::now()) {
                super::throttle::Verdict::Suppress => return,
                super::throttle::Verdict::Write { suppressed: 0 } => {}
                super::throttle::Verdict::Write { suppressed } => {
                    message.push_str(&format!(" ({suppressed} identical lines suppressed)"));
                }
            }
        }
        let at = Utc::now();
        let rendered = format!(
            "{} {:>5} {}: {}\n",
            at.to_rfc3339_opts(SecondsFormat::Millis, true),
            level,
            target,
            message
        );
        if self.console.load(Ordering::Relaxed) {
            let _ = io::stderr().lock().write_all(rendered.as_bytes());
        }
        if let Some(file) = &*self.file.read() {
            file.writer.write(rendered.as_bytes());
        }
        let mut live = self.live.lock();
        let line = LogLine {
            seq: live.next_seq,
            at,
            level: level.as_str().to_owned(),
            target,
            message,
        };
        live.next_seq += 1;
        if live.ring.len() == RING_CAPACITY {
            live.ring.pop_front();
        }
        // Sent under the lock so subscribers see lines in `seq` order; with nobody listening
        // (the usual case) the line is not even copied.
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(line.clone());
        }
        live.ring.push_back(line);
    }

    pub(crate) fn recent(&self, n: usize) -> Vec<LogLine> {
        let live = self.live.lock();
        let skip = live.ring.len().saturating_sub(n);
        live.ring.iter().skip(skip).cloned().collect()
    }

    pub(crate) fn clear_recent(&self) {
        self.live.lock().ring.clear();
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.tx.subscribe()
    }

    pub(crate) fn set_console(&self, on: bool) {
        self.console.store(on, Ordering::Relaxed);
    }

    pub(crate) fn file_config(&self) -> Option<(PathBuf, usize)> {
        self.file
            .read()
            .as_ref()
            .map(|f| (f.path.clone(), f.retention_days))
    }

    /// Swaps the file sink and returns the old one, so the caller drops it (which drains its
    /// queue to disk) outside the lock: a writer thread must never wait on a flush.
    pub(crate) fn replace_file(&self, file: Option<FileSink>) -> Option<FileSink> {
        let mut slot = self.file.write();
        std::mem::replace(&mut *slot, file)
    }
}

/// A daily rolling file behind a writer thread that writes in batches.
pub(crate) struct FileSink {
    path: PathBuf,
    retention_days: usize,
    dir: PathBuf,
    prefix: String,
    suffix: Option<String>,
    // Dropping it writes what is pending and stops the writer thread.
    writer: BatchWriter,
}

impl FileSink {
    /// `path` names the log "file" as LOG_FILE gives it; the actual files are
    /// `<dir>/<stem>.<YYYY-MM-DD>.<ext>`, one per day, `retention_days` of them kept (today's
    /// included, at least 2).
    pub(crate) fn open(path: &Path, retention_days: usize) -> Result<Self, LogError> {
        let file_err = |reason: String| LogError::File {
            path: path.to_path_buf(),
            reason,
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| file_err("not a file name".into()))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (prefix, suffix) = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => {
                (stem.to_owned(), Some(ext.to_owned()))
            }
            _ => (name.to_owned(), None),
        };
        std::fs::create_dir_all(&dir).map_err(|e| file_err(e.to_string()))?;
        let mut builder = RollingFileAppender::builder()
            .rotation(Rotation::DAILY)
            .filename_prefix(prefix.clone())
            // The appender prunes on open down to `max - 1` files *including today's*, so
            // with 1 it would delete the current day's file at every start (the reference's
            // truncate-on-start bug) and under a live writer at every `flush`.
            .max_log_files(retention_days.max(2));
        if let Some(suffix) = &suffix {
            builder = builder.filename_suffix(suffix.clone());
        }
        let appender = builder.build(&dir).map_err(|e| file_err(e.to_string()))?;
        let writer = BatchWriter::start(super::capped::CappedFile::new(
            appender,
            dir.clone(),
            prefix.clone(),
            suffix.clone(),
        ))
        .map_err(|e| file_err(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            retention_days,
            dir,
            prefix,
            suffix,
            writer,
        })
    }

    /// The day files of this sink, oldest first (the date in the name sorts chronologically).
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| {
                let name = e.file_name();
                let Some(name) = name.to_str() else {
                    return false;
                };
                let Some(rest) = name.strip_prefix(self.prefix.as_str()) else {
                    return false;
                };
                let rest = match &self.suffix {
                    Some(s) => match rest.strip_suffix(s.as_str()) {
                        Some(r) => r.strip_suffix('.').unwrap_or(""),
                        None => return false,
                    },
                    None => rest,
                };
                // `.YYYY-MM-DD`: excludes e.g. `gcli2api-old.log` next to `gcli2api.log`.
                rest.len() == 11 && rest.starts_with('.')
            })
            .map(|e| e.path())
            .collect();
        files.sort();
        files
    }
}

impl Sinks {
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        self.file
            .read()
            .as_ref()
            .map(FileSink::files)
            .unwrap_or_default()
    }
}

/// Lines for the file, written by one thread in batches. A line costs a copy into a shared
/// buffer; the thread wakes when a batch starts, lets it fill for [`BATCH_EVERY`] (less once
/// [`BATCH_BYTES`] are pending) and writes it with one call, and sleeps while nothing comes. A thread woken and a write call made per
/// line cost more than the rest of logging that line together, on every request.
///
/// Not lossy (the reference silently dropped lines under load): past [`MAX_PENDING`] bytes,
/// which only a disk that cannot keep up at all reaches, loggers wait for the writer.
/// Dropping the writer writes what is pending and stops the thread.
pub(crate) struct BatchWriter {
    shared: Arc<Batch>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const BATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
const BATCH_BYTES: usize = 64 * 1024;
const MAX_PENDING: usize = 4 * 1024 * 1024;
/// How long dropping the writer waits for a stuck disk before leaving the thread behind.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

struct Batch {
    state: Mutex<BatchState>,
    /// Wakes the writer: enough pending, or closing.
    work: Condvar,
    /// Wakes loggers waiting for room, and the closer waiting for the end.
    progress: Condvar,
}

#[derive(Default)]
struct BatchState {
    pending: Vec<u8>,
    closing: bool,
    done: bool,
}

impl BatchWriter {
    fn start(mut out: impl Write + Send + 'static) -> io::Result<Self> {
        let shared = Arc::new(Batch {
            state: Mutex::new(BatchState::default()),
            work: Condvar::new(),
            progress: Condvar::new(),
        });
        let batch = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("gcli2api-log-file".into())
            .spawn(move || {
                loop {
                    let (lines, closing) = {
                        let mut st = batch.state.lock();
                        // Idle: sleep until the first line of the next batch arrives.
                        while st.pending.is_empty() && !st.closing {
                            batch.work.wait(&mut st);
                        }
                        // Then let the batch fill for a while.
                        if st.pending.len() < BATCH_BYTES && !st.closing {
                            batch.work.wait_for(&mut st, BATCH_EVERY);
                        }
                        (std::mem::take(&mut st.pending), st.closing)
                    };
                    batch.progress.notify_all();
                    if !lines.is_empty() {
                        let _ = out.write_all(&lines);
                    }
                    if closing && batch.state.lock().pending.is_empty() {
                        let _ = out.flush();
                        break;
                    }
                }
                batch.state.lock().done = true;
                batch.progress.notify_all();
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    pub(crate) fn write(&self, line: &[u8]) {
        let mut st = self.shared.state.lock();
        while st.pending.len() >= MAX_PENDING && !st.done {
            self.shared.work.notify_one();
            self.shared.progress.wait(&mut st);
        }
        let first = st.pending.is_empty();
        st.pending.extend_from_slice(line);
        if first || st.pending.len() >= BATCH_BYTES {
            self.shared.work.notify_one();
        }
    }
}

impl Drop for BatchWriter {
    fn drop(&mut self) {
        let mut st = self.shared.state.lock();
        st.closing = true;
        self.shared.work.notify_one();
        let deadline = std::time::Instant::now() + CLOSE_WAIT;
        while !st.done {
            if self
                .shared
                .progress
                .wait_until(&mut st, deadline)
                .timed_out()
            {
                // A disk that does not answer must not hang shutdown or a flush.
                return;
            }
        }
        drop(st);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Separates the target, written first by [`BodyFormat`], from the formatted body.
const TARGET_END: char = '\u{1f}';

/// The default `fmt` body (spans, message, fields) preceded by the event's target.
///
/// `make_writer_for` only sees the raw metadata, which for records bridged from the `log` crate
/// (reqwest, r2d2, …) has the target `log`; the real one is recovered here from the event.
pub(crate) struct BodyFormat(pub(crate) Format<Full, ()>);

impl<S, N> FormatEvent<S, N> for BodyFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: fmt::format::Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        write!(writer, "{}{TARGET_END}", meta.target())?;
        self.0.format_event(ctx, writer, event)
    }
}

/// The `MakeWriter` handed to the `fmt` layer.
pub(crate) struct HubWriter(pub(crate) Arc<Sinks>);

impl<'a> MakeWriter<'a> for HubWriter {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            sinks: &self.0,
            level: Level::INFO,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        EventWriter {
            sinks: &self.0,
            level: *meta.level(),
            buf: Vec::with_capacity(256),
        }
    }
}

/// Collects one formatted event; redacts and dispatches it on drop.
pub(crate) struct EventWriter<'a> {
    sinks: &'a Sinks,
    level: Level,
    buf: Vec<u8>,
}

impl Write for EventWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter<'_> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        self.sinks.dispatch(self.level, &self.buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every write call and what it wrote.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<(usize, Vec<u8>)>>, Option<std::time::Duration>);

    impl Write for Recorder {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if let Some(d) = self.1 {
                std::thread::sleep(d);
            }
            let mut r = self.0.lock();
            r.0 += 1;
            r.1.extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_in_order_in_few_calls_and_all_on_drop() {
        let rec = Recorder::default();
        let w = BatchWriter::start(rec.clone()).unwrap();
        let mut want = Vec::new();
        for i in 0..1000 {
            let line = format!("line {i}\n");
            w.write(line.as_bytes());
            want.extend_from_slice(line.as_bytes());
        }
        drop(w);
        let (calls, got) = rec.0.lock().clone();
        assert_eq!(got, want);
        assert!(calls < 10, "{calls} write calls for 1000 lines");
    }

    #[test]
    fn lines_from_many_threads_all_arrive_whole_by_the_drop() {
        let rec = Recorder::default();
        let w = Arc::new(BatchWriter::start(rec.clone()).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = Arc::clone(&w);
                std::thread::spawn(move || {
                    for i in 0..5000 {
                        w.write(format!("t{t} n{i} end\n").as_bytes());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // The last lines are still pending (the batch waits up to 100 ms); the drop writes
        // them.
        let w = Arc::into_inner(w).expect("the only owner");
        drop(w);
        let (_, got) = rec.0.lock().clone();
        let got = String::from_utf8(got).unwrap();
        let mut seen = std::collections::HashSet::new();
        for line in got.lines() {
            assert!(line.ends_with(" end"), "cut or interleaved: {line:?}");
            assert!(seen.insert(line.to_owned()), "twice: {line:?}");
        }
        assert_eq!(seen.len(), 4 * 5000);
        // Per thread, in the order written.
        for t in 0..4 {
            let mine: Vec<&str> = got
                .lines()
                .filter(|l| l.starts_with(&format!("t{t} ")))
                .collect();
            let want: Vec<String> = (0..5000).map(|i| format!("t{t} n{i} end")).collect();
            assert_eq!(mine, want);
        }
    }

    #[test]
    fn a_batch_reaches_the_file_without_a_drop() {
        let rec = Recorder::default();
        let w = BatchWriter::start(rec.clone()).unwrap();
        w.write(b"alone\n");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while rec.0.lock().1.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(rec.0.lock().1, b"alone\n");
        drop(w);
    }

    #[test]
    fn a_slow_disk_makes_loggers_wait_instead_of_losing_lines() {
        let rec = Recorder(
            Default::default(),
            Some(std::time::Duration::from_millis(20)),
        );
        let w = BatchWriter::start(rec.clone()).unwrap();
        let line = vec![b'x'; 1000];
        for _ in 0..(3 * MAX_PENDING / 1000) {
            w.write(&line);
            assert!(w.shared.state.lock().pending.len() <= MAX_PENDING + line.len());
        }
        drop(w);
        assert_eq!(rec.0.lock().1.len(), 3 * MAX_PENDING / 1000 * 1000);
    }
}
