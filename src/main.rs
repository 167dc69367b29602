use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gcli2api::Sources;
use gcli2api::store::location::Location;

/// mimalloc instead of the system allocator: cheaper small allocations on the request path
/// (see the mimalloc entry in Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run against the built-in Google simulator with a throwaway data dir and three
    /// simulated accounts. Your real DATA_DIR is never touched.
    #[arg(long)]
    demo: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway (the default).
    Serve,
    /// Run the Google simulator alone (for tests and experiments).
    SimulateGoogle {
        #[arg(long, default_value = "127.0.0.1:8990")]
        listen: std::net::SocketAddr,
    },
    /// Print the management API's OpenAPI spec.
    Openapi,
    /// Write a consistent copy of the database to FILE; safe while the gateway is serving.
    /// Restore by stopping the gateway and copying FILE to DATA_DIR/gcli2api.db.
    Backup {
        /// Where to write the copy; must not exist yet.
        file: PathBuf,
    },
    /// Copy a SQLite store into an empty PostgreSQL database, in one transaction, and check
    /// the row counts. Stop the gateway first, so nothing changes after the copy.
    MigrateStore {
        /// The SQLite store, as sqlite://PATH (default: DATA_DIR/gcli2api.db).
        #[arg(long)]
        from: Option<String>,
        /// The PostgreSQL database, as postgres://USER[:PASSWORD]@HOST[:PORT]/DB (default:
        /// DATABASE_URL or POSTGRESQL_URI from the environment, which keeps a password off
        /// the command line).
        #[arg(long)]
        to: Option<String>,
    },
    /// Measure request cost against pool size, on loopback with the built-in simulator.
    Bench(gcli2api::bench::BenchArgs),
    /// Exit 0 when the gateway configured here (HOST, PORT) answers /healthz; for container
    /// health checks, where there is no curl.
    Healthcheck {
        /// Ask this URL instead of the one HOST and PORT give.
        #[arg(long)]
        url: Option<String>,
    },
    /// Print how many root certificates outbound TLS trusts: the bundled ones and any others
    /// from the system store.
    TlsRoots,
}

/// Errors end the process with one line on stderr and exit code 1: no `Debug` dump and no
/// backtrace (even with `RUST_BACKTRACE` set); every startup error names what to change.
#[tokio::main]
async fn main() -> ExitCode {
    gcli2api::catch_panic::install_panic_hook();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "gcli2api: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated, on one line.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace(['\r', '\n'], " ")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve if cli.demo => gcli2api::demo::run(cli.config).await,
        Command::Serve => serve(Sources::from_process_env(cli.config)).await,
        Command::SimulateGoogle { listen } => {
            init_console_logs();
            gcli2api::simulator::serve_forever(listen).await?;
            Ok(())
        }
        Command::Openapi => {
            let mut out = std::io::stdout().lock();
            out.write_all(gcli2api::api::spec_json().as_bytes())?;
            out.write_all(b"\n")?;
            Ok(())
        }
        Command::Backup { file } => {
            let sources = Sources::from_process_env(cli.config);
            let data_dir = gcli2api::settings::SettingsService::data_dir(&sources)?;
            let db = match Location::from_env(&sources.env, &data_dir)? {
                Location::Sqlite(path) => path,
                Location::Postgres(url) => anyhow::bail!(
                    "DATABASE_URL selects PostgreSQL ({url}); `backup` copies the SQLite file, \
                     back a PostgreSQL store up with pg_dump"
                ),
            };
            tokio::task::spawn_blocking(move || {
                gcli2api::store::backup::backup_file(&db, &file)?;
                writeln!(std::io::stdout(), "backup written to {}", file.display())?;
                // The copy exists either way; a failed audit entry is told, not fatal.
                if let Err(e) = gcli2api::store::backup::audit_cli_backup(&db, &file) {
                    writeln!(
                        std::io::stderr(),
                        "gcli2api: the backup was not recorded in the audit log: {e}"
                    )?;
                }
                anyhow::Ok(())
            })
            .await??;
            Ok(())
        }
        Command::MigrateStore { from, to } => {
            let sources = Sources::from_process_env(cli.config);
            let data_dir = gcli2api::settings::SettingsService::data_dir(&sources)?;
            let source = match from {
                Some(text) => Location::parse(&text, "--from", &data_dir)?,
                None => Location::Sqlite(data_dir.join(gcli2api::store::DB_FILE_NAME)),
            };
            let Location::Sqlite(source) = source else {
                anyhow::bail!("--from must be a SQLite store (sqlite://PATH)");
            };
            let target = match to {
                Some(text) => Location::parse(&text, "--to", &data_dir)?,
                None => match Location::from_env(&sources.env, &data_dir)? {
                    Location::Postgres(url) => Location::Postgres(url),
                    Location::Sqlite(_) => anyhow::bail!(
                        "name the PostgreSQL database with --to postgres://... (or DATABASE_URL)"
                    ),
                },
            };
            let Location::Postgres(target) = target else {
                anyhow::bail!("--to must be a PostgreSQL database (postgres://...)");
            };
            let shown = target.to_string();
            let report = tokio::task::spawn_blocking(move || {
                gcli2api::store::migrate::copy_store(&source, &target)
            })
            .await??;
            let mut out = std::io::stdout().lock();
            for (table, rows) in &report.tables {
                writeln!(out, "  {table}: {rows} rows")?;
            }
            writeln!(
                out,
                "copied {} rows in {} tables into {shown}; row counts verified",
                report.rows(),
                report.tables.len()
            )?;
            Ok(())
        }
        Command::Bench(args) => Ok(gcli2api::bench::run(args).await?),
        Command::Healthcheck { url } => {
            let url = match url {
                Some(u) => u,
                None => {
                    let sources = Sources::from_process_env(cli.config);
                    gcli2api::healthcheck::url(&gcli2api::Settings::from_sources(&sources)?)
                }
            };
            gcli2api::healthcheck::check(&url).await?;
            writeln!(std::io::stdout(), "ok: {url}")?;
            Ok(())
        }
        Command::TlsRoots => {
            // Build the client as the gateway does, so a broken TLS setup fails here too.
            gcli2api::outbound::client_builder()?.build()?;
            let r = gcli2api::outbound::roots();
            writeln!(
                std::io::stdout(),
                "{} trusted root certificates: {} bundled (Mozilla's, from webpki-roots) + {} more from the system store",
                r.store.len(),
                r.bundled,
                r.from_system
            )?;
            Ok(())
        }
    }
}

fn init_console_logs() {
    let _ = gcli2api::logs::init(gcli2api::logs::LogConfig {
        level: std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into()),
        file: None,
        retention_days: 2,
        console: true,
    });
}

async fn serve(sources: Sources) -> anyhow::Result<()> {
    let mut app = gcli2api::build(sources).await?;
    // Bound before logging starts, so a port in use is the only line on stderr.
    let s = app.settings();
    let listener = match gcli2api::bind(&s.host, s.port).await {
        Ok(l) => l,
        Err(e) => {
            // Shown even when the port is taken: only the hashes are stored, so it is now
            // or never. Otherwise `serve` prints them at the end of startup.
            gcli2api::print_generated(&app.take_generated());
            return Err(e.into());
        }
    };
    let _guard = gcli2api::attach_logs(&mut app)?;
    app.serve(listener, gcli2api::shutdown_signal()).await?;
    Ok(())
}
