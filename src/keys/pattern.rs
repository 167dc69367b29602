//! Model patterns of a key's allow-list: a model id, or a stem ending in `*` (a prefix match),
//! the same rule as the model aliases' patterns.
use crate::models;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPattern {
    stem: String,
    prefix: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "model pattern '{0}' must be a model id (letters, digits, '.', '-', '_') optionally ending in '*'"
)]
pub struct PatternError(pub String);

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

impl ModelPattern {
    pub fn parse(p: &str) -> Result<Self, PatternError> {
        let p = p.trim();
        let err = || PatternError(p.chars().take(128).collect());
        if p.len() > 128 {
            return Err(err());
        }
        if p == "*" {
            return Ok(Self {
                stem: String::new(),
                prefix: true,
            });
        }
        match p.strip_suffix('*') {
            Some(stem) if is_id(stem) => Ok(Self {
                stem: stem.to_string(),
                prefix: true,
            }),
            None if is_id(p) => Ok(Self {
                // An exact name is compared as the upstream id it stands for (the same mapping
                // requests go through), so listing a renamed model still matches it.
                stem: models::resolve(p).map_or_else(|_| p.to_string(), |m| m.base),
                prefix: false,
            }),
            _ => Err(err()),
        }
    }

    /// Matches nothing: what a list of only unreadable patterns becomes.
    pub fn nothing() -> Self {
        Self {
            stem: "\u{0}".into(),
            prefix: false,
        }
    }

    pub fn matches(&self, base: &str) -> bool {
        if self.prefix {
            base.starts_with(&self.stem)
        } else {
            base == self.stem
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_prefix_patterns() {
        let p = ModelPattern::parse("gemini-2.5-flash").unwrap();
        assert!(p.matches("gemini-2.5-flash"));
        assert!(!p.matches("gemini-2.5-flash-lite"));
        assert!(!p.matches("gemini-2.5-pro"));
        let p = ModelPattern::parse("gemini-2.5-*").unwrap();
        assert!(p.matches("gemini-2.5-pro") && p.matches("gemini-2.5-flash"));
        assert!(!p.matches("gemini-3-flash"));
        assert!(ModelPattern::parse("*").unwrap().matches("anything"));
        assert!(!ModelPattern::nothing().matches(""));
        for bad in ["", "a*b", "gemini 2", "**", "x/y"] {
            assert!(ModelPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_exact_name_stands_for_its_upstream_id() {
        // Requests for gemini-3.5-flash reach the upstream as gemini-3-flash.
        let p = ModelPattern::parse("gemini-3.5-flash").unwrap();
        let asked = models::resolve("gemini-3.5-flash-high").unwrap();
        assert!(p.matches(&asked.base));
    }
}
