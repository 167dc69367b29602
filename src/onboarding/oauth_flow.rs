//! Pending OAuth sign-ins: the state between "open this consent URL" and "here is the address
//! Google sent me back to". Pure state with an injected clock; the service owns the token
//! exchange (`google::oauth::exchange_code`) and keeps this behind a mutex.
//!
//! Each flow is keyed by a random, opaque `state` (never the panel password, unlike the
//! reference), carries its own PKCE verifier, lives [`FLOW_TTL`] and can complete once. At most
//! [`MAX_PENDING`] flows wait at a time; starting another evicts the oldest.
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use crate::google::oauth::{authorization_url, random_token};
use crate::pool::Clock;
use crate::pool::clock::add;

pub const FLOW_TTL: Duration = Duration::from_secs(10 * 60);
pub const MAX_PENDING: usize = 20;
/// Google's `error_description` is shown to the operator; bound what a crafted URL can inject.
const MAX_ERROR_CHARS: usize = 500;
/// Without this scope the token cannot call Code Assist; Google's granular consent lets the
/// user untick it.
const REQUIRED_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

struct PendingFlow {
    state: String,
    verifier: String,
    redirect_uri: String,
    project_id: Option<String>,
    created_at: DateTime<Utc>,
}

/// What the panel shows the user: open `auth_url`, then paste back where it lands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartedFlow {
    pub state: String,
    pub auth_url: String,
}

/// A completed callback, ready for the code exchange. `redirect_uri` must be sent again as is.
#[derive(Clone, PartialEq, Eq)]
pub struct ReadyFlow {
    pub code: String,
    pub verifier: String,
    pub redirect_uri: String,
    pub project_id: Option<String>,
}

// The code and verifier together are a credential until exchanged.
impl std::fmt::Debug for ReadyFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadyFlow")
            .field("redirect_uri", &self.redirect_uri)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error(
        "not a sign-in address: paste the whole address from the browser's address bar after \
         signing in ({0})"
    )]
    MalformedUrl(&'static str),
    #[error("the address has no state parameter: paste the whole address")]
    MissingState,
    #[error("unknown sign-in: it was already used, replaced by newer ones, or never started here")]
    UnknownState,
    #[error("this sign-in expired (they last 10 minutes): start again")]
    Expired,
    #[error("the address has no authorization code: paste the whole address")]
    MissingCode,
    #[error("parameter \"{0}\" appears more than once")]
    DuplicateParameter(&'static str),
    /// Google's `error` and `error_description`, verbatim (escaping is the view's job).
    #[error("Google refused the sign-in: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied {
        error: String,
        description: Option<String>,
    },
    #[error(
        "the Google Cloud permission was not granted: sign in again and allow every requested \
         permission"
    )]
    ScopeNotGranted,
}

pub struct OAuthFlows {
    clock: Arc<dyn Clock>,
    /// Oldest first. A `Vec` because there are at most [`MAX_PENDING`] flows, and a linear
    /// constant-time scan leaks nothing about stored states through timing.
    pending: Vec<PendingFlow>,
}

