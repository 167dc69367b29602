//! The per-model eligibility index. Derived from the credential states, never persisted.
//!
//! For one base model every active credential sits in exactly one slot: eligible (an ordered set
//! the rotation walks), waiting (cooling or over its daily quota; ordered by the instant it frees,
//! so expiry and "next frees at" cost O(log n)), or unable. Disabled and banned credentials are
//! in no slot; the pool counts them globally.
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use chrono::{DateTime, Utc};

use super::state::CredentialState;
use super::{CredId, ModelClass};
use crate::google::kind::Pin;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Eligible,
    /// Cooling for this model; the instant is when it is pickable again.
    Cooling(DateTime<Utc>),
    /// Over the daily allowance for the model's class (and not cooling).
    Parked(DateTime<Utc>),
    Unable,
}

impl Slot {
    fn frees_at(self) -> Option<DateTime<Utc>> {
        match self {
            Slot::Cooling(t) | Slot::Parked(t) => Some(t),
            Slot::Eligible | Slot::Unable => None,
        }
    }
}

/// Where a credential belongs for `model` at `now`; `None` when it is disabled or banned.
pub(crate) fn slot_for(
    state: &CredentialState,
    park: Option<DateTime<Utc>>,
    model: &str,
    now: DateTime<Utc>,
) -> Option<Slot> {
    if !state.is_active() {
        return None;
    }
    if state.unable_models.contains(model) {
        return Some(Slot::Unable);
    }
    let park = park.filter(|t| *t > now);
    let cooling = state.cooldowns.get(model).filter(|c| c.blocks(now));
    // Both may hold; the one that lasts longer names the slot, so the label stays true until
    // the slot's deadline without anyone re-slotting in between.
    Some(match (cooling, park) {
        (Some(c), Some(p)) if p > c.until => Slot::Parked(p),
        (Some(c), _) => Slot::Cooling(c.until),
        (None, Some(p)) => Slot::Parked(p),
        (None, None) => Slot::Eligible,
    })
}

#[derive(Debug)]
pub(crate) struct ModelIndex {
    pub class: ModelClass,
    /// The base model (the states' cooldown key); the map key may carry a pin prefix.
    pub model: String,
    /// Only credentials of this upstream are indexed.
    pub pin: Option<Pin>,
    slots: HashMap<CredId, Slot>,
    pub eligible: BTreeSet<CredId>,
    waiting: BTreeSet<(DateTime<Utc>, CredId)>,
    cooling: usize,
    parked: usize,
    unable: usize,
    /// Pick counter value at last use, for evicting idle indexes.
    pub last_used: u64,
}

/// Per-model counts for an "unavailable" answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SlotCounts {
    pub eligible: usize,
    pub cooling: usize,
    pub parked: usize,
    pub unable: usize,
}

impl ModelIndex {
    pub fn new(class: ModelClass) -> Self {
        Self {
            class,
            model: String::new(),
            pin: None,
            slots: HashMap::new(),
            eligible: BTreeSet::new(),
            waiting: BTreeSet::new(),
            cooling: 0,
            parked: 0,
            unable: 0,
            last_used: 0,
        }
    }

    pub fn for_model(mut self, model: &str, pin: Option<Pin>) -> Self {
        self.model = model.to_owned();
        self.pin = pin;
        self
    }

