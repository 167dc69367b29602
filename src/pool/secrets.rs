//! The secrets of each credential, by kind: OAuth tokens (Code Assist), an API key (Gemini API,
//! Vertex express), or a service-account key with its current access token (Vertex). Only the
//! pool service holds them in memory, and every one is registered with the log redactor while
//! it is held, so no log line or error text can carry it.
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::google::kind::CredentialKind;
use crate::google::oauth;
use crate::google::service_account::{GrantedToken, ServiceAccountKey};

/// OAuth tokens of a Code Assist credential.
#[derive(Clone)]
pub(crate) struct Tokens {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub access_token: Option<String>,
    pub expiry: Option<DateTime<Utc>>,
}

/// A service-account key and the access token last granted for it.
#[derive(Clone)]
pub(crate) struct ServiceAccount {
    pub key: ServiceAccountKey,
    pub token: Option<GrantedToken>,
}

#[derive(Clone)]
pub(crate) enum Secret {
    OAuth(Tokens),
    ApiKey(String),
    ServiceAccount(ServiceAccount),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OAuth(t) => f
                .debug_struct("OAuth")
                .field("expiry", &t.expiry)
                .finish_non_exhaustive(),
            Self::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Self::ServiceAccount(s) => f
                .debug_struct("ServiceAccount")
                .field("key", &s.key)
                .finish_non_exhaustive(),
        }
    }
}

/// Why a stored payload gives no usable secret (shown as the credential's ban reason).
pub(crate) fn missing_reason(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::CodeAssist => "credential has no refresh token",
        CredentialKind::GeminiApiKey | CredentialKind::VertexExpressKey => {
            "credential has no API key"
        }
        CredentialKind::VertexServiceAccount => "credential has no usable service-account key",
    }
}

fn parse_expiry(payload: &Value) -> Option<DateTime<Utc>> {
    if let Some(s) = payload.get("expiry").and_then(|v| v.as_str()) {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(t.with_timezone(&Utc));
        }
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
            return Some(t.and_utc());
        }
    }
    payload
        .get("expiry_date")
        .and_then(|v| v.as_i64())
        .and_then(DateTime::from_timestamp_millis)
}

fn tokens_of(payload: &Value) -> Option<Tokens> {
    let s = |k: &str| {
        payload
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Some(Tokens {
        client_id: s("client_id").unwrap_or_else(|| oauth::GEMINI_CLI_CLIENT_ID.to_string()),
        client_secret: s("client_secret")
            .unwrap_or_else(|| oauth::GEMINI_CLI_CLIENT_SECRET.to_string()),
        refresh_token: s("refresh_token")?,
        access_token: s("access_token").or_else(|| s("token")),
        expiry: parse_expiry(payload),
    })
}

/// The payload key holding an API key.
pub(crate) const API_KEY_FIELD: &str = "api_key";

/// The secret a stored payload holds for its kind; `None` when it holds none.
pub(crate) fn secret_of(kind: CredentialKind, payload: &Value) -> Option<Secret> {
    match kind {
        CredentialKind::CodeAssist => tokens_of(payload).map(Secret::OAuth),
        CredentialKind::GeminiApiKey | CredentialKind::VertexExpressKey => payload
            .get(API_KEY_FIELD)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| Secret::ApiKey(k.to_string())),
        CredentialKind::VertexServiceAccount => ServiceAccountKey::from_json(payload)
            .ok()
            .map(|key| Secret::ServiceAccount(ServiceAccount { key, token: None })),
    }
}

impl Secret {
    fn parts(&self) -> Vec<&str> {
        match self {
            Self::OAuth(t) => {
                let mut v = vec![t.refresh_token.as_str(), t.client_secret.as_str()];
                v.extend(t.access_token.as_deref());
                v
            }
            Self::ApiKey(k) => vec![k.as_str()],
            Self::ServiceAccount(s) => {
                let mut v = vec![s.key.private_key.as_str()];
                v.extend(s.token.as_ref().map(|t| t.access_token.as_str()));
                v
            }
        }
    }

    pub fn register(&self) {
        crate::logs::register_secrets(self.parts());
    }

    /// The client secret is the Gemini CLI's public one for most credentials; it stays
    /// registered (other credentials share it).
    pub fn forget(&self) {
        let keep = match self {
            Self::OAuth(t) => Some(t.client_secret.as_str()),
            _ => None,
        };
        for p in self.parts().into_iter().filter(|p| Some(*p) != keep) {
            crate::logs::forget_secret(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_reads_its_own_payload() {
        assert!(matches!(
            secret_of(CredentialKind::CodeAssist, &json!({"refresh_token": "r"})),
            Some(Secret::OAuth(_))
        ));
        assert!(secret_of(CredentialKind::CodeAssist, &json!({"api_key": "AQ.x"})).is_none());
        assert!(matches!(
            secret_of(CredentialKind::GeminiApiKey, &json!({"api_key": " AQ.x "})),
            Some(Secret::ApiKey(k)) if k == "AQ.x"
        ));
        assert!(secret_of(CredentialKind::VertexExpressKey, &json!({"api_key": ""})).is_none());
        assert!(secret_of(CredentialKind::VertexServiceAccount, &json!({"type": "x"})).is_none());
        let dbg = format!(
            "{:?}",
            secret_of(
                CredentialKind::GeminiApiKey,
                &json!({"api_key": "AQ.SECRET"})
            )
            .unwrap()
        );
        assert!(!dbg.contains("SECRET"), "{dbg}");
    }
}
