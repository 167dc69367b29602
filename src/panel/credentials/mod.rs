//! The credential table: filter by status, page through, and act on one row at a time. Every
//! action answers the re-rendered row (or nothing, for delete) plus a toast.
mod row;
mod transfer;

pub use transfer::{export_all, export_one, paste_keys, upload};

use askama::Template;
use poem::web::{Data, Path, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;

use self::row::RowView;
use super::Nav;
use super::i18n::Tr;
use super::web::{Opt, PanelError, Toast, html, hx_target, options, render, trigger, with_toast};
use crate::pool::bulk::{BulkAction, BulkError, BulkOutcome};
use crate::pool::service::{CredentialQuery, ErrorFilter, SortKey};
use crate::pool::{CredId, Health, PoolSummary};
use crate::state::AppState;

pub const PAGE_SIZES: [usize; 4] = [20, 50, 100, 500];
pub const STATUSES: [&str; 6] = [
    "all",
    "active",
    "cooling",
    "disabled",
    "banned",
    "needs_sign_in",
];
pub const KINDS: [&str; 5] = [
    "all",
    "code_assist",
    "gemini_api_key",
    "vertex_service_account",
    "vertex_express_key",
];
pub const ERRORS: [&str; 10] = [
    "all", "any", "none", "400", "401", "403", "404", "429", "500", "503",
];
pub const SORTS: [&str; 6] = ["id", "name", "status", "last_used", "errors", "calls"];

#[derive(Deserialize, Default)]
pub struct Filter {
    // Also read from a bulk form's `all_matching` field (see `Filter::from_query`).
    q: Option<String>,
    status: Option<String>,
    kind: Option<String>,
    model: Option<String>,
    error: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    page: Option<String>,
    per: Option<String>,
}

/// A filter with every value checked: anything unknown falls back to the default.
struct Selected {
    q: String,
    status: &'static str,
    kind: &'static str,
    model: String,
    error: &'static str,
    sort: &'static str,
    desc: bool,
    page: usize,
    per: usize,
}

fn pick(all: &[&'static str], v: Option<&str>) -> &'static str {
    all.iter()
        .find(|s| Some(**s) == v)
        .copied()
        .unwrap_or(all[0])
}

/// Free text from the address bar, trimmed and bounded.
fn text(v: Option<&str>) -> String {
    v.unwrap_or_default().trim().chars().take(200).collect()
}

impl Filter {
    /// The filter of a table address (`q=...&status=...`), as the bulk form sends it back.
    fn from_query(query: &str) -> Filter {
        let mut f = Filter::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let v = Some(v.into_owned());
            match k.as_ref() {
                "q" => f.q = v,
                "status" => f.status = v,
                "kind" => f.kind = v,
                "model" => f.model = v,
                "error" => f.error = v,
                "sort" => f.sort = v,
                "order" => f.order = v,
                _ => {}
            }
        }
        f
    }

    fn selected(&self) -> Selected {
        let per = self
            .per
            .as_deref()
            .and_then(|p| p.parse().ok())
            .filter(|p| PAGE_SIZES.contains(p))
            .unwrap_or(PAGE_SIZES[0]);
        let page = self
            .page
            .as_deref()
            .and_then(|p| p.parse().ok())
            .filter(|p: &usize| *p >= 1)
            .unwrap_or(1);
        Selected {
            q: text(self.q.as_deref()),
            status: pick(&STATUSES, self.status.as_deref()),
            kind: pick(&KINDS, self.kind.as_deref()),
            model: text(self.model.as_deref()),
            error: pick(&ERRORS, self.error.as_deref()),
            sort: pick(&SORTS, self.sort.as_deref()),
            desc: self.order.as_deref() == Some("desc"),
            page,
            per,
        }
    }
}

impl Selected {
    fn query(&self) -> CredentialQuery {
        CredentialQuery {
            search: Some(self.q.clone()).filter(|q| !q.is_empty()),
            kind: crate::google::kind::CredentialKind::parse(self.kind),
            status: Health::parse(self.status),
            model: Some(self.model.clone()).filter(|m| !m.is_empty()),
            error: ErrorFilter::parse(self.error),
            sort: SortKey::parse(self.sort).unwrap_or_default(),
            desc: self.desc,
            page: self.page,
            per: self.per,
        }
    }

    /// The address of `page` with these filters.
    fn at(&self, page: usize) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "q={}&status={}&kind={}&model={}&error={}&sort={}&order={}&per={}&page={page}",
            enc(&self.q),
            self.status,
            self.kind,
            enc(&self.model),
            self.error,
            self.sort,
            if self.desc { "desc" } else { "asc" },
            self.per
        )
    }
}

