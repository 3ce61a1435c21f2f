//! [`PlaitProcess`]: the built `plait` binary as a child process, for what only a real process
//! shows (`kill -9`: no destructor, no final flush).

use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};

/// Where the binary is: `$PLAIT_BIN`, else `target/<profile>/plait` next to this test executable
/// (`target/<profile>/deps/<test>`).
pub fn binary_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("PLAIT_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("current_exe")?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| anyhow!("unexpected test executable location {}", exe.display()))?;
    let path = profile_dir.join(format!("plait{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        bail!(
            "the plait binary is missing at {}: run `cargo build -p plait-server` first (or set PLAIT_BIN)",
            path.display()
        );
    }
    Ok(path)
}

/// A running `plait serve` child process; killed (SIGKILL) on drop if still running.
pub struct PlaitProcess {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl PlaitProcess {
    /// Starts `plait serve --bind 127.0.0.1:PORT --database-url URL` with the given extra
    /// arguments and waits until `/readyz` answers 200. Its log goes to a temporary file that
    /// error messages quote and that is removed on drop.
    pub async fn start(database_url: &str, extra: &[&str]) -> Result<PlaitProcess> {
        Self::start_with_env(database_url, extra, &[]).await
    }

    /// Like [`PlaitProcess::start`], with extra environment variables (set after the default
    /// `RUST_LOG=info`, so they may override it).
    pub async fn start_with_env(
        database_url: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<PlaitProcess> {
        let binary = binary_path()?;
        let log = std::env::temp_dir().join(format!(
            "plait-e2e-{}-{:x}.log",
            std::process::id(),
            crate::db::unique_suffix()
        ));
        let addr = free_port()?;
        let log_file = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let child = Command::new(&binary)
            .arg("serve")
            .arg("--bind")
            .arg(addr.to_string())
            .arg("--database-url")
            .arg(database_url)
            .args(extra)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("spawn {}", binary.display()))?;
        let mut process = PlaitProcess { child, addr, log };
        process.wait_ready().await?;
        Ok(process)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let addr = self.addr;
        let deadline = tokio::time::Instant::now() + crate::TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "plait exited with {status} before it was ready; log:\n{}",
                    self.log_text()
                );
            }
            if let Ok(r) = crate::http::get(addr, "/readyz").await {
                if r.status == 200 {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("plait did not become ready; log:\n{}", self.log_text());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/ws/{doc}`.
    pub fn ws_url(&self, doc: &str) -> String {
        format!("ws://{}/ws/{doc}", self.addr)
    }

    /// The child's process id (for `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the process (VmRSS), in KiB, from `/proc/<pid>/status` (Linux).
    pub fn rss_kib(&self) -> Result<u64> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no VmRSS line in {path}"))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What the process logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: the process gets no chance to flush anything.
    pub fn kill9(&mut self) -> Result<()> {
        self.child.kill().context("SIGKILL plait")?;
        let status = self.child.wait().context("reap plait")?;
        // A clean exit would mean the process was already gone: then this test shows nothing.
        if status.success() {
            bail!(
                "plait had already exited before the kill; log:\n{}",
                self.log_text()
            );
        }
        Ok(())
    }
}

impl Drop for PlaitProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A loopback port that was free a moment ago (the child binds it right after).
fn free_port() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}
