//! A closed-loop load driver: `concurrency` workers, each sending its next request as soon as the
//! previous one has been read to the end, over keep-alive connections, until `n` requests are
//! done or the time limit passes.
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;

use super::BenchError;

/// Per-request ceiling: a hung request must not hang the bench.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const MODEL: &str = "gemini-2.5-flash";

/// The loopback client every phase shares. No proxy: a proxy set in the environment must never
/// carry bench traffic anywhere.
pub fn client(concurrency: usize) -> Result<reqwest::Client, BenchError> {
    crate::outbound::client_builder()
        .map_err(|e| BenchError::Client(e.to_string()))?
        .no_proxy()
        .pool_max_idle_per_host(concurrency.max(1))
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| BenchError::Client(e.to_string()))
}

/// Where a phase sends its requests.
#[derive(Clone, Debug)]
pub enum Target {
    /// The gateway's `/v1/chat/completions`.
    Gateway {
        url: String,
        key: String,
        stream: bool,
    },
    /// The simulator's `/v1internal:generateContent` directly, rotating over the seeded users
    /// (access token, project) the way the gateway rotates over their credentials.
    Direct {
        url: String,
        users: Arc<Vec<(String, String)>>,
        stream: bool,
    },
}

/// Upstream events in every benchmark stream: the simulator echoes the prompt back in pieces
/// of [`STREAM_CHUNK_CHARS`] characters, and [`prompt`] sizes the echo to fill exactly this
/// many.
pub const STREAM_EVENTS: usize = 22;
pub const STREAM_CHUNK_CHARS: usize = 16;
/// The simulator answers `Echo: <prompt>`.
const ECHO_PREFIX: usize = "Echo: ".len();

/// A non-streaming request asks for a short sentence; a streaming one for an echo that the
/// simulator sends as [`STREAM_EVENTS`] events (every prompt has the same length).
pub fn prompt(i: usize, stream: bool) -> String {
    if !stream {
        return format!("Benchmark request {i}: reply with a short sentence.");
    }
    let len = STREAM_EVENTS * STREAM_CHUNK_CHARS - ECHO_PREFIX;
    let mut p = format!(
        "Benchmark stream {:08}: repeat this text back. ",
        i % 100_000_000
    );
    while p.len() < len {
        p.push_str("The quick brown fox jumps over the lazy dog. ");
    }
    p.truncate(len);
    p
}

