//! The documents of one Hocuspocus socket: joined, joining, or waiting for their token, and the
//! bounded buffer of what a provider sends for a document before it may be handed over.
//!
//! Why a buffer at all: a provider sends its token, then its sync step 1 and awareness without
//! waiting for the answer, and the document may still be loading when they arrive. Why bounded
//! in bytes, messages and documents: Hocuspocus' own buffer was not (GHSA-xwhh-v746-pj9m), and
//! one socket could name thousands of documents and never send a token.

use std::collections::HashMap;
use std::time::SystemTime;

use plait_protocol::hocuspocus::Body;
use plait_protocol::name::DocName;
use tokio::time::Instant;

use crate::auth::revocations::Watched;
use crate::document::ConnId;
use crate::registry::Attached;

/// Messages held for documents not yet joined, on one socket, at most.
pub const MAX_HELD_MESSAGES: usize = 1000;

/// A document served on this socket.
pub struct Joined {
    /// The exact address the provider uses (replies go to it).
    pub address: String,
    pub name: DocName,
    pub attached: Attached,
    pub conn_id: ConnId,
    pub read_only: bool,
    /// When its token expires (authentication on), and whether a fresh one was asked for.
    pub expires_at: Option<SystemTime>,
    pub refresh_at: Option<Instant>,
    /// Registered with the revocations while its token has a subject.
    pub watched: Option<Watched>,
}

/// A document the provider named that is not joined yet.
pub enum Waiting {
    /// No token yet: what it sent is held until the token decides.
    Token { held: Vec<Held> },
    /// Authenticated and being loaded and joined under `slot`.
    Joining {
        slot: u64,
        name: DocName,
        read_only: bool,
        expires_at: Option<SystemTime>,
        watched: Option<Watched>,
        held: Vec<Held>,
    },
}

impl Waiting {
    fn held_mut(&mut self) -> &mut Vec<Held> {
        match self {
            Waiting::Token { held } | Waiting::Joining { held, .. } => held,
        }
    }
}

/// A held message and its size on the wire.
pub type Held = (Body, usize);

/// Why a message could not be held.
#[derive(Debug, PartialEq, Eq)]
pub enum HoldError {
    /// More bytes or messages than the socket may hold: the socket is closed.
    Full,
    /// More documents than one socket may use.
    TooManyDocuments,
}

/// The socket's documents.
pub struct Docs {
    /// Joined documents by slot (the id their events carry), and slots by address.
    pub joined: HashMap<u64, Joined>,
    pub by_address: HashMap<String, u64>,
    pub waiting: HashMap<String, Waiting>,
    held_bytes: usize,
    held_messages: usize,
    max_held_bytes: usize,
    max_documents: usize,
    next_slot: u64,
}

impl Docs {
    pub fn new(max_documents: usize, max_held_bytes: usize) -> Docs {
        Docs {
            joined: HashMap::new(),
            by_address: HashMap::new(),
            waiting: HashMap::new(),
            held_bytes: 0,
            held_messages: 0,
            max_held_bytes,
            max_documents,
            next_slot: 0,
        }
    }

    /// Documents joined or on their way: what the per-socket limit counts.
    pub fn count(&self) -> usize {
        self.joined.len() + self.waiting.len()
    }

    /// Whether one more document may be named on this socket.
    pub fn has_room(&self) -> bool {
        self.count() < self.max_documents
    }

    pub fn max_documents(&self) -> usize {
        self.max_documents
    }

    pub fn slot_of(&self, address: &str) -> Option<u64> {
        self.by_address.get(address).copied()
    }

    /// Holds `body` (`size` bytes on the wire) for `address` until it is joined; a new address
    /// starts waiting for its token.
    pub fn hold(&mut self, address: &str, body: Body, size: usize) -> Result<(), HoldError> {
        if !self.waiting.contains_key(address) && !self.has_room() {
            return Err(HoldError::TooManyDocuments);
        }
        if self.held_messages + 1 > MAX_HELD_MESSAGES
            || self.held_bytes.saturating_add(size) > self.max_held_bytes
        {
            return Err(HoldError::Full);
        }
        self.held_messages += 1;
        self.held_bytes += size;
        self.waiting
            .entry(address.to_owned())
            .or_insert_with(|| Waiting::Token { held: Vec::new() })
            .held_mut()
            .push((body, size));
        Ok(())
    }

