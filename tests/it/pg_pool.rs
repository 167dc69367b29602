//! Settings, passwords, credentials and the pool on PostgreSQL, against the throwaway cluster:
//! the same operations give the same results on both backends, secrets sealed at rest open on
//! PostgreSQL (written there or migrated from SQLite), and two pools sharing one database see
//! each other's cooldowns within a second and refresh a token once between them.
use std::sync::Arc;
use std::time::{Duration, Instant};

use gcli2api::pool::service::PoolService;
use gcli2api::simulator::{SimHandle, Simulator, UserSpec};
use gcli2api::store::at_rest::{self, Unlocked};
use gcli2api::store::cipher::{Cipher, KEY_LEN, Keys};
use gcli2api::store::credentials::{self as repo, CredentialSource, NewCredential, StatePatch};
use gcli2api::store::db::Db;
use gcli2api::store::location::PgUrl;
use gcli2api::store::{Store, StoreError, secrets, settings};
use serde_json::{Value, json};

use crate::pg_cluster;
use crate::support::{gcli2api_env, new_credential};

fn keys(current: Option<u8>) -> Keys {
    Keys {
        current: current.map(|b| Cipher::new(&[b; KEY_LEN])),
        previous: None,
        current_origin: None,
    }
}

async fn pg_store(hint: &str) -> (Store, PgUrl) {
    let url = PgUrl::parse(&pg_cluster::fresh_database(hint), "test").unwrap();
    (Store::open_postgres(url.clone()).await.unwrap(), url)
}

/// Every row's stored text of one column, as it is in the database (sealed or not).
async fn raw_column(store: &Store, sql: &'static str) -> Vec<String> {
    store
        .run(move |db| match db {
            Db::Sqlite(c) => {
                let mut s = c.prepare(sql)?;
                let r = s.query_map([], |r| r.get(0))?;
                Ok(r.collect::<Result<Vec<String>, _>>()?)
            }
            Db::Postgres(tx) => Ok(tx.query(sql, &[])?.iter().map(|r| r.get(0)).collect()),
        })
        .await
        .unwrap()
}

fn outcome<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
    match r {
        Ok(v) => format!("{v:?}"),
        Err(StoreError::Conflict { what }) => format!("conflict {what}"),
        Err(e) => format!("error {e}"),
    }
}

