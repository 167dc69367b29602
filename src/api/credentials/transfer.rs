//! Credentials in and out: uploads (.json / .zip), the environment, and exports.
//!
//! Exports are the one place the API hands out refresh tokens: they are the explicit "download
//! my credential file" action, answered as an attachment that caches must not keep.
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiResponse, Multipart, Object, OpenApi};

use super::not_found;
use crate::api::ApiTags;
use crate::api::auth::PanelAuth;
use crate::api::error::{ApiError, ErrorCode, Failure};
use crate::onboarding::import::ImportError;
use crate::pool::CredId;
use crate::pool::admin::{AdminError, ImportOutcome};
use crate::state::AppState;

/// Largest request body for an import; larger ones get 413 before anything is parsed.
pub const MAX_IMPORT_BYTES: usize = 20 << 20;
/// Files per import request.
pub const MAX_IMPORT_FILES: usize = 100;

pub struct TransferApi;

#[derive(Multipart)]
struct ImportForm {
    /// One or more `.json` credential files or `.zip` archives of them (repeat the field).
    file: Vec<Upload>,
}

#[derive(Object)]
struct ImportedItem {
    id: i64,
    name: String,
    /// Something to know, e.g. "not checked: ..." when Google could not be asked.
    note: Option<String>,
}

#[derive(Object)]
struct SkippedItem {
    /// The file (or archive entry) name.
    name: String,
    reason: String,
}

/// What happened to each file of an import.
#[derive(Object, Default)]
pub(super) struct ImportResult {
    imported: Vec<ImportedItem>,
    /// Already in the pool (same refresh token, or same e-mail and project); not added twice.
    duplicates: Vec<SkippedItem>,
    rejected: Vec<SkippedItem>,
}

impl ImportResult {
    pub(super) fn extend(&mut self, o: ImportOutcome) {
        self.imported
            .extend(o.imported.into_iter().map(|i| ImportedItem {
                id: i.id,
                name: i.name,
                note: i.note,
            }));
        let skipped = |s: crate::pool::admin::SkippedItem| SkippedItem {
            name: s.name,
            reason: s.reason,
        };
        self.duplicates
            .extend(o.duplicates.into_iter().map(skipped));
        self.rejected.extend(o.rejected.into_iter().map(skipped));
    }
}

#[derive(ApiResponse)]
enum ImportCredentialsResponse {
    /// Per-file report: imported, duplicates and rejections with reasons.
    #[oai(status = 200)]
    Ok(Json<ImportResult>),
    /// No file in the request, or too many.
    #[oai(status = 400)]
    BadRequest(Json<ApiError>),
    /// The body or an archive is larger than the limit.
    #[oai(status = 413)]
    TooLarge(Json<ApiError>),
}

#[derive(ApiResponse)]
enum ImportEnvCredentialsResponse {
    /// Per-variable report.
    #[oai(status = 200)]
    Ok(Json<ImportResult>),
}

#[derive(ApiResponse)]
enum ExportCredentialResponse {
    /// The credential file (Gemini CLI format, with its refresh token).
    #[oai(status = 200, content_type = "application/json")]
    Ok(
        Binary<Vec<u8>>,
        #[oai(header = "content-disposition")] String,
        #[oai(header = "cache-control")] String,
    ),
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
}

#[derive(ApiResponse)]
enum ExportCredentialsResponse {
    /// Every credential as a ZIP that the import operation accepts.
    #[oai(status = 200, content_type = "application/zip")]
    Ok(
        Binary<Vec<u8>>,
        #[oai(header = "content-disposition")] String,
        #[oai(header = "cache-control")] String,
    ),
}

/// RFC 6266: a plain ASCII fallback plus the exact name, percent-encoded.
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(crate::onboarding::import::safe_name_char)
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

