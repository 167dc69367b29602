//! `gcli2api migrate-store` over a store the real server wrote (credentials sealed with
//! SECRETS_KEY, usage, request log, client keys, audit, settings, stored responses), into the
//! throwaway PostgreSQL cluster.
use std::path::Path;
use std::process::Command;

use gcli2api::store::at_rest::payload_ad;
use gcli2api::store::cipher::{Cipher, is_sealed};
use reqwest::Method;
use rusqlite::types::ValueRef;
use serde_json::json;

use crate::api::{api, send};
use crate::keys::create_key;
use crate::pg_cluster;
use crate::support::{builder, init_logs, user_text};

const BIN: &str = env!("CARGO_BIN_EXE_gcli2api");
const KEY: &str = "5f0c1d8e2b3a4f6978a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b";

fn migrate(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().arg("migrate-store").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every row of every table, each value as text (integers in decimal, bytes as `\x` + hex),
/// sorted: the same on both sides when the copy is exact.
fn sqlite_rows(db: &Path) -> std::collections::BTreeMap<String, Vec<Vec<Option<String>>>> {
    let c = rusqlite::Connection::open(db).unwrap();
    let schema = gcli2api::store::schema::sqlite(&c).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for (table, t) in &schema {
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect();
        let mut stmt = c
            .prepare(&format!("SELECT {} FROM \"{table}\"", cols.join(", ")))
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut all = Vec::new();
        while let Some(r) = rows.next().unwrap() {
            let row = (0..cols.len())
                .map(|i| match r.get_ref(i).unwrap() {
                    ValueRef::Null => None,
                    ValueRef::Integer(n) => Some(n.to_string()),
                    ValueRef::Text(t) => Some(String::from_utf8(t.to_vec()).unwrap()),
                    ValueRef::Blob(b) => Some(format!("\\x{}", hex::encode(b))),
                    ValueRef::Real(f) => panic!("a REAL in {table}: {f}"),
                })
                .collect();
            all.push(row);
        }
        all.sort();
        out.insert(table.clone(), all);
    }
    out
}

fn postgres_rows(url: &str) -> std::collections::BTreeMap<String, Vec<Vec<Option<String>>>> {
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let schema = gcli2api::store::schema::postgres(&mut c).unwrap();
        let mut out = std::collections::BTreeMap::new();
        for (table, t) in &schema {
            let cols: Vec<String> = t
                .columns
                .iter()
                .map(|c| format!("\"{}\"::text", c.name))
                .collect();
            let mut all: Vec<Vec<Option<String>>> = c
                .query(&format!("SELECT {} FROM {table}", cols.join(", ")), &[])
                .unwrap()
                .iter()
                .map(|r| (0..cols.len()).map(|i| r.get(i)).collect())
                .collect();
            all.sort();
            out.insert(table.clone(), all);
        }
        out
    })
    .join()
    .unwrap()
}

