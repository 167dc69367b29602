//! The log file's size cap and permissions, around the daily rolling appender: each day's file
//! is created 0600 before the appender opens it, and once a day's file reaches `LOG_FILE_MAX_MB`
//! further lines of that day are dropped (one notice says so). With `LOG_RETENTION_DAYS` files
//! kept, the log never takes more than about days x cap on disk, whatever a flood sends.
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;

/// Bytes per day file; 0 = no cap. Set from the settings at start and on every change.
static MAX_BYTES: AtomicU64 = AtomicU64::new(0);

pub fn set_max_bytes(n: u64) {
    MAX_BYTES.store(n, Ordering::Relaxed);
}

pub(crate) struct CappedFile<W> {
    inner: W,
    dir: PathBuf,
    prefix: String,
    suffix: Option<String>,
    day: String,
    written: u64,
    dropped: bool,
}

impl<W: Write> CappedFile<W> {
    pub(crate) fn new(inner: W, dir: PathBuf, prefix: String, suffix: Option<String>) -> Self {
        let mut me = Self {
            inner,
            dir,
            prefix,
            suffix,
            day: String::new(),
            written: 0,
            dropped: false,
        };
        me.roll_if_new_day();
        // Files left by an earlier version (created 0644) are made private too.
        if let Ok(entries) = std::fs::read_dir(&me.dir) {
            for e in entries.filter_map(Result::ok) {
                let name = e.file_name();
                if name.to_str().is_some_and(|n| n.starts_with(&me.prefix)) {
                    make_private(&e.path());
                }
            }
        }
        me
    }

    /// The appender's file name for `day` (its daily rotation uses UTC dates).
    fn file_for(&self, day: &str) -> PathBuf {
        let name = match &self.suffix {
            Some(s) => format!("{}.{day}.{s}", self.prefix),
            None => format!("{}.{day}", self.prefix),
        };
        self.dir.join(name)
    }

    fn roll_if_new_day(&mut self) {
        let today = Utc::now().format("%Y-%m-%d").to_string();
        if today == self.day {
            return;
        }
        let path = self.file_for(&today);
        // Created here, private, before the appender opens it for appending.
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let _ = opts.open(&path);
        make_private(&path);
        self.written = std::fs::metadata(&path).map_or(0, |m| m.len());
        self.day = today;
        self.dropped = false;
    }
}

fn make_private(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

impl<W: Write> Write for CappedFile<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.roll_if_new_day();
        let cap = MAX_BYTES.load(Ordering::Relaxed);
        if cap > 0 && self.written.saturating_add(buf.len() as u64) > cap {
            if !self.dropped {
                self.dropped = true;
                let notice = format!(
                    "{} WARN gcli2api::logs: this day's log file reached LOG_FILE_MAX_MB; further lines of the day are dropped from the file (the panel's live view still has them)\n",
                    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                );
                self.inner.write_all(notice.as_bytes())?;
            }
            // Reported as written: a dropped line is not an error for the writer thread.
            return Ok(buf.len());
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_file_is_private_and_capped() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut f = CappedFile::new(
            Vec::new(),
            dir.path().to_path_buf(),
            "g".into(),
            Some("log".into()),
        );
        let today = Utc::now().format("%Y-%m-%d").to_string();
        let path = dir.path().join(format!("g.{today}.log"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The cap is process-wide; this test is the only one in the lib that sets it.
        set_max_bytes(100);
        for _ in 0..10 {
            f.write_all(&[b'x'; 30]).unwrap();
        }
        set_max_bytes(0);
        let text = String::from_utf8(f.inner.clone()).unwrap();
        assert_eq!(
            text.matches('x').count(),
            90,
            "three lines fit in 100 bytes"
        );
        assert_eq!(text.matches("LOG_FILE_MAX_MB").count(), 1, "one notice");
    }
}
