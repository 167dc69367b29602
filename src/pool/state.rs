//! The persisted per-credential state: plain serde data the store writes as it is.
//!
//! Everything the pool decides with is in here, so a pool rebuilt from these rows picks exactly
//! as the one that wrote them. Only derived things stay out: the index, in-flight counters and
//! daily-quota parks (the usage module owns those counts and re-reports them).
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Upstream messages are raw bodies and can be large; the history keeps a readable prefix.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 2000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CredentialState {
    /// The manual switch. A ban is separate, so "disabled by a person" and "banned by the
    /// upstream" never look alike.
    pub enabled: bool,
    pub ban: Option<Ban>,
    /// Per base model (`gemini-2.5-pro`, not `gemini-2.5-pro-high-search`).
    pub cooldowns: BTreeMap<String, Cooldown>,
    /// Models this credential got a 404 for (preview models the account cannot use).
    pub unable_models: BTreeSet<String>,
    /// Last message and count per upstream status code.
    pub errors: BTreeMap<u16, ErrorRecord>,
    /// Failures since the last success.
    pub error_streak: u32,
    pub last_success: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
    /// Times picked.
    pub calls: u64,
    pub successes: u64,
    pub failures: u64,
    /// False once any preview model 404'd through it. Informational: eligibility uses
    /// `unable_models`, so one preview wall does not bar the credential from other models.
    pub preview: bool,
    pub email: Option<String>,
    pub project_id: Option<String>,
    pub tier: Option<String>,
    /// What the last periodic re-check found (a key that works again, say).
    pub recheck: Option<RecheckNote>,
}

/// The outcome of a periodic re-check, for the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecheckNote {
    pub at: DateTime<Utc>,
    pub message: String,
}

