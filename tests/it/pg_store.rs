//! The PostgreSQL store against a real server (the throwaway cluster of `pg_cluster`).
use gcli2api::store::location::PgUrl;
use gcli2api::store::{pg_counters, postgres as pg, schema};

use crate::pg_cluster;

fn pg_url(url: &str) -> PgUrl {
    PgUrl::parse(url, "test").unwrap()
}

async fn sqlite_schema() -> schema::Schema {
    let dir = tempfile::tempdir().unwrap();
    let store = gcli2api::store::Store::open(dir.path()).await.unwrap();
    store.call(|c| Ok(schema::sqlite(c)?)).await.unwrap()
}

/// Both backends' migrations, applied from scratch, give the same tables, columns (type
/// class, nullability, order), primary keys and indexes (unique or not), for every table.
#[tokio::test(flavor = "multi_thread")]
async fn both_backends_migrate_to_the_same_schema() {
    let sqlite = sqlite_schema().await;
    let url = pg_cluster::fresh_database("schema");
    let postgres = tokio::task::spawn_blocking(move || {
        let url = pg_url(&url);
        let mut c = pg::connect(&url).unwrap();
        assert_eq!(pg::migrate(&mut c, &url).unwrap(), pg::schema_version());
        assert_eq!(
            pg::migrate(&mut c, &url).unwrap(),
            0,
            "a second run has nothing to do"
        );
        assert_eq!(
            pg::current_version(&mut c).unwrap(),
            gcli2api::store::schema_version() as i64
        );
        schema::postgres(&mut c).unwrap()
    })
    .await
    .unwrap();

    // The readers see the whole schema, including the tables added last.
    for t in [
        "settings",
        "secrets",
        "credentials",
        "credential_identities",
        "usage_minute",
        "usage_daily",
        "usage_daily_requests",
        "usage_counters",
        "quota_windows",
        "quota_limits",
        "audit_events",
        "responses",
        "request_log",
        "client_keys",
        "client_key_server_secret",
        "usage_key_daily",
        "secrets_at_rest",
    ] {
        assert!(sqlite.contains_key(t), "sqlite lacks {t}");
    }
    assert!(
        sqlite["quota_limits"]
            .indexes
            .iter()
            .any(|i| i.unique && i.columns[0] == "(expr)"),
        "{:?}",
        sqlite["quota_limits"]
    );
    assert_eq!(sqlite["client_keys"].primary_key, ["id"]);
    let diff = schema::differences("sqlite", &sqlite, "postgres", &postgres);
    assert!(diff.is_empty(), "schemas differ:\n{}", diff.join("\n"));
    assert_eq!(sqlite.len(), postgres.len());

    // The comparison notices a difference of each kind it checks.
    let mut changed = postgres.clone();
    let t = changed.get_mut("request_log").unwrap();
    t.columns[1].not_null = false;
    assert_eq!(schema::differences("a", &sqlite, "b", &changed).len(), 1);
    let mut changed = postgres.clone();
    changed.get_mut("client_keys").unwrap().indexes.pop_first();
    assert_eq!(schema::differences("a", &sqlite, "b", &changed).len(), 1);
    let mut changed = postgres.clone();
    changed.remove("usage_key_daily");
    assert_eq!(schema::differences("a", &sqlite, "b", &changed).len(), 1);
}

/// Instances starting together against one new database apply each migration once.
#[test]
fn concurrent_migrations_apply_once() {
    let url = pg_cluster::fresh_database("concurrent");
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = pg_url(&url);
            std::thread::spawn(move || {
                let mut c = pg::connect(&url).unwrap();
                pg::migrate(&mut c, &url).unwrap()
            })
        })
        .collect();
    let applied: Vec<usize> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        applied.iter().sum::<usize>(),
        pg::schema_version(),
        "{applied:?}"
    );
    let mut c = pg::connect(&pg_url(&url)).unwrap();
    let rows: i64 = c
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows as usize, pg::schema_version());
}

/// An unreachable server is one clear error naming the URL without its password.
#[test]
fn an_unreachable_server_is_a_clear_error_without_the_password() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = pg_url(&format!(
        "postgres://gw:pw-7c1e@127.0.0.1:{port}/gcli?connect_timeout=5"
    ));
    let Err(e) = pg::connect(&url) else {
        panic!("nothing listens on {port}")
    };
    let e = e.to_string();
    assert!(
        e.contains("cannot connect to PostgreSQL at postgres://gw:***@127.0.0.1"),
        "{e}"
    );
    assert!(!e.contains("pw-7c1e"), "{e}");
}

