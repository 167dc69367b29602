//! The outbound side: one client per Google service, plus error parsing and SSE decoding.
pub mod errors;
pub mod sse;
