//! Runtime registry of exact secret strings (every token the pool loads, the panel password, …).
//!
//! The pool may register ~20k tokens of ~100–250 bytes each. An automaton over all of them
//! would hold millions of states, so each secret is known by a short *anchor* instead: its last
//! [`ANCHOR_LEN`] bytes. The tail is used rather than the head because Google tokens share long
//! prefixes (`ya29.a0A…`, `1//0g…`) while their tails are random, so an anchor hit almost always
//! names exactly one secret, which is then verified in full. Every occurrence of a secret ends
//! with its anchor, and every position of the text is tried, so no occurrence (overlapping ones
//! included) can be missed.
//!
//! Anchors of full length are found without an automaton: a bitset of hashes of their first
//! four bytes rules out almost every position of a line with one probe into memory the size of
//! the pool, and the few positions left are looked up in a hash map of anchors. An automaton
//! over tens of thousands of anchors walked a few states deep at every byte, missing the cache
//! each time, so a line's cost grew with the pool; this way it stays flat. Secrets shorter than
//! an anchor (passwords) are few and go through a small Aho-Corasick automaton.
//!
//! Rebuilding costs tens of milliseconds for 20k secrets, so it is done lazily: a change only
//! bumps a generation counter, and the first redaction that sees a stale matcher rebuilds it
//! (once, under a lock) and publishes it through `ArcSwap`. Loading 20k tokens one by one thus
//! costs one rebuild, not 20k, and a secret is guaranteed to be redacted from the first line
//! logged after `register` returns.
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::{AhoCorasick, MatchKind};
use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::redact::MARKER;

/// Shorter strings are ignored: they would shred ordinary words in every line, and no token
/// or acceptable password is this short.
pub const MIN_SECRET_LEN: usize = 6;
const ANCHOR_LEN: usize = 16;

enum Matcher {
    Empty,
    Anchored {
        /// Secrets at least [`ANCHOR_LEN`] long, by anchor.
        long: Anchors,
        /// Secrets shorter than an anchor, whole: pattern id to the secret.
        short: Option<(AhoCorasick, Vec<Arc<str>>)>,
    },
    /// Only if the automaton cannot be built (it has hard size limits): slow, but never leaks.
    Naive(Vec<Arc<str>>),
}

/// Full-length anchors: the secrets ending in each, and a filter on their first four bytes.
struct Anchors {
    groups: HashMap<[u8; ANCHOR_LEN], Vec<Arc<str>>>,
    /// One bit per hash of an anchor's first four bytes.
    heads: Box<[u64]>,
    /// `heads` has `1 << bits` bits.
    bits: u32,
}

impl Anchors {
    fn new(secrets: &[Arc<str>]) -> Self {
        let mut groups: HashMap<[u8; ANCHOR_LEN], Vec<Arc<str>>> = HashMap::new();
        for secret in secrets {
            let bytes = secret.as_bytes();
            if let Some(anchor) = bytes
                .len()
                .checked_sub(ANCHOR_LEN)
                .and_then(|at| <[u8; ANCHOR_LEN]>::try_from(&bytes[at..]).ok())
            {
                groups.entry(anchor).or_default().push(secret.clone());
            }
        }
        // About 32 bits per anchor: one position in thirty passes the filter by chance.
        let bits = (groups.len().max(1) * 32)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(12, 24);
        let mut heads = vec![0u64; (1usize << bits) / 64].into_boxed_slice();
        for anchor in groups.keys() {
            let h = head_hash(anchor, bits);
            heads[h / 64] |= 1 << (h % 64);
        }
        Self {
            groups,
            heads,
            bits,
        }
    }

    fn find(&self, hay: &[u8], out: &mut Vec<Range<usize>>) {
        if self.groups.is_empty() || hay.len() < ANCHOR_LEN {
            return;
        }
        for at in 0..=hay.len() - ANCHOR_LEN {
            let window = &hay[at..at + ANCHOR_LEN];
            let h = head_hash(window, self.bits);
            if self.heads[h / 64] & (1 << (h % 64)) == 0 {
                continue;
            }
            let Ok(anchor) = <[u8; ANCHOR_LEN]>::try_from(window) else {
                continue;
            };
            let Some(group) = self.groups.get(&anchor) else {
                continue;
            };
            let end = at + ANCHOR_LEN;
            for secret in group {
                let s = secret.as_bytes();
                if end >= s.len() && &hay[end - s.len()..end] == s {
                    out.push(end - s.len()..end);
                }
            }
        }
    }
}

/// A `bits`-bit hash of the first four bytes of `window` (at least four long).
fn head_hash(window: &[u8], bits: u32) -> usize {
    let head = u32::from_le_bytes([window[0], window[1], window[2], window[3]]);
    (head.wrapping_mul(0x9E37_79B1) >> (32 - bits)) as usize
}

struct Built {
    generation: u64,
    matcher: Matcher,
}

pub struct SecretRegistry {
    /// Secret → reference count, so two owners registering the same token do not un-redact it
    /// for each other.
    entries: Mutex<BTreeMap<Arc<str>, usize>>,
    /// Bumped (under `entries`' lock) on every change.
    generation: AtomicU64,
    built: ArcSwap<Built>,
    rebuild: Mutex<()>,
}

