//! `GET /metrics` over real sockets: protection on the main port and on its own port, the
//! series after a known workload matched against the usage API, bounded credential labels,
//! and the checked-in Grafana dashboard naming only series that exist.
use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{api, send};
use crate::keys::create_key;
use crate::support::{TestApp, builder, init_logs, user_text};

const TOKEN: &str = "scrape-token-for-tests";

async fn scrape(app: &TestApp, url: &str) -> (u16, String) {
    let r = app.http.get(url).bearer_auth(TOKEN).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// Samples as (name, labels) → value, from the text format (enough for these assertions;
/// the Python client test reads the same output with prometheus_client's parser).
fn samples(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (head, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').unwrap();
                let labels = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once("=\"").unwrap();
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (n.to_string(), labels)
            }
            None => (head.to_string(), BTreeMap::new()),
        };
        out.insert((name, labels), value.parse().unwrap());
    }
    out
}

fn sum_of(
    s: &BTreeMap<(String, BTreeMap<String, String>), f64>,
    name: &str,
    want: &[(&str, &str)],
) -> f64 {
    s.iter()
        .filter(|((n, l), _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn metrics_are_off_without_a_token_and_need_it_when_set() {
    init_logs();
    let app = builder().users(1).spawn().await;
    let r = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "no METRICS_TOKEN: nothing on the main port"
    );
    drop(app);

    let app = builder().users(1).env("METRICS_TOKEN", TOKEN).spawn().await;
    let url = format!("{}/metrics", app.url);
    let r = app.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The API key is not the metrics token.
    let r = app
        .http
        .get(&url)
        .bearer_auth(crate::support::KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A streamed request, so every per-request family has a sample.
    let body = json!({"model": "gemini-2.5-flash", "stream": true, "messages": [user_text("x")]});
    assert_eq!(app.chat_stream(body).await.0, 200);
    let r = app.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    for family in gcli2api::metrics::FAMILIES {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing"
        );
    }
}

#[tokio::test]
async fn a_separate_listen_address_serves_metrics_alone() {
    init_logs();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = builder()
        .users(1)
        .env("METRICS_LISTEN", &format!("127.0.0.1:{port}"))
        .spawn()
        .await;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut got = None;
    for _ in 0..50 {
        if let Ok(r) = app.http.get(&url).send().await {
            got = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = got.expect("metrics port answers");
    assert_eq!(r.status(), 200, "no token set: the separate port is open");
    assert!(r.text().await.unwrap().contains("gcli2api_credentials"));
    let r = app
        .http
        .get(format!("http://127.0.0.1:{port}/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "only /metrics there");
    // The main port still has none without a token.
    let r = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn counters_match_the_usage_api_after_a_known_workload() {
    init_logs();
    let app = builder().users(2).env("METRICS_TOKEN", TOKEN).spawn().await;
    let (_, team) = create_key(
        &app,
        json!({"name": "team", "models": ["gemini-2.5-flash"]}),
    )
    .await;
    let (_, slow) = create_key(&app, json!({"name": "slow", "rpm": 1})).await;
    let chat = |key: String, model: &'static str, stream: bool| {
        let http = app.http.clone();
        let url = format!("{}/v1/chat/completions", app.url);
        async move {
            let r = http
                .post(url)
                .bearer_auth(key)
                .json(&json!({"model": model, "stream": stream, "messages": [user_text("hi")]}))
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            let _ = r.text().await;
            s
        }
    };
    for _ in 0..5 {
        assert_eq!(chat(team.clone(), "gemini-2.5-flash", false).await, 200);
    }
    for _ in 0..3 {
        assert_eq!(chat(team.clone(), "gemini-2.5-flash", true).await, 200);
    }
    assert_eq!(chat(team.clone(), "gemini-2.5-pro", false).await, 403);
    assert_eq!(chat(slow.clone(), "gemini-2.5-flash", false).await, 200);
    assert_eq!(chat(slow.clone(), "gemini-2.5-flash", false).await, 429);
    assert_eq!(
        app.chat(json!({"model": "gemini-2.5-pro", "messages": [user_text("x")]}))
            .await
            .0,
        200
    );

    app.state.usage.flush().await.unwrap();
    let (status, text) = scrape(&app, &format!("{}/metrics", app.url)).await;
    assert_eq!(status, 200);
    let s = samples(&text);
    let req = "gcli2api_requests_total";
    assert_eq!(sum_of(&s, req, &[("key", "team"), ("status", "2xx")]), 8.0);
    assert_eq!(
        sum_of(
            &s,
            req,
            &[
                ("key", "team"),
                ("status", "2xx"),
                ("model", "gemini-2.5-flash"),
                ("surface", "openai")
            ]
        ),
        8.0
    );
    assert_eq!(sum_of(&s, req, &[("key", "team"), ("status", "4xx")]), 1.0);
    assert_eq!(sum_of(&s, req, &[("key", "slow"), ("status", "2xx")]), 1.0);
    assert_eq!(sum_of(&s, req, &[("key", "slow"), ("status", "4xx")]), 1.0);
    assert_eq!(
        sum_of(
            &s,
            req,
            &[("key", "api-password"), ("model", "gemini-2.5-pro")]
        ),
        1.0
    );
    assert_eq!(sum_of(&s, "gcli2api_stream_ttfb_seconds_count", &[]), 3.0);
    assert_eq!(
        sum_of(&s, "gcli2api_gateway_overhead_seconds_count", &[]),
        10.0
    );
    assert_eq!(
        sum_of(
            &s,
            "gcli2api_upstream_latency_seconds_count",
            &[("kind", "code_assist")]
        ),
        10.0
    );
    assert_eq!(
        sum_of(
            &s,
            "gcli2api_credentials",
            &[("kind", "code_assist"), ("state", "active")]
        ),
        2.0
    );

    // Tokens and requests per key agree with the usage API's breakdown.
    let (_, agg) = send(api(&app, Method::GET, "/usage/aggregated?days=1")).await;
    for k in agg["per_key"].as_array().unwrap() {
        let name = k["name"].as_str().unwrap();
        let t = &k["totals"];
        assert_eq!(
            sum_of(
                &s,
                "gcli2api_tokens_total",
                &[("key", name), ("direction", "in")]
            ),
            t["prompt_tokens"].as_f64().unwrap(),
            "{name}"
        );
        assert_eq!(
            sum_of(
                &s,
                "gcli2api_tokens_total",
                &[("key", name), ("direction", "out")]
            ),
            t["completion_tokens"].as_f64().unwrap(),
            "{name}"
        );
    }
    let (_, usage) = send(api(&app, Method::GET, "/usage")).await;
    let used: u64 = usage
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["today"]["total"]["used"].as_u64().unwrap())
        .sum();
    assert_eq!(sum_of(&s, "gcli2api_quota_used", &[]), used as f64);
    // Two credentials are within the default label cap: one series each, named.
    let names: BTreeSet<_> = s
        .keys()
        .filter(|(n, _)| n == "gcli2api_quota_used")
        .map(|(_, l)| l["credential"].clone())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.contains('@')), "{names:?}");
}

#[tokio::test]
async fn credentials_are_summed_by_kind_past_the_label_cap() {
    init_logs();
    let app = builder()
        .users(3)
        .env("METRICS_TOKEN", TOKEN)
        .env("METRICS_CREDENTIAL_LABELS_MAX", "2")
        .spawn()
        .await;
    for _ in 0..4 {
        assert_eq!(
            app.chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("x")]}))
                .await
                .0,
            200
        );
    }
    let (_, text) = scrape(&app, &format!("{}/metrics", app.url)).await;
    let s = samples(&text);
    let series: Vec<_> = s
        .iter()
        .filter(|((n, _), _)| n == "gcli2api_quota_used")
        .collect();
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0].0.1["credential"], "(all)");
    assert_eq!(*series[0].1, 4.0);
}

/// Every query of the checked-in dashboard names a series the gateway writes.
#[tokio::test]
async fn the_grafana_dashboard_queries_only_series_that_exist() {
    init_logs();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/grafana-dashboard.json");
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dash, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");

    let app = builder().users(1).env("METRICS_TOKEN", TOKEN).spawn().await;
    let (_, key) = create_key(&app, json!({"name": "dash"})).await;
    let r = app
        .http
        .post(format!("{}/v1/chat/completions", app.url))
        .bearer_auth(&key)
        .json(&json!({"model": "gemini-2.5-flash", "stream": true, "messages": [user_text("x")]}))
        .send()
        .await
        .unwrap();
    let _ = r.text().await;
    let (_, text) = scrape(&app, &format!("{}/metrics", app.url)).await;
    let written: BTreeSet<String> = samples(&text).into_keys().map(|(n, _)| n).collect();
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "query names no gcli2api series: {expr}");
        for n in names {
            assert!(written.contains(&n), "{expr}: '{n}' is not in a scrape");
        }
    }
}

fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "expr"
                    && let Some(s) = v.as_str()
                {
                    out.push(s.to_string());
                } else {
                    collect_exprs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("gcli2api_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}
