//! Credential secrets encrypted at rest (SECRETS_KEY): what reaches the database file, the first
//! keyed start over a plain database, key rotation, exports and backups, and the refusals of a
//! missing or wrong key, over real sockets and the real binary.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gcli2api::google::kind::CredentialKind;
use gcli2api::simulator::{ApiKeySpec, ServiceAccountSpec, UserSpec};
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{api, get, send, upload};
use crate::support::{KEY, TestApp, builder, init_logs, user_text};

const BIN: &str = env!("CARGO_BIN_EXE_gcli2api");
const KEY_A: &str = "a9af8961ffb6658636b5efb393e964d23fcf9f73b8e6db299b19b9c0bf4f89f2";
const KEY_B: &str = "q2b0Wk9Xg7mJcYzR1sT4vU6wX8yA3bC5dE7fG9hJ0kI="; // base64 of 32 bytes

/// Every byte of the database and its WAL companions.
fn db_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gcli2api.db"))
        })
        .collect();
    names.sort();
    for p in names {
        out.extend(std::fs::read(p).unwrap());
    }
    out
}

/// The database's data files (the main file and its WAL) after a checkpoint that empties the
/// WAL, so two snapshots compare equal when the content did not change. The `-shm` index is
/// left out: every open rewrites it.
fn settled_bytes(dir: &Path) -> Vec<u8> {
    let db = dir.join("gcli2api.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(c);
    let mut out = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(dir.join("gcli2api.db-wal")) {
        out.extend(wal);
    }
    out
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a == b
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The secrets of the simulated Google accounts, keys and service accounts, as they are now.
fn secrets_of(app: &TestApp, extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = extra.to_vec();
    for u in app.sim.users() {
        out.push(u.refresh_token.clone());
        out.push(u.access_token.clone());
    }
    out
}

fn assert_no_plaintext(dir: &Path, secrets: &[String]) {
    let bytes = db_bytes(dir);
    assert!(bytes.len() > 4096, "the database was read");
    for s in secrets {
        assert!(s.len() >= 16, "a meaningful needle: {s}");
        assert!(
            !contains(&bytes, s),
            "plain secret in the database file: {s:.12}…"
        );
    }
}

async fn chat_ok(app: &TestApp) {
    let (status, b) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("hello")]}))
        .await;
    assert_eq!(status, 200, "{b}");
}

const PROXY_PW: &str = "pr0xy-pass-at-rest-0123";

