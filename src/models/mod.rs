//! Model catalog and model-name features: one parser, one place.
//!
//! A client-facing model name carries features on top of the upstream model id:
//! - a stream-mode prefix: `假流式/` or `fake-stream/` (fake streaming; also the later
//!   `-假流式` suffix form), `流式抗截断/` or `anti-truncation/` (anti-truncation);
//! - a thinking suffix (`-max -high -medium -low -minimal`, legacy `-maxthinking -nothinking
//!   -think`), whose meaning depends on the model family (see `thinking`);
//! - `-search`, which adds the `googleSearch` tool;
//! - a kind pin: `aistudio/`, `vertex/` or `code-assist/` restricts the request to credentials
//!   of that upstream (Gemini API keys; Vertex service accounts and express keys; Code Assist
//!   accounts). Pins and stream-mode prefixes combine in any order.
//!
//! Unlike the reference, suffixes are parsed as a structure (at most one thinking suffix, at
//! most one `-search`, in any order) instead of substring tests, so a conflicting name such as
//! `x-high-low` is rejected instead of being silently interpreted.
mod aliases;
mod catalog;
pub mod embedding;
mod thinking;

pub use crate::google::kind::Pin;
pub use aliases::{Alias, AliasError, Aliases, DEFAULT_MODEL_ALIASES};
pub use catalog::{
    DEFAULT_BASE_MODELS, alias_entries, embedding_entries, gemini_model_entries, openai_model_ids,
};
pub use embedding::is_embedding;
pub use thinking::{Family, ReasoningEffortError, reasoning_effort_thinking};

/// How the gateway talks to the upstream for a streaming request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamMode {
    Normal,
    /// One non-streaming upstream call, re-chunked for the client.
    FakeStream,
    /// Streaming with continuation requests until the done marker appears.
    AntiTruncation,
}

/// What the model name asks of `generationConfig.thinkingConfig`.
///
/// `include_thoughts` is what the name asks for; the `RETURN_THOUGHTS_TO_FRONTEND` setting can
/// still turn it off when the features are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Thinking {
    /// The name says nothing: the client's own thinking config (if any) is used.
    Default,
    /// Only `includeThoughts` (pro models think by default, so showing thoughts is safe).
    IncludeOnly(bool),
    Budget {
        budget: i64,
        include_thoughts: bool,
    },
    /// Gemini 3 style; `level` is lowercase.
    Level {
        level: String,
        include_thoughts: bool,
    },
    /// `thinkingBudget: 0, includeThoughts: false`.
    Off,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedModel {
    /// Prefix stripped, suffixes kept: what the client sees as `model` in responses.
    pub requested: String,
    /// What the upstream sees.
    pub base: String,
    pub thinking: Thinking,
    pub search: bool,
    pub mode: StreamMode,
    /// Only credentials of this upstream may serve the request.
    pub pin: Option<Pin>,
}

impl ResolvedModel {
    pub fn family(&self) -> Family {
        Family::of(&self.base)
    }

    /// Whether the name asks for anything beyond the model and a kind pin (a thinking suffix,
    /// `-search`, a stream mode): meaningless for an embedding model.
    pub fn has_features(&self) -> bool {
        self.thinking != Thinking::Default || self.search || self.mode != StreamMode::Normal
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("model name is empty")]
    Empty,
    #[error("model name '{0}' is too long (at most 128 characters)")]
    TooLong(String),
    #[error(
        "model name '{0}' is not valid: a model id uses only letters, digits, '.', '-' and '_' (feature prefixes: '假流式/', 'fake-stream/', '流式抗截断/', 'anti-truncation/')"
    )]
    Invalid(String),
    #[error("model name '{name}' has conflicting suffixes '{first}' and '{second}'")]
    ConflictingSuffixes {
        name: String,
        first: String,
        second: String,
    },
    #[error("model name '{0}' combines fake streaming and anti-truncation; pick one")]
    ConflictingModes(String),
    #[error(
        "model name '{0}' names two upstreams ('aistudio/', 'vertex/', 'code-assist/'); pick one"
    )]
    ConflictingPins(String),
}

const FAKE_STREAM_PREFIXES: &[&str] = &["假流式/", "fake-stream/"];
const FAKE_STREAM_SUFFIX: &str = "-假流式";
const ANTI_TRUNCATION_PREFIXES: &[&str] = &["流式抗截断/", "anti-truncation/"];
const SEARCH_SUFFIX: &str = "-search";
/// Longest first, so `-maxthinking` is not read as `-max` + garbage.
const THINKING_SUFFIXES: &[&str] = &[
    "-maxthinking",
    "-nothinking",
    "-minimal",
    "-medium",
    "-think",
    "-high",
    "-max",
    "-low",
];

/// Parse a client model name (optionally `models/`-prefixed) into the upstream id and features,
/// without aliases.
pub fn resolve(name: &str) -> Result<ResolvedModel, ModelError> {
    resolve_with(name, &Aliases::default())
}

