//! `GET /api/changes` and `GET /api/changes/stream`: the change feed (see
//! `plait_storage::changes`), as JSON pages and as server-sent events.
//!
//! Cursors are opaque to consumers; today they are the change's log position in decimal. A
//! token's `doc` scope limits what either endpoint shows, the same way it limits documents.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::Stream;
use plait_storage::changes::{Change, ChangeLog};
use plait_storage::store::{DocStore, Seq};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::warn;
use utoipa::{IntoParams, ToSchema};

use super::scope::{page_limit, reader, Reader};
use super::{json_body, ErrorBody};
use crate::error::AppError;
use crate::state::AppState;

/// Changes per page when the query names no limit, and the most it may name.
const DEFAULT_LIMIT: u64 = 1000;
const MAX_LIMIT: u64 = 10_000;
/// A stream's keep-alive comment while idle (proxies close silent connections).
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// A stream looks at the log at least this often even if no commit was heard of (the head
/// hears every commit; this is the floor for a notification lost with a dropped listening
/// connection). Every idle stream costs one query per period, so not too often.
const STREAM_POLL: Duration = Duration::from_secs(10);
/// How soon a consumer's `EventSource` reconnects after losing the stream.
const RECONNECT: Duration = Duration::from_secs(1);
/// Pages a stream reads ahead of a slow consumer.
const STREAM_AHEAD: usize = 2;

/// The query of `GET /api/changes` (the stream reads `after` and `prefix` only).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// The cursor to read after (a page's `next`, or a change's `cursor`); omitted: from the
    /// beginning.
    #[param(example = "41")]
    after: Option<String>,
    /// The most changes in the page: 1 to 10 000 (more is read as 10 000); default 1000.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 10000)]
    limit: Option<String>,
    /// Only documents whose name starts with this (within the token's `doc` scope).
    #[param(example = "team-a/")]
    prefix: Option<String>,
}

/// One change as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Change)]
struct ChangeJson<'a> {
    /// This change's cursor: pass it as `after` to read what follows it. Opaque.
    #[schema(example = "57")]
    cursor: String,
    /// The document's name.
    #[schema(value_type = String, example = "team-a/notes")]
    doc: &'a str,
    /// The change's log position.
    #[schema(value_type = i64)]
    seq: Seq,
    /// When it was stored (RFC 3339, UTC, milliseconds).
    #[schema(format = DateTime, example = "2026-12-06T14:05:01.233Z")]
    at: String,
    /// `update`: one stored Yjs update; `snapshot`: the document's whole state at this position
    /// (its earlier rows were compacted).
    #[schema(value_type = String, pattern = "^(update|snapshot)$", example = "update")]
    kind: &'static str,
    /// The base64 of a Yjs v1 update.
    #[schema(content_encoding = "base64")]
    update: String,
}

/// A page of the change feed.
#[derive(Debug, Serialize, ToSchema)]
struct ChangesPage<'a> {
    /// The changes after the cursor, in commit order.
    changes: Vec<ChangeJson<'a>>,
    /// The cursor of the last change in the page (the request's `after` if the page is empty):
    /// the next page's `after`.
    #[schema(example = "57")]
    next: String,
}

impl<'a> From<&'a Change> for ChangeJson<'a> {
    fn from(change: &'a Change) -> Self {
        ChangeJson {
            cursor: cursor(change.seq),
            doc: &change.doc,
            seq: change.seq,
            at: change
                .at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            kind: change.kind.as_str(),
            update: base64::engine::general_purpose::STANDARD.encode(&change.update),
        }
    }
}

fn cursor(seq: Seq) -> String {
    seq.to_string()
}

fn parse_cursor(text: &str) -> Result<Seq, AppError> {
    text.trim()
        .parse::<Seq>()
        .ok()
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| AppError::BadQuery(format!("invalid cursor {:?}", prefix(text))))
}

fn prefix(text: &str) -> String {
    text.chars().take(40).collect()
}

fn change_log(store: &dyn DocStore) -> Result<&dyn ChangeLog, AppError> {
    store.change_log().ok_or(AppError::NotSupported(
        "this server's store keeps no change feed (the `memory:` database)",
    ))
}

