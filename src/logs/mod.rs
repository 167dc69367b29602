//! Logging: `tracing` with a runtime-reloadable level, console + daily rolling file, an
//! in-memory ring buffer and a broadcast channel for the panel's live view, and redaction of
//! secrets before any of those sinks sees a line.
//!
//! The global subscriber can be installed once per process, but tests build several apps in
//! one process, so [`init`] installs it the first time and afterwards returns the same
//! [`LogHub`] (re-targeting the file sink when another file is asked for).
mod capped;
mod fields;
mod redact;
mod secrets;
mod sink;
mod throttle;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, OnceLock};

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, MutexGuard};
use serde::Serialize;
use tokio::sync::broadcast;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

pub use capped::set_max_bytes as set_file_max_bytes;
pub use redact::MARKER;
pub use secrets::MIN_SECRET_LEN;
pub use sink::RING_CAPACITY;

use secrets::SecretRegistry;
use sink::{BodyFormat, FileSink, HubWriter, Sinks};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `trace|debug|info|warn|error` (also the reference's `warning`/`critical`), or an
    /// `EnvFilter` directive such as `info,gcli2api::pool=debug`.
    pub level: String,
    /// LOG_FILE: `dir/name.ext` becomes daily files `dir/name.YYYY-MM-DD.ext`.
    pub file: Option<PathBuf>,
    /// How many daily files to keep, today's included (at least 2: see `FileSink::open`).
    pub retention_days: usize,
    /// Also write to stderr.
    pub console: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(
        "invalid log level {0:?}: use trace, debug, info, warn or error, or a directive like 'info,gcli2api::pool=debug'"
    )]
    InvalidLevel(String),
    #[error("cannot open log file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("another global tracing subscriber is already installed: {0}")]
    AlreadyInstalled(String),
    #[error("the log filter cannot be reloaded: {0}")]
    Reload(String),
}

/// One recorded event, as the panel shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Strictly increasing per process; lets an SSE client resume or spot gaps.
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// `TRACE|DEBUG|INFO|WARN|ERROR`.
    pub level: String,
    pub target: String,
    /// Spans, message and fields as formatted, already redacted.
    pub message: String,
}

/// Handle on the process's logging. Cheap to clone.
#[derive(Clone)]
pub struct LogHub {
    inner: Arc<Inner>,
}

struct Inner {
    sinks: Arc<Sinks>,
    filter: reload::Handle<EnvFilter, Registry>,
    level: Mutex<String>,
    /// Serialises file re-targeting and flushing, which both swap the file sink.
    file_ops: Mutex<()>,
}

/// Keeps the file writer alive; dropping it (at the end of `main`) flushes the queued lines to
/// disk and closes the file. Lines logged afterwards still reach the console and ring buffer.
#[must_use = "dropping the guard closes the log file"]
pub struct LogGuard {
    hub: LogHub,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.hub.close_file();
    }
}

static HUB: OnceLock<LogHub> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());
static SECRETS: LazyLock<SecretRegistry> = LazyLock::new(SecretRegistry::new);

/// Installs the global subscriber on the first call; later calls return the same hub, and
/// re-target the file sink when `config.file` names another file. On later calls `level` and
/// `console` are left alone: they are process-wide (use [`LogHub::set_level`]).
///
/// A file that cannot be opened (read-only volume, …) does not stop the process: file logging
/// is skipped with a warning and the other sinks work.
pub fn init(config: LogConfig) -> Result<LogHub, LogError> {
    let _once = INIT.lock();
    if let Some(hub) = HUB.get() {
        if let Some(path) = &config.file {
            if hub.file_path().as_deref() != Some(path.as_path()) {
                hub.open_file(path, config.retention_days);
            }
        }
        return Ok(hub.clone());
    }
    let filter = parse_filter(&config.level)?;
    let (file, file_error) = match &config.file {
        Some(path) => match FileSink::open(path, config.retention_days) {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e)),
        },
        None => (None, None),
    };
    let sinks = Arc::new(Sinks::new(config.console, file));
    // Reloading also updates the `log` crate's max level, so records bridged from `log`
    // (reqwest, r2d2) follow `set_level` too.
    let (filter_layer, filter_handle) = reload::Layer::new(filter);
    // ANSI off: colour codes between a field's name and `=` would defeat redaction.
    let body = tracing_subscriber::fmt::format()
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_target(false);
    let fmt_layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .fmt_fields(fields::LineFields)
        .event_format(BodyFormat(body))
        .with_writer(HubWriter(sinks.clone()));
    tracing_subscriber::registry()
        .with(filter_layer)
        .with(fmt_layer)
        .try_init()
        .map_err(|e| LogError::AlreadyInstalled(e.to_string()))?;
    let hub = LogHub {
        inner: Arc::new(Inner {
            sinks,
            filter: filter_handle,
            level: Mutex::new(config.level.trim().to_owned()),
            file_ops: Mutex::new(()),
        }),
    };
    if let Some(e) = file_error {
        tracing::warn!(error = %e, "file logging disabled");
    }
    Ok(HUB.get_or_init(|| hub).clone())
}

