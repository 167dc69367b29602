//! Secret redaction of formatted log text.
//!
//! Every rule (and the registry of exact secrets) only *reports* byte ranges of the original
//! text; the ranges are then merged and each merged range is replaced by one [`MARKER`]. Working
//! on ranges of the original, rather than chaining rewrites, means no rule can hide a secret
//! from another (e.g. by cutting a registered token in half) and overlapping hits are harmless.
//! The rules are hand-written byte scanners: every delimiter they stop at is ASCII, so ranges
//! always fall on UTF-8 character boundaries.
use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use super::secrets::SecretRegistry;

pub const MARKER: &str = "[REDACTED]";

/// Token prefixes whose body is a credential: Google OAuth access tokens, refresh tokens,
/// OAuth client secrets, API keys and authorization codes. The prefix is kept (it tells the
/// reader what kind of value was there); the body goes. The number is the minimum body length,
/// which keeps ordinary text such as "ya29." or "1//2" intact.
const ANCHORS: &[(&str, usize)] = &[
    ("ya29.", 1),
    ("1//", 8),
    ("GOCSPX-", 1),
    ("AIza", 20),
    ("4/0A", 10),
];

/// Header names whose unquoted value runs to the end of the line (it may contain spaces:
/// `Authorization: Bearer x`).
const HEADER_NAMES: &[&str] = &[
    "authorization",
    "proxy_authorization",
    "x_goog_api_key",
    "x_api_key",
    "cookie",
    "set_cookie",
];

/// Names whose value is secret wherever they appear as `name=v`, `name: v` or `"name": "v"`.
const SECRET_NAMES: &[&str] = &[
    "key",
    "api_key",
    "apikey",
    "token",
    "auth",
    "secret",
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "code_verifier",
    "session",
    "session_id",
];

/// Names that are secret only as URL query or form parameters (`?code=`, `&state=`): as plain
/// fields they are far more often a status code or a credential's state.
const URL_ONLY_NAMES: &[&str] = &["code", "state"];

/// Redacts `text` with the given registry of exact secrets plus the built-in patterns.
pub fn redact_with<'a>(text: &'a str, secrets: &SecretRegistry) -> Cow<'a, str> {
    let mut spans = Vec::new();
    secrets.find_spans(text, &mut spans);
    find_pattern_spans(text, &mut spans);
    replace_spans(text, spans)
}

fn replace_spans(text: &str, mut spans: Vec<Range<usize>>) -> Cow<'_, str> {
    spans.retain(|r| r.start < r.end);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_unstable_by_key(|r| r.start);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut current = spans[0].clone();
    for span in spans.into_iter().skip(1) {
        if span.start <= current.end {
            current.end = current.end.max(span.end);
        } else {
            out.push_str(&text[copied..current.start]);
            out.push_str(MARKER);
            copied = current.end;
            current = span;
        }
    }
    out.push_str(&text[copied..current.start]);
    out.push_str(MARKER);
    out.push_str(&text[current.end..]);
    Cow::Owned(out)
}

pub(crate) fn find_pattern_spans(text: &str, out: &mut Vec<Range<usize>>) {
    let b = text.as_bytes();
    anchored_tokens(text, out);
    bearer(b, out);
    named_values(b, out);
}

fn anchored_tokens(text: &str, out: &mut Vec<Range<usize>>) {
    // Searchers built once: building one per search cost more than the search itself.
    static FINDERS: LazyLock<Vec<memchr::memmem::Finder<'static>>> = LazyLock::new(|| {
        ANCHORS
            .iter()
            .map(|(anchor, _)| memchr::memmem::Finder::new(anchor.as_bytes()))
            .collect()
    });
    let b = text.as_bytes();
    for (finder, (anchor, min_len)) in FINDERS.iter().zip(ANCHORS) {
        for at in finder.find_iter(b) {
            if at > 0 && b[at - 1].is_ascii_alphanumeric() {
                continue;
            }
            let start = at + anchor.len();
            let end = run(b, start, is_token_byte);
            if end - start >= *min_len {
                out.push(start..end);
            }
        }
    }
}

/// `Bearer <token>`, case-insensitive, wherever it appears.
fn bearer(b: &[u8], out: &mut Vec<Range<usize>>) {
    const WORD: &[u8] = b"bearer";
    let mut i = 0;
    while i + WORD.len() < b.len() {
        // Jump to the next `b` or `B`: most lines have few.
        match memchr::memchr2(b'b', b'B', &b[i..b.len() - WORD.len()]) {
            Some(skip) => i += skip,
            None => break,
        }
        if !b[i..i + WORD.len()].eq_ignore_ascii_case(WORD)
            || (i > 0 && b[i - 1].is_ascii_alphanumeric())
        {
            i += 1;
            continue;
        }
        let after = i + WORD.len();
        let start = run(b, after, |c| c == b' ' || c == b'\t');
        let end = run(b, start, is_token_byte);
        if start > after && end > start {
            out.push(start..end);
        }
        i = end.max(after);
    }
}

