//! What the backend push integration tests share: the external tools (found, or the test
//! skipped with a message, or failed when CI requires them), test keys and PyJWT tokens,
//! API requests by hand, and clients that report how their connection ended.
//!
//! The tools: `python3` with `pyjwt`, `cryptography` and `websockets`, `php` with the curl
//! and redis extensions, `curl`, and `redis-server`. A missing one skips the test that
//! needs it under plain `cargo test`; with `HERALD_REQUIRE_PUSH_CLIENTS=1` (set by
//! `.ci/run`) it is a failure, as is a missing `redis-server` with `HERALD_REQUIRE_REDIS=1`.

#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::common::{self, HttpResponse};

/// How long any single wait may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The API key every test daemon accepts (given through `HERALD_API_KEY` or a key file).
pub const KEY: &str = "test-api-key-0123456789abcdef";

/// The scripts of `tests/push/`.
pub fn script(name: &str) -> String {
    format!("{}/tests/push/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Whether a tool is usable (`probe` exits 0); otherwise say the test is skipped, or
/// panic when `HERALD_REQUIRE_PUSH_CLIENTS=1`.
pub fn have(what: &str, install: &str, probe: &mut Command) -> bool {
    let ok = probe
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("HERALD_REQUIRE_PUSH_CLIENTS").as_deref() == Ok("1") {
            panic!("{what} is missing and HERALD_REQUIRE_PUSH_CLIENTS=1 ({install})");
        }
        // Past the harness's capture, so that it shows.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {what} is missing ({install}); set HERALD_REQUIRE_PUSH_CLIENTS=1 to \
             make this a failure"
        );
    }
    ok
}

/// `python3` with PyJWT and cryptography (tokens), and websockets (clients).
pub fn have_python() -> bool {
    have(
        "python3 with pyjwt, cryptography and websockets",
        "pip install pyjwt cryptography websockets",
        Command::new("python3").args(["-c", "import jwt, cryptography, websockets"]),
    )
}

/// `curl`.
pub fn have_curl() -> bool {
    have(
        "curl",
        "apt-get install curl",
        Command::new("curl").arg("--version"),
    )
}

/// `php` with the extension `ext` (`curl`, `redis`).
pub fn have_php(ext: &str) -> bool {
    have(
        &format!("php-cli with php-{ext}"),
        &format!("apt-get install php-cli php-{ext}"),
        Command::new("php").args(["-r", &format!("exit(extension_loaded('{ext}') ? 0 : 1);")]),
    )
}

