//! A real `redis-server` (Debian's package, installed by
//! `scripts/install-tools`) on a free 127.0.0.1 port, for the shared-limits
//! tests. Nothing is persisted: it runs with `--save "" --appendonly no` in
//! its own temporary directory, so a restart starts empty, as a crashed
//! cache-only Redis would.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a `redis-server` may take to answer PING after it starts.
const START_WITHIN: Duration = Duration::from_secs(10);

/// A running `redis-server`, killed on drop.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port and waits until it
    /// answers PING. Without `redis-server` on PATH, returns `None` after
    /// saying the test is skipped, or panics when
    /// `BEDROCK_GATEWAY_REQUIRE_REDIS=1` (as `scripts/test` sets when it is
    /// installed), so CI cannot skip silently.
    pub fn start() -> Option<RedisServer> {
        if !installed() {
            let why =
                "redis-server is not installed (scripts/install-tools installs Debian's package)";
            if std::env::var("BEDROCK_GATEWAY_REQUIRE_REDIS").as_deref() == Ok("1") {
                panic!("{why}, and BEDROCK_GATEWAY_REQUIRE_REDIS=1 requires it");
            }
            eprintln!("skipped: {why}");
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory for redis-server");
        // A port found free can be taken by another test before Redis binds
        // it; then Redis exits at once and another port is tried.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            match spawn(port, dir.path()) {
                Ok(child) => {
                    return Some(RedisServer {
                        port,
                        dir,
                        child: Some(child),
                    })
                }
                Err(e) => last_error = e,
            }
        }
        panic!("redis-server did not start on any of 5 free ports: {last_error}");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (the same across [`RedisServer::start_again`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (as a crash would: open connections are reset) and
    /// waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty, and waits until it answers.
    pub fn start_again(&mut self) {
        self.stop();
        // Right after a kill the port can still be held for a moment;
        // retry briefly rather than fail on that.
        let deadline = Instant::now() + START_WITHIN;
        loop {
            match spawn(self.port, self.dir.path()) {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(e) if Instant::now() >= deadline => {
                    panic!(
                        "redis-server did not start again on port {}: {e}",
                        self.port
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Whether it answers PING now.
    pub fn answers(&self) -> bool {
        ping(&self.url()).is_ok()
    }

    /// Runs one command against it (through the `redis` crate) and returns
    /// the reply.
    pub fn command<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let client = redis::Client::open(self.url())?;
        let mut connection = client.get_connection_with_timeout(Duration::from_secs(2))?;
        cmd.query(&mut connection)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `redis-server` on `port` with its files in `dir`, and waits
/// (bounded) until it answers PING; on failure the process is gone and the
/// error quotes its log.
fn spawn(port: u16, dir: &Path) -> Result<Child, String> {
    let log_path = dir.join(format!("redis-{port}.log"));
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| format!("cannot run redis-server: {e}"))?;
    let url = format!("redis://127.0.0.1:{port}");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let deadline = Instant::now() + START_WITHIN;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("redis-server exited ({status}): {}", log()));
        }
        if ping(&url).is_ok() {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "redis-server did not answer PING within {START_WITHIN:?}: {}",
                log()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A loopback port nothing listened on a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn ping(url: &str) -> redis::RedisResult<String> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_connection_with_timeout(Duration::from_millis(200))?;
    connection.set_read_timeout(Some(Duration::from_millis(200)))?;
    redis::cmd("PING").query(&mut connection)
}
