//! Authenticated encryption of secret values at rest (credential payloads in the database).
//!
//! XChaCha20-Poly1305 from RustCrypto: its 192-bit nonce is safe to draw at random for every
//! value (no counter to keep across restarts and processes), it is constant-time in software on
//! every CPU (no dependence on AES instructions), and the crate is audited and widely used.
//!
//! A sealed value is text: `gcli2api:enc:v1:` + base64url (no padding) of nonce ‖ ciphertext ‖
//! tag. The version names the algorithm and layout, so a later format can sit beside this one.
//! Associated data names the value's place (table, column and row), so a sealed value copied
//! into another row, or another column, no longer opens.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// Marks a sealed value and its format version.
pub const PREFIX_V1: &str = "gcli2api:enc:v1:";
/// Every sealed value starts with this, whatever its version.
pub const PREFIX_ANY: &str = "gcli2api:enc:";

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Length of a key in bytes.
pub const KEY_LEN: usize = 32;

/// Environment variables that hold or locate the keys. Environment only: a key kept in the
/// database or a config file beside it would protect nothing.
pub const ENV_KEY: &str = "SECRETS_KEY";
pub const ENV_KEY_FILE: &str = "SECRETS_KEY_FILE";
pub const ENV_PREVIOUS: &str = "SECRETS_KEY_PREVIOUS";
pub const ENV_PREVIOUS_FILE: &str = "SECRETS_KEY_PREVIOUS_FILE";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("not a sealed value")]
    NotSealed,
    #[error("sealed with an unknown format version (a newer gcli2api?)")]
    UnknownVersion,
    #[error("malformed sealed value")]
    Malformed,
    /// Wrong key, altered bytes, or a value moved from another row or column: AEAD cannot
    /// tell these apart, and none of them may be read.
    #[error("cannot be decrypted with this key (wrong key, or the value was altered or moved)")]
    Rejected,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "{origin} is not a key: it must be 32 random bytes written as 64 hex digits or as \
         base64 (make one with `openssl rand -hex 32`)"
    )]
    Format { origin: String },
    #[error("cannot read {origin}: {reason}")]
    File { origin: String, reason: String },
    #[error("{a} and {b} are both set; set only one of them")]
    Both { a: &'static str, b: &'static str },
    #[error("{ENV_PREVIOUS} is the same key as {ENV_KEY}; a rotation needs the old key there")]
    SameAsPrevious,
}

/// One key, ready to seal and open. The key bytes are wiped when it is dropped (the AEAD type
/// zeroizes its key).
#[derive(Clone)]
pub struct Cipher {
    aead: XChaCha20Poly1305,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(<key redacted>)")
    }
}

impl Cipher {
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self {
            aead: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Parses a key written as 64 hex digits or base64 (standard or URL-safe, padded or not).
    pub fn from_text(text: &str, origin: &str) -> Result<Self, KeyError> {
        let t = text.trim();
        let bytes = if t.len() == KEY_LEN * 2 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).ok()
        } else {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|e| e.decode(t).ok())
        };
        let key: [u8; KEY_LEN] =
            bytes
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| KeyError::Format {
                    origin: origin.to_string(),
                })?;
        Ok(Self::new(&key))
    }

    /// Encrypts `plaintext` bound to `ad` under a fresh random nonce.
    pub fn seal(&self, ad: &[u8], plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption fails only for inputs over 256 GiB, which no credential is.
        let ct = match self.aead.encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: ad,
            },
        ) {
            Ok(ct) => ct,
            Err(_) => unreachable!("XChaCha20-Poly1305 encrypts any input under 256 GiB"),
        };
        let mut raw = Vec::with_capacity(NONCE_LEN + ct.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ct);
        let mut out = String::with_capacity(PREFIX_V1.len() + raw.len() * 4 / 3 + 4);
        out.push_str(PREFIX_V1);
        URL_SAFE_NO_PAD.encode_string(&raw, &mut out);
        out
    }

    /// Decrypts a value made by [`Cipher::seal`] with the same key and `ad`.
    pub fn open(&self, ad: &[u8], sealed: &str) -> Result<Vec<u8>, OpenError> {
        let body = match sealed.strip_prefix(PREFIX_V1) {
            Some(b) => b,
            None if sealed.starts_with(PREFIX_ANY) => return Err(OpenError::UnknownVersion),
            None => return Err(OpenError::NotSealed),
        };
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::Malformed)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        self.aead
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: ad })
            .map_err(|_| OpenError::Rejected)
    }
}

