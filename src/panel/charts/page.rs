//! `GET /panel/charts`: requests, tokens and errors per hour (48 h) or per day (30 d), grouped
//! by model, credential or credential kind, and each credential's quota use today.
use std::collections::HashMap;

use askama::Template;
use poem::web::{Data, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::svg::{self, Series};
use super::{By, Metric, code_of, group};
use crate::panel::Nav;
use crate::panel::i18n::Tr;
use crate::panel::web::PanelError;
use crate::state::AppState;
use crate::usage::{Point, TimeSeries};

#[derive(Deserialize)]
pub struct ChartQuery {
    period: Option<String>,
    by: Option<String>,
}

pub struct LegendItem {
    pub label: String,
    /// The palette slot: the page's style sheet colours `.swatch.s<slot>` like the bars
    /// (the panel's CSP forbids inline styles).
    pub slot: usize,
}

/// One chart: its SVG, legend and the same numbers as a table.
pub struct ChartView {
    pub id: &'static str,
    pub title: String,
    pub note: Option<&'static str>,
    pub svg: String,
    pub legend: Vec<LegendItem>,
    pub headers: Vec<String>,
    /// (bucket label, one cell per series, total)
    pub rows: Vec<(String, Vec<String>, String)>,
    pub empty: bool,
}

pub struct QuotaLine {
    pub name: String,
    pub bar: String,
    pub text: String,
}

pub struct Opt {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "panel/charts.html")]
struct ChartsPage {
    tr: Tr,
    periods: Vec<Opt>,
    bys: Vec<Opt>,
    charts: Vec<ChartView>,
    quotas: Vec<QuotaLine>,
}

fn chart(
    tr: &Tr,
    id: &'static str,
    title: &str,
    x: &[String],
    series: &[Series],
    label_every: usize,
) -> ChartView {
    let totals = svg::stack_totals(series, x.len());
    let total: u64 = totals.iter().sum();
    let summary = tr.ch_summary(title, tr.num(total));
    ChartView {
        id,
        title: title.to_string(),
        note: None,
        svg: svg::stacked_bars(x, series, label_every, &summary),
        legend: series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendItem {
                label: s.label.clone(),
                slot: i % svg::PALETTE.len(),
            })
            .collect(),
        headers: series.iter().map(|s| s.label.clone()).collect(),
        rows: x
            .iter()
            .enumerate()
            .map(|(i, l)| {
                (
                    l.clone(),
                    series
                        .iter()
                        .map(|s| tr.num(s.values.get(i).copied().unwrap_or(0)))
                        .collect(),
                    tr.num(totals[i]),
                )
            })
            .collect(),
        empty: total == 0,
    }
}

#[handler]
pub async fn page(
    req: &Request,
    state: Data<&AppState>,
    Query(q): Query<ChartQuery>,
) -> Result<Response, PanelError> {
    let tr = Tr::current();
    let daily = q.period.as_deref() == Some("30d");
    let by = match q.by.as_deref() {
        Some("credential") => By::Credential,
        Some("kind") => By::Kind,
        _ => By::Model,
    };
    let rows = state
        .pool
        .list()
        .await
        .map_err(|e| PanelError::internal("cannot list credentials", e))?;
    let names: HashMap<i64, String> = rows.iter().map(|r| (r.id, r.name.clone())).collect();
    let ts: TimeSeries = if daily {
        state.usage.daily_series().await
    } else {
        state.usage.hourly_series().await
    }
    .map_err(|e| PanelError::internal("cannot read usage history", e))?;
    let (x, every): (Vec<String>, usize) = if daily {
        (
            ts.days
                .iter()
                .map(|d| d.format("%m-%d").to_string())
                .collect(),
            5,
        )
    } else {
        (
            ts.hours
                .iter()
                .map(|h| h.with_timezone(&tr.tz).format("%H:00").to_string())
                .collect(),
            6,
        )
    };
    let label = |p: &Point| -> String {
        match by {
            By::Model => p.model.clone(),
            By::Credential => match names.get(&p.credential_id) {
                Some(n) => n.clone(),
                None if p.credential_id == 0 => tr.ch_none().to_string(),
                None => tr.rl_deleted_cred(p.credential_id),
            },
            By::Kind => p.kind.map_or_else(
                || tr.ch_none().to_string(),
                |k| tr.kind_label(k.as_str()).to_string(),
            ),
        }
    };
    let other = tr.ch_other();
    let n = x.len();
    let requests = group(&ts.points, n, Metric::Requests, label, other);
    let tokens = group(&ts.points, n, Metric::Tokens, label, other);
    let errors = group(
        &ts.points,
        n,
        Metric::Errors,
        |p| code_of(&p.outcome),
        other,
    );
    let mut error_chart = chart(&tr, "chart-errors", tr.ch_errors(), &x, &errors, every);
    if daily {
        error_chart.note = Some(tr.ch_errors_daily_note());
    }
    let charts = vec![
        chart(
            &tr,
            "chart-requests",
            tr.ch_requests(),
            &x,
            &requests,
            every,
        ),
        chart(&tr, "chart-tokens", tr.ch_tokens(), &x, &tokens, every),
        error_chart,
    ];
    let quotas = rows
        .iter()
        .map(|r| {
            let t = state.usage.credential_stats(r.id).today.total;
            let text = match t.limit {
                Some(l) => tr.ch_quota_summary(tr.num(t.used), tr.num(l)),
                None => format!("{} · {}", tr.num(t.used), tr.ch_unlimited()),
            };
            QuotaLine {
                name: r.name.clone(),
                bar: svg::quota_bar(t.used, t.limit, &text),
                text,
            }
        })
        .collect();
    let periods = vec![
        Opt {
            value: "48h",
            label: tr.ch_48h(),
            selected: !daily,
        },
        Opt {
            value: "30d",
            label: tr.ch_30d(),
            selected: daily,
        },
    ];
    let bys = vec![
        Opt {
            value: "model",
            label: tr.ch_by_model(),
            selected: by == By::Model,
        },
        Opt {
            value: "credential",
            label: tr.ch_by_credential(),
            selected: by == By::Credential,
        },
        Opt {
            value: "kind",
            label: tr.ch_by_kind(),
            selected: by == By::Kind,
        },
    ];
    let view = ChartsPage {
        tr,
        periods,
        bys,
        charts,
        quotas,
    };
    crate::panel::web::page(req, tr.ch_title(), Nav::Charts, &view)
}
