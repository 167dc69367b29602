//! The credentials page at scale: search, filter, sort and page in memory, then read only the
//! rows of the page. Everything a filter or a sort needs is already in the pool (state,
//! profile) or in the name map, so a page of 10,000 credentials costs one pass over memory
//! and one small `WHERE id IN (...)` read, never the whole table (payloads included).
use std::cmp::Ordering;

use super::PoolService;
use crate::google::kind::CredentialKind;
use crate::pool::view::Credential;
use crate::pool::{CredId, CredentialState, Health, PoolSummary, Profile};
use crate::store::StoreError;
use crate::store::credentials as repo;
use crate::usage::UsageService;

/// Largest page; a bulk selection is made of pages, or of ids.
pub const MAX_PER_PAGE: usize = 500;

pub fn query_max_per() -> usize {
    MAX_PER_PAGE
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    /// Oldest first (ids grow with every import).
    #[default]
    Id,
    Name,
    /// By the state word, in the order active, cooling, disabled, banned, needs sign-in.
    Status,
    LastUsed,
    /// Error records, all statuses together.
    Errors,
    Calls,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Id,
        SortKey::Name,
        SortKey::Status,
        SortKey::LastUsed,
        SortKey::Errors,
        SortKey::Calls,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Id => "id",
            SortKey::Name => "name",
            SortKey::Status => "status",
            SortKey::LastUsed => "last_used",
            SortKey::Errors => "errors",
            SortKey::Calls => "calls",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Which error history to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorFilter {
    /// Any recorded upstream error.
    Any,
    /// No recorded error.
    None,
    /// An error with this upstream status.
    Status(u16),
}

impl ErrorFilter {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "any" => Some(Self::Any),
            "none" => Some(Self::None),
            n => n.parse().ok().map(Self::Status),
        }
    }

    pub fn as_string(self) -> String {
        match self {
            Self::Any => "any".into(),
            Self::None => "none".into(),
            Self::Status(n) => n.to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialQuery {
    /// Part of the name, e-mail, project or quota group (any case), or the id.
    pub search: Option<String>,
    pub kind: Option<CredentialKind>,
    pub status: Option<Health>,
    /// Only credentials that can serve this model: it is among the models their kind or
    /// model list offers, and it has not answered "not available" through them.
    pub model: Option<String>,
    pub error: Option<ErrorFilter>,
    pub sort: SortKey,
    pub desc: bool,
    /// From 1; past the last page means the last page.
    pub page: usize,
    pub per: usize,
}

impl Default for CredentialQuery {
    fn default() -> Self {
        Self {
            search: None,
            kind: None,
            status: None,
            model: None,
            error: None,
            sort: SortKey::Id,
            desc: false,
            page: 1,
            per: 20,
        }
    }
}

/// One page of ids, and what the whole selection looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryPage {
    /// This page, in order.
    pub ids: Vec<CredId>,
    /// Every credential that matches, in order (for "select all matching").
    pub matching: usize,
    pub page: usize,
    pub pages: usize,
    pub per: usize,
    /// State counts over the whole pool, whatever the filter.
    pub counts: PoolSummary,
}

fn health_rank(h: Health) -> u8 {
    match h {
        Health::Active => 0,
        Health::Cooling => 1,
        Health::Disabled => 2,
        Health::Banned => 3,
        Health::NeedsSignIn => 4,
    }
}

struct Hit {
    id: CredId,
    name: std::sync::Arc<str>,
    rank: u8,
    last_used: i64,
    errors: u64,
    calls: u64,
}

impl CredentialQuery {
    fn keeps(
        &self,
        id: CredId,
        name: &str,
        state: &CredentialState,
        profile: &Profile,
        health: Health,
    ) -> bool {
        if self.kind.is_some_and(|k| k != profile.kind) || self.status.is_some_and(|s| s != health)
        {
            return false;
        }
        if let Some(m) = &self.model
            && (!profile.serves(m) || state.unable_models.contains(m))
        {
            return false;
        }
        match self.error {
            Some(ErrorFilter::Any) if state.errors.is_empty() => return false,
            Some(ErrorFilter::None) if !state.errors.is_empty() => return false,
            Some(ErrorFilter::Status(n)) if !state.errors.contains_key(&n) => return false,
            _ => {}
        }
        match self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => true,
            Some(q) => {
                let q = q.to_lowercase();
                let has = |s: Option<&str>| s.is_some_and(|s| s.to_lowercase().contains(&q));
                id.to_string() == q
                    || has(Some(name))
                    || has(state.email.as_deref())
                    || has(state.project_id.as_deref())
                    || has(profile.group.as_deref())
            }
        }
    }

    fn compare(&self, a: &Hit, b: &Hit) -> Ordering {
        let by = match self.sort {
            SortKey::Id => Ordering::Equal,
            SortKey::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
            SortKey::Status => a.rank.cmp(&b.rank),
            SortKey::LastUsed => a.last_used.cmp(&b.last_used),
            SortKey::Errors => a.errors.cmp(&b.errors),
            SortKey::Calls => a.calls.cmp(&b.calls),
        };
        // Ties keep id order, so paging is stable.
        let by = by.then(a.id.cmp(&b.id));
        if self.desc { by.reverse() } else { by }
    }
}

