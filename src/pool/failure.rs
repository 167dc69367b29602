//! What a failed upstream call does to a credential, and what the caller should do next.
//!
//! The google error classifier maps a response to a [`Failure`]; this module is the one place that
//! turns it into state: cooldowns (capped, with a probe), bans, "unable" marks.
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::clock::add;
use super::state::{Ban, BanKind, Cooldown, CooldownReason, CredentialState};

/// Hot settings the pool reacts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Requests served by one credential before rotation moves on (0 is treated as 1).
    pub calls_per_rotation: u32,
    /// No cooldown lasts longer than this; at the cap one probe request is let through.
    pub cooldown_cap: Duration,
    pub auto_ban: bool,
    pub auto_ban_codes: Vec<u16>,
    /// Cooldown for a 429 that names no delay.
    pub rate_limit_default: Duration,
    /// Cooldown for an exhausted quota that names no reset (the generic RESOURCE_EXHAUSTED).
    pub quota_default: Duration,
    /// How long a cap probe may stay out before another one is allowed; bounds the damage of a
    /// probe whose outcome is never reported (client gone, task dropped).
    pub probe_lease: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            calls_per_rotation: 1,
            cooldown_cap: Duration::from_secs(3600),
            auto_ban: false,
            auto_ban_codes: vec![403],
            rate_limit_default: Duration::from_secs(60),
            quota_default: Duration::from_secs(4 * 3600),
            probe_lease: Duration::from_secs(120),
        }
    }
}

/// A classified upstream (or refresh) failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// RATE_LIMIT_EXCEEDED and other short, retryable 429s.
    RateLimited { retry_after: Option<Duration> },
    /// QUOTA_EXHAUSTED / daily quota: gone until a reset (`until` wins over `after`).
    QuotaExhausted {
        until: Option<DateTime<Utc>>,
        after: Option<Duration>,
    },
    /// MODEL_CAPACITY_EXHAUSTED: Google is out of capacity for the model, not this account.
    Capacity,
    /// 5xx before any byte reached the client.
    Server(u16),
    /// 403 and friends. Bans only when AUTO_BAN is on and the status is listed.
    Forbidden {
        status: u16,
        reason: String,
        link: Option<String>,
    },
    /// 404 for a (preview) model this account cannot use.
    ModelUnavailable,
    /// 401 from the API (`permanent: false`: refresh and retry), or a refresh the token
    /// endpoint rejected for good (`permanent: true`: disabled whatever AUTO_BAN says).
    /// `reason` must never carry a token.
    AuthFailed { permanent: bool, reason: String },
    /// The connection failed; nothing says the credential is at fault.
    Transport,
    /// The request itself was wrong (400, 404 on a regular model): the client's problem.
    Rejected,
    /// Google refused the credential itself for good (a dead or blocked key, a deleted
    /// service account): disabled with the reason whatever AUTO_BAN says.
    CredentialRejected { status: u16, reason: String },
    /// The official upstreams' 5xx / `UNAVAILABLE` ("the model is overloaded"): usually
    /// model-wide, so the model rests briefly on this credential while others are tried.
    Overloaded { after: Duration },
    /// A per-day quota of this model is spent until Google's daily reset, midnight Pacific.
    /// Not capped: the reset time is known exactly, so a probe before it would only fail.
    DailyExhausted,
}

/// When Google's daily quotas roll over: midnight in America/Los_Angeles, so daylight
/// saving time is right.
pub fn next_pacific_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    crate::usage::ResetRule {
        tz: chrono_tz::America::Los_Angeles,
        hour: 0,
    }
    .next_reset(now)
}

/// What the caller's retry loop does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reaction {
    /// Add this credential to the request's excluded set and pick again.
    TryAnother,
    /// Pass the upstream error through to the client.
    ReturnToClient,
    /// Refresh this credential's token (once per request) and resend with it.
    RefreshAndRetrySame,
    /// The credential is fine; resend (after the retry interval) with the same one.
    RetrySame,
}

