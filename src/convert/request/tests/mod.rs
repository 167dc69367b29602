//! Conversion tests. The `case_NN_*` tests across `convert/`, `models/`, `google/` and `proxy/`
//! form one numbered catalogue of conversion cases (1–55); a `_fix` suffix or a comment marks
//! where we deliberately differ from the reference.
use serde_json::{Value, json};

use super::*;

mod cases_messages;
mod cases_params_tools;
mod features_native;

pub(super) fn opts() -> ConvertOptions {
    ConvertOptions {
        compatibility_mode: false,
        return_thoughts: true,
        ..ConvertOptions::default()
    }
}

pub(super) fn convert(body: Value) -> ConvertedRequest {
    openai_to_gemini(&body, &opts()).unwrap_or_else(|e| panic!("conversion failed: {e}"))
}

pub(super) fn convert_err(body: Value) -> ConvertError {
    match openai_to_gemini(&body, &opts()) {
        Ok(r) => panic!("expected an error, got {}", r.request),
        Err(e) => e,
    }
}

/// The `request` for `messages` on a model without features.
pub(super) fn req(messages: Value) -> Value {
    convert(json!({"model": "gemini-2.5-flash", "messages": messages})).request
}
