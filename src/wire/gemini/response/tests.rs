use serde_json::{Value, json};

use super::*;

fn parse(v: Value) -> GenerateContentResponse {
    serde_json::from_value(v).expect("parses")
}

fn part(v: Value) -> Part {
    serde_json::from_value(v).expect("part parses")
}

#[test]
fn every_part_kind_round_trips_with_unknown_fields_kept() {
    let kinds = [
        json!({"text": "hi", "thoughtSignature": "sig", "partMetadata": {"a": 1}}),
        json!({"text": "plan", "thought": true}),
        json!({"text": "not a thought", "thought": false}),
        json!({"functionCall": {"id": "c1", "name": "f", "args": {"x": 1}, "willContinue": true}}),
        json!({"functionResponse": {"name": "f", "response": {"output": "ok"}}}),
        json!({"inlineData": {"mimeType": "image/png", "data": "iVBO", "displayName": "p"}}),
        json!({"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/x.pdf"}}),
        json!({"executableCode": {"language": "PYTHON", "code": "print(1)"}}),
        json!({"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}}),
        json!({"videoMetadata": {"fps": 2}}),
    ];
    for k in kinds {
        let p = part(k.clone());
        assert_eq!(serde_json::to_value(&p).unwrap(), k, "round trip");
    }
    assert!(matches!(
        part(json!({"text": "t", "thought": true})).data,
        PartData::Thought(_)
    ));
    assert!(matches!(
        part(json!({"videoMetadata": {}})).data,
        PartData::Unknown
    ));
}

#[test]
fn unknown_fields_survive_at_every_level() {
    let v = json!({
        "candidates": [{
            "content": {"role": "model", "parts": [{"text": "a"}], "newContentField": 1},
            "finishReason": "SOMETHING_NEW",
            "avgLogprobs": -0.5,
            "groundingMetadata": {"webSearchQueries": ["q"]}
        }],
        "promptFeedback": {"blockReason": "", "safetyRatings": []},
        "usageMetadata": {"promptTokenCount": 3, "trafficType": "PROVISIONED_THROUGHPUT"},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1"
    });
    let r = parse(v.clone());
    assert_eq!(serde_json::to_value(&r).unwrap(), v);
    assert_eq!(
        r.candidates[0].finish(),
        Some(&FinishReason::Other("SOMETHING_NEW".into()))
    );
}

#[test]
fn content_and_empty_reply_rules() {
    let r = |v: Value| parse(v);
    assert_eq!(r(json!({})).is_empty_reply(), Some(EmptyKind::NoCandidates));
    assert_eq!(
        r(json!({"error": {"code": 500}})).is_empty_reply(),
        Some(EmptyKind::ErrorBody)
    );
    assert_eq!(
        r(json!({"candidates": [{"content": {"parts": [{"text": "  "}]}}]})).is_empty_reply(),
        Some(EmptyKind::EmptyText)
    );
    assert_eq!(
        r(json!({"candidates": [{"content": {"parts": [{"text": "x", "thought": true}]}}]}))
            .is_empty_reply(),
        Some(EmptyKind::ThoughtsOnly)
    );
    assert_eq!(
        r(json!({"promptFeedback": {"blockReason": "SAFETY"}})).is_empty_reply(),
        None,
        "a blocked prompt is an answer"
    );
    assert_eq!(
        r(json!({"candidates": [{"finishReason": "SAFETY"}]})).is_empty_reply(),
        None
    );
    for p in [
        json!({"functionCall": {"name": "f"}}),
        json!({"inlineData": {"mimeType": "image/png", "data": "x"}}),
        json!({"executableCode": {"code": "1"}}),
        json!({"text": "answer"}),
    ] {
        let resp = r(json!({"candidates": [{"content": {"parts": [p]}}]}));
        assert!(resp.has_content());
        assert_eq!(resp.is_empty_reply(), None);
    }
    let resp = r(json!({"candidates": [{"content": {"parts": [
        {"text": "thinking", "thought": true, "thoughtSignature": "s1"},
        {"text": "Hello "}, {"text": "world"}
    ]}, "finishReason": "STOP"}]}));
    assert_eq!(resp.text(), "Hello world");
    assert_eq!(resp.thought_signature(), Some("s1"));
    assert_eq!(resp.finish(), Some(&FinishReason::Stop));
    assert!(
        part(json!({"text": "...", "thoughtSignature": SKIP_THOUGHT_SIGNATURE})).is_placeholder()
    );
    assert!(!part(json!({"text": "..."})).is_placeholder());
}

#[test]
fn part_data_precedence_and_leftovers() {
    // A string `text` wins over every other data field; the others stay as sent.
    let p = part(json!({"functionCall": {"name": "f"}, "text": "t", "z": 1, "a": 2}));
    assert_eq!(p.data, PartData::Text("t".into()));
    let keys: Vec<&str> = p.extra.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["functionCall", "z", "a"],
        "unknown fields keep their order"
    );
    // A `text` that is not a string is not text.
    let p = part(json!({"text": 5, "inlineData": {"mimeType": "image/png", "data": "x"}}));
    assert!(matches!(p.data, PartData::InlineData(_)));
    assert_eq!(p.extra.get("text"), Some(&json!(5)));
    // thoughtSignature: a string is read, null is dropped, anything else is kept.
    assert_eq!(
        part(json!({"text": "t", "thoughtSignature": null}))
            .extra
            .len(),
        0
    );
    let p = part(json!({"text": "t", "thoughtSignature": 7}));
    assert_eq!(
        (p.thought_signature, p.extra.get("thoughtSignature")),
        (None, Some(&json!(7)))
    );
    // `thought: true` on a part without text stays in extra.
    let p = part(json!({"functionCall": {"name": "f"}, "thought": true}));
    assert!(matches!(p.data, PartData::FunctionCall(_)));
    assert_eq!(p.extra.get("thought"), Some(&json!(true)));
    // A repeated key keeps its last value, like a JSON object map.
    let p: Part = serde_json::from_str(r#"{"text": "a", "text": "b"}"#).expect("parses");
    assert_eq!(p.data, PartData::Text("b".into()));
    // Wrong types are errors, as with the derived readers.
    assert!(serde_json::from_value::<Part>(json!({"functionCall": "f"})).is_err());
    assert!(
        serde_json::from_value::<GenerateContentResponse>(json!({"candidates": null})).is_err()
    );
    assert!(
        serde_json::from_value::<GenerateContentResponse>(json!({"candidates": [{"index": -1}]}))
            .is_err()
    );
    assert!(serde_json::from_value::<GenerateContentResponse>(json!([])).is_err());
}

#[test]
fn text_and_bytes_read_the_same_as_values() {
    let v = json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "é \"q\" \\ \u{1F600}", "thought": true, "thoughtSignature": "s"},
            {"functionCall": {"id": "1", "name": "f", "args": {"a": [1, 2.5, null]}}},
            {"executableCode": {"language": "PYTHON", "code": "1"}, "partMetadata": {}}
        ]}, "finishReason": "MAX_TOKENS", "index": 0, "safetyRatings": []}],
        "usageMetadata": {"promptTokenCount": 1, "totalTokenCount": 2, "promptTokensDetails": []},
        "promptFeedback": {"blockReason": null},
        "error": null,
        "modelVersion": "m"
    });
    let text = v.to_string();
    let from_value = parse(v);
    let from_str: GenerateContentResponse = serde_json::from_str(&text).expect("parses");
    let from_slice: GenerateContentResponse =
        serde_json::from_slice(text.as_bytes()).expect("parses");
    assert_eq!(from_str, from_value);
    assert_eq!(from_slice, from_value);
    assert_eq!(
        from_value.candidates[0].finish(),
        Some(&FinishReason::MaxTokens)
    );
    assert!(from_value.error.is_none() && from_value.prompt_feedback.is_some());
}

