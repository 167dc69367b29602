//! One credential in canonical form, and the readers for the JSON shapes it arrives in: the
//! reference's files, what the reference accepts on upload, Gemini CLI's
//! `~/.gemini/oauth_creds.json` (`expiry_date` in epoch milliseconds, no client or project)
//! and gcloud's `authorized_user` ADC file.
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::error::ImportError;
use super::fields::{expiry_of, format_expiry, id_token_email, string_field};
use super::names::{name_from_hint, sanitize_name};
use crate::google::oauth::{GEMINI_CLI_CLIENT_ID, GEMINI_CLI_CLIENT_SECRET, SCOPES};
use crate::store::credentials::{CredentialSource, NewCredential};

pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Keys read into typed fields; everything else lands in `extra`. `token` and `expiry_date` are
/// aliases, folded into `access_token` and `expiry` so the two cannot drift apart after a refresh.
const TYPED_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "refresh_token",
    "access_token",
    "token",
    "expiry",
    "expiry_date",
    "project_id",
    "email",
];

/// One credential in canonical form, whatever file it came from.
#[derive(Clone, PartialEq)]
pub struct ImportedCredential {
    /// Suggested stable name: the sanitized file stem, else e-mail or project based, else a
    /// hash of the refresh token. Never contains a path separator.
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub access_token: Option<String>,
    pub expiry: Option<DateTime<Utc>>,
    pub project_id: Option<String>,
    pub email: Option<String>,
    /// `token_uri`, `scopes`, `type`, `quota_project_id`, ...: kept so an export gives back
    /// what was imported.
    pub extra: Map<String, Value>,
}

