//! Request validation for generation calls, everything Google is known to reject: project
//! ownership, model catalog and preview gating, unknown fields, empty contents, thinking config
//! ranges, and Gemini 3 thought signatures. The official upstreams take the same inner request
//! at the top level, each with its own field set (Vertex requires `role` on every content and
//! rejects some Gemini-API-only fields).

use serde_json::Value;

use super::errors::{self, consumer_invalid, invalid_argument, not_found, service_disabled};
use super::state::Inner;

pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

const ENVELOPE_FIELDS: &[&str] = &[
    "model",
    "project",
    "user_prompt_id",
    "request",
    "enabled_credit_types",
];
const REQUEST_FIELDS: &[&str] = &[
    "contents",
    "systemInstruction",
    "cachedContent",
    "tools",
    "toolConfig",
    "labels",
    "safetySettings",
    "generationConfig",
    "session_id",
    "sessionId",
];
/// Top-level fields of the Gemini API's `GenerateContentRequest`: no `labels`.
const GEMINI_API_FIELDS: &[&str] = &[
    "model",
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "safetySettings",
    "generationConfig",
    "cachedContent",
];
const VERTEX_FIELDS: &[&str] = &[
    "model",
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "safetySettings",
    "generationConfig",
    "cachedContent",
    "labels",
];
/// Generation config of the Gemini API: Vertex's routing and audio timestamp fields are
/// missing, `enableEnhancedCivicAnswers` exists only here.
const GEMINI_API_GENERATION_FIELDS: &[&str] = &[
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "responseLogprobs",
    "logprobs",
    "presencePenalty",
    "frequencyPenalty",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "mediaResolution",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "enableAffectiveDialog",
    "enableEnhancedCivicAnswers",
];
/// Code Assist's and Vertex's generation config.
const GENERATION_FIELDS: &[&str] = &[
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "responseLogprobs",
    "logprobs",
    "presencePenalty",
    "frequencyPenalty",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "routingConfig",
    "modelSelectionConfig",
    "responseModalities",
    "mediaResolution",
    "speechConfig",
    "audioTimestamp",
    "thinkingConfig",
    "imageConfig",
    "enableAffectiveDialog",
];

/// Proto JSON accepts both the camelCase and the original snake_case field names.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn unknown_key<'a>(obj: &'a Value, known: &[&str]) -> Option<&'a str> {
    obj.as_object()?
        .keys()
        .find(|k| !known.iter().any(|n| n == k || snake(n) == **k))
        .map(String::as_str)
}

type Rejection = (u16, Value);

fn bad(message: &str) -> Rejection {
    (400, invalid_argument(message))
}

/// Checks in the order Google applies them: envelope, project, model, request body.
pub(crate) fn generation(inner: &Inner, email: &str, env: &Value) -> Result<(), Rejection> {
    if !env.is_object() {
        return Err(bad("Invalid JSON payload received. Expected an object."));
    }
    if let Some(k) = unknown_key(env, ENVELOPE_FIELDS) {
        let message =
            format!("Invalid JSON payload received. Unknown name \"{k}\": Cannot find field.");
        return Err(bad(&message));
    }
    let project = env
        .get("project")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = inner
        .user(email)
        .ok_or_else(|| (403, consumer_invalid(project)))?;
    if project.is_empty() || !user.may_use_project(project) {
        return Err((403, consumer_invalid(project)));
    }
    if project == user.project_id && !user.onboarded && !user.owns_gcp_project(project) {
        return Err((403, consumer_invalid(project)));
    }
    if project != user.project_id && !inner.api_enabled(project) {
        return Err((403, service_disabled(project)));
    }
    let model = env.get("model").and_then(Value::as_str).unwrap_or_default();
    if !inner.models.iter().any(|m| m == model)
        || (model.contains("-preview") && !user.spec.preview)
    {
        return Err((404, not_found()));
    }
    let request = env
        .get("request")
        .filter(|r| r.is_object())
        .ok_or_else(|| bad("Request contains an invalid argument."))?;
    request_body(inner, model, request, Dialect::CodeAssist)
}

/// Whose request rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// The request nested under `request` in the envelope.
    CodeAssist,
    GeminiApi,
    Vertex,
}

impl Dialect {
    fn fields(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Self::CodeAssist => (REQUEST_FIELDS, GENERATION_FIELDS),
            Self::GeminiApi => (GEMINI_API_FIELDS, GEMINI_API_GENERATION_FIELDS),
            Self::Vertex => (VERTEX_FIELDS, GENERATION_FIELDS),
        }
    }
}

/// Unknown top-level field of an unwrapped request: the message names no location.
fn unknown_top_level(name: &str) -> Value {
    let message =
        format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot find field.");
    let violation = serde_json::json!({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"description": message}]});
    errors::status_body(400, "INVALID_ARGUMENT", &message, vec![violation])
}

