//! Error types of the server: [`ServerError`] for start-up and shutdown, [`AppError`] for the
//! HTTP edge, where details are logged and the client gets a short, clear message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use plait_protocol::error::ProtocolError;
use plait_protocol::name::NameError;
use plait_storage::error::StorageError;
use plait_storage::unsaved::UnsavedError;

use crate::auth::AuthError;

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
    /// The unsaved file could not be written at shutdown or stored at start-up.
    #[error("unsaved updates: {0}")]
    Unsaved(#[from] UnsavedError),
}

/// Why a document could not be handed to a connection or request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// The database did not answer (or the replay failed); the document is not served rather
    /// than served empty.
    #[error("document could not be loaded from storage: {0}")]
    Storage(#[from] StorageError),
    /// It unloaded each time a connection tried to join it (a rare race; the client retries).
    #[error("document kept unloading while joining")]
    KeptUnloading,
    /// The server is shutting down.
    #[error("server is shutting down")]
    ShuttingDown,
    /// The document is in the trash (`DELETE /api/docs/{doc}`); it is not served until undeleted.
    #[error("document deleted (POST /api/docs/{{doc}}/undelete restores it)")]
    Deleted,
}

impl AppError {
    /// A failed edit computed on the blocking pool (`PUT .../json`, a restore): yrs panicked on
    /// the document's content (a root that two updates wrote as two kinds, which yrs cannot
    /// always edit), or the runtime is stopping. The document is unchanged either way: the edit
    /// was computed on a copy.
    pub fn from_edit_task(error: tokio::task::JoinError) -> AppError {
        if error.is_panic() {
            tracing::warn!("an edit of a document's content failed inside yrs; refused");
            AppError::BadQuery(
                "the document's content cannot be edited this way (a root holds content of two \
                 kinds); nothing was changed"
                    .into(),
            )
        } else {
            AppError::Unavailable(LoadError::ShuttingDown)
        }
    }
}

/// Every error an HTTP handler can return, mapped to one status code each.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid document name: {0}")]
    BadName(#[from] NameError),
    /// The `{doc}` segment did not decode (e.g. `%FF`, not UTF-8), before any name rule applies.
    #[error("invalid document name: {}", .0.body_text())]
    BadPath(#[from] axum::extract::rejection::PathRejection),
    // The protocol error already says "invalid document update: ..." (or why it is too large).
    #[error("{0}")]
    BadUpdate(#[from] ProtocolError),
    #[error("document not found")]
    NotFound,
    /// Something the request names does not exist (a version), with what.
    #[error("{0}")]
    NotFoundBecause(&'static str),
    /// `GET .../json?field=NAME` for a root the document does not have.
    #[error("the document has no root type of that name (or its content is empty)")]
    NoSuchField,
    #[error("{0}")]
    Unavailable(#[from] LoadError),
    #[error("storage error")]
    Storage(#[from] StorageError),
    #[error("{}", .0.reason())]
    Auth(#[from] AuthError),
    #[error("origin not allowed")]
    OriginNotAllowed,
    #[error("{0}")]
    TooManyConnections(&'static str),
    #[error("reconnecting too soon after a refused update; retry in {0} s")]
    Penalized(u64),
    /// `--max-pending-updates`: the database has not taken the edits held so far.
    #[error(
        "the database is unavailable and this server holds as many unsaved edits as it may; \
         retry later"
    )]
    Backlog,
    /// A query parameter that does not parse (a cursor, a limit).
    #[error("{0}")]
    BadQuery(String),
    /// The store has no such feature (the in-memory store keeps no change feed).
    #[error("{0}")]
    NotSupported(&'static str),
    /// A point in a document's past that `--history-retention` no longer keeps (410).
    #[error("{0}")]
    Pruned(String),
}

/// `Retry-After` while the writer's backlog is full: about one retry backoff of the writer, the
/// soonest a recovered database can have taken it.
const BACKLOG_RETRY_SECS: u64 = 5;

impl AppError {
    /// The error's JSON body with `status` and a `Retry-After` of `seconds`.
    fn retry_after(&self, status: StatusCode, seconds: u64) -> Response {
        let body = Json(serde_json::json!({ "error": self.to_string() }));
        let retry = [(axum::http::header::RETRY_AFTER, seconds.to_string())];
        (status, retry, body).into_response()
    }
}

impl AppError {
    /// The `reason` label of [`crate::metrics::REFUSALS`].
    fn reason_label(&self) -> &'static str {
        match self {
            AppError::BadName(_) | AppError::BadPath(_) => "name",
            AppError::BadUpdate(ProtocolError::DocumentTooLarge { .. }) => "document_size",
            AppError::BadUpdate(ProtocolError::TooLarge { .. }) => "message_size",
            AppError::BadUpdate(_) => "invalid_update",
            AppError::NotFound | AppError::NoSuchField | AppError::NotFoundBecause(_) => {
                "not_found"
            }
            AppError::Unavailable(LoadError::Deleted) => "deleted",
            AppError::Unavailable(_) | AppError::Storage(_) => "unavailable",
            AppError::Auth(_) => "auth",
            AppError::OriginNotAllowed => "origin",
            AppError::TooManyConnections(_) => "connections",
            AppError::Penalized(_) => "penalty",
            AppError::Backlog => "backlog",
            AppError::BadQuery(_) => "bad_request",
            AppError::NotSupported(_) => "not_supported",
            AppError::Pruned(_) => "pruned",
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        crate::metrics::refused(self.reason_label());
        let status = match &self {
            AppError::BadUpdate(ProtocolError::DocumentTooLarge { .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            AppError::BadName(_) | AppError::BadUpdate(_) => StatusCode::BAD_REQUEST,
            AppError::BadPath(rejection) => rejection.status(),
            AppError::Auth(e) => {
                // Never the token itself: only why it was refused.
                tracing::info!(reason = e.reason(), "request refused");
                e.status()
            }
            AppError::OriginNotAllowed => StatusCode::FORBIDDEN,
            AppError::BadQuery(_) => StatusCode::BAD_REQUEST,
            AppError::NotSupported(_) => StatusCode::NOT_IMPLEMENTED,
            AppError::TooManyConnections(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Penalized(seconds) => {
                return self.retry_after(StatusCode::TOO_MANY_REQUESTS, *seconds);
            }
            AppError::Backlog => {
                return self.retry_after(StatusCode::SERVICE_UNAVAILABLE, BACKLOG_RETRY_SECS);
            }
            AppError::NotFound | AppError::NoSuchField | AppError::NotFoundBecause(_) => {
                StatusCode::NOT_FOUND
            }
            AppError::Unavailable(LoadError::Deleted) | AppError::Pruned(_) => StatusCode::GONE,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Storage(e) => {
                // The database's own message may carry connection details: log it, do not send it.
                tracing::error!(error = %e, "storage error in HTTP request");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}
