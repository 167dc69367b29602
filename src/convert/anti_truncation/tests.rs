//! Anti-truncation continuation (catalogue cases 52–53) and the marker filter's properties.
use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::convert::response::ResponseOptions;
use crate::convert::stream::OpenAiStreamTranslator;

fn original() -> Value {
    json!({"model": "gemini-2.5-pro", "project": "p", "request": {
        "contents": [{"role": "user", "parts": [{"text": "write"}]}],
        "systemInstruction": {"parts": [{"text": "be brief"}]}}})
}

fn ev(text: &str, finish: Option<&str>) -> GenerateContentResponse {
    let mut cand = json!({"content": {"role": "model", "parts": [{"text": text}]}});
    if let Some(f) = finish {
        cand["finishReason"] = json!(f);
    }
    crate::convert::response::parse_response(
        json!({"response": {"candidates": [cand]}, "traceId": "t"}),
    )
    .unwrap()
}

fn contents(v: &Value) -> &Vec<Value> {
    v["request"]["contents"].as_array().expect("contents")
}

#[test]
fn prepare_appends_once_and_handles_shapes() {
    let mut req = original();
    prepare(&mut req);
    let parts = req["request"]["systemInstruction"]["parts"]
        .as_array()
        .expect("parts");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["text"], "be brief");
    assert_eq!(parts[1]["text"], MARKER_INSTRUCTION);
    prepare(&mut req);
    assert_eq!(
        req["request"]["systemInstruction"]["parts"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let mut bare = json!({"contents": []});
    prepare(&mut bare);
    assert_eq!(
        bare["systemInstruction"]["parts"][0]["text"],
        MARKER_INSTRUCTION
    );

    let mut own =
        json!({"contents": [], "systemInstruction": {"parts": [{"text": "End with [DONE]."}]}});
    prepare(&mut own);
    assert_eq!(
        own["systemInstruction"]["parts"].as_array().map(Vec::len),
        Some(1)
    );

    let mut snake = json!({"contents": [], "system_instruction": {"parts": [{"text": "x"}]}});
    prepare(&mut snake);
    assert_eq!(
        snake["system_instruction"]["parts"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert!(snake.get("systemInstruction").is_none());
}

/// A reply cut short is continued and the client sees one stream, driven through the OpenAI
/// translator as the dispatcher would.
#[test]
fn case_52_continuation_and_client_view() {
    let mut req = original();
    prepare(&mut req);
    let prepared = req.clone();
    assert!(
        req["request"]["systemInstruction"]
            .to_string()
            .contains("[done]")
    );

    let opts = ResponseOptions {
        model: "gemini-2.5-pro".into(),
        tool_name_map: HashMap::new(),
        return_thoughts: true,
    };
    let mut t = OpenAiStreamTranslator::new(opts, false);
    let mut filter = MarkerFilter::new();
    let mut sent = Vec::new();

    // Attempt 1: "A", ends with STOP but no marker.
    let mut e = ev("A", Some("STOP"));
    filter.filter_event(&mut e);
    sent.extend(t.on_event(&e));
    assert!(!filter.seen());
    let attempt2 = continuation(&prepared, filter.collected());
    assert_eq!(
        contents(&attempt2),
        &vec![
            json!({"role": "user", "parts": [{"text": "write"}]}),
            json!({"role": "model", "parts": [{"text": "A"}]}),
        ]
    );
    assert_eq!(
        attempt2["request"]["systemInstruction"],
        prepared["request"]["systemInstruction"]
    );

    // Attempt 2: "B [done]".
    t.new_attempt();
    let mut e = ev("B [done]", Some("STOP"));
    filter.filter_event(&mut e);
    sent.extend(t.on_event(&e));
    assert!(filter.seen());
    let rest = filter.flush();
    assert!(rest.is_empty());
    sent.extend(t.finish());
    let texts: Vec<&str> = sent
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(texts, vec!["A", "B"]);
    let finishes: Vec<&Value> = sent
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, vec![&json!("stop")], "exactly one final chunk");

    // A third attempt carries one model turn with all text, not one per attempt (the
    // reference appends one per attempt).
    let mut f2 = MarkerFilter::new();
    f2.push("A");
    f2.push("B");
    let attempt3 = continuation(&prepared, f2.collected());
    assert_eq!(contents(&attempt3).len(), 2);
    assert_eq!(
        contents(&attempt3)[1],
        json!({"role": "model", "parts": [{"text": "AB"}]})
    );
}

#[test]
fn continuation_extends_a_client_prefill_and_ignores_empty_text() {
    let orig = json!({"contents": [
        {"role": "user", "parts": [{"text": "q"}]},
        {"role": "model", "parts": [{"text": "Sure:"}]}]});
    let next = continuation(&orig, " one");
    let c = next["contents"].as_array().expect("contents");
    assert_eq!(c.len(), 2);
    assert_eq!(c[1]["parts"], json!([{"text": "Sure:"}, {"text": " one"}]));
    assert_eq!(continuation(&orig, ""), orig);
}

/// The marker split across chunks never reaches the client (the reference lets the pieces
/// through).
#[test]
fn case_53_split_marker_is_stripped() {
    let mut f = MarkerFilter::new();
    let mut out = f.push("All good.\n[do");
    assert_eq!(out, "All good.");
    assert!(!f.seen());
    out.push_str(&f.push("ne]\n"));
    out.push_str(&f.flush());
    assert_eq!(out, "All good.");
    assert!(f.seen());

    let mut f = MarkerFilter::new();
    let mut out = f.push("x [");
    out.push_str(&f.push("DoNe"));
    out.push_str(&f.push("]"));
    assert_eq!(out + &f.flush(), "x");
    assert!(f.seen());
}

#[test]
fn false_prefixes_are_released() {
    let mut f = MarkerFilter::new();
    assert_eq!(f.push("array["), "array");
    assert_eq!(f.push("0] and [d"), "[0] and");
    assert_eq!(f.flush(), " [d");
    assert!(!f.seen());
    assert_eq!(f.collected(), "array[0] and [d");
}

#[test]
fn thoughts_do_not_count() {
    let mut f = MarkerFilter::new();
    let mut e =
        crate::convert::response::parse_response(json!({"candidates": [{"content": {"parts": [
        {"text": "I will write [done] at the end", "thought": true},
        {"text": "answer"}]}}]}))
        .unwrap();
    f.filter_event(&mut e);
    assert!(!f.seen());
    assert_eq!(f.collected(), "answer");
    assert_eq!(
        e.candidates[0].parts()[0].data,
        PartData::Thought("I will write [done] at the end".into())
    );
}

#[test]
fn take_finish_text_event_and_visibility() {
    let mut e = ev("x", Some("STOP"));
    assert_eq!(take_finish(&mut e), Some(FinishReason::Stop));
    assert!(e.candidates[0].finish_reason.is_none());
    assert_eq!(take_finish(&mut e), None);
    assert_eq!(text_event("held").text(), "held");
    assert!(has_visible(&text_event("held")));
    assert!(
        !has_visible(&text_event("")),
        "a part emptied by the filter is not sent"
    );
}

/// The non-streaming meaning of the filter: remove every `\s*[done]\s*` (ASCII
/// case-insensitive), written independently of the filter.
fn reference_strip(text: &str) -> (String, bool) {
    let chars: Vec<char> = text.chars().collect();
    let marker: Vec<char> = DONE_MARKER.chars().collect();
    let is_marker_at = |i: usize| {
        i + marker.len() <= chars.len()
            && chars[i..i + marker.len()]
                .iter()
                .zip(&marker)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    };
    let mut out: Vec<char> = Vec::new();
    let mut i = 0;
    let mut seen = false;
    while i < chars.len() {
        if is_marker_at(i) {
            seen = true;
            while out.last().is_some_and(|c| c.is_whitespace()) {
                out.pop();
            }
            i += marker.len();
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    (out.into_iter().collect(), seen)
}

fn arb_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "[done]", "[DONE]", "[Done]", "[do", "ne]", "[", "]", " ", "\n", "a", "世", "d", "one",
        ]),
        0..20,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn any_split_equals_whole_text_without_marker(
        text in arb_text(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| bounds[c.index(bounds.len())]).collect();
        points.sort_unstable();
        let mut f = MarkerFilter::new();
        let mut out = String::new();
        let mut prev = 0;
        for p in points {
            out.push_str(&f.push(&text[prev..p]));
            prev = p;
        }
        out.push_str(&f.push(&text[prev..]));
        out.push_str(&f.flush());
        let (expected, seen) = reference_strip(&text);
        prop_assert_eq!(&out, &expected);
        prop_assert_eq!(f.seen(), seen);
        prop_assert_eq!(f.collected(), text.as_str());
    }

    #[test]
    fn text_with_a_marker_never_leaks_it(
        before in "[a-z \n]{0,30}",
        after in "[ \n]{0,3}",
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let text = format!("{before}[done]{after}");
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(text.len() + 1)).collect();
        points.sort_unstable();
        let mut f = MarkerFilter::new();
        let mut out = String::new();
        let mut prev = 0;
        for p in points {
            out.push_str(&f.push(&text[prev..p]));
            prev = p;
        }
        out.push_str(&f.push(&text[prev..]));
        out.push_str(&f.flush());
        prop_assert!(f.seen());
        prop_assert_eq!(out, before.trim_end());
    }
}
