//! Conformance tests for the Google simulator over real loopback sockets.

mod control;
mod faults;
mod gemini_api;
mod generation;
mod oauth;
mod official_control;
mod projects;
mod streaming;
mod vertex;

use futures_util::StreamExt;
use gcli2api::simulator::{SeededUser, SimHandle, Simulator, UserSpec};
use serde_json::{Value, json};

pub struct Env {
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub user: SeededUser,
}

pub async fn start() -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(listener).await.unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// A simulator with one default (free, onboarded, preview) user.
pub async fn env() -> Env {
    env_with(UserSpec::new("alice@example.com")).await
}

pub async fn env_with(spec: UserSpec) -> Env {
    let sim = start().await;
    let user = sim.add_user(spec);
    Env {
        sim,
        http: client(),
        user,
    }
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.base_url(), path)
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn generate(&self, body: &Value) -> (u16, Value) {
        let resp = self
            .post_json("/v1internal:generateContent", &self.user.access_token, body)
            .await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// Raw SSE body, and whether the body ended with a transport error.
    pub async fn stream_raw(&self, body: &Value) -> Streamed {
        self.stream_path("/v1internal:streamGenerateContent?alt=sse", body)
            .await
    }

    pub async fn stream_path(&self, path: &str, body: &Value) -> Streamed {
        let resp = self.post_json(path, &self.user.access_token, body).await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let (body, failed) = read_all(resp).await;
        Streamed {
            status,
            headers,
            body,
            failed,
        }
    }
}

pub struct Streamed {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    pub failed: bool,
}

impl Streamed {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn read_all(resp: reqwest::Response) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => out.extend_from_slice(&b),
            Err(_) => return (out, true),
        }
    }
    (out, false)
}

/// The envelope the gateway sends for one user turn.
pub fn envelope(user: &SeededUser, model: &str, text: &str) -> Value {
    json!({
        "model": model,
        "project": user.project_id,
        "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]},
    })
}

/// Split an SSE body (CRLF or LF) into the JSON of each `data: ` event.
pub fn sse_events(raw: &[u8]) -> Vec<Value> {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let data = e
                .strip_prefix("data: ")
                .expect("event starts with 'data: '");
            assert!(!data.contains('\n'), "one data line per event");
            serde_json::from_str(data).unwrap()
        })
        .collect()
}

pub fn event_text(ev: &Value) -> String {
    ev["response"]["candidates"][0]["content"]["parts"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter(|p| p.get("thought").is_none())
                .filter_map(|p| p["text"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

pub fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub async fn post_form(
    http: &reqwest::Client,
    url: String,
    pairs: &[(&str, &str)],
) -> reqwest::Response {
    http.post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(pairs))
        .send()
        .await
        .unwrap()
}
