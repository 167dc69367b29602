//! OpenAI's Responses API (`/v1/responses`) against the simulator: answers and streams in
//! OpenAI's shapes, tool loops with Gemini 3 signatures carried in reasoning items, stored
//! responses and `previous_response_id` (also across a restart), errors with `param`, the
//! stream modes, and the accounting.
use gcli2api::simulator::{Endpoint, Fault, FaultMatch, FaultRule, Pacing};
use serde_json::{Value, json};

use crate::support::{KEY, TestApp, builder};

async fn create(app: &TestApp, body: Value) -> (u16, Value) {
    let r = app.post("/v1/responses", &body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A streamed response as `(event name, payload)` pairs; heartbeat comments are skipped.
async fn stream(app: &TestApp, mut body: Value) -> (u16, Vec<(String, Value)>, String) {
    body["stream"] = json!(true);
    let r = app.post("/v1/responses", &body).send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let raw = r.text().await.unwrap();
    if status == 200 {
        assert!(ct.starts_with("text/event-stream"), "{ct}");
    }
    let events = raw
        .split("\n\n")
        .filter(|e| !e.trim().is_empty() && !e.starts_with(':'))
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            let data = e
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or("null");
            (
                name.to_string(),
                serde_json::from_str(data).unwrap_or(Value::Null),
            )
        })
        .collect();
    (status, events, raw)
}

/// The last envelope the gateway sent the simulator.
fn last_sent(app: &TestApp) -> Value {
    app.generation_requests()
        .pop()
        .unwrap()
        .json()
        .unwrap()
        .clone()
}

fn output_text(response: &Value) -> String {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().unwrap().iter())
        .filter_map(|c| c["text"].as_str())
        .collect()
}

const WEATHER: &str = r#"[{"type": "function", "name": "get_weather", "description": "Weather for a city",
  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]"#;

