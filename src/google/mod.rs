//! The outbound side: one client per Google service, plus error parsing and SSE decoding.
pub mod client;
pub mod code_assist;
pub mod direct;
pub mod discovery;
pub mod errors;
pub mod executor;
pub mod gemini_api;
pub mod kind;
pub mod oauth;
pub mod projects;
pub mod service_account;
pub mod sse;
