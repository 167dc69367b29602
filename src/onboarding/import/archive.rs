//! Uploads and ZIP archives, in and out. An archive is untrusted: every size is enforced on the
//! bytes actually inflated (a header can lie), names are checked before use, and one bad entry
//! is reported without losing the good ones.
use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::credential::{ImportedCredential, parse_json_credential};
use super::error::ImportError;
use super::names::{
    UniqueNames, base_name, display_name, entry_name_problem, has_extension, sanitize_name,
};
use super::official::{PastedKey, ServiceAccountFile, is_service_account, key_from_document};

/// Bounds on what one archive may cost. The defaults admit any realistic credential export
/// (a credential file is about 2 KB) while capping memory at a few tens of MiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZipLimits {
    pub max_archive_bytes: u64,
    pub max_entries: usize,
    /// Enforced on the inflated bytes while reading, not on the size the header claims.
    pub max_entry_bytes: u64,
    pub max_total_uncompressed: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self {
            max_archive_bytes: 16 << 20,
            max_entries: 1000,
            max_entry_bytes: 1 << 20,
            max_total_uncompressed: 64 << 20,
        }
    }
}

/// What an import produced: credentials ready to store, and per-file refusals with reasons.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ImportReport {
    /// Code Assist (OAuth) credentials.
    pub imported: Vec<ImportedCredential>,
    /// Vertex service-account key files, with the file name they came under: uploads are
    /// sorted by content, not by where they were put.
    pub service_accounts: Vec<(String, ServiceAccountFile)>,
    /// API keys from exported key files (`{"type": "gemini_api_key", "api_key"}`).
    pub keys: Vec<PastedKey>,
    /// (file or entry name as shown to the operator, reason).
    pub rejected: Vec<(String, String)>,
}

impl ImportReport {
    pub(crate) fn reject(&mut self, name: &str, reason: impl Into<String>) {
        self.rejected.push((display_name(name), reason.into()));
    }

    /// One JSON file, sorted by content: a service-account key is a Vertex credential,
    /// anything else is read as an OAuth credential. Returns the OAuth credential so the
    /// caller can name it.
    pub(crate) fn add_json(&mut self, name: &str, bytes: &[u8]) -> Option<ImportedCredential> {
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let doc = serde_json::from_slice::<serde_json::Value>(text).ok();
        if let Some(key) = doc.as_ref().and_then(key_from_document) {
            match key {
                Ok(k) => self.keys.push(k),
                Err(e) => self.reject(name, e.to_string()),
            }
            return None;
        }
        if let Some(v) = doc
            && is_service_account(&v)
        {
            match ServiceAccountFile::parse(v) {
                Ok(sa) => self.service_accounts.push((display_name(name), sa)),
                Err(e) => self.reject(name, e.to_string()),
            }
            return None;
        }
        match parse_json_credential(name, bytes) {
            Ok(cred) => Some(cred),
            Err(e) => {
                self.reject(name, e.to_string());
                None
            }
        }
    }

    /// Appends `other`, renaming its credentials where a name is already taken here.
    pub fn extend(&mut self, other: ImportReport) {
        let mut names = UniqueNames::default();
        for c in &self.imported {
            names.claim(c.name.clone());
        }
        for mut c in other.imported {
            c.name = names.claim(c.name);
            self.imported.push(c);
        }
        self.service_accounts.extend(other.service_accounts);
        self.keys.extend(other.keys);
        self.rejected.extend(other.rejected);
    }
}

