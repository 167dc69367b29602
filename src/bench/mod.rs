//! `gcli2api bench`: checks the performance budget and shows that the cost of a request stays
//! flat as the credential pool grows.
//!
//! Everything runs on loopback: the Google simulator and the gateway each listen on
//! `127.0.0.1:0`, the data directory is a throwaway one, and every request loop is bounded in
//! count and in time. The simulator runs in fast mode (no delay between stream events), and
//! every gateway figure is taken side by side with the simulator called directly in the same
//! run, so what is left is the gateway's own cost. Memory is measured on a separate gateway
//! process with default settings, so its resident set is the gateway's alone.
//!
//! The access log is on, as it is by default: its lines go to a log file and the in-memory
//! ring (the console is muted while requests are measured, so the terminal is not flooded).
//!
//! The report is program output, like the demo banner: it goes to stdout as plain text, while
//! progress goes through `tracing` to stderr.
mod footprint;
mod load;
mod pick;
mod report;
mod world;

#[cfg(test)]
mod tests;

use std::io::Write;
use std::time::{Duration, Instant};

pub use self::footprint::Footprint;
pub use self::load::{LoadStats, Percentiles};
pub use self::pick::{PickCase, PickPlan, PickRow};
pub use self::report::{BudgetLine, PoolRun, Report, Verdict};

/// Command-line options of `gcli2api bench`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct BenchArgs {
    /// Smaller run (300 requests per phase, shorter pick timings).
    #[arg(long)]
    pub quick: bool,
    /// Requests per end-to-end phase (default 2000; 300 with --quick).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub requests: Option<u32>,
    /// Requests in flight at once (default 16).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: Option<u32>,
    /// The two pool sizes compared, small then large (default 10,10000): running one size
    /// twice, as in 10000,10000, profiles it alone.
    #[arg(long, value_parser = parse_pools)]
    pub pools: Option<[usize; 2]>,
}

/// `A,B`: two pool sizes from 1 to 100,000.
fn parse_pools(s: &str) -> Result<[usize; 2], String> {
    let sizes: Vec<usize> = s
        .split(',')
        .map(|n| n.trim().parse::<usize>().map_err(|e| format!("{n:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match sizes[..] {
        [a, b] if (1..=100_000).contains(&a) && (1..=100_000).contains(&b) => Ok([a, b]),
        _ => Err("two sizes from 1 to 100000, as in 10,10000".into()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("gateway: {0}")]
    Startup(#[from] crate::StartupError),
    #[error("seeding the database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP client: {0}")]
    Client(String),
    #[error("Pool::pick found no credential in a pool that has eligible ones: {0}")]
    Pick(String),
    #[error("logging: {0}")]
    Logs(#[from] crate::logs::LogError),
    #[error(
        "{failed} benchmark request(s) failed (first: {first}); the figures above are not valid"
    )]
    Failures { failed: usize, first: String },
}

/// What one bench run does. [`Plan::from_args`] gives the command's; tests use tiny ones.
#[derive(Clone, Debug)]
pub struct Plan {
    pub quick: bool,
    /// Requests per end-to-end phase (non-streaming, for the gateway and the simulator alone).
    pub requests: usize,
    pub concurrency: usize,
    /// Streamed requests per phase.
    pub stream_requests: usize,
    /// Requests per phase of the one-at-a-time runs that isolate per-request overhead.
    pub sequential_requests: usize,
    /// Requests sent before measuring, so connections are open and caches warm.
    pub warmup: usize,
    /// Baseline pool size, then the large one.
    pub pools: [usize; 2],
    /// A phase that runs longer than this stops early and reports what it did.
    pub phase_limit: Duration,
    pub pick: PickPlan,
    /// Streams held open at once for the memory figure.
    pub held_streams: usize,
    /// The gateway binary to run for the memory figures; `None` skips them.
    pub gateway_exe: Option<std::path::PathBuf>,
    /// Mute the console log sink while requests are measured (the access lines still go to
    /// the file and the ring buffer).
    pub mute_console: bool,
}

impl Plan {
    pub fn from_args(args: &BenchArgs) -> Self {
        let requests = args
            .requests
            .map_or(if args.quick { 300 } else { 2000 }, |n| n as usize);
        Self {
            quick: args.quick,
            requests,
            concurrency: args.concurrency.map_or(16, |c| c as usize),
            stream_requests: requests.div_ceil(2),
            // Enough one-at-a-time requests for a p99 that is not just the slowest one.
            sequential_requests: (requests / 2).clamp(100, 1000),
            warmup: (requests / 10).clamp(10, 100),
            pools: args.pools.unwrap_or([10, 10_000]),
            phase_limit: Duration::from_secs(if args.quick { 20 } else { 60 }),
            pick: PickPlan::standard(args.quick),
            held_streams: 1000,
            gateway_exe: std::env::current_exe().ok(),
            mute_console: true,
        }
    }
}

/// Runs every measurement of `plan` and returns the figures; prints nothing.
pub async fn measure(plan: &Plan) -> Result<Report, BenchError> {
    let started = Instant::now();
    let load_at_start = load_average();
    tracing::info!(cases = plan.pick.cases.len(), "measuring Pool::pick");
    let picks = pick::measure(&plan.pick)?;
    let client = load::client(plan.concurrency)?;
    let pools = world::run_pools(&client, plan).await?;
    let footprint = footprint::measure(plan).await?;
    Ok(Report {
        plan: plan.clone(),
        picks,
        pools,
        footprint,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        release: !cfg!(debug_assertions),
        took: started.elapsed(),
        load_average: load_at_start.zip(load_average()),
    })
}

/// The one-minute load average (Linux): how busy the machine was with other work.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
}

/// The `bench` command: measure, then print the report to stdout. Fails (after printing) when
/// any benchmark request failed, since the figures would then measure error paths.
pub async fn run(args: BenchArgs) -> Result<(), BenchError> {
    let level = std::env::var("LOG_LEVEL")
        .unwrap_or_else(|_| "warn,gcli2api::bench=info,gcli2api::access=info".into());
    let log_dir = crate::demo::TempDir::new("bench-logs")?;
    let _logs = crate::logs::init(crate::logs::LogConfig {
        level,
        file: Some(log_dir.0.join("bench.log")),
        retention_days: 2,
        console: true,
    })?;
    let plan = Plan::from_args(&args);
    tracing::info!(
        requests = plan.requests,
        concurrency = plan.concurrency,
        quick = plan.quick,
        "benchmark starting"
    );
    let report = measure(&plan).await?;
    let mut out = std::io::stdout().lock();
    out.write_all(report.render().as_bytes())?;
    out.flush()?;
    match report.failures() {
        (0, _) => Ok(()),
        (failed, first) => Err(BenchError::Failures {
            failed,
            first: first.unwrap_or_default(),
        }),
    }
}
