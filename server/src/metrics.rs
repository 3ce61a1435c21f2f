//! Prometheus metrics: every metric's name and meaning, the process's recorder, and
//! `GET /metrics` (on the main address, or on `--metrics-bind` alone).
//!
//! Counters live next to what they count (through the `metrics` facade, which costs an atomic
//! add once a metric exists); gauges of state the server already keeps (documents loaded, the
//! writer's backlog) are read when `/metrics` is asked. No label ever carries a document name or
//! a user: labels are protocols, close codes, reasons and outcomes, a handful of values each.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Open WebSocket connections, by `protocol` (`y-websocket`, `hocuspocus`).
pub const CONNECTIONS: &str = "plait_connections";
/// WebSocket connections opened, by `protocol`.
pub const CONNECTIONS_OPENED: &str = "plait_connections_opened_total";
/// Connections (or, on `/hocuspocus`, documents of a connection) closed by the server, by close
/// `code`; `peer` when the client closed it.
pub const CLOSES: &str = "plait_closes_total";
/// Requests and messages refused, by `reason`.
pub const REFUSALS: &str = "plait_refusals_total";
/// Documents in memory.
pub const DOCUMENTS_LOADED: &str = "plait_documents_loaded";
/// Seconds to load a document from the database (replay included).
pub const DOCUMENT_LOAD_SECONDS: &str = "plait_document_load_seconds";
/// Client and HTTP updates applied to documents, and their bytes.
pub const UPDATES_APPLIED: &str = "plait_updates_applied_total";
pub const UPDATE_BYTES_APPLIED: &str = "plait_update_bytes_applied_total";
/// WebSocket bytes received and sent, by `protocol`.
pub const BYTES_RECEIVED: &str = "plait_received_bytes_total";
pub const BYTES_SENT: &str = "plait_sent_bytes_total";
/// Queue entries (frames, or a drain's frames) a fan-out handed to connections other than the
/// sender.
pub const FRAMES_RELAYED: &str = "plait_frames_relayed_total";
/// Other nodes' updates applied here, and the seconds one relayed before its commit waited for
/// its row to be seen stored (the relay's lag behind the database).
pub const NODE_UPDATES: &str = "plait_node_updates_total";
pub const NODE_UNCONFIRMED_SECONDS: &str = "plait_node_update_unconfirmed_seconds";
/// Updates applied in memory and not yet committed (the writer's backlog), and their bytes.
pub const PENDING_UPDATES: &str = "plait_pending_updates";
pub const PENDING_BYTES: &str = "plait_pending_bytes";
/// Open change-feed streams (`GET /api/changes/stream`).
pub const FEED_STREAMS: &str = "plait_change_feed_streams";
/// Webhook POSTs, by `outcome` (`delivered`, `failed`).
pub const WEBHOOK_DELIVERIES: &str = "plait_webhook_deliveries_total";

/// Bucket bounds of the `_seconds` histograms: 0.5 ms to 10 s.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Bucket bounds of the rows per commit.
const ROWS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 4096.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use. One per process: servers started side by side
/// in one test process count into the same metrics.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = builder
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(plait_storage::metrics::COMMIT_ROWS.into()),
                    ROWS,
                )
            })
            // Only an empty bucket list fails, which these are not; without buckets the
            // histograms are summaries.
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if something else installed a recorder first (then it gets the counts).
        let _ = metrics::set_global_recorder(recorder);
        describe();
        plait_storage::metrics::describe();
        // Shown from the first scrape, at zero, rather than only once something happened.
        for protocol in [Protocol::YWebsocket, Protocol::Hocuspocus] {
            metrics::gauge!(CONNECTIONS, "protocol" => protocol.label()).increment(0.0);
            metrics::counter!(CONNECTIONS_OPENED, "protocol" => protocol.label()).increment(0);
        }
        metrics::counter!(UPDATES_APPLIED).increment(0);
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(
        CONNECTIONS,
        Unit::Count,
        "Open WebSocket connections, by protocol"
    );
    describe_counter!(
        CONNECTIONS_OPENED,
        Unit::Count,
        "WebSocket connections opened, by protocol"
    );
    describe_counter!(
        CLOSES,
        Unit::Count,
        "Connections (or Hocuspocus documents) closed, by close code; peer: the client closed it"
    );
    describe_counter!(
        REFUSALS,
        Unit::Count,
        "Requests and messages refused, by reason"
    );
    describe_gauge!(DOCUMENTS_LOADED, Unit::Count, "Documents in memory");
    describe_histogram!(
        DOCUMENT_LOAD_SECONDS,
        Unit::Seconds,
        "Time to load a document from the database"
    );
    describe_counter!(
        UPDATES_APPLIED,
        Unit::Count,
        "Client and HTTP updates applied"
    );
    describe_counter!(
        UPDATE_BYTES_APPLIED,
        Unit::Bytes,
        "Bytes of the updates applied"
    );
    describe_counter!(
        BYTES_RECEIVED,
        Unit::Bytes,
        "WebSocket bytes received, by protocol"
    );
    describe_counter!(BYTES_SENT, Unit::Bytes, "WebSocket bytes sent, by protocol");
    describe_counter!(
        FRAMES_RELAYED,
        Unit::Count,
        "Fan-out queue entries handed to connections other than the sender"
    );
    describe_counter!(
        NODE_UPDATES,
        Unit::Count,
        "Other nodes' updates applied here"
    );
    describe_histogram!(
        NODE_UNCONFIRMED_SECONDS,
        Unit::Seconds,
        "Time another node's update relayed before its commit waited to be seen stored"
    );
    describe_gauge!(
        PENDING_UPDATES,
        Unit::Count,
        "Updates applied in memory and not yet committed to the database"
    );
    describe_gauge!(PENDING_BYTES, Unit::Bytes, "Bytes of the pending updates");
    describe_gauge!(FEED_STREAMS, Unit::Count, "Open change-feed streams");
    describe_counter!(WEBHOOK_DELIVERIES, Unit::Count, "Webhook POSTs, by outcome");
}

/// The `protocol` label of a connection.
#[derive(Debug, Clone, Copy)]
pub enum Protocol {
    YWebsocket,
    Hocuspocus,
}

impl Protocol {
    pub fn label(self) -> &'static str {
        match self {
            Protocol::YWebsocket => "y-websocket",
            Protocol::Hocuspocus => "hocuspocus",
        }
    }
}

/// A connection opened; the returned guard counts it closed when dropped.
pub fn connection_opened(protocol: Protocol) -> OpenConnection {
    metrics::counter!(CONNECTIONS_OPENED, "protocol" => protocol.label()).increment(1);
    metrics::gauge!(CONNECTIONS, "protocol" => protocol.label()).increment(1.0);
    OpenConnection(protocol)
}

/// Counts one open connection in [`CONNECTIONS`] while it lives.
pub struct OpenConnection(Protocol);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!(CONNECTIONS, "protocol" => self.0.label()).decrement(1.0);
    }
}

/// A close, by its code (`None`: the client closed).
pub fn closed(code: Option<u16>) {
    let code = code.map_or_else(|| "peer".to_owned(), |code| code.to_string());
    metrics::counter!(CLOSES, "code" => code).increment(1);
}

/// A refusal, by a fixed reason word.
pub fn refused(reason: &'static str) {
    metrics::counter!(REFUSALS, "reason" => reason).increment(1);
}
