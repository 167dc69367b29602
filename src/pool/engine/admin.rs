//! Operator actions and read-outs: everything the management API calls besides the request path.
use std::sync::atomic::Ordering;

use super::{Change, CredId, Pool, PoolSummary, Rotation, Snapshot};
use crate::google::kind::{CredentialKind, Pin};
use crate::pool::Profile;
use crate::pool::clock::add;
use crate::pool::failure::PoolConfig;
use crate::pool::state::{Ban, BanKind, CredentialState, Health, RecheckNote};

impl Pool {
    pub fn config(&self) -> &PoolConfig {
        &self.cfg
    }

    /// Apply hot settings. A lowered cap shortens running cooldowns at once (with a probe), so
    /// changing the setting helps the credentials that are already latched.
    pub fn set_config(&mut self, cfg: PoolConfig) -> Vec<Change> {
        let now = self.clock.now();
        let cap = add(now, cfg.cooldown_cap);
        self.cfg = cfg;
        let over: Vec<CredId> = self
            .entries
            .iter()
            .filter(|(_, e)| e.state.cooldowns.values().any(|c| c.until > cap))
            .map(|(id, _)| *id)
            .collect();
        over.into_iter()
            .filter_map(|id| {
                self.mutate(id, |s, _| {
                    for c in s.cooldowns.values_mut().filter(|c| c.until > cap) {
                        c.reset_at = Some(c.reset_at.unwrap_or(c.until).max(c.until));
                        c.until = cap;
                        c.probe_pending = true;
                    }
                })
                .map(|(_, change)| change)
            })
            .collect()
    }

    /// Sets what the credential is (kind, quota group, models); unknown ids are ignored.
    pub fn set_profile(&mut self, id: CredId, profile: Profile) {
        let now = self.clock.now();
        if let Some(e) = self.entries.get_mut(&id) {
            e.profile = profile;
            self.reslot_everywhere(id, now);
        }
    }

    pub fn profile(&self, id: CredId) -> Option<Profile> {
        self.entries.get(&id).map(|e| e.profile.clone())
    }

    /// The profile of every active credential. O(n); for the model list.
    pub fn active_profiles(&self) -> Vec<Profile> {
        self.entries
            .values()
            .filter(|e| e.state.is_active())
            .map(|e| e.profile.clone())
            .collect()
    }

    /// Whether any credential, whatever its state, is of a kind `pin` admits (all kinds
    /// without a pin) for which `f` holds. O(n); for error messages.
    pub fn has_kind(&self, pin: Option<Pin>, f: impl Fn(CredentialKind) -> bool) -> bool {
        self.entries.values().any(|e| {
            let k = e.profile.kind;
            f(k) && pin.is_none_or(|p| p.admits(k))
        })
    }

    /// Every credential's profile. O(n); for settings changes, not the request path.
    pub fn profiles(&self) -> Vec<(CredId, Profile)> {
        self.entries
            .iter()
            .map(|(id, e)| (*id, e.profile.clone()))
            .collect()
    }

    /// The manual switch; it does not lift a ban (see [`Pool::clear_errors_and_unban`]).
    pub fn set_enabled(&mut self, id: CredId, enabled: bool) -> Option<Change> {
        self.mutate(id, |s, _| s.enabled = enabled).map(|(_, c)| c)
    }

    /// Forget errors, cooldowns, "unable" marks and any ban: a clean slate for a fixed account.
    pub fn clear_errors_and_unban(&mut self, id: CredId) -> Option<Change> {
        if let Some(e) = self.entries.get_mut(&id) {
            e.parks = [None; 3];
        }
        self.mutate(id, |s, _| {
            s.ban = None;
            s.errors.clear();
            s.error_streak = 0;
            s.cooldowns.clear();
            s.unable_models.clear();
            s.preview = true;
        })
        .map(|(_, c)| c)
    }

