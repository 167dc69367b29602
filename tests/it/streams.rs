use gcli2api::simulator::{EmptyReply, Endpoint, Fault, FaultMatch, FaultRule, Pacing};
use serde_json::{Value, json};

use crate::support::{TestApp, stream_text, user_text};

fn finishes(chunks: &[Value]) -> Vec<String> {
    chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/finish_reason")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn openai_stream_has_role_first_and_one_finish() {
    let app = TestApp::spawn().await;
    let prompt = "a prompt long enough to need several stream events";
    let (status, chunks, raw) = app
        .chat_stream(
            json!({"model": "gemini-2.5-flash", "stream": true, "messages": [user_text(prompt)]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(stream_text(&chunks), format!("Echo: {prompt}"));
    assert_eq!(finishes(&chunks), ["stop"]);
    assert!(raw.ends_with("data: [DONE]\n\n"));
    let ids: std::collections::HashSet<_> = chunks.iter().filter_map(|c| c.get("id")).collect();
    assert_eq!(ids.len(), 1, "all chunks share one id");
}

#[tokio::test]
async fn fake_streaming_sends_heartbeats_then_chunks() {
    let app = TestApp::spawn().await;
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent),
        1,
        Fault::SlowFirstByte { delay_ms: 4500 },
    ));
    let prompt = "x".repeat(120);
    let (status, chunks, raw) = app.chat_stream(json!({"model": "假流式/gemini-2.5-flash", "stream": true, "messages": [user_text(&prompt)]})).await;
    assert_eq!(status, 200);
    assert!(
        raw.starts_with(": keep-alive"),
        "a heartbeat comes before the answer: {:?}",
        &raw[..40.min(raw.len())]
    );
    assert_eq!(stream_text(&chunks), format!("Echo: {prompt}"));
    assert_eq!(finishes(&chunks), ["stop"]);
    let reqs = app.generation_requests();
    assert_eq!(reqs.len(), 1);
    assert!(
        reqs[0].path.ends_with(":generateContent"),
        "fake streaming calls the non-streaming API"
    );
}

#[tokio::test]
async fn fake_streaming_errors_before_commit_are_http_errors() {
    let app = TestApp::spawn().await;
    app.sim
        .push_fault(FaultRule::new(FaultMatch::any(), 0, Fault::BadRequest));
    let r = app.post("/v1/chat/completions", &json!({"model": "fake-stream/gemini-2.5-flash", "stream": true, "messages": [user_text("x")]})).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn anti_truncation_continues_without_stacking_turns_and_hides_the_marker() {
    let app = TestApp::spawn().await;
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::StreamGenerateContent),
        2,
        Fault::IgnoreDoneMarker,
    ));
    let (status, chunks, _) = app.chat_stream(json!({"model": "流式抗截断/gemini-2.5-flash", "stream": true, "messages": [user_text("tell me everything")]})).await;
    assert_eq!(status, 200);
    let text = stream_text(&chunks);
    assert!(!text.contains("[done]"), "marker leaked: {text:?}");
    assert_eq!(finishes(&chunks), ["stop"]);
    let reqs = app.generation_requests();
    assert_eq!(reqs.len(), 3, "three attempts");
    let first = reqs[0].json().unwrap()["request"]["contents"]
        .as_array()
        .unwrap()
        .len();
    for r in &reqs[1..] {
        let contents = r.json().unwrap()["request"]["contents"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(
            contents.len(),
            first + 1,
            "exactly one prefill turn, never stacked"
        );
        assert_eq!(contents.last().unwrap()["role"], "model");
    }
    assert!(
        reqs[0].json().unwrap()["request"]["systemInstruction"]
            .to_string()
            .contains("[done]")
    );
    // Attempt 1 said the full answer; continuations add nothing new, so nothing is repeated.
    assert_eq!(text, "Echo: tell me everything");
}

