//! Uploads (.json, .zip), limits, duplicates, exports and round trips.
use std::io::Write;

use gcli2api::simulator::UserSpec;
use reqwest::Method;
use serde_json::{Value, json};

use super::{api, code, get, send, spawn, upload};
use crate::support::{self, user_text};

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn names(list: &Value, field: &str) -> Vec<String> {
    list[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn json_and_zip_uploads_report_every_file() {
    let app = spawn().await;
    let a = app.sim.add_user(UserSpec::new("upload-a@sim.test"));
    let b = app.sim.add_user(UserSpec::new("upload-b@sim.test"));
    let a_json = serde_json::to_vec(&a.credential_json()).unwrap();
    let b_json = serde_json::to_vec(&b.credential_json()).unwrap();

    let (status, body) = upload(&app, &[("a.json", &a_json)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body, "imported"), ["a"]);
    let a_id = body["imported"][0]["id"].as_i64().unwrap();

    // The same file again is a duplicate, not a second credential.
    let (status, body) = upload(&app, &[("again.json", &a_json)]).await;
    assert_eq!(status, 200);
    assert_eq!(names(&body, "duplicates"), ["again"], "{body}");
    assert!(body["imported"].as_array().unwrap().is_empty());

    // A ZIP with one good entry, one that is not JSON and one that tries to escape.
    let zip = zip_of(&[
        ("good/b.json", &b_json),
        ("bad.json", b"this is not json"),
        ("../../evil.json", &b_json),
    ]);
    let (status, body) = upload(&app, &[("batch.zip", &zip)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["imported"].as_array().unwrap().len(), 1, "{body}");
    let rejected = body["rejected"].as_array().unwrap();
    assert!(
        rejected
            .iter()
            .any(|r| r["name"].as_str().unwrap().contains("bad")),
        "{body}"
    );
    let total = body["imported"].as_array().unwrap().len()
        + rejected.len()
        + body["duplicates"].as_array().unwrap().len();
    assert_eq!(total, 3, "every entry is reported: {body}");
    for item in body["imported"].as_array().unwrap() {
        let name = item["name"].as_str().unwrap();
        assert!(!name.contains('/') && !name.contains(".."), "{name}");
    }
    let skipped: Vec<Value> = rejected
        .iter()
        .chain(body["duplicates"].as_array().unwrap())
        .cloned()
        .collect();
    assert!(
        skipped
            .iter()
            .any(|r| r["name"].as_str().unwrap().contains("evil")),
        "the traversal entry is reported, not imported: {body}"
    );

    // A file type the importer does not know is a per-file rejection.
    let (status, body) = upload(&app, &[("notes.txt", b"hello")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["rejected"][0]["name"], "notes.txt", "{body}");

    // No file at all.
    let (status, body) = upload(&app, &[]).await;
    assert_eq!((status, code(&body)), (400, "bad_request"));

    let (_, list) = get(&app, "/credentials").await;
    let emails: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["email"].as_str())
        .collect();
    assert_eq!(list.as_array().unwrap().len(), 5, "{list}");
    let (_, one) = get(&app, &format!("/credentials/{a_id}")).await;
    assert_eq!(one["project_id"], a.project_id);
    assert!(emails.len() >= 3);
}

#[tokio::test]
async fn oversized_uploads_get_413() {
    let app = spawn().await;
    // Declared over the 20 MiB request limit: refused before parsing.
    let big = vec![b'x'; 21 << 20];
    let (status, body) = upload(&app, &[("huge.json", &big)]).await;
    assert_eq!((status, code(&body)), (413, "payload_too_large"), "{body}");
    // Under the request limit but over the archive limit (16 MiB).
    let mut archive = vec![0u8; 17 << 20];
    archive[..4].copy_from_slice(b"PK\x03\x04");
    let (status, body) = upload(&app, &[("big.zip", &archive)]).await;
    assert_eq!((status, code(&body)), (413, "payload_too_large"), "{body}");
    // Other operations have a 1 MiB limit.
    let (status, body) = send(
        api(&app, Method::PATCH, "/settings")
            .header("content-type", "application/json")
            .body(format!("{{\"proxy\": \"{}\"}}", "a".repeat(2 << 20))),
    )
    .await;
    assert_eq!((status, code(&body)), (413, "payload_too_large"));
    // A chunked body declares no length: it is cut off at the limit and still answers 413.
    let chunks = (0..40).map(|i| {
        let piece = if i == 0 {
            b"{\"proxy\": \"".to_vec()
        } else {
            vec![b'a'; 64 << 10]
        };
        Ok::<_, std::io::Error>(piece)
    });
    let (status, body) = send(
        api(&app, Method::PATCH, "/settings")
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            ))),
    )
    .await;
    assert_eq!((status, code(&body)), (413, "payload_too_large"), "{body}");
    assert_eq!(app.state.settings.get().proxy, None);
    assert_eq!(app.state.pool.summary().total, 3);
}

#[tokio::test]
async fn export_then_import_into_a_fresh_gateway_keeps_the_account() {
    let app = spawn().await;
    let id = app.ids[0];
    let r = api(&app, Method::GET, &format!("/credentials/{id}/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(h["cache-control"], "no-store");
    let cd = h["content-disposition"].to_str().unwrap().to_string();
    assert!(
        cd.starts_with("attachment;") && cd.contains("cred-1.json"),
        "{cd}"
    );
    let exported = r.bytes().await.unwrap();
    let file: Value = serde_json::from_slice(&exported).unwrap();
    assert_eq!(file["refresh_token"], app.users[0].refresh_token);

    let r = api(&app, Method::GET, "/credentials/export")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let zip = r.bytes().await.unwrap();
    assert_eq!(
        zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec()))
            .unwrap()
            .len(),
        3
    );
    let (status, body) = get(&app, "/credentials/5555/export").await;
    assert_eq!((status, code(&body)), (404, "not_found"));

    // A fresh gateway (same simulated Google, empty pool) takes the file and serves with it.
    crate::support::init_logs();
    let fresh = support::builder()
        .reuse(app.sim.clone(), tempfile::tempdir().unwrap())
        .spawn()
        .await;
    assert_eq!(fresh.state.pool.summary().total, 0);
    let (status, body) = upload(&fresh, &[("cred-1.json", &exported)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body, "imported"), ["cred-1"]);
    let (_, list) = get(&fresh, "/credentials").await;
    assert_eq!(list[0]["email"], app.users[0].email);
    assert_eq!(list[0]["project_id"], app.users[0].project_id);
    let (status, reply) = fresh
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("hi")]}))
        .await;
    assert_eq!(status, 200, "{reply}");
    let (status, body) = upload(&fresh, &[("cred-1.json", &exported)]).await;
    assert_eq!(status, 200);
    assert_eq!(body["duplicates"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn import_env_reports_even_when_there_is_nothing() {
    let app = spawn().await;
    let (status, body) = send(api(&app, Method::POST, "/credentials/import-env")).await;
    assert_eq!(status, 200, "{body}");
    for k in ["imported", "duplicates", "rejected"] {
        assert!(body[k].is_array(), "{body}");
    }
}
