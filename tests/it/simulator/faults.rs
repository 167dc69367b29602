use std::io::Read;

use chrono::{DateTime, Utc};
use gcli2api::simulator::{EmptyReply, Endpoint, Fault, FaultMatch, FaultRule};
use serde_json::{Value, json};

use super::{env, envelope};

fn detail<'a>(body: &'a Value, ty: &str) -> &'a Value {
    body["error"]["details"]
        .as_array()
        .and_then(|ds| {
            ds.iter()
                .find(|d| d["@type"] == format!("type.googleapis.com/google.rpc.{ty}"))
        })
        .unwrap_or(&Value::Null)
}

async fn faulted(e: &super::Env, fault: Fault) -> (u16, String, Vec<u8>) {
    e.sim.push_fault(FaultRule::once(fault));
    let body = envelope(&e.user, "gemini-2.5-pro", "hello");
    let resp = e
        .post_json("/v1internal:generateContent", &e.user.access_token, &body)
        .await;
    let status = resp.status().as_u16();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    (status, ct, resp.bytes().await.unwrap().to_vec())
}

async fn faulted_json(e: &super::Env, fault: Fault) -> (u16, Value) {
    let (status, ct, body) = faulted(e, fault).await;
    assert_eq!(ct, "application/json; charset=UTF-8");
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn quota_errors_have_upstream_shapes() {
    let e = env().await;
    let (status, b) = faulted_json(
        &e,
        Fault::RateLimitExceeded {
            retry_delay_ms: 500,
        },
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(b["error"]["status"], "RESOURCE_EXHAUSTED");
    let info = detail(&b, "ErrorInfo");
    assert_eq!(info["reason"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(info["domain"], "cloudcode-pa.googleapis.com");
    assert_eq!(info["metadata"]["model"], "gemini-2.5-pro");
    assert_eq!(info["metadata"]["quotaResetDelay"], "500ms");
    let stamp: DateTime<Utc> = info["metadata"]["quotaResetTimeStamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((stamp - Utc::now()).num_seconds().abs() <= 2);
    assert_eq!(detail(&b, "RetryInfo")["retryDelay"], "0.5s");

    let (status, b) = faulted_json(
        &e,
        Fault::QuotaExhausted {
            reset_after_secs: 47941,
        },
    )
    .await;
    assert_eq!(status, 429);
    let info = detail(&b, "ErrorInfo");
    assert_eq!(info["reason"], "QUOTA_EXHAUSTED");
    assert_eq!(info["metadata"]["quotaResetDelay"], "13h19m1.20964964s");
    let stamp: DateTime<Utc> = info["metadata"]["quotaResetTimeStamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(((stamp - Utc::now()).num_seconds() - 47941).abs() <= 2);
    assert_eq!(detail(&b, "RetryInfo")["retryDelay"], "47941.20964964s");

    let (status, b) = faulted_json(&e, Fault::ResourceExhausted).await;
    assert_eq!(status, 429);
    assert_eq!(
        b,
        json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}})
    );
    let (_, b) = faulted_json(
        &e,
        Fault::ResourceExhaustedMessage {
            message: "Slow down.".into(),
        },
    )
    .await;
    assert_eq!(b["error"]["message"], "Slow down.");
    assert!(b["error"].get("details").is_none());

    let (status, b) = faulted_json(&e, Fault::ArrayWrapped429).await;
    assert_eq!(status, 429);
    assert_eq!(b.as_array().unwrap().len(), 1);
    assert_eq!(b[0]["error"]["code"], 429);

    let (status, b) = faulted_json(&e, Fault::ModelCapacityExhausted).await;
    assert_eq!(status, 429);
    assert_eq!(
        detail(&b, "ErrorInfo")["reason"],
        "MODEL_CAPACITY_EXHAUSTED"
    );
}

#[tokio::test]
async fn server_and_permission_errors() {
    let e = env().await;
    let (status, b) = faulted_json(&e, Fault::Internal).await;
    assert_eq!(
        (status, b["error"]["status"].as_str()),
        (500, Some("INTERNAL"))
    );
    let (status, ct, body) = faulted(&e, Fault::BadGatewayHtml).await;
    assert_eq!(status, 502);
    assert!(ct.starts_with("text/html"));
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("<h1>502 Bad Gateway</h1>")
    );
    let (status, b) = faulted_json(
        &e,
        Fault::Unavailable {
            retry_delay_ms: Some(2000),
        },
    )
    .await;
    assert_eq!(
        (status, b["error"]["status"].as_str()),
        (503, Some("UNAVAILABLE"))
    );
    assert_eq!(detail(&b, "RetryInfo")["retryDelay"], "2s");
    let (_, b) = faulted_json(
        &e,
        Fault::Unavailable {
            retry_delay_ms: None,
        },
    )
    .await;
    assert!(b["error"].get("details").is_none());
    assert_eq!(faulted_json(&e, Fault::GatewayTimeout).await.0, 504);
    let (status, b) = faulted_json(&e, Fault::Unauthenticated).await;
    assert_eq!(
        (status, b["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );

    let (status, b) = faulted_json(&e, Fault::ServiceDisabled).await;
    assert_eq!(status, 403);
    assert_eq!(detail(&b, "ErrorInfo")["reason"], "SERVICE_DISABLED");
    assert_eq!(
        detail(&b, "ErrorInfo")["metadata"]["consumer"],
        format!("projects/{}", e.user.project_id)
    );
    let (_, b) = faulted_json(&e, Fault::ConsumerInvalid).await;
    assert_eq!(detail(&b, "ErrorInfo")["reason"], "CONSUMER_INVALID");
    let (_, b) = faulted_json(&e, Fault::NamedUserLicence).await;
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("named user")
    );
    assert_eq!(b["error"]["errors"][0]["reason"], "forbidden");
    let (_, b) = faulted_json(&e, Fault::ValidationRequired).await;
    let link = detail(&b, "ErrorInfo")["metadata"]["validation_link"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        detail(&b, "ErrorInfo")["domain"],
        "cloudcode-pa.googleapis.com"
    );
    assert_eq!(detail(&b, "Help")["links"][0]["url"], link.as_str());
    let (status, b) = faulted_json(&e, Fault::Banned).await;
    assert_eq!(
        (status, b["error"]["status"].as_str()),
        (403, Some("PERMISSION_DENIED"))
    );
    let (status, b) = faulted_json(&e, Fault::NotFound).await;
    assert_eq!(
        (status, b["error"]["errors"][0]["reason"].as_str()),
        (404, Some("notFound"))
    );
}

#[tokio::test]
async fn bad_request_variants_and_gzip() {
    let e = env().await;
    let (status, b) = faulted_json(&e, Fault::BadRequest).await;
    assert_eq!(
        (status, b["error"]["message"].as_str()),
        (400, Some("Request contains an invalid argument."))
    );
    let (_, b) = faulted_json(
        &e,
        Fault::UnknownField {
            name: "size".into(),
        },
    )
    .await;
    assert_eq!(
        detail(&b, "BadRequest")["fieldViolations"][0]["field"],
        "request"
    );
    let (_, b) = faulted_json(&e, Fault::MissingThoughtSignature).await;
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("thought_signature")
    );

    let inner = Fault::RateLimitExceeded {
        retry_delay_ms: 500,
    };
    e.sim.push_fault(FaultRule::once(Fault::Gzipped {
        inner: Box::new(inner),
    }));
    let body = envelope(&e.user, "gemini-2.5-pro", "hello");
    let resp = e
        .post_json("/v1internal:generateContent", &e.user.access_token, &body)
        .await;
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let raw = resp.bytes().await.unwrap();
    assert_eq!(&raw[..2], &[0x1f, 0x8b]);
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut plain)
        .expect("valid gzip");
    let v: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(v["error"]["code"], 429);
}

#[tokio::test]
async fn empty_200_variants() {
    let e = env().await;
    let body = envelope(&e.user, "gemini-2.5-pro", "hello");
    let get = async |variant| {
        e.sim
            .push_fault(FaultRule::once(Fault::EmptyReply { variant }));
        let (status, v) = e.generate(&body).await;
        assert_eq!(status, 200);
        v
    };
    let v = get(EmptyReply::ResponseEmpty).await;
    assert_eq!(v["response"], json!({}));
    let v = get(EmptyReply::EmptyText).await;
    assert_eq!(
        v["response"]["candidates"][0]["content"]["parts"],
        json!([{"text": ""}])
    );
    let v = get(EmptyReply::ThoughtsOnly).await;
    let parts = v["response"]["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap()
        .clone();
    assert!(parts.iter().all(|p| p["thought"] == true));
    let v = get(EmptyReply::PromptBlocked).await;
    assert!(v["response"].get("candidates").is_none());
    assert_eq!(v["response"]["promptFeedback"]["blockReason"], "SAFETY");
    let v = get(EmptyReply::SafetyNoContent).await;
    let c = &v["response"]["candidates"][0];
    assert_eq!(c["finishReason"], "SAFETY");
    assert!(c.get("content").is_none());
    assert_eq!(c["safetyRatings"][0]["blocked"], true);
}

#[tokio::test]
async fn faults_match_by_user_model_and_endpoint() {
    let e = env().await;
    let bob = e
        .sim
        .add_user(gcli2api::simulator::UserSpec::new("bob@example.com"));
    let when = FaultMatch::endpoint(Endpoint::GenerateContent)
        .email("bob@example.com")
        .model("gemini-2.5-flash");
    e.sim.push_fault(FaultRule::new(when, 2, Fault::Internal));
    assert_eq!(
        e.generate(&envelope(&e.user, "gemini-2.5-flash", "x"))
            .await
            .0,
        200,
        "other user"
    );
    let bob_call = |model: &str| envelope(&bob, model, "x");
    let send = async |b: Value| {
        e.post_json("/v1internal:generateContent", &bob.access_token, &b)
            .await
            .status()
            .as_u16()
    };
    assert_eq!(send(bob_call("gemini-2.5-pro")).await, 200, "other model");
    let resp = e
        .post_json(
            "/v1internal:streamGenerateContent?alt=sse",
            &bob.access_token,
            &bob_call("gemini-2.5-flash"),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200, "other endpoint");
    assert_eq!(send(bob_call("gemini-2.5-flash")).await, 500);
    assert_eq!(send(bob_call("gemini-2.5-flash")).await, 500);
    assert_eq!(send(bob_call("gemini-2.5-flash")).await, 200, "used up");
}
