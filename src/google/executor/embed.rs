//! Embeddings on the upstreams that embed, each in its own shape:
//!
//! - the Gemini API: `:embedContent` for one input, `:batchEmbedContents` for up to 100;
//! - Vertex with a service account: `:predict` for `gemini-embedding-001` (one instance per
//!   call) and the `text-*` models (up to 250 instances and 20k tokens per call), and
//!   `:embedContent` (one content per call) for the other Gemini models, as Google's SDK routes
//!   them.
//!
//! Code Assist has no embedding method and Vertex express mode serves none; the pool never
//! hands them an embedding model (`Profile::serves`).
//!
//! A caller splits its inputs with [`next_batch`], which sizes each call for the credential it
//! got, and sends each batch with [`embed`]; the answers come back in input order.
use serde_json::{Map, Value, json};

use super::{Call, CallFailure, Method, post, read_all, transport};
use crate::google::client::Upstream;
use crate::google::kind::CredentialKind;
use crate::models::embedding::input_token_limit;

/// The Gemini API's batch limit ("at most 100 requests can be in one batch").
pub const GEMINI_API_BATCH: usize = 100;
/// Vertex `:predict` limits for the `text-*` models.
const PREDICT_INSTANCES: usize = 250;
const PREDICT_TOKENS: u64 = 20_000;

/// One input to embed: a Gemini `Content` and its options.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbedInput {
    /// `{parts: [{text}, ...]}`; several parts make one embedding.
    pub content: Value,
    pub task_type: Option<String>,
    /// Only with `RETRIEVAL_DOCUMENT` (Google refuses it otherwise).
    pub title: Option<String>,
    /// `outputDimensionality`.
    pub dims: Option<u64>,
}

impl EmbedInput {
    pub fn text(text: &str) -> Self {
        Self {
            content: json!({"parts": [{"text": text}]}),
            task_type: None,
            title: None,
            dims: None,
        }
    }

    fn parts(&self) -> impl Iterator<Item = &Value> {
        self.content
            .get("parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    }

    /// The text parts joined by newlines (what a text-only model embeds).
    pub fn plain_text(&self) -> String {
        let texts: Vec<&str> = self
            .parts()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        texts.join("\n")
    }

    /// Whether every part is text.
    pub fn is_text_only(&self) -> bool {
        self.parts()
            .all(|p| p.get("text").is_some_and(Value::is_string))
    }

    /// A token estimate that errs high (three bytes a token; English runs about four
    /// characters a token, and a CJK character is three bytes and about one token), capped at
    /// what the model keeps: for sizing `:predict` batches under Google's token limit.
    fn tokens_at_most(&self, model: &str) -> u64 {
        let bytes = u64::try_from(self.plain_text().len()).unwrap_or(u64::MAX);
        bytes.div_ceil(3).clamp(1, input_token_limit(model))
    }

    /// The Gemini request fields (`embedContent`'s body, a batch item without its model).
    fn gemini_fields(&self) -> Map<String, Value> {
        let mut o = Map::new();
        o.insert("content".into(), self.content.clone());
        if let Some(t) = &self.task_type {
            o.insert("taskType".into(), json!(t));
        }
        if let Some(t) = &self.title {
            o.insert("title".into(), json!(t));
        }
        if let Some(d) = self.dims {
            o.insert("outputDimensionality".into(), json!(d));
        }
        o
    }
}

/// One embedding, with the input's token count when the upstream reports it (Vertex does;
/// the Gemini API does not).
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    pub values: Vec<f64>,
    pub tokens: Option<u64>,
}

/// Whether Vertex serves `model` through `:predict` (else `:embedContent`).
fn vertex_predicts(model: &str) -> bool {
    model == "gemini-embedding-001" || !model.starts_with("gemini")
}

/// Whether `model` embeds anything but text: the Gemini models after `gemini-embedding-001`.
/// The others take text only, on every upstream.
pub fn takes_non_text(model: &str) -> bool {
    model.starts_with("gemini") && !vertex_predicts(model)
}

/// How many of `inputs`, from the front, the next call with a credential of `kind` carries:
/// at least one (when there is one), never more than the upstream takes at once.
pub fn next_batch(kind: CredentialKind, model: &str, inputs: &[EmbedInput]) -> usize {
    let most = match kind {
        CredentialKind::GeminiApiKey => GEMINI_API_BATCH,
        CredentialKind::VertexServiceAccount if model == "gemini-embedding-001" => 1,
        CredentialKind::VertexServiceAccount if vertex_predicts(model) => {
            return predict_batch(model, inputs);
        }
        _ => 1,
    };
    inputs.len().min(most)
}

/// A `:predict` batch: at most 250 instances and (by estimate) 20k tokens, all with the same
/// output size (a parameter of the whole call).
fn predict_batch(model: &str, inputs: &[EmbedInput]) -> usize {
    let Some(first) = inputs.first() else {
        return 0;
    };
    let mut tokens = 0;
    let mut n = 0;
    for i in inputs.iter().take(PREDICT_INSTANCES) {
        tokens += i.tokens_at_most(model);
        if n > 0 && (tokens > PREDICT_TOKENS || i.dims != first.dims) {
            break;
        }
        n += 1;
    }
    n
}

/// The call for `inputs` on `kind`: its method and body.
fn request(kind: CredentialKind, model: &str, inputs: &[EmbedInput]) -> (Method, Value) {
    match (kind, inputs) {
        (CredentialKind::VertexServiceAccount, _) if vertex_predicts(model) => {
            let instances: Vec<Value> = inputs
                .iter()
                .map(|i| {
                    let mut o = json!({"content": i.plain_text()});
                    if let Some(t) = &i.task_type {
                        o["task_type"] = json!(t);
                    }
                    if let Some(t) = &i.title {
                        o["title"] = json!(t);
                    }
                    o
                })
                .collect();
            let mut body = json!({ "instances": instances });
            if let Some(d) = inputs.first().and_then(|i| i.dims) {
                body["parameters"] = json!({ "outputDimensionality": d });
            }
            (Method::Predict, body)
        }
        (CredentialKind::GeminiApiKey, [_, _, ..]) => {
            let name = format!("models/{model}");
            let requests: Vec<Value> = inputs
                .iter()
                .map(|i| {
                    let mut o = i.gemini_fields();
                    o.insert("model".into(), json!(name));
                    Value::Object(o)
                })
                .collect();
            (Method::BatchEmbedContents, json!({ "requests": requests }))
        }
        (_, inputs) => {
            let fields = inputs.first().map(EmbedInput::gemini_fields);
            (
                Method::EmbedContent,
                Value::Object(fields.unwrap_or_default()),
            )
        }
    }
}

fn values(v: &Value) -> Option<Vec<f64>> {
    v.get("values")?
        .as_array()?
        .iter()
        .map(Value::as_f64)
        .collect()
}

fn count(v: Option<&Value>) -> Option<u64> {
    // Vertex writes token counts as floats ("token_count": 13.0).
    v.and_then(Value::as_f64)
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n.round() as u64)
}

