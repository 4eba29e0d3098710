//! Server child processes: started pinned to a CPU with `taskset`, their
//! stderr logged to a file, their address read from their JSON "... listening"
//! log line, their RSS and CPU time read from /proc, killed on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to log its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server process.
pub(crate) struct ServerProcess {
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    pub(crate) log: PathBuf,
    child: Child,
}

/// What to start.
pub(crate) struct Spec<'a> {
    pub(crate) name: &'a str,
    pub(crate) program: &'a Path,
    pub(crate) args: Vec<String>,
    /// The environment, in full (nothing else is inherited but PATH).
    pub(crate) envs: Vec<(String, String)>,
    /// Pin to this CPU with `taskset -c`.
    pub(crate) cpu: Option<usize>,
    /// For a server that does not log its address in JSON (redis-server):
    /// the address it was told to listen on, and a probe that says when it
    /// answers there. Its stdout then goes to the log file too.
    pub(crate) ready: Option<(SocketAddr, fn(SocketAddr) -> bool)>,
}

impl ServerProcess {
    pub(crate) fn start(spec: Spec<'_>, log_dir: &Path) -> Result<ServerProcess, String> {
        let log = log_dir.join(format!("{}.log", spec.name));
        let file =
            std::fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let mut command = match spec.cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(spec.program);
                c
            }
            None => Command::new(spec.program),
        };
        let stdout = match spec.ready {
            Some(_) => Stdio::from(
                file.try_clone()
                    .map_err(|e| format!("{}: {e}", log.display()))?,
            ),
            None => Stdio::null(),
        };
        command
            .args(&spec.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(spec.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::from(file));
        // Die with the driver, even if it is killed: the children never outlive a run.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("start {} ({}): {e}", spec.name, spec.program.display()))?;
        let mut server = ServerProcess {
            name: spec.name.to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            child,
        };
        server.addr = server.wait_listening(spec.ready)?;
        Ok(server)
    }

    fn wait_listening(
        &mut self,
        ready: Option<(SocketAddr, fn(SocketAddr) -> bool)>,
    ) -> Result<SocketAddr, String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match ready {
                Some((addr, answers)) => {
                    if answers(addr) {
                        return Ok(addr);
                    }
                }
                None => {
                    if let Some(addr) = self.logged_addr(listening_addr) {
                        return Ok(addr);
                    }
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before listening:\n{}",
                    self.name,
                    self.log_tail(20)
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not log its address within {START_TIMEOUT:?}:\n{}",
                    self.name,
                    self.log_tail(20)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The first address `find` reads from a line of the server's log.
    pub(crate) fn logged_addr(
        &self,
        find: impl Fn(&str) -> Option<SocketAddr>,
    ) -> Option<SocketAddr> {
        let file = std::fs::File::open(&self.log).ok()?;
        BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| find(&line))
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `n` lines of the server's log.
    pub(crate) fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Resident set size in bytes (VmRSS of /proc/PID/status).
    pub(crate) fn rss_bytes(&self) -> Option<u64> {
        rss_bytes(self.pid())
    }

    /// User + system CPU time so far.
    pub(crate) fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        // Fields after the command name (which may hold spaces) start at ") ".
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Some(Duration::from_micros(ticks * 1_000_000 / hz))
    }

    /// Whether the process still runs.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl ServerProcess {
    /// Stops the server gracefully: SIGTERM, then up to 15 s for it to exit
    /// (the runtime keeps serving our side of its connections meanwhile, so
    /// its drain can finish), then SIGKILL.
    pub(crate) async fn stop(mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: kill has no memory preconditions; the PID is our own child.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        // Drop kills whatever is left.
    }
}

impl Drop for ServerProcess {
    /// SIGTERM (the gateway drains and exits; a profiler around it writes its
    /// data), then SIGKILL after 10 s.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: kill has no memory preconditions; the PID is our own child.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address of a JSON log line saying "... listening", at the top level
/// or under `fields` (tracing-subscriber's two JSON layouts).
fn listening_addr(line: &str) -> Option<SocketAddr> {
    logged_addr(line, |m| m.ends_with("listening"))
}

/// The gateway's metrics address, from its line "metrics at http://ADDR/metrics".
pub(crate) fn metrics_addr(line: &str) -> Option<SocketAddr> {
    logged_addr(line, |m| m.starts_with("metrics at "))
}

/// The `addr` of a JSON log line whose message `is`, at the top level or
/// under `fields` (tracing-subscriber's two JSON layouts).
fn logged_addr(line: &str, is: impl Fn(&str) -> bool) -> Option<SocketAddr> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    for obj in [&v, &v["fields"]] {
        if obj["message"].as_str().is_some_and(&is) {
            if let Some(addr) = obj["addr"].as_str().and_then(|a| a.parse().ok()) {
                return Some(addr);
            }
        }
    }
    None
}

/// VmRSS of a process in bytes.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// This process's user + system CPU time (all threads).
pub(crate) fn self_cpu_time() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Pins the calling thread (and every thread it starts later) to `cpu`.
pub(crate) fn pin_to_cpu(cpu: usize) -> Result<(), String> {
    // SAFETY: the set is zero-initialised and sized for sched_setaffinity.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "sched_setaffinity(CPU {cpu}): {}",
            std::io::Error::last_os_error()
        ))
    }
}

/// Whether `program` can be found on PATH (or is a path that exists).
pub(crate) fn on_path(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.exists().then_some(p);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_json_layouts_give_the_address() {
        let top =
            r#"{"level":"INFO","message":"bedrock-gateway listening","addr":"127.0.0.1:4000"}"#;
        let nested = r#"{"fields":{"message":"floor listening","addr":"127.0.0.1:4001"}}"#;
        assert_eq!(listening_addr(top), Some("127.0.0.1:4000".parse().unwrap()));
        assert_eq!(
            listening_addr(nested),
            Some("127.0.0.1:4001".parse().unwrap())
        );
        assert_eq!(listening_addr(r#"{"message":"hello"}"#), None);
    }

    #[test]
    fn own_rss_and_cpu_are_readable() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        let _ = self_cpu_time();
    }
}
