//! Credentials from the environment and from `CREDENTIALS_DIR`, read at startup. Names are
//! derived deterministically (no timestamps), so a restart re-imports the same names and the
//! service's upsert is idempotent: the reference's env import made new duplicates every boot.
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use super::archive::{ImportReport, ZipLimits, parse_zip};
use super::credential::ImportedCredential;
use super::dedup::{ExistingKey, find_duplicate};
use super::error::ImportError;
use super::names::{UniqueNames, has_extension, sanitize_name};
use crate::store::credentials::CredentialSource;

const ENV_PREFIX: &str = "GCLI_CREDS_";
const GOOGLE_ENV: &str = "GOOGLE_CREDENTIALS";
/// An env value is one credential; anything bigger is a mistake, not a credential.
const MAX_ENV_VALUE: usize = 64 << 10;

/// `GCLI_CREDS_<n>` / `GCLI_CREDS_<anything>` and `GOOGLE_CREDENTIALS` (plus the historical
/// `GOOGLE_CREDENTIALS_<n>`), each holding raw JSON or base64 of it. Each is named
/// `env-<VARIABLE>`. A bad value is reported under the variable's name, never with its value.
/// Empty values are ignored, as an unset variable would be.
pub fn parse_env(env: &HashMap<String, String>) -> ImportReport {
    let mut keys: Vec<&String> = env
        .iter()
        .filter(|(k, v)| is_credential_var(k) && !v.trim().is_empty())
        .map(|(k, _)| k)
        .collect();
    // Natural order (GCLI_CREDS_2 before GCLI_CREDS_10) so "first wins" rules are predictable.
    keys.sort_by(|a, b| natural_key(a).cmp(&natural_key(b)));
    let mut report = ImportReport::default();
    let mut names = UniqueNames::default();
    for key in keys {
        let value = &env[key];
        let name = format!("env-{}", sanitize_name(key).unwrap_or_else(|| "var".into()));
        match decode_env_value(value) {
            // Sorted by content: a service-account key is a Vertex credential.
            Ok(json) => {
                if let Some(mut cred) = report.add_json(key, &json) {
                    cred.name = names.claim(name);
                    report.imported.push(cred);
                }
            }
            Err(e) => report.reject(key, e.to_string()),
        }
    }
    report
}

fn is_credential_var(key: &str) -> bool {
    if let Some(suffix) = key.strip_prefix(ENV_PREFIX) {
        return !suffix.is_empty();
    }
    match key.strip_prefix(GOOGLE_ENV) {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('_')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

/// Sort key: the name with its trailing number compared as a number.
fn natural_key(key: &str) -> (&str, u64, &str) {
    let digits = key.len() - key.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (head, tail) = key.split_at(key.len() - digits);
    (head, tail.parse().unwrap_or(0), key)
}

/// An env value holding one JSON document, raw or base64.
pub fn decode_env_json(value: &str) -> Result<serde_json::Value, ImportError> {
    let bytes = decode_env_value(value)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    serde_json::from_slice(bytes).map_err(|e| ImportError::from_json(&e))
}

/// Raw JSON when it looks like an object, else base64 (standard or URL-safe, padded or not) of
/// JSON. Containers pass secrets as base64 to dodge quoting.
fn decode_env_value(value: &str) -> Result<Vec<u8>, ImportError> {
    if value.len() > MAX_ENV_VALUE {
        return Err(ImportError::TooLarge {
            limit: MAX_ENV_VALUE as u64,
        });
    }
    let trimmed = value.trim();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return Ok(trimmed.as_bytes().to_vec());
    }
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(&compact).ok())
        .ok_or(ImportError::NotJsonOrBase64)
}

