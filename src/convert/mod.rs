//! Format conversion between OpenAI, Gemini and the Code Assist envelope.
pub mod anthropic;
pub mod anti_truncation;
pub mod detect;
pub mod embeddings;
pub mod fake_stream;
#[cfg(test)]
mod proptests;
pub mod request;
pub mod response;
pub mod responses;
pub mod schema;
pub mod stream;
