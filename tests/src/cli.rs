//! The `plait` binary's one-shot commands (`export`, `import`, `check`...) run to their end, and
//! temporary directories for what they write.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::process::binary_path;

/// What one run of `plait` printed, and how it exited.
#[derive(Debug)]
pub struct Output {
    /// The exit status (`None`: killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Itself if it exited 0, else an error quoting everything it printed.
    pub fn ok(self) -> Result<Output> {
        if self.code != Some(0) {
            bail!("plait exited with {:?}:\n{self}", self.code);
        }
        Ok(self)
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

/// Runs `plait ARGS...` to its end (on the blocking pool: a test's server may be running on
/// the same runtime meanwhile). `DATABASE_URL` is removed from its environment, so only the
/// arguments say which database it uses.
pub async fn plait(args: &[&str]) -> Result<Output> {
    let binary = binary_path()?;
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(&binary)
            .args(&args)
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {} {args:?}", binary.display()))?;
        Ok(Output {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    })
    .await?
}

/// A fresh path in the temporary directory (not created), removed with everything under it
/// on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new path that does not exist yet.
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "plait-e2e-dir-{}-{:x}",
            std::process::id(),
            crate::db::unique_suffix()
        ));
        TempDir { path }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path as a string, for a command line.
    pub fn arg(&self) -> String {
        self.path.display().to_string()
    }
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
