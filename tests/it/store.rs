//! Store: migrations, open errors, repositories, and crash consistency (SIGKILL mid-write).
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gcli2api::store::audit::{self, NewAuditEvent};
use gcli2api::store::credentials::{self, CredentialSource, NewCredential, StatePatch};
use gcli2api::store::{self, Store, StoreError};
use serde_json::json;

use crate::support::test_name;

const CRASH_DB_ENV: &str = "GCLI2API_TEST_CRASH_WRITER_DB";

fn user_version(path: &Path) -> i64 {
    let c = rusqlite::Connection::open(path).unwrap();
    c.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn migrations_apply_to_empty_db_and_reopen_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let s = Store::open(&data).await.unwrap();
    let db = data.join(store::DB_FILE_NAME);
    assert_eq!(s.path(), db);
    assert_eq!(user_version(&db), store::schema_version() as i64);

    let tables: Vec<String> = s
        .call(|c| {
            let mut st =
                c.prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .unwrap();
    for t in [
        "audit_events",
        "credentials",
        "quota_limits",
        "quota_windows",
        "secrets",
        "settings",
        "usage_daily",
        "usage_minute",
    ] {
        assert!(
            tables.iter().any(|x| x == t),
            "missing table {t}: {tables:?}"
        );
    }
    let mode: String = s
        .call(|c| Ok(c.pragma_query_value(None, "journal_mode", |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    let fk: i64 = s
        .call(|c| Ok(c.pragma_query_value(None, "foreign_keys", |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(fk, 1, "foreign keys are on for pooled connections");

    s.tx(|tx| {
        store::settings::put_many(tx, &[("port".into(), json!(8080))], 1)?;
        Ok(())
    })
    .await
    .unwrap();
    drop(s);

    let s = Store::open(&data).await.unwrap();
    assert_eq!(user_version(&db), store::schema_version() as i64);
    let all = s.call(|c| store::settings::get_all(c)).await.unwrap();
    assert_eq!(all, vec![("port".to_string(), json!(8080))]);
}

#[tokio::test]
async fn unwritable_path_is_a_clear_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    // A directory cannot be created under a regular file, even as root.
    let err = Store::open(&file.join("data")).await.unwrap_err();
    match &err {
        StoreError::Open { path, reason } => {
            assert!(path.ends_with("a-file/data"), "{path}");
            assert!(
                reason.contains("cannot create the data directory"),
                "{reason}"
            );
        }
        other => panic!("expected Open, got {other:?}"),
    }
    assert!(err.to_string().starts_with("cannot open database"), "{err}");
}

#[tokio::test]
async fn corrupt_file_is_a_clear_corrupt_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(store::DB_FILE_NAME);
    std::fs::write(&db, vec![0x42u8; 8192]).unwrap();
    let err = Store::open(dir.path()).await.unwrap_err();
    match &err {
        StoreError::Corrupt { path, reason } => {
            assert!(path.ends_with(store::DB_FILE_NAME), "{path}");
            assert!(reason.contains("not a database"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("is corrupt or not a SQLite database"),
        "{err}"
    );
    // The file is left untouched for the operator to inspect.
    assert_eq!(std::fs::read(&db).unwrap(), vec![0x42u8; 8192]);
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    drop(Store::open_in(&db).await.unwrap());
    let c = rusqlite::Connection::open(&db).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    let err = Store::open_in(&db).await.unwrap_err();
    match &err {
        StoreError::SchemaTooNew {
            found, supported, ..
        } => {
            assert_eq!(*found, 99);
            assert_eq!(*supported, store::schema_version());
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert!(err.to_string().contains("newer than this build supports"));
}

fn new_cred(name: &str, refresh: &str) -> NewCredential {
    NewCredential {
        name: name.into(),
        source: CredentialSource::Upload,
        payload: json!({
            "client_id": "cid", "client_secret": "csecret", "refresh_token": refresh,
            "token_uri": "http://127.0.0.1/token"
        }),
        email: Some(format!("{name}@example.com")),
        project_id: Some("proj".into()),
        tier: None,
        refresh_token_sha256: Some(format!("sha-{refresh}")),
        kind: gcli2api::google::kind::CredentialKind::CodeAssist,
        secret_sha256: None,
        quota_group: None,
        models: None,
    }
}

#[tokio::test]
async fn credential_repository_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).await.unwrap();

    let id = s
        .tx(|tx| credentials::insert(tx, &new_cred("a.json", "r1"), 10))
        .await
        .unwrap();
    let dup = s
        .tx(|tx| credentials::insert(tx, &new_cred("a.json", "r9"), 11))
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::Conflict { .. }), "{dup:?}");

    // Upsert keeps the id and state, replaces the payload.
    s.tx(move |tx| {
        credentials::set_state(
            tx,
            id,
            &StatePatch {
                enabled: Some(false),
                disabled_reason: Some(Some("auto-ban 403".into())),
                preview_ok: Some(Some(false)),
                ..Default::default()
            },
            12,
        )
    })
    .await
    .unwrap();
    let id2 = s
        .tx(|tx| credentials::upsert_by_name(tx, &new_cred("a.json", "r2"), 13))
        .await
        .unwrap();
    assert_eq!(id, id2);
    let row = s
        .call(move |c| credentials::get(c, id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.payload["refresh_token"], "r2");
    assert!(!row.enabled);
    assert_eq!(row.disabled_reason.as_deref(), Some("auto-ban 403"));
    assert_eq!(row.preview_ok, Some(false));
    assert_eq!(row.created_at, 10);
    assert_eq!(row.updated_at, 13);
    assert!(
        !format!("{row:?}").contains("r2"),
        "Debug must not print the payload"
    );

    // Token refresh is merged into the payload, other keys survive.
    assert!(
        s.tx(move |tx| credentials::update_tokens(
            tx,
            id,
            "at-1",
            Some("2030-01-01T00:00:00Z"),
            None,
            14
        ))
        .await
        .unwrap()
    );
    let row = s
        .call(|c| credentials::get_by_name(c, "a.json"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.payload["access_token"], "at-1");
    assert_eq!(row.payload["token"], "at-1");
    assert_eq!(row.payload["client_secret"], "csecret");
    assert_eq!(row.payload["expiry"], "2030-01-01T00:00:00Z");

    let b = s
        .tx(|tx| credentials::insert(tx, &new_cred("b.json", "r2"), 20))
        .await
        .unwrap();
    let dups = s
        .call(|c| credentials::find_by_refresh_token_sha256(c, "sha-r2"))
        .await
        .unwrap();
    assert_eq!(dups, vec![id, b]);
    let names: Vec<String> = s
        .call(|c| credentials::list(c))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["a.json", "b.json"]);

    // The pool's state document round-trips and goes away with its row.
    s.tx(move |tx| credentials::set_pool_state(tx, id, r#"{"enabled":false}"#))
        .await
        .unwrap();
    let states = s.call(|c| credentials::pool_states(c)).await.unwrap();
    assert!(states.contains(&(id, Some(r#"{"enabled":false}"#.to_string()))));
    assert!(s.tx(move |tx| credentials::delete(tx, id)).await.unwrap());
    assert!(!s.tx(move |tx| credentials::delete(tx, id)).await.unwrap());
    let states = s.call(|c| credentials::pool_states(c)).await.unwrap();
    assert!(states.iter().all(|(i, _)| *i != id));
    // Ids are never reused (usage history keeps old ids).
    let c = s
        .tx(|tx| credentials::insert(tx, &new_cred("c.json", "r3"), 30))
        .await
        .unwrap();
    assert!(c > b);
    assert!(
        !s.tx(move |tx| credentials::set_state(tx, 9999, &StatePatch::default(), 1))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn audit_lists_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).await.unwrap();
    s.tx(|tx| {
        for i in 0..5 {
            audit::append(
                tx,
                &NewAuditEvent {
                    kind: "k".into(),
                    actor: "test".into(),
                    origin: None,
                    subject: Some(format!("s{i}")),
                    detail: json!({ "i": i }),
                },
                i,
            )?;
        }
        Ok(())
    })
    .await
    .unwrap();
    let recent = s.call(|c| audit::list_recent(c, 2)).await.unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].subject.as_deref(), Some("s4"));
    assert_eq!(recent[1].detail, json!({ "i": 3 }));
}

/// Not a test on its own: the child process of `sigkill_during_writes_leaves_a_consistent_db`.
/// Each transaction writes a pair of rows; it loops until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process for the SIGKILL test"]
async fn crash_writer_child() {
    let Ok(path) = std::env::var(CRASH_DB_ENV) else {
        return;
    };
    let s = Store::open_in(Path::new(&path)).await.unwrap();
    // Two concurrent writers so the kill can land while one waits on the lock.
    let mut tasks = Vec::new();
    for w in 0..2 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0u64.. {
                let subject = format!("w{w}-{i}");
                s.tx(move |tx| {
                    for half in ["a", "b"] {
                        audit::append(
                            tx,
                            &NewAuditEvent {
                                kind: format!("pair-{half}"),
                                actor: "crash-writer".into(),
                                origin: None,
                                subject: Some(subject.clone()),
                                detail: json!({ "pad": "x".repeat(512) }),
                            },
                            0,
                        )?;
                    }
                    Ok(())
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

fn count_pairs(path: &Path) -> i64 {
    let Ok(c) = rusqlite::Connection::open(path) else {
        return 0;
    };
    c.query_row(
        "SELECT count(*) FROM audit_events WHERE kind = 'pair-b'",
        [],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

#[tokio::test]
async fn sigkill_during_writes_leaves_a_consistent_db() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    // Create the schema first so the parent can poll without racing the migration.
    drop(Store::open_in(&db).await.unwrap());

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            &test_name(module_path!(), "crash_writer_child"),
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CRASH_DB_ENV, &db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let started = Instant::now();
    while count_pairs(&db) < 1000 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "writer made no progress"
        );
        assert!(child.try_wait().unwrap().is_none(), "writer exited early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Child::kill sends SIGKILL on Unix: no destructors, no checkpoint, mid-transaction.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());

    let s = Store::open_in(&db).await.unwrap();
    let (integrity, a, b, broken): (String, i64, i64, i64) = s
        .call(|c| {
            let integrity = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            let a = c.query_row(
                "SELECT count(*) FROM audit_events WHERE kind = 'pair-a'",
                [],
                |r| r.get(0),
            )?;
            let b = c.query_row(
                "SELECT count(*) FROM audit_events WHERE kind = 'pair-b'",
                [],
                |r| r.get(0),
            )?;
            let broken = c.query_row(
                "SELECT count(*) FROM (SELECT subject FROM audit_events
                   WHERE actor = 'crash-writer' GROUP BY subject HAVING count(*) != 2)",
                [],
                |r| r.get(0),
            )?;
            Ok((integrity, a, b, broken))
        })
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    assert!(a >= 1000, "committed pairs survive: {a}");
    assert_eq!(a, b, "every committed transaction is complete");
    assert_eq!(broken, 0, "no half-written pair");
}

/// Rows carry their kind (Code Assist by default), quota group, discovered models and secret
/// fingerprint.
#[tokio::test]
async fn credential_kinds_groups_and_models_round_trip() {
    use gcli2api::google::kind::CredentialKind;
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).await.unwrap();
    let oauth = s
        .tx(|tx| credentials::insert(tx, &new_cred("o.json", "r1"), 1))
        .await
        .unwrap();
    let mut key =
        NewCredential::code_assist("key-1", CredentialSource::Env, json!({"api_key": "AQ.x"}));
    key.kind = CredentialKind::VertexExpressKey;
    key.quota_group = Some("proj-a".into());
    key.secret_sha256 = Some("sha-key".into());
    key.models = Some(vec!["gemini-2.5-pro".into()]);
    let kid = s
        .tx(move |tx| credentials::insert(tx, &key, 2))
        .await
        .unwrap();
    let rows = s.call(|c| credentials::list(c)).await.unwrap();
    assert_eq!(rows[0].kind, CredentialKind::CodeAssist);
    assert!(rows[0].models.is_none() && rows[0].quota_group.is_none());
    let k = rows.iter().find(|r| r.id == kid).unwrap();
    assert_eq!(k.kind, CredentialKind::VertexExpressKey);
    assert_eq!(k.quota_group.as_deref(), Some("proj-a"));
    assert_eq!(
        k.models.as_deref(),
        Some(&["gemini-2.5-pro".to_string()][..])
    );
    assert_eq!(k.models_checked_at, Some(2));
    assert_eq!(
        s.call(|c| credentials::find_by_secret_sha256(c, "sha-key"))
            .await
            .unwrap(),
        vec![kid]
    );
    s.tx(move |tx| {
        credentials::set_models(tx, kid, &["a".to_string(), "b".to_string()], 9)?;
        credentials::set_quota_group(tx, kid, None, 9)
    })
    .await
    .unwrap();
    let k = s
        .call(move |c| credentials::get(c, kid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(k.models.unwrap(), ["a", "b"]);
    assert_eq!((k.quota_group, k.models_checked_at), (None, Some(9)));
    let o = s
        .call(move |c| credentials::get(c, oauth))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.kind, CredentialKind::CodeAssist);
    // The schema refuses a kind it does not know.
    let bad = s
        .tx(|tx| {
            tx.execute(
                "UPDATE credentials SET kind = 'antigravity' WHERE id = 1",
                [],
            )
            .map_err(Into::into)
        })
        .await;
    assert!(bad.is_err());
}
