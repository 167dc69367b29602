//! Names: credential names derived from untrusted file names, and the checks on ZIP entry
//! names. A credential name becomes a file name on export and appears in the panel, so it is
//! kept to a small safe alphabet (the reference accepts any characters, including quotes and
//! HTML, and echoes the name unquoted into `Content-Disposition`).
use std::collections::HashSet;

/// Longest credential name, without the `.json` an export adds.
pub const MAX_NAME_LEN: usize = 120;

/// Stems that say nothing about whose credential it is: every Gemini CLI user's file is
/// `oauth_creds.json`, so naming by it would make uploads from two machines collide.
const GENERIC_STEMS: &[&str] = &[
    "oauth_creds",
    "application_default_credentials",
    "credentials",
    "credential",
    "creds",
    "cred",
];

/// A character allowed in a stored or downloaded file name, or `_` in its place.
pub fn safe_name_char(c: char) -> char {
    if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '+' | '-') {
        c
    } else {
        '_'
    }
}

/// Maps `raw` onto `[A-Za-z0-9._@+-]`, at most [`MAX_NAME_LEN`] characters, with no leading
/// dot or dash (no hidden files, nothing that reads as an option). `None` when nothing
/// meaningful is left.
pub fn sanitize_name(raw: &str) -> Option<String> {
    let mapped: String = raw.chars().map(safe_name_char).collect();
    let trimmed = mapped.trim_start_matches(['.', '-']);
    let cut: String = trimmed.chars().take(MAX_NAME_LEN).collect();
    let cut = cut.trim_end_matches('.').to_string();
    if cut.chars().any(|c| c.is_ascii_alphanumeric()) {
        Some(cut)
    } else {
        None
    }
}

/// The last component of a path written with either separator.
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// `base_name` without a trailing `.json` (any case).
pub(crate) fn stem(path: &str) -> &str {
    let base = base_name(path);
    match base.len().checked_sub(5) {
        Some(cut) if base.is_char_boundary(cut) && base[cut..].eq_ignore_ascii_case(".json") => {
            &base[..cut]
        }
        _ => base,
    }
}

/// A credential name from a file name, unless the file name is generic or unusable.
pub(crate) fn name_from_hint(hint: &str) -> Option<String> {
    let stem = stem(hint);
    if GENERIC_STEMS.iter().any(|g| stem.eq_ignore_ascii_case(g)) {
        return None;
    }
    sanitize_name(stem)
}

pub(crate) fn has_extension(name: &str, ext: &str) -> bool {
    let base = base_name(name);
    base.len() > ext.len()
        && base.is_char_boundary(base.len() - ext.len())
        && base[base.len() - ext.len()..].eq_ignore_ascii_case(ext)
}

/// Why a ZIP entry name is refused, if it is. A name is refused when extracting it naively
/// could land outside the target directory on any platform.
pub(crate) fn entry_name_problem(raw: &[u8]) -> Option<&'static str> {
    if raw.contains(&0) {
        return Some("unsafe name: contains a NUL byte");
    }
    if raw.first() == Some(&b'/') {
        return Some("unsafe name: absolute path");
    }
    if raw.len() >= 2 && raw[0].is_ascii_alphabetic() && raw[1] == b':' {
        return Some("unsafe name: absolute path (drive letter)");
    }
    if raw.contains(&b'\\') {
        return Some("unsafe name: contains a backslash");
    }
    if raw.split(|b| *b == b'/').any(|part| part == b"..") {
        return Some("unsafe name: path traversal (\"..\")");
    }
    None
}

/// A file or entry name fit to show in a report: control characters replaced, length bounded.
pub(crate) fn display_name(raw: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = raw
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if raw.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// Hands out names that are unique within one batch: a repeated name gets `-2`, `-3`, ...
/// The reference let the second file of the same name overwrite the first, silently.
#[derive(Default)]
pub(crate) struct UniqueNames {
    taken: HashSet<String>,
}

impl UniqueNames {
    pub(crate) fn claim(&mut self, wanted: String) -> String {
        if self.taken.insert(wanted.to_ascii_lowercase()) {
            return wanted;
        }
        let base: String = wanted.chars().take(MAX_NAME_LEN - 6).collect();
        let mut n = 2u32;
        loop {
            let candidate = format!("{base}-{n}");
            if self.taken.insert(candidate.to_ascii_lowercase()) {
                return candidate;
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_safe_alphabet_and_drops_separators() {
        assert_eq!(
            sanitize_name("proj-123_a.b@x+y").as_deref(),
            Some("proj-123_a.b@x+y")
        );
        assert_eq!(
            sanitize_name("../../etc/passwd").as_deref(),
            Some("_.._etc_passwd")
        );
        assert_eq!(sanitize_name(".hidden").as_deref(), Some("hidden"));
        assert_eq!(sanitize_name("-rf").as_deref(), Some("rf"));
        assert_eq!(sanitize_name("<script>").as_deref(), Some("_script_"));
        assert_eq!(sanitize_name("日本語"), None);
        assert_eq!(sanitize_name(""), None);
        assert_eq!(sanitize_name("...."), None);
        let long = "a".repeat(500);
        assert_eq!(sanitize_name(&long).map(|s| s.len()), Some(MAX_NAME_LEN));
        for raw in ["a/b", "a\\b", "C:\\x", "a\0b"] {
            let s = sanitize_name(raw).unwrap();
            assert!(!s.contains(['/', '\\', '\0', ':']), "{s}");
        }
    }

    #[test]
    fn stems_and_generic_names() {
        assert_eq!(stem("dir/sub/My.JSON"), "My");
        assert_eq!(stem("C:\\Users\\x\\p-1.json"), "p-1");
        assert_eq!(stem("noext"), "noext");
        assert_eq!(stem("é.json"), "é");
        assert_eq!(name_from_hint("/home/u/.gemini/oauth_creds.json"), None);
        assert_eq!(
            name_from_hint("proj-1767000000.json").as_deref(),
            Some("proj-1767000000")
        );
        assert!(has_extension("a/b.ZIP", ".zip"));
        assert!(!has_extension(".zip", ".zip"));
        assert!(!has_extension("a.json.txt", ".json"));
    }

    #[test]
    fn entry_names_checked_for_every_traversal_kind() {
        assert!(entry_name_problem(b"ok.json").is_none());
        assert!(entry_name_problem(b"dir/ok.json").is_none());
        assert!(entry_name_problem(b"dir/..ok.json").is_none());
        for bad in [
            &b"../x.json"[..],
            b"a/../../x.json",
            b"a/..",
            b"/etc/x.json",
            b"C:\\x.json",
            b"c:x.json",
            b"a\\x.json",
            b"a\0.json",
        ] {
            assert!(entry_name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn unique_names_suffix_repeats_case_insensitively() {
        let mut u = UniqueNames::default();
        assert_eq!(u.claim("a".into()), "a");
        assert_eq!(u.claim("A".into()), "A-2");
        assert_eq!(u.claim("a".into()), "a-3");
        assert_eq!(u.claim("a-2".into()), "a-2-2");
    }

    #[test]
    fn display_name_neutralises_control_characters() {
        assert_eq!(display_name("a\nb\u{1b}[31m"), "a?b?[31m");
        assert!(display_name(&"x".repeat(300)).ends_with('…'));
    }
}
