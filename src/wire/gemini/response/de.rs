//! Hand-written `Deserialize` for the response types: one pass over the JSON, known fields
//! straight into their types, unknown ones into `extra` in the order they came.
//!
//! Derived impls with `#[serde(flatten)]` first buffer every field of the object into serde's
//! private `Content` tree and then walk it again, which made parsing the largest cost per
//! stream event. These visitors keep the derived behaviour otherwise: `null` for an optional
//! field is `None`, a missing list is empty, a wrong type is an error.
use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::{
    Candidate, Content, FinishReason, GenerateContentResponse, ModalityTokenCount, Part, PartData,
    PromptFeedback, UsageMetadata,
};

/// An object key, borrowed from the input when it holds no escapes.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The object types: each named field is read into its typed slot, any other key goes to
/// `extra`. `$ty::read_field` is also used by the Code Assist envelope reader, which sees the
/// fields of a bare response at its top level.
macro_rules! object {
    ($ty:ident, $expecting:literal, { $($key:literal => $field:ident),+ $(,)? }) => {
        impl $ty {
            /// Reads the value of `key` into this object.
            pub(crate) fn read_field<'de, A: MapAccess<'de>>(
                &mut self,
                key: Cow<'de, str>,
                map: &mut A,
            ) -> Result<(), A::Error> {
                match &*key {
                    $($key => self.$field = map.next_value()?,)+
                    _ => {
                        let v: Value = map.next_value()?;
                        self.extra.insert(key.into_owned(), v);
                    }
                }
                Ok(())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$ty, A::Error> {
                        let mut out = $ty::default();
                        while let Some(Key(key)) = map.next_key()? {
                            out.read_field(key, &mut map)?;
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

object!(GenerateContentResponse, "struct GenerateContentResponse", {
    "candidates" => candidates,
    "promptFeedback" => prompt_feedback,
    "usageMetadata" => usage_metadata,
    "error" => error,
    "modelVersion" => model_version,
    "createTime" => create_time,
    "responseId" => response_id,
});

object!(Candidate, "struct Candidate", {
    "content" => content,
    "finishReason" => finish_reason,
    "index" => index,
});

object!(Content, "struct Content", {
    "role" => role,
    "parts" => parts,
});

object!(PromptFeedback, "struct PromptFeedback", {
    "blockReason" => block_reason,
});

object!(UsageMetadata, "struct UsageMetadata", {
    "promptTokenCount" => prompt_token_count,
    "candidatesTokenCount" => candidates_token_count,
    "thoughtsTokenCount" => thoughts_token_count,
    "toolUsePromptTokenCount" => tool_use_prompt_token_count,
    "cachedContentTokenCount" => cached_content_token_count,
    "totalTokenCount" => total_token_count,
    "trafficType" => traffic_type,
    "promptTokensDetails" => prompt_tokens_details,
    "cacheTokensDetails" => cache_tokens_details,
    "candidatesTokensDetails" => candidates_tokens_details,
    "toolUsePromptTokensDetails" => tool_use_prompt_tokens_details,
    "thoughtsTokensDetails" => thoughts_tokens_details,
});

object!(ModalityTokenCount, "struct ModalityTokenCount", {
    "modality" => modality,
    "tokenCount" => token_count,
});

impl<'de> Deserialize<'de> for FinishReason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FinishReason;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FinishReason, E> {
                Ok(FinishReason::parse(v))
            }
        }
        d.deserialize_str(V)
    }
}

/// The data fields after `text`, in the order they win when a part has several.
const DATA_FIELDS: [&str; 6] = [
    "functionCall",
    "functionResponse",
    "inlineData",
    "fileData",
    "executableCode",
    "codeExecutionResult",
];

/// A part's fields in document order; a repeated key replaces the earlier value in place, as
/// a JSON object map does.
struct Fields<'de>(Vec<(Cow<'de, str>, Value)>);

impl<'de> Fields<'de> {
    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.0[i].1)
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.position(key).map(|i| self.0.remove(i).1)
    }
}

impl<'de> Deserialize<'de> for Part {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Part;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Part, A::Error> {
                let mut fields = Fields(Vec::with_capacity(map.size_hint().unwrap_or(2)));
                while let Some(Key(key)) = map.next_key()? {
                    let v: Value = map.next_value()?;
                    match fields.position(&key) {
                        Some(i) => fields.0[i].1 = v,
                        None => fields.0.push((key, v)),
                    }
                }
                part_from_fields(fields).map_err(de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

/// Picks the part's data: a string `text` (a thought when `thought: true`), else the first
/// of [`DATA_FIELDS`] present. `thoughtSignature` is read when it is a string and dropped when
/// null. Everything else, `thought: false` included, stays in `extra` as sent.
fn part_from_fields(mut fields: Fields<'_>) -> Result<Part, serde_json::Error> {
    let thought_signature = match fields.position("thoughtSignature") {
        Some(i) => match &fields.0[i].1 {
            Value::String(_) | Value::Null => match fields.0.remove(i).1 {
                Value::String(s) => Some(s),
                _ => None,
            },
            _ => None,
        },
        None => None,
    };
    let thought = fields.get("thought").and_then(Value::as_bool) == Some(true);
    let data = if let Some(Value::String(_)) = fields.get("text") {
        let Some(Value::String(t)) = fields.take("text") else {
            unreachable!("checked above")
        };
        if thought {
            fields.take("thought");
            PartData::Thought(t)
        } else {
            PartData::Text(t)
        }
    } else {
        match DATA_FIELDS.iter().find_map(|k| Some((*k, fields.take(k)?))) {
            Some(("functionCall", v)) => PartData::FunctionCall(serde_json::from_value(v)?),
            Some(("functionResponse", v)) => PartData::FunctionResponse(v),
            Some(("inlineData", v)) => PartData::InlineData(serde_json::from_value(v)?),
            Some(("fileData", v)) => PartData::FileData(v),
            Some(("executableCode", v)) => PartData::ExecutableCode(v),
            Some((_, v)) => PartData::CodeExecutionResult(v),
            None => PartData::Unknown,
        }
    };
    let extra: Map<String, Value> = fields
        .0
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v))
        .collect();
    Ok(Part {
        data,
        thought_signature,
        extra,
    })
}