/// Apply `failure` to one credential's state. Returns the reaction and whether the per-model
/// eligibility may have changed (so the caller re-indexes).
pub(crate) fn apply_failure(
    state: &mut CredentialState,
    model: &str,
    status: u16,
    message: &str,
    failure: &Failure,
    cfg: &PoolConfig,
    now: DateTime<Utc>,
) -> Reaction {
    state.record_error(status, message, now);
    state.failures += 1;
    if !matches!(failure, Failure::Rejected) {
        state.error_streak = state.error_streak.saturating_add(1);
    }
    match failure {
        Failure::RateLimited { retry_after } => {
            let wanted = add(now, retry_after.unwrap_or(cfg.rate_limit_default));
            cool(state, model, CooldownReason::RateLimited, wanted, cfg, now);
            Reaction::TryAnother
        }
        Failure::QuotaExhausted { until, after } => {
            let reset = until
                .or_else(|| after.map(|a| add(now, a)))
                .unwrap_or_else(|| add(now, cfg.quota_default));
            cool(
                state,
                model,
                CooldownReason::QuotaExhausted,
                reset,
                cfg,
                now,
            );
            Reaction::TryAnother
        }
        Failure::Capacity | Failure::Server(_) => Reaction::TryAnother,
        Failure::Forbidden {
            status,
            reason,
            link,
        } => {
            if cfg.auto_ban && cfg.auto_ban_codes.contains(status) {
                state.ban = Some(Ban {
                    kind: BanKind::AutoBan,
                    status: Some(*status),
                    reason: reason.clone(),
                    link: link.clone(),
                    at: now,
                });
                Reaction::TryAnother
            } else {
                Reaction::ReturnToClient
            }
        }
        Failure::ModelUnavailable => {
            state.unable_models.insert(model.to_owned());
            state.preview = false;
            Reaction::TryAnother
        }
        Failure::AuthFailed {
            permanent: true,
            reason,
        } => {
            state.ban = Some(Ban {
                kind: BanKind::RefreshRevoked,
                status: Some(status),
                reason: reason.clone(),
                link: None,
                at: now,
            });
            Reaction::TryAnother
        }
        Failure::AuthFailed {
            permanent: false, ..
        } => Reaction::RefreshAndRetrySame,
        Failure::Transport => Reaction::RetrySame,
        Failure::Rejected => Reaction::ReturnToClient,
        Failure::CredentialRejected { status, reason } => {
            state.ban = Some(Ban {
                kind: BanKind::Rejected,
                status: Some(*status),
                reason: reason.clone(),
                link: None,
                at: now,
            });
            Reaction::TryAnother
        }
        Failure::Overloaded { after } => {
            cool(
                state,
                model,
                CooldownReason::Overloaded,
                add(now, *after),
                cfg,
                now,
            );
            Reaction::TryAnother
        }
        Failure::DailyExhausted => {
            state.cooldowns.insert(
                model.to_owned(),
                Cooldown {
                    until: next_pacific_midnight(now),
                    reason: CooldownReason::DailyExhausted,
                    reset_at: None,
                    probe_pending: false,
                },
            );
            Reaction::TryAnother
        }
    }
}