/// The state counts over the whole pool, one element the page swaps on its own.
#[derive(Template)]
#[template(path = "panel/partials/cred_counts.html")]
pub struct Counts {
    tr: Tr,
    /// Formatted for the reader (thousands separators).
    total: String,
    active: String,
    cooling: String,
    disabled: String,
    banned: String,
    needs_sign_in: String,
    /// Rendered inside a `<template>` as an out-of-band swap after a row action.
    oob: bool,
}

impl Counts {
    fn of(s: PoolSummary, oob: bool) -> Self {
        let tr = Tr::current();
        let n = |v: usize| tr.num(v as u64);
        Counts {
            total: n(s.total),
            active: n(s.active),
            cooling: n(s.cooling),
            disabled: n(s.disabled),
            banned: n(s.banned),
            needs_sign_in: n(s.needs_sign_in),
            tr,
            oob,
        }
    }
}

#[derive(Template)]
#[template(path = "panel/partials/cred_table.html")]
struct Table {
    tr: Tr,
    rows: Vec<RowView>,
    counts: super::web::Fragment,
    /// "Page 2 of 9 (showing 21–40 of 170)", in the reader's language.
    pager: String,
    /// Query strings of this page and its neighbours.
    here: String,
    /// How many credentials match the filter, when that is more than this page shows: the
    /// bulk actions can then apply to all of them.
    matching: Option<String>,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "panel/credentials.html")]
struct CredentialsPage {
    tr: Tr,
    table: super::web::Fragment,
    q: String,
    model: String,
    statuses: Vec<Opt>,
    kinds: Vec<Opt>,
    errors: Vec<Opt>,
    sorts: Vec<Opt>,
    desc: bool,
    page_sizes: Vec<Opt>,
}

#[derive(Template)]
#[template(path = "panel/partials/cred_row.html")]
struct RowTemplate {
    tr: Tr,
    row: RowView,
}

impl RowTemplate {
    fn new(row: RowView) -> Self {
        RowTemplate {
            tr: Tr::current(),
            row,
        }
    }
}

/// One page: the filter, sort and paging run in memory over the pool; only the page's rows
/// are read from the database.
async fn table(state: &AppState, sel: &Selected) -> Result<Table, PanelError> {
    let found = state.pool.query(&sel.query());
    let rows: Vec<RowView> = state
        .pool
        .views_of(&found.ids, &state.usage)
        .await
        .map_err(|e| PanelError::internal("cannot list credentials", e))?
        .into_iter()
        .map(RowView::from)
        .collect();
    let skip = (found.page - 1) * found.per;
    let tr = Tr::current();
    let n = |v: usize| tr.num(v as u64);
    let pager = tr.cred_pager(
        n(found.page),
        n(found.pages),
        n(if rows.is_empty() { 0 } else { skip + 1 }),
        n(skip + rows.len()),
        n(found.matching),
    );
    Ok(Table {
        tr,
        pager,
        matching: (found.matching > rows.len()).then(|| n(found.matching)),
        here: sel.at(found.page),
        prev: (found.page > 1).then(|| sel.at(found.page - 1)),
        next: (found.page < found.pages).then(|| sel.at(found.page + 1)),
        rows,
        counts: render(&Counts::of(found.counts, false))?,
    })
}

#[handler]
pub async fn list(
    req: &Request,
    state: Data<&AppState>,
    Query(filter): Query<Filter>,
) -> Result<Response, PanelError> {
    let sel = filter.selected();
    let t = table(&state, &sel).await?;
    if hx_target(req) == Some("cred-table") {
        return Ok(html(t.render()?));
    }
    let view = CredentialsPage {
        tr: Tr::current(),
        table: render(&t)?,
        q: sel.q.clone(),
        model: sel.model.clone(),
        statuses: options(&STATUSES, &sel.status),
        kinds: options(&KINDS, &sel.kind),
        errors: options(&ERRORS, &sel.error),
        sorts: options(&SORTS, &sel.sort),
        desc: sel.desc,
        page_sizes: options(&PAGE_SIZES, &sel.per),
    };
    super::web::page(
        req,
        super::i18n::Tr::current().nav_credentials(),
        Nav::Credentials,
        &view,
    )
}

/// The row (or nothing, after a delete) plus the pool's counts swapped out of band, so the
/// counts at the top of the table follow every action.
fn with_counts(state: &AppState, body: String) -> Result<Response, PanelError> {
    let counts = Counts::of(state.pool.summary(), true).render()?;
    Ok(html(format!("{body}{counts}")))
}

#[derive(Deserialize)]
pub struct BulkForm {
    action: String,
    /// Every checked box sends one `ids` field.
    #[serde(default)]
    ids: Vec<String>,
    /// The table's filter when "all matching" is checked: the action then applies to every
    /// credential the filter matches, on every page, instead of the checked rows.
    #[serde(default)]
    all_matching: Option<String>,
}

fn bulk_ids(raw: &[String]) -> Vec<CredId> {
    raw.iter().filter_map(|s| s.trim().parse().ok()).collect()
}