impl Default for SecretRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl SecretRegistry {
    pub fn new() -> Self {
        Self {
            entries: Mutex::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
            built: ArcSwap::from_pointee(Built {
                generation: 0,
                matcher: Matcher::Empty,
            }),
            rebuild: Mutex::new(()),
        }
    }

    pub fn register(&self, secret: &str) {
        self.register_many(std::iter::once(secret));
    }

    pub fn register_many<'a>(&self, secrets: impl IntoIterator<Item = &'a str>) {
        let mut entries = self.entries.lock();
        let mut changed = false;
        for secret in secrets {
            for variant in variants(secret) {
                *entries.entry(variant).or_insert(0) += 1;
                changed = true;
            }
        }
        if changed {
            self.generation.fetch_add(1, Ordering::Release);
        }
    }

    pub fn forget(&self, secret: &str) {
        let mut entries = self.entries.lock();
        let mut changed = false;
        for variant in variants(secret) {
            if let Some(count) = entries.get_mut(&variant) {
                *count -= 1;
                if *count == 0 {
                    entries.remove(&variant);
                }
                changed = true;
            }
        }
        if changed {
            self.generation.fetch_add(1, Ordering::Release);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Appends the byte range of every occurrence of every registered secret in `text`.
    pub fn find_spans(&self, text: &str, out: &mut Vec<Range<usize>>) {
        let built = self.current();
        let hay = text.as_bytes();
        match &built.matcher {
            Matcher::Empty => {}
            Matcher::Anchored { long, short } => {
                long.find(hay, out);
                if let Some((ac, secrets)) = short {
                    for hit in ac.find_overlapping_iter(hay) {
                        let s = &secrets[hit.pattern().as_usize()];
                        out.push(hit.end() - s.len()..hit.end());
                    }
                }
            }
            Matcher::Naive(secrets) => {
                for secret in secrets {
                    out.extend(
                        text.match_indices(&**secret)
                            .map(|(at, s)| at..at + s.len()),
                    );
                }
            }
        }
    }

    fn current(&self) -> Arc<Built> {
        let built = self.built.load_full();
        if built.generation == self.generation.load(Ordering::Acquire) {
            return built;
        }
        let _rebuilding = self.rebuild.lock();
        // Another thread may have rebuilt while this one waited for the lock.
        let built = self.built.load_full();
        let (generation, secrets) = {
            let entries = self.entries.lock();
            let generation = self.generation.load(Ordering::Acquire);
            if built.generation == generation {
                return built;
            }
            (generation, entries.keys().cloned().collect::<Vec<_>>())
        };
        let fresh = Arc::new(Built {
            generation,
            matcher: build_matcher(secrets),
        });
        self.built.store(fresh.clone());
        fresh
    }
}

fn build_matcher(secrets: Vec<Arc<str>>) -> Matcher {
    if secrets.is_empty() {
        return Matcher::Empty;
    }
    let short: Vec<Arc<str>> = secrets
        .iter()
        .filter(|s| s.len() < ANCHOR_LEN)
        .cloned()
        .collect();
    let short = if short.is_empty() {
        None
    } else {
        match AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(short.iter().map(|s| s.as_bytes()))
        {
            Ok(ac) => Some((ac, short)),
            Err(_) => return Matcher::Naive(secrets),
        }
    };
    Matcher::Anchored {
        long: Anchors::new(&secrets),
        short,
    }
}

/// The forms in which a secret can show up in a log line: raw, form/URL-encoded (refresh
/// tokens contain `/`), and JSON/Debug-escaped (passwords may contain `"` or `\`).
fn variants(secret: &str) -> Vec<Arc<str>> {
    if secret.len() < MIN_SECRET_LEN || MARKER.contains(secret) {
        return Vec::new();
    }
    let mut out: Vec<Arc<str>> = vec![secret.into()];
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(secret);
    let debug = format!("{secret:?}");
    let debug = debug
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(secret);
    for v in [encoded.as_str(), json, debug] {
        if !out.iter().any(|o| &**o == v) {
            out.push(v.into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(reg: &SecretRegistry, text: &str) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        reg.find_spans(text, &mut out);
        out.sort_by_key(|r| (r.start, r.end));
        out
    }

    #[test]
    fn finds_every_occurrence_including_overlaps() {
        let reg = SecretRegistry::new();
        reg.register("abcdefgh");
        reg.register("efghijkl");
        assert_eq!(
            spans(&reg, "xxabcdefghijklxx abcdefgh"),
            vec![2..10, 6..14, 17..25]
        );
    }

    #[test]
    fn long_secrets_with_shared_prefixes_are_told_apart() {
        let reg = SecretRegistry::new();
        let a = format!("ya29.a0AfB_common_prefix_{}", "A".repeat(40));
        let b = format!("ya29.a0AfB_common_prefix_{}", "B".repeat(40));
        reg.register_many([a.as_str(), b.as_str()]);
        let text = format!("one {b} two");
        assert_eq!(spans(&reg, &text), vec![4..4 + b.len()]);
    }

    #[test]
    fn forget_is_reference_counted() {
        let reg = SecretRegistry::new();
        reg.register("secret-one");
        reg.register("secret-one");
        reg.forget("secret-one");
        assert_eq!(spans(&reg, "secret-one").len(), 1);
        reg.forget("secret-one");
        assert!(spans(&reg, "secret-one").is_empty());
        assert_eq!(reg.len(), 0);
    }

    #[test]
    fn short_and_marker_like_strings_are_ignored() {
        let reg = SecretRegistry::new();
        reg.register("abc");
        reg.register("REDACTED");
        assert_eq!(reg.len(), 0);
    }

    #[test]
    fn encoded_forms_are_registered_too() {
        let reg = SecretRegistry::new();
        reg.register("1//0gAbc/def");
        let text = "refresh_token=1%2F%2F0gAbc%2Fdef&x=1";
        assert_eq!(spans(&reg, text), vec![14..32]);
        reg.register("pa\"ss\\word");
        assert_eq!(spans(&reg, r#"{"p":"pa\"ss\\word"}"#), vec![6..18]);
    }

    #[test]
    fn registering_after_a_build_takes_effect_immediately() {
        let reg = SecretRegistry::new();
        reg.register("first-secret");
        assert_eq!(spans(&reg, "first-secret").len(), 1);
        reg.register("second-secret");
        assert_eq!(spans(&reg, "second-secret").len(), 1);
    }
}

#[cfg(test)]
mod agreement_tests {
    use proptest::prelude::*;

    use super::*;

    /// Every occurrence, overlapping ones included, by trying each secret at each position.
    fn naive(secrets: &[String], text: &str) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        for s in secrets {
            for at in 0..text.len() {
                if text.as_bytes()[at..].starts_with(s.as_bytes()) {
                    out.push(at..at + s.len());
                }
            }
        }
        out.sort_by_key(|r| (r.start, r.end));
        out.dedup();
        out
    }

    proptest! {
        /// Short and long secrets over a tiny alphabet, so they overlap and share anchors and
        /// filter bits: the matcher finds exactly what trying every position finds.
        #[test]
        fn finds_what_a_naive_search_finds(
            secrets in proptest::collection::vec("[ab/]{6,24}", 1..12),
            text in "[ab/ x]{0,120}",
        ) {
            let reg = SecretRegistry::new();
            for s in &secrets {
                reg.register(s);
            }
            let mut out = Vec::new();
            reg.find_spans(&text, &mut out);
            out.sort_by_key(|r| (r.start, r.end));
            out.dedup();
            // Registered forms include the URL-encoded one (`/` as `%2F`), which this
            // alphabet never shows, so the raw secrets are the whole expectation.
            prop_assert_eq!(out, naive(&secrets, &text));
        }
    }

    #[test]
    fn thousands_of_long_secrets_each_found_at_the_edges_of_a_line() {
        let reg = SecretRegistry::new();
        let secrets: Vec<String> = (0..5000)
            .map(|i| {
                format!(
                    "ya29.sim-{i:05}-{:x}",
                    (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                )
            })
            .collect();
        reg.register_many(secrets.iter().map(String::as_str));
        for i in [0, 1234, 4999] {
            let s = &secrets[i];
            let text = format!("{s} middle {s}");
            let mut out = Vec::new();
            reg.find_spans(&text, &mut out);
            out.sort_by_key(|r| r.start);
            assert_eq!(
                out,
                vec![0..s.len(), text.len() - s.len()..text.len()],
                "{i}"
            );
        }
        let mut out = Vec::new();
        reg.find_spans("short", &mut out);
        reg.find_spans("ya29.sim-00001-not-this-one", &mut out);
        assert!(out.is_empty());
    }
}

#[cfg(test)]
mod scale_tests {
    use super::*;

    /// The pool's worst case: every token of a large pool registered one by one.
    #[test]
    fn twenty_thousand_tokens() {
        let reg = SecretRegistry::new();
        let tokens: Vec<String> = (0..20_000)
            .map(|i| format!("ya29.a0AfB_shared_prefix_{i:08}_{}", "x".repeat(150)))
            .collect();
        let t = std::time::Instant::now();
        for tok in &tokens {
            reg.register(tok);
        }
        let registered = t.elapsed();
        let t = std::time::Instant::now();
        let mut out = Vec::new();
        let line = format!("calling upstream with {} done", tokens[12_345]);
        reg.find_spans(&line, &mut out);
        let first = t.elapsed();
        assert_eq!(out, vec![22..22 + tokens[12_345].len()]);
        let t = std::time::Instant::now();
        for _ in 0..1000 {
            out.clear();
            reg.find_spans(
                "an ordinary log line with model=gemini-2.5-pro and nothing secret",
                &mut out,
            );
        }
        assert!(out.is_empty());
        eprintln!(
            "register: {registered:?}, first search (rebuild): {first:?}, 1000 lines: {:?}",
            t.elapsed()
        );
    }
}
