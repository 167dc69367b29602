//! The global subscriber can be installed once per process, so a single test runs the
//! scenarios in order against one hub, in a process of its own ([`in_own_process`]): the other
//! tests of this binary share a hub with another configuration.
use std::path::Path;

use gcli2api::logs::{self, LogConfig, LogError, LogHub, LogLine, RING_CAPACITY};
use tokio::sync::broadcast::error::TryRecvError;

use crate::support::in_own_process;

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

fn file_text(hub: &LogHub) -> String {
    hub.flush();
    hub.log_files()
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read log file"))
        .collect()
}

fn lines_since(hub: &LogHub, seq: u64) -> Vec<LogLine> {
    hub.recent(usize::MAX)
        .into_iter()
        .filter(|l| l.seq > seq)
        .collect()
}

fn last_seq(hub: &LogHub) -> u64 {
    hub.recent(1).last().map_or(0, |l| l.seq)
}

fn drain(rx: &mut tokio::sync::broadcast::Receiver<LogLine>) -> Vec<LogLine> {
    let mut out = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(line) => out.push(line),
            Err(TryRecvError::Empty) => return out,
            Err(e) => panic!("broadcast: {e}"),
        }
    }
}

#[test]
fn logging_end_to_end() {
    if !in_own_process(module_path!(), "logging_end_to_end") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("logs").join("gcli2api.log");
    let hub = logs::init(LogConfig {
        level: "info".into(),
        file: Some(file.clone()),
        retention_days: 3,
        console: false,
    })
    .expect("init");
    assert!(logs::hub().is_some());
    // Log files are private to the owner.
    tracing::info!("first line");
    hub.flush();
    for f in hub.log_files() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}: {mode:o}", f.display());
    }
    assert!(!hub.log_files().is_empty());

    secrets_never_reach_any_sink(&hub);
    level_changes_at_runtime(&hub);
    log_crate_records_follow_the_level(&hub);
    invalid_levels_are_rejected(&hub);
    ring_buffer_is_bounded(&hub);
    daily_file_naming(&hub, &file);
    later_init_returns_the_same_hub_and_retargets_the_file(&hub, dir.path());
    flushes_while_threads_log_lose_no_line(&hub);
    guard_closes_the_file(&hub);
}

fn secrets_never_reach_any_sink(hub: &LogHub) {
    let tok = unique("tok");
    let registered = unique("Reg-");
    let google = unique("ya29.a0Af_");
    let refresh = unique("1//0gRt");
    logs::register_secret(&registered);
    let start = last_seq(hub);
    let mut rx = hub.subscribe();

    tracing::info!(auth = %format!("Bearer {tok}"), "calling with key={tok}");
    tracing::warn!("the weather{registered}is nice today");
    tracing::info!(
        body = %format!(r#"{{"access_token":"{google}","refresh_token":"{refresh}"}}"#),
        "token response"
    );
    tracing::info!(upstream = ?format!("x {registered} y"), "debug field");
    let span = tracing::info_span!("req", password = %tok);
    span.in_scope(|| tracing::info!("inside a span"));

    let ring: Vec<String> = lines_since(hub, start)
        .into_iter()
        .map(|l| l.message)
        .collect();
    let live = drain(&mut rx);
    assert_eq!(
        live.iter().map(|l| &l.message).collect::<Vec<_>>(),
        ring.iter().collect::<Vec<_>>(),
        "broadcast and ring carry the same lines"
    );
    let sinks = [("ring", ring.join("\n")), ("file", file_text(hub))];
    for (sink, text) in &sinks {
        for kept in [
            "calling with key=[REDACTED]",
            "auth=[REDACTED]",
            "the weather[REDACTED]is nice today",
            r#""access_token":"[REDACTED]""#,
            "token response",
            "debug field",
            "req{password=[REDACTED]}: inside a span",
        ] {
            assert!(text.contains(kept), "{sink} lacks {kept:?}:\n{text}");
        }
        for secret in [&tok, &registered, &google, &refresh] {
            assert!(
                !text.contains(secret.as_str()),
                "{sink} leaks {secret}:\n{text}"
            );
        }
    }

    // File lines: RFC 3339 UTC timestamp, level, target, then the same text as the ring.
    let warn_line = sinks[1]
        .1
        .lines()
        .find(|l| {
            l.ends_with(&format!(
                "  WARN {}: the weather[REDACTED]is nice today",
                module_path!()
            ))
        })
        .expect("the warning in the file");
    let stamp = warn_line.split(' ').next().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{warn_line}"
    );
    // Control: once forgotten, the same string is logged as is, so the checks above are
    // really about redaction.
    logs::forget_secret(&registered);
    tracing::warn!("after forget {registered}");
    let last = hub.recent(1).pop().expect("a line");
    assert!(last.message.contains(&registered), "{last:?}");
    assert_eq!(last.level, "WARN");
    assert_eq!(last.target, module_path!());
}

