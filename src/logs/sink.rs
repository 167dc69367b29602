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
use parking_lot::{Mutex, RwLock};
use tokio::sync::broadcast;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
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
        let mut message = super::redact(text.trim_end_matches(['\n', '\r'])).into_owned();
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
            let _ = file.writer.clone().write_all(rendered.as_bytes());
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
        // Sent under the lock so subscribers see lines in `seq` order.
        let _ = self.tx.send(line.clone());
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

/// A daily rolling file behind a non-blocking writer thread.
pub(crate) struct FileSink {
    path: PathBuf,
    retention_days: usize,
    dir: PathBuf,
    prefix: String,
    suffix: Option<String>,
    writer: NonBlocking,
    // Dropping it flushes the queue and stops the writer thread.
    _guard: WorkerGuard,
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
        // Not lossy: the reference silently dropped lines under load; the queue is large
        // (128k lines), so blocking only happens when the disk cannot keep up at all.
        let (writer, guard) = NonBlockingBuilder::default()
            .lossy(false)
            .thread_name("gcli2api-log-file")
            .finish(super::capped::CappedFile::new(
                appender,
                dir.clone(),
                prefix.clone(),
                suffix.clone(),
            ));
        Ok(Self {
            path: path.to_path_buf(),
            retention_days,
            dir,
            prefix,
            suffix,
            writer,
            _guard: guard,
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
