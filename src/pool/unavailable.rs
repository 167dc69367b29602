//! The answer when no credential can serve a model, phrased for the person who will read it.
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::clock::until;

/// Why nothing could be picked. Each credential is counted once, under the first reason that
/// applies in the order of the fields.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Unavailable {
    /// The model, with its pin prefix when the request had one (`vertex/gemini-2.5-pro`).
    pub model: String,
    pub total: usize,
    /// Active, but of another upstream than the pin, or not serving this model.
    pub not_offered: usize,
    pub disabled: usize,
    pub banned: usize,
    /// Got a 404 for this model.
    pub unable: usize,
    pub cooling: usize,
    pub over_quota: usize,
    /// Usable, but already tried by this request.
    pub excluded: usize,
    /// When the first cooling or over-quota credential becomes pickable again.
    pub next_free_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

impl Unavailable {
    /// For a Retry-After header; `None` when nothing frees up without a person acting.
    pub fn retry_after(&self) -> Option<Duration> {
        self.next_free_at.map(|t| until(self.now, t))
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.total == 0 {
            return write!(f, "no credentials are configured");
        }
        let parts: Vec<String> = [
            (self.not_offered, "not offering this model"),
            (self.disabled, "disabled"),
            (self.banned, "banned"),
            (self.unable, "unable to use this model"),
            (self.cooling, "cooling"),
            (self.over_quota, "over their daily quota"),
            (self.excluded, "already tried for this request"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        let noun = if self.total == 1 {
            "credential"
        } else {
            "credentials"
        };
        write!(
            f,
            "no credential available for {}: of {} {noun}, {}",
            self.model,
            self.total,
            parts.join(", ")
        )?;
        match self.next_free_at {
            Some(t) => write!(
                f,
                "; next frees at {} (in {} s)",
                t.format("%Y-%m-%dT%H:%M:%SZ"),
                until(self.now, t).as_secs_f64().ceil()
            ),
            None => write!(f, "; none frees up without an operator"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn message_names_counts_and_next_free_time() {
        let now = DateTime::parse_from_rfc3339("2025-10-20T12:02:19Z")
            .expect("time")
            .with_timezone(&Utc);
        let u = Unavailable {
            model: "gemini-2.5-pro".into(),
            total: 3,
            not_offered: 0,
            disabled: 0,
            banned: 0,
            unable: 0,
            cooling: 3,
            over_quota: 0,
            excluded: 0,
            next_free_at: Some(now + TimeDelta::seconds(41)),
            now,
        };
        assert_eq!(
            u.to_string(),
            "no credential available for gemini-2.5-pro: of 3 credentials, 3 cooling; \
             next frees at 2025-10-20T12:03:00Z (in 41 s)"
        );
        assert_eq!(u.retry_after(), Some(Duration::from_secs(41)));
        let none = Unavailable {
            total: 0,
            cooling: 0,
            next_free_at: None,
            ..u
        };
        assert_eq!(none.to_string(), "no credentials are configured");
    }
}
