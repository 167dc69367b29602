//! Usage counters and daily quota windows.
pub mod window;