#[tokio::test]
async fn anti_truncation_stops_after_max_attempts() {
    let app = crate::support::builder()
        .env("ANTI_TRUNCATION_MAX_ATTEMPTS", "2")
        .spawn()
        .await;
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::StreamGenerateContent),
        0,
        Fault::IgnoreDoneMarker,
    ));
    let (status, chunks, raw) = app.chat_stream(json!({"model": "anti-truncation/gemini-2.5-flash", "stream": true, "messages": [user_text("go")]})).await;
    assert_eq!(status, 200);
    assert_eq!(app.generation_requests().len(), 2);
    assert_eq!(finishes(&chunks), ["stop"]);
    assert!(raw.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn a_cut_stream_ends_with_an_error_event_and_no_duplicated_text() {
    let app = TestApp::spawn().await;
    app.sim.set_pacing(Pacing {
        chunk_chars: 4,
        ..Pacing::default()
    });
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::StreamGenerateContent),
        1,
        Fault::StreamCut {
            after_events: 3,
            mid_event: true,
        },
    ));
    let (status, chunks, raw) = app.chat_stream(json!({"model": "gemini-2.5-flash", "stream": true, "messages": [user_text("cut me off please")]})).await;
    assert_eq!(status, 200);
    let text = stream_text(&chunks);
    assert!(
        "Echo: cut me off please".starts_with(&text) && !text.is_empty(),
        "partial text, never replayed: {text:?}"
    );
    assert!(
        chunks.iter().any(|c| c.get("error").is_some()),
        "an error event tells the client: {raw}"
    );
    assert!(raw.ends_with("data: [DONE]\n\n"));
    assert_eq!(
        app.generation_requests().len(),
        1,
        "nothing is replayed after the first byte"
    );
}

#[tokio::test]
async fn empty_replies_are_retried_on_another_credential() {
    let app = TestApp::spawn().await;
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent),
        1,
        Fault::EmptyReply {
            variant: EmptyReply::EmptyText,
        },
    ));
    let (status, b) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("again")]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(b["choices"][0]["message"]["content"], "Echo: again");
    let reqs = app.generation_requests();
    assert_eq!(reqs.len(), 2);
    assert_ne!(
        reqs[0].email, reqs[1].email,
        "the retry used another credential"
    );

    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::StreamGenerateContent),
        1,
        Fault::EmptyStream,
    ));
    let (status, chunks, _) = app.chat_stream(json!({"model": "gemini-2.5-flash", "stream": true, "messages": [user_text("stream again")]})).await;
    assert_eq!(status, 200);
    assert_eq!(stream_text(&chunks), "Echo: stream again");
    assert_eq!(app.generation_requests().len(), 4);
}

#[tokio::test]
async fn empty_replies_everywhere_give_a_clear_error() {
    let app = crate::support::builder()
        .users(1)
        .env("RETRY_429_MAX_RETRIES", "1")
        .spawn()
        .await;
    app.sim.push_fault(FaultRule::new(
        FaultMatch::any(),
        0,
        Fault::EmptyReply {
            variant: EmptyReply::ResponseEmpty,
        },
    ));
    let (status, b) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("x")]}))
        .await;
    assert_eq!(status, 502, "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("empty"),
        "{b}"
    );
}

#[tokio::test]
async fn errors_before_the_first_byte_are_plain_http_errors() {
    let app = crate::support::builder()
        .users(1)
        .env("RETRY_429_ENABLED", "false")
        .spawn()
        .await;
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::StreamGenerateContent),
        1,
        Fault::RateLimitExceeded {
            retry_delay_ms: 500,
        },
    ));
    let r = app
        .post(
            "/v1/chat/completions",
            &json!({"model": "gemini-2.5-flash", "stream": true, "messages": [user_text("x")]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "RATE_LIMIT_EXCEEDED");
}

/// Clients that give up while queued for the only slot: the queue drains to zero and the next
/// request is served. (Since the server loop of src/server.rs, a queued request whose client
/// hangs up is dropped with its connection; the cancelled-future case, where the place used to
/// leak, is also the limiter's unit test with 100 aborted waiters.)
#[tokio::test]
async fn the_queue_drains_after_clients_give_up_and_the_next_request_is_served() {
    let app = crate::support::builder()
        .env("MAX_CONCURRENT_REQUESTS", "1")
        .spawn()
        .await;
    app.sim.set_pacing(Pacing {
        chunk_chars: 4,
        event_delay_ms: 100,
        ..Pacing::default()
    });
    let body = json!({"model": "gemini-2.5-flash", "stream": true,
                      "messages": [user_text("hold the only slot for a while")]});
    let holder = app
        .post("/v1/chat/completions", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(holder.status(), 200);
    for _ in 0..4 {
        let quick = json!({"model": "gemini-2.5-flash", "messages": [user_text("x")]});
        let req = app.post("/v1/chat/completions", &quick);
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), req.send()).await;
    }
    // The server drops a request whose client hung up while it waited (the connection ends
    // with it), so at most the last one can still be queued here.
    assert!(
        app.state.limiter.waiting() <= 1,
        "given-up clients leave the queue"
    );
    let text = holder.text().await.unwrap();
    assert!(text.contains("[DONE]"));
    let drained = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while app.state.limiter.waiting() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(drained.is_ok(), "the queue drains to zero");
    let (status, _) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("after")]}))
        .await;
    assert_eq!(status, 200);
}
