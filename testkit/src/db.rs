//! Throw-away databases: a uniquely named PostgreSQL database dropped on `Drop`, and a SQLite
//! file in a temporary directory removed on `Drop`.

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use sea_orm::{ConnectionTrait, Database};

/// Base URL of the PostgreSQL server the tests may use (`PLAIT_TEST_PG_URL`, else the CI one).
pub fn pg_base_url() -> String {
    std::env::var("PLAIT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A random-enough 64-bit value without a `rand` dependency: std's hasher keys are random per
/// process, and the counter separates calls within one.
pub fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// A PostgreSQL database created for one test (`plait_e2e_<pid>_<random>`) and dropped (with
/// `FORCE`, so leftover server connections do not keep it alive) when this value is dropped.
pub struct PgDatabase {
    base: String,
    name: String,
}

impl PgDatabase {
    /// Creates the database on the server of [`pg_base_url`].
    pub async fn create() -> Result<PgDatabase> {
        let base = pg_base_url();
        let name = format!("plait_e2e_{}_{:x}", std::process::id(), unique_suffix());
        let admin = Database::connect(&base).await.with_context(|| {
            format!("PostgreSQL at {base} is needed for this test (set PLAIT_TEST_PG_URL)")
        })?;
        drop_stale_databases(&admin).await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        admin.close().await.ok();
        Ok(PgDatabase { base, name })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// URL of this database on the real server.
    pub fn url(&self) -> Result<String> {
        with_database(&self.base, None, &self.name)
    }

    /// URL of this database reached through `proxy` (host and port replaced).
    pub fn url_via(&self, proxy: SocketAddr) -> Result<String> {
        with_database(&self.base, Some(proxy), &self.name)
    }

    /// The address of the real PostgreSQL server, for a proxy to forward to.
    pub fn server_addr(&self) -> Result<SocketAddr> {
        let (_, authority, _) = split_url(&self.base)?;
        let host_port = authority.rsplit('@').next().unwrap_or(authority);
        let host_port = if host_port.contains(':') {
            host_port.to_string()
        } else {
            format!("{host_port}:5432")
        };
        let host_port = host_port.replace("localhost", "127.0.0.1");
        host_port.parse().with_context(|| {
            format!("PostgreSQL address {host_port:?} must be a loopback IP and port")
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let base = self.base.clone();
        let name = self.name.clone();
        // Drop cannot await and may run inside a runtime: use a thread with its own runtime.
        let dropped = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let admin = Database::connect(&base).await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                admin.close().await.ok();
                Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e:#}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}

/// Drops `plait_e2e_<pid>_*` databases whose test process no longer exists: a test run killed
/// before its destructors ran (a CI timeout, Ctrl-C) would otherwise leave them behind for good.
async fn drop_stale_databases(admin: &sea_orm::DatabaseConnection) {
    let query = sea_orm::Statement::from_string(
        admin.get_database_backend(),
        "SELECT datname FROM pg_database WHERE datname LIKE 'plait_e2e_%'",
    );
    let Ok(rows) = admin.query_all_raw(query).await else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_none_or(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            // Best effort: another run may be dropping it at the same moment.
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

/// Splits `scheme://authority/rest` into its three parts.
fn split_url(url: &str) -> Result<(&str, &str, &str)> {
    let (scheme, after) = url
        .split_once("://")
        .ok_or_else(|| anyhow!("not a URL: {url}"))?;
    let (authority, rest) = after.split_once('/').unwrap_or((after, ""));
    Ok((scheme, authority, rest))
}

/// `base` with its database name (and optionally host:port) replaced; the query string is kept.
fn with_database(base: &str, addr: Option<SocketAddr>, db: &str) -> Result<String> {
    let (scheme, authority, rest) = split_url(base)?;
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    let authority = match addr {
        None => authority.to_string(),
        Some(addr) => match authority.rsplit_once('@') {
            Some((user, _)) => format!("{user}@{addr}"),
            None => addr.to_string(),
        },
    };
    Ok(format!("{scheme}://{authority}/{db}{query}"))
}

/// A SQLite database file in a fresh temporary directory, removed (with its WAL files) on drop.
pub struct SqliteFile {
    dir: PathBuf,
}

impl SqliteFile {
    /// A new, not yet existing, database file.
    pub fn new() -> Result<SqliteFile> {
        let dir = std::env::temp_dir().join(format!(
            "plait-e2e-{}-{:x}",
            std::process::id(),
            unique_suffix()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(SqliteFile { dir })
    }

    /// The file path.
    pub fn path(&self) -> PathBuf {
        self.dir.join("plait.db")
    }

    /// A SeaORM URL that creates the file if absent.
    pub fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.path().display())
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_user_and_query() -> Result<()> {
        let base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable";
        assert_eq!(
            with_database(base, None, "x")?,
            "postgres://postgres@127.0.0.1:5432/x?sslmode=disable"
        );
        let proxy: SocketAddr = "127.0.0.1:40000".parse()?;
        assert_eq!(
            with_database(base, Some(proxy), "x")?,
            "postgres://postgres@127.0.0.1:40000/x?sslmode=disable"
        );
        Ok(())
    }
}