/// Two "instances" (two connection pools on one database) take 400 concurrent units of one
/// credential's quota with a limit of 250 and count 400 calls: exactly 250 are granted, each
/// with a distinct running count 1..=250 (no lost or doubled increment), and the call total
/// is exactly 400. A newer window starts again at 1; a lagging caller on the older window is
/// refused and cannot reset it.
#[test]
fn shared_counters_are_exact_under_concurrency_from_two_pools() {
    let url = pg_url(&pg_cluster::fresh_database("counters"));
    pg::migrate(&mut pg::connect(&url).unwrap(), &url).unwrap();
    let pools = [
        pg_counters::open_pool(&url, 8).unwrap(),
        pg_counters::open_pool(&url, 8).unwrap(),
    ];
    let window = 1_700_000_000_000i64;
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let pool = pools[w % 2].clone();
            std::thread::spawn(move || {
                let mut granted = Vec::new();
                for _ in 0..25 {
                    let mut c = pool.get().unwrap();
                    if let Some(n) =
                        pg_counters::take_quota(&mut *c, 7, "pro", window, 250).unwrap()
                    {
                        granted.push(n);
                    }
                    pg_counters::add_daily_calls(
                        &mut *c,
                        "2026-12-07",
                        7,
                        "gemini-2.5-pro",
                        "success",
                        1,
                    )
                    .unwrap();
                }
                granted
            })
        })
        .collect();
    let mut granted: Vec<i64> = workers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    granted.sort();
    assert_eq!(granted, (1..=250).collect::<Vec<i64>>());
    let mut c = pools[1].get().unwrap();
    let calls: i64 = c
        .query_one("SELECT calls FROM usage_daily WHERE credential_id = 7", &[])
        .unwrap()
        .get(0);
    assert_eq!(calls, 400);
    assert_eq!(
        pg_counters::take_quota(&mut *c, 7, "pro", window, 250).unwrap(),
        None
    );
    assert_eq!(
        pg_counters::take_quota(&mut *c, 7, "pro", window + 86_400_000, 250).unwrap(),
        Some(1)
    );
    assert_eq!(
        pg_counters::take_quota(&mut *c, 7, "pro", window, 250).unwrap(),
        None
    );
    assert_eq!(
        pg_counters::take_quota(&mut *c, 7, "pro", window + 86_400_000, 250).unwrap(),
        Some(2)
    );
    assert_eq!(
        pg_counters::take_quota(&mut *c, 8, "pro", window, 0).unwrap(),
        None
    );
}