/// `*.json` and `*.zip` files at the top level of `dir`, in name order. Symbolic links are not
/// followed (a link could point anywhere on the host); other files and subdirectories are
/// ignored; unreadable files and bad credentials are reported.
pub fn scan_dir(dir: &Path, limits: &ZipLimits) -> ImportReport {
    let mut report = ImportReport::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            report.reject(
                &dir.display().to_string(),
                format!("cannot read directory: {}", e.kind()),
            );
            return report;
        }
    };
    let mut files: Vec<(String, std::path::PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, _)| has_extension(name, ".json") || has_extension(name, ".zip"))
        .collect();
    files.sort();
    for (name, path) in files {
        let is_zip = has_extension(&name, ".zip");
        let limit = if is_zip {
            limits.max_archive_bytes
        } else {
            limits.max_entry_bytes
        };
        let bytes = match read_regular_file(&path, limit) {
            Ok(bytes) => bytes,
            Err(reason) => {
                report.reject(&name, reason);
                continue;
            }
        };
        if is_zip {
            match parse_zip(&bytes, limits) {
                Ok(mut inner) => {
                    for (entry, _) in &mut inner.rejected {
                        *entry = format!("{name}: {entry}");
                    }
                    report.extend(inner);
                }
                Err(e) => report.reject(&name, e.to_string()),
            }
        } else {
            let mut single = ImportReport::default();
            if let Some(cred) = single.add_json(&name, &bytes) {
                single.imported.push(cred);
            }
            report.extend(single);
        }
    }
    report
}

/// The bytes of a regular file, refusing symbolic links, things that are not regular files, and
/// anything over `limit` (checked on the bytes read, not on the size the metadata claims).
fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("cannot read: {}", e.kind()))?;
    if meta.file_type().is_symlink() {
        return Err("symbolic link not followed".into());
    }
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let file = File::open(path).map_err(|e| format!("cannot read: {}", e.kind()))?;
    // The path could have been swapped for a link between the check and the open.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let opened = file
            .metadata()
            .map_err(|e| format!("cannot read: {}", e.kind()))?;
        if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
            return Err("file changed while being read".into());
        }
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {}", e.kind()))?;
    if bytes.len() as u64 > limit {
        return Err(ImportError::TooLarge { limit }.to_string());
    }
    Ok(bytes)
}

/// Env credentials first, then directory ones. A directory credential that duplicates an env
/// credential (or an earlier one of its own source) is dropped with a note: env wins, as the
/// issue asks. Log the `rejected` lists of both reports before calling; they are not returned.
pub fn merge_sources(
    env: ImportReport,
    dir: ImportReport,
) -> (Vec<(CredentialSource, ImportedCredential)>, Vec<String>) {
    let mut keys: Vec<ExistingKey> = Vec::new();
    let mut names = UniqueNames::default();
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let tagged = env
        .imported
        .into_iter()
        .map(|c| (CredentialSource::Env, c))
        .chain(dir.imported.into_iter().map(|c| (CredentialSource::Dir, c)));
    for (source, mut cred) in tagged {
        if let Some(dup) = find_duplicate(&cred, &keys) {
            notes.push(format!(
                "{} credential \"{}\" skipped: {dup}",
                source.as_str(),
                cred.name
            ));
            continue;
        }
        cred.name = names.claim(cred.name);
        keys.push(ExistingKey::from(&cred));
        out.push((source, cred));
    }
    (out, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_vars_and_natural_order() {
        assert!(is_credential_var("GCLI_CREDS_1"));
        assert!(is_credential_var("GCLI_CREDS_my_project"));
        assert!(is_credential_var("GOOGLE_CREDENTIALS"));
        assert!(is_credential_var("GOOGLE_CREDENTIALS_2"));
        assert!(!is_credential_var("GCLI_CREDS_"));
        assert!(!is_credential_var("GOOGLE_CREDENTIALS_PATH"));
        assert!(!is_credential_var("GOOGLE_APPLICATION_CREDENTIALS"));
        let mut keys = vec!["GCLI_CREDS_10", "GCLI_CREDS_2", "GCLI_CREDS_1"];
        keys.sort_by(|a, b| natural_key(a).cmp(&natural_key(b)));
        assert_eq!(keys, ["GCLI_CREDS_1", "GCLI_CREDS_2", "GCLI_CREDS_10"]);
    }

    #[test]
    fn env_values_decode_from_json_or_any_base64() {
        let json = br#"{"refresh_token":"r"}"#;
        assert_eq!(
            decode_env_value(" {\"refresh_token\":\"r\"} ").unwrap(),
            json
        );
        for engine in [STANDARD, URL_SAFE_NO_PAD] {
            let encoded = engine.encode(json);
            assert_eq!(decode_env_value(&encoded).unwrap(), json);
        }
        let wrapped = STANDARD.encode(json);
        let wrapped = format!("{}\n{}", &wrapped[..10], &wrapped[10..]);
        assert_eq!(decode_env_value(&wrapped).unwrap(), json);
        assert_eq!(
            decode_env_value("not base64 !!"),
            Err(ImportError::NotJsonOrBase64)
        );
    }
}
