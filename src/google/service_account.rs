//! Vertex AI service accounts: the key file, and the OAuth 2.0 JWT-bearer grant that turns it
//! into an access token. There is no refresh token: when the token
//! nears expiry a new assertion is signed and exchanged.
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::Value;

use super::client::Upstream;

pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Google accepts assertions of at most one hour.
const ASSERTION_LIFETIME_SECS: i64 = 3600;

/// A service-account key file (`"type": "service_account"`), the fields the grant needs.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key_id: Option<String>,
    /// PEM, PKCS#8 RSA. Secret.
    pub private_key: String,
    pub project_id: String,
    pub token_uri: String,
}

// The private key must never reach a log through `{:?}`.
impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("project_id", &self.project_id)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// Why a key file cannot be used. No message carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error("not a service-account key file (\"type\" must be \"service_account\")")]
    NotServiceAccount,
    #[error("the key file has no \"{0}\"")]
    Missing(&'static str),
    #[error("\"private_key\" is not a PEM RSA private key")]
    BadPrivateKey,
}

impl ServiceAccountKey {
    /// Reads a key file as Google's console downloads it. A file whose `type` was stripped but
    /// that has `private_key` and `client_email` is accepted too.
    pub fn from_json(v: &Value) -> Result<Self, KeyFileError> {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        match v.get("type").and_then(Value::as_str) {
            Some("service_account") => {}
            None if v.get("private_key").is_some() && v.get("client_email").is_some() => {}
            _ => return Err(KeyFileError::NotServiceAccount),
        }
        let key = Self {
            client_email: s("client_email").ok_or(KeyFileError::Missing("client_email"))?,
            private_key_id: s("private_key_id"),
            private_key: s("private_key").ok_or(KeyFileError::Missing("private_key"))?,
            project_id: s("project_id").ok_or(KeyFileError::Missing("project_id"))?,
            token_uri: s("token_uri").unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string()),
        };
        EncodingKey::from_rsa_pem(key.private_key.as_bytes())
            .map_err(|_| KeyFileError::BadPrivateKey)?;
        Ok(key)
    }

    /// What identifies this key for duplicate detection: the account and its key id (two key
    /// files of one account are two keys, but the same file twice is one).
    pub fn fingerprint_source(&self) -> String {
        format!(
            "{}\n{}",
            self.client_email,
            self.private_key_id.as_deref().unwrap_or(&self.private_key)
        )
    }
}

/// A granted access token.
#[derive(Clone)]
pub struct GrantedToken {
    pub access_token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum GrantError {
    /// The token endpoint refused the assertion (`invalid_grant`: deleted key or account,
    /// bad signature): the credential is dead until someone fixes it.
    #[error("Google refused the service account: {0}")]
    Rejected(String),
    #[error("token grant failed: {0}")]
    Transient(String),
}

impl GrantError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Rejected(_))
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// The signed RS256 assertion, with `kid` = the key id as Google expects.
pub fn assertion(key: &ServiceAccountKey, now: DateTime<Utc>) -> Result<String, GrantError> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = key.private_key_id.clone();
    let iat = now.timestamp();
    let claims = Claims {
        iss: &key.client_email,
        scope: CLOUD_PLATFORM_SCOPE,
        aud: &key.token_uri,
        iat,
        exp: iat + ASSERTION_LIFETIME_SECS,
    };
    let signing = EncodingKey::from_rsa_pem(key.private_key.as_bytes())
        .map_err(|_| GrantError::Rejected(KeyFileError::BadPrivateKey.to_string()))?;
    jsonwebtoken::encode(&header, &claims, &signing)
        .map_err(|e| GrantError::Rejected(format!("cannot sign the assertion: {e}")))
}

/// `POST token_uri` with the JWT-bearer grant. The key file names its own token endpoint; it
/// is used as given (the simulator's key files name the simulator's).
pub async fn grant(
    up: &Upstream,
    key: &ServiceAccountKey,
    now: DateTime<Utc>,
) -> Result<GrantedToken, GrantError> {
    let jwt = assertion(key, now)?;
    let resp = up
        .client()
        .post(&key.token_uri)
        .form(&[("grant_type", JWT_BEARER), ("assertion", jwt.as_str())])
        .send()
        .await
        .map_err(|e| GrantError::Transient(e.without_url().to_string()))?;
    let status = resp.status().as_u16();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| GrantError::Transient(format!("unreadable token answer: {e}")))?;
    if (200..300).contains(&status) {
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| GrantError::Transient("token answer without access_token".into()))?;
        let secs = body
            .get("expires_in")
            .and_then(Value::as_i64)
            .unwrap_or(3599);
        return Ok(GrantedToken {
            access_token: token.to_string(),
            expires_at: now + chrono::Duration::seconds(secs),
        });
    }
    let error = body.get("error").and_then(Value::as_str).unwrap_or("error");
    let description = body
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let said = if description.is_empty() {
        error.to_string()
    } else {
        format!("{error}: {description}")
    };
    // 4xx from the token endpoint means the key itself is refused; 5xx may pass.
    if status < 500 {
        Err(GrantError::Rejected(said))
    } else {
        Err(GrantError::Transient(format!("HTTP {status}: {said}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file() -> Value {
        json!({
            "type": "service_account",
            "project_id": "p1",
            "private_key_id": "kid1",
            "private_key": include_str!("../simulator/testdata/service_account_key.pem"),
            "client_email": "a@p1.iam.gserviceaccount.com",
            "token_uri": "http://127.0.0.1:1/token",
        })
    }

    #[test]
    fn key_file_is_read_and_checked() {
        let k = ServiceAccountKey::from_json(&file()).unwrap();
        assert_eq!(k.project_id, "p1");
        assert!(!format!("{k:?}").contains("PRIVATE"));
        let mut no_project = file();
        no_project.as_object_mut().unwrap().remove("project_id");
        assert_eq!(
            ServiceAccountKey::from_json(&no_project).unwrap_err(),
            KeyFileError::Missing("project_id")
        );
        let mut bad = file();
        bad["private_key"] = json!("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----");
        assert_eq!(
            ServiceAccountKey::from_json(&bad).unwrap_err(),
            KeyFileError::BadPrivateKey
        );
        assert_eq!(
            ServiceAccountKey::from_json(&json!({"type": "authorized_user"})).unwrap_err(),
            KeyFileError::NotServiceAccount
        );
    }

    #[test]
    fn assertion_carries_googles_claims() {
        let k = ServiceAccountKey::from_json(&file()).unwrap();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let jwt = assertion(&k, now).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.kid.as_deref(), Some("kid1"));
        assert_eq!(header.alg, Algorithm::RS256);
        let claims: Value = jsonwebtoken::dangerous::insecure_decode(&jwt)
            .unwrap()
            .claims;
        assert_eq!(claims["iss"], "a@p1.iam.gserviceaccount.com");
        assert_eq!(claims["aud"], "http://127.0.0.1:1/token");
        assert_eq!(claims["scope"], CLOUD_PLATFORM_SCOPE);
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            3600
        );
    }
}