impl Target {
    pub fn request(&self, client: &reqwest::Client, i: usize) -> reqwest::RequestBuilder {
        match self {
            Target::Gateway { url, key, stream } => client
                .post(format!("{url}/v1/chat/completions"))
                .bearer_auth(key)
                .json(&json!({
                    "model": MODEL,
                    "stream": stream,
                    "messages": [{"role": "user", "content": prompt(i, *stream)}],
                })),
            Target::Direct { url, users, stream } => {
                let (token, project) = &users[i % users.len()];
                let method = if *stream {
                    "streamGenerateContent?alt=sse"
                } else {
                    "generateContent"
                };
                client
                    .post(format!("{url}/v1internal:{method}"))
                    .bearer_auth(token)
                    .json(&json!({
                        "model": MODEL,
                        "project": project,
                        "request": {"contents": [{"role": "user", "parts": [{"text": prompt(i, *stream)}]}]},
                    }))
            }
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    pub p50: Duration,
    pub p99: Duration,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (sorted here).
    fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let rank = |p: f64| {
            if samples.is_empty() {
                return Duration::ZERO;
            }
            let i = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[i - 1]
        };
        Self {
            p50: rank(0.50),
            p99: rank(0.99),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct LoadStats {
    /// Requests that completed (successfully or not) before the time limit.
    pub requests: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Process CPU time per request (Linux only): unlike wall time, barely moved by other
    /// processes competing for the machine.
    pub cpu_per_request: Option<Duration>,
    /// Send to last body byte, over successful requests.
    pub latency: Percentiles,
    /// Send to first body byte, over successful requests.
    pub ttfb: Percentiles,
}

impl LoadStats {
    pub fn rps(&self) -> f64 {
        let ok = self.requests.saturating_sub(self.errors) as f64;
        ok / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Raw per-request timings of one or more phases of the same kind; merged before the
/// percentiles are taken.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    latency: Vec<Duration>,
    ttfb: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
    /// Process CPU time (every thread: client, gateway, simulator, background writers).
    cpu: Option<Duration>,
}

impl Samples {
    pub fn merge(&mut self, other: Samples) {
        self.latency.extend(other.latency);
        self.ttfb.extend(other.ttfb);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.elapsed += other.elapsed;
        self.cpu = match (self.cpu, other.cpu) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }

    pub fn stats(&self) -> LoadStats {
        LoadStats {
            requests: self.latency.len() + self.errors,
            errors: self.errors,
            first_error: self.first_error.clone(),
            elapsed: self.elapsed,
            cpu_per_request: self
                .cpu
                .map(|c| c / (self.latency.len() + self.errors).max(1) as u32),
            latency: Percentiles::of(&mut self.latency.clone()),
            ttfb: Percentiles::of(&mut self.ttfb.clone()),
        }
    }
}

/// Mutes the console log sink while alive, so the access lines of thousands of requests do
/// not flood the terminal; the file and the ring buffer still get them.
struct Quiet(Option<crate::logs::LogHub>);

impl Quiet {
    fn new(mute: bool) -> Self {
        let hub = crate::logs::hub().filter(|_| mute);
        if let Some(h) = &hub {
            h.set_console(false);
        }
        Quiet(hub)
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.set_console(true);
        }
    }
}

/// Sends `n` requests to `target` from `concurrency` workers; stops starting new ones after
/// `limit`. With `mute`, the console log sink is off meanwhile (see [`Quiet`]).
pub async fn drive(
    client: &reqwest::Client,
    target: &Target,
    n: usize,
    concurrency: usize,
    limit: Duration,
    mute: bool,
) -> Samples {
    let quiet = Quiet::new(mute);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = CpuSnapshot::take();
    let start = Instant::now();
    let deadline = start + limit;
    let mut workers = Vec::new();
    for _ in 0..concurrency.clamp(1, n.max(1)) {
        let (client, target, next) = (client.clone(), target.clone(), Arc::clone(&next));
        workers.push(tokio::spawn(async move {
            let mut tally = Samples::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() >= deadline {
                    return tally;
                }
                match one(&client, &target, i).await {
                    Ok((ttfb, total)) => {
                        tally.ttfb.push(ttfb);
                        tally.latency.push(total);
                    }
                    Err(e) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert(e);
                    }
                }
            }
        }));
    }
    let mut all = Samples::default();
    for w in workers {
        match w.await {
            Ok(t) => all.merge(t),
            Err(e) => {
                all.errors += 1;
                all.first_error.get_or_insert(format!("worker failed: {e}"));
            }
        }
    }
    // Workers add no elapsed time of their own: the phase's wall time is what counts.
    all.elapsed = start.elapsed();
    all.cpu = CpuSnapshot::take().and_then(|after| after.since(&cpu_before?));
    drop(quiet);
    if let Some(e) = &all.first_error {
        tracing::warn!(errors = all.errors, first = %e, "benchmark requests failed");
    }
    all
}

/// CPU time of this process (every thread: client, gateway, simulator, background writers),
/// Linux only. Per thread from `/proc/self/task/*/schedstat` in nanoseconds, so short phases
/// are measured precisely; a phase's CPU is the per-thread difference, so a thread that exits
/// mid-phase takes only its own last moments with it, not its whole history. Where the
/// per-thread figures cannot be read, `/proc/self/stat` gives the process total in 10 ms
/// ticks.
#[derive(Clone, Debug, Default)]
pub struct CpuSnapshot {
    threads: HashMap<u32, u64>,
    ticks: Option<Duration>,
}

impl CpuSnapshot {
    pub fn take() -> Option<Self> {
        let snap = Self {
            threads: thread_cpu_ns(),
            ticks: process_cpu(),
        };
        (!snap.threads.is_empty() || snap.ticks.is_some()).then_some(snap)
    }

    /// CPU used between `before` and this snapshot.
    pub fn since(&self, before: &CpuSnapshot) -> Option<Duration> {
        if !self.threads.is_empty() && !before.threads.is_empty() {
            let ns: u64 = self
                .threads
                .iter()
                .map(|(tid, now)| now.saturating_sub(before.threads.get(tid).copied().unwrap_or(0)))
                .sum();
            return Some(Duration::from_nanos(ns));
        }
        Some(self.ticks?.saturating_sub(before.ticks?))
    }
}

fn thread_cpu_ns() -> HashMap<u32, u64> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return HashMap::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| {
            let tid = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("schedstat")).ok()?;
            Some((tid, parse_schedstat(&stat)?))
        })
        .collect()
}

