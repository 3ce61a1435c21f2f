//! Another program writing into Plait's database, as an application would: a long-running
//! `psql` (PostgreSQL, `SELECT plait_write(...)`) or `sqlite3` (the INSERT the README
//! documents) child process fed statements on its stdin, one connection for the whole run.
//!
//! Each statement ends with a query whose one-line answer is the write's log position, so the
//! time a line comes back on stdout is when the write committed (the clients' latency is
//! measured from the moment the statement was handed to the child, not from this answer).

use crate::error::{BenchError, Result};
use std::fmt::Write as _;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Which stock client writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriterKind {
    /// `psql URL`: `SELECT plait_write(name, update)`.
    Psql,
    /// `sqlite3 FILE`: the documents + document_updates INSERTs of the README.
    Sqlite3,
}

/// The child process and its stdin.
pub struct Writer {
    kind: WriterKind,
    child: Child,
    stdin: ChildStdin,
}

/// The child's stdout: one line per committed write, read beside the writes.
pub struct Answers {
    kind: WriterKind,
    lines: Lines<BufReader<ChildStdout>>,
}

fn io(what: &str, source: std::io::Error) -> BenchError {
    BenchError::Io {
        path: what.to_owned(),
        source,
    }
}

/// `update` as SQL hex digits.
fn hex(update: &[u8]) -> String {
    let mut s = String::with_capacity(update.len() * 2);
    for b in update {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The statement that appends `update` to `doc` (a name without quotes, see [`Writer::write`]).
pub fn statement(kind: WriterKind, doc: &str, update: &[u8]) -> String {
    let hex = hex(update);
    match kind {
        WriterKind::Psql => format!("SELECT plait_write('{doc}', '\\x{hex}'::bytea);\n"),
        WriterKind::Sqlite3 => format!(
            "INSERT INTO documents (name, snapshot_seq, snapshot_format, created_at, updated_at) \
             VALUES ('{doc}', 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ','now'), \
             strftime('%Y-%m-%dT%H:%M:%fZ','now')) ON CONFLICT (name) DO NOTHING; \
             INSERT INTO document_updates (document_id, data, created_at) SELECT id, X'{hex}', \
             strftime('%Y-%m-%dT%H:%M:%fZ','now') FROM documents WHERE name = '{doc}'; \
             SELECT last_insert_rowid();\n"
        ),
    }
}

impl Writer {
    /// Start the client on `database` (psql: a connection URL; sqlite3: a file path).
    pub async fn spawn(kind: WriterKind, database: &str) -> Result<(Writer, Answers)> {
        let mut cmd = match kind {
            WriterKind::Psql => {
                let mut c = Command::new("psql");
                c.args([database, "-qAtX", "-v", "ON_ERROR_STOP=1"]);
                c
            }
            WriterKind::Sqlite3 => {
                let mut c = Command::new("sqlite3");
                c.args(["-batch", "-bail", database]);
                c
            }
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io(&format!("{kind:?} writer"), e))?;
        let stdin = child.stdin.take().ok_or(BenchError::Wire("no stdin"))?;
        let stdout = child.stdout.take().ok_or(BenchError::Wire("no stdout"))?;
        let mut w = Writer { kind, child, stdin };
        if kind == WriterKind::Sqlite3 {
            // Plait holds write locks for its own flushes: wait for them rather than fail.
            w.send(".timeout 5000\n").await?;
        }
        let lines = BufReader::new(stdout).lines();
        Ok((w, Answers { kind, lines }))
    }

    async fn send(&mut self, text: &str) -> Result<()> {
        self.stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|e| io("writer stdin", e))?;
        self.stdin.flush().await.map_err(|e| io("writer stdin", e))
    }

    /// Hand one append to the client. `doc` must not contain a quote (the bench's names don't).
    pub async fn write(&mut self, doc: &str, update: &[u8]) -> Result<()> {
        if doc.contains('\'') {
            return Err(BenchError::Runtime(format!(
                "document name {doc:?} has a quote"
            )));
        }
        self.send(&statement(self.kind, doc, update)).await
    }

    /// Close stdin and wait for the client to exit.
    pub async fn finish(mut self) -> Result<()> {
        drop(self.stdin);
        let status = self.child.wait().await.map_err(|e| io("writer exit", e))?;
        if status.success() {
            Ok(())
        } else {
            Err(BenchError::Runtime(format!("writer exited with {status}")))
        }
    }
}

impl Answers {
    /// The next answer line: the position of the oldest write not yet answered.
    pub async fn next(&mut self) -> Result<i64> {
        let line = self
            .lines
            .next_line()
            .await
            .map_err(|e| io("writer stdout", e))?
            .ok_or_else(|| BenchError::Runtime(format!("{:?} writer exited", self.kind)))?;
        line.trim()
            .parse()
            .map_err(|_| BenchError::Runtime(format!("writer answered {line:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_carry_the_update_as_hex() {
        let s = statement(WriterKind::Psql, "d", &[1, 0xab]);
        assert_eq!(s, "SELECT plait_write('d', '\\x01ab'::bytea);\n");
        let s = statement(WriterKind::Sqlite3, "d", &[0xff]);
        assert!(s.contains("SELECT id, X'ff',") && s.ends_with("last_insert_rowid();\n"));
    }
}