/// A temporary directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("herald-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }

    /// Write `text` to `name` with mode 0600; its path.
    pub fn write_private(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run a command to its end; panics if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Its stdout, after checking it exited 0.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Test keys made by `mint_token.py keygen` (PyJWT's `cryptography`), and tokens.
pub struct Keys {
    pub dir: TempDir,
}

impl Keys {
    pub fn new(name: &str) -> Keys {
        let dir = TempDir::new(name);
        stdout_of(Command::new("python3").args([
            &script("mint_token.py"),
            "keygen",
            &dir.path(""),
        ]));
        Keys { dir }
    }

    /// The HS256 secret file.
    pub fn secret(&self) -> String {
        self.dir.path("secret")
    }

    /// A public key file: `rsa` or `ec`.
    pub fn public(&self, kind: &str) -> String {
        self.dir.path(&format!("{kind}-public.pem"))
    }

    /// A private key file: `rsa` or `ec`.
    pub fn private(&self, kind: &str) -> String {
        self.dir.path(&format!("{kind}-private.pem"))
    }

    /// A token minted by PyJWT: `mint_token.py mint ARGS`.
    pub fn mint(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("python3");
        cmd.arg(script("mint_token.py")).arg("mint").args(args);
        stdout_of(&mut cmd).trim().to_string()
    }

    /// An HS256 token with `args` (claims options).
    pub fn hs256(&self, args: &[&str]) -> String {
        let secret = self.secret();
        let mut all = vec!["--alg", "HS256", "--key", &secret];
        all.extend_from_slice(args);
        self.mint(&all)
    }
}

/// An API request over its own connection (`Connection: close`); `key` goes in
/// `Authorization: Bearer`, `body` with its `Content-Type`.
pub fn api(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> HttpResponse {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(key) = key {
        head.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    let mut bytes = Vec::new();
    if let Some((content_type, body)) = body {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        ));
        bytes.extend_from_slice(body);
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(&bytes);
    common::http_exchange(addr, &request)
}

/// `POST /api/publish` with a JSON body and the test key; the answer.
pub fn publish(addr: SocketAddr, json: &str) -> HttpResponse {
    api(
        addr,
        "POST",
        "/api/publish",
        Some(KEY),
        Some(("application/json", json.as_bytes())),
    )
}

/// `POST /api/publish` of each JSON body in turn over ONE keep-alive connection (so that
/// one loop serves them all, in order: publishes that land on different workers may reach
/// a third in either order); the answers.
pub fn publish_many(addr: SocketAddr, bodies: &[&str]) -> Vec<HttpResponse> {
    use std::io::Write as _;
    let mut stream = common::tcp(addr);
    let mut rest = Vec::new();
    let mut answers = Vec::new();
    for body in bodies {
        write!(
            stream,
            "POST /api/publish HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let (answer, after) = common::read_response(&mut stream, rest, false);
        assert_eq!(
            answer.header("Connection"),
            Some("keep-alive"),
            "{answer:?}"
        );
        answers.push(answer);
        rest = after;
    }
    answers
}

/// `{"delivered": N}` of a 200 answer.
pub fn delivered(response: &HttpResponse) -> u64 {
    assert_eq!(response.status, 200, "{response:?}");
    let body: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON");
    body["delivered"].as_u64().expect("delivered")
}

/// A JSON answer's body.
pub fn json(response: &HttpResponse) -> serde_json::Value {
    assert_eq!(
        response.header("Content-Type"),
        Some("application/json"),
        "{response:?}"
    );
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{e}: {response:?}"))
}

/// Poll `GET path` (with the test key) until its JSON answer satisfies `done`, and return
/// it: for counts that converge (other loops' room summaries arrive within a second or
/// so). Fails with the last answer after `TIMEOUT`.
pub fn await_api(
    addr: SocketAddr,
    path: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let answer = json(&api(addr, "GET", path, Some(KEY), None));
        if done(&answer) {
            return answer;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "GET {path} never converged; last: {answer}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// A tungstenite client at `path` (with its query); `Err(status)` when the upgrade is
/// refused with an HTTP status, and the body.
pub fn ws(addr: SocketAddr, path: &str) -> Result<common::Ws, (u16, String)> {
    ws_with(addr, path, None)
}

/// As `ws`, with an `Authorization` header value.
pub fn ws_with(
    addr: SocketAddr,
    path: &str,
    authorization: Option<&str>,
) -> Result<common::Ws, (u16, String)> {
    use tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("Authorization", value.parse().unwrap());
    }
    match tungstenite::client(request, common::tcp(addr)) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .unwrap_or_default();
            Err((response.status().as_u16(), body))
        }
        Err(e) => panic!("handshake with {path} failed: {e}"),
    }
}

/// Read until the server closes: its close code and reason (messages before are skipped).
pub fn close_of(ws: &mut common::Ws) -> (u16, String) {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(frame))) => {
                return (u16::from(frame.code), frame.reason.as_str().to_string());
            }
            Ok(tungstenite::Message::Close(None)) => return (1005, String::new()),
            Ok(_) => continue,
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

/// A metric's value from `/metrics` (the full sample name, labels included).
pub fn metric(addr: SocketAddr, sample: &str) -> Option<f64> {
    let body = common::http_get(addr, "/metrics").body_text();
    body.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
}
