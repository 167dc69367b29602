//! Proxy surface: thin handlers over the conversion and dispatch modules.
pub mod auth;

pub use crate::error::Surface;
use poem::{EndpointExt, Route, get, handler, web::Json};

#[handler]
fn list_models() -> Json<serde_json::Value> {
    Json(serde_json::json!({"object": "list", "data": []}))
}

pub fn routes(surface: Surface) -> impl poem::Endpoint {
    Route::new()
        .at("/models", get(list_models))
        .around(move |ep, req| auth::guard(ep, req, surface))
}
