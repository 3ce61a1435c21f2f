//! What Plait's test crates share (`storage/tests`, `tests/`): throw-away databases and small Yjs
//! document helpers. A dev-only crate, so that each fixture is written once.
//!
//! # Layout
//! - [`db`]: a uniquely named PostgreSQL database dropped afterwards, and a temporary SQLite file.
//! - [`ydoc`]: building, reading and comparing yrs documents in assertions.

pub mod db;
pub mod ydoc;
