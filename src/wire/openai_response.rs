//! See wire/mod.rs.