impl OAuthFlows {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            pending: Vec::new(),
        }
    }

    /// Opens a flow. `auth_url` is Google's authorization endpoint (the simulator's in tests);
    /// a blank `project_id` counts as none (discover it after the exchange).
    pub fn start(
        &mut self,
        redirect_uri: &str,
        auth_url: &str,
        project_id: Option<String>,
    ) -> StartedFlow {
        let now = self.clock.now();
        self.purge_expired(now);
        while self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        let state = random_token();
        let verifier = random_token();
        let url = authorization_url(auth_url, redirect_uri, &state, &verifier);
        self.pending.push(PendingFlow {
            state: state.clone(),
            verifier,
            redirect_uri: redirect_uri.to_string(),
            project_id: project_id
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty()),
            created_at: now,
        });
        StartedFlow {
            state,
            auth_url: url,
        }
    }

    /// Completes from the whole address the browser landed on (pasted by the user). Lenient
    /// about what surrounds the query: `http://localhost:8080/?code=..`, `localhost/?..`, or the
    /// bare `code=..&state=..` all work.
    pub fn complete_from_callback_url(&mut self, url: &str) -> Result<ReadyFlow, FlowError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(FlowError::MalformedUrl("it is empty"));
        }
        let without_fragment = url.split('#').next().unwrap_or(url);
        let query = match without_fragment.split_once('?') {
            Some((_, query)) => query,
            None if without_fragment.contains('=') && !without_fragment.contains('/') => {
                without_fragment
            }
            None => return Err(FlowError::MalformedUrl("it has no query string")),
        };
        self.complete_from_query(query)
    }

    /// Completes from the query string of a request to our own `/oauth2callback`.
    ///
    /// A flow is consumed by success and by Google's refusal; a paste missing its code leaves
    /// it pending, so the user can paste again.
    pub fn complete_from_query(&mut self, query: &str) -> Result<ReadyFlow, FlowError> {
        let mut params = Params::parse(query.strip_prefix('?').unwrap_or(query))?;
        let now = self.clock.now();
        let Some(state) = params.state.take() else {
            // Without a state no flow can be named, but Google's reason still helps the user.
            return Err(params.denied().unwrap_or(FlowError::MissingState));
        };
        let found = self
            .pending
            .iter()
            .position(|f| bool::from(f.state.as_bytes().ct_eq(state.as_bytes())));
        let Some(index) = found else {
            self.purge_expired(now);
            return Err(FlowError::UnknownState);
        };
        if is_expired(&self.pending[index], now) {
            self.pending.remove(index);
            self.purge_expired(now);
            return Err(FlowError::Expired);
        }
        if let Some(denied) = params.denied() {
            self.pending.remove(index);
            return Err(denied);
        }
        let Some(code) = params.code else {
            return Err(FlowError::MissingCode);
        };
        let flow = self.pending.remove(index);
        self.purge_expired(now);
        if let Some(scope) = params.scope
            && !scope.split_whitespace().any(|s| s == REQUIRED_SCOPE)
        {
            return Err(FlowError::ScopeNotGranted);
        }
        Ok(ReadyFlow {
            code,
            verifier: flow.verifier,
            redirect_uri: flow.redirect_uri,
            project_id: flow.project_id,
        })
    }

    /// Flows still waiting (expired ones are dropped first).
    pub fn pending_count(&mut self) -> usize {
        let now = self.clock.now();
        self.purge_expired(now);
        self.pending.len()
    }

    /// Abandons a flow; `false` when it was not pending.
    pub fn cancel(&mut self, state: &str) -> bool {
        let before = self.pending.len();
        self.pending
            .retain(|f| !bool::from(f.state.as_bytes().ct_eq(state.as_bytes())));
        self.pending.len() != before
    }

    fn purge_expired(&mut self, now: DateTime<Utc>) {
        self.pending.retain(|f| !is_expired(f, now));
    }
}

fn is_expired(flow: &PendingFlow, now: DateTime<Utc>) -> bool {
    now >= add(flow.created_at, FLOW_TTL)
}

#[derive(Default)]
struct Params {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    scope: Option<String>,
}

