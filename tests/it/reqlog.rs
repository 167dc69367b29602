//! The request log over real sockets: a row per proxied request with the right fields, the
//! management API's filters, paging and CSV, the retention purge, and prompt text kept only
//! with REQUEST_LOG_PROMPTS on.
use chrono::{Duration, Utc};
use gcli2api::reqlog::Entry;
use gcli2api::simulator::{Endpoint, Fault, FaultMatch, FaultRule};
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{api, code, get, send};
use crate::support::{TestApp, builder, user_text};

const PROMPT: &str = "tell me about sea otters, privately";

async fn flushed(app: &TestApp) {
    app.state.reqlog.flush().await.expect("request log written");
}

/// The prompt excerpts stored in the database, whatever the API shows.
async fn stored_excerpts(app: &TestApp) -> Vec<Option<String>> {
    app.state
        .store
        .call(|c| {
            let mut st = c.prepare("SELECT prompt_excerpt FROM request_log ORDER BY id")?;
            let rows = st
                .query_map([], |r| r.get::<_, Option<String>>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap()
}

/// Settings saved through the API apply at once (hot).
async fn set(app: &TestApp, values: Value) {
    let (s, body) = send(api(app, Method::PATCH, "/settings").json(&values)).await;
    assert_eq!(s, 200, "{body}");
    // The watcher applies saved settings asynchronously.
    for _ in 0..100 {
        let cur = app.state.settings.get();
        let want = values.as_object().unwrap();
        let applied = want.iter().all(|(k, v)| match k.as_str() {
            "request_log_prompts" => cur.request_log_prompts == v.as_bool().unwrap(),
            "request_log_days" => cur.request_log_days == v.as_u64().unwrap(),
            "request_log_max_rows" => cur.request_log_max_rows == v.as_u64().unwrap(),
            _ => true,
        });
        if applied && app.state.reqlog.prompts() == cur.request_log_prompts {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("settings not applied: {values}");
}

async fn list(app: &TestApp, query: &str) -> Value {
    let (status, body) = get(app, &format!("/requests{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn total(body: &Value) -> u64 {
    body["total"].as_u64().unwrap()
}

#[tokio::test]
async fn each_request_leaves_one_row_with_its_facts_and_the_filters_find_it() {
    let app = builder().users(1).spawn().await;
    let cred = app.ids[0];
    // 1: a plain success.
    let (s, _) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text(PROMPT)]}))
        .await;
    assert_eq!(s, 200);
    // 2: a stream.
    let (s, _, _) = app
        .chat_stream(
            json!({"model": "gemini-2.5-pro", "stream": true, "messages": [user_text("hi")]}),
        )
        .await;
    assert_eq!(s, 200);
    // 3: the client's mistake: no credential is called.
    let (s, _) = app.chat(json!({"messages": [user_text("no model")]})).await;
    assert_eq!(s, 400);
    // 4: the upstream fails every attempt.
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent),
        50,
        Fault::Internal,
    ));
    let (s, _) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("fail")]}))
        .await;
    assert!(s >= 500, "{s}");
    flushed(&app).await;

    let all = list(&app, "").await;
    assert_eq!(total(&all), 4, "{all}");
    let rows = all["requests"].as_array().unwrap();
    // Newest first.
    let ok = &rows[3];
    assert_eq!(ok["surface"], "openai");
    assert_eq!(ok["stream"], false);
    assert_eq!(ok["client_model"], "gemini-2.5-flash");
    assert_eq!(ok["served_model"], "gemini-2.5-flash");
    assert_eq!(ok["credential_id"], cred);
    assert_eq!(ok["credential"], "cred-1.json");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["outcome"], "success");
    assert_eq!(ok["attempts"], 1);
    assert_eq!(ok["client"], "127.0.0.1");
    assert!(ok["prompt_tokens"].as_u64().unwrap() > 0, "{ok}");
    assert!(ok["completion_tokens"].as_u64().unwrap() > 0, "{ok}");
    assert!(ok["latency_ms"].is_u64());
    assert!(ok["error"].is_null());
    assert!(ok["prompt_excerpt"].is_null());
    let stream = &rows[2];
    assert_eq!(stream["stream"], true);
    assert_eq!(stream["served_model"], "gemini-2.5-pro");
    assert!(stream["ttfb_ms"].is_u64(), "{stream}");
    assert_eq!(
        stream["credential_id"], cred,
        "a stream names its credential too"
    );
    let bad = &rows[1];
    assert_eq!(bad["status"], 400);
    assert_eq!(bad["outcome"], "client_400");
    assert!(bad["credential_id"].is_null());
    assert!(bad["error"].as_str().unwrap().contains("model"), "{bad}");
    let failed = &rows[0];
    assert_eq!(failed["outcome"], "upstream_500", "{failed}");
    assert!(!failed["error"].as_str().unwrap().is_empty(), "{failed}");

    // Prompt text is not stored by default, not even in the database.
    assert_eq!(stored_excerpts(&app).await, vec![None; 4]);

    // Filters.
    let two_hundred = list(&app, "?status=200").await;
    assert_eq!(total(&two_hundred), 2, "{two_hundred} {all}");
    assert_eq!(total(&list(&app, "?status=4xx").await), 1);
    assert_eq!(total(&list(&app, "?status=5xx").await), 1);
    assert_eq!(total(&list(&app, "?status=error").await), 2);
    assert_eq!(total(&list(&app, "?model=gemini-2.5-pro").await), 1);
    assert_eq!(
        total(&list(&app, &format!("?credential_id={cred}&status=200")).await),
        2
    );
    // The client's mistake and the request whose every attempt failed: none served them.
    assert_eq!(total(&list(&app, "?credential_id=0").await), 2);
    assert_eq!(total(&list(&app, "?surface=gemini").await), 0);
    let later = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let earlier = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let q = |k: &str, t: &str| format!("?{k}={}", urlencoding(t));
    assert_eq!(total(&list(&app, &q("from", &later)).await), 0);
    assert_eq!(total(&list(&app, &q("from", &earlier)).await), 4);
    assert_eq!(total(&list(&app, &q("to", &earlier)).await), 0);
    // Paging.
    let page = list(&app, "?limit=1&offset=1").await;
    assert_eq!(total(&page), 4);
    assert_eq!(page["requests"].as_array().unwrap().len(), 1);
    assert_eq!(page["requests"][0]["id"], rows[1]["id"]);
    // Bad filters get the API's typed error.
    let (s, body) = get(&app, "/requests?status=teapot").await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(code(&body), "bad_request");

    // One request in full, and a missing one.
    let id = failed["id"].as_i64().unwrap();
    let (s, one) = get(&app, &format!("/requests/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(one["error"], failed["error"]);
    let (s, body) = get(&app, "/requests/999999").await;
    assert_eq!(s, 404);
    assert_eq!(code(&body), "not_found");

    // CSV with the same filters.
    let r = api(&app, Method::GET, "/requests/export?status=200")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("requests.csv")
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("id,time,surface,"));
    assert!(
        lines[2].contains(",gemini-2.5-flash,gemini-2.5-flash,"),
        "{csv}"
    );
    assert!(lines[2].contains(",cred-1.json,200,success,"), "{csv}");
    assert!(!csv.contains("otters"));
    // Every operation needs the panel password.
    let r = app
        .http
        .get(format!("{}/api/v1/requests", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// Just enough percent-encoding for an RFC 3339 time in a query string.
fn urlencoding(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn prompt_text_is_kept_only_while_the_setting_is_on() {
    let app = builder().users(1).spawn().await;
    set(&app, json!({"request_log_prompts": true})).await;
    let (s, _) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text(PROMPT)]}))
        .await;
    assert_eq!(s, 200);
    let r = app
        .post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            &json!({"contents": [{"role": "user", "parts": [{"text": "gemini otters"}]}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    flushed(&app).await;
    let rows = list(&app, "").await;
    assert_eq!(rows["requests"][1]["prompt_excerpt"], PROMPT);
    assert_eq!(rows["requests"][0]["prompt_excerpt"], "gemini otters");
    let csv = api(&app, Method::GET, "/requests/export")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains(PROMPT), "{csv}");

    // Turned off: no longer shown at once, erased at the next retention pass, and new rows
    // have none.
    set(&app, json!({"request_log_prompts": false})).await;
    let rows = list(&app, "").await;
    assert!(rows["requests"][1]["prompt_excerpt"].is_null(), "{rows}");
    let csv = api(&app, Method::GET, "/requests/export")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!csv.contains("otters"), "{csv}");
    app.state.reqlog.purge().await.unwrap();
    assert_eq!(stored_excerpts(&app).await, vec![None, None]);
    let (s, _) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text(PROMPT)]}))
        .await;
    assert_eq!(s, 200);
    flushed(&app).await;
    assert_eq!(stored_excerpts(&app).await, vec![None, None, None]);
}

