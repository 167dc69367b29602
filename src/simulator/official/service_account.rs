//! Vertex service accounts: the OAuth 2.0 JWT-bearer grant at the key file's `token_uri`. The
//! assertion's RS256 signature is verified against the public half of the key
//! the simulator put in the account's key file; then `iss`, `aud`, `iat`/`exp` and `scope` are
//! checked as Google's token endpoint does.

use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use poem::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::types::ServiceAccountState;
use crate::simulator::errors::{json_response, oauth_error};
use crate::simulator::http::Ctx;
use crate::simulator::state::{Inner, TokenEntry, random_urlsafe};

// TEST FIXTURE, NOT A SECRET. This RSA key pair was generated for the simulator and is checked
// in so debug test builds need not generate RSA keys (slow without optimisation). Every
// simulated service account's key file carries this private key; only the simulator's token
// endpoint accepts signatures made with it. Nothing outside the simulator may trust it.
pub(crate) const PRIVATE_KEY_PEM: &str = include_str!("../testdata/service_account_key.pem");
const PUBLIC_KEY_PEM: &str = include_str!("../testdata/service_account_key.pub.pem");

/// Google's assertions may be up to an hour long; clocks may differ a little.
const MAX_LIFETIME_SECS: i64 = 3600;
const CLOCK_SKEW_SECS: i64 = 60;
const SHORT_LIVED: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";
const BAD_SIGNATURE: &str = "Invalid JWT Signature.";
const NO_ACCOUNT: &str = "Invalid grant: account not found";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Claims {
    pub iss: Option<String>,
    pub scope: Option<String>,
    /// A string; an array is refused like any other wrong audience.
    pub aud: Option<Value>,
    pub iat: Option<i64>,
    pub exp: Option<i64>,
}

/// The claimed issuer, unverified: for the request log and fault matching only.
pub(crate) fn assertion_issuer(assertion: &str) -> Option<String> {
    jsonwebtoken::dangerous::insecure_decode::<Claims>(assertion)
        .ok()?
        .claims
        .iss
}

/// The OAuth error for claims that fail Google's checks, after the signature verified.
pub(crate) fn claims_problem(
    claims: &Claims,
    now: i64,
    token_uri: &str,
) -> Option<(u16, &'static str, String)> {
    if claims.aud.as_ref().and_then(Value::as_str) != Some(token_uri) {
        return Some((
            400,
            "invalid_grant",
            format!("Invalid JWT: Failed audience check. The right audience is {token_uri}"),
        ));
    }
    let (Some(iat), Some(exp)) = (claims.iat, claims.exp) else {
        return Some((400, "invalid_grant", SHORT_LIVED.to_string()));
    };
    if exp <= now || iat > now + CLOCK_SKEW_SECS || exp - iat > MAX_LIFETIME_SECS || exp <= iat {
        return Some((400, "invalid_grant", SHORT_LIVED.to_string()));
    }
    if claims.scope.as_deref().is_none_or(|s| s.trim().is_empty()) {
        return Some((
            400,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.".to_string(),
        ));
    }
    None
}

fn refuse(status: u16, error: &str, description: &str) -> Response {
    json_response(status, &oauth_error(error, description))
}

fn verified_claims(assertion: &str, kid: Option<&str>, key_id: &str) -> Option<Claims> {
    if kid.is_some_and(|k| k != key_id) {
        return None;
    }
    let key = DecodingKey::from_rsa_pem(PUBLIC_KEY_PEM.as_bytes()).ok()?;
    let mut validation = Validation::new(Algorithm::RS256);
    // Time, audience and issuer are checked by `claims_problem` with Google's messages.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Claims>(assertion, &key, &validation)
        .ok()
        .map(|d| d.claims)
}

