//! The settings form, generated from the registry (`SettingsService::describe`), grouped by
//! purpose: locked fields are disabled with their source, each field can go back to its
//! default, every invalid value is reported at once next to its field, and passwords are
//! write-only and live in their own form.
use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use serde_json::Value;

use super::Nav;
use super::i18n::Tr;
use super::session::LOGIN_PATH;
use super::setting_texts::{GROUPS, group_of};
use super::web::{PanelError, Toast, html, trigger, with_toast};
use crate::settings::passwords::PasswordKind;
use crate::settings::{Kind, SettingView, SettingsError, Source, registry};
use crate::state::AppState;

pub struct Field {
    key: &'static str,
    env: &'static str,
    group: &'static str,
    description: &'static str,
    /// `bool`, `number` or `text`.
    input: &'static str,
    /// For number inputs.
    step: &'static str,
    value: String,
    default: String,
    source: &'static str,
    origin: Option<String>,
    /// A saved value that "reset to default" can remove.
    saved: bool,
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
    tr: Tr,
    groups: Vec<Group>,
    form_error: Option<String>,
    /// The confirmation field's own error (a redirecting change without the password).
    password_error: Option<String>,
    errors: usize,
}

pub struct Group {
    id: &'static str,
    title: &'static str,
    hint: &'static str,
    fields: Vec<Field>,
}

impl SettingsForm {
    fn new(fields: Vec<Field>, form_error: Option<String>) -> Self {
        let tr = Tr::current();
        let errors = fields.iter().filter(|f| f.error.is_some()).count();
        let mut fields = fields;
        let groups = GROUPS
            .iter()
            .filter_map(|g| {
                let (mine, rest): (Vec<Field>, Vec<Field>) =
                    fields.drain(..).partition(|f| f.group == *g);
                fields = rest;
                let (title, hint) = tr.group_title(g);
                (!mine.is_empty()).then_some(Group {
                    id: g,
                    title,
                    hint,
                    fields: mine,
                })
            })
            .collect();
        SettingsForm {
            tr,
            groups,
            form_error,
            password_error: None,
            errors,
        }
    }
}

#[derive(Template)]
#[template(path = "panel/partials/password_form.html")]
struct PasswordForm {
    tr: Tr,
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
    tr: Tr,
    form: super::web::Fragment,
    passwords: super::web::Fragment,
    /// Whether credential secrets are sealed with SECRETS_KEY in the database.
    encrypted: bool,
}

fn source_word(s: Source) -> &'static str {
    let tr = Tr::current();
    match s {
        Source::Env => tr.se_src_env(),
        Source::File => tr.se_src_file(),
        Source::Saved => tr.se_src_saved(),
        Source::Default => tr.se_src_default(),
    }
}

/// Why a field is locked, in the reader's language.
fn lock_note(source: Source, env: &str, origin: Option<&String>) -> Option<String> {
    let tr = Tr::current();
    origin.map(|o| match source {
        Source::Env => tr.se_locked_env(env),
        Source::File => tr.se_locked_file().to_string(),
        _ => tr.se_locked_other(o),
    })
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
    let tr = Tr::current();
    views
        .iter()
        .filter(|v| !v.secret)
        .map(|v| {
            let (input, step) = input_of(v.key);
            Field {
                key: v.key,
                env: v.env,
                group: group_of(v.key),
                description: tr.setting_description(v.key, v.description),
                input,
                step,
                value: as_text(&v.value),
                default: as_text(&v.default),
                source: source_word(v.source),
                origin: lock_note(v.source, v.env, v.origin.as_ref()),
                saved: v.source == Source::Saved && v.writable,
                disabled: !v.writable,
                hot: v.hot,
                restart_pending: v.restart_pending,
                error: None,
            }
        })
        .collect()
}

fn password_form(state: &AppState, error: Option<String>) -> PasswordForm {
    let tr = Tr::current();
    let secrets = state
        .settings
        .describe()
        .into_iter()
        .filter(|v| v.secret)
        .map(|v| Secret {
            env: v.env,
            description: tr.setting_description(v.key, v.description),
            is_set: v.is_set,
            source: source_word(v.source),
            origin: lock_note(v.source, v.env, v.origin.as_ref()),
        })
        .collect();
    let choices = [
        (PasswordKind::Panel, "panel", tr.pw_panel()),
        (PasswordKind::Api, "api", tr.pw_api()),
        (PasswordKind::Shared, "shared", tr.pw_shared()),
    ]
    .into_iter()
    .map(|(k, value, label)| PasswordChoice {
        value,
        label,
        locked: state.passwords.locked(k),
    })
    .collect::<Vec<_>>();
    PasswordForm {
        tr,
        secrets,
        all_locked: choices.iter().all(|c| c.locked),
        choices,
        error,
        same: state.passwords.same_for_api_and_panel(),
    }
}

