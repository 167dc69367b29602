//! Static files (htmx, its SSE extension, our CSS and script), embedded in the binary. Every URL
//! carries a hash of the file, so browsers may keep them for a year.
use std::sync::OnceLock;

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::Path;
use poem::{IntoResponse, Response, handler};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

pub const HTMX: &str = "htmx-2.0.11.min.js";
pub const HTMX_SSE: &str = "htmx-ext-sse-2.2.4.min.js";
pub const CSS: &str = "app.css";
pub const JS: &str = "app.js";

/// Cache-busting URLs of the files the layout loads.
pub struct Urls {
    pub htmx: String,
    pub htmx_sse: String,
    pub css: String,
    pub js: String,
}

fn url(name: &str) -> String {
    let v = Assets::get(name)
        .map(|f| hex::encode(&f.metadata.sha256_hash()[..6]))
        .unwrap_or_default();
    format!("/panel/assets/{name}?v={v}")
}

pub fn urls() -> &'static Urls {
    static URLS: OnceLock<Urls> = OnceLock::new();
    URLS.get_or_init(|| Urls {
        htmx: url(HTMX),
        htmx_sse: url(HTMX_SSE),
        css: url(CSS),
        js: url(JS),
    })
}

#[handler]
pub fn serve(Path(name): Path<String>) -> Response {
    let Some(file) = Assets::get(&name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mime = mime_guess::from_path(&name).first_or_octet_stream();
    let mut r = Response::builder()
        .content_type(mime.as_ref())
        .body(file.data.into_owned());
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    r
}

pub const FAVICON: &str = "favicon.ico";

/// `GET /favicon.ico`: browsers ask for it at the root whatever the page says.
#[handler]
pub fn favicon() -> Response {
    let Some(file) = Assets::get(FAVICON) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut r = Response::builder()
        .content_type("image/x-icon")
        .body(file.data.into_owned());
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_layout_asset_exists_and_is_versioned() {
        for name in [
            super::HTMX,
            super::HTMX_SSE,
            super::CSS,
            super::JS,
            super::FAVICON,
        ] {
            assert!(super::Assets::get(name).is_some(), "{name} missing");
        }
        let u = super::urls();
        assert!(u.htmx.starts_with("/panel/assets/htmx-2.0.11.min.js?v="));
        assert!(u.css.len() > "/panel/assets/app.css?v=".len());
    }
}
