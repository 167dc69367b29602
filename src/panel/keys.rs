//! The client keys page: create a key (its secret is shown once, in the answer), enable or
//! disable it, revoke it. The same service as `/api/v1/client-keys`, so changes take effect
//! on the next proxy request.
use askama::Template;
use poem::web::{Data, Form, Path};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::Nav;
use super::i18n::Tr;
use super::web::{PanelError, Toast, html, trigger};
use crate::google::kind::CredentialKind;
use crate::keys::{ClientKey, KeyError};
use crate::state::AppState;
use crate::store::client_keys::KeyFields;

struct Row {
    id: i64,
    name: String,
    prefix: String,
    note: String,
    enabled: bool,
    expired: bool,
    expires: String,
    models: String,
    kinds: String,
    limits: String,
    today_requests: String,
    today_tokens: String,
}

#[derive(Template)]
#[template(path = "panel/keys.html")]
struct KeysPage {
    tr: Tr,
    table: KeysTable,
    kinds: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "panel/partials/keys_table.html")]
struct KeysTable {
    tr: Tr,
    rows: Vec<Row>,
    oob: bool,
}

#[derive(Template)]
#[template(path = "panel/partials/key_created.html")]
struct KeyCreated {
    tr: Tr,
    name: String,
    secret: String,
    table: KeysTable,
}

fn row(state: &AppState, tr: &Tr, k: &ClientKey) -> Row {
    let (requests, tokens) = k.counters.today(&state.keys.window());
    let f = &k.fields;
    let limit = |n: u64| {
        if n == 0 { "∞".to_string() } else { tr.num(n) }
    };
    Row {
        id: k.id,
        name: k.name.to_string(),
        prefix: k.prefix.clone(),
        note: f.note.clone(),
        enabled: f.enabled,
        expired: f.expires_at.is_some_and(|t| t <= crate::store::now_ms()),
        expires: f
            .expires_at
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| tr.datetime(t))
            .unwrap_or_default(),
        models: if f.models.is_empty() {
            tr.keys_any_text().to_string()
        } else {
            f.models.join(", ")
        },
        kinds: if f.kinds.is_empty() {
            tr.keys_any_text().to_string()
        } else {
            f.kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
        limits: tr.keys_limits(limit(f.daily_requests), limit(f.daily_tokens), limit(f.rpm)),
        today_requests: tr.num(requests),
        today_tokens: tr.num(tokens),
    }
}

fn table(state: &AppState, oob: bool) -> KeysTable {
    let tr = Tr::current();
    let rows = state
        .keys
        .list()
        .iter()
        .map(|k| row(state, &tr, k))
        .collect();
    KeysTable { tr, rows, oob }
}

#[handler]
pub async fn page(req: &Request, state: Data<&AppState>) -> Result<Response, PanelError> {
    let tr = Tr::current();
    let view = KeysPage {
        tr,
        table: table(&state, false),
        kinds: CredentialKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.label()))
            .collect(),
    };
    super::web::page(req, tr.nav_keys(), Nav::Keys, &view)
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    models: String,
    /// The kind checkboxes, one name each (`kind_code_assist=on`): a form decoder takes one
    /// value per name.
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
    #[serde(default)]
    daily_requests: String,
    #[serde(default)]
    daily_tokens: String,
    #[serde(default)]
    rpm: String,
    /// Days until it expires; empty: never.
    #[serde(default)]
    expires_days: String,
}

fn number(tr: &Tr, field: &str, v: &str) -> Result<u64, PanelError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(0);
    }
    v.parse()
        .map_err(|_| PanelError::BadRequest(tr.keys_bad_number(field.to_string())))
}

/// The key's fields from the form. Editing (`was` is the key as it stands) keeps the enabled
/// switch, and an empty expiry keeps the current one; 0 days means never in both forms.
fn fields(tr: &Tr, f: &CreateForm, was: Option<&KeyFields>) -> Result<KeyFields, PanelError> {
    let kinds: Vec<CredentialKind> = CredentialKind::ALL
        .into_iter()
        .filter(|k| f.rest.contains_key(&format!("kind_{}", k.as_str())))
        .collect();
    let days = number(tr, "expires_days", &f.expires_days)?;
    let expires_at = match was {
        Some(w) if f.expires_days.trim().is_empty() => w.expires_at,
        _ => (days > 0).then(|| {
            crate::store::now_ms().saturating_add(
                i64::try_from(days)
                    .unwrap_or(i64::MAX / 2)
                    .saturating_mul(86_400_000),
            )
        }),
    };
    Ok(KeyFields {
        note: f.note.trim().to_string(),
        enabled: was.is_none_or(|w| w.enabled),
        expires_at,
        models: f
            .models
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        kinds,
        daily_requests: number(tr, "daily_requests", &f.daily_requests)?,
        daily_tokens: number(tr, "daily_tokens", &f.daily_tokens)?,
        rpm: number(tr, "rpm", &f.rpm)?,
    })
}

