//! Usage: each credential's counters and today's allowance, and history aggregated by day,
//! model, credential kind and credential.
use std::collections::HashMap;

use askama::Template;
use poem::web::{Data, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::Nav;
use super::i18n::Tr;
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
    next_reset_text: String,
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
    tr: Tr,
    reset_at: String,
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

fn percent(tr: &Tr, r: Option<f64>) -> String {
    r.map(|r| tr.percent(r)).unwrap_or_else(|| "–".into())
}

fn allowance(tr: &Tr, q: &crate::usage::QuotaStatus) -> String {
    match q.limit {
        Some(l) => format!("{}/{}", tr.num(q.used), tr.num(l)),
        None => format!("{}/∞", tr.num(q.used)),
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
    let tr = Tr::current();
    let names: HashMap<i64, String> = rows.iter().map(|r| (r.id, r.name.clone())).collect();
    let name_of = |id: i64| match names.get(&id) {
        Some(n) => n.clone(),
        None if id == 0 => tr.us_no_credential().into(),
        None => tr.us_deleted(id),
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
                rate: percent(&tr, u.success_rate),
                pro: u.by_class.pro,
                flash: u.by_class.flash,
                total_today: allowance(&tr, &u.today.total),
                pro_today: allowance(&tr, &u.today.pro),
                next_reset_text: tr.datetime(u.today.next_reset),
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
    let settings = state.settings.get();
    let view = UsagePage {
        tr,
        reset_at: tr.time_of_day_in(settings.quota_reset_hour, 0, settings.quota_reset_timezone),
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
            .map(|k| line(tr.kind_label(k.kind.as_str()).to_string(), &k.totals))
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
    };
    super::web::page(
        req,
        super::i18n::Tr::current().nav_usage(),
        Nav::Usage,
        &view,
    )
}