/// Every `.json` entry of a ZIP archive. Archive-level problems (too big, too many entries, not
/// a ZIP, expanding past the total limit) fail the whole call; an entry-level problem lands in
/// `rejected` and the other entries are still read. Directories and `__MACOSX/` metadata are
/// skipped silently; nested archives are not opened.
pub fn parse_zip(bytes: &[u8], limits: &ZipLimits) -> Result<ImportReport, ImportError> {
    let size = bytes.len() as u64;
    if size > limits.max_archive_bytes {
        return Err(ImportError::ArchiveTooLarge {
            size,
            limit: limits.max_archive_bytes,
        });
    }
    let mut archive =
        ZipArchive::new(Cursor::new(bytes)).map_err(|e| ImportError::NotAZip(e.to_string()))?;
    if archive.len() > limits.max_entries {
        return Err(ImportError::TooManyEntries {
            count: archive.len(),
            limit: limits.max_entries,
        });
    }
    let mut report = ImportReport::default();
    let mut names = UniqueNames::default();
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let name = archive
            .name_for_index(index)
            .unwrap_or_default()
            .to_string();
        let mut entry = match archive.by_index(index) {
            Ok(entry) => entry,
            Err(e) => {
                report.reject(&name, format!("unreadable entry: {e}"));
                continue;
            }
        };
        if name.starts_with("__MACOSX/")
            || (entry.is_dir() && entry_name_problem(entry.name_raw()).is_none())
        {
            continue;
        }
        if let Some(problem) = entry_name_problem(entry.name_raw()) {
            report.reject(&name, problem);
            continue;
        }
        if entry.is_symlink() {
            report.reject(&name, "symbolic links are not followed");
            continue;
        }
        if !has_extension(&name, ".json") {
            let reason = if has_extension(&name, ".zip") {
                "nested archives are not opened: upload the inner archive itself"
            } else {
                "not a .json file"
            };
            report.reject(&name, reason);
            continue;
        }
        // Cheap early refusal when the header admits the entry is too big; the real bound is
        // the `take` below, which holds whatever the header says.
        if entry.size() > limits.max_entry_bytes {
            report.reject(&name, too_large(limits.max_entry_bytes));
            continue;
        }
        let remaining = limits.max_total_uncompressed.saturating_sub(total);
        let cap = limits.max_entry_bytes.min(remaining);
        let mut buf = Vec::new();
        let read = (&mut entry)
            .take(cap.saturating_add(1))
            .read_to_end(&mut buf);
        total = total.saturating_add(buf.len() as u64);
        if let Err(e) = read {
            report.reject(&name, format!("corrupt entry: {e}"));
            continue;
        }
        if buf.len() as u64 > cap {
            if cap < limits.max_entry_bytes {
                return Err(ImportError::ArchiveExpandsTooMuch {
                    limit: limits.max_total_uncompressed,
                });
            }
            report.reject(&name, too_large(limits.max_entry_bytes));
            continue;
        }
        if let Some(mut cred) = report.add_json(&name, &buf) {
            cred.name = names.claim(cred.name);
            report.imported.push(cred);
        }
    }
    Ok(report)
}

fn too_large(limit: u64) -> String {
    ImportError::TooLarge { limit }.to_string()
}

/// One uploaded file, by its extension: a `.zip` archive or a single `.json` credential. Only
/// the base name of `filename` is used. A bad `.json` is reported in `rejected`; an archive that
/// cannot be read at all, or another file type, is an error.
pub fn parse_upload(
    filename: &str,
    bytes: &[u8],
    limits: &ZipLimits,
) -> Result<ImportReport, ImportError> {
    let base = base_name(filename);
    if has_extension(base, ".zip") {
        return parse_zip(bytes, limits);
    }
    if !has_extension(base, ".json") {
        return Err(ImportError::UnsupportedFileType);
    }
    let mut report = ImportReport::default();
    if bytes.len() as u64 > limits.max_entry_bytes {
        report.reject(base, too_large(limits.max_entry_bytes));
        return Ok(report);
    }
    if let Some(cred) = report.add_json(base, bytes) {
        report.imported.push(cred);
    }
    Ok(report)
}

/// A DEFLATE archive with one pretty-printed `<name>.json` per credential in
/// [`ImportedCredential::export_json`] form; [`parse_zip`] reads it back.
pub fn export_zip(creds: &[ImportedCredential]) -> Result<Vec<u8>, ImportError> {
    let docs: Vec<(String, serde_json::Value)> = creds
        .iter()
        .map(|c| (c.name.clone(), c.export_json()))
        .collect();
    export_zip_documents(&docs)
}

/// A DEFLATE archive with one pretty-printed `<name>.json` per document.
pub fn export_zip_documents(docs: &[(String, serde_json::Value)]) -> Result<Vec<u8>, ImportError> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .unix_permissions(0o600);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let mut names = UniqueNames::default();
    for (name, doc) in docs {
        // Names are sanitized on import, but rows may predate that: never trust them as paths.
        let name = names.claim(sanitize_name(name).unwrap_or_else(|| "credential".into()));
        let body =
            serde_json::to_vec_pretty(doc).map_err(|e| ImportError::Export(e.to_string()))?;
        writer
            .start_file(format!("{name}.json"), options)
            .map_err(|e| ImportError::Export(e.to_string()))?;
        writer
            .write_all(&body)
            .map_err(|e| ImportError::Export(e.to_string()))?;
    }
    let cursor = writer
        .finish()
        .map_err(|e| ImportError::Export(e.to_string()))?;
    Ok(cursor.into_inner())
}
