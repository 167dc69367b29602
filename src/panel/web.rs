//! What every panel response shares: full page or HTMX partial, toasts, errors, and the guards
//! (same-origin POSTs, body limits, security headers).
use std::sync::Arc;

use askama::Template;
use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use super::Nav;
use super::i18n::Tr;

/// Rendered output of one of our own templates. Only [`render`] makes one, so marking it
/// HTML-safe never lets data through unescaped: every value inside was escaped when the inner
/// template rendered it.
pub struct Fragment(String);

impl std::fmt::Display for Fragment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl askama::filters::HtmlSafe for Fragment {}

pub fn render(t: &impl Template) -> Result<Fragment, PanelError> {
    Ok(Fragment(t.render()?))
}

/// One `<option>` of a select.
pub struct Opt {
    pub value: String,
    pub selected: bool,
}

pub fn options<T: ToString + PartialEq>(values: &[T], selected: &T) -> Vec<Opt> {
    values
        .iter()
        .map(|v| Opt {
            value: v.to_string(),
            selected: v == selected,
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum PanelError {
    #[error("cannot render the page: {0}")]
    Render(#[from] askama::Error),
    #[error("{what}: {source}")]
    Internal {
        what: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
}

impl PanelError {
    pub fn internal(what: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        PanelError::Internal {
            what,
            source: Box::new(e),
        }
    }
}

impl poem::error::ResponseError for PanelError {
    fn status(&self) -> StatusCode {
        match self {
            PanelError::Render(_) | PanelError::Internal { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            PanelError::NotFound(_) => StatusCode::NOT_FOUND,
            PanelError::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn as_response(&self) -> Response {
        let text = match self {
            PanelError::Render(_) | PanelError::Internal { .. } => {
                // The cause may quote upstream text; it goes to the (redacted) log only.
                tracing::error!(error = %self, "panel request failed");
                Tr::current().error_internal().to_string()
            }
            other => other.to_string(),
        };
        let page = ErrorPage {
            message: &text,
            tr: Tr::current(),
        }
        .render()
        .unwrap_or_else(|_| "error".into());
        let r = Response::builder()
            .status(self.status())
            .content_type("text/html; charset=utf-8")
            .header("HX-Reswap", "none")
            .body(page);
        with_toast(r, Toast::error(text))
    }
}

#[derive(Template)]
#[template(path = "panel/error.html")]
struct ErrorPage<'a> {
    message: &'a str,
    tr: Tr,
}

/// A notification shown by the page's small listener (`assets/app.js`), which inserts the
/// text with `textContent`: it is never parsed as HTML.
pub struct Toast {
    level: &'static str,
    text: String,
}

impl Toast {
    pub fn ok(text: impl Into<String>) -> Self {
        Toast {
            level: "ok",
            text: text.into(),
        }
    }
    pub fn error(text: impl Into<String>) -> Self {
        Toast {
            level: "error",
            text: text.into(),
        }
    }
}

/// Adds the toast to `HX-Trigger`, plus any extra events (e.g. `rows-changed`).
pub fn with_toast(r: Response, t: Toast) -> Response {
    trigger(r, Some(t), &[])
}

pub fn trigger(mut r: Response, toast: Option<Toast>, events: &[&str]) -> Response {
    let mut obj = serde_json::Map::new();
    if let Some(t) = toast {
        obj.insert(
            "toast".into(),
            serde_json::json!({ "level": t.level, "text": t.text }),
        );
    }
    for e in events {
        obj.insert((*e).into(), serde_json::Value::Null);
    }
    let json = ascii_json(&serde_json::Value::Object(obj));
    if let Ok(v) = HeaderValue::from_str(&json) {
        r.headers_mut().insert("HX-Trigger", v);
    }
    r
}

/// JSON with every non-ASCII character as `\uXXXX`: header values must be ASCII, and the
/// browser would otherwise read them as Latin-1.
fn ascii_json(v: &serde_json::Value) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() && !c.is_ascii_control() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// An HTMX request that swaps part of the page (a boosted link or a form), as opposed to a
/// browser navigation or a history restore, which need the whole document.
pub fn is_partial(req: &Request) -> bool {
    req.headers()
        .get("HX-Request")
        .is_some_and(|v| v.as_bytes() == b"true")
        && req.headers().get("HX-History-Restore-Request").is_none()
}

/// The id of the element an HTMX request will swap into.
pub fn hx_target(req: &Request) -> Option<&str> {
    if !is_partial(req) {
        return None;
    }
    req.headers().get("HX-Target").and_then(|v| v.to_str().ok())
}

pub fn html(body: impl Into<String>) -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .body(body.into())
}

#[derive(Template)]
#[template(path = "panel/layout.html")]
struct Layout<'a> {
    tr: Tr,
    title: &'a str,
    nav: Nav,
    assets: &'a super::assets::Urls,
    main: Fragment,
}

#[derive(Template)]
#[template(path = "panel/partial.html")]
struct Partial<'a> {
    tr: Tr,
    title: &'a str,
    nav: Nav,
    main: Fragment,
}

/// A page: the whole document, or for HTMX navigation only the main column plus the page
/// title and the nav's active item (out-of-band).
pub fn page(
    req: &Request,
    title: &str,
    nav: Nav,
    main: &impl Template,
) -> Result<Response, PanelError> {
    let main = render(main)?;
    let tr = Tr::current();
    let body = if is_partial(req) {
        Partial {
            tr,
            title,
            nav,
            main,
        }
        .render()?
    } else {
        Layout {
            tr,
            title,
            nav,
            assets: super::assets::urls(),
            main,
        }
        .render()?
    };
    Ok(html(body))
}

/// The panel has no CORS, so a custom header such as `HX-Request` cannot be sent cross-site
/// without a preflight that fails; plain forms are checked by their `Origin`. On top of
/// SameSite=Strict cookies.
pub fn same_origin(req: &Request) -> bool {
    let h = req.headers();
    if let Some(origin) = h.get(header::ORIGIN) {
        let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
        let authority = origin
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(|u| match u.port() {
                Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
                None => u.host_str().unwrap_or_default().to_string(),
            });
        return match (authority, host) {
            (Some(a), Some(h)) => a.eq_ignore_ascii_case(h),
            _ => false,
        };
    }
    if h.get("HX-Request").is_some() {
        return true;
    }
    h.get("Sec-Fetch-Site")
        .is_some_and(|v| v.as_bytes() == b"same-origin")
}

/// Largest body for anything but an upload: forms are small.
pub const MAX_FORM_BYTES: usize = 64 << 10;

fn body_limit(req: &Request, upload_limit: usize) -> Result<(), StatusCode> {
    let limit = if req.uri().path().ends_with("/credentials/upload") {
        upload_limit
    } else {
        MAX_FORM_BYTES
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Err(StatusCode::PAYLOAD_TOO_LARGE),
        Some(_) => Ok(()),
        // Browsers always declare the length of a form; a chunked body is refused rather than
        // read without a bound.
        None if req.headers().contains_key(header::TRANSFER_ENCODING) => {
            Err(StatusCode::LENGTH_REQUIRED)
        }
        None => Ok(()),
    }
}

/// Wraps every panel request: POSTs must be same-origin and bounded; every response gets a
/// strict CSP and is kept out of shared caches.
pub async fn guard<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        if !same_origin(&req) {
            tracing::warn!(path = %req.uri().path(), "cross-origin panel request refused");
            return Ok(StatusCode::FORBIDDEN.into_response());
        }
        let upload_limit = crate::api::credentials::MAX_IMPORT_BYTES + (256 << 10);
        if let Err(status) = body_limit(&req, upload_limit) {
            return Ok(status.into_response());
        }
    }
    let origin = crate::security::client_ip(&req);
    let zone = req
        .data::<crate::state::AppState>()
        .and_then(|s| s.settings.get().panel_timezone);
    let tr = Tr::for_request(&req, zone);
    // The error page is rendered inside the scope too, so it speaks the reader's language.
    let mut r = tr
        .scope(async {
            match crate::security::audit::scope(origin, ep.call(req)).await {
                Ok(r) => r.into_response(),
                Err(e) => e.into_response(),
            }
        })
        .await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("HX-Request, HX-Target, Accept-Language, Cookie"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request {
        let mut b = Request::builder().method(Method::POST).uri_str("/panel/x");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.finish()
    }

    #[test]
    fn same_origin_rules() {
        assert!(same_origin(&req(&[
            ("host", "127.0.0.1:7861"),
            ("origin", "http://127.0.0.1:7861")
        ])));
        assert!(!same_origin(&req(&[
            ("host", "127.0.0.1:7861"),
            ("origin", "http://evil.test")
        ])));
        // A matching HX-Request does not excuse a foreign Origin.
        assert!(!same_origin(&req(&[
            ("host", "127.0.0.1:7861"),
            ("origin", "http://evil.test:7861"),
            ("hx-request", "true")
        ])));
        assert!(!same_origin(&req(&[("host", "a"), ("origin", "null")])));
        assert!(same_origin(&req(&[("hx-request", "true")])));
        assert!(same_origin(&req(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&req(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&req(&[])));
    }

    #[test]
    fn toast_header_is_ascii_json() {
        let r = with_toast(Response::default(), Toast::ok("<b>ü\"</b>"));
        let v = r.headers().get("HX-Trigger").unwrap().to_str().unwrap();
        let parsed: serde_json::Value = serde_json::from_str(v).unwrap();
        assert_eq!(parsed["toast"]["text"], "<b>ü\"</b>");
        assert!(v.is_ascii());
    }

    #[test]
    fn body_limits() {
        let r = |len: Option<&str>, chunked: bool, path: &str| {
            let mut b = Request::builder().method(Method::POST).uri_str(path);
            if let Some(l) = len {
                b = b.header("content-length", l);
            }
            if chunked {
                b = b.header("transfer-encoding", "chunked");
            }
            body_limit(&b.finish(), 1000)
        };
        assert!(r(Some("10"), false, "/panel/settings").is_ok());
        assert_eq!(
            r(Some("70000"), false, "/panel/settings"),
            Err(StatusCode::PAYLOAD_TOO_LARGE)
        );
        assert!(r(Some("900"), false, "/panel/credentials/upload").is_ok());
        assert_eq!(
            r(Some("1001"), false, "/panel/credentials/upload"),
            Err(StatusCode::PAYLOAD_TOO_LARGE)
        );
        assert_eq!(
            r(None, true, "/panel/settings"),
            Err(StatusCode::LENGTH_REQUIRED)
        );
        assert!(r(None, false, "/panel/logout").is_ok());
    }
}
