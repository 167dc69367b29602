//! Who is making a management change, for the audit log.
//!
//! The API and the panel run every request inside [`scope`] with the client address; the
//! authentication check then names the actor ([`set_actor`]). Code that records an event, in
//! a handler or deep in a service, reads both with [`current`] instead of every service
//! signature carrying them. Outside a scope (startup, background tasks) the actor is `system`.
use std::cell::RefCell;
use std::future::Future;
use std::net::IpAddr;

use serde_json::Value;

use crate::store::{self, Store, audit::NewAuditEvent};

/// The actor and origin of the change being made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Who {
    /// `panel-session:<id>`, `api-session:<id>`, `api-password`, `anonymous` (a sign-in
    /// attempt before it is known to be right) or `system`.
    pub actor: String,
    /// The client address (the peer, or what `TRUSTED_PROXIES` report).
    pub origin: Option<String>,
}

impl Default for Who {
    fn default() -> Self {
        Self {
            actor: "system".into(),
            origin: None,
        }
    }
}

tokio::task_local! {
    static CURRENT: RefCell<Who>;
}

/// Run `f` as a request from `origin`; the actor is `anonymous` until [`set_actor`].
pub async fn scope<F: Future>(origin: Option<IpAddr>, f: F) -> F::Output {
    let who = Who {
        actor: "anonymous".into(),
        origin: origin.map(|ip| ip.to_string()),
    };
    CURRENT.scope(RefCell::new(who), f).await
}

/// Name the authenticated caller of the current request (no-op outside a scope).
pub fn set_actor(actor: impl Into<String>) {
    let actor = actor.into();
    let _ = CURRENT.try_with(|w| w.borrow_mut().actor = actor);
}

pub fn current() -> Who {
    CURRENT.try_with(|w| w.borrow().clone()).unwrap_or_default()
}

/// A short, stable, non-secret id for a session token id (the JWT `jti`, itself random).
pub fn session_actor(prefix: &str, jti: &str) -> String {
    format!("{prefix}:{}", jti.get(..12).unwrap_or(jti))
}

/// An event by the current caller. `detail` must not carry secrets.
pub fn event(kind: &str, subject: Option<String>, detail: Value) -> NewAuditEvent {
    let who = current();
    NewAuditEvent {
        kind: kind.into(),
        actor: who.actor,
        origin: who.origin,
        subject,
        detail,
    }
}

/// Append an event by the current caller. A failure is logged, not returned: the change it
/// describes has already happened and must not be reported as failed.
pub async fn record(store: &Store, kind: &str, subject: Option<String>, detail: Value) {
    let ev = event(kind, subject, detail);
    let kind = ev.kind.clone();
    if let Err(e) = store
        .run(move |db| store::audit::append(db, &ev, store::now_ms()).map(|_| ()))
        .await
    {
        tracing::error!(error = %e, kind, "cannot write the audit log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_scope_carries_origin_and_actor() {
        assert_eq!(current(), Who::default());
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        scope(Some(ip), async {
            assert_eq!(current().actor, "anonymous");
            set_actor(session_actor("api-session", "0123456789abcdef"));
            let ev = event("x", None, Value::Null);
            assert_eq!(ev.actor, "api-session:0123456789ab");
            assert_eq!(ev.origin.as_deref(), Some("203.0.113.9"));
        })
        .await;
        set_actor("ignored");
        assert_eq!(current(), Who::default());
    }
}
