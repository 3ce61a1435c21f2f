//! The storage layer's metrics (through the `metrics` facade; the server exports them): what a
//! group commit costs and how often the database fails.

/// Seconds one group commit (one append transaction) took, successful or not.
pub const COMMIT_SECONDS: &str = "plait_commit_seconds";
/// Log rows per successful group commit.
pub const COMMIT_ROWS: &str = "plait_commit_rows";
/// Database operations that failed, by `operation` (`append`, `compact`).
pub const DATABASE_ERRORS: &str = "plait_database_errors_total";

/// Registers the descriptions shown in `/metrics`.
pub fn describe() {
    metrics::describe_histogram!(
        COMMIT_SECONDS,
        metrics::Unit::Seconds,
        "Time of one group commit (one append transaction of the update log)"
    );
    metrics::describe_histogram!(
        COMMIT_ROWS,
        metrics::Unit::Count,
        "Log rows written per successful group commit"
    );
    metrics::describe_counter!(
        DATABASE_ERRORS,
        metrics::Unit::Count,
        "Database operations that failed, by operation (append, compact)"
    );
}