/// Whether `s` is a sealed value (of any version).
pub fn is_sealed(s: &str) -> bool {
    s.starts_with(PREFIX_ANY)
}

/// The keys given to this start: the current one, and the one to rotate away from.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    pub current: Option<Cipher>,
    pub previous: Option<Cipher>,
    /// Where the current key came from ("SECRETS_KEY" or "SECRETS_KEY_FILE /path"), for messages.
    pub current_origin: Option<String>,
}

impl Keys {
    /// Reads `SECRETS_KEY` / `SECRETS_KEY_FILE` and `SECRETS_KEY_PREVIOUS` /
    /// `SECRETS_KEY_PREVIOUS_FILE`; empty variables count as unset.
    pub fn from_env(env: &HashMap<String, String>) -> Result<Self, KeyError> {
        let (current, current_origin) = match one_key(env, ENV_KEY, ENV_KEY_FILE)? {
            Some((c, origin)) => (Some(c), Some(origin)),
            None => (None, None),
        };
        let previous = one_key(env, ENV_PREVIOUS, ENV_PREVIOUS_FILE)?.map(|(c, _)| c);
        if let (Some(a), Some(b)) = (&current, &previous)
            && same_key(a, b)
        {
            return Err(KeyError::SameAsPrevious);
        }
        Ok(Self {
            current,
            previous,
            current_origin,
        })
    }

