use serde_json::{Value, json};

use super::*;
use crate::models::resolve;
use crate::wire::code_assist::envelope;

/// Convert an OpenAI body and apply the model's features, as the proxy does.
fn full(body: Value, o: &ConvertOptions) -> (Value, crate::models::ResolvedModel) {
    let model = resolve(body["model"].as_str().unwrap()).unwrap();
    let mut r = openai_to_gemini(&body, o).unwrap().request;
    apply_model_features(&mut r, &model, o);
    (r, model)
}

fn thinking_for(model: &str, o: &ConvertOptions) -> Option<Value> {
    let (r, _) = full(
        json!({"model": model, "messages": [{"role": "user", "content": "q"}]}),
        o,
    );
    r.get("generationConfig")
        .map(|g| g["thinkingConfig"].clone())
}

#[test]
fn case_29_thinking_suffix_and_search() {
    let (r, model) = full(
        json!({"model": "gemini-2.5-flash-high-search", "messages": [{"role": "user", "content": "q"}],
            "tools": [{"type": "function", "function": {"name": "f"}}]}),
        &opts(),
    );
    assert_eq!(model.base, "gemini-2.5-flash");
    assert_eq!(
        r["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 16000, "includeThoughts": true})
    );
    let tools = r["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[1], json!({"googleSearch": {}}));
    let env = envelope(&model.base, "proj", r, None);
    assert_eq!(env["model"], "gemini-2.5-flash");
}

/// The request as the executors write it for the upstream.
fn written(r: &Value, model: &crate::models::ResolvedModel) -> Value {
    serde_json::to_value(crate::wire::gemini::WithSafetyDefaults {
        request: r,
        base_model: &model.base,
    })
    .unwrap()
}

#[test]
fn case_30_safety_defaults_only_when_absent() {
    let count = |model: &str| {
        let (r, m) = full(
            json!({"model": model, "messages": [{"role": "user", "content": "q"}]}),
            &opts(),
        );
        assert!(r.get("safetySettings").is_none(), "added when written");
        let w = written(&r, &m);
        assert_eq!(w["contents"], r["contents"], "the rest is written as it is");
        w["safetySettings"].as_array().unwrap().len()
    };
    assert_eq!(count("gemini-2.5-flash-lite"), 5);
    assert_eq!(count("gemini-2.5-flash"), 10);
    assert_eq!(count("gemini-3.1-pro-preview-high"), 10);
    let mut native = gemini_native_to_request(
        &json!({"contents": [{"role": "user", "parts": [{"text": "q"}]}],
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_LOW_AND_ABOVE"}]}),
        &opts(),
    )
    .unwrap();
    let pro = resolve("gemini-2.5-pro").unwrap();
    apply_model_features(&mut native, &pro, &opts());
    assert_eq!(
        serde_json::to_vec(&written(&native, &pro)).unwrap(),
        serde_json::to_vec(&native).unwrap(),
        "the client's own settings are written unchanged"
    );
    // An empty list counts as none.
    native["safetySettings"] = json!([]);
    assert_eq!(
        written(&native, &pro)["safetySettings"],
        crate::wire::gemini::default_safety_settings("gemini-2.5-pro")
    );
}

#[test]
fn case_31_gemini3_levels() {
    assert_eq!(
        thinking_for("gemini-3-flash-preview-medium", &opts()),
        Some(json!({"thinkingLevel": "medium", "includeThoughts": true}))
    );
    assert_eq!(
        thinking_for("gemini-3.1-pro-preview-medium", &opts()),
        Some(json!({"includeThoughts": true}))
    );
}

/// Every thinking suffix of every model family as it reaches the upstream. The 3.1-flash-lite
/// and 3.5-flash levels include thoughts (the reference matched `"3-flash"` as a substring, so
/// those two never showed any).
#[test]
fn thinking_table_as_sent_upstream() {
    let b = |n: i64| Some(json!({"thinkingBudget": n, "includeThoughts": true}));
    let l = |s: &str| Some(json!({"thinkingLevel": s, "includeThoughts": true}));
    let off = Some(json!({"thinkingBudget": 0, "includeThoughts": false}));
    let inc = Some(json!({"includeThoughts": true}));
    let rows: Vec<(&str, Option<Value>)> = vec![
        ("gemini-2.5-pro", inc.clone()),
        ("gemini-2.5-pro-max", b(32768)),
        ("gemini-2.5-pro-high", b(16000)),
        ("gemini-2.5-pro-medium", b(8192)),
        ("gemini-2.5-pro-low", b(1024)),
        ("gemini-2.5-pro-minimal", b(128)),
        ("gemini-2.5-pro-nothinking", b(128)),
        ("gemini-2.5-pro-maxthinking", b(32768)),
        ("gemini-2.5-flash", None),
        ("gemini-2.5-flash-max", b(24576)),
        ("gemini-2.5-flash-high", b(16000)),
        ("gemini-2.5-flash-medium", b(8192)),
        ("gemini-2.5-flash-low", b(1024)),
        ("gemini-2.5-flash-minimal", off.clone()),
        ("gemini-2.5-flash-nothinking", off.clone()),
        ("gemini-2.5-flash-maxthinking", b(24576)),
        ("gemini-3-flash-preview", None),
        ("gemini-3-flash-preview-high", l("high")),
        ("gemini-3-flash-preview-medium", l("medium")),
        ("gemini-3-flash-preview-low", l("low")),
        ("gemini-3-flash-preview-minimal", None),
        ("gemini-3-flash-preview-maxthinking", l("high")),
        ("gemini-3-flash-preview-nothinking", off.clone()),
        ("gemini-3.1-pro-preview", inc.clone()),
        ("gemini-3.1-pro-preview-high", l("high")),
        ("gemini-3.1-pro-preview-low", l("low")),
        ("gemini-3.1-pro-preview-medium", inc.clone()),
        ("gemini-3.1-flash-lite", None),
        ("gemini-3.5-flash", None),
        ("gemini-3.1-flash-lite-high", l("high")),
        ("gemini-3.1-flash-lite-medium", l("medium")),
        ("gemini-3.1-flash-lite-low", l("low")),
        ("gemini-3.5-flash-high", l("high")),
        ("gemini-3.5-flash-medium", l("medium")),
        ("gemini-3.5-flash-low", l("low")),
        ("gemini-3.1-flash-lite-minimal", None),
        ("gemini-3.5-flash-minimal", None),
    ];
    for (model, expected) in rows {
        assert_eq!(thinking_for(model, &opts()), expected, "{model}");
    }
}

#[test]
fn return_thoughts_off_turns_every_include_off() {
    let o = ConvertOptions {
        compatibility_mode: false,
        return_thoughts: false,
        ..ConvertOptions::default()
    };
    assert_eq!(
        thinking_for("gemini-2.5-pro", &o),
        Some(json!({"includeThoughts": false}))
    );
    assert_eq!(
        thinking_for("gemini-2.5-flash-high", &o),
        Some(json!({"thinkingBudget": 16000, "includeThoughts": false}))
    );
    assert_eq!(
        thinking_for("gemini-3-flash-preview-low", &o),
        Some(json!({"thinkingLevel": "low", "includeThoughts": false}))
    );
}

#[test]
fn reasoning_effort_maps_and_suffix_wins() {
    let run = |model: &str, effort: &str| {
        let (r, _) = full(
            json!({"model": model, "reasoning_effort": effort, "messages": [{"role": "user", "content": "q"}]}),
            &opts(),
        );
        r["generationConfig"]["thinkingConfig"].clone()
    };
    assert_eq!(
        run("gemini-2.5-flash", "low"),
        json!({"thinkingBudget": 1024, "includeThoughts": true})
    );
    assert_eq!(
        run("gemini-2.5-flash", "none"),
        json!({"thinkingBudget": 0, "includeThoughts": false})
    );
    assert_eq!(
        run("gemini-2.5-pro", "none"),
        json!({"thinkingBudget": 128, "includeThoughts": false})
    );
    assert_eq!(
        run("gemini-2.5-pro", "high"),
        json!({"thinkingBudget": 24576, "includeThoughts": true})
    );
    assert_eq!(
        run("gemini-3-flash-preview", "minimal"),
        json!({"thinkingLevel": "minimal", "includeThoughts": true})
    );
    assert_eq!(
        run("gemini-3.1-pro-preview", "medium"),
        json!({"thinkingLevel": "high", "includeThoughts": true})
    );
    // A thinking suffix beats reasoning_effort.
    assert_eq!(
        run("gemini-2.5-flash-low", "high"),
        json!({"thinkingBudget": 1024, "includeThoughts": true})
    );
    assert_eq!(
        run("gemini-3-flash-preview-high", "low"),
        json!({"thinkingLevel": "high", "includeThoughts": true})
    );
    // auto keeps the model default.
    assert_eq!(
        run("gemini-3.1-pro-preview", "auto"),
        json!({"includeThoughts": true})
    );
}

#[test]
fn case_32_native_budget_and_level_never_both() {
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "q"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 1000, "thinkingLevel": "high"}}});
    let mut r = gemini_native_to_request(&body, &opts()).unwrap();
    apply_model_features(&mut r, &resolve("gemini-2.5-flash").unwrap(), &opts());
    assert_eq!(
        r["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 1000, "includeThoughts": true})
    );
    let mut r = gemini_native_to_request(&body, &opts()).unwrap();
    apply_model_features(&mut r, &resolve("gemini-3-flash-preview").unwrap(), &opts());
    assert_eq!(
        r["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "high", "includeThoughts": true})
    );
}

#[test]
fn native_client_include_thoughts_rules() {
    let apply = |model: &str, thinking: Value| {
        let body = json!({"contents": [{"parts": [{"text": "q"}]}],
            "generation_config": {"thinking_config": thinking}});
        let mut r = gemini_native_to_request(&body, &opts()).unwrap();
        apply_model_features(&mut r, &resolve(model).unwrap(), &opts());
        r["generationConfig"]["thinkingConfig"].clone()
    };
    // FIX: an explicit false on a pro model is respected.
    assert_eq!(
        apply("gemini-2.5-pro", json!({"include_thoughts": false})),
        json!({"includeThoughts": false})
    );
    // Budget 0 can never show thoughts (upstream 400 otherwise).
    assert_eq!(
        apply(
            "gemini-2.5-flash",
            json!({"thinkingBudget": 0, "includeThoughts": true})
        ),
        json!({"thinkingBudget": 0, "includeThoughts": false})
    );
    // A name suffix replaces the client's config.
    assert_eq!(
        apply("gemini-2.5-flash-low", json!({"thinkingBudget": 9000})),
        json!({"thinkingBudget": 1024, "includeThoughts": true})
    );
}

#[test]
fn case_33_empty_parts_and_contents_removed() {
    let body = json!({"contents": [
        {"role": "user", "parts": [{"text": ""}, {"thought": true}]},
        {"role": "user", "parts": [{"text": "keep  "}, {"text": ""}, {"text": "signed  ", "thoughtSignature": "s"}]},
        {"role": "model", "parts": [{"text": ["a", "b"]}, {"text": 5}]}
    ]});
    let r = gemini_native_to_request(&body, &opts()).unwrap();
    assert_eq!(
        r["contents"],
        json!([
            {"role": "user", "parts": [{"text": "keep"}, {"text": "signed  ", "thoughtSignature": "s"}]},
            {"role": "model", "parts": [{"text": "a b"}, {"text": "5"}]}
        ])
    );
}

#[test]
fn case_47_native_request_forwarded_open_without_clamps_fix() {
    let body = json!({
        "model": "ignored",
        "contents": [{"role": "user", "parts": [{"text": "q"}]}],
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 300, "topK": 5,
            "responseModalities": ["TEXT"], "imageConfig": {"aspectRatio": "1:1"}},
        "cachedContent": "c/1",
        "someFutureField": {"x": 1}
    });
    let model = resolve("gemini-2.5-flash").unwrap();
    let mut r = gemini_native_to_request(&body, &opts()).unwrap();
    apply_model_features(&mut r, &model, &opts());
    assert!(r.get("model").is_none());
    assert_eq!(
        r["generationConfig"],
        json!({"temperature": 0.2, "maxOutputTokens": 300, "topK": 5,
            "responseModalities": ["TEXT"], "imageConfig": {"aspectRatio": "1:1"}})
    );
    assert_eq!(
        written(&r, &model)["safetySettings"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert_eq!(r["cachedContent"], "c/1");
    assert_eq!(r["someFutureField"], json!({"x": 1}));
    let env = envelope(&model.base, "p", r, None);
    assert_eq!(env["model"], "gemini-2.5-flash");
    assert_eq!(env["project"], "p");

    // Without a generationConfig none is invented.
    let mut r = gemini_native_to_request(
        &json!({"contents": [{"role": "user", "parts": [{"text": "q"}]}]}),
        &opts(),
    )
    .unwrap();
    apply_model_features(&mut r, &model, &opts());
    assert!(r.get("generationConfig").is_none());
}

#[test]
fn native_roles_system_instruction_and_signatures() {
    let body = json!({
        "system_instruction": "be brief",
        "contents": [
            {"parts": [{"text": "q"}]},
            {"parts": [
                {"functionCall": {"name": "a", "args": {}}},
                {"functionCall": {"name": "b", "args": {}}}
            ]},
            {"role": "user", "parts": [{"functionResponse": {"name": "a", "response": {}}, "thoughtSignature": "x"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "c", "args": {}}, "thoughtSignature": "REAL"}]}
        ]
    });
    let r = gemini_native_to_request(&body, &opts()).unwrap();
    assert_eq!(
        r["systemInstruction"],
        json!({"parts": [{"text": "be brief"}]})
    );
    assert!(r.get("system_instruction").is_none());
    let c = &r["contents"];
    assert_eq!(c[0]["role"], "user");
    assert_eq!(c[1]["role"], "model");
    assert_eq!(
        c[1]["parts"][0]["thoughtSignature"],
        "skip_thought_signature_validator"
    );
    assert!(c[1]["parts"][1].get("thoughtSignature").is_none());
    assert!(c[2]["parts"][0].get("thoughtSignature").is_none());
    assert_eq!(c[3]["parts"][0]["thoughtSignature"], "REAL");

    let err = gemini_native_to_request(&json!({"contents": []}), &opts()).unwrap_err();
    assert!(err.to_string().contains("contents"), "{err}");
    let err = gemini_native_to_request(
        &json!({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}),
        &opts(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("contents[0].role"), "{err}");
}

#[test]
fn search_tool_not_duplicated() {
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "q"}]}], "tools": [{"googleSearch": {}}]});
    let mut r = gemini_native_to_request(&body, &opts()).unwrap();
    apply_model_features(&mut r, &resolve("gemini-2.5-pro-search").unwrap(), &opts());
    assert_eq!(r["tools"], json!([{"googleSearch": {}}]));
}

#[test]
fn float_budget_from_native_client_is_kept_as_integer() {
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "q"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 2048.0}}});
    let mut r = gemini_native_to_request(&body, &ConvertOptions::default()).unwrap();
    apply_model_features(
        &mut r,
        &resolve("gemini-2.5-flash").unwrap(),
        &ConvertOptions::default(),
    );
    assert_eq!(
        r["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 2048, "includeThoughts": true})
    );
}
