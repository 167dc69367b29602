//! Memory of the gateway on its own: the gateway binary runs as a child process with its
//! default settings (only the data directory, port, password and upstream URLs are set), so
//! its resident set is the gateway's alone, not the load generator's or the simulator's.
//!
//! Two figures come out: the resident set when idle (after start-up and some traffic), and
//! what each held stream adds while [`Plan::held_streams`] slow streams are open at once.
//! The held streams also show whether the default concurrency limit lets that many through.
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::load::{self, STREAM_CHUNK_CHARS, Target};
use super::{BenchError, Plan};
use crate::demo::TempDir;
use crate::simulator::{Pacing, SimHandle, Simulator, UserSpec};

const KEY: &str = "bench-footprint-key";
/// Credentials the child gateway is given.
const CREDENTIALS: usize = 10;
/// Warm-up traffic before the idle figure: the caches, pools and buffers a serving gateway
/// keeps.
const WARM_REQUESTS: usize = 200;
const WARM_STREAMS: usize = 50;
pub(super) const WARM_TOTAL: usize = WARM_REQUESTS + WARM_STREAMS;
/// How long a held stream's upstream waits between events: far longer than the measurement.
const HELD_EVENT_DELAY: Duration = Duration::from_secs(120);
/// How long the held streams may take to all get their first byte. A stream still waiting
/// then is counted as starved (queued behind the concurrency limit, or refused).
const HELD_WAIT: Duration = Duration::from_secs(40);
/// File descriptors kept free for everything else in this process.
const FD_RESERVE: u64 = 256;
/// Streams being opened at once. Held streams arrive over time in practice; opening all of
/// them in the same instant would measure the peak of a thousand requests being set up
/// (which the allocator then keeps), not what holding them costs.
const OPENING_AT_ONCE: usize = 64;

/// What the child gateway's memory came to.
#[derive(Clone, Debug, PartialEq)]
pub struct Footprint {
    /// Resident set right after start-up.
    pub rss_started: u64,
    /// Resident set when idle after [`WARM_REQUESTS`] requests and [`WARM_STREAMS`] streams.
    pub rss_idle: u64,
    /// Streams asked to be held open at once.
    pub held_target: usize,
    /// Streams that got their first byte and were held.
    pub held: usize,
    /// Resident set while `held` streams were open.
    pub rss_held: u64,
    /// `MAX_CONCURRENT_REQUESTS` as the child gateway had it (its default), and the cap
    /// that setting came to.
    pub concurrency_limit: Option<(usize, usize)>,
    /// Why fewer streams were asked for than the plan said, if they were.
    pub note: Option<String>,
}

impl Footprint {
    /// Resident bytes each held stream added.
    pub fn per_stream(&self) -> Option<f64> {
        (self.held > 0)
            .then(|| self.rss_held.saturating_sub(self.rss_idle) as f64 / self.held as f64)
    }
}

/// Runs the child gateway and measures it; `None` when the plan names no gateway binary
/// (tests run inside a test harness, not the `gcli2api` binary).
pub async fn measure(plan: &Plan) -> Result<Option<Footprint>, BenchError> {
    let Some(exe) = plan.gateway_exe.as_deref() else {
        return Ok(None);
    };
    let sim = Simulator::start(tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let result = measure_with(plan, exe, &sim).await;
    sim.shutdown();
    result.map(Some)
}

async fn measure_with(plan: &Plan, exe: &Path, sim: &SimHandle) -> Result<Footprint, BenchError> {
    let dir = TempDir::new("bench-footprint")?;
    let users: Vec<_> = (0..CREDENTIALS)
        .map(|i| sim.add_user(UserSpec::new(format!("held{}@sim.test", i + 1))))
        .collect();
    super::world::seed(&dir.0, &users).await?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let mut env = std::collections::HashMap::new();
    env.insert("PASSWORD".to_string(), KEY.to_string());
    env.insert("PORT".to_string(), port.to_string());
    let env = crate::demo::demo_sources(env, &dir.0, &sim.base_url()).env;
    tracing::info!(exe = %exe.display(), port, "starting a gateway process for the memory figures");
    let mut child = tokio::process::Command::new(exe)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| BenchError::Client("the gateway process exited at once".into()))?;
    let url = format!("http://127.0.0.1:{port}");
    let measured = measure_child(plan, pid, &url, sim).await;
    // Our own child, stopped by its handle.
    let _ = child.kill().await;
    measured
}

