//! See google/mod.rs.
