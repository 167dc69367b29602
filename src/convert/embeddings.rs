//! Embedding requests and answers in the clients' formats: OpenAI's `POST /v1/embeddings` and
//! Gemini's `:embedContent` / `:batchEmbedContents`, to and from the inputs every upstream is
//! sent (`google::executor::embed`).
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::request::ConvertError;
use crate::google::executor::embed::{EmbedInput, Embedding};

/// OpenAI's `encoding_format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Float,
    /// Little-endian float32s, base64: what OpenAI's SDKs ask for by default.
    Base64,
}

/// An OpenAI embeddings request, read.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenAiEmbeddings {
    pub model: String,
    pub inputs: Vec<EmbedInput>,
    pub encoding: Encoding,
}

fn invalid(field: &str, reason: impl Into<String>) -> ConvertError {
    ConvertError::Invalid {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// A positive integer, or nothing when absent or null.
fn dims(v: Option<&Value>, field: &str) -> Result<Option<u64>, ConvertError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| invalid(field, format!("must be a positive integer, got {v}"))),
    }
}

/// `{model, input, dimensions?, encoding_format?, user?}`. `input` is a string or an array of
/// strings; token-id arrays need OpenAI's tokenizer, which Google does not share, so they are
/// refused.
pub fn openai_request(v: &Value) -> Result<OpenAiEmbeddings, ConvertError> {
    let model = v
        .get("model")
        .and_then(Value::as_str)
        .ok_or(ConvertError::Missing("model"))?
        .to_string();
    let texts: Vec<&str> = match v.get("input") {
        None | Some(Value::Null) => return Err(ConvertError::Missing("input")),
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(invalid("input", "the array is empty"));
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.as_str()),
                Value::Number(_) | Value::Array(_) => Err(invalid(
                    "input",
                    "token ids are not taken (Google's models use their own tokenizer): send text",
                )),
                other => Err(invalid(
                    &format!("input[{i}]"),
                    format!("must be a string, got {other}"),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(invalid(
                "input",
                format!("must be a string or an array of strings, got {other}"),
            ));
        }
    };
    if let Some(i) = texts.iter().position(|t| t.is_empty()) {
        return Err(invalid(&format!("input[{i}]"), "is an empty string"));
    }
    let dims = dims(v.get("dimensions"), "dimensions")?;
    let encoding = match v.get("encoding_format") {
        None | Some(Value::Null) => Encoding::Float,
        Some(Value::String(s)) if s == "float" => Encoding::Float,
        Some(Value::String(s)) if s == "base64" => Encoding::Base64,
        Some(other) => {
            return Err(invalid(
                "encoding_format",
                format!("must be 'float' or 'base64', got {other}"),
            ));
        }
    };
    let inputs = texts
        .into_iter()
        .map(|t| EmbedInput {
            dims,
            ..EmbedInput::text(t)
        })
        .collect();
    Ok(OpenAiEmbeddings {
        model,
        inputs,
        encoding,
    })
}

fn base64_f32(values: &[f64]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        // float32 is what OpenAI sends and what its SDKs decode.
        bytes.extend_from_slice(&(*v as f32).to_le_bytes());
    }
    STANDARD.encode(bytes)
}

/// OpenAI's list of embeddings, in input order, with usage.
pub fn openai_response(
    model: &str,
    out: &[Embedding],
    encoding: Encoding,
    prompt_tokens: u64,
) -> Value {
    let data: Vec<Value> = out
        .iter()
        .enumerate()
        .map(|(index, e)| {
            let embedding = match encoding {
                Encoding::Float => json!(e.values),
                Encoding::Base64 => json!(base64_f32(&e.values)),
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    })
}

/// Proto JSON takes both spellings of a field.
fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    v.get(camel).or_else(|| v.get(snake))
}

fn opt_string(
    v: &Value,
    camel: &str,
    snake: &str,
    at: &str,
) -> Result<Option<String>, ConvertError> {
    match field(v, camel, snake) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(
            &format!("{at}{camel}"),
            format!("must be a string, got {other}"),
        )),
    }
}

/// One `EmbedContentRequest` (`at` prefixes field names in errors: `requests[3].`).
fn gemini_input(v: &Value, at: &str) -> Result<EmbedInput, ConvertError> {
    let content = v
        .get("content")
        .filter(|c| c.is_object())
        .ok_or_else(|| invalid(&format!("{at}content"), "is required: {parts: [{text}]}"))?;
    let has_parts = content
        .get("parts")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    if !has_parts {
        return Err(invalid(
            &format!("{at}content.parts"),
            "must hold at least one part",
        ));
    }
    Ok(EmbedInput {
        content: content.clone(),
        task_type: opt_string(v, "taskType", "task_type", at)?,
        title: opt_string(v, "title", "title", at)?,
        dims: dims(
            field(v, "outputDimensionality", "output_dimensionality"),
            &format!("{at}outputDimensionality"),
        )?,
    })
}

/// `:embedContent`'s body.
pub fn gemini_embed_request(v: &Value) -> Result<EmbedInput, ConvertError> {
    gemini_input(v, "")
}