// Tokens and the client secret must never reach a log through `{:?}`.
impl std::fmt::Debug for ImportedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedCredential")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expiry", &self.expiry)
            .field("project_id", &self.project_id)
            .field("email", &self.email)
            .field("extra_keys", &self.extra.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Reads one credential file: our export, the reference's format, Gemini CLI's
/// `oauth_creds.json` or gcloud's `authorized_user`. `name_hint` is the file name it came under
/// (any path is stripped).
pub fn parse_json_credential(
    name_hint: &str,
    bytes: &[u8],
) -> Result<ImportedCredential, ImportError> {
    // Editors on Windows like to start UTF-8 files with a byte order mark.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let value: Value = serde_json::from_slice(bytes).map_err(|e| ImportError::from_json(&e))?;
    let Value::Object(obj) = value else {
        return Err(ImportError::NotAnObject);
    };
    ImportedCredential::from_object(name_from_hint(name_hint), obj)
}

impl ImportedCredential {
    fn from_object(name: Option<String>, mut obj: Map<String, Value>) -> Result<Self, ImportError> {
        check_type(&obj)?;
        let refresh_token =
            string_field(&obj, "refresh_token")?.ok_or(ImportError::MissingRefreshToken)?;
        let (client_id, client_secret) = match (
            string_field(&obj, "client_id")?,
            string_field(&obj, "client_secret")?,
        ) {
            (Some(id), Some(secret)) => (id, secret),
            // Gemini CLI's cache carries no client at all: it is always the CLI's own.
            (None, None) => (GEMINI_CLI_CLIENT_ID.into(), GEMINI_CLI_CLIENT_SECRET.into()),
            (Some(id), None) if id == GEMINI_CLI_CLIENT_ID => (id, GEMINI_CLI_CLIENT_SECRET.into()),
            (Some(_), None) => return Err(ImportError::MissingClientSecret),
            (None, Some(_)) => return Err(ImportError::MissingClientId),
        };
        let access_token = match string_field(&obj, "access_token")? {
            Some(t) => Some(t),
            None => string_field(&obj, "token")?,
        };
        let expiry = expiry_of(&obj);
        let project_id = string_field(&obj, "project_id")?;
        let email = match string_field(&obj, "email")? {
            Some(e) => Some(e),
            None => obj
                .get("id_token")
                .and_then(Value::as_str)
                .and_then(id_token_email),
        };
        for key in TYPED_KEYS {
            obj.remove(*key);
        }
        let mut cred = Self {
            name: String::new(),
            client_id,
            client_secret,
            refresh_token,
            access_token,
            expiry,
            project_id,
            email,
            extra: obj,
        };
        cred.name = name.unwrap_or_else(|| cred.fallback_name());
        Ok(cred)
    }

    /// A name when the file name says nothing: by e-mail, else project, plus a short hash of
    /// the refresh token so it is stable across imports yet distinct per grant.
    fn fallback_name(&self) -> String {
        let hash = &self.refresh_token_sha256()[..10];
        let who = self
            .email
            .as_deref()
            .and_then(sanitize_name)
            .or_else(|| self.project_id.as_deref().and_then(sanitize_name));
        match who {
            Some(who) => format!("{}-{hash}", who.chars().take(100).collect::<String>()),
            None => format!("cred-{hash}"),
        }
    }

    /// The canonical `payload_json` stored in SQLite. Holds the tokens: never log it.
    pub fn payload(&self) -> Value {
        let mut out = Map::new();
        out.insert("client_id".into(), self.client_id.clone().into());
        out.insert("client_secret".into(), self.client_secret.clone().into());
        out.insert("refresh_token".into(), self.refresh_token.clone().into());
        if let Some(t) = &self.access_token {
            out.insert("access_token".into(), t.clone().into());
        }
        if let Some(e) = self.expiry {
            out.insert("expiry".into(), format_expiry(e).into());
        }
        if let Some(p) = &self.project_id {
            out.insert("project_id".into(), p.clone().into());
        }
        if let Some(e) = &self.email {
            out.insert("email".into(), e.clone().into());
        }
        for (k, v) in &self.extra {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(out)
    }

    /// Inverse of [`payload`](Self::payload), for rows loaded from SQLite. Also reads any older
    /// shape the importer accepts, so rows written by other versions load too.
    pub fn from_payload(name: &str, payload: &Value) -> Result<Self, ImportError> {
        let Value::Object(obj) = payload else {
            return Err(ImportError::NotAnObject);
        };
        let mut cred = Self::from_object(Some(name.to_string()), obj.clone())?;
        cred.name = name.to_string();
        Ok(cred)
    }

    /// The reference's file format plus `access_token` and `email`: readable by
    /// [`parse_json_credential`], by the reference, and by anything that reads either alias.
    pub fn export_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("client_id".into(), self.client_id.clone().into());
        out.insert("client_secret".into(), self.client_secret.clone().into());
        if let Some(t) = &self.access_token {
            out.insert("token".into(), t.clone().into());
            out.insert("access_token".into(), t.clone().into());
        }
        out.insert("refresh_token".into(), self.refresh_token.clone().into());
        out.insert("scopes".into(), self.scopes().into());
        let token_uri = self
            .extra
            .get("token_uri")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_TOKEN_URI);
        out.insert("token_uri".into(), token_uri.into());
        if let Some(p) = &self.project_id {
            out.insert("project_id".into(), p.clone().into());
        }
        if let Some(e) = self.expiry {
            out.insert("expiry".into(), format_expiry(e).into());
        }
        if let Some(e) = &self.email {
            out.insert("email".into(), e.clone().into());
        }
        for (k, v) in &self.extra {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(out)
    }

    /// Granted scopes: the stored list, else the space-separated `scope` of a token response,
    /// else the ones our own sign-in asks for.
    fn scopes(&self) -> Vec<String> {
        if let Some(Value::Array(list)) = self.extra.get("scopes") {
            let scopes: Vec<String> = list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            if !scopes.is_empty() {
                return scopes;
            }
        }
        if let Some(scope) = self.extra.get("scope").and_then(Value::as_str) {
            let scopes: Vec<String> = scope.split_whitespace().map(str::to_string).collect();
            if !scopes.is_empty() {
                return scopes;
            }
        }
        SCOPES.iter().map(|s| s.to_string()).collect()
    }

    /// Hex SHA-256 of the refresh token: the key for duplicate detection, safe to store and show.
    pub fn refresh_token_sha256(&self) -> String {
        crate::pool::service::sha256_hex(&self.refresh_token)
    }

    /// The row to insert for this credential. `tier` is unknown until project discovery.
    pub fn to_new_credential(&self, source: CredentialSource) -> NewCredential {
        NewCredential {
            name: self.name.clone(),
            source,
            payload: self.payload(),
            email: self.email.clone(),
            project_id: self.project_id.clone(),
            tier: None,
            refresh_token_sha256: Some(self.refresh_token_sha256()),
            kind: crate::google::kind::CredentialKind::CodeAssist,
            secret_sha256: None,
            quota_group: None,
            models: None,
        }
    }
}

fn check_type(obj: &Map<String, Value>) -> Result<(), ImportError> {
    match obj.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "authorized_user" => {}
        Some(Value::String(t)) if t == "service_account" => {
            return Err(ImportError::ServiceAccount);
        }
        Some(Value::String(t)) => {
            let shown: String = t.chars().filter(|c| !c.is_control()).take(40).collect();
            return Err(ImportError::UnsupportedType(shown));
        }
        Some(_) => {
            return Err(ImportError::FieldType {
                field: "type",
                expected: "a string",
            });
        }
    }
    // A service-account key with its `type` stripped is still one.
    if obj.contains_key("private_key") && obj.contains_key("client_email") {
        return Err(ImportError::ServiceAccount);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    fn parse(v: Value) -> Result<ImportedCredential, ImportError> {
        parse_json_credential("x.json", v.to_string().as_bytes())
    }

    #[test]
    fn expiry_prefers_expiry_then_millis() {
        let c = parse(json!({"refresh_token": "r", "expiry_date": 1_767_000_000_123_i64})).unwrap();
        assert_eq!(c.expiry.unwrap().timestamp_millis(), 1_767_000_000_123);
        let c = parse(json!({"refresh_token": "r", "expiry_date": "1767000000000"})).unwrap();
        assert_eq!(c.expiry.unwrap().timestamp(), 1_767_000_000);
        let c = parse(json!({"refresh_token": "r", "expiry": "garbage"})).unwrap();
        assert_eq!(c.expiry, None);
        assert!(!c.extra.contains_key("expiry"));
    }

    #[test]
    fn client_rules() {
        let c = parse(json!({"refresh_token": "r", "client_id": GEMINI_CLI_CLIENT_ID})).unwrap();
        assert_eq!(c.client_secret, GEMINI_CLI_CLIENT_SECRET);
        assert_eq!(
            parse(json!({"refresh_token": "r", "client_id": "other"})),
            Err(ImportError::MissingClientSecret)
        );
        assert_eq!(
            parse(json!({"refresh_token": "r", "client_secret": "s"})),
            Err(ImportError::MissingClientId)
        );
        assert_eq!(
            parse(json!({"refresh_token": "r", "project_id": 5})),
            Err(ImportError::FieldType {
                field: "project_id",
                expected: "a string"
            })
        );
        assert_eq!(
            parse(json!({"refresh_token": "  "})),
            Err(ImportError::MissingRefreshToken)
        );
    }

    #[test]
    fn types_other_than_user_credentials_are_refused_without_echoing_secrets() {
        assert_eq!(
            parse(json!({"type": "service_account", "private_key": "K", "client_email": "e"})),
            Err(ImportError::ServiceAccount)
        );
        assert_eq!(
            parse(json!({"private_key": "K", "client_email": "e", "refresh_token": "r"})),
            Err(ImportError::ServiceAccount)
        );
        let e = parse(json!({"type": "external_account", "refresh_token": "r"})).unwrap_err();
        assert_eq!(e, ImportError::UnsupportedType("external_account".into()));
        let e = parse_json_credential("x", br#"{"refresh_token": "SECRET-RT", "#).unwrap_err();
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }

    #[test]
    fn email_from_id_token_names_generic_files() {
        let claims = URL_SAFE_NO_PAD.encode(br#"{"email":"a.b@gmail.com","sub":"1"}"#);
        let c = parse_json_credential(
            "oauth_creds.json",
            json!({"refresh_token": "r", "id_token": format!("h.{claims}.s")})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(c.email.as_deref(), Some("a.b@gmail.com"));
        assert!(c.name.starts_with("a.b@gmail.com-"), "{}", c.name);
        assert!(c.extra.contains_key("id_token"));
    }

    #[test]
    fn payload_round_trips_and_keeps_extra() {
        let c = parse_json_credential(
            "p.json",
            b"\xEF\xBB\xBF{\"refresh_token\":\"r\",\"token\":\"a\",\"quota_project_id\":\"q\",\"expiry\":\"2026-01-10T02:55:29Z\"}",
        )
        .unwrap();
        assert_eq!(c.access_token.as_deref(), Some("a"));
        assert_eq!(c.extra.get("quota_project_id"), Some(&json!("q")));
        let back = ImportedCredential::from_payload("p", &c.payload()).unwrap();
        assert_eq!(back, c);
        assert_eq!(
            ImportedCredential::from_payload("p", &json!([1])),
            Err(ImportError::NotAnObject)
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = parse(json!({"refresh_token": "RT-SECRET", "token": "AT-SECRET"})).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        assert!(!dbg.contains(GEMINI_CLI_CLIENT_SECRET));
    }
}
