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
/// Failed attempts from one address within [`ATTEMPT_WINDOW`] before it is refused.
pub const MAX_FAILED_ATTEMPTS: u32 = 10;
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at once; past this, the stalest entries are forgotten first.
const MAX_TRACKED_ADDRESSES: usize = 10_000;
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
    attempts: Mutex<HashMap<IpAddr, Attempts>>,
    revoked: Mutex<HashMap<String, i64>>,
    pub(super) started: Instant,
    pub(super) started_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone, Copy)]
struct Attempts {
    window_start: Instant,
    failures: u32,
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
                attempts: Mutex::new(HashMap::new()),
                revoked: Mutex::new(HashMap::new()),
                started: Instant::now(),
                started_at: chrono::Utc::now(),
            }),
        }
    }

    pub fn started(&self) -> (Instant, chrono::DateTime<chrono::Utc>) {
        (self.inner.started, self.inner.started_at)
    }

    /// `Err(seconds)` while `ip` is locked out after too many failures.
    pub fn throttled(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        let Some(ip) = ip else { return Ok(()) };
        let now = Instant::now();
        let map = self.inner.attempts.lock();
        match map.get(&ip) {
            Some(a)
                if a.failures >= MAX_FAILED_ATTEMPTS
                    && now.duration_since(a.window_start) < ATTEMPT_WINDOW =>
            {
                let left = ATTEMPT_WINDOW.saturating_sub(now.duration_since(a.window_start));
                Err(left.as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let now = Instant::now();
        let mut map = self.inner.attempts.lock();
        if map.len() >= MAX_TRACKED_ADDRESSES && !map.contains_key(&ip) {
            map.retain(|_, a| now.duration_since(a.window_start) < ATTEMPT_WINDOW);
            if map.len() >= MAX_TRACKED_ADDRESSES
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, a)| a.window_start)
                    .map(|(ip, _)| *ip)
            {
                map.remove(&oldest);
            }
        }
        let entry = map.entry(ip).or_insert(Attempts {
            window_start: now,
            failures: 0,
        });
        if now.duration_since(entry.window_start) >= ATTEMPT_WINDOW {
            *entry = Attempts {
                window_start: now,
                failures: 0,
            };
        }
        entry.failures += 1;
        if entry.failures == MAX_FAILED_ATTEMPTS {
            tracing::warn!(%ip, "too many failed management sign-ins; refusing this address for a minute");
        }
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

pub fn client_ip(req: &Request) -> Option<IpAddr> {
    req.remote_addr().as_socket_addr().map(|a| a.ip())
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
    if let Err(secs) = auth.throttled(ip) {
        return Err(poem::Error::from_response(throttled_response(secs)));
    }
    let token = bearer.token.trim();
    if looks_like_jwt(token)
        && let Some(s) = auth.session(state, token).await
    {
        return Ok(Panel { session: Some(s) });
    }
    if state.passwords.verify_panel(token).await {
        return Ok(Panel { session: None });
    }
    auth.record_failure(ip);
    Err(unauthorized())
}

fn looks_like_jwt(t: &str) -> bool {
    t.starts_with("ey") && t.split('.').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_after_ten_failures_in_a_window() {
        let a = AuthContext::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..MAX_FAILED_ATTEMPTS - 1 {
            a.record_failure(Some(ip));
            assert!(a.throttled(Some(ip)).is_ok());
        }
        a.record_failure(Some(ip));
        let secs = a.throttled(Some(ip)).unwrap_err();
        assert!((1..=60).contains(&secs));
        assert!(a.throttled(Some(other)).is_ok());
        assert!(a.throttled(None).is_ok());
    }

    #[test]
    fn tracked_addresses_are_bounded() {
        let a = AuthContext::new();
        for i in 0..(MAX_TRACKED_ADDRESSES as u32 + 50) {
            a.record_failure(Some(IpAddr::from(i.to_be_bytes())));
        }
        let n = a.inner.attempts.lock().len();
        assert!(n <= MAX_TRACKED_ADDRESSES, "{n}");
    }

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
