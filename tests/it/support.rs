//! Test harness: a real gateway on 127.0.0.1:0 in front of a real simulator, with seeded
//! accounts imported as credentials.
use std::collections::HashMap;

use gcli2api::AppState;
use gcli2api::google::kind::CredentialKind;
use gcli2api::onboarding::import::official::{PastedKey, ServiceAccountFile};
use gcli2api::simulator::{ApiKeySpec, SeededApiKey, SeededServiceAccount, ServiceAccountSpec};
use gcli2api::simulator::{RecordedRequest, SeededUser, SimHandle, Simulator, UserSpec};
use gcli2api::store::credentials::{CredentialSource, NewCredential};
use serde_json::Value;
use tokio::sync::oneshot;

pub const KEY: &str = "test-api-key";

/// Installs the process-wide log hub (INFO, no file, no console) on first use, so
/// `/api/v1/logs` and the panel's live log have lines to read. All tests of this binary share
/// it; a test that needs another logging setup runs in a process of its own
/// ([`in_own_process`]).
pub fn init_logs() {
    let _ = gcli2api::logs::init(gcli2api::logs::LogConfig {
        level: "info".into(),
        file: None,
        retention_days: 1,
        console: false,
    });
}

/// The name libtest knows a test by: `module_path!()` without the crate name, then `name`.
pub fn test_name(module_path: &str, name: &str) -> String {
    match module_path.split_once("::") {
        Some((_crate, path)) => format!("{path}::{name}"),
        None => name.to_string(),
    }
}

/// Set in a child started by [`in_own_process`] to the one test it runs.
const OWN_PROCESS_ENV: &str = "GCLI2API_TEST_OWN_PROCESS";

/// For a test that changes process-wide state (the global tracing subscriber, the panic hook),
/// which must not leak into the other tests of this binary. Called first thing as
/// `if !in_own_process(module_path!(), "the_test") { return; }`: in the normal run it runs that
/// one test again in a child process of this binary, asserts that it passed and returns
/// `false`; in the child it returns `true` and the test does its work.
pub fn in_own_process(module_path: &str, name: &str) -> bool {
    let test = test_name(module_path, name);
    if std::env::var(OWN_PROCESS_ENV).is_ok_and(|t| t == test) {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test.as_str(), "--exact", "--nocapture"])
        .env(OWN_PROCESS_ENV, &test)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test} in its own process:\n{stdout}\n{stderr}"
    );
    false
}

pub struct TestApp {
    pub url: String,
    pub sim: SimHandle,
    pub users: Vec<SeededUser>,
    pub ids: Vec<i64>,
    pub state: AppState,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub struct Builder {
    users: Vec<UserSpec>,
    no_users: bool,
    env: HashMap<String, String>,
    sim: Option<SimHandle>,
    dir: Option<tempfile::TempDir>,
    seed: bool,
}

pub fn builder() -> Builder {
    Builder {
        users: Vec::new(),
        no_users: false,
        env: HashMap::new(),
        sim: None,
        dir: None,
        seed: true,
    }
}

impl Builder {
    pub fn user(mut self, spec: UserSpec) -> Self {
        self.users.push(spec);
        self
    }
    pub fn users(mut self, n: usize) -> Self {
        for i in 0..n {
            self.users
                .push(UserSpec::new(format!("user{}@sim.test", i + 1)));
        }
        self
    }
    /// No Code Assist credentials: the test adds keys or service accounts itself.
    pub fn no_users(mut self) -> Self {
        self.no_users = true;
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.insert(k.into(), v.into());
        self
    }
    /// Another gateway in front of the same simulator, with its own data dir.
    pub fn reuse_sim(mut self, sim: SimHandle) -> Self {
        self.sim = Some(sim);
        self
    }
    /// Reuse a simulator and data dir (restart tests); nothing is seeded again.
    pub fn reuse(mut self, sim: SimHandle, dir: tempfile::TempDir) -> Self {
        self.sim = Some(sim);
        self.dir = Some(dir);
        self.seed = false;
        self
    }

    pub async fn spawn(self) -> TestApp {
        let sim = match self.sim {
            Some(s) => s,
            None => Simulator::start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
                .await
                .unwrap(),
        };
        let dir = self.dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
        let mut env = gcli2api_env(&sim.base_url(), dir.path());
        env.extend(self.env);
        let sources = gcli2api::Sources {
            env,
            config_file: None,
        };
        let app = gcli2api::build(sources).await.expect("gateway builds");
        let state = app.state().clone();
        let mut users = Vec::new();
        let mut ids = Vec::new();
        if self.seed {
            let specs = if self.no_users {
                Vec::new()
            } else if self.users.is_empty() {
                (1..=3)
                    .map(|i| UserSpec::new(format!("user{i}@sim.test")))
                    .collect()
            } else {
                self.users
            };
            for (i, spec) in specs.into_iter().enumerate() {
                let u = sim.add_user(spec);
                let id = state
                    .pool
                    .add(new_credential(&format!("cred-{}.json", i + 1), &u))
                    .await
                    .unwrap();
                users.push(u);
                ids.push(id);
            }
        } else {
            users = sim.users();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.serve(listener, async move {
                let _ = rx.await;
            })
            .await
            .expect("gateway serves");
        });
        TestApp {
            url,
            sim,
            users,
            ids,
            state,
            http: reqwest::Client::new(),
            dir,
            stop: Some(tx),
            task: Some(task),
        }
    }
}

