//! The settings form, generated from the registry (`SettingsService::describe`): locked fields
//! are disabled with their source, passwords are write-only and live in their own form.
use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use serde_json::Value;

use super::Nav;
use super::session::LOGIN_PATH;
use super::web::{PanelError, Toast, html, trigger, with_toast};
use crate::settings::passwords::PasswordKind;
use crate::settings::{Kind, SettingView, SettingsError, Source, registry};
use crate::state::AppState;

pub struct Field {
    key: &'static str,
    env: &'static str,
    description: &'static str,
    /// `bool`, `number` or `text`.
    input: &'static str,
    /// For number inputs.
    step: &'static str,
    value: String,
    default: String,
    source: &'static str,
    origin: Option<String>,
    disabled: bool,
    hot: bool,
    restart_pending: bool,
    error: Option<String>,
}

pub struct Secret {
    env: &'static str,
    description: &'static str,
    is_set: bool,
    source: &'static str,
    origin: Option<String>,
}

pub struct PasswordChoice {
    value: &'static str,
    label: &'static str,
    locked: bool,
}

#[derive(Template)]
#[template(path = "panel/partials/settings_form.html")]
struct SettingsForm {
    fields: Vec<Field>,
    form_error: Option<String>,
}

#[derive(Template)]
#[template(path = "panel/partials/password_form.html")]
struct PasswordForm {
    secrets: Vec<Secret>,
    choices: Vec<PasswordChoice>,
    all_locked: bool,
    error: Option<String>,
    /// The API key and the panel password are the same secret.
    same: bool,
}

#[derive(Template)]
#[template(path = "panel/settings.html")]
struct SettingsPage {
    form: super::web::Fragment,
    passwords: super::web::Fragment,
}

fn source_word(s: Source) -> &'static str {
    match s {
        Source::Env => "env",
        Source::File => "config file",
        Source::Saved => "saved",
        Source::Default => "default",
    }
}