/// `name=value`, `name: value`, `"name": "value"` and `\"name\": \"value\"` (JSON inside a
/// Debug-formatted string), where `name` is secret-looking.
fn named_values(b: &[u8], out: &mut Vec<Range<usize>>) {
    for sep in memchr::memchr2_iter(b'=', b':', b) {
        let Some((name, name_start, quoted)) = name_before(b, sep) else {
            continue;
        };
        let url_param =
            b[sep] == b'=' && name_start > 0 && matches!(b[name_start - 1], b'?' | b'&');
        if !is_secret_name(name, url_param) {
            continue;
        }
        // A bare `name: value` is only trusted for header names: in prose ("invalid password:
        // too short") the colon introduces an explanation, not the value.
        let header = !quoted && is_header_name(name);
        match value_after(b, sep + 1, header) {
            Some((span, true)) => out.push(span),
            Some((span, false)) if b[sep] == b'=' || header => out.push(span),
            _ => {}
        }
    }
}

/// The identifier just before the separator at `sep`, possibly quoted or escaped-quoted.
/// Returns (name, index where the name and its quotes begin, quoted?).
fn name_before(b: &[u8], sep: usize) -> Option<(&[u8], usize, bool)> {
    let mut end = sep;
    if b[sep] == b':' {
        while end > 0 && b[end - 1] == b' ' {
            end -= 1;
        }
    }
    let mut quoted = false;
    let mut escaped = false;
    if end > 0 && b[end - 1] == b'"' {
        quoted = true;
        end -= 1;
        if end > 0 && b[end - 1] == b'\\' {
            escaped = true;
            end -= 1;
        }
    }
    // Names are short; bounding the walk keeps the scan linear on pathological input.
    let limit = end.saturating_sub(64);
    let mut start = end;
    while start > limit && is_name_byte(b[start - 1]) {
        start -= 1;
    }
    if start == end {
        return None;
    }
    if start > 0 && is_name_byte(b[start - 1]) {
        return None;
    }
    let mut outer = start;
    if quoted {
        if outer == 0 || b[outer - 1] != b'"' {
            return None;
        }
        outer -= 1;
        if escaped {
            if outer == 0 || b[outer - 1] != b'\\' {
                return None;
            }
            outer -= 1;
        }
    }
    Some((&b[start..end], outer, quoted))
}

/// The value starting at `from` (after optional spaces) and whether it was quoted.
fn value_after(b: &[u8], from: usize, header: bool) -> Option<(Range<usize>, bool)> {
    let mut i = run(b, from, |c| c == b' ');
    // Debug output of `Option<String>`: `token: Some("...")`.
    if b[i..].starts_with(b"Some(") {
        i += 5;
    }
    let rest = &b[i..];
    let quoted = rest.starts_with(b"\\\"") || matches!(rest.first(), Some(b'"' | b'\''));
    let (start, end) = if rest.starts_with(b"\\\"") {
        let start = i + 2;
        let len = find(&b[start..], b"\\\"").unwrap_or(b.len() - start);
        (start, start + len)
    } else if rest.first() == Some(&b'"') || rest.first() == Some(&b'\'') {
        let quote = rest[0];
        let start = i + 1;
        let mut j = start;
        while j < b.len() && b[j] != quote {
            j += if b[j] == b'\\' { 2 } else { 1 };
        }
        (start, j.min(b.len()))
    } else if header {
        (
            i,
            run(b, i, |c| {
                !matches!(c, b'\r' | b'\n' | b'"' | b'\'' | b',' | b'}')
            }),
        )
    } else {
        let end = run(b, i, |c| {
            !(c.is_ascii_whitespace()
                || matches!(
                    c,
                    b'"' | b'\'' | b',' | b';' | b'&' | b')' | b']' | b'}' | b'<' | b'>'
                ))
        });
        // `auth=Bearer xyz`: the credential is the scheme *and* the token.
        let word = &b[i..end];
        let scheme = word.eq_ignore_ascii_case(b"bearer") || word.eq_ignore_ascii_case(b"basic");
        let token_start = run(b, end, |c| c == b' ');
        if scheme && token_start > end {
            (i, run(b, token_start, is_token_byte))
        } else {
            (i, end)
        }
    };
    (end > start).then_some((start..end, quoted))
}

fn is_secret_name(name: &[u8], url_param: bool) -> bool {
    // Every secret-looking name has at least 3 characters (`key`, `pwd`, `auth`...).
    if name.len() > 64 || name.len() < 3 {
        return false;
    }
    let mut buf = [0u8; 64];
    let norm = &mut buf[..name.len()];
    for (d, s) in norm.iter_mut().zip(name) {
        *d = if *s == b'-' {
            b'_'
        } else {
            s.to_ascii_lowercase()
        };
    }
    let norm = &*norm;
    let is = |list: &[&str]| list.iter().any(|n| n.as_bytes() == norm);
    is(SECRET_NAMES)
        || is(HEADER_NAMES)
        || (url_param && is(URL_ONLY_NAMES))
        // `accessToken`, `refresh_token`, `csrf_token` … but not the counters `max_tokens`,
        // `prompt_token_count`.
        || norm.ends_with(b"token")
        || memchr::memmem::find(norm, b"password").is_some()
        || norm.ends_with(b"secret")
        || norm.ends_with(b"api_key")
        || norm.ends_with(b"apikey")
        || norm.ends_with(b"private_key")
}

fn is_header_name(name: &[u8]) -> bool {
    HEADER_NAMES.iter().any(|h| {
        h.len() == name.len()
            && h.bytes().zip(name).all(|(h, n)| {
                h == if *n == b'-' {
                    b'_'
                } else {
                    n.to_ascii_lowercase()
                }
            })
    })
}

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// Characters of bearer tokens, JWTs, base64(url) and Google tokens.
fn is_token_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

fn run(b: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    while i < b.len() && pred(b[i]) {
        i += 1;
    }
    i
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
