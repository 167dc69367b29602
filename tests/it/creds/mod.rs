//! The credentials page at scale and its state bugs (#14): one word per state everywhere,
//! counts that follow every action, import checks for every kind, usage kept by identity,
//! search / filter / sort / paging and bulk actions through the API and the panel.
mod bulk;
mod identity;
mod import_check;
mod scale;
mod state;

use reqwest::Method;
use serde_json::Value;

use crate::api::{api, get, send};
use crate::support::TestApp;

pub async fn credential(app: &TestApp, id: i64) -> Value {
    let (status, c) = get(app, &format!("/credentials/{id}")).await;
    assert_eq!(status, 200, "{c}");
    c
}

pub async fn delete(app: &TestApp, id: i64) {
    let (status, body) = send(api(app, Method::DELETE, &format!("/credentials/{id}"))).await;
    assert_eq!(status, 204, "{body}");
}

pub async fn system_pool(app: &TestApp) -> Value {
    let (status, info) = get(app, "/system/info").await;
    assert_eq!(status, 200, "{info}");
    info["pool"].clone()
}