fn level_changes_at_runtime(hub: &LogHub) {
    let start = last_seq(hub);
    hub.set_level("warn").expect("warn");
    let hidden = unique("hidden-info-");
    let shown = unique("shown-warn-");
    tracing::info!("{hidden}");
    tracing::warn!("{shown}");
    let directive = format!("error,{}=debug", module_path!());
    hub.set_level(&directive).expect("directive");
    assert_eq!(hub.level(), directive);
    let debug_line = unique("shown-debug-");
    let trace = unique("hidden-trace-");
    tracing::debug!("{debug_line}");
    tracing::trace!("{trace}");
    hub.set_level("info").expect("info");

    let messages: Vec<String> = lines_since(hub, start)
        .into_iter()
        .map(|l| l.message)
        .collect();
    assert_eq!(messages, vec![shown, debug_line]);
}

/// reqwest and r2d2 log through the `log` crate: their records must follow runtime level
/// changes and keep their own target.
fn log_crate_records_follow_the_level(hub: &LogHub) {
    use tracing_log::log;
    let start = last_seq(hub);
    let hidden = unique("log-debug-hidden-");
    log::debug!(target: "reqwest::connect", "{hidden}");
    hub.set_level("debug").expect("debug");
    let shown = unique("log-debug-shown-");
    log::debug!(target: "r2d2", "{shown} token=abc123");
    hub.set_level("info").expect("info");
    let lines = lines_since(hub, start);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].target, "r2d2");
    assert_eq!(lines[0].level, "DEBUG");
    assert_eq!(lines[0].message, format!("{shown} token=[REDACTED]"));
}

fn invalid_levels_are_rejected(hub: &LogHub) {
    for bad in ["verbose", "", "gcli2api=loud"] {
        assert!(
            matches!(hub.set_level(bad), Err(LogError::InvalidLevel(_))),
            "{bad:?}"
        );
    }
    assert_eq!(hub.level(), "info");
    let probe = unique("still-info-");
    tracing::info!("{probe}");
    assert_eq!(hub.recent(1)[0].message, probe);
}

fn ring_buffer_is_bounded(hub: &LogHub) {
    let tag = unique("fill-");
    for i in 0..RING_CAPACITY + 150 {
        tracing::info!("{tag} {i}");
    }
    let all = hub.recent(usize::MAX);
    assert_eq!(all.len(), RING_CAPACITY);
    assert_eq!(
        all.last().map(|l| l.message.clone()),
        Some(format!("{tag} {}", RING_CAPACITY + 149))
    );
    assert!(all.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    let tail = hub.recent(10);
    assert_eq!(tail.len(), 10);
    assert_eq!(tail[9], all[RING_CAPACITY - 1]);
    hub.clear_recent();
    assert!(hub.recent(10).is_empty());
}

fn daily_file_naming(hub: &LogHub, file: &Path) {
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let files = hub.log_files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        files[0],
        file.with_file_name(format!("gcli2api.{today}.log")),
        "one file per day, named after LOG_FILE"
    );
}

fn later_init_returns_the_same_hub_and_retargets_the_file(hub: &LogHub, dir: &Path) {
    let first_files = hub.log_files();
    let other = dir.join("other").join("app.log");
    let again = logs::init(LogConfig {
        level: "error".into(),
        file: Some(other.clone()),
        retention_days: 1,
        console: false,
    })
    .expect("second init");
    assert_eq!(again.file_path(), Some(other));
    assert_eq!(hub.file_path(), again.file_path(), "one hub per process");
    assert_eq!(hub.level(), "info", "a later init leaves the level alone");

    let line = unique("after-retarget-");
    tracing::info!("{line}");
    assert!(file_text(hub).contains(&line));
    let old: String = first_files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("old file"))
        .collect();
    assert!(!old.contains(&line));
}

/// Each flush swaps in a fresh file writer and drains the old one; lines logged meanwhile, from
/// several threads, must all reach the file once, whole.
fn flushes_while_threads_log_lose_no_line(hub: &LogHub) {
    let tag = unique("batch-");
    const THREADS: usize = 4;
    const LINES: usize = 2000;
    let loggers: Vec<_> = (0..THREADS)
        .map(|t| {
            let tag = tag.clone();
            std::thread::spawn(move || {
                for i in 0..LINES {
                    tracing::info!("{tag} t{t} n{i} end");
                }
            })
        })
        .collect();
    let mut flushes = 0;
    while !loggers.iter().all(std::thread::JoinHandle::is_finished) {
        hub.flush();
        flushes += 1;
    }
    for l in loggers {
        l.join().expect("logger thread");
    }
    let text = file_text(hub);
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().filter(|l| l.contains(&tag)) {
        let rest = line.split_once(&tag).expect("tagged").1;
        assert!(
            rest.ends_with(" end"),
            "a line was cut or interleaved: {line:?}"
        );
        assert!(seen.insert(rest.to_owned()), "written twice: {line:?}");
    }
    assert_eq!(
        seen.len(),
        THREADS * LINES,
        "lines lost over {flushes} flushes"
    );
}

fn guard_closes_the_file(hub: &LogHub) {
    let before = unique("before-close-");
    tracing::info!("{before}");
    let files = hub.log_files();
    drop(hub.guard());
    assert_eq!(hub.file_path(), None);
    let text: String = files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("file"))
        .collect();
    assert!(text.contains(&before), "the guard flushes on drop");
    let after = unique("after-close-");
    tracing::info!("{after}");
    assert_eq!(hub.recent(1)[0].message, after, "other sinks keep working");
}
