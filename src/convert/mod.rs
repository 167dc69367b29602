//! Format conversion between OpenAI, Gemini and the Code Assist envelope.
pub mod anthropic;
pub mod anti_truncation;
pub mod detect;
pub mod fake_stream;
pub mod request;
pub mod response;
pub mod schema;
pub mod stream;
