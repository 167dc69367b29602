//! Client API keys: named keys for proxy clients, each with its own limits and allow-lists.
//! The secret is in the answer to the create call only; afterwards only its prefix is shown.
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::PanelAuth;
use super::error::{ApiError, ErrorCode, Failure};
use crate::keys::{ClientKey, KeyError};
use crate::pool::view::KindView;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::client_keys::KeyFields;

pub struct ClientKeysApi;

/// What an operator sets on a key (create and replace take the same fields).
#[derive(Object)]
struct KeyInput {
    /// 1 to 64 letters, digits, spaces and `-_.@`; unique. Shown in usage and metrics.
    #[oai(validator(min_length = 1, max_length = 64))]
    name: String,
    /// Free text for operators (at most 500 characters).
    #[oai(default)]
    note: String,
    /// A disabled key is refused like a wrong key (default true).
    #[oai(default = "default_true")]
    enabled: bool,
    /// After this instant the key is refused. Absent: never expires.
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Model patterns the key may use: a model id or a stem ending in `*`
    /// (`gemini-2.5-*`). Matched against the base model after aliases, prefixes and
    /// suffixes are resolved. Empty: every model.
    #[oai(default)]
    models: Vec<String>,
    /// Credential kinds that may serve the key's requests. Empty: every kind.
    #[oai(default)]
    kinds: Vec<KindView>,
    /// Requests per quota day (0: no limit).
    #[oai(default)]
    daily_requests: u64,
    /// Prompt plus completion tokens per quota day (0: no limit). The request that
    /// crosses it is still served; the next one is refused.
    #[oai(default)]
    daily_tokens: u64,
    /// Requests in any 60 seconds (0: no limit; at most 100000).
    #[oai(default)]
    rpm: u64,
}

fn default_true() -> bool {
    true
}

/// Today's use of a key, from memory.
#[derive(Object)]
struct KeyToday {
    requests: u64,
    tokens: u64,
}

