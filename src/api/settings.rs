//! Settings (read, change, reset) and passwords (write-only).
use std::collections::BTreeMap;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde_json::Value;

use super::ApiTags;
use super::auth::PanelAuth;
use super::error::{ApiError, ErrorCode, Failure};
use crate::settings::passwords::PasswordKind;
use crate::settings::{SettingView, SettingsError, Source};
use crate::state::AppState;

pub struct SettingsApi;

/// Where a setting's effective value comes from. `env` and `file` lock the setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum SettingSource {
    Env,
    File,
    Saved,
    Default,
}

impl From<Source> for SettingSource {
    fn from(s: Source) -> Self {
        match s {
            Source::Env => SettingSource::Env,
            Source::File => SettingSource::File,
            Source::Saved => SettingSource::Saved,
            Source::Default => SettingSource::Default,
        }
    }
}

#[derive(Object)]
struct Setting {
    key: String,
    /// The environment variable that sets (and locks) it.
    env: String,
    /// The effective value; always null for secrets (see `is_set`).
    value: Value,
    is_set: bool,
    /// Null for secrets.
    default: Value,
    source: SettingSource,
    /// Where a locked value comes from, e.g. "environment variable PORT".
    #[oai(skip_serializing_if_is_none)]
    origin: Option<String>,
    /// Fixed by env or the config file: writes answer 409.
    locked: bool,
    /// Takes effect without a restart.
    hot: bool,
    secret: bool,
    /// Can be changed with `PATCH /api/v1/settings` (passwords use `PUT /api/v1/passwords/{kind}`).
    writable: bool,
    /// A saved value the running process does not use yet (restart needed).
    restart_pending: bool,
    description: String,
}

impl From<SettingView> for Setting {
    fn from(v: SettingView) -> Self {
        Setting {
            key: v.key.into(),
            env: v.env.into(),
            // Belt and braces: the service already nulls secrets.
            value: if v.secret { Value::Null } else { v.value },
            is_set: v.is_set,
            default: if v.secret { Value::Null } else { v.default },
            source: v.source.into(),
            origin: v.origin,
            locked: v.locked,
            hot: v.hot,
            secret: v.secret,
            writable: v.writable,
            restart_pending: v.restart_pending,
            description: v.description.into(),
        }
    }
}

#[derive(Object)]
struct SettingsUpdated {
    /// Keys whose new value is already in effect.
    applied: Vec<String>,
    /// Keys saved but used only after a restart.
    restart_required: Vec<String>,
}

#[derive(Object)]
struct PasswordRequest {
    /// The current panel password, whatever password is being changed: a session token
    /// alone is not enough to change one.
    #[oai(validator(max_length = 1024))]
    current_password: String,
    /// The new password (at least 8 characters). Only an argon2id hash is stored.
    #[oai(validator(max_length = 1024))]
    password: String,
}

/// Which password to set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum PasswordTarget {
    /// API_PASSWORD: the key for /v1 and /v1beta.
    Api,
    /// PANEL_PASSWORD: the panel and this API.
    Panel,
    /// PASSWORD: the fallback for both.
    Shared,
}

impl From<PasswordTarget> for PasswordKind {
    fn from(t: PasswordTarget) -> Self {
        match t {
            PasswordTarget::Api => PasswordKind::Api,
            PasswordTarget::Panel => PasswordKind::Panel,
            PasswordTarget::Shared => PasswordKind::Shared,
        }
    }
}

#[derive(ApiResponse)]
enum ListSettingsResponse {
    #[oai(status = 200)]
    Ok(Json<Vec<Setting>>),
}

#[derive(ApiResponse)]
enum UpdateSettingsResponse {
    /// Saved; see which keys need a restart.
    #[oai(status = 200)]
    Ok(Json<SettingsUpdated>),
    /// Not an object, or a key that does not exist (nothing was saved).
    #[oai(status = 400)]
    BadRequest(Json<ApiError>),
    /// A key is locked by env or the config file, or is not writable here (nothing was saved).
    #[oai(status = 409)]
    Conflict(Json<ApiError>),
    /// A value failed validation; `message` says why (nothing was saved).
    #[oai(status = 422)]
    Invalid(Json<ApiError>),
}

#[derive(ApiResponse)]
enum ResetSettingResponse {
    /// The saved value was removed; the default applies.
    #[oai(status = 200)]
    Ok(Json<SettingsUpdated>),
    /// No such setting.
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
    /// Locked by env or the config file, or not writable here.
    #[oai(status = 409)]
    Conflict(Json<ApiError>),
}

#[derive(ApiResponse)]
enum SetPasswordResponse {
    /// Saved; it applies to the next request.
    #[oai(status = 204)]
    Saved,
    /// Set by env or the config file.
    #[oai(status = 409)]
    Locked(Json<ApiError>),
    /// Too short.
    #[oai(status = 422)]
    Invalid(Json<ApiError>),
    /// `current_password` is not the current panel password.
    #[oai(status = 403)]
    WrongCurrent(Json<ApiError>),
}

pub(super) enum Refused {
    Wrong(Json<ApiError>),
    Throttled(Json<ApiError>, u64),
}

/// Checks the current panel password sent to confirm a sensitive change. A wrong one counts
/// against the caller's address like any failed sign-in.
pub(super) async fn confirm_current(
    req: &poem::Request,
    state: &AppState,
    current: &str,
) -> Result<(), Refused> {
    let ip = super::auth::client_ip(req);
    if state.passwords.verify_panel(current).await {
        state.attempts.success(ip);
        return Ok(());
    }
    match state.attempts.failure(ip, "api") {
        Ok(()) => Err(Refused::Wrong(ApiError::json(
            ErrorCode::WrongCurrentPassword,
            "current_password is not the current panel password",
        ))),
        Err(secs) => Err(Refused::Throttled(
            ApiError::json(
                ErrorCode::TooManyAttempts,
                format!("too many failed attempts from this address; retry in {secs} s"),
            ),
            secs,
        )),
    }
}