/// A response as Google sends it comes back out byte for byte: the typed top-level and
/// usage fields are declared in Google's order.
#[test]
fn google_shaped_response_reserialises_byte_for_byte() {
    let text = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"ntence."}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":13,"candidatesTokenCount":14,"thoughtsTokenCount":18,"totalTokenCount":45,"trafficType":"PROVISIONED_THROUGHPUT","promptTokensDetails":[{"modality":"TEXT","tokenCount":13}],"candidatesTokensDetails":[{"modality":"TEXT","tokenCount":14}]},"modelVersion":"gemini-2.5-flash","createTime":"2026-12-06T22:16:00.710837Z","responseId":"rZMSrXmfkDJ-fF6DKvQy_Q"}"#;
    let r: GenerateContentResponse = serde_json::from_str(text).expect("parses");
    assert_eq!(r.model_version.as_deref(), Some("gemini-2.5-flash"));
    let usage = r.usage_metadata.as_ref().expect("usage");
    assert_eq!(usage.prompt_tokens_details.as_ref().map(Vec::len), Some(1));
    assert!(r.extra.is_empty() && usage.extra.is_empty());
    assert_eq!(serde_json::to_string(&r).unwrap(), text);
    // Present-but-empty lists stay present.
    let u: UsageMetadata = serde_json::from_str(r#"{"promptTokensDetails":[]}"#).unwrap();
    assert_eq!(
        serde_json::to_string(&u).unwrap(),
        r#"{"promptTokensDetails":[]}"#
    );
}
