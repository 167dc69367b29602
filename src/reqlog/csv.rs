//! The request log as CSV (RFC 4180: comma, CRLF, quotes doubled). A field that a spreadsheet
//! would run as a formula (leading `=`, `+`, `-`, `@`) gets a leading apostrophe, since model
//! names and error reasons come from clients and upstreams.
use std::fmt::Write;

use super::Row;

pub const HEADER: &str = "id,time,surface,stream,client_model,served_model,credential_id,credential,status,outcome,latency_ms,ttfb_ms,attempts,prompt_tokens,completion_tokens,reasoning_tokens,client,error,prompt_excerpt";

fn field(out: &mut String, s: &str) {
    let guarded = matches!(s.chars().next(), Some('=' | '+' | '-' | '@'));
    let quote = guarded || s.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
        if guarded {
            out.push('\'');
        }
        for c in s.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Header and one line per row. `prompts`: include the excerpt column's values (the header
/// always has the column, so files from both settings line up).
pub fn to_csv(rows: &[Row], prompts: bool) -> String {
    let mut out = String::with_capacity(128 * (rows.len() + 1));
    out.push_str(HEADER);
    out.push_str("\r\n");
    for r in rows {
        let e = &r.entry;
        let _ = write!(
            out,
            "{},{},{},{},",
            r.id,
            e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            e.surface,
            e.stream
        );
        field(&mut out, &e.client_model);
        out.push(',');
        field(&mut out, &e.served_model);
        out.push(',');
        if let Some(id) = e.credential_id {
            let _ = write!(out, "{id}");
        }
        out.push(',');
        field(&mut out, r.credential_name.as_deref().unwrap_or(""));
        let _ = write!(
            out,
            ",{},{},{},{},{},{},{},{},",
            e.status,
            e.outcome.key(),
            e.latency_ms,
            e.ttfb_ms.map(|t| t.to_string()).unwrap_or_default(),
            e.attempts,
            e.prompt_tokens,
            e.completion_tokens,
            e.reasoning_tokens
        );
        field(&mut out, &e.client);
        out.push(',');
        field(&mut out, e.error.as_deref().unwrap_or(""));
        out.push(',');
        if prompts {
            field(&mut out, e.prompt_excerpt.as_deref().unwrap_or(""));
        }
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::super::Entry;
    use super::*;

    fn row() -> Row {
        Row {
            id: 7,
            entry: Entry {
                at: Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap(),
                surface: "openai",
                stream: true,
                client_model: "gemini-2.5-pro".into(),
                served_model: "gemini-2.5-pro".into(),
                credential_id: Some(3),
                status: 429,
                outcome: crate::usage::Outcome::UpstreamError(429),
                latency_ms: 12,
                ttfb_ms: None,
                attempts: 2,
                prompt_tokens: 5,
                completion_tokens: 0,
                reasoning_tokens: 0,
                client: "127.0.0.1".into(),
                error: Some("quota, \"exhausted\"\nretry".into()),
                prompt_excerpt: Some("=cmd()".into()),
            },
            credential_name: Some("acct,1".into()),
        }
    }

    #[test]
    fn quotes_and_guards() {
        let csv = to_csv(&[row()], true);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], HEADER);
        assert_eq!(
            lines[1],
            "7,2026-12-07T03:00:00.000Z,openai,true,gemini-2.5-pro,gemini-2.5-pro,3,\"acct,1\",429,upstream_429,12,,2,5,0,0,127.0.0.1,\"quota, \"\"exhausted\"\"\nretry\",\"'=cmd()\""
        );
        assert_eq!(HEADER.split(',').count(), 19);
    }

    #[test]
    fn excerpt_left_out_unless_asked() {
        let csv = to_csv(&[row()], false);
        assert!(!csv.contains("cmd"));
        assert!(csv.ends_with(",\r\n"));
    }
}
