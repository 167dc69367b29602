use std::time::{Duration, Instant};

use gcli2api::simulator::{Fault, FaultRule, LineEnding, MalformedSse, Pacing};
use serde_json::{Value, json};

use super::{env, envelope, event_text, sse_events};

fn pacing(chunk_chars: usize, line_ending: LineEnding) -> Pacing {
    Pacing {
        chunk_chars,
        line_ending,
        ..Pacing::default()
    }
}

#[tokio::test]
async fn sse_framing_bytes_crlf_by_default() {
    let e = env().await;
    e.sim.set_pacing(pacing(8, LineEnding::Crlf));
    let body = envelope(&e.user, "gemini-2.5-flash", "stream this please");
    let s = e.stream_raw(&body).await;
    assert_eq!(s.status, 200);
    assert!(!s.failed);
    assert_eq!(s.header("content-type"), "text/event-stream");
    let raw = s.text();
    // "Echo: stream this please" = 24 chars → 3 events of 8.
    let events: Vec<&str> = raw.split_inclusive("\r\n\r\n").collect();
    assert_eq!(events.len(), 3);
    for ev in &events {
        assert!(ev.starts_with("data: {\"response\": {"), "{ev:?}");
        assert!(ev.ends_with("}\r\n\r\n"));
        assert_eq!(
            ev.matches("\r\n").count(),
            2,
            "a single data line per event"
        );
        assert!(!ev.contains("\n\n") || ev.ends_with("\r\n\r\n"));
    }
    assert!(!raw.contains("[DONE]"));
    let parsed = sse_events(&s.body);
    let trace = s.header("x-cloudaicompanion-trace-id");
    assert!(parsed.iter().all(|p| p["traceId"] == trace));
    let text: String = parsed.iter().map(event_text).collect();
    assert_eq!(text, "Echo: stream this please");
    assert_eq!(event_text(&parsed[0]), "Echo: st");
    for ev in &parsed[..2] {
        assert!(
            ev["response"]["candidates"][0]
                .get("finishReason")
                .is_none()
        );
        assert!(ev["response"].get("usageMetadata").is_none());
    }
    let last = &parsed[2]["response"];
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    let u = &last["usageMetadata"];
    assert_eq!(
        u["totalTokenCount"].as_u64().unwrap(),
        u["promptTokenCount"].as_u64().unwrap()
            + u["candidatesTokenCount"].as_u64().unwrap()
            + u["thoughtsTokenCount"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn lf_framing_partial_usage_thoughts_and_array_mode() {
    let e = env().await;
    e.sim.set_pacing(Pacing {
        partial_usage: true,
        ..pacing(10, LineEnding::Lf)
    });
    let mut body = envelope(&e.user, "gemini-2.5-pro", "hello");
    body["request"]["generationConfig"] = json!({"thinkingConfig": {"includeThoughts": true}});
    let s = e.stream_raw(&body).await;
    let raw = s.text();
    assert!(!raw.contains('\r'));
    assert!(raw.ends_with("}\n\n"));
    let events = sse_events(&s.body);
    let first_part = &events[0]["response"]["candidates"][0]["content"]["parts"][0];
    assert_eq!(first_part["thought"], true, "thoughts come first");
    assert!(events[0]["response"]["usageMetadata"]["promptTokenCount"].is_u64());
    let text: String = events.iter().map(event_text).collect();
    assert_eq!(text, "Echo: hello");

    let s = e
        .stream_path("/v1internal:streamGenerateContent", &body)
        .await;
    let arr: Value = serde_json::from_slice(&s.body).unwrap();
    assert_eq!(arr.as_array().unwrap().len(), events.len());
}

#[tokio::test]
async fn tool_call_arrives_whole_in_one_event() {
    let e = env().await;
    e.sim.set_pacing(pacing(4, LineEnding::Crlf));
    let mut body = envelope(&e.user, "gemini-3-flash-preview", "call the tool");
    body["request"]["tools"] = json!([{"functionDeclarations": [{"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}]}]);
    let events = sse_events(&e.stream_raw(&body).await.body);
    let with_call: Vec<&Value> = events
        .iter()
        .filter(|ev| ev.to_string().contains("functionCall"))
        .collect();
    assert_eq!(with_call.len(), 1);
    let part = &with_call[0]["response"]["candidates"][0]["content"]["parts"][0];
    assert_eq!(part["functionCall"]["args"], json!({"q": "q-value"}));
    assert!(part["thoughtSignature"].is_string());
    assert_eq!(
        events.last().unwrap()["response"]["candidates"][0]["finishReason"],
        "STOP"
    );
}

#[tokio::test]
async fn abrupt_cut_ends_the_body_mid_event() {
    let e = env().await;
    e.sim.set_pacing(pacing(4, LineEnding::Crlf));
    let body = envelope(&e.user, "gemini-2.5-flash", "a long enough prompt");
    e.sim.push_fault(FaultRule::once(Fault::StreamCut {
        after_events: 2,
        mid_event: true,
    }));
    let s = e.stream_raw(&body).await;
    assert_eq!(s.status, 200);
    assert!(s.failed, "the chunked body must end with a transport error");
    let raw = s.text();
    assert_eq!(raw.matches("\r\n\r\n").count(), 2);
    assert!(!raw.ends_with("\r\n\r\n"), "half an event at the end");
    assert!(!raw.contains("finishReason"));

    e.sim.push_fault(FaultRule::once(Fault::StreamCut {
        after_events: 1,
        mid_event: false,
    }));
    let s = e.stream_raw(&body).await;
    assert!(s.failed);
    assert_eq!(sse_events(&s.body).len(), 1);

    e.sim.push_fault(FaultRule::once(Fault::StreamCut {
        after_events: 0,
        mid_event: false,
    }));
    let resp = e
        .post_json("/v1internal:generateContent", &e.user.access_token, &body)
        .await;
    assert!(resp.bytes().await.is_err(), "non-stream cut fails too");
}

#[tokio::test]
async fn clean_ends_empty_streams_and_error_events() {
    let e = env().await;
    e.sim.set_pacing(pacing(4, LineEnding::Crlf));
    let body = envelope(&e.user, "gemini-2.5-flash", "another long prompt");
    e.sim
        .push_fault(FaultRule::once(Fault::EndWithoutFinish { after_events: 3 }));
    let s = e.stream_raw(&body).await;
    assert!(!s.failed);
    let events = sse_events(&s.body);
    assert_eq!(events.len(), 3);
    assert!(!s.text().contains("finishReason"));

    e.sim.push_fault(FaultRule::once(Fault::EmptyStream));
    let s = e.stream_raw(&body).await;
    assert_eq!((s.status, s.body.len(), s.failed), (200, 0, false));

    e.sim
        .push_fault(FaultRule::once(Fault::InStreamError { after_events: 1 }));
    let s = e.stream_raw(&body).await;
    let events = sse_events(&s.body);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["error"]["code"], 500);
}

#[tokio::test]
async fn malformed_sse_variants() {
    let e = env().await;
    e.sim.set_pacing(pacing(6, LineEnding::Lf));
    let body = envelope(&e.user, "gemini-2.5-flash", "malformed");
    let raw_of = async |variant| {
        e.sim
            .push_fault(FaultRule::once(Fault::MalformedSse { variant }));
        e.stream_raw(&body).await.text()
    };
    let raw = raw_of(MalformedSse::InvalidJsonLine).await;
    let first = raw.split("\n\n").next().unwrap();
    assert!(serde_json::from_str::<Value>(first.trim_start_matches("data: ")).is_err());
    let raw = raw_of(MalformedSse::MultiLineData).await;
    let first = raw.split("\n\n").next().unwrap();
    assert!(first.lines().count() > 3 && first.lines().all(|l| l.starts_with("data: ")));
    let raw = raw_of(MalformedSse::CommentAndFields).await;
    assert!(raw.starts_with(": keep-alive\nevent: message\nid: 0\ndata: {"));
    let raw = raw_of(MalformedSse::MissingBlankLine).await;
    assert!(raw.contains("}\ndata: {"));
    let raw = raw_of(MalformedSse::Bom).await;
    assert!(raw.starts_with("\u{feff}data: {"));
    let raw = raw_of(MalformedSse::NoSpaceAfterData).await;
    assert!(raw.starts_with("data:{") && !raw.contains("data: "));
    let raw = raw_of(MalformedSse::TrailingDone).await;
    assert!(raw.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn pacing_and_slow_first_byte() {
    let e = env().await;
    e.sim.set_pacing(Pacing {
        event_delay_ms: 60,
        ..pacing(8, LineEnding::Crlf)
    });
    let body = envelope(&e.user, "gemini-2.5-flash", "paced output here");
    let t = Instant::now();
    let events = sse_events(&e.stream_raw(&body).await.body);
    assert_eq!(events.len(), 3);
    assert!(t.elapsed() >= Duration::from_millis(120));

    e.sim.set_pacing(Pacing::default());
    e.sim
        .push_fault(FaultRule::once(Fault::SlowFirstByte { delay_ms: 300 }));
    let t = Instant::now();
    let (status, _) = e.generate(&body).await;
    assert_eq!(status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
}