impl Params {
    fn parse(query: &str) -> Result<Self, FlowError> {
        let mut p = Params::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let (slot, name) = match key.as_ref() {
                "state" => (&mut p.state, "state"),
                "code" => (&mut p.code, "code"),
                "error" => (&mut p.error, "error"),
                "error_description" => (&mut p.error_description, "error_description"),
                "scope" => (&mut p.scope, "scope"),
                _ => continue,
            };
            // Two different states or codes in one address is an attack or a mangled paste.
            if slot.is_some() {
                return Err(FlowError::DuplicateParameter(name));
            }
            let value = value.trim();
            if !value.is_empty() {
                *slot = Some(value.to_string());
            }
        }
        Ok(p)
    }

    fn denied(&self) -> Option<FlowError> {
        let error = self.error.as_deref()?;
        Some(FlowError::Denied {
            error: error.chars().take(MAX_ERROR_CHARS).collect(),
            description: self
                .error_description
                .as_deref()
                .map(|d| d.chars().take(MAX_ERROR_CHARS).collect()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::google::oauth::pkce_challenge;
    use crate::pool::ManualClock;

    const AUTH: &str = "http://127.0.0.1:9/o/oauth2/v2/auth";
    const REDIRECT: &str = "http://localhost:7861/oauth2callback";

    fn setup() -> (Arc<ManualClock>, OAuthFlows) {
        let clock = Arc::new(ManualClock::new(DateTime::<Utc>::UNIX_EPOCH));
        let flows = OAuthFlows::new(clock.clone());
        (clock, flows)
    }

    fn query_of(url: &str) -> std::collections::HashMap<String, String> {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    #[test]
    fn start_then_complete_from_pasted_url() {
        let (_, mut flows) = setup();
        let started = flows.start(REDIRECT, AUTH, Some("  my-proj ".into()));
        let q = query_of(&started.auth_url);
        assert_eq!(q["state"], started.state);
        assert_eq!(q["redirect_uri"], REDIRECT);
        let pasted = format!(
            "{REDIRECT}?state={}&code=4%2F0Ab-xyz&scope=email%20{}",
            started.state,
            url::form_urlencoded::byte_serialize(REQUIRED_SCOPE.as_bytes()).collect::<String>()
        );
        let ready = flows.complete_from_callback_url(&pasted).unwrap();
        assert_eq!(ready.code, "4/0Ab-xyz");
        assert_eq!(ready.redirect_uri, REDIRECT);
        assert_eq!(ready.project_id.as_deref(), Some("my-proj"));
        // The verifier sent back is the one whose challenge went to Google.
        assert_eq!(pkce_challenge(&ready.verifier), q["code_challenge"]);
        assert!(!format!("{ready:?}").contains("0Ab-xyz"));
        // Once only.
        assert_eq!(
            flows.complete_from_callback_url(&pasted),
            Err(FlowError::UnknownState)
        );
        assert_eq!(flows.pending_count(), 0);
    }

    #[test]
    fn states_and_verifiers_are_fresh_and_blank_project_is_none() {
        let (_, mut flows) = setup();
        let a = flows.start(REDIRECT, AUTH, Some(" ".into()));
        let b = flows.start(REDIRECT, AUTH, None);
        assert_ne!(a.state, b.state);
        assert_ne!(
            query_of(&a.auth_url)["code_challenge"],
            query_of(&b.auth_url)["code_challenge"]
        );
        let ready = flows
            .complete_from_query(&format!("?code=c&state={}", a.state))
            .unwrap();
        assert_eq!(ready.project_id, None);
        assert_eq!(flows.pending_count(), 1);
    }

    #[test]
    fn lenient_about_what_surrounds_the_query() {
        let (_, mut flows) = setup();
        for template in [
            "localhost:11451/?code=c&state={}",
            "  http://localhost/?state={}&code=c#frag  ",
            "code=c&state={}",
        ] {
            let s = flows.start(REDIRECT, AUTH, None).state;
            let ready = flows.complete_from_callback_url(&template.replace("{}", &s));
            assert_eq!(ready.map(|r| r.code), Ok("c".to_string()), "{template}");
        }
    }

    #[test]
    fn malformed_inputs() {
        let (_, mut flows) = setup();
        assert!(matches!(
            flows.complete_from_callback_url(""),
            Err(FlowError::MalformedUrl(_))
        ));
        assert!(matches!(
            flows.complete_from_callback_url("http://localhost:8080/callback"),
            Err(FlowError::MalformedUrl(_))
        ));
        assert!(matches!(
            flows.complete_from_callback_url("hello world"),
            Err(FlowError::MalformedUrl(_))
        ));
        assert_eq!(
            flows.complete_from_callback_url("http://x/?code=c"),
            Err(FlowError::MissingState)
        );
        assert_eq!(
            flows.complete_from_callback_url("http://x/?code=c&state=nope"),
            Err(FlowError::UnknownState)
        );
        let s = flows.start(REDIRECT, AUTH, None).state;
        assert_eq!(
            flows.complete_from_query(&format!("state={s}&state=other&code=c")),
            Err(FlowError::DuplicateParameter("state"))
        );
    }

    #[test]
    fn missing_code_keeps_the_flow_for_another_paste() {
        let (_, mut flows) = setup();
        let s = flows.start(REDIRECT, AUTH, None).state;
        assert_eq!(
            flows.complete_from_query(&format!("state={s}")),
            Err(FlowError::MissingCode)
        );
        assert_eq!(
            flows.complete_from_query(&format!("state={s}&code=")),
            Err(FlowError::MissingCode)
        );
        assert!(
            flows
                .complete_from_query(&format!("state={s}&code=c"))
                .is_ok()
        );
    }

    #[test]
    fn google_errors_surface_verbatim_and_consume_the_flow() {
        let (_, mut flows) = setup();
        let s = flows.start(REDIRECT, AUTH, None).state;
        let err = flows
            .complete_from_query(&format!(
                "error=access_denied&error_description=The+user+denied+%3Cb%3Eaccess%3C%2Fb%3E&state={s}"
            ))
            .unwrap_err();
        assert_eq!(
            err,
            FlowError::Denied {
                error: "access_denied".into(),
                description: Some("The user denied <b>access</b>".into()),
            }
        );
        assert!(err.to_string().contains("access_denied"));
        assert_eq!(flows.pending_count(), 0);
        // Without a state the reason is still shown, and no flow is touched.
        let s = flows.start(REDIRECT, AUTH, None).state;
        assert!(matches!(
            flows.complete_from_query("error=invalid_scope"),
            Err(FlowError::Denied {
                description: None,
                ..
            })
        ));
        assert!(flows.cancel(&s));
        assert!(!flows.cancel(&s));
    }

    #[test]
    fn ungranted_cloud_scope_is_refused() {
        let (_, mut flows) = setup();
        let s = flows.start(REDIRECT, AUTH, None).state;
        assert_eq!(
            flows.complete_from_query(&format!(
                "state={s}&code=c&scope=https://www.googleapis.com/auth/userinfo.email"
            )),
            Err(FlowError::ScopeNotGranted)
        );
        assert_eq!(flows.pending_count(), 0);
    }

    #[test]
    fn flows_expire_after_ten_minutes() {
        let (clock, mut flows) = setup();
        let old = flows.start(REDIRECT, AUTH, None).state;
        clock.advance(Duration::from_secs(9 * 60 + 59));
        let young = flows.start(REDIRECT, AUTH, None).state;
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            flows.complete_from_query(&format!("state={old}&code=c")),
            Err(FlowError::Expired)
        );
        assert_eq!(flows.pending_count(), 1);
        assert!(
            flows
                .complete_from_query(&format!("state={young}&code=c"))
                .is_ok()
        );
        // Expired flows are also purged by unrelated calls.
        let s = flows.start(REDIRECT, AUTH, None).state;
        clock.advance(FLOW_TTL);
        assert_eq!(flows.pending_count(), 0);
        assert_eq!(
            flows.complete_from_query(&format!("state={s}&code=c")),
            Err(FlowError::UnknownState)
        );
    }

    #[test]
    fn at_most_twenty_pending_oldest_evicted() {
        let (clock, mut flows) = setup();
        let states: Vec<String> = (0..MAX_PENDING + 2)
            .map(|_| {
                clock.advance(Duration::from_secs(1));
                flows.start(REDIRECT, AUTH, None).state
            })
            .collect();
        assert_eq!(flows.pending_count(), MAX_PENDING);
        for evicted in &states[..2] {
            assert_eq!(
                flows.complete_from_query(&format!("state={evicted}&code=c")),
                Err(FlowError::UnknownState)
            );
        }
        for kept in &states[2..] {
            assert!(
                flows
                    .complete_from_query(&format!("state={kept}&code=c"))
                    .is_ok()
            );
        }
    }
}
