//! Reading request bodies: a size limit first, then JSON, with errors the caller can read.
use poem::Body;
use serde_json::Value;

use crate::error::GatewayError;

pub async fn read_json(body: Body, limit: usize) -> Result<Value, GatewayError> {
    let bytes = body.into_bytes_limit(limit).await.map_err(|e| match e {
        poem::error::ReadBodyError::PayloadTooLarge => GatewayError::PayloadTooLarge { limit },
        other => GatewayError::BadRequest(format!("could not read the request body: {other}")),
    })?;
    if bytes.is_empty() {
        return Err(GatewayError::BadRequest(
            "the request body is empty; send a JSON object".into(),
        ));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        GatewayError::BadRequest(format!("the request body is not valid JSON: {e}"))
    })?;
    if !v.is_object() {
        return Err(GatewayError::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    Ok(v)
}
