//! Uploads (.json / .zip, several at once, each reported entry by entry) and downloads. The
//! downloads are the one place the panel hands out refresh tokens: as attachments, on an
//! explicit click, never inside a page.
use askama::Template;
use poem::http::{StatusCode, header};
use poem::web::{Data, Multipart, Path};
use poem::{IntoResponse, Response, handler};

use super::super::i18n::Tr;
use super::super::web::{PanelError, Toast, html, trigger};
use crate::api::credentials::{MAX_IMPORT_BYTES, MAX_IMPORT_FILES, content_disposition};
use crate::onboarding::import::sanitize_name;
use crate::pool::CredId;
use crate::pool::admin::{AdminError, ImportOutcome};
use crate::state::AppState;

/// One line of the result table.
pub struct ResultLine {
    file: String,
    entry: String,
    outcome: &'static str,
    detail: String,
}

#[derive(Template)]
#[template(path = "panel/partials/upload_result.html")]
struct UploadResult {
    tr: Tr,
    lines: Vec<ResultLine>,
    imported: usize,
}

fn lines_of(file: &str, o: ImportOutcome, out: &mut Vec<ResultLine>) {
    for i in o.imported {
        out.push(ResultLine {
            file: file.into(),
            entry: i.name,
            outcome: "imported",
            detail: match i.note {
                Some(n) => format!("{} ({n})", Tr::current().up_credential_id(i.id)),
                None => Tr::current().up_credential_id(i.id),
            },
        });
    }
    for d in o.duplicates {
        out.push(ResultLine {
            file: file.into(),
            entry: d.name,
            outcome: "duplicate",
            detail: d.reason,
        });
    }
    for r in o.rejected {
        out.push(ResultLine {
            file: file.into(),
            entry: r.name,
            outcome: "rejected",
            detail: r.reason,
        });
    }
}

#[handler]
pub async fn upload(state: Data<&AppState>, mut form: Multipart) -> Result<Response, PanelError> {
    let mut lines = Vec::new();
    let mut files = 0usize;
    let tr = Tr::current();
    let bad = |e: String| PanelError::BadRequest(tr.up_unreadable(e));
    while let Some(field) = form.next_field().await.map_err(|e| bad(e.to_string()))? {
        if field.name() != Some("files") {
            continue;
        }
        let raw_name = field.file_name().unwrap_or("upload").to_string();
        let bytes = field.bytes().await.map_err(|e| bad(e.to_string()))?;
        if raw_name.is_empty() && bytes.is_empty() {
            // An empty file input still sends one empty part.
            continue;
        }
        files += 1;
        if files > MAX_IMPORT_FILES {
            return Err(PanelError::BadRequest(tr.up_too_many(MAX_IMPORT_FILES)));
        }
        let shown = sanitize_name(&raw_name).unwrap_or_else(|| "upload".into());
        if bytes.len() > MAX_IMPORT_BYTES {
            lines.push(ResultLine {
                file: shown,
                entry: String::new(),
                outcome: "rejected",
                detail: tr.up_too_large(tr.num(MAX_IMPORT_BYTES)),
            });
            continue;
        }
        match state.pool.import_upload(&raw_name, &bytes).await {
            Ok(o) => lines_of(&shown, o, &mut lines),
            // A file refused as a whole (wrong type, bad archive, too large) is one line.
            Err(AdminError::Import(e)) => lines.push(ResultLine {
                file: shown.clone(),
                entry: String::new(),
                outcome: "rejected",
                detail: e.to_string(),
            }),
            Err(e) => return Err(PanelError::internal("cannot import", e)),
        }
    }
    if files == 0 {
        return Err(PanelError::BadRequest(tr.up_choose_files().into()));
    }
    let imported = lines.iter().filter(|l| l.outcome == "imported").count();
    let body = UploadResult {
        tr,
        lines,
        imported,
    }
    .render()?;
    let toast = if imported > 0 {
        Toast::ok(tr.up_toast_imported(tr.num(imported as u64)))
    } else {
        Toast::error(tr.up_toast_none())
    };
    Ok(trigger(html(body), Some(toast), &["rows-changed"]))
}

#[derive(serde::Deserialize)]
pub struct KeysForm {
    kind: String,
    keys: String,
    group: Option<String>,
}

/// Pasted API keys; the kind is the form's (each kind has its own box), never guessed from the
/// key. Each key is checked with Google and reported on its own line.
#[handler]
pub async fn paste_keys(
    state: Data<&AppState>,
    poem::web::Form(form): poem::web::Form<KeysForm>,
) -> Result<Response, PanelError> {
    use crate::google::kind::CredentialKind;
    use crate::onboarding::official::{ImportKeysError, import_keys};
    let tr = Tr::current();
    let kind = CredentialKind::parse(&form.kind)
        .filter(|k| k.is_api_key())
        .ok_or_else(|| PanelError::BadRequest(tr.up_choose_kind().into()))?;
    if form.keys.trim().is_empty() {
        return Err(PanelError::BadRequest(tr.up_paste_keys().into()));
    }
    let probe = state.pool.probe_model();
    let outcome = import_keys(
        &state.pool,
        kind,
        &form.keys,
        form.group.as_deref(),
        crate::store::credentials::CredentialSource::Upload,
        &probe,
    )
    .await;
    let o = match outcome {
        Ok(o) => o,
        Err(ImportKeysError::Store(e)) => {
            return Err(PanelError::internal("cannot store the keys", e));
        }
        Err(e) => return Err(PanelError::BadRequest(e.to_string())),
    };
    let mut lines = Vec::new();
    lines_of(kind.label(), o, &mut lines);
    let imported = lines.iter().filter(|l| l.outcome == "imported").count();
    let body = UploadResult {
        tr,
        lines,
        imported,
    }
    .render()?;
    let toast = if imported > 0 {
        Toast::ok(tr.up_toast_keys(tr.num(imported as u64)))
    } else {
        Toast::error(tr.up_toast_no_keys())
    };
    Ok(trigger(html(body), Some(toast), &["rows-changed"]))
}

fn attachment(body: Vec<u8>, content_type: &str, name: &str) -> Response {
    Response::builder()
        .content_type(content_type)
        .header(header::CONTENT_DISPOSITION, content_disposition(name))
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
}

#[handler]
pub async fn export_one(
    state: Data<&AppState>,
    Path(id): Path<CredId>,
) -> Result<Response, PanelError> {
    match state.pool.export_one(id).await {
        Ok((name, json)) => {
            let body = serde_json::to_vec_pretty(&json)
                .map_err(|e| PanelError::internal("cannot encode the credential", e))?;
            tracing::info!(credential = id, "credential exported in the panel");
            Ok(attachment(body, "application/json", &name))
        }
        Err(AdminError::NotFound(_)) => Ok(StatusCode::NOT_FOUND.into_response()),
        Err(e) => Err(PanelError::internal("cannot export", e)),
    }
}

#[handler]
pub async fn export_all(state: Data<&AppState>) -> Result<Response, PanelError> {
    let zip = state
        .pool
        .export_all()
        .await
        .map_err(|e| PanelError::internal("cannot export", e))?;
    tracing::info!("all credentials exported in the panel");
    Ok(attachment(zip, "application/zip", "credentials.zip"))
}
