//! OAuth against Google's token endpoint: refresh, code exchange, and the authorization URL with
//! state and PKCE.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::client::Upstream;

/// Gemini CLI's public "installed application" client; Google documents that its secret is not
/// confidential. Used whenever a credential file carries no client of its own.
pub const GEMINI_CLI_CLIENT_ID: &str =
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";
pub const GEMINI_CLI_CLIENT_SECRET: &str = "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";
pub const SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
];

#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// Present on code exchange, and on refresh only when Google rotates it: must be saved.
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("token endpoint rejected the request ({status} {error}): {description}")]
    Rejected {
        status: u16,
        error: String,
        description: String,
    },
    #[error("token endpoint unavailable ({status})")]
    Unavailable { status: u16 },
    #[error("token endpoint unreachable: {0}")]
    Transport(String),
    #[error("token endpoint sent an unreadable reply: {0}")]
    Malformed(String),
}

impl OAuthError {
    /// Errors that no retry can fix: the credential must be disabled with this reason.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Rejected { error, .. }
            if matches!(error.as_str(), "invalid_grant" | "invalid_client" | "unauthorized_client"))
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: serde_json::Value,
    #[serde(default)]
    error_description: Option<String>,
}

async fn token_call(up: &Upstream, form: &[(&str, &str)]) -> Result<TokenResponse, OAuthError> {
    let url = format!("{}/token", up.config().oauth);
    let resp = up
        .client()
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| OAuthError::Transport(e.without_url().to_string()))?;
    let status = resp.status().as_u16();
    let body = resp
        .bytes()
        .await
        .map_err(|e| OAuthError::Transport(e.to_string()))?;
    if (200..300).contains(&status) {
        return serde_json::from_slice(&body).map_err(|e| OAuthError::Malformed(e.to_string()));
    }
    if status == 429 || status >= 500 {
        return Err(OAuthError::Unavailable { status });
    }
    let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
    let (error, description) = match parsed {
        Some(b) => {
            let error = match &b.error {
                serde_json::Value::String(s) => s.clone(),
                // Some Google endpoints answer with a google.rpc.Status object instead.
                serde_json::Value::Object(o) => o
                    .get("status")
                    .and_then(|s| s.as_str())
                    .unwrap_or("error")
                    .to_lowercase(),
                _ => "error".into(),
            };
            (error, b.error_description.unwrap_or_default())
        }
        None => (
            "error".into(),
            String::from_utf8_lossy(&body).chars().take(200).collect(),
        ),
    };
    Err(OAuthError::Rejected {
        status,
        error,
        description,
    })
}

pub async fn refresh(
    up: &Upstream,
    client_id: &str,
    client_secret: &str,
    refresh_token: &str,
) -> Result<TokenResponse, OAuthError> {
    token_call(
        up,
        &[
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("refresh_token", refresh_token),
            ("grant_type", "refresh_token"),
        ],
    )
    .await
}

pub async fn exchange_code(
    up: &Upstream,
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
) -> Result<TokenResponse, OAuthError> {
    token_call(
        up,
        &[
            ("client_id", GEMINI_CLI_CLIENT_ID),
            ("client_secret", GEMINI_CLI_CLIENT_SECRET),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("grant_type", "authorization_code"),
            ("code_verifier", code_verifier),
        ],
    )
    .await
}

/// A fresh random token for `state` and PKCE verifiers (32 bytes, URL-safe).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The consent URL: offline access with forced consent so Google always issues a refresh token.
pub fn authorization_url(
    auth_url: &str,
    redirect_uri: &str,
    state: &str,
    verifier: &str,
) -> String {
    let mut url = url::Url::parse(auth_url).unwrap_or_else(|_| {
        url::Url::parse("https://accounts.google.com/o/oauth2/v2/auth").expect("static URL")
    });
    url.query_pairs_mut()
        .append_pair("client_id", GEMINI_CLI_CLIENT_ID)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", &SCOPES.join(" "))
        .append_pair("access_type", "offline")
        .append_pair("prompt", "consent")
        .append_pair("include_granted_scopes", "true")
        .append_pair("state", state)
        .append_pair("code_challenge", &pkce_challenge(verifier))
        .append_pair("code_challenge_method", "S256");
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_example() {
        // Appendix B of RFC 7636.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn auth_url_carries_offline_consent_state_and_pkce() {
        let u = authorization_url(
            "http://127.0.0.1:9/o/oauth2/v2/auth",
            "http://localhost:7861/oauth2callback",
            "st",
            "ver",
        );
        let url = url::Url::parse(&u).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["state"], "st");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"], pkce_challenge("ver"));
        assert_eq!(q["redirect_uri"], "http://localhost:7861/oauth2callback");
    }

    #[test]
    fn only_grant_and_client_errors_are_permanent() {
        let rej = |e: &str| OAuthError::Rejected {
            status: 400,
            error: e.into(),
            description: String::new(),
        };
        assert!(rej("invalid_grant").is_permanent());
        assert!(rej("invalid_client").is_permanent());
        assert!(!rej("invalid_request").is_permanent());
        assert!(!OAuthError::Unavailable { status: 503 }.is_permanent());
        assert!(!OAuthError::Transport("reset".into()).is_permanent());
    }
}