const NO_STORE: &str = "no-store";

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Credentials")]
impl TransferApi {
    /// Import credential files: multipart field `file`, `.json` or `.zip`, repeatable
    /// (at most 100 files, 20 MiB in all). Every file and archive entry is reported.
    #[oai(
        path = "/credentials/import",
        method = "post",
        operation_id = "import_credentials"
    )]
    async fn import(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        form: ImportForm,
    ) -> Result<ImportCredentialsResponse, Failure> {
        if form.file.is_empty() {
            return Ok(ImportCredentialsResponse::BadRequest(ApiError::json(
                ErrorCode::BadRequest,
                "no file: send multipart field \"file\" with .json or .zip files",
            )));
        }
        if form.file.len() > MAX_IMPORT_FILES {
            return Ok(ImportCredentialsResponse::BadRequest(ApiError::json(
                ErrorCode::BadRequest,
                format!("at most {MAX_IMPORT_FILES} files per import"),
            )));
        }
        let mut result = ImportResult::default();
        for upload in form.file {
            let name = upload.file_name().unwrap_or("upload").to_string();
            if upload.size() > MAX_IMPORT_BYTES {
                return Ok(too_large(&name, MAX_IMPORT_BYTES as u64));
            }
            let bytes = upload
                .into_vec()
                .await
                .map_err(|e| Failure::internal("cannot read the upload", &e))?;
            match state.pool.import_upload(&name, &bytes).await {
                Ok(o) => result.extend(o),
                Err(AdminError::Import(
                    ImportError::ArchiveTooLarge { limit, .. } | ImportError::TooLarge { limit },
                )) => return Ok(too_large(&name, limit)),
                // A file the importer refuses as a whole is reported like any other rejection.
                Err(AdminError::Import(e)) => result.rejected.push(SkippedItem {
                    name: crate::onboarding::import::sanitize_name(&name).unwrap_or(name),
                    reason: e.to_string(),
                }),
                Err(e) => return Err(Failure::internal("cannot import", &e)),
            }
        }
        Ok(ImportCredentialsResponse::Ok(Json(result)))
    }

    /// Import `GCLI_CREDS_*` / `GOOGLE_CREDENTIALS*` from this process's environment.
    #[oai(
        path = "/credentials/import-env",
        method = "post",
        operation_id = "import_env_credentials"
    )]
    async fn import_env(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
    ) -> Result<ImportEnvCredentialsResponse, Failure> {
        // vars_os: one non-UTF-8 variable elsewhere must not make the whole import fail.
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let outcome = state
            .pool
            .import_env(&env)
            .await
            .map_err(|e| Failure::internal("cannot import", &e))?;
        let mut result = ImportResult::default();
        result.extend(outcome);
        Ok(ImportEnvCredentialsResponse::Ok(Json(result)))
    }

    /// Download one credential file. It contains the refresh token: keep it safe.
    #[oai(
        path = "/credentials/:id/export",
        method = "get",
        operation_id = "export_credential"
    )]
    async fn export_one(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<CredId>,
    ) -> Result<ExportCredentialResponse, Failure> {
        match state.pool.export_one(id.0).await {
            Ok((name, json)) => {
                let body = serde_json::to_vec_pretty(&json)
                    .map_err(|e| Failure::internal("cannot encode the credential", &e))?;
                tracing::info!(credential = id.0, "credential exported through the API");
                Ok(ExportCredentialResponse::Ok(
                    Binary(body),
                    content_disposition(&name),
                    NO_STORE.into(),
                ))
            }
            Err(AdminError::NotFound(_)) => Ok(ExportCredentialResponse::NotFound(not_found(id.0))),
            Err(e) => Err(Failure::internal("cannot export", &e)),
        }
    }

    /// Download every credential as a ZIP. It contains refresh tokens: keep it safe.
    #[oai(
        path = "/credentials/export",
        method = "get",
        operation_id = "export_credentials"
    )]
    async fn export_all(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
    ) -> Result<ExportCredentialsResponse, Failure> {
        let zip = state
            .pool
            .export_all()
            .await
            .map_err(|e| Failure::internal("cannot export", &e))?;
        tracing::info!("all credentials exported through the API");
        Ok(ExportCredentialsResponse::Ok(
            Binary(zip),
            content_disposition("credentials.zip"),
            NO_STORE.into(),
        ))
    }
}

fn too_large(name: &str, limit: u64) -> ImportCredentialsResponse {
    ImportCredentialsResponse::TooLarge(Json(
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("upload is larger than the limit of {limit} bytes"),
        )
        .with_target(crate::onboarding::import::sanitize_name(name).unwrap_or_default()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_is_ascii_and_exact() {
        assert_eq!(
            content_disposition("a b\"c.json"),
            "attachment; filename=\"a_b_c.json\"; filename*=UTF-8''a%20b%22c.json"
        );
        let d = content_disposition("ü.json");
        assert!(d.is_ascii());
        assert!(d.contains("%C3%BC.json"));
    }
}