/// The write-behind shape of the shared runtime: instances count in memory and flush deltas.
/// Sixteen flushers on two pools add random-sized deltas inside transactions (two statements
/// each, as a flush does); the totals are the exact sums, each flusher sees the shared total
/// grow (it includes the others' deltas), and a lagging flusher's old-window delta neither
/// counts against the new window nor resets it.
#[test]
fn flushed_deltas_from_two_pools_sum_exactly() {
    let url = pg_url(&pg_cluster::fresh_database("deltas"));
    pg::migrate(&mut pg::connect(&url).unwrap(), &url).unwrap();
    let pools = [
        pg_counters::open_pool(&url, 8).unwrap(),
        pg_counters::open_pool(&url, 8).unwrap(),
    ];
    let window = 1_700_000_000_000i64;
    let workers: Vec<_> = (0..16i64)
        .map(|w| {
            let pool = pools[(w % 2) as usize].clone();
            std::thread::spawn(move || {
                let mut c = pool.get().unwrap();
                let (mut sent, mut last_total) = (0i64, 0i64);
                for i in 0..20i64 {
                    let delta = 1 + (w * 7 + i * 13) % 9;
                    let mut tx = c.transaction().unwrap();
                    let total = pg_counters::add_quota_used(&mut tx, 5, "pro", window, delta)
                        .unwrap()
                        .unwrap();
                    pg_counters::add_counter(&mut tx, 5, "pro", "success", delta).unwrap();
                    tx.commit().unwrap();
                    assert!(
                        total >= last_total + delta,
                        "{total} after {last_total}+{delta}"
                    );
                    last_total = total;
                    sent += delta;
                }
                sent
            })
        })
        .collect();
    let sent: i64 = workers.into_iter().map(|h| h.join().unwrap()).sum();
    let mut c = pools[0].get().unwrap();
    let used: i64 = c
        .query_one(
            "SELECT used FROM quota_windows WHERE credential_id = 5",
            &[],
        )
        .unwrap()
        .get(0);
    let calls: i64 = c
        .query_one(
            "SELECT calls FROM usage_counters WHERE credential_id = 5",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!((used, calls), (sent, sent));

    let next = window + 86_400_000;
    assert_eq!(
        pg_counters::add_quota_used(&mut *c, 5, "pro", next, 3).unwrap(),
        Some(3)
    );
    assert_eq!(
        pg_counters::add_quota_used(&mut *c, 5, "pro", window, 50).unwrap(),
        None
    );
    assert_eq!(
        pg_counters::add_quota_used(&mut *c, 5, "pro", next, 2).unwrap(),
        Some(5)
    );
}

/// The storage boundary, audit domain: the same appends and reads through the same functions
/// on both backends give the same events (ids, order, every field), including the filters
/// PostgreSQL types differently (`$n IS NULL`) and a LIKE family with an escaped `_`.
#[tokio::test(flavor = "multi_thread")]
async fn audit_reads_and_writes_alike_on_both_backends() {
    use gcli2api::store::audit::{self, Filter, NewAuditEvent};
    let ev =
        |kind: &str, actor: &str, origin: Option<&str>, detail: serde_json::Value| NewAuditEvent {
            kind: kind.into(),
            actor: actor.into(),
            origin: origin.map(Into::into),
            subject: origin.map(|_| "a.json".into()),
            detail,
        };
    let events = vec![
        ev(
            "credential.disable",
            "admin",
            Some("10.0.0.1"),
            serde_json::json!({"reason": "x"}),
        ),
        ev(
            "credential.enable",
            "api-password",
            None,
            serde_json::json!({}),
        ),
        ev(
            "settings.update",
            "admin",
            Some("::1"),
            serde_json::json!({"keys": ["port"]}),
        ),
        ev("cred_x.y", "cli", None, serde_json::json!({"n": 1})),
        ev("credXx.z", "cli", None, serde_json::json!({"n": 2})),
        ev(
            "signin.failed",
            "anonymous",
            Some("10.0.0.2"),
            serde_json::json!({}),
        ),
    ];
    let all = |limit| Filter {
        limit,
        ..Filter::default()
    };
    let filters = vec![
        all(100),
        Filter {
            action: Some("credential.".into()),
            ..all(100)
        },
        Filter {
            action: Some("settings.update".into()),
            ..all(100)
        },
        Filter {
            actor: Some("admin".into()),
            ..all(100)
        },
        Filter {
            from: Some(2000),
            to: Some(5000),
            ..all(100)
        },
        Filter {
            before_id: Some(4),
            ..all(2)
        },
        Filter {
            action: Some("cred_x.".into()),
            ..all(100)
        },
    ];
    let want_lengths = [6, 2, 1, 2, 3, 2, 1];

    let dir = tempfile::tempdir().unwrap();
    let store = gcli2api::store::Store::open(dir.path()).await.unwrap();
    let (e, f) = (events.clone(), filters.clone());
    let sqlite = store
        .tx(move |tx| {
            for (i, e) in e.iter().enumerate() {
                assert_eq!(audit::append(tx, e, 1000 * (i as i64 + 1))?, i as i64 + 1);
            }
            let mut out: Vec<_> = f
                .iter()
                .map(|f| audit::list(tx, f))
                .collect::<Result<_, _>>()?;
            out.push(audit::list_recent(tx, 3)?);
            Ok(out)
        })
        .await
        .unwrap();

    let url = pg_cluster::fresh_database("audit");
    let postgres = tokio::task::spawn_blocking(move || {
        let url = pg_url(&url);
        let mut c = pg::connect(&url).unwrap();
        pg::migrate(&mut c, &url).unwrap();
        let mut tx = c.transaction().unwrap();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(
                audit::append(&mut tx, e, 1000 * (i as i64 + 1)).unwrap(),
                i as i64 + 1
            );
        }
        tx.commit().unwrap();
        let mut tx = c.transaction().unwrap();
        let mut out: Vec<_> = filters
            .iter()
            .map(|f| audit::list(&mut tx, f).unwrap())
            .collect();
        out.push(audit::list_recent(&mut tx, 3).unwrap());
        out
    })
    .await
    .unwrap();

    let lengths: Vec<usize> = sqlite.iter().map(Vec::len).collect();
    assert_eq!(lengths[..7], want_lengths, "{sqlite:#?}");
    assert_eq!(lengths[7], 3);
    assert_eq!(
        sqlite[6][0].kind, "cred_x.y",
        "the `_` is matched literally"
    );
    assert_eq!(postgres, sqlite);
}