    /// Credentials in any slot (those that serve the model and are active).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn slot(&self, id: CredId) -> Option<Slot> {
        self.slots.get(&id).copied()
    }

    /// Move `id` to `slot` (or out of the index). O(log n).
    pub fn place(&mut self, id: CredId, slot: Option<Slot>) {
        let old = match slot {
            Some(s) => self.slots.insert(id, s),
            None => self.slots.remove(&id),
        };
        if old == slot {
            return;
        }
        if let Some(old) = old {
            self.count(old, false);
            match old.frees_at() {
                Some(t) => {
                    self.waiting.remove(&(t, id));
                }
                None if old == Slot::Eligible => {
                    self.eligible.remove(&id);
                }
                None => {}
            }
        }
        if let Some(new) = slot {
            self.count(new, true);
            match new.frees_at() {
                Some(t) => {
                    self.waiting.insert((t, id));
                }
                None if new == Slot::Eligible => {
                    self.eligible.insert(id);
                }
                None => {}
            }
        }
    }

    fn count(&mut self, slot: Slot, add: bool) {
        let counter = match slot {
            Slot::Eligible => return,
            Slot::Cooling(_) => &mut self.cooling,
            Slot::Parked(_) => &mut self.parked,
            Slot::Unable => &mut self.unable,
        };
        if add {
            *counter += 1;
        } else {
            *counter -= 1;
        }
    }

    /// Ids whose wait is over at `now`, earliest first. O(k log n) for k due.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<CredId> {
        self.waiting
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, id)| *id)
            .collect()
    }

    pub fn next_free(&self) -> Option<DateTime<Utc>> {
        self.waiting.first().map(|(t, _)| *t)
    }

    pub fn counts(&self) -> SlotCounts {
        SlotCounts {
            eligible: self.eligible.len(),
            cooling: self.cooling,
            parked: self.parked,
            unable: self.unable,
        }
    }

    #[cfg(test)]
    pub fn ids(&self) -> impl Iterator<Item = CredId> + '_ {
        self.slots.keys().copied()
    }

    /// Test-only audit of the sets against the slot map.
    #[cfg(test)]
    pub fn check(&self) -> Result<(), String> {
        let mut recount = SlotCounts::default();
        for (id, slot) in &self.slots {
            let ok = match slot {
                Slot::Eligible => {
                    recount.eligible += 1;
                    self.eligible.contains(id)
                }
                Slot::Cooling(t) => {
                    recount.cooling += 1;
                    self.waiting.contains(&(*t, *id))
                }
                Slot::Parked(t) => {
                    recount.parked += 1;
                    self.waiting.contains(&(*t, *id))
                }
                Slot::Unable => {
                    recount.unable += 1;
                    true
                }
            };
            if !ok {
                return Err(format!(
                    "credential {id} in {slot:?} is missing from its set"
                ));
            }
        }
        let sizes = (self.eligible.len(), self.waiting.len());
        let want = (recount.eligible, recount.cooling + recount.parked);
        if recount != self.counts() || sizes != want {
            return Err(format!("counts {:?} vs recount {recount:?}", self.counts()));
        }
        Ok(())
    }

    /// The first eligible id after `after` in rotation order, wrapping around, with `after`
    /// itself last. Lazy: the caller stops at the first acceptable one.
    pub fn rotation_from(&self, after: Option<CredId>) -> impl Iterator<Item = CredId> + '_ {
        let (tail, head) = match after {
            Some(a) => (
                self.eligible.range((Bound::Excluded(a), Bound::Unbounded)),
                self.eligible.range(..=a),
            ),
            None => (self.eligible.range(..), self.eligible.range(..CredId::MIN)),
        };
        tail.chain(head).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::state::{Cooldown, CooldownReason};
    use chrono::TimeDelta;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(s)
    }

    #[test]
    fn slots_follow_state() {
        let mut s = CredentialState::default();
        assert_eq!(slot_for(&s, None, "m", t(0)), Some(Slot::Eligible));
        assert_eq!(
            slot_for(&s, Some(t(5)), "m", t(0)),
            Some(Slot::Parked(t(5)))
        );
        assert_eq!(slot_for(&s, Some(t(5)), "m", t(5)), Some(Slot::Eligible));
        s.cooldowns.insert(
            "m".into(),
            Cooldown {
                until: t(10),
                reason: CooldownReason::RateLimited,
                reset_at: None,
                probe_pending: false,
            },
        );
        assert_eq!(slot_for(&s, None, "m", t(0)), Some(Slot::Cooling(t(10))));
        assert_eq!(
            slot_for(&s, Some(t(20)), "m", t(0)),
            Some(Slot::Parked(t(20)))
        );
        assert_eq!(
            slot_for(&s, Some(t(5)), "m", t(0)),
            Some(Slot::Cooling(t(10)))
        );
        assert_eq!(slot_for(&s, None, "other", t(0)), Some(Slot::Eligible));
        assert_eq!(slot_for(&s, None, "m", t(10)), Some(Slot::Eligible));
        s.unable_models.insert("m".into());
        assert_eq!(slot_for(&s, None, "m", t(0)), Some(Slot::Unable));
        s.enabled = false;
        assert_eq!(slot_for(&s, None, "m", t(0)), None);
    }

    #[test]
    fn place_keeps_sets_and_counts_in_step() {
        let mut idx = ModelIndex::new(ModelClass::Pro);
        idx.place(1, Some(Slot::Eligible));
        idx.place(2, Some(Slot::Cooling(t(9))));
        idx.place(3, Some(Slot::Parked(t(4))));
        idx.place(4, Some(Slot::Unable));
        let c = idx.counts();
        assert_eq!((c.eligible, c.cooling, c.parked, c.unable), (1, 1, 1, 1));
        assert_eq!(idx.next_free(), Some(t(4)));
        assert_eq!(idx.due(t(5)), vec![3]);
        idx.place(3, Some(Slot::Eligible));
        idx.place(2, None);
        idx.place(4, Some(Slot::Eligible));
        let c = idx.counts();
        assert_eq!((c.eligible, c.cooling, c.parked, c.unable), (3, 0, 0, 0));
        assert_eq!(idx.next_free(), None);
        assert_eq!(
            idx.rotation_from(Some(3)).collect::<Vec<_>>(),
            vec![4, 1, 3]
        );
        assert_eq!(idx.rotation_from(None).collect::<Vec<_>>(), vec![1, 3, 4]);
        // A cursor that is no longer in the set still finds its place.
        assert_eq!(
            idx.rotation_from(Some(2)).collect::<Vec<_>>(),
            vec![3, 4, 1]
        );
    }
}