#[handler]
pub fn page(req: &Request, state: Data<&AppState>) -> Result<Response, PanelError> {
    let form = SettingsForm::new(fields(&state.settings.describe()), None);
    let view = SettingsPage {
        tr: Tr::current(),
        form: super::web::render(&form)?,
        passwords: super::web::render(&password_form(&state, None))?,
        encrypted: state.store.encrypts_secrets(),
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

/// Why a typed current password was not accepted: the message to show, and the seconds to
/// wait once the address is over the failure limit.
struct NotConfirmed {
    message: String,
    retry_after: Option<u64>,
}

/// Checks the current panel password typed into a panel form. A wrong one counts against the
/// caller's address in the one failure limiter shared with sign-ins, API keys and the
/// management API's confirmations; the right one still gets through and clears the count.
async fn confirm_current(
    req: &Request,
    state: &AppState,
    typed: &str,
    wrong: String,
) -> Result<(), NotConfirmed> {
    let ip = crate::security::client_ip(req);
    if typed.len() <= 1024 && state.passwords.verify_panel(typed).await {
        state.attempts.success(ip);
        return Ok(());
    }
    match state.attempts.failure(ip, "panel") {
        Ok(()) => Err(NotConfirmed {
            message: wrong,
            retry_after: None,
        }),
        Err(secs) => Err(NotConfirmed {
            message: Tr::current().login_throttled(secs),
            retry_after: Some(secs),
        }),
    }
}

/// 422 for a refused form, or 429 with `Retry-After` once the address is over the limit.
fn refused_status(body: String, retry_after: Option<u64>) -> Response {
    let status = match retry_after {
        Some(_) => StatusCode::TOO_MANY_REQUESTS,
        None => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let mut r = html(body).with_status(status).into_response();
    if let Some(v) = retry_after.and_then(|s| s.to_string().parse().ok()) {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

/// Puts what the user typed back into the form's enabled fields.
fn keep_typed(fields: &mut [Field], submitted: &[(String, String)]) {
    for f in fields.iter_mut().filter(|f| !f.disabled) {
        if let Some((_, v)) = submitted.iter().rev().find(|(k, _)| k == f.key) {
            f.value = v.trim().to_string();
        }
    }
}

fn refused(form: SettingsForm, retry_after: Option<u64>) -> Result<Response, PanelError> {
    let tr = form.tr;
    let n = form.errors + usize::from(form.password_error.is_some());
    let body = form.render()?;
    let r = refused_status(body, retry_after);
    Ok(with_toast(r, Toast::error(tr.se_not_saved(n.max(1)))))
}

#[handler]
pub async fn save(
    req: &Request,
    state: Data<&AppState>,
    Form(mut submitted): Form<Vec<(String, String)>>,
) -> Result<Response, PanelError> {
    let tr = Tr::current();
    // Not settings: the confirmation for changes that redirect upstream traffic, and the
    // "reset to default" button that was pressed.
    let take = |submitted: &mut Vec<(String, String)>, name: &str| {
        let v = submitted
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
        submitted.retain(|(k, _)| k != name);
        v
    };
    let confirm = take(&mut submitted, "current_password").unwrap_or_default();
    if let Some(key) = take(&mut submitted, "reset") {
        return reset(&state, &key).await;
    }
    let current = fields(&state.settings.describe());
    let changed = changes(&current, &submitted);
    // Every value is checked before anything is saved, so all mistakes show at once.
    let mut typed = current;
    let mut invalid = 0;
    for (key, value) in &changed {
        if let Err(e) = crate::settings::check_value(key, value) {
            invalid += 1;
            if let Some(f) = typed.iter_mut().find(|f| f.key == key) {
                f.error = Some(tr.se_invalid(tr.validation(&e)));
            }
        }
    }
    if invalid > 0 {
        keep_typed(&mut typed, &submitted);
        return refused(SettingsForm::new(typed, None), None);
    }
    let redirecting = state.settings.redirecting_changes(&changed);
    let confirmed = match redirecting.is_empty() {
        true => Ok(()),
        false => {
            let wrong = tr.se_needs_password(redirecting.join(", "));
            confirm_current(req, &state, &confirm, wrong).await
        }
    };
    if let Err(NotConfirmed {
        message: msg,
        retry_after,
    }) = confirmed
    {
        keep_typed(&mut typed, &submitted);
        let mut form = SettingsForm::new(typed, None);
        form.password_error = Some(msg);
        return refused(form, retry_after);
    }
    if changed.is_empty() {
        let body = SettingsForm::new(typed, None).render()?;
        return Ok(with_toast(html(body), Toast::ok(tr.se_nothing_changed())));
    }
    match state.settings.update(changed).await {
        Ok(o) => {
            let mut text = tr.se_saved().to_string();
            if !o.applied.is_empty() {
                text.push_str(&tr.se_in_effect(o.applied.join(", ")));
            }
            if !o.restart_required.is_empty() {
                text.push_str(&tr.se_after_restart(o.restart_required.join(", ")));
            }
            let body = SettingsForm::new(fields(&state.settings.describe()), None).render()?;
            Ok(with_toast(html(body), Toast::ok(text)))
        }
        Err(
            e @ (SettingsError::ConfigFile { .. }
            | SettingsError::Hash(_)
            | SettingsError::Store(_)),
        ) => Err(PanelError::internal("cannot save settings", e)),
        Err(e) => {
            // A rule across settings: keep what the user typed, and put the message next to
            // the field it is about.
            keep_typed(&mut typed, &submitted);
            let msg = e.to_string();
            let mut form_error = None;
            match error_key(&e).and_then(|k| typed.iter_mut().find(|f| f.key == k)) {
                Some(f) => f.error = Some(msg),
                None => form_error = Some(msg),
            }
            refused(SettingsForm::new(typed, form_error), None)
        }
    }
}

/// "Reset to default": forgets the saved value.
async fn reset(state: &AppState, key: &str) -> Result<Response, PanelError> {
    let tr = Tr::current();
    let Some(def) = registry().iter().find(|d| d.key == key && !d.secret) else {
        return Err(PanelError::BadRequest(tr.se_unknown(key)));
    };
    match state.settings.reset(def.key).await {
        Ok(()) => {
            let body = SettingsForm::new(fields(&state.settings.describe()), None).render()?;
            Ok(with_toast(html(body), Toast::ok(tr.se_reset_done(def.env))))
        }
        Err(
            e @ (SettingsError::ConfigFile { .. }
            | SettingsError::Hash(_)
            | SettingsError::Store(_)),
        ) => Err(PanelError::internal("cannot reset the setting", e)),
        Err(e) => {
            let mut all = fields(&state.settings.describe());
            if let Some(f) = all.iter_mut().find(|f| f.key == def.key) {
                f.error = Some(e.to_string());
            }
            refused(SettingsForm::new(all, None), None)
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
    req: &Request,
    state: Data<&AppState>,
    Form(input): Form<PasswordInput>,
) -> Result<Response, PanelError> {
    let tr = Tr::current();
    let kind = match input.kind.as_str() {
        "panel" => PasswordKind::Panel,
        "api" => PasswordKind::Api,
        "shared" => PasswordKind::Shared,
        _ => return Err(PanelError::BadRequest(tr.pw_unknown_kind().into())),
    };
    let refuse_after = |msg: String, retry_after| -> Result<Response, PanelError> {
        let body = password_form(&state, Some(msg.clone())).render()?;
        Ok(with_toast(
            refused_status(body, retry_after),
            Toast::error(msg),
        ))
    };
    let refuse = |msg: String| refuse_after(msg, None);
    let wrong = tr.pw_wrong_current().to_string();
    if let Err(n) = confirm_current(req, &state, &input.current, wrong).await {
        return refuse_after(n.message, n.retry_after);
    }
    if input.password != input.confirm {
        return refuse(tr.pw_differ().into());
    }
    if input.password.len() > 1024 {
        return refuse(tr.pw_too_long().into());
    }
    match state.passwords.set(kind, &input.password).await {
        Ok(()) => {
            tracing::info!(kind = kind.key(), "password changed in the panel");
            if kind == PasswordKind::Api {
                let body = password_form(&state, None).render()?;
                return Ok(with_toast(html(body), Toast::ok(tr.pw_api_changed())));
            }
            // Every session, this one included, ended with the change: sign in again.
            let r = Response::builder()
                .header("HX-Redirect", LOGIN_PATH)
                .body("");
            Ok(trigger(r, Some(Toast::ok(tr.pw_changed())), &[]))
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
            group: "other",
            description: "",
            input: "text",
            step: "",
            value: value.into(),
            default: String::new(),
            source: "default",
            origin: None,
            saved: false,
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