/// The text a form field shows for a JSON value; lists are comma-separated, as env takes them.
fn as_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(as_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn input_of(key: &str) -> (&'static str, &'static str) {
    match registry().iter().find(|d| d.key == key).map(|d| d.kind) {
        Some(Kind::Bool) => ("bool", ""),
        Some(Kind::Int { .. }) => ("number", "1"),
        Some(Kind::Float { .. }) => ("number", "any"),
        _ => ("text", ""),
    }
}

fn fields(views: &[SettingView]) -> Vec<Field> {
    views
        .iter()
        .filter(|v| !v.secret)
        .map(|v| {
            let (input, step) = input_of(v.key);
            Field {
                key: v.key,
                env: v.env,
                description: v.description,
                input,
                step,
                value: as_text(&v.value),
                default: as_text(&v.default),
                source: source_word(v.source),
                origin: v.origin.clone(),
                disabled: !v.writable,
                hot: v.hot,
                restart_pending: v.restart_pending,
                error: None,
            }
        })
        .collect()
}

fn password_form(state: &AppState, error: Option<String>) -> PasswordForm {
    let secrets = state
        .settings
        .describe()
        .into_iter()
        .filter(|v| v.secret)
        .map(|v| Secret {
            env: v.env,
            description: v.description,
            is_set: v.is_set,
            source: source_word(v.source),
            origin: v.origin,
        })
        .collect();
    let choices = [
        (PasswordKind::Panel, "panel", "Panel (PANEL_PASSWORD)"),
        (PasswordKind::Api, "api", "API key (API_PASSWORD)"),
        (PasswordKind::Shared, "shared", "Shared fallback (PASSWORD)"),
    ]
    .into_iter()
    .map(|(k, value, label)| PasswordChoice {
        value,
        label,
        locked: state.passwords.locked(k),
    })
    .collect::<Vec<_>>();
    PasswordForm {
        secrets,
        all_locked: choices.iter().all(|c| c.locked),
        choices,
        error,
        same: state.passwords.same_for_api_and_panel(),
    }
}

#[handler]
pub fn page(req: &Request, state: Data<&AppState>) -> Result<Response, PanelError> {
    let form = SettingsForm {
        fields: fields(&state.settings.describe()),
        form_error: None,
    };
    let view = SettingsPage {
        form: super::web::render(&form)?,
        passwords: super::web::render(&password_form(&state, None))?,
    };
    super::web::page(
        req,
        super::i18n::Tr::current().nav_settings(),
        Nav::Settings,
        &view,
    )
}

/// Only values that differ from the current ones are saved, so an untouched default stays a
/// default (and keeps following future defaults).
fn changes(current: &[Field], submitted: &[(String, String)]) -> Vec<(String, Value)> {
    submitted
        .iter()
        .filter(|(k, v)| match current.iter().find(|f| f.key == k) {
            Some(f) => !f.disabled && f.value != v.trim(),
            None => true,
        })
        .map(|(k, v)| (k.clone(), Value::String(v.trim().to_string())))
        .collect()
}

fn error_key(e: &SettingsError) -> Option<&str> {
    match e {
        SettingsError::Invalid { key, .. }
        | SettingsError::Locked { key, .. }
        | SettingsError::NotWritable { key, .. } => Some(key),
        _ => None,
    }
}

#[handler]
pub async fn save(
    state: Data<&AppState>,
    Form(mut submitted): Form<Vec<(String, String)>>,
) -> Result<Response, PanelError> {
    // Not a setting: the confirmation for changes that redirect upstream traffic.
    let confirm = submitted
        .iter()
        .find(|(k, _)| k == "current_password")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    submitted.retain(|(k, _)| k != "current_password");
    let current = fields(&state.settings.describe());
    let changed = changes(&current, &submitted);
    let redirecting = state.settings.redirecting_changes(&changed);
    if !redirecting.is_empty()
        && (confirm.len() > 1024 || !state.passwords.verify_panel(&confirm).await)
    {
        let msg = format!(
            "Changing {} needs the current panel password.",
            redirecting.join(", ")
        );
        let mut fields = current;
        for f in fields.iter_mut().filter(|f| !f.disabled) {
            if let Some((_, v)) = submitted.iter().rev().find(|(k, _)| k == f.key) {
                f.value = v.trim().to_string();
            }
        }
        let body = SettingsForm {
            fields,
            form_error: Some(msg.clone()),
        }
        .render()?;
        let r = html(body)
            .with_status(StatusCode::UNPROCESSABLE_ENTITY)
            .into_response();
        return Ok(with_toast(r, Toast::error(format!("Not saved: {msg}"))));
    }
    if changed.is_empty() {
        let body = SettingsForm {
            fields: current,
            form_error: None,
        }
        .render()?;
        return Ok(with_toast(html(body), Toast::ok("Nothing changed")));
    }
    match state.settings.update(changed).await {
        Ok(o) => {
            let mut text = String::from("Settings saved");
            if !o.applied.is_empty() {
                text.push_str(&format!("; in effect now: {}", o.applied.join(", ")));
            }
            if !o.restart_required.is_empty() {
                text.push_str(&format!(
                    "; after a restart: {}",
                    o.restart_required.join(", ")
                ));
            }
            let body = SettingsForm {
                fields: fields(&state.settings.describe()),
                form_error: None,
            }
            .render()?;
            Ok(with_toast(html(body), Toast::ok(text)))
        }
        Err(
            e @ (SettingsError::ConfigFile { .. }
            | SettingsError::Hash(_)
            | SettingsError::Store(_)),
        ) => Err(PanelError::internal("cannot save settings", e)),
        Err(e) => {
            // Keep what the user typed, and put the message next to the field it is about.
            let mut fields = current;
            for f in fields.iter_mut().filter(|f| !f.disabled) {
                if let Some((_, v)) = submitted.iter().rev().find(|(k, _)| k == f.key) {
                    f.value = v.trim().to_string();
                }
            }
            let msg = e.to_string();
            let mut form_error = None;
            match error_key(&e).and_then(|k| fields.iter_mut().find(|f| f.key == k)) {
                Some(f) => f.error = Some(msg.clone()),
                None => form_error = Some(msg.clone()),
            }
            let body = SettingsForm { fields, form_error }.render()?;
            let r = html(body)
                .with_status(StatusCode::UNPROCESSABLE_ENTITY)
                .into_response();
            Ok(with_toast(r, Toast::error(format!("Not saved: {msg}"))))
        }
    }
}

#[derive(Deserialize)]
pub struct PasswordInput {
    kind: String,
    /// The current panel password: a stolen session cookie alone cannot change a password.
    #[serde(default)]
    current: String,
    password: String,
    confirm: String,
}

#[handler]
pub async fn password(
    state: Data<&AppState>,
    Form(input): Form<PasswordInput>,
) -> Result<Response, PanelError> {
    let kind = match input.kind.as_str() {
        "panel" => PasswordKind::Panel,
        "api" => PasswordKind::Api,
        "shared" => PasswordKind::Shared,
        _ => return Err(PanelError::BadRequest("unknown password kind".into())),
    };
    let refuse = |msg: String| -> Result<Response, PanelError> {
        let body = password_form(&state, Some(msg.clone())).render()?;
        let r = html(body)
            .with_status(StatusCode::UNPROCESSABLE_ENTITY)
            .into_response();
        Ok(with_toast(r, Toast::error(msg)))
    };
    if input.current.len() > 1024 || !state.passwords.verify_panel(&input.current).await {
        return refuse("The current panel password is wrong.".into());
    }
    if input.password != input.confirm {
        return refuse("The two passwords differ.".into());
    }
    if input.password.len() > 1024 {
        return refuse("That password is too long.".into());
    }
    match state.passwords.set(kind, &input.password).await {
        Ok(()) => {
            tracing::info!(kind = kind.key(), "password changed in the panel");
            if kind == PasswordKind::Api {
                let body = password_form(&state, None).render()?;
                return Ok(with_toast(html(body), Toast::ok("API password changed")));
            }
            // Every session, this one included, ended with the change: sign in again.
            let r = Response::builder()
                .header("HX-Redirect", LOGIN_PATH)
                .body("");
            Ok(trigger(r, Some(Toast::ok("Password changed")), &[]))
        }
        Err(e @ (SettingsError::Hash(_) | SettingsError::Store(_))) => {
            Err(PanelError::internal("cannot save the password", e))
        }
        Err(e) => refuse(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_as_form_text() {
        assert_eq!(as_text(&serde_json::json!([403, 429])), "403,429");
        assert_eq!(as_text(&serde_json::json!(true)), "true");
        assert_eq!(as_text(&serde_json::json!(0.5)), "0.5");
        assert_eq!(as_text(&Value::Null), "");
    }

    #[test]
    fn only_changed_enabled_fields_are_saved() {
        let views = crate::settings::registry();
        let key = views.iter().find(|d| !d.secret).map(|d| d.key).unwrap();
        let f = |value: &str, disabled| Field {
            key,
            env: "",
            description: "",
            input: "text",
            step: "",
            value: value.into(),
            default: String::new(),
            source: "default",
            origin: None,
            disabled,
            hot: true,
            restart_pending: false,
            error: None,
        };
        let sub = vec![(key.to_string(), " a ".to_string())];
        assert!(changes(&[f("a", false)], &sub).is_empty());
        assert_eq!(changes(&[f("b", false)], &sub).len(), 1);
        assert!(changes(&[f("b", true)], &sub).is_empty());
        assert_eq!(changes(&[], &[("nope".into(), "1".into())]).len(), 1);
    }
}