impl Default for CredentialState {
    fn default() -> Self {
        Self {
            enabled: true,
            ban: None,
            cooldowns: BTreeMap::new(),
            unable_models: BTreeSet::new(),
            errors: BTreeMap::new(),
            error_streak: 0,
            last_success: None,
            last_used: None,
            calls: 0,
            successes: 0,
            failures: 0,
            preview: true,
            email: None,
            project_id: None,
            tier: None,
            recheck: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    pub kind: BanKind,
    /// The upstream status that caused it, when there was one.
    pub status: Option<u16>,
    /// The upstream's own words, shown to the operator instead of a bare "disabled".
    pub reason: String,
    /// Where the account owner can fix it (VALIDATION_REQUIRED links, activation URLs).
    pub link: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BanKind {
    /// A status in AUTO_BAN_ERROR_CODES with AUTO_BAN on.
    AutoBan,
    /// The refresh token was rejected for good (invalid_grant and friends).
    RefreshRevoked,
    /// Imported without a refresh token.
    MissingRefreshToken,
    /// Project discovery says the account cannot use Code Assist yet (VALIDATION_REQUIRED,
    /// an ineligible tier, no project): the reason and link tell the owner what to do.
    Ineligible,
    /// Google refused the key or service account itself (invalid, expired, leaked, suspended,
    /// a standard key, an API blocked or disabled for it, a deleted account).
    Rejected,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cooldown {
    /// Not pickable for this model before this instant.
    pub until: DateTime<Utc>,
    pub reason: CooldownReason,
    /// The upstream's own reset when it lies beyond the cap; shown, never waited for.
    pub reset_at: Option<DateTime<Utc>>,
    /// The cooldown was cut at COOLDOWN_CAP: once `until` passes, one request probes whether the
    /// quota is really still gone, instead of the credential staying latched for days.
    pub probe_pending: bool,
}

impl Cooldown {
    /// Whether this entry still matters at `now`: an expired plain cooldown is as good as none,
    /// and so is a pending probe once the upstream's own reset has passed.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.until > now || self.wants_probe(now)
    }

    /// Past the cap but not past the upstream's reset: the next pick is a probe.
    pub fn wants_probe(&self, now: DateTime<Utc>) -> bool {
        self.probe_pending && self.until <= now && self.reset_at.is_none_or(|r| r > now)
    }

    pub fn blocks(&self, now: DateTime<Utc>) -> bool {
        self.until > now
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CooldownReason {
    RateLimited,
    QuotaExhausted,
    /// A cap-probe request is out; the deadline bounds how long a lost probe blocks.
    Probing,
    /// A per-day quota is spent until Google's daily reset (midnight Pacific).
    DailyExhausted,
    /// The upstream answered 5xx / overloaded: a short rest.
    Overloaded,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub count: u64,
    pub last_message: String,
    pub last_at: DateTime<Utc>,
}

/// The one word for a credential's state, decided in one place so the overview counts, the
/// table's filter and badges and the management API always agree. Precedence: a revoked
/// sign-in first (the fix is to sign in again, whatever else is true), then a ban, then the
/// manual switch, then a live cooldown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Health {
    Active,
    Cooling,
    Disabled,
    Banned,
    /// The refresh token was revoked or is missing: only a new OAuth sign-in fixes it.
    NeedsSignIn,
}

impl Health {
    pub const ALL: [Health; 5] = [
        Health::Active,
        Health::Cooling,
        Health::Disabled,
        Health::Banned,
        Health::NeedsSignIn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Active => "active",
            Health::Cooling => "cooling",
            Health::Disabled => "disabled",
            Health::Banned => "banned",
            Health::NeedsSignIn => "needs_sign_in",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.as_str() == s)
    }
}

impl BanKind {
    /// Bans that a new OAuth sign-in lifts (and nothing else does).
    pub fn needs_sign_in(self) -> bool {
        matches!(self, BanKind::RefreshRevoked | BanKind::MissingRefreshToken)
    }
}

impl CredentialState {
    /// Usable at all (for some model): enabled and not banned.
    pub fn is_active(&self) -> bool {
        self.enabled && self.ban.is_none()
    }

    pub fn health(&self, now: DateTime<Utc>) -> Health {
        match &self.ban {
            Some(b) if b.kind.needs_sign_in() => Health::NeedsSignIn,
            Some(_) => Health::Banned,
            None if !self.enabled => Health::Disabled,
            None if self.cooldowns.values().any(|c| c.blocks(now)) => Health::Cooling,
            None => Health::Active,
        }
    }

    pub(crate) fn record_error(&mut self, status: u16, message: &str, now: DateTime<Utc>) {
        let last_message = truncate(message, MAX_ERROR_MESSAGE_CHARS);
        self.errors
            .entry(status)
            .and_modify(|e| {
                e.count += 1;
                e.last_message.clone_from(&last_message);
                e.last_at = now;
            })
            .or_insert(ErrorRecord {
                count: 1,
                last_message,
                last_at: now,
            });
    }

    /// Drops cooldowns that no longer matter, so exported rows compare equal however long ago
    /// they expired.
    pub(crate) fn prune_cooldowns(&mut self, now: DateTime<Utc>) -> bool {
        let before = self.cooldowns.len();
        self.cooldowns.retain(|_, c| c.is_live(now));
        before != self.cooldowns.len()
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_enabled_and_preview_capable() {
        let s = CredentialState::default();
        assert!(s.enabled && s.preview && s.is_active());
    }

    #[test]
    fn serde_round_trip_keeps_everything() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let mut s = CredentialState {
            ban: Some(Ban {
                kind: BanKind::AutoBan,
                status: Some(403),
                reason: "VALIDATION_REQUIRED".into(),
                link: Some("https://example.invalid/verify".into()),
                at: now,
            }),
            email: Some("a@example.invalid".into()),
            ..Default::default()
        };
        s.cooldowns.insert(
            "gemini-2.5-pro".into(),
            Cooldown {
                until: now,
                reason: CooldownReason::QuotaExhausted,
                reset_at: Some(now),
                probe_pending: true,
            },
        );
        s.record_error(429, "slow down", now);
        s.record_error(429, "slow down again", now);
        let json = serde_json::to_string(&s).expect("serialize");
        let back: CredentialState = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, s);
        assert_eq!(back.errors[&429].count, 2);
        assert_eq!(back.errors[&429].last_message, "slow down again");
        // Rows written by an older build (missing fields) still load, with the defaults.
        let old: CredentialState = serde_json::from_str(r#"{"enabled":false}"#).expect("old row");
        assert!(!old.enabled && old.preview);
    }

    #[test]
    fn health_has_one_word_per_state_with_sign_in_first() {
        let now = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(1);
        let mut s = CredentialState::default();
        assert_eq!(s.health(now), Health::Active);
        s.cooldowns.insert(
            "gemini-2.5-pro".into(),
            Cooldown {
                until: now + chrono::Duration::minutes(1),
                reason: CooldownReason::RateLimited,
                reset_at: None,
                probe_pending: false,
            },
        );
        assert_eq!(s.health(now), Health::Cooling);
        // An expired cooldown is as good as none.
        assert_eq!(s.health(now + chrono::Duration::minutes(2)), Health::Active);
        s.enabled = false;
        assert_eq!(s.health(now), Health::Disabled);
        s.ban = Some(Ban {
            kind: BanKind::AutoBan,
            status: Some(403),
            reason: "x".into(),
            link: None,
            at: now,
        });
        assert_eq!(s.health(now), Health::Banned);
        s.ban = Some(Ban {
            kind: BanKind::RefreshRevoked,
            status: None,
            reason: "invalid_grant".into(),
            link: None,
            at: now,
        });
        assert_eq!(s.health(now), Health::NeedsSignIn);
        for h in Health::ALL {
            assert_eq!(Health::parse(h.as_str()), Some(h));
        }
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let mut s = CredentialState::default();
        let long = "é".repeat(MAX_ERROR_MESSAGE_CHARS + 10);
        s.record_error(500, &long, DateTime::<Utc>::UNIX_EPOCH);
        let kept = &s.errors[&500].last_message;
        assert_eq!(kept.chars().count(), MAX_ERROR_MESSAGE_CHARS + 1);
        assert!(kept.ends_with('…'));
    }
}
