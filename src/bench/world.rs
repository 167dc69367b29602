//! One pool size's world: a fresh simulator with N users, a throwaway data directory whose
//! SQLite file holds N credentials, and a gateway `build()` loaded from it the normal way.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use std::sync::Arc;

use super::load::{self, Samples, Target};
use super::report::PoolRun;
use super::{BenchError, Plan};
use crate::AppState;
use crate::demo::TempDir;
use crate::pool::CredentialState;
use crate::simulator::{SeededUser, SimHandle, Simulator, UserSpec};
use crate::store::credentials::{self as repo, CredentialSource, NewCredential};
use crate::store::{Store, now_ms};

const KEY: &str = "bench-api-key";

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
    env.insert("PASSWORD".into(), KEY.into());
    // Every request moves to the next credential: the most index work per request, and a
    // large pool's requests really are spread over thousands of credentials.
    env.insert(
        "CALLS_PER_ROTATION".into(),
        std::env::var("BENCH_CPR").unwrap_or("1".into()),
    );
    // The default daily limits (1,000 requests per credential) would stop a 3-credential pool
    // mid-run; a limit that is never reached keeps the quota accounting on the measured path.
    env.insert("DAILY_LIMIT_TOTAL".into(), "1000000000".into());
    env.insert("DAILY_LIMIT_PRO".into(), "1000000000".into());
    env.insert(
        "MAX_CONCURRENT_REQUESTS".into(),
        concurrency.max(64).to_string(),
    );
    crate::demo::demo_sources(env, data_dir, sim_url)
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
                kind: crate::google::kind::CredentialKind::CodeAssist,
                secret_sha256: None,
                quota_group: None,
                models: None,
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

/// One pool size, seeded and served.
struct World {
    credentials: usize,
    loaded: usize,
    seed_time: Duration,
    load_time: Duration,
    sim: SimHandle,
    gateway: Gateway,
    /// (access token, project) per seeded user, for the simulator-alone phases.
    users: Arc<Vec<(String, String)>>,
    _dir: TempDir,
}