/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>`.
pub(crate) fn grant(ctx: &Ctx) -> Response {
    let Some(assertion) = ctx.form("assertion").filter(|a| !a.is_empty()) else {
        return refuse(
            400,
            "invalid_request",
            "Missing required parameter: assertion",
        );
    };
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return refuse(400, "invalid_grant", "Bad Request");
    };
    let Some(issuer) = assertion_issuer(assertion) else {
        return refuse(400, "invalid_grant", NO_ACCOUNT);
    };
    let mut inner = ctx.state.lock();
    let Some(account) = inner.official.account(&issuer) else {
        return refuse(400, "invalid_grant", NO_ACCOUNT);
    };
    let (email, key_id, state, lifetime) = (
        account.seeded.client_email.clone(),
        account.seeded.private_key_id.clone(),
        account.seeded.state,
        account.token_lifetime_secs,
    );
    match state {
        ServiceAccountState::Deleted => return refuse(400, "invalid_grant", NO_ACCOUNT),
        ServiceAccountState::KeyDeleted => return refuse(400, "invalid_grant", BAD_SIGNATURE),
        ServiceAccountState::Active => {}
    }
    if header.alg != Algorithm::RS256 {
        return refuse(400, "invalid_grant", BAD_SIGNATURE);
    }
    let Some(claims) = verified_claims(assertion, header.kid.as_deref(), &key_id) else {
        return refuse(400, "invalid_grant", BAD_SIGNATURE);
    };
    let token_uri = format!("{}/token", ctx.state.base_url);
    if let Some((status, error, description)) =
        claims_problem(&claims, Utc::now().timestamp(), &token_uri)
    {
        return refuse(status, error, &description);
    }
    let scope = claims.scope.unwrap_or_default();
    let (token, expires_in) = issue_token(&mut inner, &email, &scope, lifetime);
    tracing::debug!(%email, "simulator issued a service-account token");
    json_response(
        200,
        &json!({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}),
    )
}

fn issue_token(inner: &mut Inner, email: &str, scope: &str, lifetime: u64) -> (String, u64) {
    let token = format!("ya29.c.sim-{}", random_urlsafe(60));
    let secs = i64::try_from(lifetime).unwrap_or(3599);
    inner.tokens.insert(
        token.clone(),
        TokenEntry {
            email: email.to_string(),
            expires_at: Utc::now() + Duration::seconds(secs),
            revoked: false,
            scope: scope.to_string(),
        },
    );
    (token, lifetime)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const URI: &str = "http://127.0.0.1:1/token";

    fn claims(v: Value) -> Claims {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn claims_are_checked_like_googles_token_endpoint() {
        let now = 1_800_000_000;
        let good = json!({"iss": "a@p.iam.gserviceaccount.com", "aud": URI, "scope": "https://www.googleapis.com/auth/cloud-platform", "iat": now, "exp": now + 3600});
        assert!(claims_problem(&claims(good.clone()), now, URI).is_none());
        let with = |k: &str, v: Value| {
            let mut c = good.clone();
            c[k] = v;
            claims_problem(&claims(c), now, URI).map(|(s, e, _)| (s, e))
        };
        assert_eq!(
            with("aud", json!("https://oauth2.googleapis.com/token")),
            Some((400, "invalid_grant"))
        );
        assert_eq!(
            with("exp", json!(now - 1)),
            Some((400, "invalid_grant")),
            "expired"
        );
        assert_eq!(
            with("exp", json!(now + 3601)),
            Some((400, "invalid_grant")),
            "too long"
        );
        assert_eq!(
            with("iat", json!(now + 600)),
            Some((400, "invalid_grant")),
            "future"
        );
        assert_eq!(with("scope", json!("")), Some((400, "invalid_scope")));
    }

    #[test]
    fn fixture_key_signs_what_its_public_half_verifies() {
        let key = EncodingKey::from_rsa_pem(PRIVATE_KEY_PEM.as_bytes()).unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("kid1".into());
        let jwt = jsonwebtoken::encode(&header, &json!({"iss": "x@y", "aud": URI}), &key).unwrap();
        assert_eq!(assertion_issuer(&jwt).as_deref(), Some("x@y"));
        assert!(verified_claims(&jwt, Some("kid1"), "kid1").is_some());
        assert!(
            verified_claims(&jwt, Some("kid1"), "other").is_none(),
            "kid must match"
        );
        // Flip a character well inside the signature (the last one holds padding bits).
        let mut chars: Vec<char> = jwt.chars().collect();
        let i = chars.len() - 10;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(verified_claims(&tampered, None, "kid1").is_none());
    }
}
