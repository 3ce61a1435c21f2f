//! What storage's test binaries share beyond `plait-testkit`: a stored document rebuilt the way
//! the server rebuilds it.

#![allow(dead_code, unused_imports)] // each test binary uses a different subset

use plait_protocol::session::{DocLimits, DocState};
use plait_storage::StoredDoc;

pub use plait_testkit::db::{PgDatabase, SqliteFile};
pub use plait_testkit::ydoc::{edit, nested_arrays, text_of};

/// A document rebuilt from what storage returned (the server's path: every row checked).
pub fn rebuilt(stored: StoredDoc) -> DocState {
    stored.replay(DocLimits::default()).state
}

/// Runs `case` with the URL of a fresh SQLite file.
pub async fn on_sqlite<F, Fut>(case: F) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let file = SqliteFile::new()?;
    case(file.url()).await
}

/// Runs `case` with the URL of a fresh PostgreSQL database, dropped afterwards.
pub async fn on_postgres<F, Fut>(case: F) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let db = PgDatabase::create().await?;
    case(db.url()?).await
}

/// One test per case of the module `cases` on each database: `sqlite::<case>` and
/// `postgres::<case>`.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() -> anyhow::Result<()> {
                    common::on_sqlite(cases::$case).await
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() -> anyhow::Result<()> {
                    common::on_postgres(cases::$case).await
                }
            )*
        }
    };
}
