//! Why a credential or an archive was refused. Every message is shown to the operator as is, so
//! none may carry a token, a secret or any other raw input value.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("not valid JSON ({kind} error at line {line}, column {column})")]
    InvalidJson {
        kind: &'static str,
        line: usize,
        column: usize,
    },
    #[error("not a JSON object: a credential file holds one object")]
    NotAnObject,
    #[error(
        "service-account keys are not supported: use an OAuth user credential \
         (Gemini CLI's oauth_creds.json, a gcloud authorized_user file or an exported credential)"
    )]
    ServiceAccount,
    #[error("credential type \"{0}\" is not supported: only OAuth user credentials are")]
    UnsupportedType(String),
    #[error(
        "no refresh_token: without it the credential stops working within an hour \
         (sign in again, or export it with its refresh token)"
    )]
    MissingRefreshToken,
    #[error("field \"{field}\" must be {expected}")]
    FieldType {
        field: &'static str,
        expected: &'static str,
    },
    #[error("client_id is set but client_secret is missing: a token refresh would be refused")]
    MissingClientSecret,
    #[error("client_secret is set but client_id is missing")]
    MissingClientId,
    #[error("file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("archive is {size} bytes, over the limit of {limit} bytes")]
    ArchiveTooLarge { size: u64, limit: u64 },
    #[error("archive has {count} entries, over the limit of {limit}")]
    TooManyEntries { count: usize, limit: usize },
    #[error("archive expands to more than {limit} bytes")]
    ArchiveExpandsTooMuch { limit: u64 },
    #[error("not a readable ZIP archive: {0}")]
    NotAZip(String),
    #[error("neither a JSON object nor base64-encoded JSON")]
    NotJsonOrBase64,
    #[error("unsupported file type: upload .json or .zip files")]
    UnsupportedFileType,
    #[error("could not build the ZIP archive: {0}")]
    Export(String),
}

impl ImportError {
    pub(crate) fn from_json(e: &serde_json::Error) -> Self {
        // Only the position and category: serde's own message can quote input.
        let kind = match e.classify() {
            serde_json::error::Category::Io => "read",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "unexpected end of input",
        };
        Self::InvalidJson {
            kind,
            line: e.line(),
            column: e.column(),
        }
    }
}
