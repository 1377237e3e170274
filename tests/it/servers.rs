//! Private PostgreSQL and Redis servers, started by a test on ports of its own, so it can stop
//! and restart them without disturbing the other tests.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::TestDir;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_for_port(port: u16, up: bool, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let open = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if open == up {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "port {port} did not become {}",
            if up { "open" } else { "closed" }
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The directory of PostgreSQL's server programs (initdb, pg_ctl).
fn pg_bindir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server packages are installed (scripts/services.sh)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version with pg_ctl")
}

/// Runs a server program as the `postgres` user when we are root (PostgreSQL refuses root).
fn pg_command(program: &str) -> Command {
    let path = pg_bindir().join(program);
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

/// A PostgreSQL cluster of one test.
pub struct PrivatePostgres {
    dir: TestDir,
    pub port: u16,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let dir = TestDir::new();
        let data = dir.0.join("data");
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir.0)
            .status();
        let status = pg_command("initdb")
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let server = Self { dir, port: free_port() };
        server.start_again();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.0.join("data")
    }

    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.0.display()
        );
        let status = pg_command("pg_ctl")
            .args(["-w", "-D"])
            .arg(self.data())
            .args(["-o", &options, "-l"])
            .arg(self.dir.0.join("server.log"))
            .arg("start")
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl runs");
        assert!(status.success(), "the private PostgreSQL did not start");
        wait_for_port(self.port, true, Duration::from_secs(30));
    }

    /// Stops at once, as a crash would: open transactions are lost.
    pub fn stop(&self) {
        let status = pg_command("pg_ctl")
            .args(["-w", "-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl runs");
        assert!(status.success(), "the private PostgreSQL did not stop");
        wait_for_port(self.port, false, Duration::from_secs(30));
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = pg_command("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A Redis server of one test, persisting to an append-only file.
pub struct PrivateRedis {
    dir: TestDir,
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let mut redis = Self {
            dir: TestDir::new(),
            port: free_port(),
            child: None,
        };
        redis.start_again();
        redis
    }

    pub fn start_again(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--save", ""])
            .arg("--dir")
            .arg(&self.dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        wait_for_port(self.port, true, Duration::from_secs(30));
    }

    /// Kills the server (SIGKILL: a crash, no chance to close connections) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        wait_for_port(self.port, false, Duration::from_secs(30));
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
