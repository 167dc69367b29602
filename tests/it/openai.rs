use serde_json::{Value, json};

use crate::support::{TestApp, user_text};

#[tokio::test]
async fn chat_sends_the_code_assist_envelope_and_converts_the_answer() {
    let app = TestApp::spawn().await;
    let (status, b) = app
        .chat(
            json!({"model": "gemini-2.5-flash", "temperature": 0.3, "max_tokens": 50,
            "messages": [{"role": "system", "content": "be brief"}, user_text("hello envelope")]}),
        )
        .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["object"], "chat.completion");
    assert_eq!(
        b["choices"][0]["message"]["content"],
        "Echo: hello envelope"
    );
    assert_eq!(b["choices"][0]["finish_reason"], "stop");
    let reqs = app.generation_requests();
    assert_eq!(reqs.len(), 1);
    let env = reqs[0].json().unwrap();
    assert_eq!(env["model"], "gemini-2.5-flash");
    let users: Vec<&str> = app.users.iter().map(|u| u.project_id.as_str()).collect();
    assert!(users.contains(&env["project"].as_str().unwrap()));
    assert_eq!(
        env["request"]["systemInstruction"]["parts"][0]["text"],
        "be brief"
    );
    assert_eq!(env["request"]["generationConfig"]["temperature"], 0.3);
    // What the client asked for is respected: no forced 64000 / topK 64.
    assert_eq!(env["request"]["generationConfig"]["maxOutputTokens"], 50);
    assert!(env["request"]["generationConfig"].get("topK").is_none());
    assert!(
        reqs[0]
            .header("user-agent")
            .unwrap()
            .starts_with("GeminiCLI/")
    );
}

#[tokio::test]
async fn thinking_variants_reach_upstream_and_come_back_as_reasoning() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            "gemini-2.5-pro-high",
            json!({"thinkingBudget": 16000, "includeThoughts": true}),
        ),
        (
            "gemini-2.5-flash-max",
            json!({"thinkingBudget": 24576, "includeThoughts": true}),
        ),
        (
            "gemini-3-flash-preview-low",
            json!({"thinkingLevel": "low", "includeThoughts": true}),
        ),
    ];
    for (model, expected) in cases {
        let (status, b) = app
            .chat(json!({"model": model, "messages": [user_text("think please")]}))
            .await;
        assert_eq!(status, 200, "{model}: {b}");
        let sent = app.generation_requests().pop().unwrap();
        let tc = &sent.json().unwrap()["request"]["generationConfig"]["thinkingConfig"];
        for (k, v) in expected.as_object().unwrap() {
            assert_eq!(
                tc[k].to_string().to_lowercase(),
                v.to_string().to_lowercase(),
                "{model} {k}"
            );
        }
        let msg = &b["choices"][0]["message"];
        assert!(
            msg["reasoning_content"]
                .as_str()
                .unwrap()
                .contains("Planning the reply"),
            "{model}"
        );
        assert!(
            !msg["content"].as_str().unwrap().contains("Planning"),
            "thoughts never leak into content"
        );
        assert!(
            b["usage"]["completion_tokens_details"]["reasoning_tokens"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
}

#[tokio::test]
async fn search_suffix_adds_google_search() {
    let app = TestApp::spawn().await;
    let (status, _) = app
        .chat(json!({"model": "gemini-2.5-flash-search", "messages": [user_text("news")]}))
        .await;
    assert_eq!(status, 200);
    let sent = app.generation_requests().pop().unwrap();
    let env = sent.json().unwrap();
    assert_eq!(env["model"], "gemini-2.5-flash");
    assert!(
        env["request"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.get("googleSearch").is_some())
    );
}

#[tokio::test]
async fn hot_setting_changes_behaviour_without_restart() {
    let app = TestApp::spawn().await;
    let body = json!({"model": "gemini-2.5-pro", "messages": [user_text("hot")]});
    let (_, b) = app.chat(body.clone()).await;
    assert!(b["choices"][0]["message"]["reasoning_content"].is_string());
    app.state
        .settings
        .update(vec![("return_thoughts".into(), json!(false))])
        .await
        .unwrap();
    let (_, b) = app.chat(body).await;
    assert!(
        b["choices"][0]["message"]
            .get("reasoning_content")
            .is_none(),
        "{b}"
    );
    let sent = app.generation_requests().pop().unwrap();
    assert_eq!(
        sent.json().unwrap()["request"]["generationConfig"]["thinkingConfig"]["includeThoughts"],
        false
    );
}

const TOOLS: &str = r#"[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]"#;

#[tokio::test]
async fn gemini_3_tool_loop_succeeds_through_the_openai_endpoint() {
    let app = TestApp::spawn().await;
    let tools: Value = serde_json::from_str(TOOLS).unwrap();
    let mut messages = vec![user_text("call get_weather for Paris")];
    let (status, b) = app
        .chat(json!({"model": "gemini-3-flash-preview", "messages": messages, "tools": tools}))
        .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["choices"][0]["finish_reason"], "tool_calls");
    let call = b["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "get_weather");
    // The simulator sent a thoughtSignature with the call.
    messages.push(b["choices"][0]["message"].clone());
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "{\"temp\": 21}"}));
    let (status, b) = app
        .chat(json!({"model": "gemini-3-flash-preview", "messages": messages, "tools": tools}))
        .await;
    assert_eq!(
        status, 200,
        "Gemini 3 rejects history without signatures: {b}"
    );
    assert!(
        b["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("Result of get_weather"),
        "{b}"
    );
    let sent = app.generation_requests().pop().unwrap();
    let contents = &sent.json().unwrap()["request"]["contents"];
    let model_turn = contents
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == "model")
        .unwrap();
    assert!(model_turn["parts"][0]["thoughtSignature"].is_string());
    assert_eq!(
        contents[2]["parts"][0]["functionResponse"]["response"]["temp"],
        21
    );
}

