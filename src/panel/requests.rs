//! The request log pages: the list with filters and paging, one request in detail, and the
//! CSV of the current filters.
use askama::Template;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use poem::http::{StatusCode, header};
use poem::web::{Data, Path, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::Nav;
use super::i18n::Tr;
use super::web::PanelError;
use crate::reqlog::{Filter, Row};
use crate::state::AppState;

const PAGE: u32 = 50;

#[derive(Deserialize, Default, Clone)]
pub struct RequestQuery {
    status: Option<String>,
    model: Option<String>,
    credential: Option<String>,
    surface: Option<String>,
    from: Option<String>,
    to: Option<String>,
    offset: Option<u32>,
}

fn clean(s: &Option<String>) -> String {
    s.as_deref()
        .map(|s| s.trim().chars().take(200).collect())
        .unwrap_or_default()
}

/// A `datetime-local` value, read in the reader's display zone.
fn local_time(s: &str, tr: &Tr) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    tr.tz
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The filters as the form holds them, and as the API's filter.
struct Filters {
    status: String,
    model: String,
    credential: String,
    surface: String,
    from: String,
    to: String,
}

impl Filters {
    fn of(q: &RequestQuery) -> Self {
        Self {
            status: clean(&q.status),
            model: clean(&q.model),
            credential: clean(&q.credential),
            surface: clean(&q.surface),
            from: clean(&q.from),
            to: clean(&q.to),
        }
    }

    fn filter(&self, tr: &Tr, limit: u32, offset: u32) -> Filter {
        crate::api::requests::filter(
            Some(self.status.as_str()).filter(|s| !s.is_empty()),
            Some(self.model.clone()),
            self.credential.parse().ok(),
            Some(self.surface.clone())
                .filter(|s| ["openai", "gemini", "anthropic", "responses"].contains(&s.as_str())),
            local_time(&self.from, tr),
            local_time(&self.to, tr),
            limit,
            offset,
        )
    }

    /// The query string that repeats these filters.
    fn query(&self) -> String {
        let enc =
            |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
        format!(
            "status={}&model={}&credential={}&surface={}&from={}&to={}",
            enc(&self.status),
            enc(&self.model),
            enc(&self.credential),
            enc(&self.surface),
            enc(&self.from),
            enc(&self.to)
        )
    }
}

pub struct Line {
    id: i64,
    time: String,
    surface: &'static str,
    client_model: String,
    served_model: String,
    credential: String,
    status: u16,
    failed: bool,
    latency: String,
    tokens: String,
}

pub struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "panel/requests.html")]
struct ListPage {
    tr: Tr,
    enabled: bool,
    prompts: bool,
    statuses: Vec<Choice>,
    credentials: Vec<Choice>,
    surfaces: Vec<Choice>,
    model: String,
    from: String,
    to: String,
    lines: Vec<Line>,
    shown: String,
    query: String,
    newer: Option<u32>,
    older: Option<u32>,
}

fn credential_label(tr: &Tr, r: &Row) -> String {
    match (r.entry.credential_id, &r.credential_name) {
        (_, Some(n)) => n.clone(),
        (Some(id), None) => tr.rl_deleted_cred(id),
        (None, None) => "–".into(),
    }
}

fn choice(value: &str, label: impl Into<String>, current: &str) -> Choice {
    Choice {
        value: value.to_string(),
        label: label.into(),
        selected: value == current,
    }
}

#[handler]
pub async fn list(
    req: &Request,
    state: Data<&AppState>,
    Query(q): Query<RequestQuery>,
) -> Result<Response, PanelError> {
    let tr = Tr::current();
    let f = Filters::of(&q);
    let offset = q.offset.unwrap_or(0);
    let page = state
        .reqlog
        .list(f.filter(&tr, PAGE, offset))
        .await
        .map_err(|e| PanelError::internal("cannot read the request log", e))?;
    let creds = state
        .pool
        .list()
        .await
        .map_err(|e| PanelError::internal("cannot list credentials", e))?;
    let lines = page
        .rows
        .iter()
        .map(|r| {
            let e = &r.entry;
            Line {
                id: r.id,
                time: tr.datetime(e.at),
                surface: e.surface,
                client_model: e.client_model.clone(),
                served_model: e.served_model.clone(),
                credential: credential_label(&tr, r),
                status: e.status,
                failed: e.status >= 400,
                latency: format!("{} ms", tr.num(e.latency_ms)),
                tokens: format!(
                    "{} / {}",
                    tr.num(e.prompt_tokens),
                    tr.num(e.completion_tokens)
                ),
            }
        })
        .collect();
    let mut statuses = vec![
        choice("", tr.rl_status_any(), &f.status),
        choice("error", tr.rl_status_errors(), &f.status),
    ];
    for s in [
        "2xx", "4xx", "5xx", "200", "400", "401", "429", "500", "502", "503",
    ] {
        statuses.push(choice(s, s, &f.status));
    }
    let mut credentials = vec![
        choice("", tr.rl_credential_any(), &f.credential),
        choice("0", tr.rl_credential_none(), &f.credential),
    ];
    credentials.extend(
        creds
            .iter()
            .map(|c| choice(&c.id.to_string(), c.name.clone(), &f.credential)),
    );
    let mut surfaces = vec![choice("", tr.rl_status_any(), &f.surface)];
    for s in ["openai", "gemini", "anthropic", "responses"] {
        surfaces.push(choice(s, s, &f.surface));
    }
    let shown = u64::from(offset) + page.rows.len() as u64;
    let view = ListPage {
        tr,
        enabled: state.reqlog.enabled(),
        prompts: state.reqlog.prompts(),
        statuses,
        credentials,
        surfaces,
        model: f.model.clone(),
        from: f.from.clone(),
        to: f.to.clone(),
        lines,
        shown: tr.rl_page(tr.num(shown), tr.num(page.total)),
        query: f.query(),
        newer: (offset > 0).then(|| offset.saturating_sub(PAGE)),
        older: (shown < page.total).then_some(offset + PAGE),
    };
    super::web::page(req, tr.rl_title(), Nav::Requests, &view)
}

