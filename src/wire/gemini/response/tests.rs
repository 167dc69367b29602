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
