//! Where the store lives: `DATABASE_URL` (or the original project's `POSTGRESQL_URI`).
//!
//! Unset, or `sqlite://...`, is the embedded SQLite file; `postgres://...` (or `postgresql://`)
//! is a PostgreSQL database. Like `DATA_DIR` and `SECRETS_KEY`, it is read from the environment
//! only (a saved setting cannot move the store it is saved in). A PostgreSQL URL may carry a
//! password: it is kept out of every message through [`PgUrl`]'s `Display`/`Debug`, which
//! show the URL with the password masked.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::DB_FILE_NAME;

pub const ENV_URL: &str = "DATABASE_URL";
/// The original project's name for a PostgreSQL URL, still accepted.
pub const ENV_LEGACY: &str = "POSTGRESQL_URI";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocationError {
    #[error("{ENV_URL} and {ENV_LEGACY} are both set, to different values; set only {ENV_URL}")]
    Both,
    #[error(
        "{var} must start with sqlite:// (the embedded file) or postgres:// (PostgreSQL); \
         got a value starting with {scheme:?}"
    )]
    Scheme { var: String, scheme: String },
    #[error("{var} is not a valid PostgreSQL URL ({shown}): {reason}")]
    BadPostgres {
        var: String,
        shown: String,
        reason: String,
    },
    #[error(
        "{var} asks for TLS (sslmode=require), which this build does not speak to PostgreSQL yet; \
         reach the database over a private network or loopback with sslmode=disable or prefer"
    )]
    TlsRequired { var: String },
}

/// A PostgreSQL connection URL. The full text (with its password) is only reachable through
/// [`PgUrl::config`] and [`PgUrl::password`]; printing it masks the password.
#[derive(Clone)]
pub struct PgUrl {
    full: String,
    shown: String,
    password: Option<String>,
}

impl PgUrl {
    /// Parses `text`; `var` names where it came from, for messages.
    pub fn parse(text: &str, var: &str) -> Result<Self, LocationError> {
        let shown = mask_password(text);
        let bad = |reason: String| LocationError::BadPostgres {
            var: var.to_string(),
            shown: shown.clone(),
            reason,
        };
        // The driver's own parser decides what connects; its messages never quote the input.
        let config = postgres::Config::from_str(text).map_err(|e| bad(e.to_string()))?;
        if config.get_hosts().is_empty() {
            return Err(bad("it names no host".into()));
        }
        if config.get_ssl_mode() == postgres::config::SslMode::Require {
            return Err(LocationError::TlsRequired {
                var: var.to_string(),
            });
        }
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .filter(|p| !p.is_empty());
        Ok(Self {
            full: text.to_string(),
            shown,
            password,
        })
    }

    /// The driver configuration (with the password).
    pub fn config(&self) -> postgres::Config {
        // Parsed once in `parse`; the text has not changed since.
        postgres::Config::from_str(&self.full).unwrap_or_else(|_| postgres::Config::new())
    }

    /// The password, to register with log redaction.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }
}

impl std::fmt::Display for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgUrl({})", self.shown)
    }
}

/// The store a start (or a command) uses.
#[derive(Clone, Debug)]
pub enum Location {
    /// The SQLite file; `DATA_DIR/gcli2api.db` unless the URL names another.
    Sqlite(PathBuf),
    Postgres(PgUrl),
}

impl Location {
    /// From the environment; `data_dir` gives the default SQLite file.
    pub fn from_env(env: &HashMap<String, String>, data_dir: &Path) -> Result<Self, LocationError> {
        let get = |k: &str| {
            env.get(k)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let (var, text) = match (get(ENV_URL), get(ENV_LEGACY)) {
            (Some(a), Some(b)) if a != b => return Err(LocationError::Both),
            (Some(a), _) => (ENV_URL, a),
            (None, Some(b)) => (ENV_LEGACY, b),
            (None, None) => return Ok(Self::Sqlite(data_dir.join(DB_FILE_NAME))),
        };
        Self::parse(&text, var, data_dir)
    }

    /// Parses a store URL (`var` names its origin, for messages).
    pub fn parse(text: &str, var: &str, data_dir: &Path) -> Result<Self, LocationError> {
        if let Some(path) = text.strip_prefix("sqlite://") {
            return Ok(Self::Sqlite(if path.is_empty() {
                data_dir.join(DB_FILE_NAME)
            } else {
                PathBuf::from(path)
            }));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Self::Postgres(PgUrl::parse(text, var)?));
        }
        let scheme = text.split("://").next().unwrap_or_default();
        let scheme = if scheme.len() < text.len() {
            format!("{scheme}://")
        } else {
            // Not a URL at all: show none of it, it may be a bare password.
            String::new()
        };
        Err(LocationError::Scheme {
            var: var.to_string(),
            scheme,
        })
    }
}

