//! Who may call the management API: the panel password, or a session token (JWT) obtained
//! with it.
//!
//! Holding a [`Panel`] IS the authorization check: every protected operation takes one as an
//! argument, so poem-openapi runs [`check_panel`] before the handler and the gate cannot be
//! forgotten.
//!
//! Session tokens are HS256 JWTs signed with a key drawn at random when the API is mounted: a
//! restart signs everyone out. Each token carries an `epoch` derived from the stored hashes of
//! the panel and shared passwords, checked on every use, so changing either password (through
//! this API or any other caller of `Passwords::set`) invalidates every token issued before.
//! Sign-out revokes one token by its id until it would have expired anyway.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parking_lot::Mutex;
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// How long a session token is valid.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
const ISSUER: &str = "gcli2api";
const AUDIENCE: &str = "gcli2api-panel";

/// The authenticated caller of a management operation.
#[derive(SecurityScheme)]
#[oai(
    rename = "PanelAuth",
    ty = "bearer",
    bearer_format = "panel password or session JWT",
    checker = "check_panel"
)]
pub struct PanelAuth(pub Panel);

#[derive(Clone, Debug)]
pub struct Panel {
    /// The session token's id, when the caller used one (for sign-out).
    pub session: Option<SessionRef>,
}

#[derive(Clone, Debug)]
pub struct SessionRef {
    pub id: String,
    pub expires_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    exp: i64,
    jti: String,
    epoch: String,
}

/// Per-process state of the API's authentication, attached to every request as data.
#[derive(Clone)]
pub struct AuthContext {
    inner: Arc<Inner>,
}

struct Inner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    revoked: Mutex<HashMap<String, i64>>,
    pub(super) started: Instant,
    pub(super) started_at: chrono::DateTime<chrono::Utc>,
}

/// A newly issued session token.
pub struct Issued {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl Default for AuthContext {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthContext {
    pub fn new() -> Self {
        let key: [u8; 32] = rand::random();
        Self {
            inner: Arc::new(Inner {
                encoding: EncodingKey::from_secret(&key),
                decoding: DecodingKey::from_secret(&key),
                revoked: Mutex::new(HashMap::new()),
                started: Instant::now(),
                started_at: chrono::Utc::now(),
            }),
        }
    }

    pub fn started(&self) -> (Instant, chrono::DateTime<chrono::Utc>) {
        (self.inner.started, self.inner.started_at)
    }

    pub async fn issue(&self, state: &AppState) -> Result<Issued, String> {
        let epoch = password_epoch(state).await?;
        let now = chrono::Utc::now();
        let expires_at = now
            + chrono::Duration::from_std(SESSION_TTL)
                .unwrap_or_else(|_| chrono::Duration::hours(12));
        let jti: [u8; 16] = rand::random();
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: "panel".into(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: hex::encode(jti),
            epoch,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.inner.encoding,
        )
        .map_err(|e| format!("cannot sign the session token: {e}"))?;
        Ok(Issued { token, expires_at })
    }

    /// The session a token stands for, if it is valid, current and not revoked.
    pub(crate) async fn session(&self, state: &AppState, token: &str) -> Option<SessionRef> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 5;
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[AUDIENCE]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &v).ok()?;
        let c = data.claims;
        if self.is_revoked(&c.jti) {
            return None;
        }
        let epoch = password_epoch(state).await.ok()?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            epoch.as_bytes(),
            c.epoch.as_bytes(),
        )) {
            return None;
        }
        Some(SessionRef {
            id: c.jti,
            expires_at: c.exp,
        })
    }

    fn is_revoked(&self, jti: &str) -> bool {
        let map = self.inner.revoked.lock();
        map.contains_key(jti)
    }

    pub fn revoke(&self, s: &SessionRef) {
        let now = chrono::Utc::now().timestamp();
        let mut map = self.inner.revoked.lock();
        // Expired tokens fail validation on their own; keeping them would only grow the map.
        map.retain(|_, exp| *exp > now);
        map.insert(s.id.clone(), s.expires_at);
    }
}

async fn password_epoch(state: &AppState) -> Result<String, String> {
    state
        .passwords
        .panel_epoch()
        .await
        .map_err(|e| e.to_string())
}

/// The client address (the peer, or what `TRUSTED_PROXIES` report), for failure limits.
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    crate::security::client_ip(req)
}

pub fn throttled_response(retry_after: u64) -> poem::Response {
    let mut r = ApiError::new(
        ErrorCode::TooManyAttempts,
        format!("too many failed attempts from this address; retry in {retry_after} s"),
    )
    .into_poem_response();
    if let Ok(v) = retry_after.to_string().parse() {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

fn unauthorized() -> poem::Error {
    poem::Error::from_response(
        ApiError::new(
            ErrorCode::Unauthorized,
            "wrong panel password or expired session",
        )
        .into_poem_response(),
    )
}

async fn check_panel(req: &Request, bearer: Bearer) -> poem::Result<Panel> {
    let (Some(state), Some(auth)) = (req.data::<AppState>(), req.data::<AuthContext>()) else {
        return Err(poem::Error::from_response(
            ApiError::new(
                ErrorCode::Internal,
                "management API is not mounted with its state",
            )
            .into_poem_response(),
        ));
    };
    let ip = client_ip(req);
    let token = bearer.token.trim();
    if looks_like_jwt(token)
        && let Some(s) = auth.session(state, token).await
    {
        state.attempts.success(ip);
        return Ok(Panel { session: Some(s) });
    }
    // Checked even while the address is over the limit: the right password still gets in
    // (one SHA-256 once it has been accepted before); only wrong ones are refused with 429.
    if state.passwords.verify_panel(token).await {
        state.attempts.success(ip);
        return Ok(Panel { session: None });
    }
    match state.attempts.failure(ip, "api") {
        Ok(()) => Err(unauthorized()),
        Err(secs) => Err(poem::Error::from_response(throttled_response(secs))),
    }
}

fn looks_like_jwt(t: &str) -> bool {
    t.starts_with("ey") && t.split('.').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_keeps_only_live_tokens() {
        let a = AuthContext::new();
        let now = chrono::Utc::now().timestamp();
        a.revoke(&SessionRef {
            id: "old".into(),
            expires_at: now - 10,
        });
        a.revoke(&SessionRef {
            id: "new".into(),
            expires_at: now + 100,
        });
        assert!(a.is_revoked("new"));
        assert!(
            !a.is_revoked("old"),
            "expired entries are pruned on the next revoke"
        );
    }
}