    /// Lifts one model's cooldown (a re-check found the quota back) and notes why.
    pub fn lift_cooldown(&mut self, id: CredId, model: &str, note: RecheckNote) -> Option<Change> {
        self.mutate(id, |s, _| {
            s.cooldowns.remove(model);
            s.recheck = Some(note);
        })
        .map(|(_, c)| c)
    }

    /// Records what a periodic re-check found.
    pub fn note_recheck(&mut self, id: CredId, note: RecheckNote) -> Option<Change> {
        self.mutate(id, |s, _| s.recheck = Some(note))
            .map(|(_, c)| c)
    }

    /// Ban for a reason found outside a request (an import without a refresh token, say).
    pub fn ban(
        &mut self,
        id: CredId,
        kind: BanKind,
        status: Option<u16>,
        reason: &str,
        link: Option<&str>,
    ) -> Option<Change> {
        self.mutate(id, |s, now| {
            s.ban = Some(Ban {
                kind,
                status,
                reason: reason.to_owned(),
                link: link.map(str::to_owned),
                at: now,
            });
        })
        .map(|(_, c)| c)
    }

    /// Account facts learned from Google (userinfo, loadCodeAssist).
    pub fn set_identity(
        &mut self,
        id: CredId,
        email: Option<String>,
        project_id: Option<String>,
        tier: Option<String>,
    ) -> Option<Change> {
        self.mutate(id, |s, _| {
            s.email = email;
            s.project_id = project_id;
            s.tier = tier;
        })
        .map(|(_, c)| c)
    }

    /// Forget over-quota parks (all credentials, or one): the usage module calls this when a
    /// limit is raised or counters are reset by hand.
    pub fn release_quota(&mut self, id: Option<CredId>) {
        let now = self.clock.now();
        let ids: Vec<CredId> = match id {
            Some(id) => vec![id],
            None => self
                .entries
                .iter()
                .filter(|(_, e)| e.parks.iter().any(Option::is_some))
                .map(|(id, _)| *id)
                .collect(),
        };
        for id in ids {
            if let Some(e) = self.entries.get_mut(&id) {
                e.parks = [None; 3];
                self.reslot_everywhere(id, now);
            }
        }
    }

    pub fn state(&self, id: CredId) -> Option<CredentialState> {
        let now = self.clock.now();
        self.entries.get(&id).map(|e| {
            let mut s = e.state.clone();
            s.prune_cooldowns(now);
            s
        })
    }

    /// The account a credential belongs to, for log lines (cheaper than a whole `state`).
    pub fn account(&self, id: CredId) -> Option<String> {
        self.entries.get(&id).and_then(|e| e.state.email.clone())
    }

    pub fn in_flight(&self, id: CredId) -> Option<u32> {
        self.entries
            .get(&id)
            .map(|e| e.in_flight.load(Ordering::Relaxed))
    }

    pub fn rotation(&self) -> Rotation {
        self.rotation
    }

