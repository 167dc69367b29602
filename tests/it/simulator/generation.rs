use gcli2api::simulator::{Fault, FaultRule, SKIP_SIGNATURE, UserSpec};
use serde_json::{Value, json};

use super::{env, envelope};

fn usage_sum_holds(u: &Value) {
    let p = u["promptTokenCount"].as_u64().unwrap();
    let c = u["candidatesTokenCount"].as_u64().unwrap();
    let t = u["thoughtsTokenCount"].as_u64().unwrap_or(0);
    assert_eq!(u["totalTokenCount"].as_u64().unwrap(), p + c + t);
}

#[tokio::test]
async fn non_streaming_envelope_shape_and_trace_header() {
    let e = env().await;
    let body = envelope(&e.user, "gemini-2.5-flash", "hello world");
    let resp = e
        .post_json("/v1internal:generateContent", &e.user.access_token, &body)
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=UTF-8"
    );
    let trace = resp.headers()["x-cloudaicompanion-trace-id"]
        .to_str()
        .unwrap()
        .to_string();
    let text = resp.text().await.unwrap();
    assert!(text.contains('\n'), "pretty-printed like upstream");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["traceId"], trace.as_str());
    assert_eq!(trace.len(), 16);
    let r = &v["response"];
    let cand = &r["candidates"][0];
    assert_eq!(cand["content"]["role"], "model");
    assert_eq!(
        cand["content"]["parts"],
        json!([{"text": "Echo: hello world"}])
    );
    assert_eq!(cand["finishReason"], "STOP");
    assert!(cand.get("index").is_none());
    assert_eq!(r["modelVersion"], "gemini-2.5-flash");
    assert!(r["responseId"].as_str().unwrap().len() >= 20);
    assert!(r["createTime"].as_str().unwrap().ends_with('Z'));
    let u = &r["usageMetadata"];
    usage_sum_holds(u);
    assert_eq!(u["promptTokenCount"], 3); // "hello world" = 11 chars
    assert_eq!(u["candidatesTokenCount"], 5); // 17 chars
    assert!(u["thoughtsTokenCount"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn request_validation() {
    let e = env().await;
    let no_preview = e
        .sim
        .add_user(UserSpec::new("np@example.com").preview(false));
    let ok = envelope(&e.user, "gemini-2.5-pro", "hi there");

    let mut unknown_model = ok.clone();
    unknown_model["model"] = json!("gemini-9-ultra");
    assert_eq!(e.generate(&unknown_model).await.0, 404);

    let preview = envelope(&no_preview, "gemini-3-flash-preview", "hi");
    let resp = e
        .post_json(
            "/v1internal:generateContent",
            &no_preview.access_token,
            &preview,
        )
        .await;
    assert_eq!(resp.status().as_u16(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["status"], "NOT_FOUND");
    assert_eq!(
        e.generate(&envelope(&e.user, "gemini-3-flash-preview", "hi"))
            .await
            .0,
        200
    );

    let mut foreign = ok.clone();
    foreign["project"] = json!(no_preview.project_id);
    let (status, body) = e.generate(&foreign).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["details"][0]["reason"], "CONSUMER_INVALID");

    let mut empty = ok.clone();
    empty["request"]["contents"] = json!([]);
    assert_eq!(e.generate(&empty).await.0, 400);

    let mut size = ok.clone();
    size["request"]["size"] = json!("1024x1024");
    let (status, body) = e.generate(&size).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "Invalid JSON payload received. Unknown name \"size\" at 'request': Cannot find field."
    );

    let mut zero = ok.clone();
    zero["request"]["generationConfig"] = json!({"thinkingConfig": {"thinkingBudget": 0}});
    assert_eq!(
        e.generate(&zero).await.0,
        400,
        "2.5-pro cannot turn thinking off"
    );
    zero["request"]["generationConfig"]["thinkingConfig"]["thinkingBudget"] = json!(64);
    assert_eq!(e.generate(&zero).await.0, 400, "2.5-pro minimum is 128");
    zero["request"]["generationConfig"]["thinkingConfig"]["thinkingBudget"] = json!(128);
    assert_eq!(e.generate(&zero).await.0, 200);

    let mut level = ok.clone();
    level["request"]["generationConfig"] = json!({"thinkingConfig": {"thinkingLevel": "high"}});
    assert_eq!(e.generate(&level).await.0, 400, "no thinkingLevel on 2.5");
    for l in ["high", "HIGH", "Low"] {
        let mut g3 = envelope(&e.user, "gemini-3.1-pro-preview", "hi");
        g3["request"]["generationConfig"] =
            json!({"thinkingConfig": {"thinkingLevel": l, "includeThoughts": true}});
        assert_eq!(e.generate(&g3).await.0, 200, "{l}");
    }
}

#[tokio::test]
async fn thoughts_only_when_asked() {
    let e = env().await;
    let mut body = envelope(&e.user, "gemini-2.5-pro", "think about it");
    body["request"]["generationConfig"] =
        json!({"thinkingConfig": {"includeThoughts": true, "thinkingBudget": 1024}});
    let (_, v) = e.generate(&body).await;
    let parts = &v["response"]["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0]["thought"], true);
    assert!(
        parts[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("**Planning the reply**")
    );
    assert_eq!(parts[1]["text"], "Echo: think about it");
    usage_sum_holds(&v["response"]["usageMetadata"]);

    let plain = envelope(&e.user, "gemini-2.5-pro", "think about it");
    let (_, v) = e.generate(&plain).await;
    assert_eq!(
        v["response"]["candidates"][0]["content"]["parts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        v["response"]["usageMetadata"]["thoughtsTokenCount"]
            .as_u64()
            .unwrap()
            > 0
    );
}

fn weather_tools() -> Value {
    json!([{"functionDeclarations": [{"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}])
}

#[tokio::test]
async fn tool_loop_and_gemini3_signature_validation() {
    let e = env().await;
    let model = "gemini-3-flash-preview";
    let mut body = envelope(
        &e.user,
        model,
        "please call:get_weather{\"city\":\"Paris\"}",
    );
    body["request"]["tools"] = weather_tools();
    let (status, v) = e.generate(&body).await;
    assert_eq!(status, 200);
    let part = v["response"]["candidates"][0]["content"]["parts"][0].clone();
    assert_eq!(
        part["functionCall"],
        json!({"name": "get_weather", "args": {"city": "Paris"}})
    );
    let sig = part["thoughtSignature"].as_str().unwrap().to_string();
    assert_eq!(v["response"]["candidates"][0]["finishReason"], "STOP");

    let history = |signature: Option<&str>| {
        let mut call = json!({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}});
        if let Some(s) = signature {
            call["thoughtSignature"] = json!(s);
        }
        let mut b = body.clone();
        b["request"]["contents"] = json!([
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [call]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 21}}}]}
        ]);
        b
    };
    let (status, v) = e.generate(&history(Some(&sig))).await;
    assert_eq!(status, 200);
    assert_eq!(
        v["response"]["candidates"][0]["content"]["parts"][0]["text"],
        "Result of get_weather: {\"temp\":21}"
    );
    assert_eq!(e.generate(&history(Some(SKIP_SIGNATURE))).await.0, 200);
    let (status, err) = e.generate(&history(None)).await;
    assert_eq!(status, 400);
    let msg = err["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("Function call is missing a thought_signature in functionCall parts."));
    assert!(msg.contains("`default_api:get_weather` , position 1."));
    assert_eq!(e.generate(&history(Some("Zm9yZ2Vk"))).await.0, 400);

    let mut old = history(None);
    old["model"] = json!("gemini-2.5-flash");
    assert_eq!(
        e.generate(&old).await.0,
        200,
        "2.5 models do not validate signatures"
    );
}

#[tokio::test]
async fn max_tokens_search_and_count_tokens() {
    let e = env().await;
    let mut body = envelope(
        &e.user,
        "gemini-2.5-flash",
        "a somewhat longer prompt to echo",
    );
    body["request"]["generationConfig"] =
        json!({"maxOutputTokens": 2, "thinkingConfig": {"thinkingBudget": 0}});
    let (_, v) = e.generate(&body).await;
    let cand = &v["response"]["candidates"][0];
    assert_eq!(cand["finishReason"], "MAX_TOKENS");
    assert_eq!(cand["content"]["parts"][0]["text"], "Echo: a ");

    let mut search = envelope(&e.user, "gemini-2.5-pro", "what happened today");
    search["request"]["tools"] = json!([{"googleSearch": {}}]);
    let (_, v) = e.generate(&search).await;
    let g = &v["response"]["candidates"][0]["groundingMetadata"];
    assert_eq!(g["webSearchQueries"][0], "what happened today");
    assert!(g["groundingChunks"][0]["web"]["uri"].is_string());

    let count = json!({"request": {"model": "models/gemini-2.5-pro", "contents": [{"role": "user", "parts": [{"text": "0123456789abcdef!"}]}]}});
    let resp = e
        .post_json("/v1internal:countTokens", &e.user.access_token, &count)
        .await;
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["totalTokens"], 5);
}

#[tokio::test]
async fn done_marker_prefill_and_ignore_done() {
    let e = env().await;
    let mut body = envelope(&e.user, "gemini-2.5-flash", "tell me");
    body["request"]["systemInstruction"] =
        json!({"parts": [{"text": "End your reply with a line [done]."}]});
    let (_, v) = e.generate(&body).await;
    assert_eq!(
        v["response"]["candidates"][0]["content"]["parts"][0]["text"],
        "Echo: tell me\n[done]"
    );

    e.sim.push_fault(FaultRule::once(Fault::IgnoreDoneMarker));
    let (_, v) = e.generate(&body).await;
    assert_eq!(
        v["response"]["candidates"][0]["content"]["parts"][0]["text"],
        "Echo: tell me"
    );

    let mut cont = body.clone();
    cont["request"]["contents"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "model", "parts": [{"text": "Echo: tell me"}]}));
    let (_, v) = e.generate(&cont).await;
    assert_eq!(
        v["response"]["candidates"][0]["content"]["parts"][0]["text"],
        "\n[done]"
    );
}