/// The storage boundary, stored responses: the same write batch, reads and pruning (by age,
/// then by size) through the same functions give the same rows on both backends.
#[tokio::test(flavor = "multi_thread")]
async fn stored_responses_alike_on_both_backends() {
    use gcli2api::store::responses::{self, StoredRow, Write};
    use std::sync::Arc;
    let row = |id: &str, at: i64, size: usize| {
        Arc::new(StoredRow {
            id: id.into(),
            created_at: at,
            response_json: "x".repeat(size),
            conversation_json: "[]".into(),
            output_json: format!("[\"{id}\"]"),
        })
    };
    let writes = vec![
        Write::Put(row("a", 1_000, 100)),
        Write::Put(row("b", 2_000, 100)),
        Write::Put(row("c", 3_000, 100)),
        Write::Put(row("d", 4_000, 100)),
        Write::Put(row("e", 4_000, 100)),
        Write::Put(row("E", 4_000, 100)),
        Write::Put(row("b", 2_000, 60)),
        Write::Put(row("gone", 4_500, 10)),
        Write::Delete("gone".into()),
    ];
    let ids = ["a", "b", "c", "d", "e", "E", "gone"];
    // Each side: rows after the batch, how many one prune removed, rows after it.
    type Seen = (Vec<Option<StoredRow>>, usize, Vec<bool>);

    let dir = tempfile::tempdir().unwrap();
    let store = gcli2api::store::Store::open(dir.path()).await.unwrap();
    let w = writes.clone();
    store.tx(move |tx| responses::apply(tx, &w)).await.unwrap();
    let before = store
        .call(move |c| ids.iter().map(|id| responses::get(c, id)).collect())
        .await
        .unwrap();
    let removed = store
        .tx(|tx| responses::prune(tx, 1_500, 250))
        .await
        .unwrap();
    let after = store
        .call(move |c| {
            ids.iter()
                .map(|id| Ok(responses::get(c, id)?.is_some()))
                .collect()
        })
        .await
        .unwrap();
    let sqlite: Seen = (before, removed, after);

    let url = pg_cluster::fresh_database("responses");
    let postgres: Seen = tokio::task::spawn_blocking(move || {
        let url = pg_url(&url);
        let mut c = pg::connect(&url).unwrap();
        pg::migrate(&mut c, &url).unwrap();
        let mut tx = c.transaction().unwrap();
        responses::apply(&mut tx, &writes).unwrap();
        tx.commit().unwrap();
        let mut tx = c.transaction().unwrap();
        let before = ids
            .iter()
            .map(|id| responses::get(&mut tx, id).unwrap())
            .collect();
        let removed = responses::prune(&mut tx, 1_500, 250).unwrap();
        tx.commit().unwrap();
        let mut tx = c.transaction().unwrap();
        let after = ids
            .iter()
            .map(|id| responses::get(&mut tx, id).unwrap().is_some())
            .collect();
        (before, removed, after)
    })
    .await
    .unwrap();

    // "a" is too old; of the rest (newest first: e, d, E at 4000 by id, then c, b) only
    // two rows of 100 bytes fit in 250.
    assert_eq!(sqlite.0[1].as_ref().unwrap().response_json.len(), 60);
    assert!(sqlite.0[6].is_none());
    assert_eq!(sqlite.1, 4, "{sqlite:?}");
    assert_eq!(sqlite.2, [false, false, false, true, true, false, false]);
    assert_eq!(postgres, sqlite);
}