pub fn new_credential(name: &str, u: &SeededUser) -> NewCredential {
    NewCredential {
        name: name.into(),
        source: CredentialSource::Upload,
        payload: u.credential_json(),
        email: Some(u.email.clone()),
        project_id: Some(u.project_id.clone()),
        tier: None,
        refresh_token_sha256: None,
        kind: gcli2api::google::kind::CredentialKind::CodeAssist,
        secret_sha256: None,
        quota_group: None,
        models: None,
    }
}

pub fn gcli2api_env(sim: &str, dir: &std::path::Path) -> HashMap<String, String> {
    let mut env = HashMap::new();
    env.insert("DATA_DIR".into(), dir.display().to_string());
    env.insert("PASSWORD".into(), KEY.into());
    env.insert("RETRY_429_INTERVAL".into(), "0.05".into());
    for k in [
        "CODE_ASSIST_ENDPOINT",
        "OAUTH_PROXY_URL",
        "GOOGLEAPIS_PROXY_URL",
        "RESOURCE_MANAGER_API_URL",
        "SERVICE_USAGE_API_URL",
        "GEMINI_API_URL",
        "VERTEX_API_URL",
    ] {
        env.insert(k.into(), sim.to_string());
    }
    env.insert("OAUTH_AUTH_URL".into(), format!("{sim}/o/oauth2/v2/auth"));
    env
}

impl TestApp {
    pub async fn spawn() -> Self {
        builder().spawn().await
    }

    /// Seeds a key in the simulator and puts it in the pool directly (no import check).
    pub async fn add_key(&self, kind: CredentialKind, spec: ApiKeySpec) -> (SeededApiKey, i64) {
        let seeded = self.sim.add_api_key(spec);
        let pasted = PastedKey {
            kind,
            key: seeded.key.clone(),
            group: None,
        };
        let id = self
            .state
            .pool
            .add(pasted.to_new_credential(CredentialSource::Upload, None))
            .await
            .unwrap();
        (seeded, id)
    }

    /// Seeds a service account and puts its key file in the pool directly.
    pub async fn add_service_account(
        &self,
        spec: ServiceAccountSpec,
    ) -> (SeededServiceAccount, i64) {
        let seeded = self.sim.add_service_account(spec);
        let file = ServiceAccountFile::parse(seeded.key_json()).unwrap();
        let id = self
            .state
            .pool
            .add(file.to_new_credential(CredentialSource::Upload))
            .await
            .unwrap();
        (seeded, id)
    }

    /// Generation calls the simulator received on the official upstreams, oldest first.
    pub fn official_requests(&self) -> Vec<RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| {
                r.upstream
                    .is_some_and(|u| u != gcli2api::simulator::Upstream::CodeAssist)
            })
            .collect()
    }

    pub fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(KEY)
            .json(body)
    }

    pub async fn chat(&self, body: Value) -> (u16, Value) {
        let r = self
            .post("/v1/chat/completions", &body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A streamed chat completion as its `data:` payloads (`[DONE]` kept as a string).
    pub async fn chat_stream(&self, body: Value) -> (u16, Vec<Value>, String) {
        let r = self
            .post("/v1/chat/completions", &body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, sse_payloads(&text), text)
    }

    /// Generation requests the simulator received, oldest first.
    pub fn generation_requests(&self) -> Vec<RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/v1internal:") && r.path.contains("enerateContent"))
            .collect()
    }

    pub fn token_requests(&self, email: &str) -> Vec<RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.path == "/token" && r.email.as_deref() == Some(email))
            .collect()
    }

    /// Graceful shutdown; returns the data dir and simulator for a restart.
    pub async fn stop(mut self) -> (SimHandle, tempfile::TempDir) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (self.sim.clone(), dir)
    }
}

pub fn sse_payloads(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|ev| ev.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap_or(Value::String(d.to_string())))
        .collect()
}

/// Concatenated `delta.content` of OpenAI stream chunks.
pub fn stream_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}

pub fn user_text(s: &str) -> Value {
    serde_json::json!({"role": "user", "content": s})
}
