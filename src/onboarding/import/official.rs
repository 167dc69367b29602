//! Credentials of the official upstreams in canonical form: pasted API keys (many at once, one
//! per line or comma, each optionally ending in `@group`) and service-account key files.
//!
//! An API key's kind comes from where the operator put it (Gemini API and Vertex express keys
//! both start with `AQ.`), never from its prefix. Pure functions: nothing here checks a key with
//! Google (the onboarding service does), and no message carries a key.
use serde_json::{Value, json};

use super::names::sanitize_name;
use crate::google::kind::CredentialKind;
use crate::google::service_account::{KeyFileError, ServiceAccountKey};
use crate::pool::admin::{QuotaGroupError, parse_quota_group};
use crate::pool::service::sha256_hex;
use crate::store::credentials::{CredentialSource, NewCredential};

/// Longest key accepted; real keys are about 40–100 characters.
const MAX_KEY_LEN: usize = 512;
/// Keys pasted at once.
pub const MAX_KEYS: usize = 1000;

/// One pasted key, not yet checked with Google.
#[derive(Clone, PartialEq, Eq)]
pub struct PastedKey {
    pub kind: CredentialKind,
    pub key: String,
    pub group: Option<String>,
}

impl std::fmt::Debug for PastedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PastedKey")
            .field("kind", &self.kind)
            .field("key", &key_label(&self.key))
            .field("group", &self.group)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("an API key has no spaces or other punctuation than '.', '-' and '_'")]
    BadChar,
    #[error("an API key has at most {MAX_KEY_LEN} characters")]
    TooLong,
    #[error("at most {MAX_KEYS} keys can be added at once")]
    TooMany,
    #[error(transparent)]
    Group(#[from] QuotaGroupError),
}

/// One pasted entry: the key, or where it was (position and label) and why it was refused.
pub type ParsedEntry = Result<PastedKey, (String, KeyError)>;

/// What an operator may see of a key: its first four and last four characters.
pub fn key_label(key: &str) -> String {
    let n = key.chars().count();
    if n <= 12 {
        return "…".into();
    }
    let head: String = key.chars().take(4).collect();
    let tail: String = key.chars().skip(n - 4).collect();
    format!("{head}…{tail}")
}

/// Splits pasted text into keys: commas and line breaks separate; blank entries and `#`
/// comment lines are skipped; `KEY@group` names the key's quota group. Each entry is reported
/// on its own (by position and label), so one typo does not lose the rest.
pub fn parse_keys(
    kind: CredentialKind,
    text: &str,
    default_group: Option<&str>,
) -> Result<Vec<ParsedEntry>, KeyError> {
    let entries: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.len() > MAX_KEYS {
        return Err(KeyError::TooMany);
    }
    let default_group = default_group.map(parse_quota_group).transpose()?.flatten();
    Ok(entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            parse_entry(kind, entry, default_group.as_deref())
                .map_err(|e| (format!("entry {} ({})", i + 1, key_label(entry)), e))
        })
        .collect())
}

fn parse_entry(
    kind: CredentialKind,
    entry: &str,
    default_group: Option<&str>,
) -> Result<PastedKey, KeyError> {
    let (key, group) = match entry.rsplit_once('@') {
        Some((k, g)) => (k.trim(), parse_quota_group(g)?),
        None => (entry, None),
    };
    if key.chars().count() > MAX_KEY_LEN {
        return Err(KeyError::TooLong);
    }
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(KeyError::BadChar);
    }
    Ok(PastedKey {
        kind,
        key: key.to_string(),
        group: group.or_else(|| default_group.map(str::to_string)),
    })
}

/// A key's fingerprint: duplicates are found by it, the key itself is never compared.
pub fn key_fingerprint(kind: CredentialKind, key: &str) -> String {
    sha256_hex(&format!("{}:{key}", kind.as_str()))
}

impl PastedKey {
    /// A stable name that reveals nothing of the key.
    pub fn name(&self) -> String {
        let prefix = match self.kind {
            CredentialKind::VertexExpressKey => "vertex-express",
            _ => "gemini-key",
        };
        format!("{prefix}-{}", &key_fingerprint(self.kind, &self.key)[..10])
    }

    pub fn fingerprint(&self) -> String {
        key_fingerprint(self.kind, &self.key)
    }

    /// The row for this key. `models` are those found when it was checked.
    pub fn to_new_credential(
        &self,
        source: CredentialSource,
        models: Option<Vec<String>>,
    ) -> NewCredential {
        NewCredential {
            kind: self.kind,
            quota_group: self.group.clone(),
            secret_sha256: Some(self.fingerprint()),
            models,
            ..NewCredential::code_assist(self.name(), source, json!({"api_key": self.key}))
        }
    }
}

/// A service-account key file ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceAccountFile {
    pub key: ServiceAccountKey,
    /// The file as given (Google's fields, kept for export).
    pub json: Value,
}

impl ServiceAccountFile {
    pub fn parse(json: Value) -> Result<Self, KeyFileError> {
        Ok(Self {
            key: ServiceAccountKey::from_json(&json)?,
            json,
        })
    }

