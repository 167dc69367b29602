//! Logging. PLACEHOLDER: the logging owner replaces this module.
pub fn init_for_process(level: &str) {
    let _ = tracing_subscriber::fmt().with_env_filter(level).try_init();
}