/// The storage boundary, client keys: the same inserts, conflicts, updates, deletes, reads
/// and per-key usage through the same functions give the same results on both backends; on
/// PostgreSQL, instances racing to create the server key on an empty database all get the
/// one that was stored.
#[tokio::test(flavor = "multi_thread")]
async fn client_keys_alike_on_both_backends() {
    use gcli2api::google::kind::CredentialKind;
    use gcli2api::store::StoreError;
    use gcli2api::store::client_keys::{self as keys, KeyFields, KeyRow};

    type Seen = (
        Vec<String>,
        Vec<KeyRow>,
        Option<KeyRow>,
        Vec<(i64, u64, u64)>,
        bool,
    );

    fn fields(n: u64) -> KeyFields {
        KeyFields {
            note: format!("note {n}"),
            enabled: n % 2 == 0,
            expires_at: (n == 2).then_some(1_800_000_000_000),
            models: vec!["gemini-2.5-*".into()],
            kinds: vec![CredentialKind::parse("gemini_api_key").unwrap()],
            daily_requests: n * 10,
            daily_tokens: n * 1000,
            rpm: n,
        }
    }
    fn outcome<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
        match r {
            Ok(v) => format!("ok {v:?}"),
            Err(StoreError::Conflict { what }) => format!("conflict {what}"),
            Err(e) => format!("error {e}"),
        }
    }
    // Every step on one SQLite connection (PostgreSQL below runs each in its own transaction).
    macro_rules! run {
        ($h:expr) => {{
            let log = vec![
                outcome(keys::insert($h, "alpha", "sk-a", &[1; 32], &fields(1), 10)),
                outcome(keys::insert($h, "beta", "sk-b", &[2; 32], &fields(2), 20)),
                outcome(keys::insert($h, "alpha", "sk-c", &[3; 32], &fields(3), 30)),
                outcome(keys::insert($h, "", "sk-d", &[4; 32], &fields(4), 40)),
                outcome(keys::insert($h, "gamma", "sk-e", &[5; 32], &fields(5), 50)),
                outcome(keys::update($h, 2, "beta2", &fields(6), 60)),
                outcome(keys::update($h, 2, "alpha", &fields(6), 70)),
                outcome(keys::update($h, 99, "zeta", &fields(6), 80)),
                outcome(keys::delete($h, 1)),
                outcome(keys::delete($h, 1)),
            ];
            let list = keys::list($h).unwrap();
            let got = keys::get($h, 2).unwrap();
            let mut usage = keys::usage_on($h, "2026-12-07").unwrap();
            usage.sort();
            let a = keys::server_secret($h).unwrap();
            let b = keys::server_secret($h).unwrap();
            (log, list, got, usage, a == b)
        }};
    }
    const USAGE: &str = "INSERT INTO usage_key_daily (day, key_id, model, requests, successes, \
         failures, prompt_tokens, completion_tokens, reasoning_tokens) VALUES \
         ('2026-12-07', 2, 'm1', 3, 3, 0, 100, 50, 0), ('2026-12-07', 2, 'm2', 4, 4, 0, 1, 2, 0), \
         ('2026-12-07', 5, 'm1', 1, 0, 1, 7, 0, 0), ('2026-12-06', 5, 'm1', 9, 9, 0, 9, 9, 0)";

    let dir = tempfile::tempdir().unwrap();
    let store = gcli2api::store::Store::open(dir.path()).await.unwrap();
    let sqlite: Seen = store
        .call(|c| {
            c.execute_batch(USAGE)?;
            Ok(run!(c))
        })
        .await
        .unwrap();

    let url = pg_cluster::fresh_database("client_keys");
    let (postgres, racers): (Seen, Vec<[u8; 32]>) = tokio::task::spawn_blocking(move || {
        let url = pg_url(&url);
        let mut c = pg::connect(&url).unwrap();
        pg::migrate(&mut c, &url).unwrap();
        let pool = pg_counters::open_pool(&url, 8).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let racers: Vec<_> = (0..8)
            .map(|_| {
                let (pool, barrier) = (pool.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let mut conn = pool.get().unwrap();
                    let mut tx = conn.transaction().unwrap();
                    barrier.wait();
                    let k = keys::server_secret(&mut tx).unwrap();
                    tx.commit().unwrap();
                    k
                })
            })
            .collect();
        let racers = racers.into_iter().map(|h| h.join().unwrap()).collect();
        // Each step in its own transaction, as the store runs them (a failed statement
        // aborts a PostgreSQL transaction).
        let mut tx = c.transaction().unwrap();
        tx.batch_execute(USAGE).unwrap();
        tx.commit().unwrap();
        let mut log = Vec::new();
        macro_rules! step {
            ($e:expr) => {{
                let mut tx = c.transaction().unwrap();
                let out = $e(&mut tx);
                if out.is_ok() {
                    tx.commit().unwrap();
                }
                out
            }};
        }
        log.push(outcome(step!(|t| keys::insert(
            t,
            "alpha",
            "sk-a",
            &[1; 32],
            &fields(1),
            10
        ))));
        log.push(outcome(step!(|t| keys::insert(
            t,
            "beta",
            "sk-b",
            &[2; 32],
            &fields(2),
            20
        ))));
        log.push(outcome(step!(|t| keys::insert(
            t,
            "alpha",
            "sk-c",
            &[3; 32],
            &fields(3),
            30
        ))));
        log.push(outcome(step!(|t| keys::insert(
            t,
            "",
            "sk-d",
            &[4; 32],
            &fields(4),
            40
        ))));
        log.push(outcome(step!(|t| keys::insert(
            t,
            "gamma",
            "sk-e",
            &[5; 32],
            &fields(5),
            50
        ))));
        log.push(outcome(step!(|t| keys::update(
            t,
            2,
            "beta2",
            &fields(6),
            60
        ))));
        log.push(outcome(step!(|t| keys::update(
            t,
            2,
            "alpha",
            &fields(6),
            70
        ))));
        log.push(outcome(step!(|t| keys::update(
            t,
            99,
            "zeta",
            &fields(6),
            80
        ))));
        log.push(outcome(step!(|t| keys::delete(t, 1))));
        log.push(outcome(step!(|t| keys::delete(t, 1))));
        let mut tx = c.transaction().unwrap();
        let list = keys::list(&mut tx).unwrap();
        let got = keys::get(&mut tx, 2).unwrap();
        let mut usage = keys::usage_on(&mut tx, "2026-12-07").unwrap();
        usage.sort();
        let a = keys::server_secret(&mut tx).unwrap();
        let b = keys::server_secret(&mut tx).unwrap();
        ((log, list, got, usage, a == b), racers)
    })
    .await
    .unwrap();

    assert!(sqlite.0[2].starts_with("conflict"), "{:?}", sqlite.0);
    assert!(sqlite.0[6].starts_with("conflict"), "{:?}", sqlite.0);
    assert_eq!(sqlite.0[7], "ok None");
    assert_eq!(
        (sqlite.0[8].as_str(), sqlite.0[9].as_str()),
        ("ok true", "ok false")
    );
    assert_eq!(
        sqlite.1.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["beta2", "gamma"]
    );
    assert_eq!(sqlite.3, [(2, 7, 153), (5, 1, 7)]);
    assert!(sqlite.4);
    // The identity skipped by failed inserts differs by design (SQLite reuses, PostgreSQL
    // does not): compare everything but the row ids of the log lines.
    assert_eq!(postgres.1.len(), sqlite.1.len());
    assert_eq!(postgres.3, sqlite.3);
    assert!(postgres.4);
    assert!(
        racers.iter().all(|k| *k == racers[0]),
        "one server key for all"
    );
    let strip = |rows: &[KeyRow]| -> Vec<KeyRow> {
        rows.iter().map(|r| KeyRow { id: 0, ..r.clone() }).collect()
    };
    assert_eq!(strip(&postgres.1), strip(&sqlite.1));
    assert_eq!(postgres.2, sqlite.2);
    assert_eq!(postgres.0.len(), sqlite.0.len());
    for (p, s) in postgres.0.iter().zip(&sqlite.0) {
        assert_eq!(p.split(" id:").next(), s.split(" id:").next());
    }
}

