//! One pool size's world: a fresh simulator with N users, a throwaway data directory whose
//! SQLite file holds N credentials, and a gateway `build()` loaded from it the normal way.
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::load::{self, Target};
use super::report::PoolRun;
use super::{BenchError, Plan};
use crate::AppState;
use crate::pool::CredentialState;
use crate::simulator::{SeededUser, SimHandle, Simulator, UserSpec};
use crate::store::credentials::{self as repo, CredentialSource, NewCredential};
use crate::store::{Store, now_ms};

const KEY: &str = "bench-api-key";

/// Every Google base URL the gateway has; all point at the simulator.
const UPSTREAM_KEYS: &[&str] = &[
    "CODE_ASSIST_ENDPOINT",
    "OAUTH_PROXY_URL",
    "GOOGLEAPIS_PROXY_URL",
    "RESOURCE_MANAGER_API_URL",
    "SERVICE_USAGE_API_URL",
    "METADATA_SERVICE_URL",
];

/// Removes the throwaway directory however the bench ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "gcli2api-bench-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Gateway {
    url: String,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), crate::StartupError>>,
}

impl Gateway {
    async fn stop(mut self) -> Result<(), BenchError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.await {
            Ok(served) => Ok(served?),
            Err(e) => Err(BenchError::Client(format!("gateway task: {e}"))),
        }
    }
}

/// The environment the gateway is built from: nothing is taken from the process environment,
/// so a user's PROXY or DATA_DIR cannot leak into the bench.
fn sources(data_dir: &std::path::Path, sim_url: &str, concurrency: usize) -> crate::Sources {
    let mut env = HashMap::new();
    env.insert("DATA_DIR".into(), data_dir.display().to_string());
    env.insert("PASSWORD".into(), KEY.into());
    // Every request moves to the next credential: the most index work per request, and a
    // large pool's requests really are spread over thousands of credentials.
    env.insert("CALLS_PER_ROTATION".into(), "1".into());
    env.insert(
        "MAX_CONCURRENT_REQUESTS".into(),
        concurrency.max(64).to_string(),
    );
    for k in UPSTREAM_KEYS {
        env.insert((*k).into(), sim_url.to_string());
    }
    env.insert(
        "OAUTH_AUTH_URL".into(),
        format!("{sim_url}/o/oauth2/v2/auth"),
    );
    crate::Sources {
        env,
        config_file: None,
    }
}