/// The first field of `schedstat`: nanoseconds spent on a CPU.
fn parse_schedstat(s: &str) -> Option<u64> {
    s.split_whitespace().next()?.parse().ok()
}

/// User plus system CPU time of this process, from `/proc/self/stat` (Linux). `utime` and
/// `stime` are in USER_HZ ticks, which the kernel ABI fixes at 100 per second.
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat_cpu(&stat)
}

fn parse_stat_cpu(stat: &str) -> Option<Duration> {
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// SSE frames (`data:` lines) in the answer to one streaming request to `target`.
pub async fn count_frames(client: &reqwest::Client, target: &Target) -> Result<usize, BenchError> {
    let resp = target
        .request(client, 0)
        .send()
        .await
        .map_err(|e| BenchError::Client(format!("stream check: {e}")))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| BenchError::Client(format!("stream check: {e}")))?;
    if !status.is_success() {
        return Err(BenchError::Client(format!("stream check: status {status}")));
    }
    Ok(body.lines().filter(|l| l.starts_with("data:")).count())
}

/// One request read to its end: (time to first body byte, total time).
async fn one(
    client: &reqwest::Client,
    target: &Target,
    i: usize,
) -> Result<(Duration, Duration), String> {
    let sent = Instant::now();
    let resp = target
        .request(client, i)
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = resp.status();
    let mut body = resp.bytes_stream();
    let mut first = None;
    let mut len = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("body: {e}"))?;
        if !chunk.is_empty() {
            first.get_or_insert_with(|| sent.elapsed());
            len += chunk.len();
        }
    }
    let total = sent.elapsed();
    match first {
        Some(ttfb) if status.is_success() => Ok((ttfb, total)),
        _ => Err(format!("status {status}, {len} body bytes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let p = Percentiles::of(&mut v);
        assert_eq!(p.p50, Duration::from_millis(50));
        assert_eq!(p.p99, Duration::from_millis(99));
        let mut one = vec![Duration::from_millis(7)];
        assert_eq!(Percentiles::of(&mut one).p99, Duration::from_millis(7));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }

    #[test]
    fn cpu_time_comes_from_utime_and_stime() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0";
        assert_eq!(parse_stat_cpu(stat), Some(Duration::from_millis(3250)));
        assert_eq!(parse_stat_cpu("garbage"), None);
        if cfg!(target_os = "linux") {
            assert!(process_cpu().is_some());
        }
    }

    #[test]
    fn cpu_snapshots_count_threads_that_came_and_went() {
        assert_eq!(
            parse_schedstat("213010525 177252597 109\n"),
            Some(213_010_525)
        );
        assert_eq!(parse_schedstat(""), None);
        let at = |pairs: &[(u32, u64)]| CpuSnapshot {
            threads: pairs.iter().copied().collect(),
            ticks: None,
        };
        // Thread 1 ran 5, thread 2 exited (its last moments are lost), thread 3 is new.
        let before = at(&[(1, 100), (2, 50)]);
        let after = at(&[(1, 105), (3, 7)]);
        assert_eq!(after.since(&before), Some(Duration::from_nanos(12)));
        if cfg!(target_os = "linux") {
            let a = CpuSnapshot::take().expect("Linux has /proc");
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(30) {
                std::hint::black_box(0u64);
            }
            let used = CpuSnapshot::take().unwrap().since(&a).unwrap();
            assert!(used >= Duration::from_millis(10), "{used:?}");
        }
    }
}
