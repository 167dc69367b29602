//! Gemini thought signatures carried in a reasoning item's `encrypted_content`.
//!
//! Gemini 3 answers 400 when a replayed `functionCall` lacks the signature it was issued with,
//! and Responses clients (Codex with `include: ["reasoning.encrypted_content"]`) send reasoning
//! items back verbatim with their `encrypted_content`. So the signatures of one turn's calls
//! travel there, keyed by `call_id`: a reasoning item's position among the items does not
//! matter, and a client that reorders items still gets every signature back to its call.
//!
//! The value is [`PREFIX`] + base64url(JSON `{call_id: signature}`). Anything without the
//! prefix (an item OpenAI itself issued, from a conversation that switched providers) is
//! ignored, so a foreign blob never reaches Google as a "corrupted thought signature".
use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Marks `encrypted_content` this gateway issued.
pub const PREFIX: &str = "gcli2api.gemini.v1:";

/// `encrypted_content` for the signatures of some calls.
pub fn encode(signatures: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = signatures
        .iter()
        .map(|(call, sig)| (call.clone(), serde_json::Value::String(sig.clone())))
        .collect();
    let json = serde_json::Value::Object(map).to_string();
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
}

/// The signatures in `encrypted_content`, by call id; empty for anything this gateway did
/// not issue or cannot read.
pub fn decode(encrypted: &str) -> HashMap<String, String> {
    let Some(body) = encrypted.strip_prefix(PREFIX) else {
        return HashMap::new();
    };
    let parsed = URL_SAFE_NO_PAD
        .decode(body.trim())
        .ok()
        .and_then(|bytes| serde_json::from_slice::<HashMap<String, String>>(&bytes).ok());
    match parsed {
        Some(map) => map.into_iter().filter(|(_, s)| !s.is_empty()).collect(),
        None => {
            tracing::warn!("ignoring unreadable encrypted_content of a reasoning item");
            HashMap::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_foreign_blobs() {
        let enc = encode(&[("call_1".into(), "sig-a".into()), ("c2".into(), "s".into())]);
        assert!(enc.starts_with(PREFIX));
        let map = decode(&enc);
        assert_eq!(map.get("call_1").map(String::as_str), Some("sig-a"));
        assert_eq!(map.len(), 2);
        assert!(decode("gAAAAABoOpenAIsOwnBlob").is_empty());
        assert!(decode(&format!("{PREFIX}!!not base64")).is_empty());
    }
}
