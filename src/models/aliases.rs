//! Model aliases (`MODEL_ALIASES`): ordered `pattern=target` pairs that map the model names
//! other vendors' clients send by default (Claude Code asks for `claude-sonnet-*`, Codex for
//! `gpt-5*`) to a Gemini base model, so those clients work unconfigured.
//!
//! An alias applies to the base name, after stream-mode prefixes and feature suffixes are
//! taken off, so `fake-stream/claude-sonnet-4-5` and `gpt-5-codex-high-search` keep their
//! features. A pattern may end in `*` (a prefix match); the first matching pair wins.
use std::fmt;

/// The defaults. Pro-class names go to the newest generally available Pro model of the default
/// catalog, not a preview (a credential without preview access would answer 404); small-model
/// names go to the GA Flash model. More specific patterns come first.
pub const DEFAULT_MODEL_ALIASES: &[&str] = &[
    "claude-opus-*=gemini-2.5-pro",
    "claude-sonnet-*=gemini-2.5-pro",
    "claude-haiku-*=gemini-2.5-flash",
    "claude-3-5-haiku*=gemini-2.5-flash",
    "claude-3-haiku*=gemini-2.5-flash",
    "claude-*=gemini-2.5-pro",
    "gpt-5-mini*=gemini-2.5-flash",
    "gpt-5-nano*=gemini-2.5-flash",
    "gpt-5*=gemini-2.5-pro",
    "gpt-4o-mini*=gemini-2.5-flash",
    "gpt-4.1-mini*=gemini-2.5-flash",
    "gpt-4.1-nano*=gemini-2.5-flash",
    "gpt-4*=gemini-2.5-pro",
    "o3-mini*=gemini-2.5-flash",
    "o3*=gemini-2.5-pro",
    "o4*=gemini-2.5-flash",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    /// As written, including a trailing `*`.
    pub pattern: String,
    pub target: String,
}

impl Alias {
    fn matches(&self, base: &str) -> bool {
        match self.pattern.strip_suffix('*') {
            Some(stem) => base.starts_with(stem),
            None => base == self.pattern,
        }
    }
}

/// Why a `pattern=target` pair is refused; the text names the rule, never a secret.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("'{0}' is not a pattern=target pair")]
    NotAPair(String),
    #[error(
        "pattern '{0}' must be a model id (letters, digits, '.', '-', '_') optionally ending in '*'"
    )]
    BadPattern(String),
    #[error("target '{0}' must be a plain model id (letters, digits, '.', '-', '_')")]
    BadTarget(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aliases(Vec<Alias>);

impl Aliases {
    /// Parse `pattern=target` items, in order.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, AliasError> {
        items
            .into_iter()
            .map(|item| {
                let (pattern, target) = item
                    .split_once('=')
                    .ok_or_else(|| AliasError::NotAPair(item.trim().to_string()))?;
                let (pattern, target) = (pattern.trim(), target.trim());
                let stem = pattern.strip_suffix('*').unwrap_or(pattern);
                if !(is_id(stem) || (stem.is_empty() && pattern == "*")) {
                    return Err(AliasError::BadPattern(pattern.to_string()));
                }
                if !is_id(target) {
                    return Err(AliasError::BadTarget(target.to_string()));
                }
                Ok(Alias {
                    pattern: pattern.to_string(),
                    target: target.to_string(),
                })
            })
            .collect::<Result<_, _>>()
            .map(Aliases)
    }

    pub fn defaults() -> Self {
        // The defaults are checked by a unit test, so this never falls back in practice.
        Self::parse(DEFAULT_MODEL_ALIASES.iter().copied()).unwrap_or_default()
    }

    /// The target for a base name, if an alias matches it.
    pub fn target(&self, base: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|a| a.matches(base))
            .map(|a| a.target.as_str())
    }

    /// The target when `name` is literally one of the patterns (`claude-sonnet-*` picked from a
    /// model list); such a name has no features, since `*` cannot be followed by suffixes.
    pub fn exact_pattern(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|a| a.pattern == name)
            .map(|a| a.target.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Alias> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.pattern, self.target)
    }
}

fn is_id(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && s.len() <= 128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_pick_the_first_match() {
        let a = Aliases::defaults();
        assert_eq!(a.iter().count(), DEFAULT_MODEL_ALIASES.len());
        assert_eq!(
            a.target("claude-sonnet-4-5-20250929"),
            Some("gemini-2.5-pro")
        );
        assert_eq!(a.target("claude-opus-4-1"), Some("gemini-2.5-pro"));
        assert_eq!(a.target("claude-haiku-4-5"), Some("gemini-2.5-flash"));
        assert_eq!(
            a.target("claude-3-5-haiku-latest"),
            Some("gemini-2.5-flash")
        );
        assert_eq!(a.target("claude-3-7-sonnet-latest"), Some("gemini-2.5-pro"));
        assert_eq!(a.target("gpt-5-mini"), Some("gemini-2.5-flash"));
        assert_eq!(a.target("gpt-5.1-codex"), Some("gemini-2.5-pro"));
        assert_eq!(a.target("gpt-4o-mini"), Some("gemini-2.5-flash"));
        assert_eq!(a.target("gpt-4o"), Some("gemini-2.5-pro"));
        assert_eq!(a.target("o3"), Some("gemini-2.5-pro"));
        assert_eq!(a.target("o4-mini"), Some("gemini-2.5-flash"));
        assert_eq!(a.target("gemini-2.5-pro"), None);
        assert_eq!(
            a.target("claude"),
            None,
            "the stem 'claude-' needs its dash"
        );
    }

    #[test]
    fn bad_pairs_are_refused_with_the_rule() {
        assert_eq!(
            Aliases::parse(["nothing"]),
            Err(AliasError::NotAPair("nothing".into()))
        );
        assert_eq!(
            Aliases::parse(["a*b=x"]),
            Err(AliasError::BadPattern("a*b".into()))
        );
        assert_eq!(
            Aliases::parse(["a=x*"]),
            Err(AliasError::BadTarget("x*".into()))
        );
        assert_eq!(
            Aliases::parse(["a=fake-stream/x"]),
            Err(AliasError::BadTarget("fake-stream/x".into()))
        );
        let all = Aliases::parse([" * = gemini-2.5-flash "]).unwrap();
        assert_eq!(all.target("anything"), Some("gemini-2.5-flash"));
        assert_eq!(all.exact_pattern("*"), Some("gemini-2.5-flash"));
    }
}