/// The store's backend-neutral entry points (`run`, `run_tx`): the same code drives a SQLite
/// store and a PostgreSQL store through the ported domains and reads back the same; two
/// PostgreSQL stores on one database (two instances) see each other's writes; the
/// SQLite-only entry points of a PostgreSQL store fail with a clear error instead of
/// touching anything.
#[tokio::test(flavor = "multi_thread")]
async fn one_store_api_on_both_backends() {
    use gcli2api::store::audit::{self, NewAuditEvent};
    use gcli2api::store::client_keys::{self as keys, KeyFields};
    use gcli2api::store::responses::{self, StoredRow, Write};
    use gcli2api::store::{Store, StoreError};
    use std::sync::Arc;

    async fn exercise(a: &Store, b: &Store) -> (Vec<String>, Vec<String>, Option<String>) {
        a.run_tx(|db| {
            let ev = NewAuditEvent {
                kind: "credential.disable".into(),
                actor: "admin".into(),
                origin: None,
                subject: Some("a.json".into()),
                detail: serde_json::json!({"reason": "test"}),
            };
            audit::append(db, &ev, 1_000)?;
            Ok(())
        })
        .await
        .unwrap();
        b.run_tx(|db| {
            let row = Arc::new(StoredRow {
                id: "resp_1".into(),
                created_at: 2_000,
                response_json: "{}".into(),
                conversation_json: "[]".into(),
                output_json: "[]".into(),
            });
            responses::apply(db, &[Write::Put(row)])
        })
        .await
        .unwrap();
        // A failed transaction leaves nothing behind on either backend.
        let failed = a
            .run_tx(|db| {
                keys::insert(db, "k", "sk-k", &[7; 32], &KeyFields::default(), 3_000)?;
                Err::<(), _>(StoreError::Data("rolled back".into()))
            })
            .await;
        assert!(failed.is_err());
        b.run_tx(|db| keys::insert(db, "k2", "sk-k2", &[8; 32], &KeyFields::default(), 4_000))
            .await
            .unwrap();
        // Each store reads what the other wrote.
        let kinds = b
            .run(|db| {
                Ok(audit::list_recent(db, 10)?
                    .into_iter()
                    .map(|e| e.kind)
                    .collect())
            })
            .await
            .unwrap();
        let names = a
            .run(|db| Ok(keys::list(db)?.into_iter().map(|k| k.name).collect()))
            .await
            .unwrap();
        let resp = a
            .run(|db| Ok(responses::get(db, "resp_1")?.map(|r| r.id)))
            .await
            .unwrap();
        (kinds, names, resp)
    }

    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(dir.path()).await.unwrap();
    assert!(!sqlite.is_postgres());
    let on_sqlite = exercise(&sqlite, &sqlite).await;

    let url = pg_url(&pg_cluster::fresh_database("store_api"));
    let (a, b) = tokio::join!(Store::open_postgres(url.clone()), Store::open_postgres(url));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_postgres() && b.is_postgres());
    let on_postgres = exercise(&a, &b).await;

    assert_eq!(
        on_sqlite,
        (
            vec!["credential.disable".to_string()],
            vec!["k2".to_string()],
            Some("resp_1".to_string())
        )
    );
    assert_eq!(on_postgres, on_sqlite);

    let e = a.call(|_| Ok(())).await.unwrap_err().to_string();
    assert_eq!(e, "this operation is not available on PostgreSQL yet");
    let e = a.tx(|_| Ok(())).await.unwrap_err().to_string();
    assert_eq!(e, "this operation is not available on PostgreSQL yet");
    let e = a
        .backup_to(dir.path().join("copy.db"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a backup is not available on PostgreSQL yet"),
        "{e}"
    );
    assert!(!dir.path().join("copy.db").exists());
}

