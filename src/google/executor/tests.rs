use serde_json::{Value, json};

use super::*;

fn cfg() -> UpstreamConfig {
    let mut c = UpstreamConfig::all_at("http://sim");
    c.gemini_api = "https://generativelanguage.googleapis.com".into();
    c.vertex_api = None;
    c.vertex_location = "global".into();
    c
}

fn sent(exec: &dyn Executor, method: Method, request: Value) -> Value {
    serde_json::from_slice(&exec.body(method, "gemini-2.5-pro", &request)).unwrap()
}

#[test]
fn urls_follow_each_upstream() {
    let mut c = cfg();
    let ca = CodeAssist {
        access_token: "t".into(),
        project: "p".into(),
    };
    assert_eq!(
        ca.url(&c, Method::Stream, "gemini-2.5-pro"),
        "http://sim/v1internal:streamGenerateContent?alt=sse"
    );
    let g = GeminiApi { key: "AQ.k".into() };
    assert_eq!(
        g.url(&c, Method::Generate, "models/gemini-2.5-pro"),
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent"
    );
    assert!(!g.url(&c, Method::Stream, "m").contains("key="));
    let v = Vertex {
        access_token: "t".into(),
        project: "proj".into(),
    };
    assert_eq!(
        v.url(&c, Method::CountTokens, "gemini-3-pro-preview"),
        "https://aiplatform.googleapis.com/v1/projects/proj/locations/global/publishers/google/models/gemini-3-pro-preview:countTokens"
    );
    c.vertex_location = "europe-west4".into();
    assert!(v.url(&c, Method::Generate, "m").starts_with(
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/proj/locations/europe-west4/"
    ));
    c.vertex_location = "eu".into();
    assert_eq!(
        vertex_base_url(&c),
        "https://aiplatform.eu.rep.googleapis.com"
    );
    let x = VertexExpress { key: "AQ.x".into() };
    assert_eq!(
        x.url(&c, Method::Stream, "m"),
        "https://aiplatform.googleapis.com/v1/publishers/google/models/m:streamGenerateContent?alt=sse"
    );
    c.vertex_api = Some("http://sim".into());
    assert_eq!(
        x.url(&c, Method::Generate, "m"),
        "http://sim/v1/publishers/google/models/m:generateContent"
    );
}

#[test]
fn only_code_assist_wraps_the_request() {
    let req = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let ca = CodeAssist {
        access_token: "t".into(),
        project: "p".into(),
    };
    // Generation requests also get the default safety settings, on every upstream.
    let mut with_safety = req.clone();
    with_safety["safetySettings"] = crate::wire::gemini::default_safety_settings("gemini-2.5-pro");
    assert_eq!(
        sent(&ca, Method::Generate, req.clone()),
        json!({"model": "gemini-2.5-pro", "project": "p", "request": with_safety})
    );
    let count = json!({"contents": req["contents"]});
    assert_eq!(
        sent(&ca, Method::CountTokens, count.clone()),
        json!({"request": {"model": "models/gemini-2.5-pro", "contents": req["contents"]}})
    );
    let g = GeminiApi { key: "k".into() };
    assert_eq!(sent(&g, Method::Generate, req.clone()), with_safety);
    assert_eq!(sent(&g, Method::CountTokens, count.clone()), count);
    let x = VertexExpress { key: "k".into() };
    assert_eq!(sent(&x, Method::Stream, req.clone()), with_safety);
}

#[test]
fn calls_show_only_their_kind() {
    let call = Call::new(GeminiApi {
        key: "AQ.SECRET".into(),
    });
    assert_eq!(call.kind(), CredentialKind::GeminiApiKey);
    assert!(call.bearer().is_none());
    assert!(!format!("{call:?}").contains("SECRET"));
}
