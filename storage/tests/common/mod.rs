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
