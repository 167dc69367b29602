//! Every new key or service account is checked with Google before it is stored: a Gemini API
//! key by its model list (which also tells its models), an express key by a free countTokens
//! call, a service account by a token grant. A dead one is refused with Google's reason in
//! plain words; one that cannot be checked (Google unreachable) is kept, unchecked, and the
//! pool finds out on first use. A Code Assist credential is checked by a token refresh and its
//! project (discovered when the file has none), which also fills in the account's e-mail.
use serde_json::json;

use crate::google::client::Upstream;
use crate::google::errors::{ErrorClass, classify_gemini_api, classify_vertex, parse_error};
use crate::google::executor::{self, Call, CallFailure, VertexExpress};
use crate::google::gemini_api;
use crate::google::kind::CredentialKind;
use crate::google::service_account::{self, ServiceAccountKey};
use crate::onboarding::import::official::key_label;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checked {
    /// Works. `models` when the check listed them.
    Alive { models: Option<Vec<String>> },
    /// Google refused it for good; the reason is for the operator.
    Dead(String),
    /// Google could not be asked (network, 5xx, a throttle): not known to be dead.
    Unchecked(String),
}

fn from_failure(
    f: CallFailure,
    classify: impl Fn(&crate::google::errors::UpstreamError) -> ErrorClass,
) -> Checked {
    match f {
        CallFailure::Transport(why) => Checked::Unchecked(why),
        CallFailure::Status { status, body } => {
            let err = parse_error(status, &body);
            match classify(&err) {
                ErrorClass::CredentialRejected { reason } => Checked::Dead(reason),
                // The key works; this model is simply not one of its models.
                ErrorClass::ModelDenied => Checked::Alive { models: None },
                _ => Checked::Unchecked(format!("Google answered {status}: {}", err.message)),
            }
        }
    }
}

/// Checks an API key of `kind`. `probe_model` is the model an express key's countTokens names.
pub async fn check_key(
    up: &Upstream,
    kind: CredentialKind,
    key: &str,
    probe_model: &str,
) -> Checked {
    // Google quotes a refused key in some messages; a key that is not in the pool is not
    // registered with the log redactor, so it is masked here.
    match check_key_raw(up, kind, key, probe_model).await {
        Checked::Dead(why) => Checked::Dead(why.replace(key, &key_label(key))),
        Checked::Unchecked(why) => Checked::Unchecked(why.replace(key, &key_label(key))),
        alive => alive,
    }
}

async fn check_key_raw(
    up: &Upstream,
    kind: CredentialKind,
    key: &str,
    probe_model: &str,
) -> Checked {
    match kind {
        CredentialKind::GeminiApiKey => match gemini_api::list_models(up, key).await {
            Ok(models) => Checked::Alive {
                models: Some(models),
            },
            Err(f) => from_failure(f, classify_gemini_api),
        },
        CredentialKind::VertexExpressKey => {
            let call = Call::new(VertexExpress {
                key: key.to_string(),
            });
            let contents = json!([{"role": "user", "parts": [{"text": "ping"}]}]);
            match executor::count_tokens(up, &call, probe_model, &contents).await {
                Ok(_) => Checked::Alive { models: None },
                Err(f) => from_failure(f, |e| classify_vertex(e, true)),
            }
        }
        CredentialKind::CodeAssist | CredentialKind::VertexServiceAccount => {
            Checked::Unchecked("not an API key".into())
        }
    }
}

/// Checks a service account by a token grant.
pub async fn check_service_account(up: &Upstream, key: &ServiceAccountKey) -> Checked {
    match service_account::grant(up, key, chrono::Utc::now()).await {
        Ok(_) => Checked::Alive { models: None },
        Err(e) if e.is_permanent() => Checked::Dead(e.to_string()),
        Err(e) => Checked::Unchecked(e.to_string()),
    }
}

/// How long a Code Assist check waits for Google's onboarding of a new account.
const ONBOARD_POLL: std::time::Duration = std::time::Duration::from_secs(2);
const ONBOARD_POLLS: u32 = 15;

/// Checks an uploaded Code Assist credential: the refresh token must give an access token,
/// and the account must have a Code Assist project. What is learned (a fresh access token, the
/// project, the e-mail) is written into `cred`, so the stored credential starts complete.
pub async fn check_code_assist(
    up: &Upstream,
    cred: &mut crate::onboarding::import::ImportedCredential,
) -> Checked {
    use crate::google::discovery::{self, DiscoveryError};
    use crate::google::{code_assist, oauth};
    if cred.refresh_token.is_empty() {
        return Checked::Dead("the file has no refresh token: sign in again".into());
    }
    let tokens = match oauth::refresh(
        up,
        &cred.client_id,
        &cred.client_secret,
        &cred.refresh_token,
    )
    .await
    {
        Ok(t) => t,
        Err(e) if e.is_permanent() => {
            return Checked::Dead(format!(
                "Google refused the refresh token ({e}): sign in again to add this account"
            ));
        }
        Err(e) => return Checked::Unchecked(e.to_string()),
    };
    crate::logs::register_secret(&tokens.access_token);
    if let Some(rotated) = tokens.refresh_token.clone() {
        crate::logs::register_secret(&rotated);
        cred.refresh_token = rotated;
    }
    cred.access_token = Some(tokens.access_token.clone());
    cred.expiry =
        Some(chrono::Utc::now() + chrono::Duration::seconds(tokens.expires_in.unwrap_or(3599)));
    if cred.project_id.is_none() {
        match discovery::discover(up, &tokens.access_token, None, ONBOARD_POLL, ONBOARD_POLLS).await
        {
            Ok(found) => cred.project_id = Some(found.project_id),
            Err(e @ (DiscoveryError::Upstream(_) | DiscoveryError::OnboardingTimeout)) => {
                return Checked::Unchecked(format!("project discovery: {e}"));
            }
            // The token works but the account cannot use Code Assist yet (verification, an
            // ineligible tier, no project): it is kept, and the identify step that follows
            // sets it aside with the reason and the link the owner must visit.
            Err(e) => {
                tracing::info!(credential = %cred.name, reason = %e, "imported account has no Code Assist project yet");
            }
        }
    }
    if cred.email.is_none() {
        cred.email = code_assist::user_email(up, &tokens.access_token)
            .await
            .ok()
            .flatten();
    }
    Checked::Alive { models: None }
}
