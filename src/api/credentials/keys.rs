//! Adding API keys (Gemini API or Vertex express): many at once, the kind chosen by the
//! caller. Every key is checked with Google before it is stored.
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::transfer::ImportResult;
use crate::api::ApiTags;
use crate::api::auth::PanelAuth;
use crate::api::error::{ApiError, ErrorCode, Failure};
use crate::google::kind::CredentialKind;
use crate::onboarding::official::{ImportKeysError, import_keys};
use crate::pool::view::KindView;
use crate::state::AppState;
use crate::store::credentials::CredentialSource;

pub struct KeysApi;

/// Keys to add.
#[derive(Object)]
struct AddKeysBody {
    /// `gemini_api_key` or `vertex_express_key`. Both kinds of key start with `AQ.`: the kind
    /// is what you say here, never guessed from the key.
    kind: KindView,
    /// One key per line or comma-separated; `KEY@group` names a key's quota group (the Google
    /// project it belongs to). Lines starting with `#` are ignored. At most 1000 keys.
    keys: String,
    /// Quota group for the keys that name none.
    group: Option<String>,
}

#[derive(ApiResponse)]
enum AddKeysResponse {
    /// Per-key report: imported (with notes), duplicates, and refusals with Google's reason.
    #[oai(status = 200)]
    Ok(Json<ImportResult>),
    /// Not a key kind, or too many keys.
    #[oai(status = 400)]
    BadRequest(Json<ApiError>),
    /// The group label is not valid.
    #[oai(status = 422)]
    Invalid(Json<ApiError>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Credentials")]
impl KeysApi {
    /// Add Gemini API keys or Vertex express keys. Each is checked with Google (a model list
    /// for a Gemini API key, a free token count for an express key); a dead key is refused
    /// with the reason, e.g. an old standard `AIza` key: "the Gemini API no longer accepts
    /// standard keys: create an auth key in AI Studio".
    #[oai(path = "/credentials/keys", method = "post", operation_id = "add_keys")]
    async fn add_keys(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        body: Json<AddKeysBody>,
    ) -> Result<AddKeysResponse, Failure> {
        let kind = CredentialKind::from(body.0.kind);
        let probe = state.pool.probe_model();
        let outcome = import_keys(
            &state.pool,
            kind,
            &body.0.keys,
            body.0.group.as_deref(),
            CredentialSource::Upload,
            &probe,
        )
        .await;
        let bad = |code, e: &ImportKeysError| Json(ApiError::new(code, e.to_string()));
        match outcome {
            Ok(o) => {
                let mut result = ImportResult::default();
                result.extend(o);
                Ok(AddKeysResponse::Ok(Json(result)))
            }
            Err(
                e @ ImportKeysError::Keys(crate::onboarding::import::official::KeyError::Group(_)),
            ) => Ok(AddKeysResponse::Invalid(bad(ErrorCode::Invalid, &e))),
            Err(e @ (ImportKeysError::NotAKeyKind(_) | ImportKeysError::Keys(_))) => {
                Ok(AddKeysResponse::BadRequest(bad(ErrorCode::BadRequest, &e)))
            }
            Err(ImportKeysError::Store(e)) => Err(Failure::internal("cannot store the keys", &e)),
        }
    }
}
