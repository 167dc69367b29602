//! Integration tests: the real gateway over real sockets against the Google simulator.
mod anthropic;
mod auth;
mod gemini;
mod import;
mod model_list;
mod openai;
mod pool;
mod remote;
mod routes;
mod streams;
mod support;
mod usage;
