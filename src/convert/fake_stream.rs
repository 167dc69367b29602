//! See convert/mod.rs.