async fn measure_child(
    plan: &Plan,
    pid: u32,
    url: &str,
    sim: &SimHandle,
) -> Result<Footprint, BenchError> {
    let client = load::client(8)?;
    wait_ready(&client, url).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_started = rss_of(pid)?;
    let concurrency_limit = concurrency_limit(&client, url).await;

    sim.set_pacing(Pacing {
        chunk_chars: STREAM_CHUNK_CHARS,
        ..Pacing::default()
    });
    for (stream, n) in [(false, WARM_REQUESTS), (true, WARM_STREAMS)] {
        let target = Target::Gateway {
            url: url.to_string(),
            key: KEY.into(),
            stream,
        };
        let s = load::drive(&client, &target, n, 4, plan.phase_limit, false).await;
        if let Some(e) = s.stats().first_error {
            return Err(BenchError::Client(format!("gateway process warm-up: {e}")));
        }
    }
    sim.reset();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let rss_idle = rss_of(pid)?;

    let (held_target, note) = held_streams_that_fit(plan.held_streams, fd_limit());
    sim.set_pacing(Pacing {
        chunk_chars: STREAM_CHUNK_CHARS,
        event_delay_ms: HELD_EVENT_DELAY.as_millis() as u64,
        ..Pacing::default()
    });
    tracing::info!(streams = held_target, "holding streams open");
    let held_client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| BenchError::Client(e.to_string()))?;
    let ready = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let opening = Arc::new(tokio::sync::Semaphore::new(OPENING_AT_ONCE));
    let tasks: Vec<_> = (0..held_target)
        .map(|i| {
            let target = Target::Gateway {
                url: url.to_string(),
                key: KEY.into(),
                stream: true,
            };
            let (client, ready, done) = (held_client.clone(), ready.clone(), done.clone());
            let opening = Arc::clone(&opening);
            tokio::spawn(async move {
                let permit = opening.acquire_owned().await;
                let held = hold(&client, &target, i, &ready).await;
                drop(permit);
                done.fetch_add(1, Ordering::AcqRel);
                if let Some(body) = held {
                    // Held until the task is aborted.
                    let _body = body;
                    std::future::pending::<()>().await;
                }
            })
        })
        .collect();
    let started = Instant::now();
    while done.load(Ordering::Acquire) < held_target && started.elapsed() < HELD_WAIT {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = ready.load(Ordering::Acquire);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_held = rss_of(pid)?;
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    sim.reset();
    Ok(Footprint {
        rss_started,
        rss_idle,
        held_target,
        held,
        rss_held,
        concurrency_limit,
        note,
    })
}

