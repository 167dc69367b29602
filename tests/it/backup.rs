//! Backups of the live database: `gcli2api backup FILE` from another process and the
//! management API's download, both while the gateway serves requests.
use std::process::Command;

use reqwest::Method;
use serde_json::json;

use crate::api::{api, send};
use crate::support::{TestApp, builder, init_logs};

const BIN: &str = env!("CARGO_BIN_EXE_gcli2api");

async fn chat_once(app: &TestApp) {
    let (status, b) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hello"}]}))
        .await;
    assert_eq!(status, 200, "{b}");
}

/// (credentials, requests counted in usage_minute) in a database file.
fn counts(path: &std::path::Path) -> (i64, i64) {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let creds = c
        .query_row("SELECT count(*) FROM credentials", [], |r| r.get(0))
        .unwrap();
    let requests = c
        .query_row(
            "SELECT coalesce(sum(requests), 0) FROM usage_minute",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (creds, requests)
}

#[tokio::test]
async fn the_cli_backs_up_a_serving_gateway() {
    init_logs();
    let app = builder().spawn().await;
    for _ in 0..3 {
        chat_once(&app).await;
    }
    app.state.usage.flush().await.unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("copy.db");
    // Requests keep flowing while the other process copies the database.
    let load = {
        let http = app.http.clone();
        let url = app.url.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                let r = http
                    .post(format!("{url}/v1/chat/completions"))
                    .bearer_auth(crate::support::KEY)
                    .json(&json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        })
    };
    let run = |file: std::path::PathBuf, data_dir: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .arg("backup")
                .arg(&file)
                .env_clear()
                .env("DATA_DIR", &data_dir)
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .output()
                .unwrap()
        })
    };
    let out = run(file.clone(), app.dir.path().to_path_buf())
        .await
        .unwrap();
    load.await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("backup written to"));
    let (creds, requests) = counts(&file);
    assert_eq!(creds, 3);
    assert!(requests >= 3, "usage in the copy: {requests}");
    // The other process recorded the backup in the serving gateway's audit log.
    let (status, log) = send(api(&app, Method::GET, "/audit?action=database.backup")).await;
    assert_eq!(status, 200, "{log}");
    let ev = &log["events"][0];
    assert_eq!(
        (ev["actor"].as_str(), ev["origin"].as_str()),
        (Some("cli"), Some("cli")),
        "{log}"
    );
    assert_eq!(ev["detail"]["file"], file.display().to_string());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the copy holds secrets");
    }

    // An existing file is never overwritten: one clear line and exit 1.
    let out = run(file.clone(), app.dir.path().to_path_buf())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    // A data dir without a database is named.
    let empty = tempfile::tempdir().unwrap();
    let out = run(out_dir.path().join("other.db"), empty.path().to_path_buf())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database at"));

    // The copy restores: a gateway started on it serves with the same credentials.
    let (sim, _old_dir) = app.stop().await;
    let restored_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&file, restored_dir.path().join("gcli2api.db")).unwrap();
    let restored = builder().reuse(sim, restored_dir).spawn().await;
    let (status, body) = send(api(&restored, Method::GET, "/credentials")).await;
    assert_eq!(status, 200, "{body}");
    chat_once(&restored).await;
}

#[tokio::test]
async fn the_api_downloads_a_consistent_copy() {
    init_logs();
    let app = builder().spawn().await;
    chat_once(&app).await;
    chat_once(&app).await;
    app.state.usage.flush().await.unwrap();
    let r = api(&app, Method::GET, "/system/backup")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.sqlite3");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.contains("gcli2api-"), "{disposition}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("download.db");
    std::fs::write(&file, &bytes).unwrap();
    let (creds, requests) = counts(&file);
    assert_eq!(creds, 3);
    assert!(requests >= 2, "usage in the copy: {requests}");
    // Nothing is left behind in the data dir.
    let leftovers: Vec<_> = std::fs::read_dir(app.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".backup-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Without the panel password there is no backup.
    let r = app
        .http
        .get(format!("{}/api/v1/system/backup", app.url))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