/// The embeddings in an answer of `method`, in order; `None` when the answer has another
/// shape.
fn read(method: Method, v: &Value) -> Option<Vec<Embedding>> {
    match method {
        Method::Predict => v
            .get("predictions")?
            .as_array()?
            .iter()
            .map(|p| {
                let e = p.get("embeddings")?;
                Some(Embedding {
                    values: values(e)?,
                    tokens: count(e.pointer("/statistics/token_count")),
                })
            })
            .collect(),
        Method::BatchEmbedContents => v
            .get("embeddings")?
            .as_array()?
            .iter()
            .map(|e| {
                Some(Embedding {
                    values: values(e)?,
                    tokens: None,
                })
            })
            .collect(),
        _ => Some(vec![Embedding {
            values: values(v.get("embedding")?)?,
            tokens: count(v.pointer("/usageMetadata/promptTokenCount")),
        }]),
    }
}

/// Embeds `inputs` (one batch, sized by [`next_batch`] for this call's kind) with `model`.
/// `Ok(Err(why))` is a 2xx answer that cannot be read, or that holds another number of
/// embeddings than inputs were sent.
pub async fn embed(
    up: &Upstream,
    call: &Call,
    model: &str,
    inputs: &[EmbedInput],
) -> Result<Result<Vec<Embedding>, String>, CallFailure> {
    let (method, body) = request(call.kind(), model, inputs);
    let resp = post(up, call, method, model, &body).await?;
    let bytes = read_all(resp).await.map_err(transport)?;
    let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(Err(format!("{} answer is not JSON", method.rpc())));
    };
    Ok(match read(method, &v) {
        Some(out) if out.len() == inputs.len() => Ok(out),
        Some(out) => Err(format!(
            "{} answered {} embeddings for {} inputs",
            method.rpc(),
            out.len(),
            inputs.len()
        )),
        None => Err(format!("{} answer has no embeddings", method.rpc())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(n: usize) -> Vec<EmbedInput> {
        (0..n).map(|i| EmbedInput::text(&format!("t{i}"))).collect()
    }

    #[test]
    fn batches_follow_each_upstreams_limit() {
        let many = texts(150);
        assert_eq!(
            next_batch(CredentialKind::GeminiApiKey, "gemini-embedding-001", &many),
            100
        );
        assert_eq!(
            next_batch(
                CredentialKind::GeminiApiKey,
                "gemini-embedding-2",
                &many[100..]
            ),
            50
        );
        assert_eq!(
            next_batch(
                CredentialKind::VertexServiceAccount,
                "gemini-embedding-001",
                &many
            ),
            1
        );
        assert_eq!(
            next_batch(
                CredentialKind::VertexServiceAccount,
                "gemini-embedding-2",
                &many
            ),
            1
        );
        let lots = texts(300);
        assert_eq!(
            next_batch(
                CredentialKind::VertexServiceAccount,
                "text-embedding-005",
                &lots
            ),
            250
        );
        // About 20k tokens: long inputs make smaller batches, each input capped at 2048.
        let long: Vec<EmbedInput> = (0..30)
            .map(|_| EmbedInput::text(&"x".repeat(30_000)))
            .collect();
        assert_eq!(
            next_batch(
                CredentialKind::VertexServiceAccount,
                "text-embedding-005",
                &long
            ),
            9
        );
        let huge = vec![EmbedInput::text(&"x".repeat(1_000_000))];
        assert_eq!(
            next_batch(
                CredentialKind::VertexServiceAccount,
                "text-embedding-005",
                &huge
            ),
            1,
            "one input always goes"
        );
        // One output size per `:predict` call.
        let mut mixed = texts(4);
        mixed[2].dims = Some(8);
        assert_eq!(
            next_batch(
                CredentialKind::VertexServiceAccount,
                "text-embedding-005",
                &mixed
            ),
            2
        );
        assert_eq!(
            next_batch(CredentialKind::GeminiApiKey, "gemini-embedding-001", &[]),
            0
        );
    }

    #[test]
    fn each_upstream_gets_its_own_shape() {
        let mut one = EmbedInput::text("hello");
        one.task_type = Some("RETRIEVAL_DOCUMENT".into());
        one.title = Some("T".into());
        one.dims = Some(8);
        let (m, body) = request(
            CredentialKind::GeminiApiKey,
            "gemini-embedding-001",
            std::slice::from_ref(&one),
        );
        assert_eq!(m, Method::EmbedContent);
        assert_eq!(
            body,
            json!({"content": {"parts": [{"text": "hello"}]}, "taskType": "RETRIEVAL_DOCUMENT", "title": "T", "outputDimensionality": 8})
        );
        let two = [one.clone(), EmbedInput::text("b")];
        let (m, body) = request(CredentialKind::GeminiApiKey, "gemini-embedding-001", &two);
        assert_eq!(m, Method::BatchEmbedContents);
        assert_eq!(body["requests"][1]["model"], "models/gemini-embedding-001");
        assert_eq!(body["requests"][1]["content"]["parts"][0]["text"], "b");
        assert_eq!(body["requests"][0]["outputDimensionality"], 8);
        let (m, body) = request(
            CredentialKind::VertexServiceAccount,
            "text-embedding-005",
            &two[..1],
        );
        assert_eq!(m, Method::Predict);
        assert_eq!(
            body,
            json!({"instances": [{"content": "hello", "task_type": "RETRIEVAL_DOCUMENT", "title": "T"}], "parameters": {"outputDimensionality": 8}})
        );
        let (m, body) = request(
            CredentialKind::VertexServiceAccount,
            "gemini-embedding-2",
            &two[1..],
        );
        assert_eq!(m, Method::EmbedContent);
        assert_eq!(body, json!({"content": {"parts": [{"text": "b"}]}}));
    }

    #[test]
    fn answers_are_read_in_each_shape() {
        let predict = json!({"predictions": [
            {"embeddings": {"values": [0.5, -1], "statistics": {"truncated": false, "token_count": 3.0}}},
            {"embeddings": {"values": [1.0], "statistics": {"truncated": true, "token_count": 2048}}},
        ], "metadata": {"billableCharacterCount": 9}});
        let got = read(Method::Predict, &predict).unwrap();
        assert_eq!(got[0].values, [0.5, -1.0]);
        assert_eq!(got[0].tokens, Some(3));
        assert_eq!(got[1].tokens, Some(2048));
        let batch = json!({"embeddings": [{"values": [1]}, {"values": [2]}]});
        let got = read(Method::BatchEmbedContents, &batch).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].tokens, None);
        let single =
            json!({"embedding": {"values": [0.25]}, "usageMetadata": {"promptTokenCount": 4}});
        assert_eq!(
            read(Method::EmbedContent, &single).unwrap(),
            [Embedding {
                values: vec![0.25],
                tokens: Some(4)
            }]
        );
        assert!(
            read(
                Method::EmbedContent,
                &json!({"embedding": {"values": ["x"]}})
            )
            .is_none()
        );
        assert!(read(Method::BatchEmbedContents, &json!({})).is_none());
    }

    #[test]
    fn text_only_models_and_inputs() {
        assert!(takes_non_text("gemini-embedding-2"));
        assert!(!takes_non_text("gemini-embedding-001"));
        assert!(!takes_non_text("text-embedding-005"));
        let image = EmbedInput {
            content: json!({"parts": [{"text": "a"}, {"inlineData": {"mimeType": "image/png", "data": "AA=="}}]}),
            task_type: None,
            title: None,
            dims: None,
        };
        assert!(!image.is_text_only());
        assert_eq!(image.plain_text(), "a");
        assert!(EmbedInput::text("x").is_text_only());
    }
}