    /// Visits every credential with its state and profile. O(n); for the credentials page.
    pub fn each(&self, mut f: impl FnMut(CredId, &CredentialState, &Profile, u32)) {
        for (id, e) in &self.entries {
            f(
                *id,
                &e.state,
                &e.profile,
                e.in_flight.load(Ordering::Relaxed),
            );
        }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub fn contains(&self, id: CredId) -> bool {
        self.entries.contains_key(&id)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All states (sorted by id) plus the cursor. O(n).
    pub fn export(&self) -> Snapshot {
        let mut credentials: Vec<(CredId, CredentialState)> = self
            .entries
            .keys()
            .filter_map(|id| self.state(*id).map(|s| (*id, s)))
            .collect();
        credentials.sort_by_key(|(id, _)| *id);
        Snapshot {
            credentials,
            rotation: self.rotation,
        }
    }

    /// Counts for the API and panel. O(n); not for the request path.
    pub fn summary(&self) -> PoolSummary {
        let now = self.clock.now();
        let mut counts = [0usize; 5];
        for e in self.entries.values() {
            counts[health_slot(e.state.health(now))] += 1;
        }
        PoolSummary {
            total: self.entries.len(),
            active: counts[health_slot(Health::Active)],
            disabled: counts[health_slot(Health::Disabled)],
            banned: counts[health_slot(Health::Banned)],
            cooling: counts[health_slot(Health::Cooling)],
            needs_sign_in: counts[health_slot(Health::NeedsSignIn)],
            in_flight: self
                .entries
                .values()
                .map(|e| u64::from(e.in_flight.load(Ordering::Relaxed)))
                .sum(),
        }
    }
}

/// A credential's state in one word, for the metrics' pool gauges: the panel's [`Health`] with
/// one refinement, a cooling (or otherwise usable) credential whose quota is spent is
/// `Exhausted`. Deriving it from `Health` keeps the gauges and the panel's counts in agreement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricState {
    Active,
    /// Cooling down for at least one model (rate limit, overload, a probe).
    Cooling,
    /// A quota is spent (Google's or the daily allowance) for at least one model or class.
    Exhausted,
    Disabled,
    /// Only a new OAuth sign-in fixes it: the refresh token was revoked or is missing.
    NeedsSignIn,
    /// Switched off by the gateway (auto-ban, a rejected key, an ineligible account).
    Banned,
}

impl MetricState {
    pub const ALL: [Self; 6] = [
        Self::Active,
        Self::Cooling,
        Self::Exhausted,
        Self::Disabled,
        Self::NeedsSignIn,
        Self::Banned,
    ];

    pub fn of(health: Health, quota_spent: bool) -> Self {
        match health {
            Health::Active | Health::Cooling if quota_spent => Self::Exhausted,
            Health::Active => Self::Active,
            Health::Cooling => Self::Cooling,
            Health::Disabled => Self::Disabled,
            Health::NeedsSignIn => Self::NeedsSignIn,
            Health::Banned => Self::Banned,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Cooling => "cooling",
            Self::Exhausted => "exhausted",
            Self::Disabled => "disabled",
            Self::NeedsSignIn => "needs_sign_in",
            Self::Banned => "banned",
        }
    }
}

/// One credential as the metrics see it.
#[derive(Clone, Debug)]
pub struct MetricEntry {
    pub id: CredId,
    pub kind: CredentialKind,
    /// The account e-mail when known, else `#id`.
    pub name: String,
    pub state: MetricState,
}

impl Pool {
    /// Every credential with its one-word state, by id (a scrape's read-out; O(n)).
    pub fn metric_entries(&self) -> Vec<MetricEntry> {
        use crate::pool::state::CooldownReason as R;
        let now = self.clock.now();
        let mut out: Vec<MetricEntry> = self
            .entries
            .iter()
            .map(|(id, e)| {
                let s = &e.state;
                let quota_spent = e.parks.iter().flatten().any(|t| *t > now)
                    || s.cooldowns.values().any(|c| {
                        c.blocks(now) && matches!(c.reason, R::DailyExhausted | R::QuotaExhausted)
                    });
                let state = MetricState::of(s.health(now), quota_spent);
                MetricEntry {
                    id: *id,
                    kind: e.profile.kind,
                    name: s.email.clone().unwrap_or_else(|| format!("#{id}")),
                    state,
                }
            })
            .collect();
        out.sort_unstable_by_key(|m| m.id);
        out
    }
}

fn health_slot(h: Health) -> usize {
    match h {
        Health::Active => 0,
        Health::Cooling => 1,
        Health::Disabled => 2,
        Health::Banned => 3,
        Health::NeedsSignIn => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_states_are_the_panels_health_with_spent_quota_split_out() {
        for h in Health::ALL {
            // Without a spent quota the gauge's word is the panel's word.
            assert_eq!(MetricState::of(h, false).as_str(), h.as_str());
            let spent = MetricState::of(h, true);
            match h {
                Health::Active | Health::Cooling => assert_eq!(spent, MetricState::Exhausted),
                // A spent quota says nothing new about a credential that cannot serve anyway.
                _ => assert_eq!(spent.as_str(), h.as_str()),
            }
        }
    }
}
