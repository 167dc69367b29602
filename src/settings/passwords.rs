//! API and panel password checks. PLACEHOLDER: the settings owner replaces this file.
use subtle::ConstantTimeEq;

#[derive(Clone, Default)]
pub struct Passwords {
    api: Option<String>,
}

impl Passwords {
    pub fn from_plain(api: Option<String>) -> Self {
        Self { api }
    }
    pub fn verify_api(&self, candidate: &str) -> bool {
        match &self.api {
            Some(p) => bool::from(p.as_bytes().ct_eq(candidate.as_bytes())),
            None => false,
        }
    }
}