/// Parse a client model name, then map its base name through `aliases`. `requested` keeps the
/// client's name (responses echo it); `base` is the alias target the upstream sees.
pub fn resolve_with(name: &str, aliases: &Aliases) -> Result<ResolvedModel, ModelError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(ModelError::Empty);
    }
    if trimmed.chars().count() > 128 {
        return Err(ModelError::TooLong(truncate_for_message(trimmed)));
    }
    let mut rest = trimmed.strip_prefix("models/").unwrap_or(trimmed);
    let mut mode = StreamMode::Normal;
    let mut pin: Option<Pin> = None;
    // Prefixes may be stacked in any order; each mode and each pin may appear once.
    loop {
        if let Some((p, r)) = Pin::ALL
            .iter()
            .find_map(|p| rest.strip_prefix(p.prefix()).map(|r| (*p, r)))
        {
            if pin.is_some_and(|had| had != p) {
                return Err(ModelError::ConflictingPins(name.to_string()));
            }
            pin = Some(p);
            rest = r;
        } else if let Some(r) = strip_any_prefix(rest, FAKE_STREAM_PREFIXES) {
            set_mode(&mut mode, StreamMode::FakeStream, name)?;
            rest = r;
        } else if let Some(r) = strip_any_prefix(rest, ANTI_TRUNCATION_PREFIXES) {
            set_mode(&mut mode, StreamMode::AntiTruncation, name)?;
            rest = r;
        } else if let Some(r) = rest.strip_prefix("models/") {
            rest = r;
        } else {
            break;
        }
    }
    let requested_owned;
    let mut requested = rest;
    if let Some(r) = requested.strip_suffix(FAKE_STREAM_SUFFIX) {
        set_mode(&mut mode, StreamMode::FakeStream, name)?;
        requested_owned = r.to_string();
        requested = &requested_owned;
    }
    if let Some(target) = aliases.exact_pattern(requested) {
        return Ok(ResolvedModel {
            requested: requested.to_string(),
            base: upstream_id(target).to_string(),
            thinking: thinking::from_suffix(Family::of(target), None),
            search: false,
            mode,
            pin,
        });
    }
    validate_id(requested, name)?;

    let mut base = requested;
    let mut thinking_suffix: Option<&str> = None;
    let mut search = false;
    loop {
        if let Some(r) = base.strip_suffix(SEARCH_SUFFIX) {
            if search {
                return Err(conflict(name, SEARCH_SUFFIX, SEARCH_SUFFIX));
            }
            search = true;
            base = r;
            continue;
        }
        let Some(suffix) = THINKING_SUFFIXES.iter().find(|s| base.ends_with(*s)) else {
            break;
        };
        if let Some(first) = thinking_suffix {
            return Err(conflict(name, suffix, first));
        }
        thinking_suffix = Some(suffix);
        base = &base[..base.len() - suffix.len()];
    }
    if base.is_empty() || !base.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err(ModelError::Invalid(name.to_string()));
    }
    let base = aliases.target(base).unwrap_or(base);
    let family = Family::of(base);
    let thinking = thinking::from_suffix(family, thinking_suffix);
    Ok(ResolvedModel {
        requested: requested.to_string(),
        base: upstream_id(base).to_string(),
        thinking,
        search,
        mode,
        pin,
    })
}

/// Ids the Code Assist backend knows under another name. The Gemini CLI maps `gemini-3.5-flash`
/// to `gemini-3-flash` before calling Code Assist ("those backends do not expect to see the
/// string gemini-3.5-flash", in the words of its `models.ts`); the reference sends it verbatim.
fn upstream_id(base: &str) -> &str {
    match base {
        "gemini-3.5-flash" => "gemini-3-flash",
        other => other,
    }
}

fn strip_any_prefix<'a>(s: &'a str, prefixes: &[&str]) -> Option<&'a str> {
    prefixes.iter().find_map(|p| s.strip_prefix(p))
}

fn set_mode(mode: &mut StreamMode, new: StreamMode, name: &str) -> Result<(), ModelError> {
    match *mode {
        StreamMode::Normal => {
            *mode = new;
            Ok(())
        }
        // Repeating the same prefix is harmless; mixing the two is not meaningful.
        current if current == new => Ok(()),
        _ => Err(ModelError::ConflictingModes(name.to_string())),
    }
}

fn validate_id(id: &str, name: &str) -> Result<(), ModelError> {
    let mut chars = id.chars();
    let valid_first = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let valid_rest = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if id.is_empty() || !valid_first || !valid_rest {
        return Err(if id.is_empty() {
            ModelError::Empty
        } else {
            ModelError::Invalid(truncate_for_message(name))
        });
    }
    Ok(())
}

fn conflict(name: &str, first: &str, second: &str) -> ModelError {
    ModelError::ConflictingSuffixes {
        name: name.to_string(),
        first: first.to_string(),
        second: second.to_string(),
    }
}

fn truncate_for_message(s: &str) -> String {
    s.chars().take(128).collect()
}

#[cfg(test)]
mod tests;