async fn set_proxy(app: &TestApp, url: &str) {
    let (status, body) = send(
        api(app, Method::PATCH, "/settings")
            .header("x-current-password", KEY)
            .json(&json!({ "proxy": url })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// A PEM body line of a private key: what would give it away in the file.
fn pem_line(pem: &str) -> String {
    pem.lines()
        .find(|l| l.len() >= 40 && !l.starts_with("-----"))
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_keyed_gateway_stores_no_secret_in_plain_text_and_serves_after_restart() {
    init_logs();
    let app = builder()
        .env("SECRETS_KEY", KEY_A)
        .user(
            UserSpec::new("rot@sim.test")
                .rotate_refresh_token(true)
                .token_lifetime_secs(60),
        )
        .user(UserSpec::new("plain@sim.test"))
        .spawn()
        .await;
    assert!(app.state.store.encrypts_secrets());
    // Imported through the management API as an operator would.
    let up = app.sim.add_user(UserSpec::new("upload@sim.test"));
    let file = serde_json::to_vec(&up.credential_json()).unwrap();
    let (status, body) = upload(&app, &[("uploaded.json", &file)]).await;
    assert_eq!(status, 200, "{body}");
    let (key, _) = app
        .add_key(CredentialKind::GeminiApiKey, ApiKeySpec::gemini())
        .await;
    let (sa, _) = app.add_service_account(ServiceAccountSpec::new()).await;
    chat_ok(&app).await;
    // A refresh that rotates the refresh token: the new one is stored, sealed.
    let before = app.sim.user("rot@sim.test").unwrap().refresh_token;
    app.sim.expire_access_tokens("rot@sim.test");
    for _ in 0..3 {
        chat_ok(&app).await;
    }
    let rotated = app.sim.user("rot@sim.test").unwrap().refresh_token;
    assert_ne!(before, rotated, "the simulator rotated the token");
    let extra = vec![
        key.key.clone(),
        pem_line(&sa.private_key),
        before.clone(),
        rotated.clone(),
        up.refresh_token.clone(),
        PROXY_PW.to_string(),
    ];
    // A proxy URL with a password, saved as an operator would: sealed like a credential.
    set_proxy(&app, &format!("http://user:{PROXY_PW}@127.0.0.1:9")).await;
    let secrets = secrets_of(&app, &extra);
    app.state.pool.flush().await.unwrap();
    assert_no_plaintext(app.dir.path(), &secrets);

    let (sim, dir) = app.stop().await;
    assert_no_plaintext(dir.path(), &secrets);

    // Restarted with the key: the rotated refresh token is read back and used.
    let app = builder()
        .reuse(sim, dir)
        .env("SECRETS_KEY", KEY_A)
        .spawn()
        .await;
    assert_eq!(
        app.state.settings.get().proxy,
        Some(format!("http://user:{PROXY_PW}@127.0.0.1:9")),
        "the sealed proxy URL is read back"
    );
    set_proxy(&app, "").await;
    app.sim.expire_access_tokens("rot@sim.test");
    app.sim.reset();
    for _ in 0..3 {
        chat_ok(&app).await;
    }
    let refreshed = app.token_requests("rot@sim.test");
    assert!(
        refreshed.iter().any(|r| r
            .form()
            .and_then(|f| f.get("refresh_token"))
            .is_some_and(|t| *t == rotated)),
        "the stored (rotated) refresh token was used after the restart"
    );
    let (status, list) = get(&app, "/credentials").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(5), "{list}");
}

#[tokio::test]
async fn a_plain_database_is_sealed_on_the_first_keyed_start_and_keys_rotate() {
    init_logs();
    let app = builder().spawn().await;
    assert!(!app.state.store.encrypts_secrets());
    let (_, before) = get(&app, "/credentials").await;
    let secrets = secrets_of(&app, &[]);
    let (sim, dir) = app.stop().await;
    // The scan finds plain secrets when they are there.
    let bytes = db_bytes(dir.path());
    assert!(secrets.iter().any(|s| contains(&bytes, s)));

    let app = builder()
        .reuse(sim, dir)
        .env("SECRETS_KEY", KEY_A)
        .spawn()
        .await;
    assert_no_plaintext(app.dir.path(), &secrets);
    let (_, after) = get(&app, "/credentials").await;
    let ids = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].clone(), c["name"].clone(), c["email"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&before), ids(&after), "nothing lost");
    chat_ok(&app).await;

    // An export gives the operator usable plain credentials.
    let id = after[0]["id"].as_i64().unwrap();
    let r = api(&app, Method::GET, &format!("/credentials/{id}/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let exported: Value = r.json().await.unwrap();
    let token = exported["refresh_token"].as_str().unwrap().to_string();
    assert!(app.sim.users().iter().any(|u| u.refresh_token == token));

    // A backup stays sealed.
    let r = api(&app, Method::GET, "/system/backup")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let backup = r.bytes().await.unwrap();
    assert!(backup.starts_with(b"SQLite format 3\0"));
    assert!(
        !contains(&backup, &token),
        "the backup holds no plain token"
    );

    // Rotation: the new key, with the old one as previous, re-seals every row.
    let (sim, dir) = app.stop().await;
    let sealed_a = db_bytes(dir.path());
    let app = builder()
        .reuse(sim, dir)
        .env("SECRETS_KEY", KEY_B)
        .env("SECRETS_KEY_PREVIOUS", KEY_A)
        .spawn()
        .await;
    chat_ok(&app).await;
    let (sim, dir) = app.stop().await;
    assert!(!same(&sealed_a, &db_bytes(dir.path())), "re-sealed");
    assert_no_plaintext(dir.path(), &secrets);
    // The old key alone no longer opens it; the new one does.
    let mut env = crate::support::gcli2api_env(&sim.base_url(), dir.path());
    env.insert("SECRETS_KEY".into(), KEY_A.into());
    let err = gcli2api::build(gcli2api::Sources {
        env,
        config_file: None,
    })
    .await
    .err()
    .expect("the old key is refused");
    assert!(err.to_string().contains("is not the key"), "{err}");
    let app = builder()
        .reuse(sim, dir)
        .env("SECRETS_KEY", KEY_B)
        .spawn()
        .await;
    chat_ok(&app).await;
}

/// Runs the binary on `data_dir` with `extra` environment; returns (exit code, stderr). A
/// process still running after 30 s (it started serving) is killed and fails the test.
fn run_binary(data_dir: &Path, extra: &[(&str, &str)]) -> (Option<i32>, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATA_DIR", data_dir)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("PASSWORD", crate::support::KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the gateway started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn a_missing_or_wrong_key_stops_the_start_and_changes_nothing() {
    init_logs();
    let app = builder().env("SECRETS_KEY", KEY_A).spawn().await;
    chat_ok(&app).await;
    let (_sim, dir) = app.stop().await;
    let before = settled_bytes(dir.path());
    let data = dir.path().to_path_buf();

    let (code, err) = tokio::task::spawn_blocking({
        let data = data.clone();
        move || run_binary(&data, &[])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("encrypted")
            && err.contains("SECRETS_KEY")
            && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        same(&settled_bytes(&data), &before),
        "the file is untouched"
    );

    let (code, err) = tokio::task::spawn_blocking({
        let data = data.clone();
        move || run_binary(&data, &[("SECRETS_KEY", KEY_B)])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("SECRETS_KEY is not the key"), "{err}");
    assert!(!err.contains(KEY_B), "the key is never echoed: {err}");
    assert!(
        same(&settled_bytes(&data), &before),
        "the file is untouched"
    );

    // A malformed key is named, not echoed.
    let (code, err) = tokio::task::spawn_blocking({
        let data = data.clone();
        move || run_binary(&data, &[("SECRETS_KEY", "hunter2-not-a-key")])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("SECRETS_KEY is not a key") && !err.contains("hunter2"),
        "{err}"
    );
    assert!(
        same(&settled_bytes(&data), &before),
        "the file is untouched"
    );
}