#[tokio::test]
async fn a_plain_answer_in_openai_shape_with_usage() {
    let app = TestApp::spawn().await;
    let (status, b) = create(
        &app,
        json!({"model": "gemini-2.5-flash", "input": "hello responses", "instructions": "be brief",
               "max_output_tokens": 200, "temperature": 0.4, "prompt_cache_key": "k", "service_tier": "auto",
               "safety_identifier": "s", "truncation": "auto", "metadata": {"t": "1"}}),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["object"], "response");
    assert!(b["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(b["status"], "completed");
    assert_eq!(b["model"], "gemini-2.5-flash");
    assert_eq!(output_text(&b), "Echo: hello responses");
    assert_eq!(b["output"][0]["role"], "assistant");
    assert_eq!(b["instructions"], "be brief");
    assert_eq!(b["metadata"], json!({"t": "1"}));
    let u = &b["usage"];
    assert!(u["input_tokens"].as_u64().unwrap() > 0, "{u}");
    assert!(u["output_tokens"].as_u64().unwrap() > 0, "{u}");
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["input_tokens"].as_u64().unwrap() + u["output_tokens"].as_u64().unwrap()
    );
    let sent = last_sent(&app);
    let req = &sent["request"];
    assert_eq!(req["systemInstruction"]["parts"][0]["text"], "be brief");
    assert_eq!(req["generationConfig"]["maxOutputTokens"], 200);
    assert_eq!(req["generationConfig"]["temperature"], 0.4);
}

#[tokio::test]
async fn a_stream_follows_openais_event_order() {
    let app = TestApp::spawn().await;
    app.sim.set_pacing(Pacing {
        chunk_chars: 5,
        ..Pacing::default()
    });
    let (status, events, raw) = stream(
        &app,
        json!({"model": "gemini-2.5-flash", "input": [{"role": "user", "content": [{"type": "input_text", "text": "stream this please"}]}],
               "reasoning": {"summary": "auto"}}),
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names[..3],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added"
        ]
    );
    assert_eq!(*names.last().unwrap(), "response.completed", "{raw}");
    for (i, (name, e)) in events.iter().enumerate() {
        assert_eq!(e["type"], name.as_str());
        assert_eq!(e["sequence_number"], i as u64, "{raw}");
    }
    // Thoughts first, as a reasoning item with a summary, then the message.
    assert_eq!(events[2].1["item"]["type"], "reasoning");
    assert!(names.contains(&"response.reasoning_summary_text.delta"));
    let deltas: String = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, e)| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, "Echo: stream this please");
    assert!(
        names
            .iter()
            .filter(|n| **n == "response.output_text.delta")
            .count()
            > 1,
        "several deltas"
    );
    let done = &events.last().unwrap().1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(output_text(done), deltas);
    assert_eq!(done["output"][0]["type"], "reasoning");
    assert!(
        done["output"][0]["summary"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Planning the reply")
    );
    assert!(
        done["usage"]["output_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// Gemini 3 refuses a replayed call without the signature it issued: the signature travels
/// in the reasoning item's `encrypted_content` and comes back to the upstream intact.
#[tokio::test]
async fn a_gemini_3_tool_loop_keeps_its_signature_through_encrypted_content() {
    let app = TestApp::spawn().await;
    let tools: Value = serde_json::from_str(WEATHER).unwrap();
    let first = json!({"model": "gemini-3-flash-preview", "input": "call:get_weather please",
        "tools": tools, "store": false, "include": ["reasoning.encrypted_content"]});
    let (status, b) = create(&app, first.clone()).await;
    assert_eq!(status, 200, "{b}");
    let output = b["output"].as_array().unwrap();
    let call = output
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap();
    assert_eq!(call["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "city-value"})
    );
    let reasoning = output.iter().find(|i| i["type"] == "reasoning").unwrap();
    assert!(
        reasoning["encrypted_content"]
            .as_str()
            .unwrap()
            .starts_with("gcli2api.gemini.v1:")
    );
    let issued = app.generation_requests().len();

    // The client sends back everything it got, plus the result.
    let mut input = vec![json!({"role": "user", "content": "call:get_weather please"})];
    input.extend(output.iter().cloned());
    input.push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "{\"temp\": 21}"}));
    let (status, b2) = create(
        &app,
        json!({"model": "gemini-3-flash-preview", "input": input, "tools": tools, "store": false}),
    )
    .await;
    assert_eq!(status, 200, "{b2}");
    assert_eq!(output_text(&b2), "Result of get_weather: {\"temp\":21}");
    let sent = app.generation_requests()[issued].json().unwrap().clone();
    let model_turn = &sent["request"]["contents"][1];
    let sig = model_turn["parts"][0]["thoughtSignature"].as_str().unwrap();
    assert_ne!(
        sig,
        gcli2api::simulator::SKIP_SIGNATURE,
        "the real signature came back"
    );
    assert_eq!(
        model_turn["parts"][0]["functionCall"]["name"],
        "get_weather"
    );

    // Without the reasoning item the bypass keeps the loop working.
    let mut bare = vec![
        json!({"role": "user", "content": "call:get_weather please"}),
        call.clone(),
    ];
    bare.push(
        json!({"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}),
    );
    let (status, b3) = create(
        &app,
        json!({"model": "gemini-3-flash-preview", "input": bare, "tools": tools}),
    )
    .await;
    assert_eq!(status, 200, "{b3}");
    assert_eq!(
        output_text(&b3),
        "Result of get_weather: {\"result\":\"sunny\"}"
    );
}

#[tokio::test]
async fn a_streamed_call_comes_as_a_function_call_item() {
    let app = TestApp::spawn().await;
    let tools: Value = serde_json::from_str(WEATHER).unwrap();
    let (status, events, raw) = stream(
        &app,
        json!({"model": "gemini-2.5-flash", "input": "use the get_weather tool", "tools": tools,
               "tool_choice": "auto", "parallel_tool_calls": true}),
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let at = names
        .iter()
        .position(|n| *n == "response.function_call_arguments.delta")
        .unwrap();
    assert_eq!(names[at - 1], "response.output_item.added");
    assert_eq!(names[at + 1], "response.function_call_arguments.done");
    assert_eq!(names[at + 2], "response.output_item.done");
    let item = &events[at + 2].1["item"];
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["status"], "completed");
    assert_eq!(events[at].1["item_id"], item["id"]);
    assert_eq!(*names.last().unwrap(), "response.completed");
}

#[tokio::test]
async fn stored_responses_continue_and_can_be_read_and_deleted() {
    let app = TestApp::spawn().await;
    let (status, first) = create(
        &app,
        json!({"model": "gemini-2.5-flash", "input": "first turn"}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["store"], true);
    let id = first["id"].as_str().unwrap().to_string();

    let (status, second) = create(
        &app,
        json!({"model": "gemini-2.5-flash", "previous_response_id": id, "input": "second turn"}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["previous_response_id"], id.as_str());
    let sent = last_sent(&app);
    let contents = &sent["request"]["contents"];
    assert_eq!(
        contents,
        &json!([
            {"role": "user", "parts": [{"text": "first turn"}]},
            {"role": "model", "parts": [{"text": "Echo: first turn"}]},
            {"role": "user", "parts": [{"text": "second turn"}]},
        ])
    );

    // A chain of three: the third sees both earlier turns.
    let second_id = second["id"].as_str().unwrap();
    let (status, _) = create(
        &app,
        json!({"model": "gemini-2.5-flash", "previous_response_id": second_id, "input": "third"}),
    )
    .await;
    assert_eq!(status, 200);
    let sent = last_sent(&app);
    let contents = &sent["request"]["contents"];
    assert_eq!(contents.as_array().unwrap().len(), 5);

    let got = app
        .http
        .get(format!("{}/v1/responses/{id}", app.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let got: Value = got.json().await.unwrap();
    assert_eq!(got, first, "GET returns the response as it was sent");

    let del = app
        .http
        .delete(format!("{}/v1/responses/{id}", app.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    assert_eq!(
        del.json::<Value>().await.unwrap(),
        json!({"id": id, "object": "response", "deleted": true})
    );
    let gone = app
        .http
        .get(format!("{}/v1/responses/{id}", app.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let gone: Value = gone.json().await.unwrap();
    assert_eq!(gone["error"]["type"], "not_found_error");
    let (status, b) = create(
        &app,
        json!({"model": "gemini-2.5-flash", "previous_response_id": id, "input": "again"}),
    )
    .await;
    assert_eq!(status, 400, "{b}");
    assert_eq!(b["error"]["param"], "previous_response_id");

    // store: false keeps nothing.
    let (_, unstored) = create(
        &app,
        json!({"model": "gemini-2.5-flash", "input": "x", "store": false}),
    )
    .await;
    let missing = app
        .http
        .get(format!(
            "{}/v1/responses/{}",
            app.url,
            unstored["id"].as_str().unwrap()
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// After a restart the response is no longer in memory: the follow-up reads the database.
#[tokio::test]
async fn a_follow_up_after_a_restart_reads_the_database() {
    let app = TestApp::spawn().await;
    let (_, events, raw) = stream(
        &app,
        json!({"model": "gemini-2.5-flash", "input": "remember me"}),
    )
    .await;
    let id = events.last().unwrap().1["response"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(raw.contains("response.completed"));
    let (sim, dir) = app.stop().await;
    let app = builder().reuse(sim, dir).spawn().await;
    let reads = app.state.store.read_count();
    let (status, b) = create(
        &app,
        json!({"model": "gemini-2.5-flash", "previous_response_id": id, "input": "and now?"}),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert!(
        app.state.store.read_count() > reads,
        "read from the database"
    );
    let sent = last_sent(&app);
    let contents = &sent["request"]["contents"];
    assert_eq!(contents[0]["parts"][0]["text"], "remember me");
    assert_eq!(contents[1]["parts"][0]["text"], "Echo: remember me");
}

#[tokio::test]
async fn errors_are_openai_shaped_and_name_the_field() {
    let app = TestApp::spawn().await;
    for (body, status, param) in [
        (json!({"input": "x"}), 400, Some("model")),
        (
            json!({"model": "gemini-2.5-flash", "input": "x", "background": true}),
            400,
            Some("background"),
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": ["v"]}]}),
            400,
            Some("tools[0].type"),
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": "x", "tools": [{"type": "computer_use_preview"}]}),
            400,
            Some("tools[0].type"),
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]}),
            400,
            Some("input[0].content[0].file_id"),
        ),
        (
            json!({"model": "gemini-2.5-flash", "input": "x", "previous_response_id": "resp_nope"}),
            400,
            Some("previous_response_id"),
        ),
    ] {
        let (s, b) = create(&app, body.clone()).await;
        assert_eq!(s, status, "{body} → {b}");
        assert_eq!(b["error"]["type"], "invalid_request_error", "{b}");
        assert_eq!(b["error"]["param"].as_str(), param, "{b}");
        assert!(!b["error"]["message"].as_str().unwrap().is_empty());
    }
    // An upstream refusal relayed in OpenAI's shape.
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent),
        100,
        Fault::ResourceExhausted,
    ));
    let (s, b) = create(&app, json!({"model": "gemini-2.5-flash", "input": "x"})).await;
    assert_eq!(s, 429, "{b}");
    assert_eq!(b["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn a_mid_stream_failure_ends_with_response_failed() {
    let app = TestApp::spawn().await;
    app.sim.set_pacing(Pacing {
        chunk_chars: 4,
        ..Pacing::default()
    });
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::StreamGenerateContent),
        1,
        Fault::InStreamError { after_events: 2 },
    ));
    let (status, events, raw) = stream(
        &app,
        json!({"model": "gemini-2.5-flash", "input": "break me somewhere"}),
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    let (name, last) = events.last().unwrap();
    assert_eq!(name, "response.failed", "{raw}");
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(last["response"]["error"]["code"], "server_error");
    assert!(
        !last["response"]["error"]["message"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert!(!raw.contains("response.completed"));
}

#[tokio::test]
async fn stream_modes_and_aliases_work_here_too() {
    let app = TestApp::spawn().await;
    for model in [
        "假流式/gemini-2.5-flash",
        "anti-truncation/gemini-2.5-flash",
        "gpt-5-mini",
    ] {
        let (status, events, raw) =
            stream(&app, json!({"model": model, "input": "mode check"})).await;
        assert_eq!(status, 200, "{model}: {raw}");
        let done = &events.last().unwrap().1;
        assert_eq!(done["type"], "response.completed", "{model}: {raw}");
        assert_eq!(
            output_text(&done["response"]),
            "Echo: mode check",
            "{model}"
        );
        assert!(
            !raw.contains("[done]"),
            "{model}: the marker never reaches the client"
        );
    }
    let sent = last_sent(&app);
    assert_eq!(
        sent["model"], "gemini-2.5-flash",
        "the alias reached its target"
    );
}

#[tokio::test]
async fn web_search_is_google_search_grounding() {
    let app = TestApp::spawn().await;
    let (status, b) = create(
        &app,
        json!({"model": "gemini-2.5-flash", "input": "news today", "tools": [{"type": "web_search_preview"}]}),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    let sent = last_sent(&app);
    assert_eq!(sent["request"]["tools"], json!([{"googleSearch": {}}]));
    let search = b["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "web_search_call")
        .unwrap();
    assert_eq!(search["action"]["query"], "news today");
    assert!(
        search["action"]["sources"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
}

#[tokio::test]
async fn requests_are_counted_under_the_responses_surface() {
    let app = TestApp::spawn().await;
    let (status, _) = create(
        &app,
        json!({"model": "gemini-2.5-flash", "input": "count me"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = stream(
        &app,
        json!({"model": "gemini-2.5-flash", "input": "count me too"}),
    )
    .await;
    assert_eq!(status, 200);
    // The stream's record is written when its body is dropped, just after the last byte.
    let mut rows = Vec::new();
    for _ in 0..50 {
        app.state.usage.flush().await.unwrap();
        rows = app
            .state
            .store
            .call(|c| {
                let mut st = c.prepare(
                    "SELECT stream, SUM(requests), SUM(prompt_tokens), SUM(completion_tokens)
                     FROM usage_minute WHERE surface = 'responses' GROUP BY stream ORDER BY stream",
                )?;
                let rows = st
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
            .unwrap();
        if rows.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (_, requests, prompt, completion) in &rows {
        assert_eq!(*requests, 1);
        assert!(*prompt > 0 && *completion > 0, "{rows:?}");
    }
}

/// The concurrency limit covers this surface too: a streamed response holds the only slot
/// until its last byte, and a request that cannot get one in time is refused in OpenAI's shape.
#[tokio::test]
async fn a_stream_holds_a_slot_of_the_concurrency_limit() {
    let app = builder()
        .env("MAX_CONCURRENT_REQUESTS", "1")
        .env("MAX_QUEUE_WAIT", "0")
        .spawn()
        .await;
    app.sim.set_pacing(Pacing {
        chunk_chars: 4,
        event_delay_ms: 100,
        ..Pacing::default()
    });
    let holder = app
        .post(
            "/v1/responses",
            &json!({"model": "gemini-2.5-flash", "stream": true, "input": "hold the only slot for a while"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(holder.status(), 200);
    let (status, b) = create(&app, json!({"model": "gemini-2.5-flash", "input": "x"})).await;
    assert_eq!(status, 429, "{b}");
    assert!(b["error"]["type"].is_string(), "{b}");
    let text = holder.text().await.unwrap();
    assert!(text.contains("response.completed"));
    let (status, _) = create(&app, json!({"model": "gemini-2.5-flash", "input": "after"})).await;
    assert_eq!(status, 200);
}
