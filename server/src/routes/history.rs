//! `GET /api/docs/{doc}/history`: a document's log as its history, who wrote each row.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use plait_storage::history::LogEntry;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::scope::page_limit;
use super::{authorize, json_body, DocPath, ErrorBody};
use crate::error::AppError;
use crate::state::AppState;

/// Rows per page when the query names no limit, and the most it may name.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

/// The query of `GET .../history`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The position to read after (a page's `next`); omitted: from the first row kept.
    #[param(value_type = Option<i64>)]
    after: Option<String>,
    /// The most rows: 1 to 1000; default 100.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// One row of the history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// Its log position (a change-feed cursor).
    seq: i64,
    /// When it was stored (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    at: Option<String>,
    /// Who wrote it: every client whose updates the row holds, `{"sub": token subject or
    /// "anonymous", "via": "ws" | "hocuspocus" | "http"}`; null when not known (a row another
    /// program wrote, or one written before attribution).
    #[schema(value_type = Option<Vec<Object>>)]
    authors: Option<serde_json::Value>,
    /// Size of the update in bytes.
    bytes: u64,
    /// `update`, or the trash's `delete` / `undelete`.
    kind: &'static str,
}

impl From<LogEntry> for HistoryEntry {
    fn from(e: LogEntry) -> Self {
        HistoryEntry {
            seq: e.seq,
            at: e
                .at
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            authors: e
                .authors
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok()),
            bytes: e.bytes,
            kind: match e.kind {
                1 => "delete",
                2 => "undelete",
                _ => "update",
            },
        }
    }
}

/// A page of the history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    /// In log order.
    changes: Vec<HistoryEntry>,
    /// The `after` of the next page (the last position read, or `after` if none).
    next: i64,
}

fn position(text: Option<&str>) -> Result<i64, AppError> {
    match text {
        None => Ok(0),
        Some(text) => text.trim().parse::<i64>().map_err(|_| {
            AppError::BadQuery(format!(
                "invalid position {:?}",
                text.chars().take(40).collect::<String>()
            ))
        }),
    }
}

/// `GET /api/docs/{doc}/history?after=&limit=`.
#[utoipa::path(
    get,
    path = "/api/docs/{doc}/history",
    operation_id = "getDocumentHistory",
    tag = "history",
    summary = "Who changed a document, row by row",
    description = "The document's log rows in order: position, time, authors (every client \
        whose updates a row merges, with the protocol it used) and size. Rows folded into the \
        snapshot by a compaction are no longer listed.",
    params(DocPath, HistoryQuery),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "A page of the history", body = HistoryPage),
        (status = 400, description = "An invalid document name, position or limit", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document", body = ErrorBody),
        (status = 501, description = "The `memory:` database keeps no history", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    DocPath(name): DocPath,
    Query(query): Query<HistoryQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    authorize(&state, &headers, &uri, &name)?;
    let after = position(query.after.as_deref())?;
    let limit = page_limit(query.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let history = state.history()?;
    let entries = history.log(name.as_str(), after, limit).await?;
    let next = entries.last().map_or(after, |e| e.seq);
    let body = HistoryPage {
        changes: entries.into_iter().map(HistoryEntry::from).collect(),
        next,
    };
    Ok(json_body(&body).into_response())
}