fn entry(at: chrono::DateTime<Utc>, model: &str) -> Entry {
    Entry {
        at,
        surface: "openai",
        stream: false,
        client_model: model.into(),
        served_model: model.into(),
        credential_id: None,
        status: 200,
        outcome: gcli2api::usage::Outcome::Success,
        latency_ms: 5,
        ttfb_ms: None,
        attempts: 1,
        prompt_tokens: 1,
        completion_tokens: 1,
        reasoning_tokens: 0,
        client: "127.0.0.1".into(),
        error: None,
        prompt_excerpt: None,
    }
}

#[tokio::test]
async fn retention_purges_by_age_and_by_count_oldest_first() {
    let app = builder().users(1).spawn().await;
    set(
        &app,
        json!({"request_log_days": 7, "request_log_max_rows": 100}),
    )
    .await;
    let log = &app.state.reqlog;
    for _ in 0..5 {
        log.record(entry(Utc::now() - Duration::days(8), "old"));
    }
    for i in 0..120 {
        log.record(entry(Utc::now(), &format!("m{i}")));
    }
    flushed(&app).await;
    assert_eq!(total(&list(&app, "").await), 125);
    let purged = log.purge().await.unwrap();
    assert_eq!((purged.by_age, purged.by_count), (5, 20));
    let left = list(&app, "?limit=1000").await;
    assert_eq!(total(&left), 100);
    let models: Vec<&str> = left["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["client_model"].as_str().unwrap())
        .collect();
    assert_eq!(models.first(), Some(&"m119"));
    assert_eq!(models.last(), Some(&"m20"), "the oldest went first");

    // A lower cap applies through the settings API, like every hot setting.
    set(&app, json!({"request_log_max_rows": 150})).await;
    assert_eq!(log.purge().await.unwrap().by_count, 0);
}

#[tokio::test]
async fn nothing_is_kept_with_the_request_log_off() {
    let app = builder().users(1).env("REQUEST_LOG", "false").spawn().await;
    let (s, _) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("hi")]}))
        .await;
    assert_eq!(s, 200);
    flushed(&app).await;
    assert_eq!(total(&list(&app, "").await), 0);
}