    /// Named after the account: one name per account and key id.
    pub fn name(&self) -> String {
        let who = sanitize_name(&self.key.client_email).unwrap_or_else(|| "service-account".into());
        format!("vertex-{who}-{}", &self.fingerprint()[..6])
    }

    pub fn fingerprint(&self) -> String {
        sha256_hex(&format!(
            "vertex_service_account:{}",
            self.key.fingerprint_source()
        ))
    }

    pub fn to_new_credential(&self, source: CredentialSource) -> NewCredential {
        NewCredential {
            kind: CredentialKind::VertexServiceAccount,
            email: Some(self.key.client_email.clone()),
            project_id: Some(self.key.project_id.clone()),
            secret_sha256: Some(self.fingerprint()),
            ..NewCredential::code_assist(self.name(), source, self.json.clone())
        }
    }
}

/// The file an export holds for an API key; [`key_from_document`] reads it back.
pub fn key_document(kind: CredentialKind, key: &str, group: Option<&str>) -> Value {
    let mut v = json!({"type": kind.as_str(), "api_key": key});
    if let Some(g) = group {
        v["quota_group"] = json!(g);
    }
    v
}

/// An exported key file: `Some` when the document is one (with the key, or why it is bad).
pub fn key_from_document(v: &Value) -> Option<Result<PastedKey, KeyError>> {
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .and_then(CredentialKind::parse)
        .filter(|k| k.is_api_key())?;
    let key = v.get("api_key").and_then(Value::as_str).unwrap_or_default();
    let group = v.get("quota_group").and_then(Value::as_str);
    Some(parse_entry(kind, key.trim(), None).and_then(|mut k| {
        if let Some(g) = group {
            k.group = parse_quota_group(g)?;
        }
        Ok(k)
    }))
}

/// Whether a JSON document is a service-account key file (uploads are sorted by content).
pub fn is_service_account(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("service_account")
        || (v.get("type").is_none()
            && v.get("private_key").is_some()
            && v.get("client_email").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_keys_split_on_commas_and_lines_with_groups() {
        let text = "AQ.aaaaaaaaaaaaaaaa@proj-a, AQ.bbbbbbbbbbbbbbbb\n\n# a comment, ignored\nAQ.cccccccccccccccc @ proj-c\nbad key!\n";
        let out = parse_keys(CredentialKind::GeminiApiKey, text, Some("dflt")).unwrap();
        assert_eq!(out.len(), 4);
        let ok: Vec<&PastedKey> = out.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(ok[0].group.as_deref(), Some("proj-a"));
        assert_eq!(ok[1].group.as_deref(), Some("dflt"));
        assert_eq!(ok[2].key, "AQ.cccccccccccccccc");
        assert_eq!(ok[2].group.as_deref(), Some("proj-c"));
        let (label, err) = out[3].as_ref().unwrap_err();
        assert_eq!(err, &KeyError::BadChar);
        assert!(!label.contains("bad key"), "{label}");
        assert!(!format!("{:?}", ok[0]).contains("aaaaaaaa"));
    }

    #[test]
    fn the_kind_comes_from_where_the_key_was_put() {
        let k = "AQ.same-key-for-both-kinds";
        let g = &parse_keys(CredentialKind::GeminiApiKey, k, None).unwrap()[0];
        let x = &parse_keys(CredentialKind::VertexExpressKey, k, None).unwrap()[0];
        let (g, x) = (g.as_ref().unwrap(), x.as_ref().unwrap());
        assert_ne!(g.fingerprint(), x.fingerprint());
        assert!(g.name().starts_with("gemini-key-") && x.name().starts_with("vertex-express-"));
        assert!(!g.name().contains("same-key"));
        let row = g.to_new_credential(CredentialSource::Upload, None);
        assert_eq!(row.kind, CredentialKind::GeminiApiKey);
        assert_eq!(row.payload, json!({"api_key": k}));
    }

    #[test]
    fn labels_show_only_the_ends() {
        assert_eq!(key_label("AQ.Ab8RN6LabcdefghWXYZ"), "AQ.A…WXYZ");
        assert_eq!(key_label("short"), "…");
    }

    #[test]
    fn exported_key_files_read_back() {
        let doc = key_document(
            CredentialKind::VertexExpressKey,
            "AQ.abcdefghijklmnop",
            Some("p"),
        );
        let k = key_from_document(&doc).unwrap().unwrap();
        assert_eq!(
            (k.kind, k.key.as_str(), k.group.as_deref()),
            (
                CredentialKind::VertexExpressKey,
                "AQ.abcdefghijklmnop",
                Some("p")
            )
        );
        assert!(key_from_document(&json!({"type": "code_assist", "api_key": "x"})).is_none());
        assert!(
            key_from_document(&json!({"type": "gemini_api_key"}))
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn service_account_files_are_recognised() {
        assert!(is_service_account(&json!({"type": "service_account"})));
        assert!(is_service_account(
            &json!({"private_key": "k", "client_email": "e"})
        ));
        assert!(!is_service_account(&json!({"refresh_token": "r"})));
    }
}
