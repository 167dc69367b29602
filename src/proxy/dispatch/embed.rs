//! Embedding requests through the pool, for both surfaces (OpenAI's `/v1/embeddings`, Gemini's
//! `:embedContent` and `:batchEmbedContents`).
//!
//! The inputs are cut into upstream calls as the credential each call gets allows (100 for a
//! Gemini API key, one or up to 250 on Vertex, see `executor::embed::next_batch`); a few calls
//! run at once, and the answers are put back in input order. Each call has its own retry
//! budget and switches credentials like a generation call does. A call that moves to a
//! credential taking fewer inputs at once sends its batch in smaller pieces.
use std::ops::Range;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::{Attempts, Served};
use crate::error::GatewayError;
use crate::google::errors::parse_error;
use crate::google::executor::CallFailure;
use crate::google::executor::embed::{self, EmbedInput, Embedding, next_batch, takes_non_text};
use crate::google::kind::{CredentialKind, Pin};
use crate::models::{ResolvedModel, is_embedding};
use crate::pool::service::Lease;
use crate::state::AppState;

/// Upstream calls of one request in flight at once.
const CALLS_AT_ONCE: usize = 4;
/// Inputs one client request may carry (OpenAI's own limit).
pub const MAX_INPUTS: usize = 2048;

/// What every embedding request must be before anything is sent: an embedding model without
/// generation features, and inputs the model takes.
pub fn check(model: &ResolvedModel, inputs: &[EmbedInput]) -> Result<(), GatewayError> {
    if !is_embedding(&model.base) {
        return Err(GatewayError::BadRequest(format!(
            "'{}' is not an embedding model: use gemini-embedding-001 or gemini-embedding-2",
            model.requested
        )));
    }
    if model.has_features() {
        return Err(GatewayError::BadRequest(format!(
            "'{}': an embedding model takes no thinking, search or streaming features",
            model.requested
        )));
    }
    if inputs.is_empty() {
        return Err(GatewayError::BadRequest(
            "there is nothing to embed: send at least one input".into(),
        ));
    }
    if inputs.len() > MAX_INPUTS {
        return Err(GatewayError::BadRequest(format!(
            "{} inputs in one request; at most {MAX_INPUTS} are taken",
            inputs.len()
        )));
    }
    if !takes_non_text(&model.base)
        && let Some(i) = inputs.iter().position(|i| !i.is_text_only())
    {
        return Err(GatewayError::BadRequest(format!(
            "input {i} is not text only, and {} embeds text only",
            model.base
        )));
    }
    Ok(())
}

/// Why nothing in the pool can embed (for a pool without any credential of a kind that can,
/// among those `pin` admits).
fn no_embedder(pin: Option<Pin>) -> GatewayError {
    let able: Vec<CredentialKind> = CredentialKind::ALL
        .into_iter()
        .filter(|k| k.embeds() && pin.is_none_or(|p| p.admits(*k)))
        .collect();
    let names = |ks: &[CredentialKind]| {
        ks.iter()
            .map(|k| format!("{}s", k.label()))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let all: Vec<CredentialKind> = CredentialKind::ALL
        .into_iter()
        .filter(|k| k.embeds())
        .collect();
    let message = match pin {
        Some(p) if able.is_empty() => format!(
            "'{}' names credentials that cannot embed: embeddings are served by {} only",
            p.prefix(),
            names(&all)
        ),
        _ => format!(
            "no credential here can embed{}: embeddings are served by {} only (Code Assist \
             accounts and Vertex express keys have no embedding method); add one to the pool",
            pin.map(|p| format!(" under '{}'", p.prefix()))
                .unwrap_or_default(),
            names(&able)
        ),
    };
    GatewayError::Unservable(message)
}

/// Embeds `inputs` with `base_model` (already [`check`]ed); the embeddings come back in input
/// order, with who served the first batch and the retries of all of them.
pub async fn embed(
    state: &AppState,
    base_model: &str,
    pin: Option<Pin>,
    inputs: &[EmbedInput],
) -> Result<(Vec<Embedding>, Served), GatewayError> {
    let n = inputs.len();
    let mut out: Vec<Option<Embedding>> = vec![None; n];
    let mut first: Option<Served> = None;
    let mut retries = 0;
    let mut inflight = FuturesUnordered::new();
    let mut cursor = 0;
    while cursor < n || !inflight.is_empty() {
        // A credential is leased only when there is a batch for it, and the batch is cut for
        // the credential's kind.
        while cursor < n && inflight.len() < CALLS_AT_ONCE {
            let mut tries = Attempts::new(state, base_model, pin);
            let lease = match tries.lease().await {
                Ok(Some(l)) => l,
                Ok(None) => return Err(tries.finish()),
                Err(e @ GatewayError::NoCredential { .. }) if !state.pool.can_ever_embed(pin) => {
                    tracing::debug!(error = %e, "no credential of a kind that embeds");
                    return Err(no_embedder(pin));
                }
                Err(e) => return Err(e),
            };
            let take = next_batch(lease.call.kind(), base_model, &inputs[cursor..]).max(1);
            inflight.push(batch(tries, lease, cursor..cursor + take, inputs));
            cursor += take;
        }
        if let Some(done) = inflight.next().await {
            let (range, got, served) = done?;
            retries += served.retries;
            if range.start == 0 {
                first = Some(served);
            }
            for (slot, e) in out[range].iter_mut().zip(got) {
                *slot = Some(e);
            }
        }
    }
    let out: Option<Vec<Embedding>> = out.into_iter().collect();
    let out = out.ok_or_else(|| GatewayError::Internal("an embedding went missing".into()))?;
    let served = Served {
        retries,
        ..first.unwrap_or_default()
    };
    Ok((out, served))
}

/// One batch of inputs, sent with `lease` and, when that fails, with other credentials as the
/// retry budget allows.
async fn batch<'a>(
    mut tries: Attempts<'a>,
    lease: Lease,
    range: Range<usize>,
    inputs: &'a [EmbedInput],
) -> Result<(Range<usize>, Vec<Embedding>, Served), GatewayError> {
    let mut next = Some(lease);
    let mut got = Vec::with_capacity(range.len());
    let mut served: Option<Served> = None;
    let mut at = range.start;
    while at < range.end {
        let lease = match next.take() {
            Some(l) => l,
            None => match tries.lease().await? {
                Some(l) => l,
                None => return Err(tries.finish()),
            },
        };
        let take = next_batch(lease.call.kind(), tries.model, &inputs[at..range.end]).max(1);
        let sent = std::time::Instant::now();
        let answer = embed::embed(
            &tries.state.upstream,
            &lease.call,
            tries.model,
            &inputs[at..at + take],
        )
        .await;
        tries.timed(&lease, sent.elapsed());
        match answer {
            Ok(Ok(v)) => {
                let s = tries.served(&lease);
                let first = served.get_or_insert(s);
                first.retries = s.retries;
                first.upstream = s.upstream;
                got.extend(v);
                at += take;
                next = Some(lease);
            }
            Ok(Err(why)) => tries.transport_failed(&lease, format!("unreadable answer: {why}")),
            Err(CallFailure::Status { status, body }) => {
                tries
                    .upstream_failed(&lease, parse_error(status, &body))
                    .await?
            }
            Err(CallFailure::Transport(why)) => tries.transport_failed(&lease, why),
        }
    }
    Ok((range, got, served.unwrap_or_default()))
}