    /// The secret texts to keep out of logs (the raw variables; a key file's content too).
    pub fn texts_to_redact(env: &HashMap<String, String>) -> Vec<String> {
        [ENV_KEY, ENV_PREVIOUS]
            .iter()
            .filter_map(|k| env.get(*k))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

fn value<'a>(env: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn one_key(
    env: &HashMap<String, String>,
    var: &'static str,
    file_var: &'static str,
) -> Result<Option<(Cipher, String)>, KeyError> {
    match (value(env, var), value(env, file_var)) {
        (Some(_), Some(_)) => Err(KeyError::Both {
            a: var,
            b: file_var,
        }),
        (Some(text), None) => Ok(Some((Cipher::from_text(text, var)?, var.to_string()))),
        (None, Some(path)) => {
            let origin = format!("{file_var} ({path})");
            let text = read_key_file(Path::new(path), &origin)?;
            Ok(Some((Cipher::from_text(&text, &origin)?, origin)))
        }
        (None, None) => Ok(None),
    }
}

fn read_key_file(path: &Path, origin: &str) -> Result<String, KeyError> {
    let path: PathBuf = path.to_path_buf();
    std::fs::read_to_string(&path).map_err(|e| KeyError::File {
        origin: origin.to_string(),
        reason: e.to_string(),
    })
}

/// Two ciphers hold the same key when one opens what the other sealed.
fn same_key(a: &Cipher, b: &Cipher) -> bool {
    let probe = a.seal(b"gcli2api key comparison", b"probe");
    b.open(b"gcli2api key comparison", &probe).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Cipher {
        Cipher::new(&[byte; KEY_LEN])
    }

    #[test]
    fn round_trip() {
        let c = key(7);
        let sealed = c.seal(b"row 1", b"{\"refresh_token\":\"1//abc\"}");
        assert!(sealed.starts_with(PREFIX_V1));
        assert!(!sealed.contains("1//abc"));
        assert_eq!(
            c.open(b"row 1", &sealed).unwrap(),
            b"{\"refresh_token\":\"1//abc\"}"
        );
    }

    #[test]
    fn nonces_differ_per_value() {
        let c = key(7);
        assert_ne!(c.seal(b"ad", b"same"), c.seal(b"ad", b"same"));
    }

    #[test]
    fn tampering_is_detected() {
        let c = key(7);
        let sealed = c.seal(b"ad", b"secret value");
        let body = sealed.strip_prefix(PREFIX_V1).unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(body).unwrap();
        for i in [0, NONCE_LEN, raw.len() - 1] {
            raw[i] ^= 1;
            let altered = format!("{PREFIX_V1}{}", URL_SAFE_NO_PAD.encode(&raw));
            assert_eq!(c.open(b"ad", &altered), Err(OpenError::Rejected));
            raw[i] ^= 1;
        }
        let truncated = &sealed[..sealed.len() - 4];
        assert!(c.open(b"ad", truncated).is_err());
    }

    #[test]
    fn other_associated_data_is_refused() {
        let c = key(7);
        let sealed = c.seal(b"credentials.payload_json 1", b"secret");
        assert_eq!(
            c.open(b"credentials.payload_json 2", &sealed),
            Err(OpenError::Rejected)
        );
    }

    #[test]
    fn wrong_key_is_refused() {
        let sealed = key(7).seal(b"ad", b"secret");
        assert_eq!(key(8).open(b"ad", &sealed), Err(OpenError::Rejected));
    }

    #[test]
    fn format_errors_are_told_apart() {
        let c = key(7);
        assert_eq!(c.open(b"ad", "{\"a\":1}"), Err(OpenError::NotSealed));
        assert_eq!(
            c.open(b"ad", "gcli2api:enc:v9:AAAA"),
            Err(OpenError::UnknownVersion)
        );
        assert_eq!(
            c.open(b"ad", "gcli2api:enc:v1:!!"),
            Err(OpenError::Malformed)
        );
        assert_eq!(
            c.open(b"ad", "gcli2api:enc:v1:AAAA"),
            Err(OpenError::Malformed)
        );
    }

    #[test]
    fn keys_parse_from_hex_and_base64() {
        let hex_key = "00".repeat(31) + "01";
        let a = Cipher::from_text(&hex_key, "SECRETS_KEY").unwrap();
        let mut bytes = [0u8; KEY_LEN];
        bytes[31] = 1;
        let b = Cipher::from_text(&format!(" {}\n", STANDARD.encode(bytes)), "f").unwrap();
        let c = Cipher::from_text(&URL_SAFE_NO_PAD.encode(bytes), "f").unwrap();
        assert!(same_key(&a, &b) && same_key(&b, &c));
        for bad in ["", "short", &"00".repeat(31), &STANDARD.encode([0u8; 16])] {
            let e = Cipher::from_text(bad, "SECRETS_KEY").unwrap_err();
            assert!(e.to_string().contains("SECRETS_KEY"), "{e}");
        }
    }

    #[test]
    fn keys_from_env() {
        let mut env = HashMap::new();
        assert!(Keys::from_env(&env).unwrap().current.is_none());
        env.insert(ENV_KEY.into(), "11".repeat(32));
        env.insert(ENV_PREVIOUS.into(), "11".repeat(32));
        assert!(matches!(
            Keys::from_env(&env),
            Err(KeyError::SameAsPrevious)
        ));
        env.insert(ENV_PREVIOUS.into(), "22".repeat(32));
        let k = Keys::from_env(&env).unwrap();
        assert!(k.current.is_some() && k.previous.is_some());
        env.insert(ENV_KEY_FILE.into(), "/nonexistent".into());
        assert!(matches!(Keys::from_env(&env), Err(KeyError::Both { .. })));
        env.remove(ENV_KEY);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, format!("{}\n", "33".repeat(32))).unwrap();
        env.insert(ENV_KEY_FILE.into(), file.display().to_string());
        let k = Keys::from_env(&env).unwrap();
        assert!(k.current_origin.unwrap().starts_with(ENV_KEY_FILE));
        env.insert(ENV_KEY_FILE.into(), "/nonexistent/key".into());
        assert!(matches!(Keys::from_env(&env), Err(KeyError::File { .. })));
    }
}
