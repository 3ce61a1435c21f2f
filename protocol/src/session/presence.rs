//! A document's presence: who is here and what they show (y-protocols "awareness": cursors,
//! names, colours), kept the way the y-websocket server keeps it.
//!
//! Why our own map and not yrs' `Awareness`: that one is built for a client. It owns the `Doc`,
//! keeps a local state the server never has, and allocates a sharded `DashMap` (1 KB, eight
//! cache-padded shards) for every document, present clients or not, which was about a twentieth
//! of an idle document's memory. A server applies presence under its document's single owner, so
//! a plain `HashMap` that allocates only once someone is present does the job. The wire format
//! stays yrs' ([`AwarenessUpdate`]).
//!
//! Where several nodes serve one document, the map also holds the states of the other nodes'
//! clients ([`Presence::apply_remote`]). A node owns only its own clients' entries: it announces
//! those to the other nodes and removes them when their connection closes. Another node's entries
//! leave when that node says so, or when they have not been renewed for [`REMOTE_TIMEOUT`] (the
//! node stopped, or its notifications were lost), as a y-protocols client drops a silent peer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use yrs::block::ClientID;
use yrs::sync::awareness::{AwarenessUpdateEntry, AwarenessUpdateSummary};
use yrs::sync::AwarenessUpdate;

/// How y-protocols writes a removed state.
const NULL: &str = "null";

/// Removed clients remembered at most. A removed client's clock is kept (a tombstone) so that a
/// late message with that clock cannot bring it back: y-websocket clients send back every
/// presence state they receive, so a peer's echo of a client's last state can arrive just after
/// that client left. Each tab that ever joined leaves a tombstone, and a hostile client can leave
/// thousands per second by adding and removing states, so past this many they are all forgotten at
/// once, at the next change (the removals just made are announced first). An echo that lands in
/// the instant after such a reset is accepted, and peers then show a ghost until their 30 s
/// timeout.
pub const MAX_TOMBSTONES: usize = 1024;

/// How long another node's client stays present without a renewal. y-protocols clients renew
/// their state every 15 s (checked every 3 s) and drop a peer silent for 30 s; this is the same.
pub const REMOTE_TIMEOUT: Duration = Duration::from_secs(30);

/// What [`Presence::expire`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct Swept {
    /// The other nodes' clients it removed, whose removal this node's connections must hear.
    pub expired: Vec<ClientID>,
    /// Whether other nodes' clients are still present, so that a later sweep has work to do.
    pub others_present: bool,
}

/// One client's entry: its clock, its state (`None` once removed), and where it came from.
#[derive(Debug)]
struct Entry {
    clock: u32,
    state: Option<Arc<str>>,
    /// `None` for this node's own clients; for another node's, when it was last heard of.
    remote: Option<Instant>,
}

/// The presence states of one document's clients.
#[derive(Debug, Default)]
pub struct Presence {
    clients: HashMap<ClientID, Entry>,
    /// Entries whose state is `None`.
    tombstones: usize,
}

impl Presence {
    /// Applies a client's awareness message with y-protocols' rules: an entry wins if its clock is
    /// newer than the one known, and a `null` state with the known clock removes the client.
    /// Returns what changed, or `None` if nothing did (every entry was stale).
    ///
    /// `updated` lists renewals too (same state, newer clock): y-websocket clients drop a peer
    /// they have not heard from for 30 s, so a renewal must be relayed even when nothing changed.
    pub fn apply(&mut self, update: AwarenessUpdate) -> Option<AwarenessUpdateSummary> {
        self.apply_from(update, None)
    }

    /// Applies the states another node's clients announced (with the same rules as
    /// [`Presence::apply`]), heard at `now`. What wins belongs to that node from then on: this
    /// node neither announces it nor removes it when one of its own connections closes.
    pub fn apply_remote(
        &mut self,
        update: AwarenessUpdate,
        now: Instant,
    ) -> Option<AwarenessUpdateSummary> {
        self.apply_from(update, Some(now))
    }

    fn apply_from(
        &mut self,
        update: AwarenessUpdate,
        remote: Option<Instant>,
    ) -> Option<AwarenessUpdateSummary> {
        self.forget_tombstones_past_the_limit();
        let mut summary = AwarenessUpdateSummary {
            added: Vec::new(),
            updated: Vec::new(),
            removed: Vec::new(),
        };
        for (client, AwarenessUpdateEntry { clock, json }) in update.clients {
            let state = (&*json != NULL).then_some(json);
            match self.clients.get_mut(&client) {
                Some(entry) => {
                    let removes = entry.clock == clock && state.is_none() && entry.state.is_some();
                    if entry.clock >= clock && !removes {
                        continue;
                    }
                    entry.clock = clock;
                    entry.remote = remote;
                    match (&entry.state, &state) {
                        (Some(_), None) => {
                            summary.removed.push(client);
                            self.tombstones += 1;
                        }
                        (None, Some(_)) => {
                            summary.added.push(client);
                            self.tombstones -= 1;
                        }
                        (Some(_), Some(_)) => summary.updated.push(client),
                        // A newer removal of a client already removed: only the clock moves.
                        (None, None) => {}
                    }
                    entry.state = state;
                }
                // Removing a client never seen creates nothing: there is nothing to announce and
                // nothing to guard.
                None if state.is_none() => {}
                None => {
                    let entry = Entry {
                        clock,
                        state,
                        remote,
                    };
                    self.clients.insert(client, entry);
                    summary.added.push(client);
                }
            }
        }
        let changed =
            !(summary.added.is_empty() && summary.updated.is_empty() && summary.removed.is_empty());
        changed.then_some(summary)
    }