/// A Gemini API or Vertex `GenerateContentRequest` (the body itself, not an envelope).
pub(crate) fn official_request(
    inner: &Inner,
    model: &str,
    request: &Value,
    dialect: Dialect,
) -> Result<(), Rejection> {
    if !request.is_object() {
        return Err(bad("Invalid JSON payload received. Expected an object."));
    }
    request_body(inner, model, request, dialect)
}

fn request_body(
    inner: &Inner,
    model: &str,
    request: &Value,
    dialect: Dialect,
) -> Result<(), Rejection> {
    let (fields, generation_fields) = dialect.fields();
    if let Some(k) = unknown_key(request, fields) {
        return Err(match dialect {
            Dialect::CodeAssist => (400, errors::unknown_field(k, "request")),
            Dialect::GeminiApi | Dialect::Vertex => (400, unknown_top_level(k)),
        });
    }
    let gcfg = request
        .get("generationConfig")
        .or_else(|| request.get("generation_config"));
    if let Some(k) = gcfg.and_then(|g| unknown_key(g, generation_fields)) {
        let at = match dialect {
            Dialect::CodeAssist => "request.generation_config",
            Dialect::GeminiApi | Dialect::Vertex => "generation_config",
        };
        return Err((400, errors::unknown_field(k, at)));
    }
    let contents = request
        .get("contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("* GenerateContentRequest.contents: contents is not specified\n"))?;
    for (i, c) in contents.iter().enumerate() {
        if c.get("parts")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            return Err(bad(&format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n"
            )));
        }
        let role = c.get("role").and_then(Value::as_str);
        let role_ok = match (dialect, role) {
            (Dialect::CodeAssist, _) => true,
            (_, Some(r)) => r == "user" || r == "model",
            (_, None) => dialect != Dialect::Vertex,
        };
        if !role_ok {
            return Err(bad("Please use a valid role: user, model."));
        }
    }
    if let Some(t) = gcfg.and_then(|g| g.get("thinkingConfig")) {
        thinking(model, t)?;
    }
    if model.starts_with("gemini-3") {
        signatures(inner, contents)?;
    }
    Ok(())
}

fn thinking(model: &str, t: &Value) -> Result<(), Rejection> {
    let level = t.get("thinkingLevel");
    let budget = t.get("thinkingBudget");
    if !super::reply::is_thinking_model(model) {
        return Err(bad("Thinking is not enabled for this model."));
    }
    if level.is_some() && budget.is_some() {
        return Err(bad(
            "You can only set only one of thinking budget and thinking level.",
        ));
    }
    if let Some(level) = level {
        if model.starts_with("gemini-2.5") {
            return Err(bad("Thinking level is not supported for this model."));
        }
        let ok = level.as_str().is_some_and(|l| {
            ["minimal", "low", "medium", "high"].contains(&l.to_ascii_lowercase().as_str())
        });
        if !ok {
            return Err(bad(&format!(
                "Invalid value at 'request.generation_config.thinking_config.thinking_level', {level}"
            )));
        }
    }
    if let Some(b) = budget {
        let b = b.as_i64().ok_or_else(|| {
            bad("Invalid value at 'request.generation_config.thinking_config.thinking_budget'")
        })?;
        let (min, max, zero_ok) = match model {
            m if m.starts_with("gemini-2.5-pro") => (128, 32768, false),
            m if m.starts_with("gemini-2.5-flash-lite") => (512, 24576, true),
            m if m.starts_with("gemini-2.5") => (1, 24576, true),
            _ => (1, 32768, true),
        };
        let valid = b == -1 || (b == 0 && zero_ok) || (min..=max).contains(&b);
        if !valid {
            let message = if b == 0 {
                "Budget 0 is invalid. This model only works in thinking mode.".to_string()
            } else {
                format!(
                    "The thinking budget {b} is invalid. Please choose a value between {min} and {max}."
                )
            };
            return Err(bad(&message));
        }
    }
    Ok(())
}

fn signatures(inner: &Inner, contents: &[Value]) -> Result<(), Rejection> {
    for (position, content) in contents.iter().enumerate() {
        if content.get("role").and_then(Value::as_str) != Some("model") {
            continue;
        }
        let parts = content.get("parts").and_then(Value::as_array);
        let first_call = parts
            .into_iter()
            .flatten()
            .find(|p| p.get("functionCall").is_some());
        let Some(part) = first_call else { continue };
        let name = part
            .pointer("/functionCall/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match part.get("thoughtSignature").and_then(Value::as_str) {
            None | Some("") => return Err((400, errors::missing_signature(name, position))),
            Some(s) if s == SKIP_SIGNATURE || inner.signatures.contains(s) => {}
            Some(_) => return Err(bad("Corrupted thought signature.")),
        }
    }
    Ok(())
}
