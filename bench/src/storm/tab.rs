//! One simulated browser tab of the storm: its Y.Doc, its connection, and y-websocket's
//! `WebsocketProvider` reconnect policy.

use crate::client::{Client, Target};
use crate::error::{BenchError, Result};
use crate::stats::Errors;
use crate::wire::{messages, Framer, Incoming};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, Map, MapRef, ReadTxn, StateVector, Transact, Update};

/// y-websocket's `maxBackoffTime` default.
pub(super) const MAX_BACKOFF: Duration = Duration::from_millis(2500);

/// y-websocket's `setupWS` delay: `min(2^unsuccessful * 100 ms, maxBackoffTime)`.
pub(super) fn backoff(unsuccessful: u32) -> Duration {
    Duration::from_millis(100u64 << unsuccessful.min(6)).min(MAX_BACKOFF)
}

/// The unique key of edit `n` of client `idx`: the verifier looks for exactly these.
pub(super) fn key(idx: usize, n: usize) -> String {
    format!("c{idx}-e{n}")
}

/// What a client task reports to the scenario as it happens.
pub(super) enum Event {
    /// Synced, and the first edits of every member of its document arrived.
    Ready,
    /// Its open connection was lost (the first time only).
    Lost(Instant),
    /// Synced again after the loss: server's step2 received and our step2 sent.
    Synced(Instant),
}

/// One client's tallies, merged after the run.
#[derive(Default)]
pub(super) struct Tally {
    /// Connect attempts that never opened (y-websocket's `wsUnsuccessfulReconnects` increments).
    pub(super) failed_connects: u64,
    /// Reconnects whose WebSocket opened.
    pub(super) opens: u64,
    pub(super) errors: Errors,
}

/// What every client shares.
pub(super) struct Plan {
    pub(super) target: Target,
    pub(super) edits_while_down: usize,
    /// Connected clients per document: a client is ready when it has that many first edits.
    pub(super) members: Vec<usize>,
    pub(super) events: mpsc::UnboundedSender<Event>,
}

/// One simulated browser tab: its Y.Doc and where it stands.
pub(super) struct Tab {
    pub(super) idx: usize,
    pub(super) doc_no: usize,
    pub(super) name: String,
    pub(super) ydoc: Doc,
    pub(super) map: MapRef,
    /// Set at the first loss: from then on a completed handshake counts as synced.
    pub(super) lost: bool,
    pub(super) ready_sent: bool,
    pub(super) synced_sent: bool,
}

/// How one open connection ended.
pub(super) enum End {
    Closed,
    Stopped,
}

impl Tab {
    fn edit(&self, n: usize) -> Vec<u8> {
        let mut txn = self.ydoc.transact_mut();
        self.map
            .insert(&mut txn, key(self.idx, n), key(self.idx, n));
        txn.encode_update_v1()
    }

