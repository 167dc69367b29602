//! Proxy surface: thin handlers over conversion and dispatch. Every route needs the API key;
//! OpenAI routes answer errors in OpenAI's shape, Gemini routes in Google's, Anthropic routes
//! in Anthropic's, and unknown paths and wrong methods in their path's family's (see
//! [`family`]).
pub mod anthropic;
pub mod auth;
pub mod body;
pub mod dispatch;
pub mod embeddings;
pub mod family;
pub mod frames;
pub mod gemini;
pub mod limit;
pub mod meter;
pub mod model_list;
pub mod modes;
pub mod openai;
pub mod responses;

use std::sync::Arc;
use std::time::Duration;

use poem::http::{Method, StatusCode};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, post};

use crate::convert::request::ConvertOptions;
use crate::error::GatewayError;
pub use crate::error::Surface;
use crate::settings::Settings;

/// Silence after which a stream gets a heartbeat frame.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

pub fn convert_options(s: &Settings) -> ConvertOptions {
    ConvertOptions {
        compatibility_mode: s.compatibility_mode,
        return_thoughts: s.return_thoughts,
        aliases: s.model_aliases.clone(),
    }
}

fn guarded<E: Endpoint + 'static>(ep: E, surface: Surface) -> impl Endpoint {
    ep.around(move |ep, req| auth::guard(ep, req, surface))
}

/// Guarded, answering in the format [`family::of`] picks for each request (the model list's
/// negotiated format, or Google's for `models/{m}:{method}`).
fn guarded_by_family<E: Endpoint + 'static>(ep: E) -> impl Endpoint {
    ep.around(|ep, req| {
        let surface = family::of(&req);
        auth::guard(ep, req, surface)
    })
}

/// Errors poem raises before a handler runs (no route for the path, a method the route does
/// not take, an extractor that fails) become JSON in the path's family format, like every
/// other proxy error. Routes check the key first, so a wrong method on a real route without a
/// key is still a 401; an unknown path is a 404 whether or not a key was sent (as OpenAI does).
async fn json_errors<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let surface = family::of(&req);
    let method = req.method().clone();
    // The path only: the query can carry `?key=`.
    let path = req.original_uri().path().to_owned();
    match ep.call(req).await {
        Ok(r) => Ok(r.into_response()),
        Err(e) => Ok(route_error(&e, &method, &path).into_response(surface)),
    }
}

fn route_error(e: &poem::Error, method: &Method, path: &str) -> GatewayError {
    match e.status() {
        StatusCode::NOT_FOUND => {
            GatewayError::NotFound(format!("unknown path: {method} {path} is not served here"))
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            GatewayError::MethodNotAllowed(format!("method {method} is not allowed on {path}"))
        }
        s if s.is_client_error() => GatewayError::BadRequest(e.to_string()),
        s => {
            tracing::error!(%method, path, status = s.as_u16(), error = %e, "proxy route failed");
            GatewayError::Internal(s.canonical_reason().unwrap_or("error").to_string())
        }
    }
}

/// `/v1`: the OpenAI surface (chat completions, Responses, embeddings), Anthropic's Messages,
/// Gemini's model actions (`/v1/models/{m}:generateContent`, `:embedContent`, ...) and the model
/// list in the caller's format.
pub fn v1_routes() -> impl Endpoint {
    Route::new()
        .at(
            "/messages",
            guarded(post(anthropic::messages), Surface::Anthropic),
        )
        .at(
            "/messages/count_tokens",
            guarded(post(anthropic::count_tokens), Surface::Anthropic),
        )
        .at(
            "/chat/completions",
            guarded(post(openai::chat_completions), Surface::OpenAi),
        )
        .at(
            "/embeddings",
            guarded(post(embeddings::openai), Surface::OpenAi),
        )
        .at(
            "/responses",
            guarded(post(responses::create), Surface::Responses),
        )
        .at(
            "/responses/:id",
            guarded(
                get(responses::retrieve).delete(responses::delete),
                Surface::Responses,
            ),
        )
        .at("/models", guarded_by_family(get(model_list::list_v1)))
        .at(
            "/models/*rest",
            guarded_by_family(get(model_list::get_v1).post(gemini::model_action)),
        )
        .around(json_errors)
}

/// `/v1beta`: Gemini's surface, plus chat completions for clients configured with that base.
pub fn v1beta_routes() -> impl Endpoint {
    Route::new()
        .at(
            "/models",
            guarded(get(model_list::list_v1beta), Surface::Gemini),
        )
        .at(
            "/models/*rest",
            guarded(
                get(model_list::get_v1beta).post(gemini::model_action),
                Surface::Gemini,
            ),
        )
        .at(
            "/chat/completions",
            guarded(post(openai::chat_completions), Surface::OpenAi),
        )
        .around(json_errors)
}