/// Settings and password hashes, with a key in use: the same writes and reads give the same
/// answers on both backends, and the saved proxy URL (which may carry a password) is sealed in
/// the database on both.
#[tokio::test(flavor = "multi_thread")]
async fn settings_and_passwords_alike_on_both_backends() {
    async fn exercise(store: &Store) -> Vec<String> {
        assert!(store.unlock(keys(Some(3))).await.unwrap().encrypted);
        let mut out = Vec::new();
        let proxy = "http://user:pr0xy-pass@proxy.example:3128";
        let values = vec![
            ("proxy".to_string(), json!(proxy)),
            ("port".to_string(), json!(9)),
            ("B_key".to_string(), json!({"x": [1, "two"]})),
            ("a_key".to_string(), json!("é")),
        ];
        store
            .run_tx(move |db| settings::put_many(db, &values, 5))
            .await
            .unwrap();
        out.push(outcome(store.run(|db| settings::get_all(db)).await));
        out.push(outcome(
            store.run_tx(|db| settings::delete(db, "port")).await,
        ));
        out.push(outcome(
            store.run_tx(|db| settings::delete(db, "port")).await,
        ));
        let again = vec![("proxy".to_string(), json!("socks5://u:n3w@h:1080"))];
        store
            .run_tx(move |db| settings::put_many(db, &again, 6))
            .await
            .unwrap();
        out.push(outcome(store.run(|db| settings::get_all(db)).await));
        let raw = raw_column(store, "SELECT value_json FROM settings").await;
        assert!(
            !raw.iter().any(|v| v.contains("n3w") || v.contains("pr0xy")),
            "{raw:?}"
        );
        assert!(
            raw.contains(&"\"é\"".to_string()),
            "others stay plain: {raw:?}"
        );

        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
        for name in ["panel_password", "api_password"] {
            store
                .run_tx(move |db| secrets::put(db, name, hash, 7))
                .await
                .unwrap();
        }
        store
            .run_tx(move |db| secrets::put(db, "api_password", &format!("{hash}x"), 8))
            .await
            .unwrap();
        out.push(outcome(store.run(|db| secrets::get_all(db)).await));
        out.push(outcome(
            store.run(|db| secrets::get(db, "panel_password")).await,
        ));
        out.push(outcome(store.run(|db| secrets::get(db, "nope")).await));
        out.push(outcome(
            store
                .run_tx(|db| secrets::delete(db, "panel_password"))
                .await,
        ));
        out.push(outcome(
            store
                .run_tx(|db| secrets::delete(db, "panel_password"))
                .await,
        ));
        out.push(outcome(store.run(|db| secrets::get_all(db)).await));
        // A second start with the same key finds everything under it already.
        assert_eq!(
            store.unlock(keys(Some(3))).await.unwrap(),
            Unlocked {
                encrypted: true,
                ..Default::default()
            }
        );
        out
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite = exercise(&Store::open(dir.path()).await.unwrap()).await;
    let (pg, _) = pg_store("settings").await;
    let postgres = exercise(&pg).await;
    assert_eq!(postgres, sqlite);
    assert!(sqlite[0].contains("pr0xy-pass"), "{}", sqlite[0]);
    assert!(
        sqlite[0].find("B_key") < sqlite[0].find("a_key"),
        "byte order"
    );

    // A wrong key is refused on PostgreSQL too, and nothing changes.
    let reopened = Store::open_postgres(pg.postgres_url().unwrap().clone())
        .await
        .unwrap();
    let before = raw_column(&reopened, "SELECT value_json FROM settings").await;
    let e = reopened.unlock(keys(Some(4))).await.unwrap_err();
    assert!(matches!(e, at_rest::AtRestError::WrongKey { .. }), "{e}");
    let e = reopened.unlock(keys(None)).await.unwrap_err();
    assert!(matches!(e, at_rest::AtRestError::KeyMissing), "{e}");
    assert_eq!(
        raw_column(&reopened, "SELECT value_json FROM settings").await,
        before
    );
    // Not unlocked: a sealed value is refused, never handed out as ciphertext.
    let e = reopened.run(|db| settings::get_all(db)).await.unwrap_err();
    assert!(e.to_string().contains("setting proxy"), "{e}");
}

fn new_cred(name: &str, token: &str) -> NewCredential {
    let mut n = NewCredential::code_assist(
        name,
        CredentialSource::Upload,
        json!({"refresh_token": token, "client_id": "c", "client_secret": "s"}),
    );
    n.email = Some(format!("{name}@example.com"));
    n.refresh_token_sha256 = Some(format!("sha-{token}"));
    n
}

/// Every credential operation the pool and the management API use, with a key in use: the
/// same answers and the same rows on both backends, and no refresh token in the database.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_alike_on_both_backends() {
    async fn exercise(store: &Store) -> Vec<String> {
        store.unlock(keys(Some(7))).await.unwrap();
        let mut out = Vec::new();
        let mut ids = Vec::new();
        for (name, token) in [("a", "1//tok-a"), ("b", "1//tok-b"), ("c", "1//tok-c")] {
            let n = new_cred(name, token);
            let id = store
                .run_tx(move |db| repo::insert(db, &n, 10))
                .await
                .unwrap();
            ids.push(id);
        }
        let (a, b, c) = (ids[0], ids[1], ids[2]);
        let mut up = new_cred("b", "1//tok-b2");
        up.email = None;
        up.project_id = Some("proj-b".into());
        out.push(outcome(
            store
                .run_tx(move |db| repo::upsert_by_name(db, &up, 12))
                .await,
        ));
        let patch = StatePatch {
            enabled: Some(false),
            disabled_reason: Some(Some("by hand".into())),
            preview_ok: Some(Some(false)),
            last_used_at: Some(99),
            ..Default::default()
        };
        out.push(outcome(
            store
                .run_tx(move |db| repo::set_state(db, a, &patch, 13))
                .await,
        ));
        out.push(outcome(
            store
                .run_tx(move |db| repo::set_state(db, 9999, &StatePatch::default(), 13))
                .await,
        ));
        out.push(outcome(
            store
                .run_tx(move |db| {
                    repo::update_tokens(db, c, "ya29.new", None, Some(("1//rot", "sha-rot")), 14)
                })
                .await,
        ));
        out.push(outcome(
            store
                .run_tx(move |db| {
                    repo::update_tokens(db, b, "ya29.b", Some("2030-01-01T00:00:00Z"), None, 14)
                })
                .await,
        ));
        out.push(outcome(
            store
                .run_tx(move |db| repo::update_tokens(db, 9999, "x", None, None, 14))
                .await,
        ));
        out.push(outcome(
            store
                .run_tx(move |db| repo::set_pool_state(db, b, r#"{"enabled":true}"#))
                .await,
        ));
        out.push(outcome(
            store
                .run_tx(move |db| repo::set_quota_group(db, c, Some("grp"), 15))
                .await,
        ));
        let models = vec!["m1".to_string(), "m2".to_string()];
        out.push(outcome(
            store
                .run_tx(move |db| repo::set_models(db, c, &models, 16))
                .await,
        ));
        out.push(outcome(
            store
                .run_tx(move |db| {
                    repo::replace_payload(
                        db,
                        a,
                        &json!({"refresh_token": "1//env-a", "client_id": "e"}),
                        CredentialSource::Env,
                        "sha-env",
                        17,
                    )
                })
                .await,
        ));
        let idents = vec!["refresh:x".to_string(), "account:y".to_string()];
        let i2 = idents.clone();
        out.push(outcome(
            store
                .run_tx(move |db| repo::link_identities(db, a, &idents))
                .await,
        ));
        out.push(outcome(
            store
                .run_tx(move |db| repo::link_identities(db, b, &i2))
                .await,
        ));
        out.push(outcome(store.run(|db| repo::list(db)).await.map(|rows| {
            rows.iter()
                .map(|r| format!("{r:?} {} {:?}", r.payload, r.models))
                .collect::<Vec<_>>()
        })));
        out.push(outcome(store.run(move |db| repo::get(db, b)).await.map(
            |r| r.map(|r| (r.payload, r.refresh_token_sha256, r.enabled, r.preview_ok)),
        )));
        out.push(outcome(
            store
                .run(move |db| repo::get_many(db, &[c, 9999, a]))
                .await
                .map(|mut v| {
                    v.sort_by_key(|r| r.id);
                    v.into_iter().map(|r| r.name).collect::<Vec<_>>()
                }),
        ));
        out.push(outcome(
            store
                .run(|db| repo::get_by_name(db, "c"))
                .await
                .map(|r| r.map(|r| (r.quota_group, r.models, r.models_checked_at))),
        ));
        out.push(outcome(
            store.run(|db| repo::get_id_by_name(db, "zz")).await,
        ));
        out.push(outcome(
            store
                .run(|db| repo::find_by_refresh_token_sha256(db, "sha-rot"))
                .await,
        ));
        out.push(outcome(
            store
                .run(|db| repo::find_by_secret_sha256(db, "none"))
                .await,
        ));
        out.push(outcome(store.run(|db| repo::pool_states(db)).await));
        out.push(outcome(store.run_tx(move |db| repo::delete(db, c)).await));
        out.push(outcome(store.run_tx(move |db| repo::delete(db, c)).await));
        out.push(outcome(
            store.run(|db| repo::list(db)).await.map(|r| r.len()),
        ));
        // A taken name is a conflict and the transaction goes on (PostgreSQL included). Ids
        // are not compared from here: PostgreSQL spends one on the refused insert.
        let n = new_cred("a", "1//other");
        let m = new_cred("d", "1//tok-d");
        out.push(outcome(
            store
                .run_tx(move |mut db| {
                    let conflict = outcome(repo::insert(db.reborrow(), &n, 11));
                    let d = repo::insert(db.reborrow(), &m, 11)?;
                    Ok((conflict, repo::get(db, d)?.map(|r| r.payload)))
                })
                .await,
        ));
        let raw = raw_column(store, "SELECT payload_json FROM credentials").await;
        assert!(!raw.iter().any(|p| p.contains("1//")), "{raw:?}");
        out
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite = exercise(&Store::open(dir.path()).await.unwrap()).await;
    let (pg, _) = pg_store("creds").await;
    let postgres = exercise(&pg).await;
    assert_eq!(postgres.len(), sqlite.len());
    for (i, (p, s)) in postgres.iter().zip(&sqlite).enumerate() {
        assert_eq!(p, s, "step {i}");
    }
    assert!(sqlite[12].contains("1//rot"), "{}", sqlite[12]);
    assert!(sqlite.last().unwrap().contains("conflict"), "{sqlite:?}");
}

/// A store written by SQLite with a key, copied by migrate-store, opens on PostgreSQL with
/// the same key: same credentials, same settings, sealed values still sealed.
#[tokio::test(flavor = "multi_thread")]
async fn a_store_migrated_from_sqlite_opens_on_postgres_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(dir.path()).await.unwrap();
    sqlite.unlock(keys(Some(9))).await.unwrap();
    for (name, token) in [("a", "1//mig-a"), ("b", "1//mig-b")] {
        let n = new_cred(name, token);
        sqlite
            .run_tx(move |db| repo::insert(db, &n, 20))
            .await
            .unwrap();
    }
    let values = vec![("proxy".to_string(), json!("http://u:s3cret@p:1"))];
    sqlite
        .run_tx(move |db| settings::put_many(db, &values, 21))
        .await
        .unwrap();
    let want_rows = sqlite.run(|db| repo::list(db)).await.unwrap();
    let want_settings = sqlite.run(|db| settings::get_all(db)).await.unwrap();
    let path = sqlite.path().to_path_buf();
    drop(sqlite);

    let url = PgUrl::parse(&pg_cluster::fresh_database("migrated"), "test").unwrap();
    let target = url.clone();
    tokio::task::spawn_blocking(move || {
        gcli2api::store::migrate::copy_store(&path, &target).unwrap()
    })
    .await
    .unwrap();
    let pg = Store::open_postgres(url).await.unwrap();
    let raw = raw_column(&pg, "SELECT payload_json FROM credentials").await;
    assert!(raw.iter().all(|p| !p.contains("1//")), "{raw:?}");
    let u = pg.unlock(keys(Some(9))).await.unwrap();
    assert_eq!((u.encrypted, u.sealed_now, u.rotated), (true, 0, 0));
    assert_eq!(pg.run(|db| repo::list(db)).await.unwrap(), want_rows);
    assert_eq!(
        pg.run(|db| settings::get_all(db)).await.unwrap(),
        want_settings
    );
    // And what PostgreSQL writes now opens there too.
    let n = new_cred("c", "1//pg-c");
    let c = pg.run_tx(move |db| repo::insert(db, &n, 22)).await.unwrap();
    let row = pg.run(move |db| repo::get(db, c)).await.unwrap().unwrap();
    assert_eq!(row.payload["refresh_token"], "1//pg-c");
}

struct Instance {
    pool: PoolService,
    _listener: gcli2api::store::pg_coord::Listener,
}

async fn instance(url: &PgUrl, sim: &SimHandle, dir: &std::path::Path) -> Instance {
    let store = Store::open_postgres(url.clone()).await.unwrap();
    store.unlock(keys(None)).await.unwrap();
    let sources = gcli2api::Sources {
        env: gcli2api_env(&sim.base_url(), dir),
        config_file: None,
    };
    let settings = gcli2api::settings::SettingsService::load(&sources, &store)
        .await
        .unwrap();
    let upstream =
        gcli2api::google::client::Upstream::new(gcli2api::state::upstream_config(&settings.get()))
            .unwrap();
    let clock: Arc<dyn gcli2api::pool::Clock> = Arc::new(gcli2api::pool::SystemClock);
    let pool = PoolService::load(store, settings, upstream, clock)
        .await
        .unwrap();
    let listener = pool
        .listen(Duration::from_secs(30))
        .unwrap()
        .expect("a listener on PostgreSQL");
    Instance {
        pool,
        _listener: listener,
    }
}

async fn within(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// Two pools on one database: a credential added on A appears on B, a 429 cooldown that A's
/// request path records reaches B's in-memory view within a second, and so do a disable, a
/// quota group and a delete.
#[tokio::test(flavor = "multi_thread")]
async fn two_pools_see_each_others_changes_within_a_second() {
    let sim = Simulator::start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let user = sim.add_user(UserSpec::new("shared@sim.test"));
    let other = sim.add_user(UserSpec::new("other@sim.test"));
    let url = PgUrl::parse(&pg_cluster::fresh_database("twopools"), "test").unwrap();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = instance(&url, &sim, da.path()).await;
    let b = instance(&url, &sim, db.path()).await;

    let id = a
        .pool
        .add(new_credential("shared.json", &user))
        .await
        .unwrap();
    let id2 = a
        .pool
        .add(new_credential("other.json", &other))
        .await
        .unwrap();
    within(Duration::from_secs(1), "B sees A's import", || {
        b.pool.state(id).is_some() && b.pool.state(id2).is_some()
    })
    .await;

    // A's request path gets a 429 for gemini-2.5-pro on the credential.
    let model = "gemini-2.5-pro";
    let mut lease = None;
    for _ in 0..1000 {
        let l = a.pool.acquire(model, None, &[]).await.unwrap();
        if l.id == id {
            lease = Some(l);
            break;
        }
    }
    let lease = lease.expect("A picks the credential");
    let body = br#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}"#;
    let err = gcli2api::google::errors::parse_error(429, body);
    a.pool.report_failure(&lease, model, &err);
    drop(lease);
    let until = a.pool.state(id).unwrap().cooldowns[model].until;
    let start = Instant::now();
    let honoured = |b: &Instance| {
        b.pool
            .state(id)
            .is_some_and(|s| s.cooldowns.get(model).is_some_and(|c| c.until == until))
    };
    while !honoured(&b) {
        if start.elapsed() > Duration::from_secs(1) {
            let stored = a
                .pool
                .store()
                .run(move |db| repo::pool_state(db, id, false))
                .await;
            panic!(
                "B does not honour A's cooldown within 1 s\nA: {:?}\nB: {:?}\nstored: {stored:?}",
                a.pool.state(id),
                b.pool.state(id)
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = start.elapsed();
    eprintln!("cooldown A -> B took {took:?}");
    // B now picks only the other credential for that model.
    for _ in 0..4 {
        let l = b.pool.acquire(model, None, &[]).await.unwrap();
        assert_eq!(l.id, id2, "B must not pick the cooling credential");
    }

    assert!(a.pool.set_enabled(id2, false).await.unwrap());
    within(Duration::from_secs(1), "B sees the disable", || {
        b.pool.state(id2).is_some_and(|s| !s.enabled)
    })
    .await;
    // B's unrelated write (a success counter) does not undo A's cooldown or disable.
    b.pool.flush().await.unwrap();
    a.pool.flush().await.unwrap();
    let stored = a.pool.get(id).await.unwrap().unwrap();
    assert!(stored.enabled);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b.pool.state(id).unwrap().cooldowns.contains_key(model));
    assert!(!b.pool.state(id2).unwrap().enabled);
    assert!(!a.pool.state(id2).unwrap().enabled);

    // A quota group set on A reaches B's profile.
    assert!(
        a.pool
            .set_quota_group(id, Some("proj-x".into()))
            .await
            .unwrap()
    );
    within(Duration::from_secs(1), "B sees the quota group", || {
        b.pool
            .profile(id)
            .is_some_and(|p| p.group.as_deref() == Some("proj-x"))
    })
    .await;

    assert!(a.pool.delete(id2).await.unwrap());
    within(
        Duration::from_secs(1),
        "B drops the deleted credential",
        || b.pool.state(id2).is_none(),
    )
    .await;
}

/// Both pools need a token for the same credential at once (16 callers on each): exactly one
/// refresh reaches Google, everybody gets the same token, and the rotated refresh token is
/// what the database keeps, so the next refresh (from either pool) works.
#[tokio::test(flavor = "multi_thread")]
async fn two_pools_refresh_one_credential_once() {
    let sim = Simulator::start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let user = sim.add_user(
        UserSpec::new("refresh@sim.test")
            .rotate_refresh_token(true)
            .token_lifetime_secs(3600),
    );
    let url = PgUrl::parse(&pg_cluster::fresh_database("refresh"), "test").unwrap();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = instance(&url, &sim, da.path()).await;
    let b = instance(&url, &sim, db.path()).await;
    let mut cred = new_credential("r.json", &user);
    // No access token yet: the first use must refresh.
    if let Value::Object(p) = &mut cred.payload {
        p.remove("token");
        p.remove("expiry");
    }
    let id = a.pool.add(cred).await.unwrap();
    within(Duration::from_secs(1), "B sees the import", || {
        b.pool.state(id).is_some()
    })
    .await;
    let token_calls = || {
        sim.requests()
            .iter()
            .filter(|r| r.path == "/token" && r.method == "POST")
            .count()
    };
    sim.reset();

    let mut tasks = Vec::new();
    for i in 0..32 {
        let p = if i % 2 == 0 {
            a.pool.clone()
        } else {
            b.pool.clone()
        };
        tasks.push(tokio::spawn(async move { p.access_token(id).await }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap().expect("a token"));
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "everybody got the same token");
    assert_eq!(token_calls(), 1, "one refresh upstream");
    let stored = a.pool.get(id).await.unwrap().unwrap();
    assert_eq!(stored.payload["access_token"], tokens[0].as_str());
    assert_ne!(
        stored.payload["refresh_token"],
        user.refresh_token.as_str(),
        "the rotated refresh token is stored"
    );

    // Google revokes the token. B gets a 401 with it and refreshes, with the rotated refresh
    // token A stored: one call, which works (the one it started with is spent). Then A gets
    // its 401 and takes B's new token from the database without a call of its own.
    sim.revoke_access_tokens(&user.email);
    sim.reset();
    let lease = b.pool.acquire("gemini-2.5-flash", None, &[]).await.unwrap();
    let fresh = b.pool.force_refresh(&lease).await.expect("B refreshes");
    drop(lease);
    assert_eq!(token_calls(), 1);
    assert_ne!(fresh, tokens[0]);
    let lease = a.pool.acquire("gemini-2.5-flash", None, &[]).await.unwrap();
    assert_eq!(a.pool.force_refresh(&lease).await.unwrap(), fresh);
    assert_eq!(token_calls(), 1, "A took B's token");
}

/// Runs `sql` on its own connection (on a blocking thread: the client must not be dropped on
/// an async worker).
async fn execute(url: &PgUrl, sql: &'static str) {
    let url = url.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = gcli2api::store::postgres::connect(&url).unwrap();
        c.batch_execute(sql).unwrap();
    })
    .await
    .unwrap();
}

/// The database refuses token writes while a refresh rotates the refresh token: the new one
/// (the old is spent at Google) is kept in memory, the request still gets its token, and once
/// writes work again the kept tokens are written without another refresh, so another
/// instance refreshes with them.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_refresh_token_that_cannot_be_written_is_kept_and_written_later() {
    let sim = Simulator::start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let user = sim.add_user(
        UserSpec::new("keep@sim.test")
            .rotate_refresh_token(true)
            .token_lifetime_secs(3600),
    );
    let url = PgUrl::parse(&pg_cluster::fresh_database("unsaved"), "test").unwrap();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = instance(&url, &sim, da.path()).await;
    let mut cred = new_credential("k.json", &user);
    if let Value::Object(p) = &mut cred.payload {
        p.remove("token");
        p.remove("expiry");
    }
    let id = a.pool.add(cred).await.unwrap();
    execute(
        &url,
        "CREATE TABLE refuse_payload_writes (x INT);
         INSERT INTO refuse_payload_writes VALUES (1);
         CREATE FUNCTION refuse() RETURNS trigger AS $$
         BEGIN
             IF EXISTS (SELECT 1 FROM refuse_payload_writes)
                AND NEW.payload_json IS DISTINCT FROM OLD.payload_json THEN
                 RAISE EXCEPTION 'payload writes refused by the test';
             END IF;
             RETURN NEW;
         END $$ LANGUAGE plpgsql;
         CREATE TRIGGER refuse BEFORE UPDATE ON credentials
             FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .await;
    let token_calls = || {
        sim.requests()
            .iter()
            .filter(|r| r.path == "/token" && r.method == "POST")
            .count()
    };
    sim.reset();
    let token = a.pool.access_token(id).await.expect("the token is served");
    assert_eq!(token_calls(), 1);
    let stored = a.pool.get(id).await.unwrap().unwrap();
    assert_eq!(stored.payload["refresh_token"], user.refresh_token.as_str());

    execute(&url, "DELETE FROM refuse_payload_writes").await;
    let start = Instant::now();
    loop {
        let stored = a.pool.get(id).await.unwrap().unwrap();
        if stored.payload["refresh_token"] != user.refresh_token.as_str() {
            assert_eq!(stored.payload["access_token"], token.as_str());
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "not written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(token_calls(), 1, "written without another refresh");

    // Another instance, after a 401, refreshes with the kept (now stored) refresh token.
    let b = instance(&url, &sim, db.path()).await;
    sim.revoke_access_tokens(&user.email);
    let lease = b.pool.acquire("gemini-2.5-flash", None, &[]).await.unwrap();
    let fresh = b.pool.force_refresh(&lease).await.expect("B refreshes");
    assert_ne!(fresh, token);
    assert_eq!(token_calls(), 2);
}
