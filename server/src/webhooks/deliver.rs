//! One event to its receivers: the body, the headers, the POSTs, and what each receiver said.

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::future::join_all;
use plait_storage::sea_store::outbox::{OutboxEvent, DOCUMENT_CHANGED};
use reqwest::header::CONTENT_TYPE;
use serde::Serialize;

use super::config::{Target, WebhookConfig};
use super::sign::SigningKey;

/// The JSON body (Standard Webhooks' `type` / `timestamp` / `data`).
#[derive(Debug, Serialize)]
pub struct Body<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// When it happened (RFC 3339, UTC): the document's last change in the event, or its
    /// creation.
    pub timestamp: String,
    pub data: Data<'a>,
}

/// `data`: the document and, for `document.changed`, the change-feed cursors around the
/// changes and how many log rows they are.
#[derive(Debug, Serialize)]
pub struct Data<'a> {
    pub doc: &'a str,
    /// The cursor just before the first change: `GET /api/changes?after=<after>` reads them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// The cursor of the last change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updates: Option<i64>,
}

/// The `webhook-id` of an event: the same on every retry, from its outbox row.
pub fn webhook_id(event_id: i64) -> String {
    format!("evt_{event_id}")
}

/// The body of `event`, serialized once: the signature covers these exact bytes.
pub fn body(event: &OutboxEvent) -> Vec<u8> {
    let changed = event.kind == DOCUMENT_CHANGED;
    let at = if changed {
        event.last_ms
    } else {
        event.first_ms
    };
    let body = Body {
        kind: &event.kind,
        timestamp: rfc3339(at),
        data: Data {
            doc: &event.doc_name,
            after: changed.then(|| (event.first_seq - 1).to_string()),
            until: changed.then(|| event.last_seq.to_string()),
            updates: changed.then_some(event.updates),
        },
    };
    // Serializing these plain fields cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What one receiver said to one attempt.
#[derive(Debug)]
pub struct Answer<'a> {
    pub target: &'a Target,
    /// `Ok` for a 2xx; otherwise the status, the timeout or the connection error.
    pub result: Result<(), String>,
}

/// Posts events; one per server, shared by every delivery (one connection pool).
pub struct Deliverer {
    client: reqwest::Client,
    key: SigningKey,
    targets: Vec<Target>,
}

/// Why the HTTP client could not be built (no TLS roots on the system, say).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the webhook HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

impl Deliverer {
    pub fn new(config: &WebhookConfig) -> Result<Deliverer, ClientError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirect counts as a failure, as Standard Webhooks recommends: a POST redirected
            // becomes a GET, and the receiver's URL should be fixed instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("plait-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Deliverer {
            client,
            key: config.key.clone(),
            targets: config.targets.clone(),
        })
    }

    /// POSTs `event` to every receiver whose key is not in `accepted`, all at once, and returns
    /// each one's answer. `now_s` is the attempt's `webhook-timestamp` (unix seconds).
    pub async fn post(
        &self,
        event: &OutboxEvent,
        accepted: &HashSet<String>,
        now_s: i64,
    ) -> Vec<Answer<'_>> {
        let id = webhook_id(event.id);
        let body = body(event);
        let signature = self.key.sign(&id, now_s, &body);
        let calls = self
            .targets
            .iter()
            .filter(|t| !accepted.contains(&t.key))
            .map(|target| {
                let request = self
                    .client
                    .post(target.url.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", now_s.to_string())
                    .header("webhook-signature", &signature)
                    .body(body.clone());
                async move {
                    let result = match request.send().await {
                        Ok(response) if response.status().is_success() => Ok(()),
                        Ok(response) => Err(format!("HTTP {}", response.status())),
                        // Without the URL: it may carry a credential.
                        Err(e) => Err(describe(e.without_url())),
                    };
                    Answer { target, result }
                }
            });
        join_all(calls).await
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }
}

/// A transport error in a few words, with its causes (reqwest's own message is only the top).
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = format!("{kind}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str) -> OutboxEvent {
        OutboxEvent {
            id: 42,
            document_id: 7,
            doc_name: "team-a/notes".into(),
            kind: kind.into(),
            first_seq: 11,
            last_seq: 15,
            updates: 5,
            first_ms: 1_765_000_000_000,
            last_ms: 1_765_000_001_500,
            is_open: false,
            attempts: 1,
            next_attempt_ms: 0,
            delivered_ms: None,
            failed_ms: None,
            last_error: None,
            first_attempt_ms: None,
        }
    }

    #[test]
    fn changed_carries_the_cursor_range_and_count() {
        let body = String::from_utf8(body(&event("document.changed"))).unwrap();
        assert_eq!(
            body,
            r#"{"type":"document.changed","timestamp":"2025-12-06T05:46:41.500Z","data":{"doc":"team-a/notes","after":"10","until":"15","updates":5}}"#
        );
    }

    #[test]
    fn created_carries_only_the_name() {
        let body = String::from_utf8(body(&event("document.created"))).unwrap();
        assert_eq!(
            body,
            r#"{"type":"document.created","timestamp":"2025-12-06T05:46:40.000Z","data":{"doc":"team-a/notes"}}"#
        );
        assert_eq!(webhook_id(42), "evt_42");
    }
}