enum Mapped {
    BadRequest(Json<ApiError>),
    Conflict(Json<ApiError>),
    Invalid(Json<ApiError>),
}

fn map_settings_error(e: SettingsError) -> Result<Mapped, Failure> {
    let err = |code, target: Option<&str>| {
        let mut a = ApiError::new(code, e.to_string());
        if let Some(t) = target {
            a = a.with_target(t);
        }
        Json(a)
    };
    Ok(match &e {
        SettingsError::Locked { key, .. } => Mapped::Conflict(err(ErrorCode::Locked, Some(key))),
        SettingsError::NotWritable { key, .. } => {
            Mapped::Conflict(err(ErrorCode::NotWritable, Some(key)))
        }
        SettingsError::Invalid { key, .. } => Mapped::Invalid(err(ErrorCode::Invalid, Some(key))),
        SettingsError::PasswordTooShort { .. } => Mapped::Invalid(err(ErrorCode::Invalid, None)),
        SettingsError::UnknownKeys { keys, .. } => {
            Mapped::BadRequest(err(ErrorCode::UnknownSetting, Some(&keys.join(","))))
        }
        SettingsError::ConfigFile { .. } | SettingsError::Hash(_) | SettingsError::Store(_) => {
            return Err(Failure::internal("cannot save settings", &e));
        }
    })
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Settings")]
impl SettingsApi {
    /// Every setting with its value, source and lock state. Secrets show only `is_set`.
    #[oai(path = "/settings", method = "get", operation_id = "list_settings")]
    async fn list(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
    ) -> Result<ListSettingsResponse, Failure> {
        let out = state
            .settings
            .describe()
            .into_iter()
            .map(Setting::from)
            .collect();
        Ok(ListSettingsResponse::Ok(Json(out)))
    }

    /// Change several settings at once: `{"key": value, ...}`; `null` removes the saved value.
    /// All are validated first: on any error nothing is saved.
    #[oai(path = "/settings", method = "patch", operation_id = "update_settings")]
    async fn update(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        body: Json<BTreeMap<String, Value>>,
    ) -> Result<UpdateSettingsResponse, Failure> {
        if body.0.is_empty() {
            return Ok(UpdateSettingsResponse::BadRequest(ApiError::json(
                ErrorCode::BadRequest,
                "no settings given: send an object of key/value pairs",
            )));
        }
        match state.settings.update(body.0.into_iter().collect()).await {
            Ok(o) => Ok(UpdateSettingsResponse::Ok(Json(SettingsUpdated {
                applied: o.applied,
                restart_required: o.restart_required,
            }))),
            Err(e) => Ok(match map_settings_error(e)? {
                Mapped::BadRequest(j) => UpdateSettingsResponse::BadRequest(j),
                Mapped::Conflict(j) => UpdateSettingsResponse::Conflict(j),
                Mapped::Invalid(j) => UpdateSettingsResponse::Invalid(j),
            }),
        }
    }

    /// Remove a setting's saved value, so its default applies.
    #[oai(
        path = "/settings/:key",
        method = "delete",
        operation_id = "reset_setting"
    )]
    async fn reset(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        key: Path<String>,
    ) -> Result<ResetSettingResponse, Failure> {
        match state
            .settings
            .update(vec![(key.0.clone(), Value::Null)])
            .await
        {
            Ok(o) => Ok(ResetSettingResponse::Ok(Json(SettingsUpdated {
                applied: o.applied,
                restart_required: o.restart_required,
            }))),
            Err(e) => Ok(match map_settings_error(e)? {
                Mapped::BadRequest(_) => ResetSettingResponse::NotFound(Json(
                    ApiError::new(ErrorCode::NotFound, format!("no setting named {}", key.0))
                        .with_target(key.0),
                )),
                Mapped::Conflict(j) => ResetSettingResponse::Conflict(j),
                // A null is always valid; kept for completeness.
                Mapped::Invalid(j) => ResetSettingResponse::Conflict(j),
            }),
        }
    }

    /// Set a password. It is stored only as an argon2id hash and never returned. Changing the
    /// panel or shared password signs out every session.
    #[oai(
        path = "/passwords/:kind",
        method = "put",
        operation_id = "set_password"
    )]
    async fn set_password(
        &self,
        _caller: PanelAuth,
        req: &poem::Request,
        state: Data<&AppState>,
        kind: Path<PasswordTarget>,
        body: Json<PasswordRequest>,
    ) -> Result<SetPasswordResponse, Failure> {
        if let Err(r) = confirm_current(req, &state, &body.current_password).await {
            return match r {
                Refused::Wrong(j) => Ok(SetPasswordResponse::WrongCurrent(j)),
                Refused::Throttled(j, s) => Err(Failure::TooManyAttempts(j, s)),
            };
        }
        match state.passwords.set(kind.0.into(), &body.password).await {
            Ok(()) => Ok(SetPasswordResponse::Saved),
            Err(e) => Ok(match map_settings_error(e)? {
                Mapped::Conflict(j) => SetPasswordResponse::Locked(j),
                Mapped::Invalid(j) | Mapped::BadRequest(j) => SetPasswordResponse::Invalid(j),
            }),
        }
    }
}
