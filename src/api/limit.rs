//! Request body limits: 20 MiB for credential imports, 1 MiB for everything else. A declared
//! length over the limit is refused at once; a chunked body is cut off when it passes the limit,
//! and the request then answers 413 whatever the handler made of the truncated body.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use poem::{Body, Endpoint, IntoResponse, Request, Response};

use super::credentials::MAX_IMPORT_BYTES;
use super::error::{ApiError, ErrorCode};

pub const MAX_BODY_BYTES: usize = 1 << 20;

fn limit_for(path: &str) -> usize {
    if path.ends_with("/credentials/import") {
        MAX_IMPORT_BYTES
    } else {
        MAX_BODY_BYTES
    }
}

fn too_large(limit: usize) -> Response {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("request body is larger than the limit of {limit} bytes"),
    )
    .into_poem_response()
}

pub async fn call<E: Endpoint>(ep: &E, mut req: Request) -> poem::Result<Response> {
    let limit = limit_for(req.uri().path());
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Ok(too_large(limit));
    }
    let overflow = Arc::new(AtomicBool::new(false));
    if declared.is_none() {
        let flag = overflow.clone();
        let mut seen = 0usize;
        let stream = req.take_body().into_bytes_stream().map(move |chunk| {
            let chunk = chunk?;
            seen = seen.saturating_add(chunk.len());
            if seen > limit {
                flag.store(true, Ordering::Release);
                return Err(std::io::Error::other("request body too large"));
            }
            Ok(chunk)
        });
        req.set_body(Body::from_bytes_stream(stream));
    }
    let result = ep.call(req).await.map(IntoResponse::into_response);
    if overflow.load(Ordering::Acquire) {
        return Ok(too_large(limit));
    }
    result
}