/// The credentials a bulk form names: every match of its filter, or its checked rows.
fn targets(state: &AppState, form: &BulkForm) -> Vec<CredId> {
    match &form.all_matching {
        Some(query) => {
            state
                .pool
                .select(&Filter::from_query(query).selected().query())
                .0
        }
        None => bulk_ids(&form.ids),
    }
}

/// Bulk enable, disable, delete and re-check: the same service as `POST /api/v1/credentials/bulk`.
/// Answers a toast saying what happened and `rows-changed`, which reloads the table (counts
/// included) with its current filter.
#[handler]
pub async fn bulk(state: Data<&AppState>, body: poem::Body) -> Result<Response, PanelError> {
    let form = read_form(body).await?;
    let tr = Tr::current();
    let Some(act) = BulkAction::parse(&form.action) else {
        return Err(PanelError::BadRequest(format!(
            "no bulk action named {}",
            form.action
        )));
    };
    let ids = targets(&state, &form);
    let items = match state.pool.bulk(act, &ids).await {
        Ok(items) => items,
        Err(BulkError::Empty) => {
            return Ok(with_toast(
                html(""),
                Toast::error(tr.cred_bulk_none().to_string()),
            ));
        }
        Err(BulkError::TooMany) => {
            return Err(PanelError::BadRequest(BulkError::TooMany.to_string()));
        }
        Err(e) => return Err(PanelError::internal("bulk action failed", e)),
    };
    let count = |o: BulkOutcome| items.iter().filter(|i| i.outcome == o).count();
    let done = count(BulkOutcome::Done);
    let text = match act {
        BulkAction::Recheck => tr.cred_bulk_rechecked(
            tr.num(done as u64),
            tr.num(count(BulkOutcome::Refused) as u64),
            tr.num(count(BulkOutcome::Unchecked) as u64),
        ),
        BulkAction::Enable => tr.cred_bulk_enabled(tr.num(done as u64)),
        BulkAction::Disable => tr.cred_bulk_disabled(tr.num(done as u64)),
        BulkAction::Delete => tr.cred_bulk_deleted(tr.num(done as u64)),
    };
    tracing::info!(
        action = act.as_str(),
        done,
        "bulk credential action in the panel"
    );
    Ok(trigger(html(""), Some(Toast::ok(text)), &["rows-changed"]))
}

