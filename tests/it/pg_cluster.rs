//! A throwaway PostgreSQL cluster for the store tests: `initdb` + `pg_ctl` in a temporary
//! directory, on a free loopback port, started once per test process and removed after it.
//!
//! PostgreSQL refuses to run as root, and CI runs as root: then the cluster belongs to the
//! `postgres` user (which Debian's package creates) and every server command goes through
//! `runuser -u postgres --`. A system cluster (Debian's on 5432) is never touched: this one
//! has its own directory, port and socket directory.
//!
//! Teardown: a test binary never runs destructors of statics, so a small watcher process
//! (`sh`, in its own process group) waits for the test process to end, whatever way it ends,
//! then stops the server and deletes the directory.
//!
//! Missing PostgreSQL is a failure, never a skip: `tests/run.sh` installs Debian's
//! `postgresql` when `initdb` is missing.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Cluster {
    pub port: u16,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The cluster of this test process, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(start)
}

/// A new empty database in the cluster, as a `postgres://` URL (trust auth on loopback, so
/// the URL carries no password).
pub fn fresh_database(hint: &str) -> String {
    let c = cluster();
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed),
        hint.replace(|ch: char| !ch.is_ascii_alphanumeric(), "_")
    );
    // The blocking client runs its own runtime: keep it off the caller's (async tests call this).
    let admin_url = c.url("postgres");
    let sql = format!("CREATE DATABASE {name}");
    std::thread::spawn(move || {
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls)
            .expect("connect to the test cluster");
        admin.batch_execute(&sql).expect("create a test database");
    })
    .join()
    .expect("create a test database");
    c.url(&name)
}

impl Cluster {
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

fn bin_dir() -> PathBuf {
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if d.join("initdb").is_file() && d.join("pg_ctl").is_file() {
                return d;
            }
        }
    }
    // Debian keeps the server programs off PATH, per major version.
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| d.join("initdb").is_file())
        .collect();
    found.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed: the store tests need initdb and pg_ctl (on PATH or in \
             /usr/lib/postgresql/*/bin). Install it (Debian: apt-get install postgresql); \
             tests/run.sh does this on a fresh machine"
        )
    })
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// `program args...`, through `runuser -u postgres --` when running as root.
fn server_command(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn start() -> Cluster {
    let (dir, data) = init_cluster();
    let port = launch(&dir, &data, None, false).unwrap_or_else(|e| {
        panic!("the test PostgreSQL cluster did not start:\n{e}");
    });
    Cluster { port }
}

/// A cluster of its own for a test that stops and starts the server (the shared one must stay
/// up for every other test). Removed by the same watcher when the test process ends.
pub struct Private {
    pub port: u16,
    dir: PathBuf,
    data: PathBuf,
}

impl Private {
    pub fn start() -> Self {
        let (dir, data) = init_cluster();
        let port = launch(&dir, &data, None, true).unwrap_or_else(|e| {
            panic!("a private PostgreSQL cluster did not start:\n{e}");
        });
        Private { port, dir, data }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server the way an outage looks to clients: connections are cut at once.
    pub fn stop(&self) {
        let mut c = server_command(is_root(), &bin_dir().join("pg_ctl"));
        c.arg("-D")
            .arg(&self.data)
            .args(["stop", "-m", "immediate", "-w"]);
        run(c, "pg_ctl stop");
    }

    /// Starts the server again on the same port.
    pub fn start_again(&self) {
        if let Err(e) = launch(&self.dir, &self.data, Some(self.port), true) {
            panic!("the private PostgreSQL cluster did not start again:\n{e}");
        }
    }
}

/// `initdb` in a new temporary directory, with the watcher that stops the server and removes
/// the directory when this test process ends. Returns the directory and the data directory.
fn init_cluster() -> (PathBuf, PathBuf) {
    let bin = bin_dir();
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("gcli2api-pg-")
        .tempdir()
        .expect("temp dir for the cluster")
        .keep();
    if root {
        run(
            {
                let mut c = Command::new("chown");
                c.arg("postgres:").arg(&dir);
                c
            },
            "chown the cluster directory to postgres",
        );
    }
    let data = dir.join("data");
    let mut initdb = server_command(root, &bin.join("initdb"));
    initdb.arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]);
    run(initdb, "initdb");

    // Watch before starting, so even a failed start is cleaned up.
    let stop = {
        let mut c = server_command(root, &bin.join("pg_ctl"));
        c.arg("-D").arg(&data).args(["stop", "-m", "immediate"]);
        format!("{c:?}")
    };
    // `Command`'s Debug quotes each argument, which sh reads back as the same words.
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display(),
    );
    {
        use std::os::unix::process::CommandExt;
        // Never waited for on purpose: it outlives this process, which is what it watches.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start the cluster watcher");
    }
    (dir, data)
}

/// Starts the server on `port`, or on a free port (a port can be taken between the probe and
/// the start: then a few are tried). Returns the port, or what the server said.
///
/// `durable`: commits reach the server's WAL before they return (a test that kills the server
/// must not lose what it was told was committed); the shared cluster trades that for speed.
fn launch(dir: &Path, data: &Path, port: Option<u16>, durable: bool) -> Result<u16, String> {
    let bin = bin_dir();
    let root = is_root();
    let mut last = String::new();
    for _ in 0..5 {
        let port = port.unwrap_or_else(free_port);
        let commit = if durable { "on" } else { "off" };
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off \
             -c synchronous_commit={commit} -c full_page_writes=off -c max_connections=200",
            dir.display()
        );
        let mut pg_ctl = server_command(root, &bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"])
            .stdin(Stdio::null());
        let out = pg_ctl.output().expect("run pg_ctl start");
        if out.status.success() {
            return Ok(port);
        }
        last = format!(
            "{}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
    }
    Err(last)
}
