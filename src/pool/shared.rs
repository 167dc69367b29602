//! The part of a credential's state that instances sharing one PostgreSQL database must agree
//! on: the manual switch, the ban, per-model cooldowns and the models it cannot serve. The rest
//! (counters, error history, last use) stays each instance's own and is never merged.
//!
//! Every instance writes the whole state document, so a plain last-writer-wins would let an
//! instance that changed nothing overwrite another's fresh cooldown with its stale copy. Each
//! instance therefore remembers the shared part as it last agreed with the database (`base`)
//! and merges three ways: a field (a switch, a ban, one model's cooldown, one "unable" mark)
//! that this instance changed since `base` keeps its value; every other field takes what the
//! database holds. The same merge runs when writing (against the row read `FOR UPDATE`) and
//! when a notification says another instance wrote (against the row read then).
use std::collections::{BTreeMap, BTreeSet};

use super::state::{Ban, Cooldown, CredentialState};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shared {
    pub enabled: bool,
    pub ban: Option<Ban>,
    pub cooldowns: BTreeMap<String, Cooldown>,
    pub unable_models: BTreeSet<String>,
}

impl Shared {
    pub fn of(s: &CredentialState) -> Self {
        Self {
            enabled: s.enabled,
            ban: s.ban.clone(),
            cooldowns: s.cooldowns.clone(),
            unable_models: s.unable_models.clone(),
        }
    }

    /// `s` with its shared part replaced by this one.
    pub fn apply_to(&self, s: &mut CredentialState) {
        s.enabled = self.enabled;
        s.ban = self.ban.clone();
        s.cooldowns = self.cooldowns.clone();
        s.unable_models = self.unable_models.clone();
    }
}

/// Three-way merge: what `ours` changed since `base` wins, the rest comes from `theirs`.
pub fn merge(base: &Shared, ours: &Shared, theirs: &Shared) -> Shared {
    let pick = |b, o, t| if o != b { o } else { t };
    let enabled = pick(base.enabled, ours.enabled, theirs.enabled);
    let ban = if ours.ban != base.ban {
        ours.ban.clone()
    } else {
        theirs.ban.clone()
    };
    let mut cooldowns = BTreeMap::new();
    let models: BTreeSet<&String> = base
        .cooldowns
        .keys()
        .chain(ours.cooldowns.keys())
        .chain(theirs.cooldowns.keys())
        .collect();
    for m in models {
        let (b, o, t) = (
            base.cooldowns.get(m),
            ours.cooldowns.get(m),
            theirs.cooldowns.get(m),
        );
        let chosen = if o != b { o } else { t };
        if let Some(c) = chosen {
            cooldowns.insert(m.clone(), c.clone());
        }
    }
    let mut unable_models = BTreeSet::new();
    let names: BTreeSet<&String> = base
        .unable_models
        .iter()
        .chain(&ours.unable_models)
        .chain(&theirs.unable_models)
        .collect();
    for m in names {
        let (b, o, t) = (
            base.unable_models.contains(m),
            ours.unable_models.contains(m),
            theirs.unable_models.contains(m),
        );
        if pick(b, o, t) {
            unable_models.insert(m.clone());
        }
    }
    Shared {
        enabled,
        ban,
        cooldowns,
        unable_models,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::state::{BanKind, CooldownReason};
    use chrono::{TimeZone, Utc};

    fn cd(secs: i64) -> Cooldown {
        Cooldown {
            until: Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap(),
            reason: CooldownReason::RateLimited,
            reset_at: None,
            probe_pending: false,
        }
    }

    fn ban() -> Ban {
        Ban {
            kind: BanKind::AutoBan,
            status: Some(403),
            reason: "no".into(),
            link: None,
            at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        }
    }

    fn base() -> Shared {
        Shared {
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn an_instance_that_changed_nothing_takes_the_database() {
        let mut theirs = base();
        theirs.cooldowns.insert("pro".into(), cd(60));
        theirs.ban = Some(ban());
        theirs.enabled = false;
        assert_eq!(merge(&base(), &base(), &theirs), theirs);
    }

    #[test]
    fn changes_on_both_sides_to_different_fields_both_survive() {
        let mut ours = base();
        ours.cooldowns.insert("flash".into(), cd(30));
        ours.unable_models.insert("preview".into());
        let mut theirs = base();
        theirs.cooldowns.insert("pro".into(), cd(60));
        theirs.enabled = false;
        let m = merge(&base(), &ours, &theirs);
        assert_eq!(m.cooldowns.len(), 2);
        assert!(!m.enabled);
        assert!(m.unable_models.contains("preview"));
    }

    #[test]
    fn our_lift_and_unban_win_over_the_stale_copy() {
        let mut b = base();
        b.cooldowns.insert("pro".into(), cd(60));
        b.ban = Some(ban());
        b.unable_models.insert("preview".into());
        let ours = base();
        let m = merge(&b, &ours, &b);
        assert_eq!(m, base());
    }

    #[test]
    fn their_lift_reaches_us_when_we_did_not_touch_the_model() {
        let mut b = base();
        b.cooldowns.insert("pro".into(), cd(60));
        let m = merge(&b, &b, &base());
        assert!(m.cooldowns.is_empty());
    }

    #[test]
    fn the_same_model_cooled_on_both_sides_keeps_the_side_that_changed_it() {
        let mut ours = base();
        ours.cooldowns.insert("pro".into(), cd(10));
        let mut theirs = base();
        theirs.cooldowns.insert("pro".into(), cd(90));
        // Ours changed the model since base: ours stands (the writer owns its change).
        assert_eq!(merge(&base(), &ours, &theirs).cooldowns["pro"], cd(10));
        // Unchanged on our side: theirs.
        assert_eq!(merge(&ours, &ours, &theirs).cooldowns["pro"], cd(90));
    }
}