impl PoolService {
    /// Every credential matching `q`, in `q`'s order (ids only). O(n log n) over memory.
    pub fn select(&self, q: &CredentialQuery) -> (Vec<CredId>, PoolSummary) {
        let names = self.inner.names.read();
        let core = self.core();
        let now = core.now();
        let mut hits = Vec::new();
        let mut counts = PoolSummary::default();
        core.each(|id, state, profile, in_flight| {
            let health = state.health(now);
            counts.total += 1;
            counts.in_flight += u64::from(in_flight);
            match health {
                Health::Active => counts.active += 1,
                Health::Cooling => counts.cooling += 1,
                Health::Disabled => counts.disabled += 1,
                Health::Banned => counts.banned += 1,
                Health::NeedsSignIn => counts.needs_sign_in += 1,
            }
            let name = names.get(&id).cloned().unwrap_or_else(|| "".into());
            if q.keeps(id, &name, state, profile, health) {
                hits.push(Hit {
                    id,
                    name,
                    rank: health_rank(health),
                    last_used: state.last_used.map_or(0, |t| t.timestamp_millis()),
                    errors: state.errors.values().map(|e| e.count).sum(),
                    calls: state.calls,
                });
            }
        });
        drop(core);
        drop(names);
        hits.sort_unstable_by(|a, b| q.compare(a, b));
        (hits.into_iter().map(|h| h.id).collect(), counts)
    }

    /// One page of [`PoolService::select`].
    pub fn query(&self, q: &CredentialQuery) -> QueryPage {
        let per = q.per.clamp(1, MAX_PER_PAGE);
        let (all, counts) = self.select(q);
        let matching = all.len();
        let pages = matching.div_ceil(per).max(1);
        let page = q.page.clamp(1, pages);
        let ids = all.into_iter().skip((page - 1) * per).take(per).collect();
        QueryPage {
            ids,
            matching,
            page,
            pages,
            per,
            counts,
        }
    }

    /// The views of `ids`, in that order; ids that do not exist are left out. One read of
    /// just these rows.
    pub async fn views_of(
        &self,
        ids: &[CredId],
        usage: &UsageService,
    ) -> Result<Vec<Credential>, StoreError> {
        let wanted = ids.to_vec();
        let rows = self
            .store()
            .run(move |db| repo::get_many(db, &wanted))
            .await?;
        let mut by_id: std::collections::HashMap<CredId, repo::CredentialRow> =
            rows.into_iter().map(|r| (r.id, r)).collect();
        Ok(ids
            .iter()
            .filter_map(|id| by_id.remove(id))
            .map(|row| self.view_of(&row, usage))
            .collect())
    }
}