#[tokio::test]
async fn gemini_body_on_the_openai_route_is_answered_in_openai_format() {
    let app = TestApp::spawn().await;
    let (status, b) = app.chat(json!({"model": "gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "native body"}]}]})).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["choices"][0]["message"]["content"], "Echo: native body");
}

#[tokio::test]
async fn upstream_errors_keep_status_and_reason_in_each_format() {
    use gcli2api::simulator::{Fault, FaultRule};
    let app = TestApp::spawn().await;
    app.sim.push_fault(FaultRule::once(Fault::UnknownField {
        name: "size".into(),
    }));
    let (status, b) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("x")]}))
        .await;
    assert_eq!(status, 400);
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown name"),
        "{b}"
    );
    assert_eq!(b["error"]["type"], "invalid_request_error");
    app.sim.push_fault(FaultRule::once(Fault::UnknownField {
        name: "size".into(),
    }));
    let r = app
        .post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            &json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        b["error"]["details"].is_array(),
        "Google's details are relayed: {b}"
    );
    assert_eq!(app.generation_requests().len(), 2, "a 400 is not retried");
}

#[tokio::test]
async fn internal_image_urls_are_refused_and_data_urls_forwarded() {
    let app = TestApp::spawn().await;
    let (status, b) = app.chat(json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://169.254.169.254/x.png"}}]}]})).await;
    assert_eq!(status, 400);
    assert!(
        b["error"]["message"].as_str().unwrap().contains("data:"),
        "{b}"
    );
    let (status, _) = app.chat(json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]})).await;
    assert_eq!(status, 200);
    let sent = app.generation_requests().pop().unwrap();
    assert_eq!(
        sent.json().unwrap()["request"]["contents"][0]["parts"][1]["inlineData"]["mimeType"],
        "image/png"
    );
}

