//! The binary as a user runs it: first start with no environment at all, and `--demo`.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
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
    let intro = wait_for(&rx, |l| l.contains("generated a password"), 30)
        .expect("the password is announced");
    assert!(intro.contains("generated"));
    let pw = wait_for(&rx, |l| !l.trim().is_empty(), 5)
        .expect("the password line")
        .trim()
        .to_string();
    assert!(pw.len() >= 24, "a strong password: {pw:?}");
    assert!(healthy(7861), "serves on the default port 7861");
    assert!(
        cwd.path().join("data").join("gcli2api.db").is_file(),
        "DATA_DIR defaults to ./data"
    );
    // Only the hash is stored.
    let db = std::fs::read(cwd.path().join("data").join("gcli2api.db")).unwrap();
    assert!(
        !db.windows(pw.len()).any(|w| w == pw.as_bytes()),
        "plaintext password in the DB"
    );
    stop(child);
    let log_dir = cwd.path().join("data").join("logs");
    for f in std::fs::read_dir(&log_dir)
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let text = std::fs::read_to_string(f.path()).unwrap_or_default();
        assert!(!text.contains(&pw), "the password reached a log file");
    }
    let mut child = start();
    let rx = lines(&mut child);
    assert!(healthy(7861));
    assert!(
        wait_for(&rx, |l| l.contains("generated a password"), 2).is_err(),
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
    let line = wait_for(&rx, |l| l.contains("password (API and panel):"), 30)
        .expect("demo prints the password");
    let pw = line.rsplit(": ").next().unwrap().trim().to_string();
    assert!(healthy(port));
    let body =
        r#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"demo works"}]}"#;
    let text = http_post(port, "/v1/chat/completions", &pw, body);
    assert!(text.contains("Echo: demo works"), "{text}");
    // Each upstream serves, chosen by its kind pin.
    for pin in ["aistudio/", "vertex/", "code-assist/"] {
        let body = format!(
            r#"{{"model":"{pin}gemini-2.5-flash","messages":[{{"role":"user","content":"pinned {pin}"}}]}}"#
        );
        let text = http_post(port, "/v1/chat/completions", &pw, &body);
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