    /// Apply an update from the server; one that does not decode is the server's fault, counted.
    pub(super) fn apply(&self, update: &[u8], errors: &mut Errors) {
        let applied = Update::decode_v1(update)
            .map_err(|e| e.to_string())
            .and_then(|u| {
                self.ydoc
                    .transact_mut()
                    .apply_update(u)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = applied {
            errors.push(BenchError::Update(e));
        }
    }

    /// Read one connection until it closes or the run stops: apply what arrives, answer step1
    /// with what the server misses, and report readiness / the resync.
    async fn session(
        &mut self,
        c: &mut Client,
        plan: &Plan,
        t: &mut Tally,
        stop: &mut watch::Receiver<bool>,
    ) -> End {
        let (mut got_step2, mut answered) = (false, false);
        loop {
            let frame = tokio::select! {
                f = c.next_frame() => f,
                _ = stop.changed() => return End::Stopped,
            };
            let Ok(frame) = frame else { return End::Closed };
            let mut reply = None;
            for m in messages(c.framer.protocol, &frame) {
                match m {
                    Ok(Incoming::Step1(sv)) => match StateVector::decode_v1(sv) {
                        Ok(sv) => reply = Some(self.ydoc.transact().encode_diff_v1(&sv)),
                        Err(e) => t.errors.push(format!("step1: {e}")),
                    },
                    Ok(Incoming::Step2(u)) => {
                        got_step2 = true;
                        self.apply(u, &mut t.errors);
                    }
                    Ok(Incoming::Update(u)) => self.apply(u, &mut t.errors),
                    // Before the loss this is the stopping server (Hocuspocus sends Close
                    // "Reset Connection" to every document); after it, a refusal is an error.
                    Ok(Incoming::Refused(r)) if self.lost => {
                        t.errors.push(format!("{}: refused: {r}", self.name))
                    }
                    Ok(_) => {}
                    Err(e) => t.errors.push(e),
                }
            }
            if let Some(diff) = reply {
                if c.send(c.framer.step2(&diff)).await.is_err() {
                    return End::Closed;
                }
                answered = true;
            }
            let now = Instant::now();
            if !self.ready_sent
                && !self.lost
                && self.map.len(&self.ydoc.transact()) as usize >= plan.members[self.doc_no]
            {
                self.ready_sent = true;
                let _ = plan.events.send(Event::Ready);
            }
            if self.lost && !self.synced_sent && got_step2 && answered {
                self.synced_sent = true;
                let _ = plan.events.send(Event::Synced(now));
            }
        }
    }

    /// Open a WebSocket and start the provider's handshake: (Hocuspocus: Auth), step1 with our
    /// state vector. Only failing to open is an unsuccessful attempt in y-websocket's sense: a
    /// socket that breaks after it opened is a lost connection, seen by the session.
    async fn open(&self, t: &Target) -> Result<Client> {
        let url = t.url.replace("{doc}", &self.name);
        let limit = Duration::from_secs_f64(t.handshake_timeout);
        let connect = tokio_tungstenite::connect_async_with_config(url.as_str(), None, true);
        let (ws, _) =
            tokio::time::timeout(limit, connect)
                .await
                .map_err(|_| BenchError::Timeout {
                    what: format!("reconnect of {}", self.name),
                    after: limit,
                })??;
        let mut c = Client {
            ws,
            framer: Framer::new(t.protocol, &self.name),
            doc: self.name.clone(),
        };
        let sv = self.ydoc.transact().state_vector().encode_v1();
        // A send that fails shows as a closed socket in the session.
        if let Some(auth) = c.framer.auth(&t.token) {
            let _ = c.send(auth).await;
        }
        let _ = c.send(c.framer.step1(&sv)).await;
        Ok(c)
    }
}

/// One client from its first edit to the end of the run.
pub(super) async fn run_client(
    mut tab: Tab,
    mut first: Client,
    plan: Arc<Plan>,
    mut stop: watch::Receiver<bool>,
) -> Tally {
    let mut t = Tally::default();
    if let Err(e) = first.send(first.framer.update(&tab.edit(0))).await {
        t.errors.push(e);
    }
    let mut conn = Some(first);
    let mut unsuccessful = 0u32;
    loop {
        if let Some(mut c) = conn.take() {
            if let End::Stopped = tab.session(&mut c, &plan, &mut t, &mut stop).await {
                c.close().await;
                return t;
            }
            if !tab.lost {
                tab.lost = true;
                let _ = plan.events.send(Event::Lost(Instant::now()));
                // Offline edits go into the local document only (y-websocket broadcasts
                // nothing while disconnected); the step2 after the reconnect carries them.
                for n in 1..=plan.edits_while_down {
                    tab.edit(n);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff(unsuccessful)) => {}
            _ = stop.changed() => return t,
        }
        match tab.open(&plan.target).await {
            Ok(c) => {
                // onopen: `wsUnsuccessfulReconnects = 0`; a later close retries after 100 ms.
                unsuccessful = 0;
                t.opens += 1;
                conn = Some(c);
            }
            Err(_) => {
                unsuccessful += 1;
                t.failed_connects += 1;
            }
        }
    }
}
