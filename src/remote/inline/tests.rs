use std::sync::Mutex;

use bytes::Bytes;
use serde_json::json;

use super::*;
use crate::remote::Refused;

fn png() -> Fetched {
    Fetched {
        mime: "image/png".into(),
        bytes: Bytes::from_static(b"\x89PNG"),
    }
}

/// A stub fetcher: serves `png()` for every URL containing "ok", a refusal otherwise, and
/// records what it was asked for.
async fn run(
    body: Value,
    format: Format,
    max_total: u64,
) -> (Result<Value, GatewayError>, Vec<(String, Purpose)>) {
    let calls = Mutex::new(Vec::new());
    let targets = match format {
        Format::OpenAi => openai_targets(&body),
        Format::Anthropic => match anthropic_targets(&body) {
            Ok(t) => t,
            Err(e) => return (Err(e), Vec::new()),
        },
    };
    let out = inline(body, targets, format, max_total, |url, purpose| {
        calls.lock().unwrap().push((url.clone(), purpose));
        async move {
            if url.contains("ok") {
                Ok(png())
            } else {
                Err(FetchError::Refused(Refused::Address { kind: "loopback" }))
            }
        }
    })
    .await;
    (out, calls.into_inner().unwrap())
}

#[tokio::test]
async fn openai_image_urls_become_data_urls_and_the_rest_is_untouched() {
    let body = json!({"model": "m", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": " https://img.test/ok.png ", "detail": "low"}},
            {"type": "image_url", "image_url": "HTTP://img.test/ok2.png"},
            {"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lG"}},
            {"type": "video_url", "video_url": {"url": "https://img.test/ok.mp4"}}
        ]},
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://img.test/ok.png"}}
        ]}
    ]});
    let (out, calls) = run(body, Format::OpenAi, 1000).await;
    let out = out.unwrap();
    let parts = &out["messages"][1]["content"];
    assert_eq!(
        parts[1]["image_url"]["url"],
        "data:image/png;base64,iVBORw=="
    );
    assert_eq!(parts[1]["image_url"]["detail"], "low");
    assert_eq!(parts[2]["image_url"], "data:image/png;base64,iVBORw==");
    assert_eq!(parts[3]["image_url"]["url"], "data:image/gif;base64,R0lG");
    assert_eq!(parts[4]["video_url"]["url"], "https://img.test/ok.mp4");
    assert_eq!(
        out["messages"][2]["content"][0]["image_url"]["url"],
        "data:image/png;base64,iVBORw=="
    );
    assert_eq!(out["messages"][0]["content"], "be brief");
    // The URL used twice is fetched once.
    assert_eq!(
        calls,
        vec![
            ("https://img.test/ok.png".to_string(), Purpose::Image),
            ("HTTP://img.test/ok2.png".to_string(), Purpose::Image),
        ]
    );
}

#[tokio::test]
async fn anthropic_url_sources_become_base64_sources_also_in_tool_results() {
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://img.test/ok.png"}},
            {"type": "document", "source": {"type": "url", "url": "https://docs.test/ok.pdf"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lG"}}
        ]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": [
                {"type": "text", "text": "here"},
                {"type": "image", "source": {"type": "url", "url": "https://img.test/ok-tool.png"}}
            ]}
        ]}
    ]});
    let (out, calls) = run(body, Format::Anthropic, 1000).await;
    let out = out.unwrap();
    let want = json!({"type": "base64", "media_type": "image/png", "data": "iVBORw=="});
    assert_eq!(out["messages"][0]["content"][0]["source"], want);
    assert_eq!(out["messages"][0]["content"][1]["source"], want);
    assert_eq!(out["messages"][0]["content"][2]["source"]["data"], "R0lG");
    assert_eq!(
        out["messages"][2]["content"][0]["content"][1]["source"],
        want
    );
    assert_eq!(
        calls.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![Purpose::Image, Purpose::Document, Purpose::Image]
    );
}

#[tokio::test]
async fn a_failure_is_a_400_naming_the_field_host_and_reason() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://img.test/ok.png"}},
        {"type": "image_url", "image_url": {"url": "http://localhost:8080/x.png"}}
    ]}]});
    let (out, _) = run(body, Format::OpenAi, 1000).await;
    let msg = out.unwrap_err().to_string();
    assert!(
        msg.starts_with("'messages[0].content[1].image_url': cannot fetch the image from localhost: it points to a loopback address"),
        "{msg}"
    );
    assert!(msg.contains("data: URL"), "{msg}");

    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": [
            {"type": "document", "source": {"type": "url", "url": "http://10.0.0.1/a.pdf"}}
        ]}
    ]}]});
    let (out, _) = run(body, Format::Anthropic, 1000).await;
    let msg = out.unwrap_err().to_string();
    assert!(
        msg.starts_with(
            "'messages[0].content[0].content[0].source': cannot fetch the document from 10.0.0.1"
        ),
        "{msg}"
    );
    assert!(msg.contains("base64 source"), "{msg}");

    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url"}}
    ]}]});
    let (out, calls) = run(body, Format::Anthropic, 1000).await;
    assert_eq!(
        out.unwrap_err().to_string(),
        "'messages[0].content[0].source.url' is required for a url source"
    );
    assert!(calls.is_empty());
}

#[tokio::test]
async fn requests_are_bounded_in_urls_and_total_bytes() {
    let many: Vec<Value> = (0..=MAX_URLS)
        .map(|i| json!({"type": "image_url", "image_url": {"url": format!("https://img.test/ok{i}.png")}}))
        .collect();
    let body = json!({"model": "m", "messages": [{"role": "user", "content": many}]});
    let (out, calls) = run(body, Format::OpenAi, 1_000_000).await;
    assert!(
        out.unwrap_err()
            .to_string()
            .contains("at most 32 are fetched"),
    );
    assert!(
        calls.is_empty(),
        "nothing is fetched for a request over the bound"
    );

    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://img.test/ok1.png"}},
        {"type": "image_url", "image_url": {"url": "https://img.test/ok2.png"}}
    ]}]});
    let (out, _) = run(body, Format::OpenAi, 7).await;
    assert!(
        out.unwrap_err()
            .to_string()
            .contains("add up to more than 7 bytes"),
    );
}

#[test]
fn only_http_and_https_urls_are_targets_for_openai() {
    let body = json!({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "ftp://x/y.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
        {"type": "image_url", "image_url": {"url": "ｈttps://multibyte.test"}},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    ]}]});
    let t = openai_targets(&body);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].field, "messages[0].content[3].image_url");
    assert!(openai_targets(&json!({"contents": []})).is_empty());
    assert!(openai_targets(&json!({"messages": "x"})).is_empty());
}