fn pg_query<T: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut postgres::Client) -> T + Send + 'static,
) -> T {
    let url = url.to_string();
    std::thread::spawn(move || f(&mut postgres::Client::connect(&url, postgres::NoTls).unwrap()))
        .join()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_served_store_is_copied_exactly_and_its_sealed_secrets_still_open() {
    init_logs();
    let app = builder()
        .users(3)
        .env("SECRETS_KEY", KEY)
        // Prompt excerpts put tabs, newlines and backslashes in the copied text.
        .env("REQUEST_LOG_PROMPTS", "true")
        .spawn()
        .await;
    let refresh_tokens: Vec<String> = app.users.iter().map(|u| u.refresh_token.clone()).collect();
    // Client keys: one kept, one deleted (its id must never be handed out again).
    let (kept, secret) = create_key(&app, json!({"name": "team-a", "daily_requests": 100})).await;
    let (gone, _) = create_key(&app, json!({"name": "team-b"})).await;
    let (s, _) = send(api(&app, Method::DELETE, &format!("/client-keys/{gone}"))).await;
    assert_eq!(s, 204);
    let (s, v) =
        send(api(&app, Method::PATCH, "/settings").json(&json!({"retry_429_max_retries": 4})))
            .await;
    assert_eq!(s, 200, "{v}");
    for i in 0..12 {
        let body = json!({"model": "gemini-2.5-flash", "messages": [user_text(&format!("hi\t{i}\n\\ ok"))]});
        let r = app
            .http
            .post(format!("{}/v1/chat/completions", app.url))
            .bearer_auth(if i % 2 == 0 {
                secret.as_str()
            } else {
                crate::support::KEY
            })
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = app
        .post(
            "/v1/responses",
            &json!({"model": "gemini-2.5-flash", "input": "keep me", "store": true}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_sim, dir) = app.stop().await;
    let db = dir.path().join("gcli2api.db");

    let source = sqlite_rows(&db);
    for t in [
        "credentials",
        "client_keys",
        "usage_key_daily",
        "usage_daily",
        "usage_daily_requests",
        "usage_minute",
        "request_log",
        "audit_events",
        "settings",
        "responses",
        "secrets_at_rest",
        "client_key_server_secret",
        "credential_identities",
    ] {
        assert!(!source[t].is_empty(), "the served store has rows in {t}");
    }
    assert_eq!(source["request_log"].len(), 13);
    assert!(
        source["request_log"]
            .iter()
            .flatten()
            .flatten()
            .any(|v| v.contains('\t') && v.contains('\n') && v.contains('\\')),
        "a stored prompt with a tab, a newline and a backslash"
    );

    let url = pg_cluster::fresh_database("migrate");
    let from = format!("sqlite://{}", db.display());
    let (code, stdout, stderr) = migrate(&["--from", &from, "--to", &url], &[]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let total: usize = source.values().map(Vec::len).sum();
    assert!(
        stdout.contains(&format!("copied {total} rows in {} tables", source.len()))
            && stdout.contains("row counts verified"),
        "{stdout}"
    );
    assert!(stdout.contains("  request_log: 13 rows"), "{stdout}");

    // Every value of every row, byte for byte.
    let copied = postgres_rows(&url);
    assert_eq!(
        copied.keys().collect::<Vec<_>>(),
        source.keys().collect::<Vec<_>>()
    );
    for (table, rows) in &source {
        assert_eq!(&copied[table], rows, "table {table}");
    }

    // The sealed payloads open with the same key in PostgreSQL (the row id is in their
    // associated data, and the ids were kept).
    let cipher = Cipher::from_text(KEY, "SECRETS_KEY").unwrap();
    let payloads: Vec<(i64, String)> = pg_query(&url, |c| {
        c.query("SELECT id, payload_json FROM credentials", &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    });
    assert_eq!(payloads.len(), 3);
    let mut opened = Vec::new();
    for (id, stored) in &payloads {
        let sealed = stored.trim_matches('"');
        assert!(is_sealed(sealed), "credential {id} is stored sealed");
        let plain = cipher.open(&payload_ad(*id), sealed).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        opened.push(v["refresh_token"].as_str().unwrap().to_string());
        // Under another row's id it does not open: the binding is real.
        assert!(cipher.open(&payload_ad(id + 100), sealed).is_err());
    }
    opened.sort();
    let mut want = refresh_tokens.clone();
    want.sort();
    assert_eq!(opened, want);

    // New rows continue after the highest id SQLite ever handed out, the deleted key's too.
    let next: i64 = pg_query(&url, |c| {
        c.query_one(
            "SELECT nextval(pg_get_serial_sequence('client_keys', 'id'))",
            &[],
        )
        .unwrap()
        .get(0)
    });
    assert_eq!(next, gone + 1, "kept {kept}, deleted {gone}");

    // A second copy into the same database is refused, and changes nothing.
    let (code, _, stderr) = migrate(&["--from", &from, "--to", &url], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("already holds data (") && stderr.contains("credentials"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was copied"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(postgres_rows(&url), copied);

    // The target can come from DATABASE_URL, keeping a password off the command line.
    let url2 = pg_cluster::fresh_database("migrate_env");
    let (code, stdout, stderr) = migrate(&["--from", &from], &[("DATABASE_URL", &url2)]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(postgres_rows(&url2), copied);
}

/// Bad arguments and unreachable databases are one clear line each.
#[test]
fn wrong_sources_and_targets_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}/nothing.db", dir.path().display());
    let url = pg_cluster::fresh_database("errors");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--from".into(), missing.clone(), "--to".into(), url.clone()],
            "no SQLite database at",
        ),
        (
            vec![
                "--from".into(),
                missing.clone(),
                "--to".into(),
                "sqlite:///x.db".into(),
            ],
            "--to must be a PostgreSQL database",
        ),
        (
            vec!["--from".into(), url.clone(), "--to".into(), url.clone()],
            "--from must be a SQLite store",
        ),
        (
            vec!["--from".into(), missing.clone()],
            "name the PostgreSQL database with --to",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, stderr) = migrate(&args, &[("DATA_DIR", &dir.path().display().to_string())]);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    // A real store, an unreachable server: the message names it, password masked.
    let db = dir.path().join("gcli2api.db");
    drop(rusqlite::Connection::open(&db).unwrap());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (code, _, stderr) = migrate(
        &["--from", &format!("sqlite://{}", db.display())],
        &[(
            "DATABASE_URL",
            &format!("postgres://gw:pw-51ab@127.0.0.1:{port}/x"),
        )],
    );
    assert_eq!(code, Some(1), "{stderr}");
    // An empty file is schema version 0: upgrade it first (checked before connecting).
    assert!(
        stderr.contains("has schema version 0") && stderr.contains("start this gcli2api once"),
        "{stderr}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let served = tokio::runtime::Runtime::new().unwrap().block_on(async {
        gcli2api::store::Store::open(tmp.path())
            .await
            .unwrap()
            .path()
            .to_path_buf()
    });
    let (code, _, stderr) = migrate(
        &["--from", &format!("sqlite://{}", served.display())],
        &[(
            "DATABASE_URL",
            &format!("postgres://gw:pw-51ab@127.0.0.1:{port}/x"),
        )],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot connect to PostgreSQL at postgres://gw:***@127.0.0.1"),
        "{stderr}"
    );
    assert!(!stderr.contains("pw-51ab"), "{stderr}");
}