/// A service on the boundary, on PostgreSQL: instance A's stored-responses write-behind
/// lands in the shared database and instance B (its own store and cache) reads it there;
/// pruning through B applies to both.
#[tokio::test(flavor = "multi_thread")]
async fn stored_responses_service_shared_by_two_instances() {
    use gcli2api::responses_store::{Limits, ResponseStore};
    use gcli2api::store::Store;
    use gcli2api::store::responses::StoredRow;
    use std::time::Duration;

    let url = pg_url(&pg_cluster::fresh_database("responses_service"));
    let (a, b) = (
        Store::open_postgres(url.clone()).await.unwrap(),
        Store::open_postgres(url).await.unwrap(),
    );
    let limits = Limits {
        max_age: Some(Duration::from_secs(3600)),
        max_bytes: 1 << 20,
        memory_bytes: 1 << 20,
    };
    let (ra, rb) = (
        ResponseStore::start(a, limits),
        ResponseStore::start(b.clone(), limits),
    );
    let now = gcli2api::store::now_ms();
    ra.put(StoredRow {
        id: "resp_shared".into(),
        created_at: now,
        response_json: "{\"ok\":true}".into(),
        conversation_json: "[]".into(),
        output_json: "[]".into(),
    });
    assert!(
        rb.get("resp_shared").await.unwrap().is_none(),
        "not flushed yet"
    );
    ra.flush().await.unwrap();
    let got = rb
        .get("resp_shared")
        .await
        .unwrap()
        .expect("B reads A's row");
    assert_eq!(got.response_json, "{\"ok\":true}");
    // An old row written straight to the database goes at B's prune.
    b.run_tx(move |db| {
        gcli2api::store::responses::apply(
            db,
            &[gcli2api::store::responses::Write::Put(std::sync::Arc::new(
                StoredRow {
                    id: "resp_old".into(),
                    created_at: now - 7_200_000,
                    response_json: "{}".into(),
                    conversation_json: "[]".into(),
                    output_json: "[]".into(),
                },
            ))],
        )
    })
    .await
    .unwrap();
    assert_eq!(rb.prune().await.unwrap(), 1);
    ra.shutdown().await.unwrap();
    rb.shutdown().await.unwrap();
}

