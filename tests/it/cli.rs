//! The binary as a user runs it: first start with no environment at all, and `--demo`.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gcli2api");

/// Streams a child's stdout lines through a channel so the test can wait with a deadline.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(
    rx: &mpsc::Receiver<String>,
    what: impl Fn(&str) -> bool,
    secs: u64,
) -> Result<String, Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) if what(&l) => return Ok(l),
            Ok(l) => seen.push(l),
            Err(_) => break,
        }
    }
    Err(seen)
}

fn healthy(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.contains("200") && buf.ends_with("ok") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn stop(mut child: Child) {
    // SIGTERM for a graceful shutdown; `kill` would be SIGKILL.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
}

#[test]
fn first_start_with_no_environment_creates_data_dir_and_prints_the_password_once() {
    let cwd = tempfile::tempdir().unwrap();
    let start = || {
        Command::new(BIN)
            .env_clear()
            .current_dir(cwd.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = start();
    let rx = lines(&mut child);
    wait_for(&rx, |l| l.contains("generated its secrets"), 30).expect("the secrets are announced");
    let api = wait_for(&rx, |l| l.contains("API key"), 5).expect("the API key line");
    let panel = wait_for(&rx, |l| l.contains("panel password"), 5).expect("the panel line");
    let value = |l: &str| l.rsplit(' ').next().unwrap().trim().to_string();
    let (api, pw) = (value(&api), value(&panel));
    assert!(
        api.len() >= 24 && pw.len() >= 24,
        "strong secrets: {api:?} {pw:?}"
    );
    assert_ne!(api, pw, "two different secrets");
    assert!(healthy(7861), "serves on the default port 7861");
    assert!(
        cwd.path().join("data").join("gcli2api.db").is_file(),
        "DATA_DIR defaults to ./data"
    );
    // Only the hash is stored.
    let db = std::fs::read(cwd.path().join("data").join("gcli2api.db")).unwrap();
    for secret in [&api, &pw] {
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "plaintext secret in the DB"
        );
    }
    // The panel password opens the management API; the API key does not.
    let with_pw = http_get(7861, "/api/v1/system/info", &pw);
    assert!(with_pw.starts_with("HTTP/1.0 200"), "{with_pw}");
    let with_api = http_get(7861, "/api/v1/system/info", &api);
    assert!(with_api.starts_with("HTTP/1.0 401"), "{with_api}");
    stop(child);
    let log_dir = cwd.path().join("data").join("logs");
    for f in std::fs::read_dir(&log_dir)
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let text = std::fs::read_to_string(f.path()).unwrap_or_default();
        assert!(
            !text.contains(&pw) && !text.contains(&api),
            "a secret reached a log file"
        );
    }
    let mut child = start();
    let rx = lines(&mut child);
    assert!(healthy(7861));
    assert!(
        wait_for(&rx, |l| l.contains("generated its secrets"), 2).is_err(),
        "printed only on the first start"
    );
    stop(child);
}

/// A minimal HTTP/1.0 POST, so the test needs no client tool on the machine.
fn http_post(port: u16, path: &str, key: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "POST {path} HTTP/1.0\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn http_get(port: u16, path: &str, key: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nAuthorization: Bearer {key}\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn demo_serves_and_answers_without_touching_data_dir() {
    let port = free_port();
    let real_data = tempfile::tempdir().unwrap();
    let untouched = real_data.path().join("must-not-exist");
    let mut child = Command::new(BIN)
        .arg("--demo")
        .env_clear()
        .env("PORT", port.to_string())
        .env("DATA_DIR", &untouched)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines(&mut child);
    let line = wait_for(&rx, |l| l.contains("API key:"), 30).expect("demo prints the API key");
    let key = line.rsplit(' ').next().unwrap().trim().to_string();
    let line = wait_for(&rx, |l| l.contains("panel password:"), 5)
        .expect("demo prints the panel password");
    let pw = line.rsplit(' ').next().unwrap().trim().to_string();
    assert_ne!(key, pw, "two different secrets in the demo too");
    assert!(healthy(port));
    let body =
        r#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"demo works"}]}"#;
    let text = http_post(port, "/v1/chat/completions", &key, body);
    assert!(text.contains("Echo: demo works"), "{text}");
    // Each upstream serves, chosen by its kind pin.
    for pin in ["aistudio/", "vertex/", "code-assist/"] {
        let body = format!(
            r#"{{"model":"{pin}gemini-2.5-flash","messages":[{{"role":"user","content":"pinned {pin}"}}]}}"#
        );
        let text = http_post(port, "/v1/chat/completions", &key, &body);
        assert!(
            text.contains(&format!("Echo: pinned {pin}")),
            "{pin}: {text}"
        );
    }
    // One credential of each kind.
    let list = http_get(port, "/api/v1/credentials", &pw);
    for kind in [
        "code_assist",
        "gemini_api_key",
        "vertex_service_account",
        "vertex_express_key",
    ] {
        assert_eq!(
            list.matches(&format!("\"kind\":\"{kind}\"")).count(),
            1,
            "{kind}: {list}"
        );
    }
    stop(child);
    assert!(!untouched.exists(), "--demo never touches DATA_DIR");
}

/// The log file is written in batches; a graceful stop writes what is pending. Every access
/// line of requests answered just before SIGTERM must be in the file afterwards.
#[test]
fn access_lines_logged_just_before_a_stop_reach_the_log_file() {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let child = Command::new(BIN)
        .env_clear()
        .env("PORT", port.to_string())
        .env("PASSWORD", "stop-test-password")
        .env("DATA_DIR", data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(healthy(port));
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let n = 40;
    for i in 0..n {
        // No credential is configured: each request fails fast, and is still access-logged.
        let body = format!(
            r#"{{"model":"gemini-2.5-flash-{tag}-{i}","messages":[{{"role":"user","content":"hi"}}]}}"#
        );
        let reply = http_post(port, "/v1/chat/completions", "stop-test-password", &body);
        assert!(reply.starts_with("HTTP/1.0 "), "{reply}");
    }
    stop(child);
    let text: String = std::fs::read_dir(data.path().join("logs"))
        .unwrap()
        .flatten()
        .map(|f| std::fs::read_to_string(f.path()).unwrap_or_default())
        .collect();
    for i in 0..n {
        let model = format!("gemini-2.5-flash-{tag}-{i}");
        assert_eq!(
            text.lines()
                .filter(|l| l.contains("gcli2api::access") && l.contains(&format!("{model} ")))
                .count(),
            1,
            "the access line of request {i} is missing:\n{text}"
        );
    }
}

/// Runs the binary to completion (it is expected to fail fast) with a clean environment plus
/// `env`; returns (exit code, stdout, stderr).
fn run_to_exit(env: &[(&str, String)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the binary did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exit code 1 and exactly one stderr line, which contains `want`, with no backtrace or debug
/// dump even though `RUST_BACKTRACE` is set.
fn assert_one_clear_line(result: (Option<i32>, String, String), want: &str) {
    let (code, _, stderr) = result;
    assert_eq!(code, Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr:\n{stderr}");
    assert!(lines[0].contains(want), "{:?} lacks {want:?}", lines[0]);
    for noise in ["backtrace", "panicked", "Error:", "Os {", "Custom {"] {
        assert!(!stderr.contains(noise), "{noise:?} on stderr:\n{stderr}");
    }
}

#[test]
fn a_port_in_use_is_one_line_naming_port_and_host() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let result = run_to_exit(&[
        ("HOST", "127.0.0.1".into()),
        ("PORT", port.to_string()),
        ("PASSWORD", "pw-for-the-port-test".into()),
        ("DATA_DIR", dir.path().display().to_string()),
    ]);
    assert_one_clear_line(
        result,
        &format!("PORT={port} is in use (HOST=127.0.0.1); set PORT to a free port"),
    );
    drop(taken);
}

#[test]
fn a_port_in_use_on_first_start_still_shows_the_generated_password() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run_to_exit(&[
        ("HOST", "127.0.0.1".into()),
        ("PORT", port.to_string()),
        ("DATA_DIR", dir.path().display().to_string()),
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("is in use"), "{stderr}");
    assert!(
        stdout.contains("generated its secrets") && stdout.contains("panel password"),
        "only its hash is stored, so it must be shown now: {stdout}"
    );
}

#[test]
fn an_unusable_data_dir_is_one_line_naming_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let base = [
        ("PASSWORD", "pw".to_string()),
        ("PORT", free_port().to_string()),
    ];
    // A regular file where the directory should be.
    let mut env = base.to_vec();
    env.push(("DATA_DIR", file.display().to_string()));
    assert_one_clear_line(
        run_to_exit(&env),
        &format!(
            "DATA_DIR={} is not a directory; set DATA_DIR to a readable and writable directory",
            file.display()
        ),
    );
    // A directory that cannot be created (its parent is a file).
    let below = file.join("data");
    let mut env = base.to_vec();
    env.push(("DATA_DIR", below.display().to_string()));
    assert_one_clear_line(
        run_to_exit(&env),
        &format!("DATA_DIR={} cannot be created (", below.display()),
    );
    // A directory without write permission (not testable as root, who may write anywhere).
    let locked = tmp.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
    if std::fs::write(locked.join("probe"), b"x").is_err() {
        let mut env = base.to_vec();
        env.push(("DATA_DIR", locked.display().to_string()));
        assert_one_clear_line(
            run_to_exit(&env),
            &format!("DATA_DIR={} is not writable (", locked.display()),
        );
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn a_bad_setting_is_one_line_too() {
    let dir = tempfile::tempdir().unwrap();
    assert_one_clear_line(
        run_to_exit(&[
            ("PORT", "not-a-port".into()),
            ("DATA_DIR", dir.path().display().to_string()),
        ]),
        "PORT",
    );
}

/// The container image's HEALTHCHECK: `healthcheck` finds the gateway from HOST and PORT (a
/// wildcard HOST is asked on loopback), and fails with one line once nothing answers.
#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_passes_on_a_live_gateway_and_names_the_url_when_down() {
    let app = crate::support::builder().no_users().spawn().await;
    let port = app.url.rsplit(':').next().unwrap().trim_end_matches('/');
    let port: u16 = port.parse().unwrap();
    let dir = app.dir.path().to_path_buf();
    let run = move || {
        std::process::Command::new(BIN)
            .arg("healthcheck")
            .env_clear()
            .env("HOST", "0.0.0.0")
            .env("PORT", port.to_string())
            .env("DATA_DIR", &dir)
            .output()
            .unwrap()
    };
    let up = tokio::task::spawn_blocking(run.clone()).await.unwrap();
    let want = format!("http://127.0.0.1:{port}/healthz");
    assert!(up.status.success(), "{up:?}");
    assert_eq!(
        String::from_utf8_lossy(&up.stdout).trim(),
        format!("ok: {want}")
    );

    app.stop().await;
    let down = tokio::task::spawn_blocking(run).await.unwrap();
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("no answer from {want}")),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
}

/// The static binary in the image has no system certificate store: outbound TLS must carry
/// its own roots. (Every other test talks plain http on loopback.)
#[test]
fn tls_roots_reports_the_bundled_set() {
    let out = Command::new(BIN)
        .arg("tls-roots")
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let n: usize = text
        .split_once(" bundled")
        .unwrap()
        .0
        .rsplit(": ")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(n > 100, "{text}");
    assert!(text.contains("trusted root certificates"), "{text}");
}

/// `DATABASE_URL=postgres://...` that cannot be reached stops the start with one line that
/// names the server and never shows the URL's password; no SQLite file is made instead.
#[test]
fn an_unreachable_postgres_database_url_stops_the_start_with_one_line_and_no_password() {
    let dir = tempfile::tempdir().unwrap();
    for var in ["DATABASE_URL", "POSTGRESQL_URI"] {
        let result = run_to_exit(&[
            ("PASSWORD", "pw".into()),
            ("PORT", free_port().to_string()),
            ("DATA_DIR", dir.path().display().to_string()),
            (var, "postgres://gw:pg-pass-9f2c@127.0.0.1:1/gcli".into()),
        ]);
        assert!(!result.1.contains("pg-pass-9f2c") && !result.2.contains("pg-pass-9f2c"));
        assert_one_clear_line(
            result,
            "cannot connect to PostgreSQL at postgres://gw:***@127.0.0.1:1/gcli",
        );
    }
    assert!(
        !dir.path().join("gcli2api.db").exists(),
        "no SQLite file is made when PostgreSQL is asked for"
    );
}

/// `DATABASE_URL=sqlite://PATH` puts the database file at PATH instead of DATA_DIR.
#[test]
fn a_sqlite_database_url_names_the_file() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let file = elsewhere.path().join("store.db");
    // The store opens before the port is bound: a taken port ends the run right after.
    let (code, _, stderr) = run_to_exit(&[
        ("PASSWORD", "pw-for-the-url-test".into()),
        ("HOST", "127.0.0.1".into()),
        ("PORT", port.to_string()),
        ("DATA_DIR", dir.path().display().to_string()),
        ("DATABASE_URL", format!("sqlite://{}", file.display())),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("is in use"), "{stderr}");
    assert!(file.exists(), "the database is at the URL's path");
    assert!(!dir.path().join("gcli2api.db").exists());
    drop(taken);
}
