//! Management API tests over real sockets: the gateway on 127.0.0.1:0 in front of the simulator.
mod auth;
mod credentials;
mod import;
mod oauth;
mod official_import;
mod secrets;
mod settings;
mod spec;
mod usage_logs;

use crate::support::{KEY, TestApp, init_logs};
use reqwest::Method;
use serde_json::Value;

pub async fn spawn() -> TestApp {
    init_logs();
    crate::support::builder().spawn().await
}

pub fn api(app: &TestApp, method: Method, path: &str) -> reqwest::RequestBuilder {
    api_as(app, method, path, KEY)
}

pub fn api_as(app: &TestApp, method: Method, path: &str, bearer: &str) -> reqwest::RequestBuilder {
    app.http
        .request(method, format!("{}/api/v1{path}", app.url))
        .bearer_auth(bearer)
}

pub async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("request sent");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body read");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, body)
}

pub async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    send(api(app, Method::GET, path)).await
}

/// A multipart body with one `file` part per entry; returns (content type, body).
pub fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "gcli2api-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!(
                "Content-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub async fn upload(app: &TestApp, files: &[(&str, &[u8])]) -> (u16, Value) {
    let (ct, body) = multipart(files);
    send(
        api(app, Method::POST, "/credentials/import")
            .header("content-type", ct)
            .body(body),
    )
    .await
}

/// The error code of an API error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}