    /// Removes the states of `clients` (their connection closed), keeping their clocks, as the
    /// y-websocket server does. Returns the ids that were present, whose removal peers must hear.
    /// An entry another node announced since is that node's and stays (the client reconnected
    /// there before this node noticed its old connection was gone).
    pub fn remove(&mut self, clients: impl IntoIterator<Item = ClientID>) -> Vec<ClientID> {
        self.forget_tombstones_past_the_limit();
        let mut removed = Vec::new();
        for client in clients {
            if let Some(entry) = self.clients.get_mut(&client) {
                if entry.remote.is_none() && entry.state.take().is_some() {
                    self.tombstones += 1;
                    removed.push(client);
                }
            }
        }
        removed
    }

    /// Removes the other nodes' clients not renewed for [`REMOTE_TIMEOUT`] by `now`, keeping
    /// their clocks, in one pass that also tells whether any of theirs remain.
    pub fn expire(&mut self, now: Instant) -> Swept {
        let mut swept = Swept {
            expired: Vec::new(),
            others_present: false,
        };
        for (client, entry) in &mut self.clients {
            let Some(heard) = entry.remote.filter(|_| entry.state.is_some()) else {
                continue;
            };
            if now.saturating_duration_since(heard) >= REMOTE_TIMEOUT {
                entry.state = None;
                self.tombstones += 1;
                swept.expired.push(*client);
            } else {
                swept.others_present = true;
            }
        }
        swept
    }

    /// The message announcing to the other nodes the current entries of those of `clients` that
    /// are this node's own (a removed one as `null`); `None` if there are none.
    pub fn own_update_for(
        &self,
        clients: impl IntoIterator<Item = ClientID>,
    ) -> Option<AwarenessUpdate> {
        let own = |client: &ClientID| self.clients.get(client).is_some_and(|e| e.remote.is_none());
        self.update_for(clients.into_iter().filter(own))
    }

    /// The message listing this node's own present clients, for a node that just opened the
    /// document; `None` if none is present.
    pub fn own_everyone(&self) -> Option<AwarenessUpdate> {
        let update = self.listing(|entry| entry.remote.is_none());
        (!update.clients.is_empty()).then_some(update)
    }

    fn forget_tombstones_past_the_limit(&mut self) {
        if self.tombstones > MAX_TOMBSTONES {
            self.clients.retain(|_, entry| entry.state.is_some());
            self.tombstones = 0;
        }
    }

    /// The message announcing the current entries of `clients` (a removed one as `null` with its
    /// clock, which is how peers learn it left); unknown ids are skipped. `None` if none is known.
    pub fn update_for(
        &self,
        clients: impl IntoIterator<Item = ClientID>,
    ) -> Option<AwarenessUpdate> {
        let clients: HashMap<ClientID, AwarenessUpdateEntry> = clients
            .into_iter()
            .filter_map(|client| Some((client, self.wire_entry(client)?)))
            .collect();
        (!clients.is_empty()).then_some(AwarenessUpdate { clients })
    }

    /// The message listing every present client (empty if nobody is present).
    pub fn everyone(&self) -> AwarenessUpdate {
        self.listing(|_| true)
    }

    /// The present clients whose entry passes `keep`.
    fn listing(&self, keep: impl Fn(&Entry) -> bool) -> AwarenessUpdate {
        let clients = self
            .clients
            .iter()
            .filter(|(_, entry)| keep(entry))
            .filter_map(|(client, entry)| {
                let json = entry.state.clone()?;
                let clock = entry.clock;
                Some((*client, AwarenessUpdateEntry { clock, json }))
            })
            .collect();
        AwarenessUpdate { clients }
    }

    fn wire_entry(&self, client: ClientID) -> Option<AwarenessUpdateEntry> {
        let entry = self.clients.get(&client)?;
        Some(AwarenessUpdateEntry {
            clock: entry.clock,
            json: entry.state.clone().unwrap_or_else(|| NULL.into()),
        })
    }

    /// Whether an entry for `client` with `clock` would be taken: it is newer than what is known.
    /// A client's echo of the states the server sent it is not.
    pub fn accepts(&self, client: ClientID, clock: u32) -> bool {
        self.clients
            .get(&client)
            .is_none_or(|entry| entry.clock < clock)
    }

    /// Present clients and their states (JSON).
    pub fn present(&self) -> impl Iterator<Item = (ClientID, &str)> + '_ {
        self.clients
            .iter()
            .filter_map(|(client, entry)| Some((*client, entry.state.as_deref()?)))
    }

    /// Clients remembered, removed ones included.
    pub fn known(&self) -> usize {
        self.clients.len()
    }
}

#[cfg(test)]
mod tests;
