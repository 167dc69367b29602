//! `Pool`: the credential states, the per-model indexes and the rotation cursor, kept in step.
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::google::kind::Pin;
use crate::pool::clock::{Clock, add};
use crate::pool::failure::{Failure, PoolConfig, Reaction, apply_failure};
use crate::pool::hold::Hold;
use crate::pool::index::{ModelIndex, Slot, slot_for};
use crate::pool::profile::Profile;
use crate::pool::state::{Cooldown, CooldownReason, CredentialState};
use crate::pool::unavailable::Unavailable;
use crate::pool::{CredId, ModelClass, QuotaView};

mod admin;
pub use self::admin::{MetricEntry, MetricState};

/// Indexes kept at once. Model names come from clients; past this the least recently used
/// index is dropped (it is derived, so it is rebuilt on next use).
pub const MAX_MODEL_INDEXES: usize = 64;

/// The index of `model` among the credentials `pin` admits: `vertex/gemini-2.5-pro`.
fn index_key(model: &str, pin: Option<Pin>) -> String {
    match pin {
        Some(p) => format!("{}{model}", p.prefix()),
        None => model.to_owned(),
    }
}

/// Where `entry` belongs in `idx`: nowhere when its profile does not serve the index's model
/// or its kind is not the index's pin; else as its state says.
fn slot_in(entry: &Entry, idx: &ModelIndex, now: DateTime<Utc>) -> Option<Slot> {
    let p = &entry.profile;
    if !p.serves(&idx.model) || idx.pin.is_some_and(|pin| !pin.admits(p.kind)) {
        return None;
    }
    slot_for(&entry.state, entry.parks[idx.class.slot()], &idx.model, now)
}

/// A credential's new state, for the caller to persist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub id: CredId,
    pub state: CredentialState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureOutcome {
    pub reaction: Reaction,
    /// `None` only when the credential is unknown (removed meanwhile).
    pub change: Option<Change>,
    /// Credentials of the same quota group that took the same cooldown (Google counts quota
    /// per project, so a throttle or a spent day hits every key of the project).
    pub shared: Vec<Change>,
}

/// The rotation cursor: who is current and how many picks it has served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub current: Option<CredId>,
    pub served: u32,
}

/// Everything needed to rebuild a pool that behaves identically.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub credentials: Vec<(CredId, CredentialState)>,
    pub rotation: Rotation,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PoolSummary {
    pub total: usize,
    /// Usable now: enabled, not banned, not cooling for any model. The five state counts add
    /// up to `total`, each credential counted once by [`CredentialState::health`].
    pub active: usize,
    pub disabled: usize,
    pub banned: usize,
    /// Enabled, not banned, cooling for at least one model.
    pub cooling: usize,
    /// The refresh token was revoked or is missing: it waits for a new OAuth sign-in.
    pub needs_sign_in: usize,
    pub in_flight: u64,
}

#[derive(Debug)]
struct Entry {
    state: CredentialState,
    in_flight: Arc<AtomicU32>,
    /// Over-quota parks per `ModelClass::slot`, as reported by the `QuotaView`.
    parks: [Option<DateTime<Utc>>; 3],
    profile: Profile,
}

/// Why an inactive credential is out; disabled wins when both apply.
fn inactive(state: &CredentialState) -> (usize, usize) {
    match (state.enabled, state.ban.is_some()) {
        (false, _) => (1, 0),
        (true, true) => (0, 1),
        (true, false) => (0, 0),
    }
}

pub struct Pool {
    cfg: PoolConfig,
    clock: Arc<dyn Clock>,
    entries: HashMap<CredId, Entry>,
    models: HashMap<String, ModelIndex>,
    rotation: Rotation,
    disabled: usize,
    banned: usize,
    picks: u64,
}