/// Sends one stream request and waits for its first body byte; returns the open body, or
/// `None` when the gateway refused or failed it.
async fn hold(
    client: &reqwest::Client,
    target: &Target,
    i: usize,
    ready: &AtomicUsize,
) -> Option<impl futures_util::Stream> {
    let resp = target.request(client, i).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let mut body = resp.bytes_stream();
    loop {
        match body.next().await? {
            Ok(chunk) if !chunk.is_empty() => break,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    ready.fetch_add(1, Ordering::AcqRel);
    Some(body)
}

async fn wait_ready(client: &reqwest::Client, url: &str) -> Result<(), BenchError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ok = client
            .get(format!("{url}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Client(
                "the gateway process did not become ready within 60 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `MAX_CONCURRENT_REQUESTS` as the running gateway reports it, with the cap it means.
async fn concurrency_limit(client: &reqwest::Client, url: &str) -> Option<(usize, usize)> {
    let v: serde_json::Value = client
        .get(format!("{url}/api/v1/settings"))
        .bearer_auth(KEY)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let configured = find_setting(&v, "MAX_CONCURRENT_REQUESTS")?.as_u64()? as usize;
    // The child inherits this process's open-file limit, so its cap is computed the same.
    Some((configured, crate::proxy::limit::effective_max(configured)))
}

/// The value of the setting named `env` in the settings API's answer, wherever it sits.
fn find_setting<'a>(v: &'a serde_json::Value, env: &str) -> Option<&'a serde_json::Value> {
    match v {
        serde_json::Value::Object(o) => {
            let named = ["env", "name", "key"]
                .iter()
                .any(|k| o.get(*k).and_then(serde_json::Value::as_str) == Some(env));
            if named && let Some(value) = o.get("value") {
                return Some(value);
            }
            o.values().find_map(|x| find_setting(x, env))
        }
        serde_json::Value::Array(a) => a.iter().find_map(|x| find_setting(x, env)),
        _ => None,
    }
}

/// How many streams fit the open-file limit: each held stream takes two descriptors in this
/// process (the client's socket and the simulator's).
fn held_streams_that_fit(wanted: usize, fd_limit: Option<u64>) -> (usize, Option<String>) {
    match fd_limit {
        Some(limit) if (wanted as u64) * 2 + FD_RESERVE > limit => {
            let fit = (limit.saturating_sub(FD_RESERVE) / 2) as usize;
            (
                fit,
                Some(format!(
                    "only {fit} streams: the open-file limit is {limit} (raise it with ulimit -n)"
                )),
            )
        }
        _ => (wanted, None),
    }
}

/// The soft open-file limit of this process, which the child gateway inherits.
fn fd_limit() -> Option<u64> {
    crate::proxy::limit::open_file_limit()
}

/// Resident set of process `pid`, in bytes (Linux).
fn rss_of(pid: u32) -> Result<u64, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss(&status).ok_or_else(|| BenchError::Client(format!("no VmRSS for process {pid}")))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line["VmRSS:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read() {
        let status = "Name:\tgcli2api\nVmPeak:\t  30000 kB\nVmRSS:\t   21504 kB\nThreads:\t5\n";
        assert_eq!(parse_vm_rss(status), Some(21504 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        if cfg!(target_os = "linux") {
            assert!(fd_limit().is_some());
            assert!(rss_of(std::process::id()).unwrap() > 0);
        }
    }

    #[test]
    fn held_streams_shrink_to_the_fd_limit() {
        assert_eq!(held_streams_that_fit(1000, Some(20_000)), (1000, None));
        assert_eq!(held_streams_that_fit(1000, None), (1000, None));
        let (n, note) = held_streams_that_fit(1000, Some(1024));
        assert_eq!(n, 384);
        assert!(note.unwrap().contains("1024"));
    }

    #[test]
    fn per_stream_is_the_growth_over_idle() {
        let f = Footprint {
            rss_started: 10,
            rss_idle: 20_000_000,
            held_target: 1000,
            held: 1000,
            rss_held: 60_000_000,
            concurrency_limit: Some((0, 448)),
            note: None,
        };
        assert_eq!(f.per_stream(), Some(40_000.0));
        assert_eq!(Footprint { held: 0, ..f }.per_stream(), None);
    }

    #[test]
    fn settings_are_found_by_env_name() {
        let v = serde_json::json!({"settings": [
            {"env": "PORT", "value": 7861},
            {"env": "MAX_CONCURRENT_REQUESTS", "value": 64, "locked": false}
        ]});
        assert_eq!(
            find_setting(&v, "MAX_CONCURRENT_REQUESTS"),
            Some(&serde_json::json!(64))
        );
        assert_eq!(find_setting(&v, "NOPE"), None);
    }
}