    /// What was held for `address` (none if nothing was), forgetting it.
    pub fn take_waiting(&mut self, address: &str) -> Vec<Held> {
        match self.waiting.remove(address) {
            Some(mut waiting) => self.release(std::mem::take(waiting.held_mut())),
            None => Vec::new(),
        }
    }

    /// `address` is authenticated and joins under a new slot; returns the slot.
    pub fn start_joining(
        &mut self,
        address: &str,
        name: DocName,
        read_only: bool,
        expires_at: Option<SystemTime>,
        watched: Option<Watched>,
    ) -> u64 {
        let held = match self.waiting.remove(address) {
            Some(mut waiting) => std::mem::take(waiting.held_mut()),
            None => Vec::new(),
        };
        let slot = self.next_slot;
        self.next_slot += 1;
        self.waiting.insert(
            address.to_owned(),
            Waiting::Joining {
                slot,
                name,
                read_only,
                expires_at,
                watched,
                held,
            },
        );
        slot
    }

    /// The join of `slot` finished: the waiting entry and what it held, if the provider did not
    /// close the address meanwhile.
    pub fn finish_joining(&mut self, slot: u64) -> Option<(String, Waiting)> {
        let address = self.waiting.iter().find_map(|(address, waiting)| {
            matches!(waiting, Waiting::Joining { slot: s, .. } if *s == slot)
                .then(|| address.clone())
        })?;
        let mut waiting = self.waiting.remove(&address)?;
        let held = std::mem::take(waiting.held_mut());
        *waiting.held_mut() = self.release(held);
        Some((address, waiting))
    }

    pub fn insert_joined(&mut self, slot: u64, joined: Joined) {
        self.by_address.insert(joined.address.clone(), slot);
        self.joined.insert(slot, joined);
    }

    pub fn remove_joined(&mut self, slot: u64) -> Option<Joined> {
        let joined = self.joined.remove(&slot)?;
        self.by_address.remove(&joined.address);
        Some(joined)
    }

    /// Takes `held` off the counts and hands it back.
    fn release(&mut self, held: Vec<Held>) -> Vec<Held> {
        self.held_messages = self.held_messages.saturating_sub(held.len());
        let bytes: usize = held.iter().map(|(_, size)| size).sum();
        self.held_bytes = self.held_bytes.saturating_sub(bytes);
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Body {
        Body::Close
    }

    #[test]
    fn holding_is_bounded_in_bytes_messages_and_documents() {
        let mut docs = Docs::new(2, 100);
        docs.hold("a", body(), 60).unwrap();
        assert_eq!(docs.hold("a", body(), 60), Err(HoldError::Full));
        docs.hold("b", body(), 10).unwrap();
        assert_eq!(docs.hold("c", body(), 1), Err(HoldError::TooManyDocuments));
        assert_eq!(docs.take_waiting("a").len(), 1);
        assert_eq!(docs.take_waiting("b").len(), 1);
        // Everything given back: the bound applies afresh.
        docs.hold("c", body(), 100).unwrap();

        let mut docs = Docs::new(10, usize::MAX);
        for _ in 0..MAX_HELD_MESSAGES {
            docs.hold("a", body(), 1).unwrap();
        }
        assert_eq!(docs.hold("b", body(), 1), Err(HoldError::Full));
    }

    #[test]
    fn a_join_takes_what_its_address_held_and_counts_as_a_document() {
        let mut docs = Docs::new(1, 1000);
        docs.hold("d\0s", body(), 5).unwrap();
        let name = DocName::parse("d").unwrap();
        let slot = docs.start_joining("d\0s", name, false, None, None);
        assert!(!docs.has_room());
        docs.hold("d\0s", body(), 5).unwrap();
        let (address, waiting) = docs.finish_joining(slot).expect("joining");
        assert_eq!(address, "d\0s");
        let Waiting::Joining { held, .. } = waiting else {
            panic!("joining");
        };
        assert_eq!(held.len(), 2);
        assert!(docs.has_room());
        assert!(docs.finish_joining(slot).is_none());
    }
}
