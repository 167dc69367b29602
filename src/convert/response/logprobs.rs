//! Gemini `logprobsResult` → OpenAI `choices[].logprobs` (asked for with `logprobs: true`).
use serde_json::{Value, json};

use crate::wire::gemini::Candidate;

/// OpenAI's `{content: [{token, logprob, bytes, top_logprobs}], refusal: null}` for one
/// candidate, or `None` when the candidate has no log probabilities.
pub(crate) fn openai_logprobs(cand: &Candidate) -> Option<Value> {
    let result = cand.extra.get("logprobsResult")?;
    let chosen = result.get("chosenCandidates")?.as_array()?;
    let top = result.get("topCandidates").and_then(Value::as_array);
    let content: Vec<Value> = chosen
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let alternatives: Vec<Value> = top
                .and_then(|t| t.get(i))
                .and_then(|t| t.get("candidates"))
                .and_then(Value::as_array)
                .map(|list| list.iter().map(entry).collect())
                .unwrap_or_default();
            let mut e = entry(c);
            e["top_logprobs"] = Value::Array(alternatives);
            e
        })
        .collect();
    Some(json!({"content": content, "refusal": null}))
}

fn entry(c: &Value) -> Value {
    let token = c.get("token").and_then(Value::as_str).unwrap_or_default();
    // Gemini omits logProbability when it is 0 (a certain token), as proto3 drops defaults.
    let logprob = c
        .get("logProbability")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    json!({"token": token, "logprob": logprob, "bytes": token.as_bytes()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_tokens_with_their_alternatives() {
        let cand = json!({"logprobsResult": {
            "chosenCandidates": [{"token": "Hi", "logProbability": -0.5}, {"token": "é"}],
            "topCandidates": [
                {"candidates": [{"token": "Hi", "logProbability": -0.5}, {"token": "Hey", "logProbability": -1.5}]},
                {"candidates": [{"token": "é"}]}
            ]
        }});
        let cand: Candidate = serde_json::from_value(cand).unwrap();
        let l = openai_logprobs(&cand).unwrap();
        assert_eq!(l["content"][0]["token"], "Hi");
        assert_eq!(l["content"][0]["logprob"], -0.5);
        assert_eq!(l["content"][0]["bytes"], json!([72, 105]));
        assert_eq!(l["content"][0]["top_logprobs"][1]["token"], "Hey");
        assert_eq!(l["content"][1]["logprob"], 0.0);
        assert_eq!(l["content"][1]["bytes"], json!([195, 169]));
        assert!(l["refusal"].is_null());
        assert!(openai_logprobs(&Candidate::default()).is_none());
    }
}