/// `scheme://user:secret@host/db` as `scheme://user:***@host/db`; a `password=` query
/// parameter is masked too.
fn mask_password(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        // Unparseable as a URL: keep the scheme only, never the rest.
        return text.split("://").next().unwrap_or_default().to_string() + "://…";
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k.eq_ignore_ascii_case("password") {
                "***".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if !pairs.is_empty() {
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unset_or_empty_is_the_data_dir_file() {
        let dir = Path::new("/data");
        for e in [
            env(&[]),
            env(&[(ENV_URL, "  ")]),
            env(&[(ENV_URL, "sqlite://")]),
        ] {
            match Location::from_env(&e, dir).unwrap() {
                Location::Sqlite(p) => assert_eq!(p, dir.join(DB_FILE_NAME)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn sqlite_url_names_a_file() {
        let e = env(&[(ENV_URL, "sqlite:///srv/g.db")]);
        match Location::from_env(&e, Path::new("/data")).unwrap() {
            Location::Sqlite(p) => assert_eq!(p, Path::new("/srv/g.db")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn postgres_url_password_never_shows() {
        for (var, text) in [
            (ENV_URL, "postgres://gw:s3cr%40t@db.internal:5433/gcli"),
            (ENV_LEGACY, "postgresql://gw:s3cr%40t@db.internal/gcli"),
            (ENV_URL, "postgres://gw@db.internal/gcli?password=s3cr%40t"),
        ] {
            let loc = Location::from_env(&env(&[(var, text)]), Path::new("/d")).unwrap();
            let Location::Postgres(url) = &loc else {
                panic!("{loc:?}")
            };
            for shown in [url.to_string(), format!("{url:?}"), format!("{loc:?}")] {
                assert!(!shown.contains("s3cr"), "{shown}");
                assert!(shown.contains("db.internal"), "{shown}");
            }
            assert_eq!(url.password(), Some("s3cr@t"));
            assert_eq!(url.config().get_dbname(), Some("gcli"));
        }
    }

    #[test]
    fn bad_values_are_refused_without_echoing_them() {
        let d = Path::new("/d");
        let e = Location::from_env(&env(&[(ENV_URL, "mysql://u:pw@h/db")]), d).unwrap_err();
        assert!(e.to_string().contains("mysql://"), "{e}");
        assert!(!e.to_string().contains("pw"), "{e}");
        let e = Location::from_env(&env(&[(ENV_URL, "hunter2")]), d).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = Location::from_env(
            &env(&[
                (ENV_URL, "postgres://a@h/x"),
                (ENV_LEGACY, "postgres://b@h/x"),
            ]),
            d,
        )
        .unwrap_err();
        assert_eq!(e, LocationError::Both);
        let e =
            Location::from_env(&env(&[(ENV_URL, "postgres://u:pw@h:notaport/x")]), d).unwrap_err();
        assert!(matches!(e, LocationError::BadPostgres { .. }), "{e}");
        assert!(!e.to_string().contains(":pw@"), "{e}");
        let e = Location::from_env(&env(&[(ENV_URL, "postgres://u@h/x?sslmode=require")]), d)
            .unwrap_err();
        assert!(matches!(e, LocationError::TlsRequired { .. }), "{e}");
    }

    #[test]
    fn same_value_under_both_names_is_fine() {
        let e = env(&[
            (ENV_URL, "postgres://a@h/x"),
            (ENV_LEGACY, "postgres://a@h/x"),
        ]);
        assert!(matches!(
            Location::from_env(&e, Path::new("/d")).unwrap(),
            Location::Postgres(_)
        ));
    }
}
