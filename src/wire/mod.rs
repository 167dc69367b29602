//! Serde wire types for the formats the gateway speaks.
pub mod code_assist;
pub mod gemini;
pub mod openai;
pub mod openai_response;
pub mod responses;