/// Cool `model` until `wanted`, but never past the cap: beyond it the credential gets a probe.
fn cool(
    state: &mut CredentialState,
    model: &str,
    reason: CooldownReason,
    wanted: DateTime<Utc>,
    cfg: &PoolConfig,
    now: DateTime<Utc>,
) {
    let cap = add(now, cfg.cooldown_cap);
    let capped = wanted > cap;
    state.cooldowns.insert(
        model.to_owned(),
        Cooldown {
            until: if capped { cap } else { wanted },
            reason,
            reset_at: capped.then_some(wanted),
            probe_pending: capped,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "gemini-2.5-pro";

    fn t0() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
    }

    fn run(state: &mut CredentialState, f: Failure, cfg: &PoolConfig) -> Reaction {
        apply_failure(state, M, 429, "msg", &f, cfg, t0())
    }

    #[test]
    fn rate_limit_uses_retry_delay_or_default() {
        let cfg = PoolConfig::default();
        let mut s = CredentialState::default();
        let r = run(
            &mut s,
            Failure::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
            },
            &cfg,
        );
        assert_eq!(r, Reaction::TryAnother);
        assert_eq!(s.cooldowns[M].until, add(t0(), Duration::from_secs(7)));
        assert!(!s.cooldowns[M].probe_pending);
        run(&mut s, Failure::RateLimited { retry_after: None }, &cfg);
        assert_eq!(s.cooldowns[M].until, add(t0(), cfg.rate_limit_default));
        assert_eq!(s.error_streak, 2);
        assert_eq!(s.errors[&429].count, 2);
    }

    #[test]
    fn quota_beyond_the_cap_is_capped_with_a_probe() {
        let cfg = PoolConfig::default();
        let mut s = CredentialState::default();
        let reset = add(t0(), Duration::from_secs(40 * 3600));
        run(
            &mut s,
            Failure::QuotaExhausted {
                until: Some(reset),
                after: Some(Duration::from_secs(1)),
            },
            &cfg,
        );
        let c = &s.cooldowns[M];
        assert_eq!(c.until, add(t0(), cfg.cooldown_cap));
        assert_eq!(c.reset_at, Some(reset));
        assert!(c.probe_pending);
        // A short reset is honoured as it is.
        run(
            &mut s,
            Failure::QuotaExhausted {
                until: None,
                after: Some(Duration::from_secs(30)),
            },
            &cfg,
        );
        assert_eq!(s.cooldowns[M].until, add(t0(), Duration::from_secs(30)));
        assert!(!s.cooldowns[M].probe_pending);
    }

    #[test]
    fn forbidden_bans_only_when_configured() {
        let forbidden = || Failure::Forbidden {
            status: 403,
            reason: "VALIDATION_REQUIRED".into(),
            link: Some("https://example.invalid/v".into()),
        };
        let mut s = CredentialState::default();
        let off = PoolConfig::default();
        assert_eq!(run(&mut s, forbidden(), &off), Reaction::ReturnToClient);
        assert!(s.ban.is_none());
        let on = PoolConfig {
            auto_ban: true,
            ..PoolConfig::default()
        };
        assert_eq!(run(&mut s, forbidden(), &on), Reaction::TryAnother);
        let ban = s.ban.as_ref().expect("banned");
        assert_eq!(ban.kind, BanKind::AutoBan);
        assert_eq!(ban.link.as_deref(), Some("https://example.invalid/v"));
        let unlisted = PoolConfig {
            auto_ban: true,
            auto_ban_codes: vec![401],
            ..PoolConfig::default()
        };
        let mut s2 = CredentialState::default();
        assert_eq!(
            run(&mut s2, forbidden(), &unlisted),
            Reaction::ReturnToClient
        );
        assert!(s2.ban.is_none());
    }

    #[test]
    fn other_failures_react_without_cooling() {
        let cfg = PoolConfig::default();
        let mut s = CredentialState::default();
        assert_eq!(run(&mut s, Failure::Capacity, &cfg), Reaction::TryAnother);
        assert_eq!(
            run(&mut s, Failure::Server(503), &cfg),
            Reaction::TryAnother
        );
        assert_eq!(run(&mut s, Failure::Transport, &cfg), Reaction::RetrySame);
        let auth = Failure::AuthFailed {
            permanent: false,
            reason: "expired".into(),
        };
        assert_eq!(run(&mut s, auth, &cfg), Reaction::RefreshAndRetrySame);
        assert_eq!(
            run(&mut s, Failure::Rejected, &cfg),
            Reaction::ReturnToClient
        );
        assert!(s.cooldowns.is_empty() && s.ban.is_none());
        // Rejected is the client's fault: it does not extend the streak.
        assert_eq!(s.error_streak, 4);
        let revoked = Failure::AuthFailed {
            permanent: true,
            reason: "invalid_grant".into(),
        };
        assert_eq!(run(&mut s, revoked, &cfg), Reaction::TryAnother);
        assert_eq!(
            s.ban.as_ref().map(|b| b.kind),
            Some(BanKind::RefreshRevoked)
        );
    }

    #[test]
    fn daily_exhaustion_lasts_until_midnight_pacific_and_rejection_bans() {
        let cfg = PoolConfig::default();
        let mut s = CredentialState::default();
        // 2026-07-01T20:00Z is 13:00 PDT; the next Pacific midnight is 2026-07-02T07:00Z.
        let now = DateTime::parse_from_rfc3339("2026-07-01T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        apply_failure(&mut s, M, 429, "day", &Failure::DailyExhausted, &cfg, now);
        let c = &s.cooldowns[M];
        assert_eq!(c.until.to_rfc3339(), "2026-07-02T07:00:00+00:00");
        assert!(!c.probe_pending, "the reset is known: no probe before it");
        // In winter (PST) midnight is 08:00 UTC.
        let winter = DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            next_pacific_midnight(winter).to_rfc3339(),
            "2026-12-02T08:00:00+00:00"
        );
        let r = apply_failure(
            &mut s,
            M,
            400,
            "x",
            &Failure::CredentialRejected {
                status: 400,
                reason: "the key is not valid".into(),
            },
            &cfg,
            now,
        );
        assert_eq!(r, Reaction::TryAnother);
        assert_eq!(s.ban.as_ref().map(|b| b.kind), Some(BanKind::Rejected));
    }

    #[test]
    fn preview_404_marks_only_that_model() {
        let mut s = CredentialState::default();
        run(&mut s, Failure::ModelUnavailable, &PoolConfig::default());
        assert!(s.unable_models.contains(M) && s.unable_models.len() == 1);
        assert!(!s.preview);
    }
}