/// Console-only logging at `level`, for the skeleton's `main` until it calls [`init`] with
/// the full configuration. Failures are ignored, as before.
pub fn init_for_process(level: &str) {
    let _ = init(LogConfig {
        level: level.to_owned(),
        file: None,
        retention_days: 7,
        console: true,
    });
}

/// The hub, once [`init`] has succeeded.
pub fn hub() -> Option<LogHub> {
    HUB.get().cloned()
}

/// Redacts every occurrence of `secret` (and its URL- and JSON-escaped forms) from all log
/// output from now on. Strings shorter than [`MIN_SECRET_LEN`] are ignored. Registration is
/// reference-counted: each `register_secret` needs its own `forget_secret`.
pub fn register_secret(secret: &str) {
    SECRETS.register(secret);
}

/// Bulk form of [`register_secret`], for loading a whole pool.
pub fn register_secrets<'a>(secrets: impl IntoIterator<Item = &'a str>) {
    SECRETS.register_many(secrets);
}

pub fn forget_secret(secret: &str) {
    SECRETS.forget(secret);
}

/// How many distinct strings are being redacted (escaped forms count separately).
pub fn registered_secret_count() -> usize {
    SECRETS.len()
}

/// The redaction applied to every log line, for other text that may leave the process
/// (e.g. upstream error bodies shown in the panel).
pub fn redact(text: &str) -> Cow<'_, str> {
    redact::redact_with(text, &SECRETS)
}

/// Records the access line. `message` is its whole text (`request surface=... key_name="..."`),
/// built by `proxy::meter` and already redacted (by [`redact_built_line`]). Written once per
/// request, it skips `tracing`'s event formatting and a redaction of the whole line by every
/// rule, which together were about a tenth of the gateway's own work per chat.
/// The caller checks `tracing::enabled!` first, so LOG_LEVEL still decides whether it is kept.
pub fn record_access(message: String) {
    match HUB.get() {
        Some(hub) => {
            hub.inner
                .sinks
                .deliver(tracing::Level::INFO, ACCESS_TARGET.to_owned(), message)
        }
        // No hub (a test's own subscriber): an ordinary event, so it is not lost.
        None => tracing::info!(target: "gcli2api::access", "{message}"),
    }
}

/// The access line's target, as filters and the panel name it.
pub const ACCESS_TARGET: &str = "gcli2api::access";

/// Redacts a line built from fixed parts (field names, fixed words, numbers, an IP address)
/// and the free-text parts `free`, each of which appears in `text`. Registered secrets are
/// looked for in the whole line; the pattern rules (token prefixes, `Bearer`, `name=value`)
/// only in the free text, which is where a client or an operator can put such text: the
/// fixed parts never match them. When anything is found, the whole line gets every rule, as
/// any other line does. This costs a fraction of [`redact`] on the whole line.
pub fn redact_built_line(text: String, free: &[&str]) -> String {
    let mut spans = Vec::new();
    SECRETS.find_spans(&text, &mut spans);
    if spans.is_empty() {
        redact::find_pattern_spans(&free.join("\n"), &mut spans);
    }
    if spans.is_empty() {
        return text;
    }
    redact(&text).into_owned()
}

impl LogHub {
    /// Changes what gets recorded, effective for the next event.
    pub fn set_level(&self, level: &str) -> Result<(), LogError> {
        let filter = parse_filter(level)?;
        self.inner
            .filter
            .reload(filter)
            .map_err(|e| LogError::Reload(e.to_string()))?;
        *self.inner.level.lock() = level.trim().to_owned();
        Ok(())
    }

    /// The level or directive currently in force, as it was given.
    pub fn level(&self) -> String {
        self.inner.level.lock().clone()
    }

