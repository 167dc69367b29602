//! Duplicate detection: the same grant (refresh token) or the same account (e-mail and
//! project) imported twice would double-count quota and hide one copy's errors behind the other.
use super::credential::ImportedCredential;

/// What an existing credential is known by, as stored in its row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingKey {
    pub name: String,
    pub refresh_token_sha256: String,
    pub email: Option<String>,
    pub project_id: Option<String>,
}

impl From<&ImportedCredential> for ExistingKey {
    fn from(c: &ImportedCredential) -> Self {
        Self {
            name: c.name.clone(),
            refresh_token_sha256: c.refresh_token_sha256(),
            email: c.email.clone(),
            project_id: c.project_id.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Duplicate {
    SameRefreshToken { existing: String },
    SameAccount { existing: String },
}

impl Duplicate {
    pub fn existing(&self) -> &str {
        match self {
            Self::SameRefreshToken { existing } | Self::SameAccount { existing } => existing,
        }
    }
}

impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SameRefreshToken { existing } => {
                write!(f, "same refresh token as credential \"{existing}\"")
            }
            Self::SameAccount { existing } => {
                write!(f, "same account and project as credential \"{existing}\"")
            }
        }
    }
}

/// The first existing credential that `new` duplicates. A refresh-token match wins over an
/// account match. Accounts match on e-mail (case-insensitive) and equal project, a missing
/// project on both sides counting as equal (discovery would give both the same default);
/// without a known e-mail there is no account match.
pub fn find_duplicate(new: &ImportedCredential, existing: &[ExistingKey]) -> Option<Duplicate> {
    let sha = new.refresh_token_sha256();
    if let Some(e) = existing
        .iter()
        .find(|e| e.refresh_token_sha256.eq_ignore_ascii_case(&sha))
    {
        return Some(Duplicate::SameRefreshToken {
            existing: e.name.clone(),
        });
    }
    let email = new
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())?;
    let project = new.project_id.as_deref().map(str::trim);
    existing
        .iter()
        .find(|e| {
            e.email
                .as_deref()
                .is_some_and(|x| x.trim().eq_ignore_ascii_case(email))
                && e.project_id.as_deref().map(str::trim) == project
        })
        .map(|e| Duplicate::SameAccount {
            existing: e.name.clone(),
        })
}

/// Splits a batch into the credentials to keep (first occurrence wins, order kept) and the
/// duplicates dropped, each with what it duplicates.
pub fn dedup_batch(
    batch: Vec<ImportedCredential>,
) -> (Vec<ImportedCredential>, Vec<(String, Duplicate)>) {
    let mut keys: Vec<ExistingKey> = Vec::with_capacity(batch.len());
    let mut kept = Vec::with_capacity(batch.len());
    let mut dropped = Vec::new();
    for cred in batch {
        match find_duplicate(&cred, &keys) {
            Some(dup) => dropped.push((cred.name, dup)),
            None => {
                keys.push(ExistingKey::from(&cred));
                kept.push(cred);
            }
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onboarding::import::parse_json_credential;
    use serde_json::json;

    fn cred(name: &str, v: serde_json::Value) -> ImportedCredential {
        parse_json_credential(name, v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn refresh_token_then_account_matching() {
        let a = cred(
            "a",
            json!({"refresh_token": "r1", "email": "U@x.com", "project_id": "p"}),
        );
        let keys = vec![ExistingKey::from(&a)];
        let same_rt = cred("b", json!({"refresh_token": "r1"}));
        assert_eq!(
            find_duplicate(&same_rt, &keys),
            Some(Duplicate::SameRefreshToken {
                existing: "a".into()
            })
        );
        let same_acct = cred(
            "c",
            json!({"refresh_token": "r2", "email": "u@X.com ", "project_id": "p"}),
        );
        assert_eq!(
            find_duplicate(&same_acct, &keys),
            Some(Duplicate::SameAccount {
                existing: "a".into()
            })
        );
        let other_project = cred(
            "d",
            json!({"refresh_token": "r3", "email": "u@x.com", "project_id": "q"}),
        );
        assert_eq!(find_duplicate(&other_project, &keys), None);
        let no_email = cred("e", json!({"refresh_token": "r4", "project_id": "p"}));
        assert_eq!(find_duplicate(&no_email, &keys), None);
    }

    #[test]
    fn batch_keeps_first_occurrence() {
        let batch = vec![
            cred("a", json!({"refresh_token": "r1"})),
            cred("b", json!({"refresh_token": "r2", "email": "u@x.com"})),
            cred("c", json!({"refresh_token": "r1"})),
            cred("d", json!({"refresh_token": "r3", "email": "u@x.com"})),
        ];
        let (kept, dropped) = dedup_batch(batch);
        let names: Vec<_> = kept.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(dropped.len(), 2);
        assert_eq!(dropped[0].0, "c");
        assert_eq!(dropped[1].1.existing(), "b");
        assert!(dropped[1].1.to_string().contains("same account"));
    }
}