#[tokio::test]
async fn serving_requests_never_reads_sqlite() {
    let app = TestApp::spawn().await;
    // Warm up: first use of each credential may refresh or identify it.
    for _ in 0..3 {
        assert_eq!(
            app.chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("warm")]}))
                .await
                .0,
            200
        );
    }
    let before = app.state.store.read_count();
    for i in 0..30 {
        let stream = i % 2 == 0;
        let r = app.post("/v1/chat/completions", &json!({"model": "gemini-2.5-pro", "stream": stream, "messages": [user_text("hot path")]})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    assert_eq!(
        app.state.store.read_count(),
        before,
        "the hot path reads only memory"
    );
}

#[tokio::test]
async fn logprobs_reach_upstream_and_come_back_in_openai_shape() {
    let app = TestApp::spawn().await;
    let (status, b) = app
        .chat(
            json!({"model": "gemini-2.5-flash", "logprobs": true, "top_logprobs": 2,
                     "messages": [user_text("probabilities")]}),
        )
        .await;
    assert_eq!(status, 200, "{b}");
    let sent = app.generation_requests().pop().unwrap();
    let g = &sent.json().unwrap()["request"]["generationConfig"];
    assert_eq!(g["responseLogprobs"], true);
    assert_eq!(g["logprobs"], 2);
    let content = b["choices"][0]["logprobs"]["content"].as_array().unwrap();
    let text: String = content
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Echo: probabilities", "tokens spell the answer");
    assert_eq!(content[0]["top_logprobs"].as_array().unwrap().len(), 2);
    assert!(content[0]["logprob"].is_number());

    let (status, chunks, _) = app
        .chat_stream(
            json!({"model": "gemini-2.5-flash", "stream": true, "logprobs": true,
                            "messages": [user_text("streamed probabilities")]}),
        )
        .await;
    assert_eq!(status, 200);
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["logprobs"]["content"].as_array())
        .flatten()
        .map(|t| t["token"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(streamed, "Echo: streamed probabilities");

    let (status, e) = app
        .chat(json!({"model": "gemini-2.5-flash", "top_logprobs": 3,
                     "messages": [user_text("x")]}))
        .await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("top_logprobs")
    );
}

#[tokio::test]
async fn google_thinking_config_in_extra_body_is_honoured() {
    let app = TestApp::spawn().await;
    // Google's documented form nests it in `extra_body`; the OpenAI SDK's `extra_body` merges
    // keys at the top level, so `google` there is accepted too.
    for body in [
        json!({"model": "gemini-2.5-flash", "messages": [user_text("think")],
               "extra_body": {"google": {"thinking_config": {"thinking_budget": 800, "include_thoughts": true}}}}),
        json!({"model": "gemini-2.5-flash", "messages": [user_text("think")],
               "google": {"thinking_config": {"thinking_budget": 800, "include_thoughts": true}}}),
    ] {
        let (status, b) = app.chat(body).await;
        assert_eq!(status, 200, "{b}");
        let sent = app.generation_requests().pop().unwrap();
        assert_eq!(
            sent.json().unwrap()["request"]["generationConfig"]["thinkingConfig"],
            json!({"thinkingBudget": 800, "includeThoughts": true})
        );
        assert!(
            b["choices"][0]["message"]["reasoning_content"]
                .as_str()
                .is_some_and(|r| r.contains("Planning")),
            "{b}"
        );
    }
    let (status, e) = app
        .chat(
            json!({"model": "gemini-2.5-flash", "messages": [user_text("x")],
               "google": {"thinking_config": {"thinking_budget": 10, "thinking_level": "low"}}}),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("not both"));
}

/// An answer that is in memory when the handler returns goes out with its length, as a
/// server's JSON replies do; only streams are sent chunked. Every slot is free again once
/// the bodies are read.
#[tokio::test]
async fn a_whole_answer_has_a_content_length_and_a_stream_is_chunked() {
    let app = TestApp::spawn().await;
    let body = json!({"model": "gemini-2.5-flash", "messages": [user_text("length please")]});
    let r = app
        .post("/v1/chat/completions", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let length: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(r.headers().get("transfer-encoding").is_none());
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len(), length);
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Echo: length please"
    );

    // Errors are whole answers too.
    let r = app
        .post("/v1/chat/completions", &json!({"messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("content-length").is_some());

    let mut stream = body.clone();
    stream["stream"] = json!(true);
    let r = app
        .post("/v1/chat/completions", &stream)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-length").is_none());
    assert_eq!(r.headers()["transfer-encoding"], "chunked");
    assert!(r.text().await.unwrap().ends_with("data: [DONE]\n\n"));
    let limiter = &app.state.limiter;
    assert_eq!(limiter.in_use(limiter.capacity()), 0);
}
