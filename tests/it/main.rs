//! Integration tests, all in one binary: one link instead of one per file, which is most of
//! the build time of `cargo test`. Most run the real gateway over real sockets against the
//! Google simulator; the few that change process-wide state (the global log subscriber, the
//! panic hook) rerun themselves in a child process (`support::in_own_process`).
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test

// The proxy surfaces end to end.
mod anthropic;
mod auth;
mod connections;
mod embeddings;
mod gemini;
mod import;
mod keys;
mod metrics;
mod model_list;
mod official;
mod official_quota;
mod openai;
mod outbound;
mod pool;
mod remote;
mod reqlog;
mod responses;
mod routes;
mod secrets_at_rest;
mod security;
mod streams;
mod usage;

// The management API and the panel.
mod api;
mod creds;
mod panel;

// Library parts against real files and sockets.
mod import_formats;
mod pg_coord;
mod pg_instances;
mod pg_migrate;
mod pg_pool;
mod pg_store;
mod pg_usage;
mod settings;
mod simulator;
mod store;
mod usage_counters;

// The binary, the README, and the process-wide logging and panic hook.
mod backup;
mod catch_panic;
mod cli;
mod container;
mod logs;
mod readme;

mod pg_cluster;
mod support;
