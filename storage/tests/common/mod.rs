//! Shared test fixtures: yrs update builders and per-test databases (SQLite file, PostgreSQL).

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use plait_protocol::session::{DocLimits, DocState};
use plait_storage::StoredDoc;
use sea_orm::{ConnectionTrait, Database, DatabaseBackend, Statement};
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact};

/// Appends `text` at the end of the doc's "t" text and returns that change as a v1 update.
pub fn edit(doc: &Doc, text: &str) -> Vec<u8> {
    let t = doc.get_or_insert_text("t");
    let before = doc.transact().state_vector();
    {
        let mut txn = doc.transact_mut();
        let len = t.len(&txn);
        t.insert(&mut txn, len, text);
    }
    doc.transact().encode_state_as_update_v1(&before)
}

/// The doc's "t" text.
pub fn text_of(doc: &Doc) -> String {
    let t = doc.get_or_insert_text("t");
    let txn = doc.transact();
    t.get_string(&txn)
}

/// A document rebuilt from what storage returned (the server's path: every row checked).
pub fn rebuilt(stored: StoredDoc) -> DocState {
    stored.replay(DocLimits::default()).state
}

/// Full state of a doc as a v1 update.
pub fn full_state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}_{}_{}", std::process::id(), n, nanos)
}

/// A SQLite file in the temp dir, removed (with its WAL files) on drop.
pub struct SqliteFile {
    path: PathBuf,
}

impl SqliteFile {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("plait_test_{}.db", unique_suffix()));
        SqliteFile { path }
    }

    /// A URL without `mode=rwc`: `SeaStore::connect` must create the file anyway.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

fn pg_base_url() -> String {
    std::env::var("PLAIT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn with_database(base: &str, name: &str) -> String {
    let base = base.split('?').next().unwrap_or(base);
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    match base[authority_start..].find('/') {
        Some(slash) => format!("{}/{name}", &base[..authority_start + slash]),
        None => format!("{base}/{name}"),
    }
}

/// A freshly created PostgreSQL database, dropped on drop (also when the test panicked).
pub struct PgDatabase {
    name: String,
    url: String,
}

impl PgDatabase {
    pub async fn create() -> anyhow::Result<Self> {
        let base = pg_base_url();
        let name = format!("plait_test_{}", unique_suffix());
        let admin = Database::connect(base.as_str()).await?;
        admin
            .execute_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                format!("CREATE DATABASE \"{name}\""),
            ))
            .await?;
        admin.close().await?;
        let url = with_database(&base, &name);
        Ok(PgDatabase { name, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop cannot await and may run inside a runtime, so drop the database from a thread
        // with its own small runtime. FORCE ends connections the test's pools still hold.
        let base = pg_base_url();
        let name = self.name.clone();
        let outcome = std::thread::spawn(move || -> anyhow::Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let admin = Database::connect(base.as_str()).await?;
                admin
                    .execute_raw(Statement::from_string(
                        DatabaseBackend::Postgres,
                        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                    ))
                    .await?;
                admin.close().await?;
                Ok(())
            })
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}
