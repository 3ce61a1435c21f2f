//! `GET /metrics`, read by a real Prometheus text-format parser (`prometheus-parse`): the
//! counters move as a client edits, and `--metrics-bind` moves the endpoint off the main address.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};
use plait_server::Config;
use plait_tests::client::YClient;
use plait_tests::server::TestServer;
use plait_tests::{eventually, http, TIMEOUT};
use prometheus_parse::{Scrape, Value};

/// Every sample of a scrape: `name{label=value,...}` → value (histograms: their count).
async fn scrape(addr: std::net::SocketAddr) -> Result<HashMap<String, f64>> {
    let response = http::get(addr, "/metrics").await?;
    ensure!(
        response.status == 200,
        "/metrics answered {}",
        response.status
    );
    let text = String::from_utf8(response.body).context("/metrics is not UTF-8")?;
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    let parsed = Scrape::parse(lines).context("not the Prometheus text format")?;
    let mut samples = HashMap::new();
    for sample in parsed.samples {
        let mut labels: Vec<String> = sample
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        labels.sort();
        let key = format!("{}{{{}}}", sample.metric, labels.join(","));
        let value = match sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => continue,
        };
        samples.insert(key, value);
    }
    Ok(samples)
}

fn value(samples: &HashMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn counters_move_as_a_client_edits() -> Result<()> {
    let server = TestServer::in_memory().await?;
    let before = scrape(server.addr()).await?;
    let a = YClient::connect(&server.ws_url("metered"), 1).await?;
    let b = YClient::connect(&server.ws_url("metered"), 2).await?;
    a.push_text("t", "counted")?;
    b.wait_until("a's edit", TIMEOUT, |doc| {
        plait_tests::ydoc::text(doc, "t") == "counted"
    })
    .await?;
    server.wait_all_written(TIMEOUT).await?;
    let after = scrape(server.addr()).await?;

    for key in [
        "plait_updates_applied_total{}",
        "plait_update_bytes_applied_total{}",
        "plait_frames_relayed_total{}",
        "plait_received_bytes_total{protocol=y-websocket}",
        "plait_sent_bytes_total{protocol=y-websocket}",
        "plait_connections_opened_total{protocol=y-websocket}",
        "plait_commit_seconds_bucket{le=+Inf}",
        "plait_commit_rows_bucket{le=+Inf}",
    ] {
        // Histograms come back as their `_bucket` samples; the parser keys them by name.
        let key = key.replace("_bucket{le=+Inf}", "{}");
        ensure!(
            value(&after, &key) > value(&before, &key),
            "{key} did not move: {} then {}",
            value(&before, &key),
            value(&after, &key)
        );
    }
    ensure!(value(&after, "plait_connections{protocol=y-websocket}") >= 2.0);
    ensure!(value(&after, "plait_documents_loaded{}") >= 1.0);
    ensure!(
        after.keys().all(|key| !key.contains("metered")),
        "a document name became a label"
    );
    Ok(())
}

#[tokio::test]
async fn refusals_and_closes_are_counted_by_reason_and_code() -> Result<()> {
    let server = TestServer::in_memory().await?;
    let before = scrape(server.addr()).await?;
    // A name with a control character is refused before any upgrade.
    let refused = http::get(server.addr(), "/api/docs/bad%01name").await?;
    ensure!(refused.status == 400);
    let client = YClient::connect(&server.ws_url("closing"), 3).await?;
    client.close().await?;
    let key = "plait_refusals_total{reason=name}";
    let closes = "plait_closes_total{code=peer}";
    eventually("the refusal and the close counted", TIMEOUT, || async {
        let after = scrape(server.addr()).await?;
        if value(&after, key) > value(&before, key)
            && value(&after, closes) > value(&before, closes)
        {
            Ok(Some(()))
        } else {
            bail!(
                "{key}: {}, {closes}: {}",
                value(&after, key),
                value(&after, closes)
            )
        }
    })
    .await
}

#[tokio::test]
async fn metrics_bind_serves_them_on_their_own_address_only() -> Result<()> {
    let free = std::net::TcpListener::bind("127.0.0.1:0")?;
    let metrics_addr = free.local_addr()?;
    drop(free);
    let mut config = Config::for_tests("memory");
    config.metrics_bind = Some(metrics_addr);
    let server = TestServer::in_memory_with(config).await?;
    server.wait_ready().await?;
    let main = http::get(server.addr(), "/metrics").await?;
    ensure!(
        main.status == 404,
        "the main address still serves /metrics: {}",
        main.status
    );
    let samples = eventually("the metrics listener", TIMEOUT, || async {
        scrape(metrics_addr).await.map(Some)
    })
    .await?;
    ensure!(samples.keys().any(|k| k.starts_with("plait_")));
    Ok(())
}