#[derive(Object)]
struct KeyView {
    id: i64,
    name: String,
    /// The first characters of the secret, to recognise the key; never the secret.
    prefix: String,
    note: String,
    enabled: bool,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether `expires_at` has passed.
    expired: bool,
    models: Vec<String>,
    kinds: Vec<KindView>,
    daily_requests: u64,
    daily_tokens: u64,
    rpm: u64,
    today: KeyToday,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

/// A new key with its secret: the only time the secret is shown.
#[derive(Object)]
struct CreatedKey {
    key: KeyView,
    /// Send it as `Authorization: Bearer`, `x-api-key`, `x-goog-api-key` or `?key=`.
    secret: String,
}

#[derive(ApiResponse)]
enum ListKeysResponse {
    /// Every key, by id.
    #[oai(status = 200)]
    Ok(Json<Vec<KeyView>>),
}

#[derive(ApiResponse)]
enum CreateKeyResponse {
    #[oai(status = 201)]
    Created(Json<CreatedKey>),
    /// A field was refused; `message` says which and why.
    #[oai(status = 422)]
    Invalid(Json<ApiError>),
    /// Another key has that name.
    #[oai(status = 409)]
    Conflict(Json<ApiError>),
}

#[derive(ApiResponse)]
enum GetKeyResponse {
    #[oai(status = 200)]
    Ok(Json<KeyView>),
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
}

#[derive(ApiResponse)]
enum UpdateKeyResponse {
    /// Saved; in force from the next request.
    #[oai(status = 200)]
    Ok(Json<KeyView>),
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
    #[oai(status = 422)]
    Invalid(Json<ApiError>),
    #[oai(status = 409)]
    Conflict(Json<ApiError>),
}

#[derive(ApiResponse)]
enum DeleteKeyResponse {
    /// Revoked: the next request with it is refused. Its usage history is kept.
    #[oai(status = 204)]
    Deleted,
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
}

fn millis(t: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(t).unwrap_or_default()
}

fn view(state: &AppState, k: &ClientKey) -> KeyView {
    let (requests, tokens) = k.counters.today(&state.keys.window());
    KeyView {
        id: k.id,
        name: k.name.to_string(),
        prefix: k.prefix.clone(),
        note: k.fields.note.clone(),
        enabled: k.fields.enabled,
        expires_at: k.fields.expires_at.map(millis),
        expired: k
            .fields
            .expires_at
            .is_some_and(|t| t <= crate::store::now_ms()),
        models: k.fields.models.clone(),
        kinds: k.fields.kinds.iter().map(|k| (*k).into()).collect(),
        daily_requests: k.fields.daily_requests,
        daily_tokens: k.fields.daily_tokens,
        rpm: k.fields.rpm,
        today: KeyToday { requests, tokens },
        created_at: millis(k.created_at),
        updated_at: millis(k.updated_at),
    }
}

fn fields(i: &KeyInput) -> KeyFields {
    KeyFields {
        note: i.note.clone(),
        enabled: i.enabled,
        expires_at: i.expires_at.map(|t| t.timestamp_millis()),
        models: i.models.iter().map(|m| m.trim().to_string()).collect(),
        kinds: i.kinds.iter().map(|k| (*k).into()).collect(),
        daily_requests: i.daily_requests,
        daily_tokens: i.daily_tokens,
        rpm: i.rpm,
    }
}

fn not_found(id: i64) -> Json<ApiError> {
    ApiError::json(ErrorCode::NotFound, format!("client key {id} not found"))
}

/// What the audit log keeps of a key: never its secret or hash.
fn audit_detail(k: &ClientKey) -> serde_json::Value {
    serde_json::json!({
        "name": &*k.name,
        "prefix": k.prefix,
        "enabled": k.fields.enabled,
        "models": k.fields.models,
        "kinds": k.fields.kinds,
        "daily_requests": k.fields.daily_requests,
        "daily_tokens": k.fields.daily_tokens,
        "rpm": k.fields.rpm,
        "expires_at": k.fields.expires_at,
    })
}

/// How a failed change is answered.
enum Refused {
    Invalid(Json<ApiError>),
    Conflict(Json<ApiError>),
    NotFound(Json<ApiError>),
}

fn refused(e: KeyError) -> Result<Refused, Failure> {
    match e {
        KeyError::Invalid(m) => Ok(Refused::Invalid(ApiError::json(ErrorCode::Invalid, m))),
        KeyError::Store(StoreError::Conflict { what }) => Ok(Refused::Conflict(ApiError::json(
            ErrorCode::Conflict,
            format!("{what} already exists"),
        ))),
        KeyError::NotFound(id) => Ok(Refused::NotFound(not_found(id))),
        e => Err(Failure::internal("cannot save the client key", &e)),
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::ClientKeys")]
impl ClientKeysApi {
    /// Every client key with today's use. The built-in `API_PASSWORD` key is not listed.
    #[oai(
        path = "/client-keys",
        method = "get",
        operation_id = "list_client_keys"
    )]
    async fn list(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
    ) -> Result<ListKeysResponse, Failure> {
        let out = state.keys.list().iter().map(|k| view(&state, k)).collect();
        Ok(ListKeysResponse::Ok(Json(out)))
    }

    /// Create a key. The answer holds its secret, which is never shown again.
    #[oai(
        path = "/client-keys",
        method = "post",
        operation_id = "create_client_key"
    )]
    async fn create(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        body: Json<KeyInput>,
    ) -> Result<CreateKeyResponse, Failure> {
        match state.keys.create(body.name.clone(), fields(&body)).await {
            Ok((key, secret)) => {
                crate::security::audit::record(
                    &state.store,
                    "client_key.create",
                    Some(key.id.to_string()),
                    audit_detail(&key),
                )
                .await;
                Ok(CreateKeyResponse::Created(Json(CreatedKey {
                    key: view(&state, &key),
                    secret,
                })))
            }
            Err(e) => Ok(match refused(e)? {
                Refused::Invalid(j) | Refused::NotFound(j) => CreateKeyResponse::Invalid(j),
                Refused::Conflict(j) => CreateKeyResponse::Conflict(j),
            }),
        }
    }

    /// One key with today's use.
    #[oai(
        path = "/client-keys/:id",
        method = "get",
        operation_id = "get_client_key"
    )]
    async fn get(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> Result<GetKeyResponse, Failure> {
        Ok(match state.keys.get(id.0) {
            Some(k) => GetKeyResponse::Ok(Json(view(&state, &k))),
            None => GetKeyResponse::NotFound(not_found(id.0)),
        })
    }

    /// Replace a key's name, note, state, expiry, allow-lists and limits (its secret stays).
    /// In force from the next request; today's counts are kept.
    #[oai(
        path = "/client-keys/:id",
        method = "put",
        operation_id = "update_client_key"
    )]
    async fn update(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<i64>,
        body: Json<KeyInput>,
    ) -> Result<UpdateKeyResponse, Failure> {
        match state
            .keys
            .update(id.0, body.name.clone(), fields(&body))
            .await
        {
            Ok(key) => {
                crate::security::audit::record(
                    &state.store,
                    "client_key.update",
                    Some(key.id.to_string()),
                    audit_detail(&key),
                )
                .await;
                Ok(UpdateKeyResponse::Ok(Json(view(&state, &key))))
            }
            Err(e) => Ok(match refused(e)? {
                Refused::Invalid(j) => UpdateKeyResponse::Invalid(j),
                Refused::Conflict(j) => UpdateKeyResponse::Conflict(j),
                Refused::NotFound(j) => UpdateKeyResponse::NotFound(j),
            }),
        }
    }

    /// Revoke (delete) a key: the next request with it is refused, with no restart.
    #[oai(
        path = "/client-keys/:id",
        method = "delete",
        operation_id = "delete_client_key"
    )]
    async fn delete(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> Result<DeleteKeyResponse, Failure> {
        let name = state.keys.get(id.0).map(|k| k.name.to_string());
        match state.keys.delete(id.0).await {
            Ok(()) => {
                crate::security::audit::record(
                    &state.store,
                    "client_key.delete",
                    Some(id.0.to_string()),
                    serde_json::json!({ "name": name }),
                )
                .await;
                Ok(DeleteKeyResponse::Deleted)
            }
            Err(KeyError::NotFound(_)) => Ok(DeleteKeyResponse::NotFound(not_found(id.0))),
            Err(e) => Err(Failure::internal("cannot delete the client key", &e)),
        }
    }
}