#[handler]
pub async fn csv(
    state: Data<&AppState>,
    Query(q): Query<RequestQuery>,
) -> Result<Response, PanelError> {
    let tr = Tr::current();
    let f = Filters::of(&q).filter(&tr, crate::api::requests::CSV_MAX_ROWS, 0);
    let body = crate::api::requests::export_csv(&state, f)
        .await
        .map_err(|e| PanelError::internal("cannot read the request log", e))?;
    Ok(Response::builder()
        .content_type("text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"requests.csv\"",
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(body))
}

pub struct Field {
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "panel/request.html")]
struct DetailPage {
    tr: Tr,
    id: i64,
    found: bool,
    fields: Vec<Field>,
    error: Option<String>,
    prompt: Option<String>,
}

#[handler]
pub async fn detail(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<i64>,
) -> Result<Response, PanelError> {
    let tr = Tr::current();
    let row = state
        .reqlog
        .get(id)
        .await
        .map_err(|e| PanelError::internal("cannot read the request log", e))?;
    let prompts = state.reqlog.prompts();
    let view = match row {
        None => DetailPage {
            tr,
            id,
            found: false,
            fields: Vec::new(),
            error: None,
            prompt: None,
        },
        Some(r) => {
            let e = &r.entry;
            let yes_no = |b: bool| if b { tr.rl_yes() } else { tr.rl_no() }.to_string();
            let fields = vec![
                Field {
                    label: tr.rl_time(),
                    value: tr.datetime(e.at),
                },
                Field {
                    label: tr.rl_surface(),
                    value: e.surface.to_string(),
                },
                Field {
                    label: tr.rl_stream(),
                    value: yes_no(e.stream),
                },
                Field {
                    label: tr.rl_client_model(),
                    value: e.client_model.clone(),
                },
                Field {
                    label: tr.rl_served_model(),
                    value: e.served_model.clone(),
                },
                Field {
                    label: tr.rl_credential(),
                    value: credential_label(&tr, &r),
                },
                Field {
                    label: tr.rl_status(),
                    value: e.status.to_string(),
                },
                Field {
                    label: tr.rl_outcome(),
                    value: e.outcome.key(),
                },
                Field {
                    label: tr.rl_latency(),
                    value: format!("{} ms", tr.num(e.latency_ms)),
                },
                Field {
                    label: tr.rl_ttfb(),
                    value: e
                        .ttfb_ms
                        .map_or_else(|| "–".into(), |t| format!("{} ms", tr.num(t))),
                },
                Field {
                    label: tr.rl_attempts(),
                    value: tr.num(e.attempts),
                },
                Field {
                    label: tr.rl_tokens(),
                    value: format!(
                        "{} / {}",
                        tr.num(e.prompt_tokens),
                        tr.num(e.completion_tokens)
                    ),
                },
                Field {
                    label: tr.rl_reasoning(),
                    value: tr.num(e.reasoning_tokens),
                },
                Field {
                    label: tr.rl_client(),
                    value: e.client.clone(),
                },
            ];
            DetailPage {
                tr,
                id,
                found: true,
                fields,
                error: e.error.clone(),
                prompt: e.prompt_excerpt.clone().filter(|_| prompts),
            }
        }
    };
    let mut resp = super::web::page(req, tr.rl_detail_title(), Nav::Requests, &view)?;
    if !view.found {
        resp.set_status(StatusCode::NOT_FOUND);
    }
    Ok(resp)
}
