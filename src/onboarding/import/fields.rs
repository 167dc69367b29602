//! Readers for single fields of a credential file, each lenient where the formats differ and
//! strict where a wrong type would hide a mistake.
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::error::ImportError;

/// A trimmed non-empty string, `None` when absent, null or blank, an error for any other type.
pub(super) fn string_field(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ImportError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            Ok((!s.is_empty()).then(|| s.to_string()))
        }
        Some(_) => Err(ImportError::FieldType {
            field,
            expected: "a string",
        }),
    }
}

/// `expiry` (RFC 3339, `Z` or `+hh:mm`, or naive meaning UTC) or else `expiry_date` (epoch
/// milliseconds, as google-auth-library writes it). An unreadable expiry counts as unknown: the
/// service then refreshes before first use, which is what the reference does too.
pub(super) fn expiry_of(obj: &Map<String, Value>) -> Option<DateTime<Utc>> {
    if let Some(e) = obj
        .get("expiry")
        .and_then(Value::as_str)
        .and_then(parse_expiry)
    {
        return Some(e);
    }
    let millis = match obj.get("expiry_date")? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    DateTime::from_timestamp_millis(millis)
}

fn parse_expiry(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

/// RFC 3339 with `+00:00`, as Python's `isoformat` writes it, so the reference reads it back.
pub(super) fn format_expiry(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// The `email` claim of an ID token. Unverified: it only names the credential and seeds
/// duplicate detection until the service asks userinfo.
pub(super) fn id_token_email(jwt: &str) -> Option<String> {
    let claims = jwt.split('.').nth(1)?;
    let raw = URL_SAFE_NO_PAD
        .decode(claims)
        .or_else(|_| URL_SAFE.decode(claims))
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    let email = v.get("email")?.as_str()?.trim();
    (!email.is_empty() && email.len() <= 320).then(|| email.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn expiry_formats() {
        let want = Utc.with_ymd_and_hms(2026, 1, 10, 2, 55, 29).unwrap();
        for s in [
            "2026-01-10T02:55:29Z",
            "2026-01-10T02:55:29+00:00",
            "2026-01-10T10:55:29+08:00",
            "2026-01-10T02:55:29",
            "2026-01-10 02:55:29",
            "2026-01-10T02:55:29+0000",
        ] {
            assert_eq!(parse_expiry(s), Some(want), "{s}");
        }
        assert_eq!(
            parse_expiry("2026-01-10T02:55:29.123456+00:00"),
            Some(want + chrono::TimeDelta::microseconds(123_456))
        );
        assert_eq!(parse_expiry("tomorrow"), None);
    }
}