impl Pool {
    pub fn new(cfg: PoolConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            cfg,
            clock,
            entries: HashMap::new(),
            models: HashMap::new(),
            rotation: Rotation::default(),
            disabled: 0,
            banned: 0,
            picks: 0,
        }
    }

    /// Rebuild from persisted rows (and, when kept, the rotation cursor).
    pub fn restore(cfg: PoolConfig, clock: Arc<dyn Clock>, snapshot: Snapshot) -> Self {
        let mut pool = Self::new(cfg, clock);
        for (id, state) in snapshot.credentials {
            pool.upsert(id, state);
        }
        pool.rotation = snapshot.rotation;
        pool
    }

    /// Add or replace a credential's state (import, restore, or an edit made elsewhere).
    pub fn upsert(&mut self, id: CredId, mut state: CredentialState) {
        let now = self.clock.now();
        state.prune_cooldowns(now);
        let (d, b) = inactive(&state);
        self.disabled += d;
        self.banned += b;
        match self.entries.get_mut(&id) {
            Some(entry) => {
                let (od, ob) = inactive(&entry.state);
                self.disabled -= od;
                self.banned -= ob;
                entry.state = state;
            }
            None => {
                self.entries.insert(
                    id,
                    Entry {
                        state,
                        in_flight: Arc::new(AtomicU32::new(0)),
                        parks: [None; 3],
                        profile: Profile::default(),
                    },
                );
            }
        }
        self.reslot_everywhere(id, now);
    }

    pub fn remove(&mut self, id: CredId) -> Option<CredentialState> {
        let entry = self.entries.remove(&id)?;
        let (d, b) = inactive(&entry.state);
        self.disabled -= d;
        self.banned -= b;
        for idx in self.models.values_mut() {
            idx.place(id, None);
        }
        Some(entry.state)
    }

    /// Choose a credential for `model` (a base model name). `exclude` holds the ids this request
    /// already tried.
    pub fn pick(
        &mut self,
        model: &str,
        class: ModelClass,
        exclude: &[CredId],
        quota: &dyn QuotaView,
    ) -> Result<Hold, Unavailable> {
        self.pick_pinned(model, None, class, exclude, quota)
    }

    /// [`Pool::pick`] among the credentials of one upstream (`pin`), or all of them. Only
    /// credentials whose profile serves `model` are candidates.
    pub fn pick_pinned(
        &mut self,
        model: &str,
        pin: Option<Pin>,
        class: ModelClass,
        exclude: &[CredId],
        quota: &dyn QuotaView,
    ) -> Result<Hold, Unavailable> {
        let now = self.clock.now();
        self.picks += 1;
        let key = index_key(model, pin);
        self.ensure_index(&key, model, pin, class, now);
        self.expire(&key, now);
        let per_rotation = self.cfg.calls_per_rotation.max(1);
        let idx = &self.models[&key];

        let mut parks = Vec::new();
        let mut chosen = None;
        if let Some(current) = self.rotation.current
            && self.rotation.served < per_rotation
            && idx.eligible.contains(&current)
            && !exclude.contains(&current)
        {
            match quota.over_quota(current, class) {
                Some(reset) => parks.push((current, reset)),
                None => chosen = Some((current, self.rotation.served + 1)),
            }
        }
        if chosen.is_none() {
            for id in idx.rotation_from(self.rotation.current) {
                if exclude.contains(&id) || parks.iter().any(|(p, _)| *p == id) {
                    continue;
                }
                match quota.over_quota(id, class) {
                    Some(reset) => parks.push((id, reset)),
                    None => {
                        chosen = Some((id, 1));
                        break;
                    }
                }
            }
        }
        for (id, reset) in parks {
            self.park(id, class, reset, now);
        }
        let Some((id, served)) = chosen else {
            return Err(self.unavailable(&key, exclude, now));
        };
        self.rotation = Rotation {
            current: Some(id),
            served,
        };
        Ok(self.serve(id, model, now))
    }

    fn serve(&mut self, id: CredId, model: &str, now: DateTime<Utc>) -> Hold {
        let lease_for = self.cfg.probe_lease;
        let Some(entry) = self.entries.get_mut(&id) else {
            unreachable!("indexed credential {id} has an entry");
        };
        entry.state.calls += 1;
        entry.state.last_used = Some(now);
        // A pick after a capped cooldown ran out is the probe; holding the slot for the probe
        // lease keeps every other request off until it reports.
        let probe = match entry.state.cooldowns.get_mut(model) {
            Some(c) if c.wants_probe(now) => {
                c.until = add(now, lease_for);
                c.reason = CooldownReason::Probing;
                true
            }
            _ => false,
        };
        let lease = Hold::new(id, probe, &entry.in_flight);
        if probe {
            tracing::info!(credential = id, model, "cooldown cap reached: probing");
            self.reslot_model(id, model, now);
        }
        lease
    }

    pub fn record_success(&mut self, id: CredId, model: &str) -> Option<Change> {
        let entry = self.entries.get_mut(&id)?;
        let now = self.clock.now();
        entry.state.successes += 1;
        entry.state.last_success = Some(now);
        let s = &entry.state;
        let health = s.error_streak != 0
            || s.cooldowns.contains_key(model)
            || s.unable_models.contains(model);
        if !health {
            return None;
        }
        self.mutate(id, |s, _| {
            s.error_streak = 0;
            s.cooldowns.remove(model);
            s.unable_models.remove(model);
        })
        .map(|(_, c)| c)
    }

    /// Record a classified failure of a request `id` served for `model`. `status` and `message`
    /// go to the error history (the message is the upstream body; never a token).
    pub fn record_failure(
        &mut self,
        id: CredId,
        model: &str,
        status: u16,
        message: &str,
        failure: Failure,
    ) -> FailureOutcome {
        let cfg = self.cfg.clone();
        let outcome = self.mutate(id, |s, now| {
            let was_banned = s.ban.is_some();
            let reaction = apply_failure(s, model, status, message, &failure, &cfg, now);
            let new_ban = s.ban.clone().filter(|_| !was_banned);
            (reaction, new_ban, s.cooldowns.get(model).cloned())
        });
        match outcome {
            Some(((reaction, ban, cooldown), change)) => {
                if let Some(ban) = ban {
                    tracing::warn!(credential = id, kind = ?ban.kind, status = ?ban.status,
                        reason = %ban.reason, "credential banned");
                } else if let Some(c) = cooldown.clone().filter(|c| c.blocks(self.clock.now())) {
                    tracing::info!(credential = id, model, until = %c.until,
                        reason = ?c.reason, probe = c.probe_pending, "credential cooling");
                }
                let shared = match (&failure, cooldown) {
                    (
                        Failure::RateLimited { .. }
                        | Failure::QuotaExhausted { .. }
                        | Failure::DailyExhausted,
                        Some(c),
                    ) => self.share_cooldown(id, model, &c),
                    _ => Vec::new(),
                };
                FailureOutcome {
                    reaction,
                    change: Some(change),
                    shared,
                }
            }
            None => {
                // Unknown id: still tell the caller what to do with the request.
                let mut scratch = CredentialState::default();
                let now = self.clock.now();
                let reaction =
                    apply_failure(&mut scratch, model, status, message, &failure, &cfg, now);
                FailureOutcome {
                    reaction,
                    change: None,
                    shared: Vec::new(),
                }
            }
        }
    }

    /// Gives `cooldown` of `model` to every other credential of `id`'s quota group on the same
    /// upstream, unless it already waits longer. Credentials without a group share nothing.
    fn share_cooldown(&mut self, id: CredId, model: &str, cooldown: &Cooldown) -> Vec<Change> {
        let Some(me) = self.entries.get(&id) else {
            return Vec::new();
        };
        let Some(group) = me.profile.group.clone() else {
            return Vec::new();
        };
        let pin = me.profile.kind.pin();
        let siblings: Vec<CredId> = self
            .entries
            .iter()
            .filter(|(other, e)| {
                **other != id
                    && e.profile.group.as_deref() == Some(group.as_str())
                    && e.profile.kind.pin() == pin
                    && e.state
                        .cooldowns
                        .get(model)
                        .is_none_or(|c| c.until < cooldown.until)
            })
            .map(|(other, _)| *other)
            .collect();
        if !siblings.is_empty() {
            tracing::info!(credential = id, group = %group, model, siblings = siblings.len(),
                until = %cooldown.until, "quota group cooling together");
        }
        siblings
            .into_iter()
            .filter_map(|other| {
                self.mutate(other, |s, _| {
                    s.cooldowns.insert(model.to_owned(), cooldown.clone());
                })
                .map(|(_, c)| c)
            })
            .collect()
    }

    /// Run `f` on one state and bring counters and indexes in line with the result.
    fn mutate<R>(
        &mut self,
        id: CredId,
        f: impl FnOnce(&mut CredentialState, DateTime<Utc>) -> R,
    ) -> Option<(R, Change)> {
        let now = self.clock.now();
        let entry = self.entries.get_mut(&id)?;
        let (od, ob) = inactive(&entry.state);
        let out = f(&mut entry.state, now);
        entry.state.prune_cooldowns(now);
        let (nd, nb) = inactive(&entry.state);
        let state = entry.state.clone();
        self.disabled = self.disabled + nd - od;
        self.banned = self.banned + nb - ob;
        self.reslot_everywhere(id, now);
        Some((out, Change { id, state }))
    }

    fn reslot_everywhere(&mut self, id: CredId, now: DateTime<Utc>) {
        let Some(entry) = self.entries.get(&id) else {
            return;
        };
        for idx in self.models.values_mut() {
            idx.place(id, slot_in(entry, idx, now));
        }
    }

    /// Re-slot `id` in the index under `key`.
    fn reslot(&mut self, id: CredId, key: &str, now: DateTime<Utc>) {
        if let (Some(entry), Some(idx)) = (self.entries.get(&id), self.models.get_mut(key)) {
            idx.place(id, slot_in(entry, idx, now));
        }
    }

    /// Re-slot `id` in every index of base model `model` (pinned or not): they share its state.
    fn reslot_model(&mut self, id: CredId, model: &str, now: DateTime<Utc>) {
        let Some(entry) = self.entries.get(&id) else {
            return;
        };
        for idx in self.models.values_mut().filter(|i| i.model == model) {
            idx.place(id, slot_in(entry, idx, now));
        }
    }

    fn park(&mut self, id: CredId, class: ModelClass, reset: DateTime<Utc>, now: DateTime<Utc>) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        // A reset already past would park nothing; the view is stale, so skip this pick only.
        entry.parks[class.slot()] = Some(reset.max(add(now, std::time::Duration::from_secs(1))));
        let entry = &self.entries[&id];
        for idx in self.models.values_mut().filter(|i| i.class == class) {
            idx.place(id, slot_in(entry, idx, now));
        }
    }

    /// Re-slot the credentials of the index under `key` whose cooldown or park ran out.
    fn expire(&mut self, key: &str, now: DateTime<Utc>) {
        let due = self.models.get(key).map(|i| i.due(now)).unwrap_or_default();
        for id in due {
            if let Some(e) = self.entries.get_mut(&id) {
                e.state.prune_cooldowns(now);
                for p in e.parks.iter_mut() {
                    *p = p.filter(|t| *t > now);
                }
            }
            self.reslot(id, key, now);
        }
    }

    fn ensure_index(
        &mut self,
        key: &str,
        model: &str,
        pin: Option<Pin>,
        class: ModelClass,
        now: DateTime<Utc>,
    ) {
        let picks = self.picks;
        if let Some(idx) = self.models.get_mut(key) {
            idx.last_used = picks;
            return;
        }
        if self.models.len() >= MAX_MODEL_INDEXES
            && let Some(oldest) = self
                .models
                .iter()
                .min_by_key(|(_, i)| i.last_used)
                .map(|(m, _)| m.clone())
        {
            self.models.remove(&oldest);
        }
        let mut idx = ModelIndex::new(class).for_model(model, pin);
        idx.last_used = picks;
        for (id, e) in &self.entries {
            idx.place(*id, slot_in(e, &idx, now));
        }
        self.models.insert(key.to_owned(), idx);
    }

    /// Test-only audit: every index slot matches what the states say (or is a wait that is due
    /// and will be re-slotted lazily), and the global counters match a recount.
    #[cfg(test)]
    pub(crate) fn check_consistent(&self) -> Result<(), String> {
        let now = self.clock.now();
        let (d, b) = self
            .entries
            .values()
            .map(|e| inactive(&e.state))
            .fold((0, 0), |(d, b), (x, y)| (d + x, b + y));
        if (d, b) != (self.disabled, self.banned) {
            return Err(format!(
                "counters {:?} vs recount {:?}",
                (self.disabled, self.banned),
                (d, b)
            ));
        }
        for (model, idx) in &self.models {
            idx.check()?;
            if let Some(stray) = idx.ids().find(|id| !self.entries.contains_key(id)) {
                return Err(format!("{model}: removed credential {stray} still indexed"));
            }
            for (id, e) in &self.entries {
                let want = slot_in(e, idx, now);
                let have = idx.slot(*id);
                let due = matches!(have, Some(Slot::Cooling(t) | Slot::Parked(t)) if t <= now);
                if have != want && !due {
                    return Err(format!(
                        "{model}: credential {id} in {have:?}, should be {want:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    fn unavailable(&self, key: &str, exclude: &[CredId], now: DateTime<Utc>) -> Unavailable {
        let idx = &self.models[key];
        let counts = idx.counts();
        let mut excluded: Vec<CredId> = exclude
            .iter()
            .copied()
            .filter(|id| idx.slot(*id) == Some(Slot::Eligible))
            .collect();
        excluded.sort_unstable();
        excluded.dedup();
        let active = self.entries.len() - self.disabled - self.banned;
        Unavailable {
            model: key.to_owned(),
            total: self.entries.len(),
            not_offered: active.saturating_sub(idx.len()),
            disabled: self.disabled,
            banned: self.banned,
            unable: counts.unable,
            cooling: counts.cooling,
            over_quota: counts.parked,
            excluded: excluded.len(),
            next_free_at: idx.next_free(),
            now,
        }
    }
}
