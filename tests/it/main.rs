//! Integration tests: the real gateway over real sockets against the Google simulator.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod anthropic;
mod auth;
mod gemini;
mod import;
mod model_list;
mod official;
mod official_quota;
mod openai;
mod pool;
mod remote;
mod routes;
mod streams;
mod support;
mod usage;