/// `:batchEmbedContents`' body: the inputs, and the model each request names (if any), which
/// must be the batch's.
pub fn gemini_batch_request(
    v: &Value,
) -> Result<(Vec<EmbedInput>, Vec<Option<String>>), ConvertError> {
    let requests = v
        .get("requests")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| invalid("requests", "must be a non-empty array"))?;
    let mut inputs = Vec::with_capacity(requests.len());
    let mut models = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        let at = format!("requests[{i}].");
        inputs.push(gemini_input(r, &at)?);
        models.push(opt_string(r, "model", "model", &at)?);
    }
    Ok((inputs, models))
}

pub fn gemini_embed_response(e: &Embedding) -> Value {
    json!({"embedding": {"values": e.values}})
}

pub fn gemini_batch_response(out: &[Embedding]) -> Value {
    let embeddings: Vec<Value> = out.iter().map(|e| json!({"values": e.values})).collect();
    json!({ "embeddings": embeddings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: Value) -> String {
        openai_request(&v).unwrap_err().to_string()
    }

    #[test]
    fn openai_inputs_are_strings_or_lists_of_strings() {
        let one = openai_request(&json!({"model": "m", "input": "hello"})).unwrap();
        assert_eq!(one.inputs, [EmbedInput::text("hello")]);
        assert_eq!(one.encoding, Encoding::Float);
        let many = openai_request(&json!({
            "model": "m", "input": ["a", "b"], "dimensions": 8, "encoding_format": "base64", "user": "u"
        }))
        .unwrap();
        assert_eq!(many.inputs.len(), 2);
        assert!(many.inputs.iter().all(|i| i.dims == Some(8)));
        assert_eq!(many.inputs[1].plain_text(), "b");
        assert_eq!(many.encoding, Encoding::Base64);
        assert!(err(json!({"input": "x"})).contains("'model'"));
        assert!(err(json!({"model": "m"})).contains("'input'"));
        assert!(err(json!({"model": "m", "input": []})).contains("empty"));
        assert!(err(json!({"model": "m", "input": [1, 2]})).contains("token ids"));
        assert!(err(json!({"model": "m", "input": [[1]]})).contains("token ids"));
        assert!(err(json!({"model": "m", "input": ["a", ""]})).contains("input[1]"));
        assert!(err(json!({"model": "m", "input": ["a", {}]})).contains("input[1]"));
        assert!(err(json!({"model": "m", "input": "a", "dimensions": 0})).contains("dimensions"));
        assert!(err(json!({"model": "m", "input": "a", "dimensions": "8"})).contains("dimensions"));
        assert!(
            err(json!({"model": "m", "input": "a", "encoding_format": "int8"}))
                .contains("encoding_format")
        );
    }

    #[test]
    fn openai_answers_carry_floats_or_base64_float32s() {
        let out = [
            Embedding {
                values: vec![0.5, -0.25],
                tokens: None,
            },
            Embedding {
                values: vec![1.0],
                tokens: None,
            },
        ];
        let v = openai_response("gemini-embedding-001", &out, Encoding::Float, 7);
        assert_eq!(v["object"], "list");
        assert_eq!(v["model"], "gemini-embedding-001");
        assert_eq!(v["data"][1]["index"], 1);
        assert_eq!(v["data"][0]["object"], "embedding");
        assert_eq!(v["data"][0]["embedding"], json!([0.5, -0.25]));
        assert_eq!(v["usage"], json!({"prompt_tokens": 7, "total_tokens": 7}));
        let v = openai_response("m", &out, Encoding::Base64, 7);
        let bytes = STANDARD
            .decode(v["data"][0]["embedding"].as_str().unwrap())
            .unwrap();
        let floats: Vec<f32> = bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(floats, [0.5, -0.25]);
    }

    #[test]
    fn gemini_requests_take_both_spellings_and_name_bad_fields() {
        let one = gemini_embed_request(&json!({
            "content": {"parts": [{"text": "a"}]}, "task_type": "RETRIEVAL_DOCUMENT", "title": "T", "output_dimensionality": 16
        }))
        .unwrap();
        assert_eq!(one.task_type.as_deref(), Some("RETRIEVAL_DOCUMENT"));
        assert_eq!(one.title.as_deref(), Some("T"));
        assert_eq!(one.dims, Some(16));
        let e = gemini_embed_request(&json!({"content": {"parts": []}})).unwrap_err();
        assert!(e.to_string().contains("content.parts"), "{e}");
        let (inputs, models) = gemini_batch_request(&json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 4},
            {"content": {"parts": [{"text": "b"}]}},
        ]}))
        .unwrap();
        assert_eq!(inputs.len(), 2);
        assert_eq!(inputs[0].dims, Some(4));
        assert_eq!(
            models,
            [Some("models/gemini-embedding-001".to_string()), None]
        );
        let e = gemini_batch_request(
            &json!({"requests": [{"content": {"parts": [{"text": "a"}]}}, {}]}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("requests[1].content"), "{e}");
        assert!(gemini_batch_request(&json!({"requests": []})).is_err());
        let out = [Embedding {
            values: vec![0.5],
            tokens: Some(1),
        }];
        assert_eq!(
            gemini_embed_response(&out[0]),
            json!({"embedding": {"values": [0.5]}})
        );
        assert_eq!(
            gemini_batch_response(&out),
            json!({"embeddings": [{"values": [0.5]}]})
        );
    }
}