/// Signs in to the panel like a browser and returns the session cookie.
async fn panel_cookie(app: &TestApp) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .post(format!("{}/panel/login", app.url))
        .header("origin", &app.url)
        .form(&[("password", crate::support::KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let c = r.headers()["set-cookie"].to_str().unwrap();
    c.split(';').next().unwrap().to_string()
}

async fn panel_get(app: &TestApp, cookie: &str, path: &str, lang: &str) -> (u16, String, String) {
    let r = app
        .http
        .get(format!("{}{path}", app.url))
        .header("cookie", cookie)
        .header("accept-language", lang)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test]
async fn the_panel_lists_filters_details_downloads_and_charts_requests() {
    let app = builder().users(1).spawn().await;
    for _ in 0..2 {
        let (s, _) = app
            .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text(PROMPT)]}))
            .await;
        assert_eq!(s, 200);
    }
    let (s, _) = app.chat(json!({"messages": [user_text("no model")]})).await;
    assert_eq!(s, 400);
    flushed(&app).await;
    let cookie = panel_cookie(&app).await;

    let (s, _, html) = panel_get(&app, &cookie, "/panel/requests", "en").await;
    assert_eq!(s, 200);
    assert_eq!(html.matches("<tr data-status=").count(), 3, "{html}");
    assert!(html.contains("cred-1.json"));
    assert!(html.contains("Prompt text is not stored"));
    assert!(!html.contains("otters"));
    let (_, _, html) = panel_get(&app, &cookie, "/panel/requests?status=4xx", "en").await;
    assert_eq!(html.matches("<tr data-status=\"400\"").count(), 1, "{html}");
    assert_eq!(html.matches("<tr data-status=").count(), 1);
    let (_, _, html) = panel_get(
        &app,
        &cookie,
        &format!("/panel/requests?credential={}", app.ids[0]),
        "en",
    )
    .await;
    assert_eq!(html.matches("<tr data-status=\"200\"").count(), 2);
    assert_eq!(html.matches("<tr data-status=").count(), 2);
    // The CSV link repeats the filters.
    assert!(
        html.contains(&format!(
            "/panel/requests.csv?status=&#38;model=&#38;credential={}",
            app.ids[0]
        )),
        "{html}"
    );

    // Detail with the error reason, and a purged one.
    let rows = list(&app, "?status=400").await;
    let id = rows["requests"][0]["id"].as_i64().unwrap();
    let (s, _, html) = panel_get(&app, &cookie, &format!("/panel/requests/{id}"), "en").await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"request-error\""), "{html}");
    assert!(!html.contains("id=\"request-prompt\""));
    let (s, _, _) = panel_get(&app, &cookie, "/panel/requests/987654", "en").await;
    assert_eq!(s, 404);

    // CSV from the panel.
    let (s, ct, csv) = panel_get(&app, &cookie, "/panel/requests.csv?status=200", "en").await;
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert_eq!(csv.trim_end().split("\r\n").count(), 3, "{csv}");

    // Charts: three SVG charts, each with a data table naming its series, and quota bars.
    let (s, _, html) = panel_get(&app, &cookie, "/panel/charts", "en").await;
    assert_eq!(s, 200);
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 3, "{html}");
    assert!(
        html.contains("<th scope=\"col\" translate=\"no\">gemini-2.5-flash</th>"),
        "{html}"
    );
    assert!(html.contains("<title>"), "bars carry their values");
    assert!(
        html.contains("<th scope=\"col\" translate=\"no\">400</th>"),
        "errors by code: {html}"
    );
    assert!(html.contains("class=\"quota-bar\""));
    let (s, _, html) = panel_get(
        &app,
        &cookie,
        "/panel/charts?period=30d&by=credential",
        "en",
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        html.contains("<th scope=\"col\" translate=\"no\">cred-1.json</th>"),
        "{html}"
    );
    let (_, _, html) = panel_get(&app, &cookie, "/panel/charts?by=kind", "en").await;
    assert!(
        html.contains("<th scope=\"col\" translate=\"no\">Code Assist (Google sign-in)</th>"),
        "{html}"
    );

    // Both languages.
    let (_, _, html) = panel_get(&app, &cookie, "/panel/requests", "zh-CN").await;
    assert!(html.contains("请求记录"), "{html}");
    let (_, _, html) = panel_get(&app, &cookie, "/panel/charts", "zh-CN").await;
    assert!(html.contains("按错误码统计的错误"));
}