/// The input tokens of a request: Google's count where it gives one (Vertex), else an
/// estimate of four characters a token (the Gemini API reports none for embeddings).
pub fn prompt_tokens(inputs: &[EmbedInput], out: &[Embedding]) -> u64 {
    inputs
        .iter()
        .zip(out)
        .map(|(i, e)| {
            e.tokens.unwrap_or_else(|| {
                u64::try_from(i.plain_text().chars().count())
                    .unwrap_or(u64::MAX)
                    .div_ceil(4)
                    .max(1)
            })
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::resolve;

    #[test]
    fn only_plain_embedding_models_and_fitting_inputs_pass() {
        let text = [EmbedInput::text("hi")];
        assert!(check(&resolve("gemini-embedding-001").unwrap(), &text).is_ok());
        assert!(check(&resolve("vertex/gemini-embedding-2").unwrap(), &text).is_ok());
        let not = check(&resolve("gemini-2.5-flash").unwrap(), &text).unwrap_err();
        assert!(not.to_string().contains("not an embedding model"), "{not}");
        for name in [
            "gemini-embedding-001-search",
            "fake-stream/gemini-embedding-001",
            "gemini-embedding-001-high",
        ] {
            let e = check(&resolve(name).unwrap(), &text).unwrap_err();
            assert!(e.to_string().contains("no thinking"), "{name}: {e}");
        }
        assert!(check(&resolve("gemini-embedding-001").unwrap(), &[]).is_err());
        let many = vec![EmbedInput::text("x"); MAX_INPUTS + 1];
        assert!(check(&resolve("gemini-embedding-001").unwrap(), &many).is_err());
        let image = [EmbedInput {
            content: serde_json::json!({"parts": [{"inlineData": {"mimeType": "image/png", "data": "AA=="}}]}),
            task_type: None,
            title: None,
            dims: None,
        }];
        assert!(check(&resolve("gemini-embedding-2").unwrap(), &image).is_ok());
        let e = check(&resolve("gemini-embedding-001").unwrap(), &image).unwrap_err();
        assert!(e.to_string().contains("text only"), "{e}");
    }

    #[test]
    fn the_no_embedder_error_names_the_kinds_that_can() {
        let all = no_embedder(None).to_string();
        assert!(
            all.contains("Gemini API keys and Vertex service accounts"),
            "{all}"
        );
        let vertex = no_embedder(Some(Pin::Vertex)).to_string();
        assert!(
            vertex.contains("under 'vertex/'")
                && vertex.contains("by Vertex service accounts only"),
            "{vertex}"
        );
        let ca = no_embedder(Some(Pin::CodeAssist)).to_string();
        assert!(
            ca.contains("'code-assist/' names credentials that cannot embed"),
            "{ca}"
        );
    }

    #[test]
    fn usage_prefers_googles_counts() {
        let inputs = [EmbedInput::text("abcdefgh"), EmbedInput::text("abc")];
        let out = [
            Embedding {
                values: vec![],
                tokens: Some(7),
            },
            Embedding {
                values: vec![],
                tokens: None,
            },
        ];
        assert_eq!(prompt_tokens(&inputs, &out), 8);
    }
}