/// The request log on the boundary: the same rows recorded through the service on a SQLite
/// store and on a PostgreSQL store list, page, filter (the dynamic WHERE clause, renumbered
/// for PostgreSQL), read back and purge alike.
#[tokio::test(flavor = "multi_thread")]
async fn request_log_alike_on_both_backends() {
    use chrono::TimeZone;
    use gcli2api::reqlog::{Entry, Filter, RequestLog, Row, StatusFilter};
    use gcli2api::store::Store;
    use gcli2api::usage::Outcome;

    let mut settings = gcli2api::Settings::resolve(&gcli2api::Sources::default());
    settings.request_log = true;
    settings.request_log_prompts = true;
    settings.request_log_days = 0;
    // The service's own purge pass may run at any time: nothing to cut until the explicit one.
    settings.request_log_max_rows = 1000;
    let entry = |i: u32| Entry {
        at: chrono::Utc
            .timestamp_millis_opt(1_700_000_000_000 + i64::from(i) * 1000)
            .unwrap(),
        surface: ["openai", "gemini", "anthropic"][i as usize % 3],
        stream: i % 2 == 0,
        client_model: format!("m{}", i % 4),
        served_model: format!("gemini-{}", i % 2),
        credential_id: (i % 3 != 0).then_some(i64::from(i % 3)),
        status: [200, 429, 500, 400][i as usize % 4],
        outcome: [
            Outcome::Success,
            Outcome::UpstreamError(429),
            Outcome::Transport,
            Outcome::ClientError(400),
        ][i as usize % 4],
        latency_ms: u64::from(i) * 10,
        ttfb_ms: (i % 2 == 1).then_some(u64::from(i)),
        attempts: i % 3,
        prompt_tokens: u64::from(i) * 7,
        completion_tokens: u64::from(i) * 3,
        reasoning_tokens: u64::from(i),
        client: format!("10.0.0.{i}"),
        error: (i % 4 != 0).then(|| format!("error {i}")),
        prompt_excerpt: Some(format!("prompt\t{i}\n?")),
    };
    let at = |i: i64| {
        Some(
            chrono::Utc
                .timestamp_millis_opt(1_700_000_000_000 + i * 1000)
                .unwrap(),
        )
    };
    let all = Filter {
        limit: 100,
        ..Filter::default()
    };
    let filters = vec![
        all.clone(),
        Filter {
            status: Some(StatusFilter::Class(5)),
            ..all.clone()
        },
        Filter {
            status: Some(StatusFilter::Errors),
            ..all.clone()
        },
        Filter {
            status: Some(StatusFilter::Code(200)),
            ..all.clone()
        },
        Filter {
            model: Some("gemini-1".into()),
            ..all.clone()
        },
        Filter {
            model: Some("m2".into()),
            credential_id: Some(2),
            ..all.clone()
        },
        Filter {
            credential_id: Some(0),
            ..all.clone()
        },
        Filter {
            surface: Some("gemini".into()),
            from: at(2),
            to: at(9),
            ..all.clone()
        },
        Filter {
            limit: 3,
            offset: 2,
            ..all.clone()
        },
    ];
    type Seen = (Vec<(Vec<Row>, u64)>, Option<Row>, (u64, u64), usize, bool);
    async fn exercise(
        store: Store,
        s: &gcli2api::Settings,
        filters: &[Filter],
        rows: Vec<Entry>,
    ) -> Seen {
        let log = RequestLog::start(store, s);
        for e in rows {
            log.record(e);
        }
        log.flush().await.unwrap();
        let mut pages = Vec::new();
        for f in filters {
            let p = log.list(f.clone()).await.unwrap();
            pages.push((p.rows, p.total));
        }
        let one = log.get(3).await.unwrap();
        let mut quiet = s.clone();
        quiet.request_log_prompts = false;
        quiet.request_log_max_rows = 5;
        log.configure(&quiet);
        let purged = log.purge().await.unwrap();
        let left = log.list(filters[0].clone()).await.unwrap().rows;
        let erased = left.iter().all(|r| r.entry.prompt_excerpt.is_none());
        log.shutdown().await.unwrap();
        (
            pages,
            one,
            (purged.by_age, purged.by_count),
            left.len(),
            erased,
        )
    }

    let dir = tempfile::tempdir().unwrap();
    let sqlite = exercise(
        Store::open(dir.path()).await.unwrap(),
        &settings,
        &filters,
        (0..12).map(entry).collect(),
    )
    .await;
    let url = pg_url(&pg_cluster::fresh_database("reqlog"));
    let postgres = exercise(
        Store::open_postgres(url).await.unwrap(),
        &settings,
        &filters,
        (0..12).map(entry).collect(),
    )
    .await;

    let totals: Vec<u64> = sqlite.0.iter().map(|p| p.1).collect();
    assert_eq!(totals, [12, 3, 9, 3, 6, 1, 4, 2, 12], "{totals:?}");
    assert_eq!(
        sqlite.0[8].0.iter().map(|r| r.id).collect::<Vec<_>>(),
        [10, 9, 8]
    );
    assert_eq!(sqlite.1.as_ref().unwrap().entry.client, "10.0.0.2");
    assert_eq!((sqlite.2, sqlite.3, sqlite.4), ((0, 7), 5, true));
    assert_eq!(postgres, sqlite);
}

/// Instances starting together on an empty shared database each generate a password: exactly
/// one insert wins, and every instance reads back the winner (so none prints a password that
/// is not in force).
#[tokio::test]
async fn racing_password_inserts_leave_exactly_one() {
    use gcli2api::store::secrets;
    let url = pg_cluster::fresh_database("secrets_race");
    let (won, stored) = tokio::task::spawn_blocking(move || {
        let url = pg_url(&url);
        let mut c = pg::connect(&url).unwrap();
        pg::migrate(&mut c, &url).unwrap();
        let pool = pg_counters::open_pool(&url, 8).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let racers: Vec<_> = (0..8)
            .map(|i| {
                let (pool, barrier) = (pool.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let mut conn = pool.get().unwrap();
                    let mut tx = conn.transaction().unwrap();
                    barrier.wait();
                    let hash = format!("$argon2id$v=19$m=19456,t=2,p=1$salt{i}$hash");
                    let won = secrets::insert_if_absent(&mut tx, "api_password", &hash, 1).unwrap();
                    tx.commit().unwrap();
                    won.then_some(hash)
                })
            })
            .collect();
        let won: Vec<String> = racers
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        let mut tx = c.transaction().unwrap();
        let stored = secrets::get(&mut tx, "api_password").unwrap();
        (won, stored)
    })
    .await
    .unwrap();
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(stored.as_deref(), Some(won[0].as_str()));
}
