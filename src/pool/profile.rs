//! What a credential is, as far as picking goes: its kind (kind pins such as `vertex/`), its
//! quota group (keys of one Google project share cooldowns and daily exhaustion) and the models
//! it serves. Set at load and import, changed by the operator or by model discovery; never
//! persisted by the pool (the credential row holds it).
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::google::kind::CredentialKind;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub kind: CredentialKind,
    pub group: Option<String>,
    /// `None`: any model the client asks for (the upstream answers 404 for unknown ones).
    pub models: Option<Arc<BTreeSet<String>>>,
}

impl Default for Profile {
    fn default() -> Self {
        Self::of(CredentialKind::CodeAssist)
    }
}

impl Profile {
    pub fn of(kind: CredentialKind) -> Self {
        Self {
            kind,
            group: None,
            models: None,
        }
    }

    pub fn with_group(mut self, group: Option<String>) -> Self {
        self.group = group;
        self
    }

    pub fn with_models(mut self, models: Option<impl IntoIterator<Item = String>>) -> Self {
        self.models = models.map(|m| Arc::new(m.into_iter().collect()));
        self
    }

    /// Whether a request for `model` may be sent with this credential. An embedding model
    /// goes only to a kind that embeds, whatever its list says: Code Assist, whose list is
    /// open, would otherwise be picked and answer with an error.
    pub fn serves(&self, model: &str) -> bool {
        if crate::models::is_embedding(model) && !self.kind.embeds() {
            return false;
        }
        self.models.as_ref().is_none_or(|m| m.contains(model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_models_mean_any() {
        let p = Profile::of(CredentialKind::GeminiApiKey);
        assert!(p.serves("anything"));
        let p = p.with_models(Some(vec!["gemini-2.5-pro".to_string()]));
        assert!(p.serves("gemini-2.5-pro") && !p.serves("gemini-2.5-flash"));
    }

    #[test]
    fn only_kinds_that_embed_serve_embedding_models() {
        assert!(!Profile::of(CredentialKind::CodeAssist).serves("gemini-embedding-001"));
        assert!(Profile::of(CredentialKind::CodeAssist).serves("gemini-2.5-pro"));
        let express = Profile::of(CredentialKind::VertexExpressKey)
            .with_models(Some(vec!["gemini-embedding-001".to_string()]));
        assert!(!express.serves("gemini-embedding-001"));
        assert!(Profile::of(CredentialKind::GeminiApiKey).serves("gemini-embedding-2"));
        let listed = Profile::of(CredentialKind::GeminiApiKey)
            .with_models(Some(vec!["gemini-embedding-001".to_string()]));
        assert!(listed.serves("gemini-embedding-001") && !listed.serves("gemini-embedding-2"));
    }
}
