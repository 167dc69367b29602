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
use crate::simulator::{Pacing, SeededUser, SimHandle, Simulator, UserSpec};
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
fn sources(data_dir: &std::path::Path, sim_url: &str) -> crate::Sources {
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
    // The request log is on by default and so on the measured path; BENCH_REQUEST_LOG=false
    // measures the gateway without it, for a side-by-side figure.
    env.insert(
        "REQUEST_LOG".into(),
        std::env::var("BENCH_REQUEST_LOG").unwrap_or("true".into()),
    );
    // MAX_CONCURRENT_REQUESTS keeps its default, which holds any concurrency the bench uses.
    crate::demo::demo_sources(env, data_dir, sim_url)
}

/// Writes one credential per user in a single transaction: the row and its pool state, as
/// `PoolService::add` writes them, but without 10,000 separate commits.
pub(super) async fn seed(dir: &std::path::Path, users: &[SeededUser]) -> Result<(), BenchError> {
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
    async fn start(credentials: usize) -> Result<World, BenchError> {
        let dir = TempDir::new("bench")?;
        let sim = Simulator::start(tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
        match Self::start_on(credentials, &sim, &dir).await {
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
        let app = crate::build(sources(&dir.0, &sim.base_url())).await?;
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

/// Fast mode: no delay between events; text split so every stream has
/// [`load::STREAM_EVENTS`] events.
fn stream_pacing() -> Pacing {
    Pacing {
        chunk_chars: load::STREAM_CHUNK_CHARS,
        ..Pacing::default()
    }
}

/// The phase whose requests per second make the throughput figure: the gateway at c=N.
const THROUGHPUT_PHASE: usize = 1;

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

/// Each phase is split into this many slices, alternated between the phases and the pool
/// sizes, so a drift in machine speed over the run lands on both sides of every difference
/// and ratio.
const ROUNDS: usize = 8;

/// Slice `round` of `n` requests split in `ROUNDS`.
fn slice(n: usize, round: usize) -> usize {
    n / ROUNDS + usize::from(round < n % ROUNDS)
}

/// Seeds and starts every pool size of `plan`, runs every end-to-end phase on all of them, and
/// stops them.
pub async fn run_pools(client: &reqwest::Client, plan: &Plan) -> Result<Vec<PoolRun>, BenchError> {
    let mut worlds = Vec::new();
    for &credentials in &plan.pools {
        match World::start(credentials).await {
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
        w.sim.set_pacing(stream_pacing());
        let c = if phase.sequential {
            1
        } else {
            plan.concurrency
        };
        let target = w.target(phase);
        async move { load::drive(client, &target, n, c, plan.phase_limit, plan.mute_console).await }
    };

    tracing::info!("warming up");
    let mut warmup_errors = vec![0; worlds.len()];
    for (i, w) in worlds.iter().enumerate() {
        for phase in &PHASES[..2] {
            warmup_errors[i] += drive(w, *phase, plan.warmup).await.stats().errors;
        }
    }
    for w in worlds {
        for phase in &PHASES[2..4] {
            w.sim.reset();
            w.sim.set_pacing(stream_pacing());
            let frames = load::count_frames(client, &w.target(*phase)).await?;
            // The gateway adds its closing chunk and `[DONE]`.
            let want = load::STREAM_EVENTS + if phase.gateway { 2 } else { 0 };
            if frames != want {
                return Err(BenchError::Client(format!(
                    "a benchmark stream ({}) had {frames} SSE frames, not {want}",
                    if phase.gateway {
                        "gateway"
                    } else {
                        "simulator"
                    }
                )));
            }
        }
    }
    let reads_before: Vec<u64> = worlds
        .iter()
        .map(|w| w.gateway.state.store.read_count())
        .collect();

    let mut samples = vec![vec![Samples::default(); PHASES.len()]; worlds.len()];
    let mut round_rps = vec![Vec::new(); worlds.len()];
    // Per pool and phase, the CPU per request of each round, in round order.
    let mut round_cpu = vec![vec![Vec::with_capacity(ROUNDS); PHASES.len()]; worlds.len()];
    let size = |phase: &Phase| {
        if phase.sequential {
            plan.sequential_requests
        } else if phase.stream {
            plan.stream_requests
        } else {
            plan.requests
        }
    };
    // Every round runs a slice of every phase on every pool, so the simulator-alone and the
    // gateway figures of a pair are taken moments apart, under the same load from the rest
    // of the machine.
    for round in 0..ROUNDS {
        tracing::info!(round = round + 1, of = ROUNDS, "measuring every phase");
        for (p, phase) in PHASES.iter().enumerate() {
            let n = slice(size(phase), round);
            if n == 0 {
                for cpu in &mut round_cpu {
                    cpu[p].push(None);
                }
                continue;
            }
            // Alternate which pool goes first, so neither always runs on a warmer machine.
            let order: Vec<usize> = if round % 2 == 0 {
                (0..worlds.len()).collect()
            } else {
                (0..worlds.len()).rev().collect()
            };
            for i in order {
                let s = drive(&worlds[i], *phase, n).await;
                let stats = s.stats();
                if p == THROUGHPUT_PHASE {
                    round_rps[i].push(stats.rps());
                }
                round_cpu[i][p].push(stats.cpu_per_request);
                samples[i][p].merge(s);
            }
        }
    }

    let runs = worlds
        .iter()
        .zip(samples.into_iter().zip(round_rps).zip(round_cpu))
        .zip(reads_before.into_iter().zip(warmup_errors))
        .map(
            |((w, ((s, round_rps), round_cpu)), (before, warmup_errors))| {
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
                    gateway_requests: gateway.requests
                        + gateway_stream.requests
                        + gateway_seq.requests,
                    gateway_round_rps: round_rps,
                    added_cpu_rounds: [(1, 0), (3, 2)].map(|(g, d)| {
                        round_cpu[g]
                            .iter()
                            .zip(&round_cpu[d])
                            .filter_map(|(g, d)| {
                                Some(g.as_ref()?.as_secs_f64() - d.as_ref()?.as_secs_f64())
                            })
                            .collect()
                    }),
                    direct,
                    gateway,
                    direct_stream,
                    gateway_stream,
                    direct_seq,
                    gateway_seq,
                }
            },
        )
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
