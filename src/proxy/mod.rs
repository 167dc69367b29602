//! Proxy surface: thin handlers over conversion and dispatch. Every route needs the API key;
//! OpenAI routes answer errors in OpenAI's shape, Gemini routes in Google's, Anthropic routes
//! in Anthropic's.
pub mod anthropic;
pub mod auth;
pub mod body;
pub mod dispatch;
pub mod frames;
pub mod gemini;
pub mod limit;
pub mod meter;
pub mod modes;
pub mod openai;

use std::time::Duration;

use poem::{Endpoint, EndpointExt, Route, get, post};

use crate::convert::request::ConvertOptions;
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

fn gemini_routes() -> Route {
    Route::new()
        .at(
            "/models",
            guarded(get(gemini::list_models), Surface::Gemini),
        )
        .at(
            "/models/*rest",
            guarded(
                get(gemini::get_model).post(gemini::model_action),
                Surface::Gemini,
            ),
        )
}

/// `/v1`: the OpenAI surface, Anthropic's Messages, plus Gemini's model actions
/// (`/v1/models/{m}:generateContent`).
pub fn v1_routes() -> Route {
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
            "/models",
            guarded(get(openai::list_models), Surface::OpenAi),
        )
        .at(
            "/models/*rest",
            guarded(
                get(gemini::get_model).post(gemini::model_action),
                Surface::Gemini,
            ),
        )
}

/// `/v1beta`: Gemini's surface, plus chat completions for clients configured with that base.
pub fn v1beta_routes() -> Route {
    gemini_routes().at(
        "/chat/completions",
        guarded(post(openai::chat_completions), Surface::OpenAi),
    )
}
