//! Usage: each credential's counters and today's allowance, and history aggregated by day,
//! model, credential kind and credential.
use std::collections::HashMap;

use askama::Template;
use poem::web::{Data, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::Nav;
use super::web::{Opt, PanelError, options};
use crate::state::AppState;
use crate::usage::Totals;

pub const DAY_CHOICES: [u32; 4] = [1, 7, 14, 30];

pub struct CredLine {
    name: String,
    calls: u64,
    successes: u64,
    failures: u64,
    rate: String,
    pro: u64,
    flash: u64,
    total_today: String,
    pro_today: String,
    next_reset: String,
}

pub struct TotalsLine {
    label: String,
    requests: u64,
    request_failures: u64,
    calls: u64,
    call_failures: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    reasoning_tokens: u64,
}

#[derive(Template)]
#[template(path = "panel/usage.html")]
struct UsagePage {
    choices: Vec<Opt>,
    creds: Vec<CredLine>,
    /// One line; a list so the template can share the row partial.
    overall: Vec<TotalsLine>,
    per_day: Vec<TotalsLine>,
    per_model: Vec<TotalsLine>,
    per_kind: Vec<TotalsLine>,
    per_credential: Vec<TotalsLine>,
    /// Requests and tokens by client key (calls are per credential only).
    per_key: Vec<TotalsLine>,
    tr: super::i18n::Tr,
}

fn line(label: String, t: &Totals) -> TotalsLine {
    TotalsLine {
        label,
        requests: t.requests,
        request_failures: t.request_failures,
        calls: t.calls,
        call_failures: t.call_failures,
        prompt_tokens: t.prompt_tokens,
        completion_tokens: t.completion_tokens,
        reasoning_tokens: t.reasoning_tokens,
    }
}

fn percent(r: Option<f64>) -> String {
    r.map(|r| format!("{:.0} %", r * 100.0))
        .unwrap_or_else(|| "–".into())
}

fn allowance(q: &crate::usage::QuotaStatus) -> String {
    match q.limit {
        Some(l) => format!("{}/{l}", q.used),
        None => format!("{}/∞", q.used),
    }
}

#[derive(Deserialize)]
pub struct DaysQuery {
    days: Option<String>,
}

#[handler]
pub async fn page(
    req: &Request,
    state: Data<&AppState>,
    Query(q): Query<DaysQuery>,
) -> Result<Response, PanelError> {
    let days = q
        .days
        .and_then(|d| d.parse().ok())
        .filter(|d| DAY_CHOICES.contains(d))
        .unwrap_or(7);
    let rows = state
        .pool
        .list()
        .await
        .map_err(|e| PanelError::internal("cannot list credentials", e))?;
    let names: HashMap<i64, String> = rows.iter().map(|r| (r.id, r.name.clone())).collect();
    let name_of = |id: i64| match names.get(&id) {
        Some(n) => n.clone(),
        None if id == 0 => "(no credential)".into(),
        None => format!("#{id} (deleted)"),
    };
    let creds = rows
        .iter()
        .map(|r| {
            let u = state.usage.credential_stats(r.id);
            CredLine {
                name: r.name.clone(),
                calls: u.calls,
                successes: u.successes,
                failures: u.failures,
                rate: percent(u.success_rate),
                pro: u.by_class.pro,
                flash: u.by_class.flash,
                total_today: allowance(&u.today.total),
                pro_today: allowance(&u.today.pro),
                next_reset: u
                    .today
                    .next_reset
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }
        })
        .collect();
    let agg = state
        .usage
        .aggregated(days)
        .await
        .map_err(|e| PanelError::internal("cannot read usage history", e))?;
    let mut agg = agg;
    crate::keys::name_usage(&state.keys, &mut agg);
    let tr = super::i18n::Tr::current();
    let view = UsagePage {
        choices: options(&DAY_CHOICES, &days),
        creds,
        overall: vec![line(
            format!("{} → {}", agg.first_day, agg.last_day),
            &agg.overall,
        )],
        per_day: agg
            .per_day
            .iter()
            .map(|d| line(d.day.clone(), &d.totals))
            .collect(),
        per_model: agg
            .per_model
            .iter()
            .map(|m| line(m.model.clone(), &m.totals))
            .collect(),
        per_kind: agg
            .per_kind
            .iter()
            .map(|k| line(k.kind.label().to_string(), &k.totals))
            .collect(),
        per_credential: agg
            .per_credential
            .iter()
            .map(|c| line(name_of(c.credential_id), &c.totals))
            .collect(),
        per_key: agg
            .per_key
            .iter()
            .map(|k| {
                let name = k
                    .name
                    .clone()
                    .unwrap_or_else(|| tr.usage_deleted_key(k.key_id));
                line(name, &k.totals)
            })
            .collect(),
        tr,
    };
    super::web::page(
        req,
        super::i18n::Tr::current().nav_usage(),
        Nav::Usage,
        &view,
    )
}
