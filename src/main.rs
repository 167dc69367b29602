use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "gcli2api",
    version,
    about = "Gemini CLI / Code Assist credentials as OpenAI- and Gemini-compatible APIs"
)]
struct Cli {
    /// TOML config file (default: DATA_DIR/config.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Run against the built-in Google simulator with a throwaway data dir.
    #[arg(long)]
    demo: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway (the default).
    Serve,
    /// Run the Google simulator alone.
    SimulateGoogle {
        #[arg(long, default_value = "127.0.0.1:8990")]
        listen: String,
    },
    /// Print the management API's OpenAPI spec.
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let sources = gcli2api::Sources::from_process_env(cli.config);
            let app = gcli2api::build(sources).await?;
            let s = app.settings();
            gcli2api::logs::init_for_process(&s.log_level);
            let listener = tokio::net::TcpListener::bind((s.host.as_str(), s.port)).await?;
            app.serve(listener, shutdown_signal()).await?;
        }
        Command::SimulateGoogle { .. } | Command::Openapi => anyhow::bail!("not built yet"),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