/// A form body with repeated fields (`ids=1&ids=2`), which poem's `Form` cannot collect.
async fn read_form(body: poem::Body) -> Result<BulkForm, PanelError> {
    let bytes = body
        .into_bytes()
        .await
        .map_err(|e| PanelError::BadRequest(format!("cannot read the form: {e}")))?;
    let mut form = BulkForm {
        action: String::new(),
        ids: Vec::new(),
        all_matching: None,
    };
    for (k, v) in url::form_urlencoded::parse(&bytes) {
        match k.as_ref() {
            "action" => form.action = v.into_owned(),
            "ids" => form.ids.push(v.into_owned()),
            "all_matching" => form.all_matching = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok(form)
}

/// The checked credentials as one ZIP (a plain form post: the browser saves the answer).
#[handler]
pub async fn export_selected(
    state: Data<&AppState>,
    body: poem::Body,
) -> Result<Response, PanelError> {
    let form = read_form(body).await?;
    let ids = targets(&state, &form);
    let zip = match state.pool.export_some(&ids).await {
        Ok(zip) => zip,
        Err(BulkError::Empty) => {
            return Err(PanelError::BadRequest(
                Tr::current().cred_bulk_none().to_string(),
            ));
        }
        Err(BulkError::TooMany) => {
            return Err(PanelError::BadRequest(BulkError::TooMany.to_string()));
        }
        Err(e) => return Err(PanelError::internal("cannot export", e)),
    };
    Ok(Response::builder()
        .content_type("application/zip")
        .header(
            poem::http::header::CONTENT_DISPOSITION,
            crate::api::credentials::content_disposition("credentials.zip"),
        )
        .header(poem::http::header::CACHE_CONTROL, "no-store")
        .body(zip))
}

#[handler]
pub async fn action(
    state: Data<&AppState>,
    Path((id, action)): Path<(CredId, String)>,
) -> Result<Response, PanelError> {
    let tr = Tr::current();
    let store_err = |e| PanelError::internal("cannot save the credential", e);
    let (found, done): (bool, fn(&Tr, &str) -> String) = match action.as_str() {
        "enable" => (
            state.pool.set_enabled(id, true).await.map_err(store_err)?,
            |t, n| t.cr_toast_enabled(n),
        ),
        "disable" => (
            state.pool.set_enabled(id, false).await.map_err(store_err)?,
            |t, n| t.cr_toast_disabled(n),
        ),
        "unban" => (
            state
                .pool
                .clear_errors_and_unban(id)
                .await
                .map_err(store_err)?,
            |t, n| t.cr_toast_unbanned(n),
        ),
        "identify" => {
            if state.pool.state(id).is_none() {
                return Err(not_found(id));
            }
            if let Err(e) = state.pool.identify(id).await {
                let msg = crate::logs::redact(&e.to_string()).into_owned();
                let r = html(RowTemplate::new(load(&state, id).await?).render()?);
                return Ok(with_toast(
                    r,
                    Toast::error(tr.cr_toast_identify_failed(msg)),
                ));
            }
            (true, |t, n| t.cr_toast_identified(n))
        }
        "delete" => {
            let gone = state
                .pool
                .delete(id)
                .await
                .map_err(|e| PanelError::internal("cannot delete the credential", e))?;
            if !gone {
                return Err(not_found(id));
            }
            tracing::info!(credential = id, "credential deleted in the panel");
            return Ok(with_toast(
                with_counts(&state, String::new())?,
                Toast::ok(tr.cr_toast_deleted(id)),
            ));
        }
        _ => return Err(PanelError::NotFound(tr.cr_no_action(action))),
    };
    if !found {
        return Err(not_found(id));
    }
    let row = load(&state, id).await?;
    let text = done(&tr, &row.name);
    Ok(with_toast(
        with_counts(&state, RowTemplate::new(row).render()?)?,
        Toast::ok(text),
    ))
}

#[derive(Deserialize)]
pub struct GroupForm {
    group: Option<String>,
}

/// Names the Google project a credential's quota belongs to (the row's small form).
#[handler]
pub async fn set_group(
    state: Data<&AppState>,
    Path(id): Path<CredId>,
    poem::web::Form(form): poem::web::Form<GroupForm>,
) -> Result<Response, PanelError> {
    let group = match crate::pool::admin::parse_quota_group(form.group.as_deref().unwrap_or("")) {
        Ok(g) => g,
        Err(e) => {
            let r = html(RowTemplate::new(load(&state, id).await?).render()?);
            return Ok(with_toast(r, Toast::error(e.to_string())));
        }
    };
    let found = state
        .pool
        .set_quota_group(id, group.clone())
        .await
        .map_err(|e| PanelError::internal("cannot save the credential", e))?;
    if !found {
        return Err(not_found(id));
    }
    let row = load(&state, id).await?;
    let tr = Tr::current();
    let text = match group {
        Some(g) => tr.cr_toast_group(&row.name, g),
        None => tr.cr_toast_own_group(&row.name),
    };
    Ok(with_toast(
        html(RowTemplate::new(row).render()?),
        Toast::ok(text),
    ))
}

fn not_found(id: CredId) -> PanelError {
    PanelError::NotFound(Tr::current().cr_not_found(id))
}

async fn load(state: &AppState, id: CredId) -> Result<RowView, PanelError> {
    row::one(state, id)
        .await?
        .map(RowView::from)
        .ok_or_else(|| not_found(id))
}

impl Tr {
    /// The reader's word for a filter value (a state, kind, error filter or sort key).
    pub fn cred_word(&self, value: &str) -> &'static str {
        match value {
            "active" => self.cred_st_active(),
            "cooling" => self.cred_st_cooling(),
            "disabled" => self.cred_st_disabled(),
            "banned" => self.cred_st_banned(),
            "needs_sign_in" => self.cred_st_needs_sign_in(),
            "code_assist" => self.cred_kind_code_assist(),
            "gemini_api_key" => self.cred_kind_gemini_api_key(),
            "vertex_service_account" => self.cred_kind_vertex_service_account(),
            "vertex_express_key" => self.cred_kind_vertex_express_key(),
            "any" => self.cred_err_any(),
            "none" => self.cred_err_none(),
            "id" => self.cred_sort_id(),
            "name" => self.cred_sort_name(),
            "status" => self.cred_sort_status(),
            "last_used" => self.cred_sort_last_used(),
            "errors" => self.cred_sort_errors(),
            "calls" => self.cred_sort_calls(),
            "all" => self.cred_st_all(),
            _ => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_fall_back_to_defaults() {
        let f = Filter {
            status: Some("<script>".into()),
            kind: Some("vertex".into()),
            page: Some("-3".into()),
            per: Some("7".into()),
            ..Default::default()
        };
        let s = f.selected();
        assert_eq!((s.status, s.kind, s.page, s.per), ("all", "all", 1, 20));
        let f = Filter {
            status: Some("banned".into()),
            kind: Some("gemini_api_key".into()),
            page: Some("3".into()),
            per: Some("50".into()),
            ..Default::default()
        };
        let s = f.selected();
        assert_eq!(
            (s.status, s.kind, s.page, s.per),
            ("banned", "gemini_api_key", 3, 50)
        );
    }
}
