//! A real `redis-server` (Debian's package) for the scale-out tests: started on a free
//! loopback port with persistence off, ready once it answers, stopped by its own PID when
//! dropped. Without the binary a test is skipped with a line on stderr, unless
//! `HERALD_REQUIRE_REDIS=1` (CI) makes that a failure.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long Redis gets to come up, and a channel to reach its subscriber count.
const READY: Duration = Duration::from_secs(10);

/// `redis-server` on PATH; `None` (the test is skipped) unless CI requires it.
pub fn redis_server_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("HERALD_REQUIRE_REDIS").as_deref() == Ok("1") {
            panic!("redis-server is not installed and HERALD_REQUIRE_REDIS=1");
        }
        // Straight to stderr, past the test harness's capture, so that it shows.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: redis-server is not installed (apt-get install redis-server); \
             set HERALD_REQUIRE_REDIS=1 to make this a failure"
        );
    }
    found
}

/// A `redis-server` this test started; killed (by its PID) when dropped.
pub struct Redis {
    binary: PathBuf,
    /// Its loopback port, kept across `kill` and `restart`.
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Start `binary` on a free port and wait until it answers.
    pub fn start(binary: PathBuf) -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Redis {
            binary,
            port,
            child: None,
        };
        redis.restart();
        redis
    }

    /// The URL `--redis` and `RedisConfig` take.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Start (again) on the same port, and wait until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let start = Instant::now();
        while self.numsub("probe").is_none() {
            assert!(start.elapsed() < READY, "redis-server did not come up");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kill it (SIGKILL: no goodbye to its clients) and wait for it to be gone.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Subscribers of a channel (`PUBSUB NUMSUB`), `None` while Redis does not answer.
    pub fn numsub(&self, channel: &str) -> Option<usize> {
        let mut con = redis::Client::open(self.url())
            .ok()?
            .get_connection()
            .ok()?;
        let (_, n): (String, usize) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query(&mut con)
            .ok()?;
        Some(n)
    }

    /// Wait until `n` clients are subscribed to `channel` (an instance subscribes when a
    /// room gets its first local member, a moment after the client's 101).
    pub fn await_subscribers(&self, channel: &str, n: usize) {
        let start = Instant::now();
        while self.numsub(channel) != Some(n) {
            assert!(
                start.elapsed() < READY,
                "{channel} never got {n} subscribers"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
