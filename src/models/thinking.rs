//! Thinking-suffix and `reasoning_effort` semantics per model family: Gemini 3 models take a
//! `thinkingLevel`, Gemini 2.5 (and unknown) models a `thinkingBudget` within the family's range.
//!
//! Deliberate differences from the reference:
//! - Every Gemini 3 model with a thinking level shows its thoughts. The reference only did so
//!   for names containing `3-flash` or `pro`, so `gemini-3.5-flash-high` and
//!   `gemini-3.1-flash-lite-high` never showed thoughts.
//! - `-max` on a Gemini 3 model means level `high` (like `-maxthinking`) instead of being
//!   silently ignored.
use super::Thinking;

/// Model families that differ in how thinking is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Gemini 3.x: `thinkingLevel`.
    Gemini3 { pro: bool },
    /// Gemini 2.5 and anything unknown: `thinkingBudget`.
    Budget { pro: bool, known: bool },
}

impl Family {
    pub fn of(base: &str) -> Family {
        let pro = base.contains("pro");
        if base.contains("gemini-3") {
            Family::Gemini3 { pro }
        } else {
            Family::Budget {
                pro,
                known: base.contains("gemini-2.5"),
            }
        }
    }

    pub fn is_pro(self) -> bool {
        match self {
            Family::Gemini3 { pro } | Family::Budget { pro, .. } => pro,
        }
    }

    /// Largest budget the family accepts: flash-class models stop at 24576.
    fn max_budget(self) -> i64 {
        if self.is_pro() { 32768 } else { 24576 }
    }

    /// Smallest budget that still leaves thinking on: pro models cannot turn it off.
    fn min_budget(self) -> i64 {
        if self.is_pro() { 128 } else { 0 }
    }

    /// Thinking suffixes listed in the model catalog for this family.
    pub fn listed_suffixes(self) -> &'static [&'static str] {
        match self {
            Family::Budget { known: true, .. } => &["-max", "-high", "-medium", "-low", "-minimal"],
            Family::Gemini3 { pro: false } => &["-high", "-medium", "-low", "-minimal"],
            Family::Gemini3 { pro: true } => &["-high", "-low"],
            Family::Budget { known: false, .. } => &[],
        }
    }
}

fn budget(budget: i64) -> Thinking {
    if budget == 0 {
        return Thinking::Off;
    }
    Thinking::Budget {
        budget,
        include_thoughts: true,
    }
}

fn level(level: &str) -> Thinking {
    Thinking::Level {
        level: level.to_string(),
        include_thoughts: true,
    }
}

/// The name-derived thinking config; `suffix` is one of the thinking suffixes or none.
pub(super) fn from_suffix(family: Family, suffix: Option<&str>) -> Thinking {
    let pro_default = if family.is_pro() && !matches!(family, Family::Budget { known: false, .. }) {
        Thinking::IncludeOnly(true)
    } else {
        Thinking::Default
    };
    let Some(suffix) = suffix else {
        return pro_default;
    };
    match (family, suffix) {
        // Legacy suffixes apply to every family, as in the reference.
        (_, "-nothinking") => budget(family.min_budget()),
        (Family::Gemini3 { .. }, "-maxthinking" | "-max") => level("high"),
        (_, "-maxthinking") => budget(family.max_budget()),
        // `-think` only marks a thinking model: show thoughts with the default effort.
        (_, "-think") => {
            if family.is_pro() || matches!(family, Family::Gemini3 { .. }) {
                Thinking::IncludeOnly(true)
            } else {
                Thinking::Default
            }
        }
        (Family::Gemini3 { .. }, "-high") => level("high"),
        (Family::Gemini3 { pro: false }, "-medium") => level("medium"),
        (Family::Gemini3 { .. }, "-low") => level("low"),
        // Pro has no medium level, and `-minimal` means the model's default (as in the
        // reference).
        (Family::Gemini3 { .. }, _) => pro_default,
        (Family::Budget { .. }, "-max") => budget(family.max_budget()),
        (Family::Budget { .. }, "-high") => budget(16000),
        (Family::Budget { .. }, "-medium") => budget(8192),
        (Family::Budget { .. }, "-low") => budget(1024),
        (Family::Budget { .. }, "-minimal") => budget(family.min_budget()),
        (Family::Budget { .. }, _) => pro_default,
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "reasoning_effort '{0}' is not supported; use one of none, minimal, low, medium, high, xhigh, auto"
)]
pub struct ReasoningEffortError(pub String);

/// OpenAI `reasoning_effort` → thinking config (the budgets of CLIProxyAPI's table).
/// Gemini 3 gets levels; budget models get budgets clamped to what the family accepts.
/// `auto` means "the model's own default", so it adds nothing.
pub fn reasoning_effort_thinking(
    family: Family,
    effort: &str,
) -> Result<Thinking, ReasoningEffortError> {
    let effort_lc = effort.trim().to_ascii_lowercase();
    let include_thoughts = effort_lc != "none";
    if let Family::Gemini3 { pro } = family {
        // Gemini 3 cannot switch thinking off; `none` is the lowest level with thoughts hidden.
        let level = match (effort_lc.as_str(), pro) {
            ("auto", _) => return Ok(Thinking::Default),
            ("none" | "minimal", false) => "minimal",
            ("none" | "minimal" | "low", _) => "low",
            ("medium", false) => "medium",
            ("medium" | "high" | "xhigh" | "max", _) => "high",
            _ => return Err(ReasoningEffortError(effort.to_string())),
        };
        return Ok(Thinking::Level {
            level: level.to_string(),
            include_thoughts,
        });
    }
    let raw = match effort_lc.as_str() {
        "auto" => -1,
        "none" => 0,
        "minimal" => 512,
        "low" => 1024,
        "medium" => 8192,
        "high" => 24576,
        "xhigh" | "max" => 32768,
        _ => return Err(ReasoningEffortError(effort.to_string())),
    };
    if raw == -1 {
        return Ok(Thinking::Budget {
            budget: -1,
            include_thoughts: true,
        });
    }
    let clamped = raw.clamp(family.min_budget(), family.max_budget());
    if clamped == 0 {
        return Ok(Thinking::Off);
    }
    Ok(Thinking::Budget {
        budget: clamped,
        include_thoughts,
    })
}