/// `GET /api/changes?after=&limit=&prefix=`.
#[utoipa::path(
    get,
    path = "/api/changes",
    operation_id = "listChanges",
    tag = "changes",
    summary = "Read a page of the change feed",
    description = "A page of the log in commit order: every update stored to every document the \
        token covers, whoever wrote it (a client, `POST .../update`, SQL). A consumer that starts \
        from the beginning, or from any cursor it was given, and applies every change in order, \
        ends with every document equal to the server's.",
    params(ChangesQuery),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "A page of changes", body = ChangesPage),
        (status = 400, description = "An invalid cursor or limit", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 501, description = "The store keeps no change feed (the `memory:` database)", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ChangesQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    let after = query.after.as_deref().map(parse_cursor).transpose()?;
    let limit = page_limit(query.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let reader = reader(&state, &headers, &uri, query.prefix)?;
    let after = after.unwrap_or(0);
    let log = change_log(state.store.as_ref())?;
    let changes = match &reader.names {
        Some(names) => log.changes(after, limit, names).await?,
        None => Vec::new(),
    };
    let next = changes.last().map_or(after, |c| c.seq);
    let body = ChangesPage {
        changes: changes.iter().map(ChangeJson::from).collect(),
        next: cursor(next),
    };
    Ok(json_body(&body).into_response())
}

/// `GET /api/changes/stream?after=&prefix=`: every change after the cursor (or after the
/// `Last-Event-ID` a reconnecting `EventSource` sends, which wins), then each new one as it
/// commits; `:` comments keep an idle stream open.
#[utoipa::path(
    get,
    path = "/api/changes/stream",
    operation_id = "streamChanges",
    tag = "changes",
    summary = "Follow the change feed as server-sent events",
    description = "Every change after the cursor, then each new one as it commits, as \
        server-sent events: each event's `id` is the change's cursor and its `data` a `Change` \
        object as JSON. A reconnecting `EventSource` resumes after the last event it saw \
        (`Last-Event-ID`); `:` comments keep an idle stream open. The stream ends when the \
        token expires.",
    params(
        ("after" = Option<String>, Query, description = "The cursor to read after; omitted: from \
            the beginning. `Last-Event-ID` wins over it."),
        ("prefix" = Option<String>, Query, description = "Only documents whose name starts with \
            this (within the token's `doc` scope)."),
        ("Last-Event-ID" = Option<String>, Header, description = "Sent by a reconnecting \
            `EventSource`: the cursor of the last event it saw."),
    ),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "An endless `text/event-stream`: `retry: 1000`, then one \
            event per change (`id`: its cursor, `data`: the change as JSON, see `Change`)",
            body = String, content_type = "text/event-stream"),
        (status = 400, description = "An invalid cursor", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 501, description = "The store keeps no change feed (the `memory:` database)", body = ErrorBody),
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    Query(query): Query<ChangesQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty());
    let after = match resume.or(query.after.as_deref()) {
        Some(text) => parse_cursor(text)?,
        None => 0,
    };
    let reader = reader(&state, &headers, &uri, query.prefix)?;
    change_log(state.store.as_ref())?;
    let (events, received) = flume::bounded(STREAM_AHEAD * DEFAULT_LIMIT as usize);
    let streams = crate::metrics::FEED_STREAMS;
    metrics::gauge!(streams).increment(1.0);
    let feed = feed_stream(
        state.store.clone(),
        reader,
        after,
        events,
        state.shutdown.clone(),
    );
    tokio::spawn(async move {
        feed.await;
        metrics::gauge!(streams).decrement(1.0);
    });
    Ok(Sse::new(received.into_stream()).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// Reads pages after `after` into `events` until the consumer goes away, its token expires or
/// the server shuts down.
async fn feed_stream(
    store: Arc<dyn DocStore>,
    reader: Reader,
    mut after: Seq,
    events: flume::Sender<Result<Event, Infallible>>,
    shutdown: CancellationToken,
) {
    let Some(names) = reader.names else {
        // Nothing to show, ever: stay open (keep-alives) until the consumer leaves.
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = wait_gone(&events) => {}
        }
        return;
    };
    let Some(log) = store.change_log() else {
        return;
    };
    // A reconnecting EventSource waits this long (its default is 3 s).
    let retry = Event::default().retry(RECONNECT);
    if events.send_async(Ok(retry)).await.is_err() {
        return;
    }
    let mut head = log.head();
    loop {
        if reader.expires.is_some_and(|at| at < SystemTime::now()) {
            return;
        }
        head.borrow_and_update();
        let page = match log.changes(after, DEFAULT_LIMIT, &names).await {
            Ok(page) => page,
            Err(error) => {
                warn!(%error, "reading the change feed failed; retrying");
                Vec::new()
            }
        };
        let full = page.len() as u64 >= DEFAULT_LIMIT;
        for change in &page {
            let json = serde_json::to_string(&ChangeJson::from(change)).unwrap_or_default();
            let event = Event::default().id(cursor(change.seq)).data(json);
            if events.send_async(Ok(event)).await.is_err() {
                return;
            }
            after = change.seq;
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = head.changed() => {}
            _ = tokio::time::sleep(STREAM_POLL) => {}
        }
        if events.is_disconnected() {
            return;
        }
    }
}

