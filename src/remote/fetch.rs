//! One fetch: the guarded client, then the caps on time, size and type. The body is streamed
//! and abandoned as soon as it passes the size cap, so a huge or endless answer costs at most
//! the cap in memory.
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use url::Url;

use super::allow::AllowList;
use super::cache::Fetched;
use super::guard::{self, GuardedResolver, Refused};
use super::media::{self, Purpose};

/// Redirect hops followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the URL is not valid")]
    BadUrl,
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("the file is larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("the server sent {found}, not {expected}")]
    WrongType {
        found: String,
        expected: &'static str,
    },
    #[error("the server sent an empty file")]
    Empty,
    #[error("no complete answer within {0} s")]
    Timeout(u64),
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("{0}")]
    Transport(String),
}

/// Size and time caps of one fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: u64,
    pub timeout: Duration,
}

/// A client that can only reach permitted addresses. The gateway's `PROXY` setting is not
/// used, and neither are the `HTTP(S)_PROXY` variables: through a proxy the proxy resolves
/// the host and connects, so the address check here would judge nothing.
pub fn client(allow: Arc<AllowList>) -> Result<reqwest::Client, super::BuildError> {
    Ok(crate::outbound::client_builder()?
        .no_proxy()
        .dns_resolver(GuardedResolver {
            allow: Arc::clone(&allow),
            dns: crate::outbound::Dns::default(),
        })
        .redirect(guard::redirect_policy(allow, MAX_REDIRECTS))
        .user_agent(concat!("gcli2api/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Fetches `url` for `purpose` within `limits`; the whole exchange, redirects and body
/// included, must finish within the timeout.
pub async fn fetch(
    client: &reqwest::Client,
    allow: &AllowList,
    url: &Url,
    purpose: Purpose,
    limits: Limits,
) -> Result<Fetched, FetchError> {
    guard::check_url(allow, url)?;
    tokio::time::timeout(limits.timeout, get(client, url, purpose, limits.max_bytes))
        .await
        .map_err(|_| FetchError::Timeout(limits.timeout.as_secs()))?
}

async fn get(
    client: &reqwest::Client,
    url: &Url,
    purpose: Purpose,
    max: u64,
) -> Result<Fetched, FetchError> {
    let mut resp = client
        .get(url.clone())
        .header(ACCEPT, purpose.accept_header())
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(FetchError::Status(status.as_u16()));
    }
    let wrong = |found: &str| FetchError::WrongType {
        found: found.to_string(),
        expected: purpose.expected(),
    };
    let declared = media::declared(
        resp.headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    // Refuse before reading when the headers already tell.
    if let Some(m) = declared.as_deref().filter(|m| !purpose.accepts(m)) {
        return Err(wrong(m));
    }
    if resp.content_length().is_some_and(|n| n > max) {
        return Err(FetchError::TooLarge { limit: max });
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(FetchError::TooLarge { limit: max });
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(FetchError::Empty);
    }
    let mime = declared
        .or_else(|| media::guessed(&body, resp.url()))
        .ok_or_else(|| wrong("a file of unknown type"))?;
    if !purpose.accepts(&mime) {
        return Err(wrong(&mime));
    }
    Ok(Fetched {
        mime,
        bytes: body.freeze(),
    })
}

/// A refusal from the resolver or the redirect policy comes back wrapped by reqwest; anything
/// else is described by its innermost cause, without the URL (the caller names the field).
fn transport(e: reqwest::Error) -> FetchError {
    if let Some(r) = guard::refused_in(&e) {
        return FetchError::Refused(r);
    }
    let mut cause: &(dyn std::error::Error + 'static) = &e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let what = if e.is_connect() {
        "could not connect"
    } else {
        "the transfer failed"
    };
    FetchError::Transport(format!("{what}: {cause}"))
}
