//! One page of credentials with search, filters and sort, and actions on many at once,
//! through the management API.
use gcli2api::simulator::{ApiKeySpec, KeyState};
use reqwest::Method;
use serde_json::{Value, json};

use super::credential;
use crate::api::{api, code, get, send};
use crate::support::{self, TestApp};

async fn page(app: &TestApp, query: &str) -> Value {
    let (status, body) = get(app, &format!("/credentials/query?{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

async fn bulk(app: &TestApp, action: &str, ids: &[i64]) -> (u16, Value) {
    send(api(app, Method::POST, "/credentials/bulk").json(&json!({"action": action, "ids": ids})))
        .await
}

async fn add_key(app: &TestApp, key: &str) -> i64 {
    let (status, report) = send(
        api(app, Method::POST, "/credentials/keys")
            .json(&json!({"kind": "gemini_api_key", "keys": key, "group": "team-blue"})),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    report["imported"][0]["id"].as_i64().expect("imported")
}

#[tokio::test]
async fn search_filter_sort_and_page() {
    support::init_logs();
    let app = support::builder().users(3).spawn().await;
    let key = app.sim.add_api_key(ApiKeySpec::gemini());
    let key_id = add_key(&app, &key.key).await;
    let all = page(&app, "per=2").await;
    assert_eq!(
        (all["matching"].as_u64(), all["pages"].as_u64()),
        (Some(4), Some(2)),
        "{all}"
    );
    assert_eq!(ids(&all), app.ids[..2]);
    assert_eq!(all["counts"]["total"], 4);
    let second = page(&app, "per=2&page=2").await;
    assert_eq!(ids(&second), [app.ids[2], key_id]);
    // Past the end: the last page.
    assert_eq!(ids(&page(&app, "per=2&page=99").await), ids(&second));
    // By kind, by a piece of the e-mail (any case), by group, by id.
    assert_eq!(ids(&page(&app, "kind=gemini_api_key").await), [key_id]);
    assert_eq!(ids(&page(&app, "q=USER2@").await), [app.ids[1]]);
    assert_eq!(ids(&page(&app, "q=team-blue").await), [key_id]);
    assert!(ids(&page(&app, &format!("q={key_id}")).await).contains(&key_id));
    // By model: a key serves only what its model list holds; Code Assist any chat model.
    let embed = page(&app, "model=gemini-embedding-001").await;
    assert_eq!(ids(&embed), [key_id], "only a key embeds");
    // Sorted by name, descending.
    let names: Vec<String> = page(&app, "sort=name&order=desc").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| std::cmp::Reverse(n.to_lowercase()));
    assert_eq!(names, sorted);
    // By state and by error, after one credential is disabled and one gets an error.
    bulk(&app, "disable", &[app.ids[0]]).await;
    assert_eq!(ids(&page(&app, "status=disabled").await), [app.ids[0]]);
    assert_eq!(page(&app, "status=active").await["matching"], 3);
    assert_eq!(page(&app, "error=any").await["matching"], 0);
    app.sim.push_fault(gcli2api::simulator::FaultRule::new(
        gcli2api::simulator::FaultMatch::endpoint(gcli2api::simulator::Endpoint::GenerateContent),
        1,
        gcli2api::simulator::Fault::RateLimitExceeded {
            retry_delay_ms: 60_000,
        },
    ));
    let (status, _) = app
        .chat(json!({"model": "gemini-2.5-pro", "messages": [support::user_text("hi")]}))
        .await;
    assert_eq!(status, 200);
    let errored = page(&app, "error=429").await;
    assert_eq!(errored["matching"], 1, "{errored}");
    assert_eq!(page(&app, "error=none").await["matching"], 3);
    assert_eq!(page(&app, "status=cooling").await["matching"], 1);
    // Bad values are typed errors naming the field.
    let (status, body) = get(&app, "/credentials/query?error=lots").await;
    assert_eq!((status, code(&body)), (422, "invalid"), "{body}");
    assert_eq!(body["error"]["target"], "error");
    let (status, body) = get(&app, "/credentials/query?per=5000").await;
    assert_eq!(
        (status, body["error"]["target"].as_str()),
        (422, Some("per")),
        "{body}"
    );
    let (status, _) = get(&app, "/credentials/query?status=sleeping").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn bulk_actions_report_each_id_and_update_the_counts() {
    support::init_logs();
    let app = support::builder().users(3).spawn().await;
    let dead = app.sim.add_api_key(ApiKeySpec::gemini());
    let dead_id = add_key(&app, &dead.key).await;
    let missing = 9_999;

    let (status, r) = bulk(&app, "disable", &[app.ids[0], app.ids[1], missing]).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["done"], 2);
    let outcomes: Vec<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["done", "done", "not_found"]);
    assert_eq!(r["counts"]["disabled"], 2, "{r}");
    assert_eq!(r["counts"]["active"], 2, "{r}");
    assert_eq!(credential(&app, app.ids[1]).await["status"], "disabled");
    let (_, r) = bulk(&app, "enable", &[app.ids[0], app.ids[1]]).await;
    assert_eq!(r["counts"]["active"], 4, "{r}");

    // Re-check asks Google again: a revoked sign-in needs a new one, a dead key is refused,
    // the others still work.
    app.sim.revoke_refresh_token(&app.users[2].email);
    app.sim.set_api_key_state(&dead.key, KeyState::Suspended);
    let (status, r) = bulk(&app, "recheck", &[app.ids[0], app.ids[2], dead_id]).await;
    assert_eq!(status, 200, "{r}");
    let by_id = |id: i64| {
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id(app.ids[0])["outcome"], "done", "{r}");
    assert_eq!(by_id(app.ids[2])["outcome"], "refused", "{r}");
    assert_eq!(by_id(dead_id)["outcome"], "refused", "{r}");
    assert_eq!(r["counts"]["needs_sign_in"], 1, "{r}");
    assert_eq!(r["counts"]["banned"], 1, "{r}");
    let c = credential(&app, app.ids[2]).await;
    assert_eq!(c["status"], "needs_sign_in", "{c}");
    assert!(
        c["recheck"]["message"]
            .as_str()
            .unwrap()
            .contains("re-checked"),
        "{c}"
    );
    assert!(
        !r.to_string().contains(&dead.key[5..]),
        "no key in the report"
    );

    // Export of a selection: a ZIP holding just those.
    let resp = api(&app, Method::POST, "/credentials/export-selected")
        .json(&json!({"ids": [app.ids[0], dead_id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let zip = resp.bytes().await.unwrap();
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
    assert_eq!(archive.len(), 2);

    let (status, r) = bulk(&app, "delete", &[app.ids[0], dead_id]).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (r["done"].as_u64(), r["counts"]["total"].as_u64()),
        (Some(2), Some(2)),
        "{r}"
    );
    let (status, _) = get(&app, &format!("/credentials/{dead_id}")).await;
    assert_eq!(status, 404);

    let (status, body) = bulk(&app, "delete", &[]).await;
    assert_eq!(
        (status, body["error"]["target"].as_str()),
        (422, Some("ids")),
        "{body}"
    );
    let (status, _) = bulk(&app, "explode", &[1]).await;
    assert_eq!(status, 400);
}
