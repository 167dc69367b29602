//! Credential files in, credential files out: every format a user may hold (our export, the
//! reference's files, Gemini CLI's `oauth_creds.json`, gcloud's `authorized_user`), uploads
//! (JSON or ZIP), env vars and a directory, all reduced to one [`ImportedCredential`].
//!
//! Pure functions: no SQLite, no HTTP, no logging of payloads. The pool service persists what
//! these return, discovers missing projects and e-mails, and refreshes tokens.
//!
//! Everything here treats its input as hostile: archives are bounded by [`ZipLimits`] while they
//! are read (headers are not trusted), entry names are checked for traversal, and no error
//! message carries a token, a secret or a raw input value.
mod archive;
mod credential;
mod dedup;
mod error;
mod fields;
mod names;
pub mod official;
mod sources;

pub use self::archive::{
    ImportReport, ZipLimits, export_zip, export_zip_documents, parse_upload, parse_zip,
};
pub use self::credential::{DEFAULT_TOKEN_URI, ImportedCredential, parse_json_credential};
pub use self::dedup::{Duplicate, ExistingKey, dedup_batch, find_duplicate};
pub use self::error::ImportError;
pub use self::names::{safe_name_char, sanitize_name};
pub use self::sources::{decode_env_json, merge_sources, parse_env, scan_dir};