    /// The last `n` lines (fewer if fewer are kept), oldest first.
    pub fn recent(&self, n: usize) -> Vec<LogLine> {
        self.inner.sinks.recent(n)
    }

    /// Lines recorded from now on. A receiver that falls more than 1024 lines behind gets
    /// `RecvError::Lagged` and continues with newer lines.
    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.inner.sinks.subscribe()
    }

    /// Empties the ring buffer (the panel's "clear"); files are kept.
    pub fn clear_recent(&self) {
        self.inner.sinks.clear_recent();
    }

    pub fn set_console(&self, on: bool) {
        self.inner.sinks.set_console(on);
    }

    /// LOG_FILE as configured, while file logging is active.
    pub fn file_path(&self) -> Option<PathBuf> {
        self.inner.sinks.file_config().map(|(path, _)| path)
    }

    /// The daily files currently on disk for the active LOG_FILE, oldest first (for download).
    pub fn log_files(&self) -> Vec<PathBuf> {
        self.inner.sinks.files()
    }

    /// Waits until every line logged so far is written to the file. File logging continues.
    pub fn flush(&self) {
        let _ops = self.lock_file_ops();
        let Some((path, retention)) = self.inner.sinks.file_config() else {
            return;
        };
        // A fresh writer takes over first, so no line is lost; dropping the old one drains it.
        match FileSink::open(&path, retention) {
            Ok(fresh) => drop(self.inner.sinks.replace_file(Some(fresh))),
            Err(e) => {
                drop(self.inner.sinks.replace_file(None));
                tracing::warn!(error = %e, "file logging disabled");
            }
        }
    }

    /// A guard for `main`: dropping it flushes and closes the log file.
    pub fn guard(&self) -> LogGuard {
        LogGuard { hub: self.clone() }
    }

    fn open_file(&self, path: &Path, retention_days: usize) {
        let _ops = self.lock_file_ops();
        match FileSink::open(path, retention_days) {
            Ok(fresh) => drop(self.inner.sinks.replace_file(Some(fresh))),
            Err(e) => tracing::warn!(error = %e, "log file not changed"),
        }
    }

    fn close_file(&self) {
        let _ops = self.lock_file_ops();
        drop(self.inner.sinks.replace_file(None));
    }

    fn lock_file_ops(&self) -> MutexGuard<'_, ()> {
        self.inner.file_ops.lock()
    }
}

/// Crates that are unreadably chatty below `info`; a bare `debug`/`trace` caps them so the
/// gateway's own lines stay visible. An explicit directive is taken as given.
const NOISY: &str = "hyper=info,hyper_util=info,h2=info,rustls=info,reqwest=info,tokio_util=info";

fn parse_filter(level: &str) -> Result<EnvFilter, LogError> {
    let invalid = || LogError::InvalidLevel(level.to_owned());
    let given = level.trim();
    if given.is_empty() {
        return Err(invalid());
    }
    let directive = match canonical_level(given) {
        Some(l @ ("debug" | "trace")) => format!("{l},{NOISY}"),
        Some(l) => l.to_owned(),
        None => {
            // EnvFilter reads a bare word as a target name ("verbose" = everything from the
            // `verbose` crate), which would silently record nothing useful: demand `target=level`.
            let bare_word = given.split(',').map(str::trim).any(|part| {
                !part.is_empty() && !part.contains(['=', '[']) && canonical_level(part).is_none()
            });
            if bare_word {
                return Err(invalid());
            }
            given.to_owned()
        }
    };
    EnvFilter::builder()
        .parse(&directive)
        .map_err(|_| invalid())
}

fn canonical_level(s: &str) -> Option<&'static str> {
    Some(match s.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "critical" => "error",
        "off" => "off",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_directives() {
        for ok in [
            "info",
            " DEBUG ",
            "warning",
            "critical",
            "off",
            "info,gcli2api::pool=debug",
            "gcli2api=trace",
            "warn,[request]=debug",
        ] {
            assert!(parse_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["", "verbose", "info,verbose", "gcli2api=loud", "=debug=x"] {
            assert!(
                matches!(parse_filter(bad), Err(LogError::InvalidLevel(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn bare_debug_caps_noisy_crates() {
        let shown = parse_filter("debug").map(|f| f.to_string());
        assert!(shown.is_ok_and(|s| s.contains("hyper=info") && s.contains("debug")));
    }
}