fn refused(e: KeyError) -> PanelError {
    match e {
        KeyError::Invalid(m) => PanelError::BadRequest(m),
        KeyError::Store(crate::store::StoreError::Conflict { what }) => {
            PanelError::BadRequest(Tr::current().keys_name_taken(what))
        }
        KeyError::NotFound(id) => PanelError::BadRequest(format!("client key {id} not found")),
        KeyError::Store(e) => PanelError::internal("cannot save the client key", e),
    }
}

async fn audit(state: &AppState, kind: &str, k: &ClientKey) {
    crate::security::audit::record(
        &state.store,
        kind,
        Some(k.id.to_string()),
        serde_json::json!({ "name": &*k.name, "prefix": k.prefix }),
    )
    .await;
}

#[handler]
pub async fn create(
    state: Data<&AppState>,
    Form(form): Form<CreateForm>,
) -> Result<Response, PanelError> {
    let tr = Tr::current();
    let f = fields(&tr, &form, None)?;
    let (key, secret) = state
        .keys
        .create(form.name.trim().to_string(), f)
        .await
        .map_err(refused)?;
    audit(&state, "client_key.create", &key).await;
    let body = KeyCreated {
        tr,
        name: key.name.to_string(),
        secret,
        table: table(&state, true),
    }
    .render()?;
    let mut r = html(body);
    r.headers_mut().insert(
        "cache-control",
        poem::http::HeaderValue::from_static("no-store"),
    );
    Ok(trigger(
        r,
        Some(Toast::ok(tr.keys_created(key.name.to_string()))),
        &[],
    ))
}

#[derive(Template)]
#[template(path = "panel/partials/key_edit.html")]
struct KeyEdit {
    tr: Tr,
    id: i64,
    name: String,
    note: String,
    models: String,
    /// (kind, checked)
    kinds: Vec<(&'static str, bool)>,
    daily_requests: u64,
    daily_tokens: u64,
    rpm: u64,
    expires: String,
}

fn known(state: &AppState, id: i64) -> Result<std::sync::Arc<ClientKey>, PanelError> {
    state
        .keys
        .get(id)
        .ok_or_else(|| PanelError::BadRequest(format!("client key {id} not found")))
}

/// The edit form for one key, filled with what it has now.
#[handler]
pub async fn edit_form(
    state: Data<&AppState>,
    Path(id): Path<i64>,
) -> Result<Response, PanelError> {
    let tr = Tr::current();
    let key = known(&state, id)?;
    let f = &key.fields;
    let view = KeyEdit {
        tr,
        id,
        name: key.name.to_string(),
        note: f.note.clone(),
        models: f.models.join(", "),
        kinds: CredentialKind::ALL
            .iter()
            .map(|k| (k.as_str(), f.kinds.contains(k)))
            .collect(),
        daily_requests: f.daily_requests,
        daily_tokens: f.daily_tokens,
        rpm: f.rpm,
        expires: f
            .expires_at
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| tr.datetime(t))
            .unwrap_or_else(|| tr.keys_never().to_string()),
    };
    Ok(html(view.render()?))
}

/// Saves the edit form: name, note, allow-lists, limits and expiry, effective on the key's
/// next request. The secret does not change.
#[handler]
pub async fn edit(
    state: Data<&AppState>,
    Path(id): Path<i64>,
    Form(form): Form<CreateForm>,
) -> Result<Response, PanelError> {
    let tr = Tr::current();
    let was = known(&state, id)?;
    let f = fields(&tr, &form, Some(&was.fields))?;
    let key = state
        .keys
        .update(id, form.name.trim().to_string(), f)
        .await
        .map_err(refused)?;
    audit(&state, "client_key.update", &key).await;
    let body = format!(
        "{}<div id=\"key-edit\" hx-swap-oob=\"true\"></div>",
        table(&state, false).render()?
    );
    Ok(trigger(
        html(body),
        Some(Toast::ok(tr.keys_saved(key.name.to_string()))),
        &[],
    ))
}

#[handler]
pub async fn action(
    state: Data<&AppState>,
    Path((id, action)): Path<(i64, String)>,
) -> Result<Response, PanelError> {
    let tr = Tr::current();
    let key = state
        .keys
        .get(id)
        .ok_or_else(|| PanelError::BadRequest(format!("client key {id} not found")))?;
    let toast = match action.as_str() {
        "enable" | "disable" => {
            let mut f = key.fields.clone();
            f.enabled = action == "enable";
            let k = state
                .keys
                .update(id, key.name.to_string(), f)
                .await
                .map_err(refused)?;
            audit(&state, &format!("client_key.{action}"), &k).await;
            if k.fields.enabled {
                tr.keys_enabled(k.name.to_string())
            } else {
                tr.keys_disabled(k.name.to_string())
            }
        }
        "revoke" => {
            state.keys.delete(id).await.map_err(refused)?;
            audit(&state, "client_key.delete", &key).await;
            tr.keys_revoked(key.name.to_string())
        }
        _ => return Err(PanelError::BadRequest(format!("unknown action '{action}'"))),
    };
    let body = table(&state, false).render()?;
    Ok(trigger(html(body), Some(Toast::ok(toast)), &[]))
}