/// Resolves once the stream's consumer has gone.
async fn wait_gone(events: &flume::Sender<Result<Event, Infallible>>) {
    while !events.is_disconnected() {
        tokio::time::sleep(STREAM_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::scope::within_scope;

    #[test]
    fn a_query_prefix_is_narrowed_to_the_token_scope_and_never_widened() {
        let f = |scope: &str, wanted: &str| within_scope(scope, wanted.to_owned());
        assert_eq!(f("team-a/*", "").map(|n| n.prefix), Some("team-a/".into()));
        assert_eq!(
            f("team-a/*", "team-a/x").map(|n| n.prefix),
            Some("team-a/x".into())
        );
        assert_eq!(f("team-a/*", "team-b/"), None);
        assert_eq!(f("*", "").map(|n| n.prefix), Some(String::new()));
        let exact = f("notes", "no").expect("overlaps");
        assert_eq!(exact.exact.as_deref(), Some("notes"));
        assert!(exact.covers("notes") && !exact.covers("notes2"));
        assert_eq!(f("notes", "x"), None);
    }

    proptest::proptest! {
        /// Whatever a client sends as a cursor (`after`, `Last-Event-ID`) parses or is refused
        /// with a reason, and every cursor the feed hands out reads back as its position.
        #[test]
        fn cursors_round_trip_and_anything_else_is_refused(seq in 0i64..i64::MAX, text in "\\PC{0,40}") {
            proptest::prop_assert_eq!(parse_cursor(&cursor(seq)).ok(), Some(seq));
            match parse_cursor(&text) {
                Ok(parsed) => proptest::prop_assert!(parsed >= 0),
                Err(error) => proptest::prop_assert!(!error.to_string().is_empty()),
            }
        }

        /// A scope never widens: whatever the query asks for, a name the filter lets through is
        /// covered by the token.
        #[test]
        fn the_filter_stays_inside_the_scope(scope in "[a-c/*]{0,6}", wanted in "[a-c/*]{0,6}", name in "[a-c/*]{1,8}") {
            if let Some(filter) = within_scope(&scope, wanted.clone()) {
                if filter.covers(&name) {
                    let claims = crate::auth::Claims {
                        sub: None,
                        doc: scope.clone(),
                        mode: crate::auth::Mode::Read,
                        exp: 0,
                        iat: 0.0,
                    };
                    proptest::prop_assert!(claims.covers(&name));
                    proptest::prop_assert!(name.starts_with(&wanted));
                }
            }
        }
    }

    #[test]
    fn cursors_are_non_negative_positions() {
        assert_eq!(parse_cursor("42").ok(), Some(42));
        assert!(parse_cursor("-1").is_err());
        assert!(parse_cursor("abc").is_err());
        assert!(parse_cursor("").is_err());
    }
}
