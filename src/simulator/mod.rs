//! See shared/design/ARCHITECTURE.md.
