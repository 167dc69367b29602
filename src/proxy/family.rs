//! Which wire format a proxy request is answered in, from its path (and, for the model list,
//! its headers). One rule for the auth guard, for errors raised before a handler runs (unknown
//! paths, wrong methods), for the catch-panic layer and for `GET /v1/models`:
//!
//! - under `/v1beta/`: Google's, except `/v1beta/chat/completions` (OpenAI's);
//! - `/v1/models/{model}:{method}` (Gemini-style actions): Google's;
//! - `/v1/models` and `/v1/models/{id}`: negotiated, see [`negotiated`];
//! - `/v1/messages` and below: Anthropic's;
//! - `/v1/responses` and below: OpenAI's (counted as the Responses surface);
//! - anything else under `/v1/`: OpenAI's.
use poem::Request;
use poem::http::HeaderMap;

use crate::error::Surface;

/// The format of a proxy path; `None` for paths outside `/v1` and `/v1beta`. `path` is the full
/// request path (not the part below a nest).
pub fn of_path(path: &str, headers: &HeaderMap, query: Option<&str>) -> Option<Surface> {
    if let Some(rest) = below(path, "/v1beta") {
        return Some(if rest == "/chat/completions" {
            Surface::OpenAi
        } else {
            Surface::Gemini
        });
    }
    let rest = below(path, "/v1")?;
    if let Some(model) = rest.strip_prefix("/models/") {
        return Some(if model.contains(':') {
            Surface::Gemini
        } else {
            negotiated(headers, query)
        });
    }
    Some(match rest {
        "/models" | "/models/" => negotiated(headers, query),
        r if r == "/messages" || r.starts_with("/messages/") => Surface::Anthropic,
        r if r == "/responses" || r.starts_with("/responses/") => Surface::Responses,
        _ => Surface::OpenAi,
    })
}

/// [`of_path`] for a request, by its original (un-nested) path.
pub fn of(req: &Request) -> Surface {
    let uri = req.original_uri();
    of_path(uri.path(), req.headers(), uri.query()).unwrap_or(Surface::OpenAi)
}

/// The format a caller of `GET /v1/models[/{id}]` expects: Anthropic's when it sends
/// `anthropic-version` (every Anthropic SDK and Claude Code do), Google's when it sends its key
/// the Google way (`x-goog-api-key` or `?key=`, as google-genai and Gemini CLI do), else
/// OpenAI's.
pub fn negotiated(headers: &HeaderMap, query: Option<&str>) -> Surface {
    if headers.contains_key("anthropic-version") {
        Surface::Anthropic
    } else if headers.contains_key("x-goog-api-key") || query.is_some_and(has_key_param) {
        Surface::Gemini
    } else {
        Surface::OpenAi
    }
}

fn has_key_param(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "key")
}

/// `path` below `prefix` (`""` for the prefix itself), if it is under it.
fn below<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn paths_map_to_their_family() {
        let none = HeaderMap::new();
        let cases = [
            ("/v1/chat/completions", Some(Surface::OpenAi)),
            ("/v1/responses", Some(Surface::Responses)),
            ("/v1/responses/resp_1", Some(Surface::Responses)),
            ("/v1/responsesx", Some(Surface::OpenAi)),
            ("/v1/embeddings", Some(Surface::OpenAi)),
            ("/v1", Some(Surface::OpenAi)),
            ("/v1/messages", Some(Surface::Anthropic)),
            ("/v1/messages/count_tokens", Some(Surface::Anthropic)),
            ("/v1/messages/batches", Some(Surface::Anthropic)),
            ("/v1/messagesx", Some(Surface::OpenAi)),
            (
                "/v1/models/gemini-2.5-pro:generateContent",
                Some(Surface::Gemini),
            ),
            ("/v1/models/x:embedContent", Some(Surface::Gemini)),
            ("/v1/models", Some(Surface::OpenAi)),
            ("/v1/models/gemini-2.5-pro", Some(Surface::OpenAi)),
            ("/v1beta/models", Some(Surface::Gemini)),
            ("/v1beta/anything", Some(Surface::Gemini)),
            ("/v1beta", Some(Surface::Gemini)),
            ("/v1beta/chat/completions", Some(Surface::OpenAi)),
            ("/v1betax", None),
            ("/v2/models", None),
            ("/api/v1/credentials", None),
            ("/panel", None),
        ];
        for (path, want) in cases {
            assert_eq!(of_path(path, &none, None), want, "{path}");
        }
    }

    #[test]
    fn model_list_is_negotiated_by_headers() {
        let anthropic = headers(&[("anthropic-version", "2023-06-01"), ("x-api-key", "k")]);
        let goog = headers(&[("x-goog-api-key", "k")]);
        let bearer = headers(&[("authorization", "Bearer k")]);
        let none = HeaderMap::new();
        for path in ["/v1/models", "/v1/models/gemini-2.5-pro"] {
            assert_eq!(of_path(path, &anthropic, None), Some(Surface::Anthropic));
            assert_eq!(of_path(path, &goog, None), Some(Surface::Gemini));
            assert_eq!(
                of_path(path, &none, Some("pageSize=5&key=k")),
                Some(Surface::Gemini)
            );
            assert_eq!(
                of_path(path, &none, Some("monkey=1")),
                Some(Surface::OpenAi)
            );
            assert_eq!(of_path(path, &bearer, None), Some(Surface::OpenAi));
        }
        // `/v1beta/models` stays Google's whoever asks.
        assert_eq!(
            of_path("/v1beta/models", &anthropic, None),
            Some(Surface::Gemini)
        );
        assert_eq!(
            of_path("/v1beta/models", &bearer, None),
            Some(Surface::Gemini)
        );
    }
}
