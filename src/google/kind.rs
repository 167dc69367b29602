//! Which Google upstream a credential speaks to. The kind is stored with the credential and
//! picks its executor (`google::executor`); above `google/`, only the pool's kind pins and the
//! operator-facing views look at it.
use serde::{Deserialize, Serialize};

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// Gemini CLI / Code Assist OAuth (a refresh token), `cloudcode-pa` `/v1internal`.
    #[default]
    CodeAssist,
    /// An AI Studio key for the Gemini API (`generativelanguage`, v1beta).
    GeminiApiKey,
    /// A service-account key file for Vertex AI (JWT-bearer grant, project and location paths).
    VertexServiceAccount,
    /// A Vertex AI express-mode key (`/v1/publishers/google/models/...`).
    VertexExpressKey,
}

impl CredentialKind {
    pub const ALL: [Self; 4] = [
        Self::CodeAssist,
        Self::GeminiApiKey,
        Self::VertexServiceAccount,
        Self::VertexExpressKey,
    ];

    /// The stored and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CodeAssist => "code_assist",
            Self::GeminiApiKey => "gemini_api_key",
            Self::VertexServiceAccount => "vertex_service_account",
            Self::VertexExpressKey => "vertex_express_key",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// For people: the panel, import reports and error messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::CodeAssist => "Code Assist account",
            Self::GeminiApiKey => "Gemini API key",
            Self::VertexServiceAccount => "Vertex service account",
            Self::VertexExpressKey => "Vertex express key",
        }
    }

    /// An API key (pasted text), as opposed to a file with a refresh token or a private key.
    pub fn is_api_key(self) -> bool {
        matches!(self, Self::GeminiApiKey | Self::VertexExpressKey)
    }

    /// Whether the kind's upstream embeds: the Gemini API and Vertex with a service account
    /// do; Code Assist has no embedding method, and Vertex express mode serves none.
    pub fn embeds(self) -> bool {
        matches!(self, Self::GeminiApiKey | Self::VertexServiceAccount)
    }

    pub fn pin(self) -> Pin {
        match self {
            Self::CodeAssist => Pin::CodeAssist,
            Self::GeminiApiKey => Pin::AiStudio,
            Self::VertexServiceAccount | Self::VertexExpressKey => Pin::Vertex,
        }
    }
}

impl std::fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A model-name prefix that restricts a request to one upstream (`vertex/gemini-2.5-pro`).
/// Vertex covers both service accounts and express keys: they serve the same models.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Pin {
    AiStudio,
    Vertex,
    #[default]
    CodeAssist,
}

impl Pin {
    pub const ALL: [Self; 3] = [Self::AiStudio, Self::Vertex, Self::CodeAssist];

    /// The prefix as clients write it, slash included.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::AiStudio => "aistudio/",
            Self::Vertex => "vertex/",
            Self::CodeAssist => "code-assist/",
        }
    }

    pub fn admits(self, kind: CredentialKind) -> bool {
        kind.pin() == self
    }

    /// The kinds a client may pin to with this prefix, for error messages.
    pub fn kinds(self) -> impl Iterator<Item = CredentialKind> {
        CredentialKind::ALL
            .into_iter()
            .filter(move |k| self.admits(*k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_pin() {
        for k in CredentialKind::ALL {
            assert_eq!(CredentialKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
            assert!(k.pin().admits(k));
        }
        assert_eq!(CredentialKind::parse("vertex"), None);
        assert_eq!(
            Pin::Vertex.kinds().collect::<Vec<_>>(),
            [
                CredentialKind::VertexServiceAccount,
                CredentialKind::VertexExpressKey
            ]
        );
        assert!(CredentialKind::GeminiApiKey.is_api_key());
        let embedding: Vec<_> = CredentialKind::ALL
            .into_iter()
            .filter(|k| k.embeds())
            .collect();
        assert_eq!(
            embedding,
            [
                CredentialKind::GeminiApiKey,
                CredentialKind::VertexServiceAccount
            ]
        );
        assert!(!CredentialKind::VertexServiceAccount.is_api_key());
    }
}
