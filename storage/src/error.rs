//! The one error type every storage operation returns.

use std::sync::Arc;

/// Why a storage operation failed.
///
/// It exists so the server can tell "the database is down, retry later" apart from programming
/// errors without string matching, and it is `Clone` because one failed group commit is reported
/// to every `Writer::flush` caller waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// The database driver or a query failed (connection lost, constraint, I/O...).
    #[error("database error: {0}")]
    Database(#[source] Arc<sea_orm::DbErr>),
    /// `FaultyStore::set_failing(true)` is in effect: tests simulate an outage with it.
    #[error("injected failure (FaultyStore is set to fail)")]
    Injected,
    /// A document name longer than the `documents.name` column allows.
    #[error("document name is {0} bytes, the limit is 255")]
    NameTooLong(usize),
    /// The write-behind task is gone, so a flush can never complete.
    #[error("the writer task has stopped")]
    WriterStopped,
    /// Building a snapshot on the blocking pool failed (it panicked or the runtime is stopping).
    #[error("snapshot task failed: {0}")]
    Snapshot(String),
    /// `Writer::shutdown` reached its deadline with updates still only in memory.
    #[error("{pending} updates were not written before the shutdown deadline: {last_error}")]
    Unwritten {
        /// Updates that never reached the database.
        pending: usize,
        /// The error of the last failed attempt, for the operator.
        last_error: Box<StorageError>,
    },
}

impl StorageError {
    /// Whether the database answered and refused (a full disk, a statement it would not take),
    /// rather than could not be reached: the same request may fail again where a smaller one
    /// would not.
    pub fn is_refusal(&self) -> bool {
        match self {
            StorageError::Database(error) => !matches!(
                error.as_ref(),
                sea_orm::DbErr::Conn(_) | sea_orm::DbErr::ConnectionAcquire(_)
            ),
            _ => false,
        }
    }
}

impl From<sea_orm::DbErr> for StorageError {
    fn from(err: sea_orm::DbErr) -> Self {
        StorageError::Database(Arc::new(err))
    }
}

/// An error of a connection used through sqlx directly (the feeds' own connections), as the
/// connection error it is, so [`StorageError::is_refusal`] treats it as one.
impl From<sea_orm::SqlxError> for StorageError {
    fn from(err: sea_orm::SqlxError) -> Self {
        sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(Arc::new(err))).into()
    }
}
