//! plait-bench: the project's load generator for Yjs WebSocket servers
//! (y-websocket protocol or Hocuspocus), so that every number in
//! BENCHMARKS.md can be reproduced against Plait or any peer.
//!
//! Every scenario prints a human summary and, as the LAST line on stdout,
//! one JSON object (`| tail -n1`). Pin it: `taskset -c 1 plait-bench ...`
//! (one CPU gives a single-threaded runtime), the server on another core.
//!
//! Layout: `wire` (framing), `walk` (update-walking decoder, stamps),
//! `client` (connect + handshake), `stats` (/proc, histograms), `trace`
//! (editing traces), one module per scenario, `find_max` (rate search),
//! `writer` (psql / sqlite3 as another program writing SQL), `http` (the
//! change feed's GETs), `relay` (not a scenario: the floor server row 1 is compared with).

mod awareness;
mod bigdoc;
mod client;
mod crowd;
mod error;
mod fanout;
mod feed;
mod find_max;
mod http;
mod idle;
mod relay;
mod stats;
mod storm;
mod trace;
mod trigger;
mod typing;
mod walk;
mod wire;
mod writer;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "plait-bench",
    version,
    about = "Load generator for Yjs WebSocket servers (y-websocket, Hocuspocus)"
)]
struct Cli {
    /// Runtime threads; default: the CPUs this process may use (1 under
    /// `taskset -c 1`, which selects a current-thread runtime).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// R rooms x C clients typing at a fixed rate: latency, deliveries/s, loss; --find-max.
    Fanout(fanout::FanoutArgs),
    /// Connections up to the file limit (18,000 over 2,000 docs, 1 % typing): accept rate, p99, RSS.
    Crowd(crowd::CrowdArgs),
    /// N idle connections over D seeded documents: server KB per document / connection.
    Idle(idle::IdleArgs),
    /// Replay an editing trace into one document, then time fresh clients' sync.
    Bigdoc(bigdoc::BigdocArgs),
    /// N clients in one room publishing presence: server CPU.
    Awareness(awareness::AwarenessArgs),
    /// Plait only: appends made in SQL by psql / sqlite3, timed until each node's client has them.
    Trigger(trigger::TriggerArgs),
    /// Plait only: read the change feed from the beginning (pages or SSE): changes/s.
    Feed(feed::FeedArgs),
    /// N clients on D documents; the server is restarted: time until all are synced again, edits lost.
    Storm(storm::StormArgs),
    /// A floor for latency: relays updates between a path's sockets and does nothing else.
    Relay(relay::RelayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = cli
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("plait-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.scenario {
            Scenario::Fanout(a) => find_max::run(a).await,
            Scenario::Crowd(a) => crowd::run(a).await,
            Scenario::Idle(a) => idle::run(a).await,
            Scenario::Bigdoc(a) => bigdoc::run(a).await,
            Scenario::Awareness(a) => awareness::run(a).await,
            Scenario::Trigger(a) => trigger::run(a).await,
            Scenario::Feed(a) => feed::run(a).await,
            Scenario::Storm(a) => storm::run(a).await,
            Scenario::Relay(a) => relay::run(a).await,
        }
    });
    // Lingering close handshakes must not delay the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("plait-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
