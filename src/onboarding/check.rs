//! Every new key or service account is checked with Google before it is stored: a Gemini API
//! key by its model list (which also tells its models), an express key by a free countTokens
//! call, a service account by a token grant. A dead one is refused with Google's reason in
//! plain words; one that cannot be checked (Google unreachable) is kept, unchecked, and the
//! pool finds out on first use.
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