/// Writes one credential per user in a single transaction: the row and its pool state, as
/// `PoolService::add` writes them, but without 10,000 separate commits.
async fn seed(dir: &std::path::Path, users: &[SeededUser]) -> Result<(), BenchError> {
    let rows: Vec<(NewCredential, String)> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let state = CredentialState {
                email: Some(u.email.clone()),
                project_id: Some(u.project_id.clone()),
                ..Default::default()
            };
            let json = serde_json::to_string(&state)
                .map_err(|e| crate::store::StoreError::Data(e.to_string()))?;
            let new = NewCredential {
                name: format!("bench-{:05}.json", i + 1),
                source: CredentialSource::Upload,
                payload: u.credential_json(),
                email: Some(u.email.clone()),
                project_id: Some(u.project_id.clone()),
                tier: None,
                refresh_token_sha256: None,
            };
            Ok((new, json))
        })
        .collect::<Result<_, crate::store::StoreError>>()?;
    let store = Store::open(dir).await?;
    store
        .tx(move |tx| {
            let now = now_ms();
            for (new, json) in &rows {
                let id = repo::insert(tx, new, now)?;
                repo::set_pool_state(tx, id, json)?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// Measures every end-to-end phase for a pool of `credentials`.
pub async fn run_pool(
    client: &reqwest::Client,
    plan: &Plan,
    credentials: usize,
) -> Result<PoolRun, BenchError> {
    let dir = TempDir::new()?;
    let sim = Simulator::start(tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let result = measure_pool(client, plan, credentials, &sim, &dir).await;
    sim.shutdown();
    result
}

async fn measure_pool(
    client: &reqwest::Client,
    plan: &Plan,
    credentials: usize,
    sim: &SimHandle,
    dir: &TempDir,
) -> Result<PoolRun, BenchError> {
    tracing::info!(
        credentials,
        "seeding simulator users and stored credentials"
    );
    let started = Instant::now();
    let users: Vec<SeededUser> = (0..credentials)
        .map(|i| sim.add_user(UserSpec::new(format!("bench{}@sim.test", i + 1))))
        .collect();
    seed(&dir.0, &users).await?;
    let seed_time = started.elapsed();

    let started = Instant::now();
    let app = crate::build(sources(&dir.0, &sim.base_url(), plan.concurrency)).await?;
    let load_time = started.elapsed();
    let loaded = app.state().pool.summary().active;
    tracing::info!(credentials, loaded, ?seed_time, ?load_time, "gateway built");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = oneshot::channel::<()>();
    let state = app.state().clone();
    let task = tokio::spawn(app.serve(listener, async move {
        let _ = rx.await;
    }));
    let gateway = Gateway {
        url,
        state,
        stop: Some(tx),
        task,
    };
    let measured = phases(client, plan, sim, &gateway, &users).await;
    let stopped = gateway.stop().await;
    let mut run = measured?;
    stopped?;
    run.credentials = credentials;
    run.loaded = loaded;
    run.seed_time = seed_time;
    run.load_time = load_time;
    Ok(run)
}

async fn phases(
    client: &reqwest::Client,
    plan: &Plan,
    sim: &SimHandle,
    gw: &Gateway,
    users: &[SeededUser],
) -> Result<PoolRun, BenchError> {
    let pairs: std::sync::Arc<Vec<(String, String)>> = std::sync::Arc::new(
        users
            .iter()
            .map(|u| (u.access_token.clone(), u.project_id.clone()))
            .collect(),
    );
    let direct = |stream| Target::Direct {
        url: sim.base_url(),
        users: pairs.clone(),
        stream,
    };
    let gateway = |stream| Target::Gateway {
        url: gw.url.clone(),
        key: KEY.into(),
        stream,
    };
    let c = plan.concurrency;
    let limit = plan.phase_limit;
    let drive = |target: Target, n: usize, c: usize| async move {
        // The simulator logs every request it serves; clear it so memory stays flat.
        sim.reset();
        load::drive(client, &target, n, c, limit).await
    };

    tracing::info!(credentials = users.len(), "warming up");
    let warm_direct = drive(direct(false), plan.warmup, c).await;
    let warm_gateway = drive(gateway(false), plan.warmup, c).await;
    let reads_before = gw.state.store.read_count();

    tracing::info!(credentials = users.len(), "non-streaming, concurrency {c}");
    let direct_stats = drive(direct(false), plan.requests, c).await;
    let gateway_stats = drive(gateway(false), plan.requests, c).await;
    tracing::info!(credentials = users.len(), "streaming, concurrency {c}");
    let direct_stream = drive(direct(true), plan.stream_requests, c).await;
    let gateway_stream = drive(gateway(true), plan.stream_requests, c).await;
    tracing::info!(credentials = users.len(), "one request at a time");
    let direct_seq = drive(direct(false), plan.sequential_requests, 1).await;
    let gateway_seq = drive(gateway(false), plan.sequential_requests, 1).await;

    let store_reads = gw.state.store.read_count().saturating_sub(reads_before);
    let gateway_requests = gateway_stats.requests + gateway_stream.requests + gateway_seq.requests;
    Ok(PoolRun {
        credentials: 0,
        loaded: 0,
        seed_time: Duration::ZERO,
        load_time: Duration::ZERO,
        warmup_errors: warm_direct.errors + warm_gateway.errors,
        direct: direct_stats,
        gateway: gateway_stats,
        direct_stream,
        gateway_stream,
        direct_seq,
        gateway_seq,
        store_reads,
        gateway_requests,
    })
}
