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
use super::web::{Opt, PanelError, Toast, html, hx_target, options, render, with_toast};
use crate::pool::CredId;
use crate::state::AppState;

pub const PAGE_SIZES: [usize; 3] = [20, 50, 100];
pub const STATUSES: [&str; 5] = ["all", "active", "cooling", "disabled", "banned"];
pub const KINDS: [&str; 5] = [
    "all",
    "code_assist",
    "gemini_api_key",
    "vertex_service_account",
    "vertex_express_key",
];

#[derive(Deserialize, Default)]
pub struct Filter {
    status: Option<String>,
    kind: Option<String>,
    page: Option<String>,
    per: Option<String>,
}

/// A filter with every value checked: anything unknown falls back to the default.
struct Selected {
    status: &'static str,
    kind: &'static str,
    page: usize,
    per: usize,
}

impl Filter {
    fn selected(&self) -> Selected {
        let status = STATUSES
            .iter()
            .find(|s| Some(**s) == self.status.as_deref())
            .copied()
            .unwrap_or("all");
        let kind = KINDS
            .iter()
            .find(|k| Some(**k) == self.kind.as_deref())
            .copied()
            .unwrap_or("all");
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
            status,
            kind,
            page,
            per,
        }
    }
}

pub struct Counts {
    total: usize,
    active: usize,
    cooling: usize,
    disabled: usize,
    banned: usize,
}

#[derive(Template)]
#[template(path = "panel/partials/cred_table.html")]
struct Table {
    rows: Vec<RowView>,
    counts: Counts,
    page: usize,
    pages: usize,
    shown_from: usize,
    shown_to: usize,
    matching: usize,
    /// Query strings of this page and its neighbours.
    here: String,
    prev: Option<String>,
    next: Option<String>,
}

fn query(sel: &Selected, page: usize) -> String {
    format!(
        "status={}&kind={}&per={}&page={page}",
        sel.status, sel.kind, sel.per
    )
}

#[derive(Template)]
#[template(path = "panel/credentials.html")]
struct CredentialsPage {
    table: super::web::Fragment,
    statuses: Vec<Opt>,
    kinds: Vec<Opt>,
    page_sizes: Vec<Opt>,
}

#[derive(Template)]
#[template(path = "panel/partials/cred_row.html")]
struct RowTemplate {
    row: RowView,
}

async fn table(state: &AppState, sel: &Selected) -> Result<Table, PanelError> {
    let all: Vec<RowView> = row::all(state)
        .await?
        .into_iter()
        .map(RowView::from)
        .collect();
    let count = |s: &str| all.iter().filter(|r| r.status == s).count();
    let counts = Counts {
        total: all.len(),
        active: count("active"),
        cooling: count("cooling"),
        disabled: count("disabled"),
        banned: count("banned"),
    };
    let matching: Vec<RowView> = all
        .into_iter()
        .filter(|r| sel.status == "all" || r.status == sel.status)
        .filter(|r| sel.kind == "all" || r.kind == sel.kind)
        .collect();
    let n = matching.len();
    let pages = n.div_ceil(sel.per).max(1);
    let page = sel.page.min(pages);
    let skip = (page - 1) * sel.per;
    let rows: Vec<RowView> = matching.into_iter().skip(skip).take(sel.per).collect();
    Ok(Table {
        here: query(sel, page),
        prev: (page > 1).then(|| query(sel, page - 1)),
        next: (page < pages).then(|| query(sel, page + 1)),
        shown_from: if rows.is_empty() { 0 } else { skip + 1 },
        shown_to: skip + rows.len(),
        rows,
        counts,
        page,
        pages,
        matching: n,
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
        table: render(&t)?,
        statuses: options(&STATUSES, &sel.status),
        kinds: options(&KINDS, &sel.kind),
        page_sizes: options(&PAGE_SIZES, &sel.per),
    };
    super::web::page(
        req,
        super::i18n::Tr::current().nav_credentials(),
        Nav::Credentials,
        &view,
    )
}

#[handler]
pub async fn action(
    state: Data<&AppState>,
    Path((id, action)): Path<(CredId, String)>,
) -> Result<Response, PanelError> {
    let store_err = |e| PanelError::internal("cannot save the credential", e);
    let (found, done) = match action.as_str() {
        "enable" => (
            state.pool.set_enabled(id, true).await.map_err(store_err)?,
            "enabled",
        ),
        "disable" => (
            state.pool.set_enabled(id, false).await.map_err(store_err)?,
            "disabled",
        ),
        "unban" => (
            state
                .pool
                .clear_errors_and_unban(id)
                .await
                .map_err(store_err)?,
            "unbanned; errors and cooldowns cleared",
        ),
        "identify" => {
            if state.pool.state(id).is_none() {
                return Err(not_found(id));
            }
            if let Err(e) = state.pool.identify(id).await {
                let msg = crate::logs::redact(&e.to_string()).into_owned();
                let r = html(
                    RowTemplate {
                        row: load(&state, id).await?,
                    }
                    .render()?,
                );
                return Ok(with_toast(
                    r,
                    Toast::error(format!("Identify failed: {msg}")),
                ));
            }
            (true, "identified")
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
                html(""),
                Toast::ok(format!("Credential {id} deleted")),
            ));
        }
        _ => return Err(PanelError::NotFound(format!("no action named {action}"))),
    };
    if !found {
        return Err(not_found(id));
    }
    let row = load(&state, id).await?;
    let text = format!("{} {done}", row.name);
    Ok(with_toast(
        html(RowTemplate { row }.render()?),
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
            let r = html(
                RowTemplate {
                    row: load(&state, id).await?,
                }
                .render()?,
            );
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
    let text = match group {
        Some(g) => format!("{} is now in quota group {g}", row.name),
        None => format!("{} is now a quota group of its own", row.name),
    };
    Ok(with_toast(
        html(RowTemplate { row }.render()?),
        Toast::ok(text),
    ))
}

fn not_found(id: CredId) -> PanelError {
    PanelError::NotFound(format!("credential {id} not found"))
}

async fn load(state: &AppState, id: CredId) -> Result<RowView, PanelError> {
    row::one(state, id)
        .await?
        .map(RowView::from)
        .ok_or_else(|| not_found(id))
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
        };
        let s = f.selected();
        assert_eq!((s.status, s.kind, s.page, s.per), ("all", "all", 1, 20));
        let f = Filter {
            status: Some("banned".into()),
            kind: Some("gemini_api_key".into()),
            page: Some("3".into()),
            per: Some("50".into()),
        };
        let s = f.selected();
        assert_eq!(
            (s.status, s.kind, s.page, s.per),
            ("banned", "gemini_api_key", 3, 50)
        );
    }
}
