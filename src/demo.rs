//! `gcli2api --demo`: the whole gateway against the built-in Google simulator, with a
//! throwaway data directory and one simulated credential of each kind (a Code Assist account,
//! a Gemini API key, a Vertex service account and a Vertex express key), so a newcomer can try
//! every endpoint offline. The real DATA_DIR is never touched.
use std::io::Write;
use std::path::PathBuf;

use crate::google::kind::CredentialKind;
use crate::onboarding::import::official::{PastedKey, ServiceAccountFile};
use crate::settings::Sources;
use crate::simulator::{DemoCredentials, Simulator};
use crate::store::credentials::{CredentialSource, NewCredential};

/// Upstream settings that must all point at the simulator.
const UPSTREAM_KEYS: &[&str] = &[
    "CODE_ASSIST_ENDPOINT",
    "OAUTH_PROXY_URL",
    "GOOGLEAPIS_PROXY_URL",
    "RESOURCE_MANAGER_API_URL",
    "SERVICE_USAGE_API_URL",
    "METADATA_SERVICE_URL",
    "GEMINI_API_URL",
    "VERTEX_API_URL",
];

/// A throwaway directory, removed when dropped however the run ends (demo and bench).
pub(crate) struct TempDir(pub(crate) PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TempDir {
    pub(crate) fn new(purpose: &str) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "gcli2api-{purpose}-{}-{}",
            std::process::id(),
            crate::google::oauth::random_token()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

/// The demo's sources: the caller's environment (PORT, HOST, PASSWORD, LOG_LEVEL... still
/// apply), with the data dir and every upstream URL overridden.
pub fn demo_sources(
    mut env: std::collections::HashMap<String, String>,
    data_dir: &std::path::Path,
    sim_url: &str,
) -> Sources {
    env.insert("DATA_DIR".into(), data_dir.display().to_string());
    env.remove("CREDENTIALS_DIR");
    env.remove("LOG_FILE");
    env.entry("HOST".into())
        .or_insert_with(|| "127.0.0.1".into());
    for k in UPSTREAM_KEYS {
        env.insert((*k).into(), sim_url.to_string());
    }
    env.insert(
        "OAUTH_AUTH_URL".into(),
        format!("{sim_url}/o/oauth2/v2/auth"),
    );
    env.remove("PROXY");
    Sources {
        env,
        config_file: None,
    }
}

/// Which kinds `--demo` starts with (comma list; all four when unset), so the client tests
/// can also run against, say, a pool of API keys only.
pub const DEMO_KINDS_ENV: &str = "GCLI2API_DEMO_KINDS";

fn demo_kinds(v: Option<&str>) -> anyhow::Result<Vec<CredentialKind>> {
    let Some(v) = v.filter(|v| !v.trim().is_empty()) else {
        return Ok(CredentialKind::ALL.to_vec());
    };
    v.split(',')
        .map(str::trim)
        .map(|k| {
            CredentialKind::parse(k).ok_or_else(|| {
                anyhow::anyhow!("{DEMO_KINDS_ENV}: unknown kind {k:?} (code_assist, gemini_api_key, vertex_service_account, vertex_express_key)")
            })
        })
        .collect()
}

/// One credential of each kind, as the simulator seeded them.
fn demo_credentials(seeded: &DemoCredentials) -> anyhow::Result<Vec<NewCredential>> {
    let user = &seeded.code_assist;
    let code_assist = NewCredential {
        email: Some(user.email.clone()),
        project_id: Some(user.project_id.clone()),
        tier: Some("free-tier".into()),
        refresh_token_sha256: Some(crate::pool::service::sha256_hex(&user.refresh_token)),
        ..NewCredential::code_assist(
            "demo-code-assist.json",
            CredentialSource::Demo,
            user.credential_json(),
        )
    };
    let key = |kind, key: &str, project: &str| {
        let pasted = PastedKey {
            kind,
            key: key.to_string(),
            group: Some(project.to_string()),
        };
        pasted.to_new_credential(CredentialSource::Demo, None)
    };
    let sa = ServiceAccountFile::parse(seeded.vertex_service_account.key_json())?;
    Ok(vec![
        code_assist,
        key(
            CredentialKind::GeminiApiKey,
            &seeded.gemini_api_key.key,
            &seeded.gemini_api_key.project_id,
        ),
        sa.to_new_credential(CredentialSource::Demo),
        key(
            CredentialKind::VertexExpressKey,
            &seeded.vertex_express_key.key,
            &seeded.vertex_express_key.project_id,
        ),
    ])
}

pub async fn run(config: Option<PathBuf>) -> anyhow::Result<()> {
    if config.is_some() {
        anyhow::bail!("--demo ignores --config; it always runs on a throwaway data directory");
    }
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim = Simulator::start(sim_listener).await?;
    let dir = TempDir::new("demo")?;
    let sources = demo_sources(std::env::vars().collect(), &dir.0, &sim.base_url());
    let mut app = crate::build(sources).await?;
    let _guard = crate::attach_logs(&mut app)?;
    let kinds = demo_kinds(std::env::var(DEMO_KINDS_ENV).ok().as_deref())?;
    for new in demo_credentials(&sim.seed_demo_credentials())?
        .into_iter()
        .filter(|n| kinds.contains(&n.kind))
    {
        app.state().pool.add(new).await?;
    }
    let s = app.settings();
    let listener = crate::bind(&s.host, s.port).await?;
    let addr = listener.local_addr()?;
    let generated = app.take_generated();
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "\n  gcli2api demo (simulated Google at {})",
            sim.base_url()
        )?;
        writeln!(
            out,
            "  proxy:  http://{addr}/v1   (OpenAI)   http://{addr}/v1beta   (Gemini)"
        )?;
        writeln!(out, "  panel:  http://{addr}/panel")?;
        match &generated.api {
            Some(pw) => writeln!(out, "  API key:        {pw}")?,
            None => writeln!(out, "  API key:        the API_PASSWORD / PASSWORD you set")?,
        }
        match &generated.panel {
            Some(pw) => writeln!(out, "  panel password: {pw}")?,
            None => writeln!(
                out,
                "  panel password: the PANEL_PASSWORD / PASSWORD you set"
            )?,
        }
        writeln!(out, "  data:   {} (deleted on exit)\n", dir.0.display())?;
        out.flush()?;
    }
    app.serve(listener, crate::shutdown_signal()).await?;
    sim.shutdown();
    Ok(())
}