impl World {
    async fn start(plan: &Plan, credentials: usize) -> Result<World, BenchError> {
        let dir = TempDir::new("bench")?;
        let sim = Simulator::start(tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
        match Self::start_on(plan, credentials, &sim, &dir).await {
            Ok((gateway, users, loaded, seed_time, load_time)) => Ok(World {
                credentials,
                loaded,
                seed_time,
                load_time,
                sim,
                gateway,
                users,
                _dir: dir,
            }),
            Err(e) => {
                sim.shutdown();
                Err(e)
            }
        }
    }

    #[allow(clippy::type_complexity)]
    async fn start_on(
        plan: &Plan,
        credentials: usize,
        sim: &SimHandle,
        dir: &TempDir,
    ) -> Result<
        (
            Gateway,
            Arc<Vec<(String, String)>>,
            usize,
            Duration,
            Duration,
        ),
        BenchError,
    > {
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
        let pairs = users
            .iter()
            .map(|u| (u.access_token.clone(), u.project_id.clone()))
            .collect();
        Ok((gateway, Arc::new(pairs), loaded, seed_time, load_time))
    }

    fn target(&self, phase: Phase) -> Target {
        if phase.gateway {
            Target::Gateway {
                url: self.gateway.url.clone(),
                key: KEY.into(),
                stream: phase.stream,
            }
        } else {
            Target::Direct {
                url: self.sim.base_url(),
                users: Arc::clone(&self.users),
                stream: phase.stream,
            }
        }
    }

    async fn stop(self) -> Result<(), BenchError> {
        let stopped = self.gateway.stop().await;
        self.sim.shutdown();
        stopped
    }
}

#[derive(Clone, Copy, Debug)]
struct Phase {
    gateway: bool,
    stream: bool,
    sequential: bool,
}

const PHASES: [Phase; 6] = [
    Phase {
        gateway: false,
        stream: false,
        sequential: false,
    },
    Phase {
        gateway: true,
        stream: false,
        sequential: false,
    },
    Phase {
        gateway: false,
        stream: true,
        sequential: false,
    },
    Phase {
        gateway: true,
        stream: true,
        sequential: false,
    },
    Phase {
        gateway: false,
        stream: false,
        sequential: true,
    },
    Phase {
        gateway: true,
        stream: false,
        sequential: true,
    },
];

/// Each phase is split into this many slices, alternated between the pool sizes, so a drift in
/// machine speed over the run lands on both sides of every ratio.
const ROUNDS: usize = 4;

/// Slice `round` of `n` requests split in `ROUNDS`.
fn slice(n: usize, round: usize) -> usize {
    n / ROUNDS + usize::from(round < n % ROUNDS)
}

/// Seeds and starts every pool size of `plan`, runs every end-to-end phase on all of them, and
/// stops them.
pub async fn run_pools(client: &reqwest::Client, plan: &Plan) -> Result<Vec<PoolRun>, BenchError> {
    let mut worlds = Vec::new();
    for &credentials in &plan.pools {
        match World::start(plan, credentials).await {
            Ok(w) => worlds.push(w),
            Err(e) => {
                for w in worlds {
                    let _ = w.stop().await;
                }
                return Err(e);
            }
        }
    }
    let measured = measure(client, plan, &worlds).await;
    let mut stopped = Ok(());
    for w in worlds {
        let r = w.stop().await;
        if stopped.is_ok() {
            stopped = r;
        }
    }
    let runs = measured?;
    stopped?;
    Ok(runs)
}

async fn measure(
    client: &reqwest::Client,
    plan: &Plan,
    worlds: &[World],
) -> Result<Vec<PoolRun>, BenchError> {
    let drive = |w: &World, phase: Phase, n: usize| {
        // The simulator logs every request it serves; clearing it keeps memory flat.
        w.sim.reset();
        let c = if phase.sequential {
            1
        } else {
            plan.concurrency
        };
        let target = w.target(phase);
        async move { load::drive(client, &target, n, c, plan.phase_limit).await }
    };

    tracing::info!("warming up");
    let mut warmup_errors = vec![0; worlds.len()];
    for (i, w) in worlds.iter().enumerate() {
        for phase in &PHASES[..2] {
            warmup_errors[i] += drive(w, *phase, plan.warmup).await.stats().errors;
        }
    }
    let reads_before: Vec<u64> = worlds
        .iter()
        .map(|w| w.gateway.state.store.read_count())
        .collect();

    let mut samples = vec![vec![Samples::default(); PHASES.len()]; worlds.len()];
    for (p, phase) in PHASES.iter().enumerate() {
        let n = if phase.sequential {
            plan.sequential_requests
        } else if phase.stream {
            plan.stream_requests
        } else {
            plan.requests
        };
        tracing::info!(?phase, requests = n, "measuring");
        for round in 0..ROUNDS {
            let n = slice(n, round);
            if n == 0 {
                continue;
            }
            for (i, w) in worlds.iter().enumerate() {
                let s = drive(w, *phase, n).await;
                samples[i][p].merge(s);
            }
        }
    }

    let runs = worlds
        .iter()
        .zip(samples)
        .zip(reads_before.into_iter().zip(warmup_errors))
        .map(|((w, s), (before, warmup_errors))| {
            let [
                direct,
                gateway,
                direct_stream,
                gateway_stream,
                direct_seq,
                gateway_seq,
            ] = [0, 1, 2, 3, 4, 5].map(|p| s[p].stats());
            PoolRun {
                credentials: w.credentials,
                loaded: w.loaded,
                seed_time: w.seed_time,
                load_time: w.load_time,
                warmup_errors,
                store_reads: w.gateway.state.store.read_count().saturating_sub(before),
                gateway_requests: gateway.requests + gateway_stream.requests + gateway_seq.requests,
                direct,
                gateway,
                direct_stream,
                gateway_stream,
                direct_seq,
                gateway_seq,
            }
        })
        .collect();
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_add_up() {
        for n in [0, 1, 3, 4, 5, 20, 2001] {
            let total: usize = (0..ROUNDS).map(|r| slice(n, r)).sum();
            assert_eq!(total, n);
        }
    }
}
