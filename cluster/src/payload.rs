//! The text wire format of one notification on the channel the nodes share.
//!
//! PostgreSQL limits a notification's payload to 8 000 bytes of text, so everything binary is
//! base64 and every payload stays below [`MAX_PAYLOAD`]:
//!
//! ```text
//! <node> stored <first> <last> <doc id> <doc id> ...  rows a statement wrote (by the trigger)
//! <node> stored <first> <last> *                       ... too many documents to list
//! <node> live <b64 doc> <b64 update> [<b64 MAC>]       an update relayed before its commit
//! <node> presence <b64 doc> <b64 awareness> [<MAC>]    the node's own clients' presence
//! <node> stateless <b64 doc> <b64 text> [<MAC>]        a Hocuspocus stateless message
//! <node> deleted <b64 doc> <b64 position> [<MAC>]      the document went to the trash
//! <node> revoked <b64 subject> <revoked_at_ms>         a revocation (by the table's trigger)
//! <node> part <b64 doc> <id> <index> <count> <b64 chunk> [<MAC>]   one part of a large update
//! <node> hello | <node> alive                          a node announces itself (asking, or not)
//! <node> open <b64 name> ... | <node> close <b64 name> ...   documents a node (un)loaded
//! ```
//!
//! `stored` is written by the database itself: the log's statement-level trigger (migration
//! `m20261206_000002_change_triggers`) notifies for every INSERT, by Plait or any other program;
//! `<node>` is the `plait.node` setting of the writing transaction, or [`OTHER_PROGRAM`]. With
//! appends serialised by the trigger's lock, the statement's rows are exactly the rows of the
//! listed documents in `first..=last`.
//!
//! The words (`live`, `part`...) are part of the wire between nodes of different versions:
//! renaming one would break a rolling upgrade.

use base64::Engine as _;
use plait_protocol::name::DocName;

use crate::event::{Broadcast, BroadcastKind, Seq};
use crate::parts::{Part, MAX_BROADCAST_UPDATE, MAX_PARTS};
use crate::signing::{sign, verify, NodeKey};

/// The PostgreSQL channel every node notifies and listens on.
pub const CHANNEL: &str = "plait_updates";

/// A notification's payload stays below PostgreSQL's 8000-byte limit with room to spare.
pub const MAX_PAYLOAD: usize = 7000;

/// The longest node id accepted: two 64-bit numbers in hex around a dash, and more.
const NODE_ID_MAX: usize = 40;

const LIVE: &str = "live";
const PRESENCE: &str = "presence";
const STATELESS: &str = "stateless";
const DELETED: &str = "deleted";
const PART: &str = "part";
const HELLO: &str = "hello";
const ALIVE: &str = "alive";
const OPEN: &str = "open";
const CLOSE: &str = "close";
const STORED: &str = "stored";
const REVOKED: &str = "revoked";
/// The `<node>` of rows written by a program other than a Plait node (`plait_write`, a raw
/// INSERT): no node's id is a dash.
pub const OTHER_PROGRAM: &str = "-";
/// Stands for "every document" in a `stored` payload whose list would not fit.
const EVERY_DOCUMENT: &str = "*";
/// The most document ids a `stored` payload lists; the trigger sends [`EVERY_DOCUMENT`] past
/// 6000 bytes of ids, which this stays above.
const MAX_STORED_IDS: usize = 4096;
/// The raw bytes a part's numbers (`<id> <index> <count>`) take from its chunk.
const PART_NUMBERS: usize = 64;

fn base64() -> &'static base64::engine::GeneralPurpose {
    &base64::engine::general_purpose::STANDARD
}

impl BroadcastKind {
    /// The word that marks the payload.
    fn word(self) -> &'static str {
        match self {
            BroadcastKind::Update => LIVE,
            BroadcastKind::Presence => PRESENCE,
            BroadcastKind::Stateless => STATELESS,
            BroadcastKind::Deleted => DELETED,
        }
    }
}

/// Which documents a `stored` payload says the statement wrote rows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredDocs {
    /// These documents (by `documents.id`).
    Listed(Vec<i64>),
    /// Too many to list: any document may have rows in the range.
    Every,
}

/// The payload the log's trigger sends for one INSERT statement (the same text as its SQL; kept
/// here for the tests that compare the two, and to say the format in one place).
pub fn stored_payload(node: &str, first: Seq, last: Seq, docs: &StoredDocs) -> String {
    let mut payload = format!("{node} {STORED} {first} {last}");
    match docs {
        StoredDocs::Listed(ids) => {
            for id in ids {
                payload.push(' ');
                payload.push_str(&id.to_string());
            }
        }
        StoredDocs::Every => {
            payload.push(' ');
            payload.push_str(EVERY_DOCUMENT);
        }
    }
    payload
}

/// `head` followed by `entries`, space-separated, in as few payloads below [`MAX_PAYLOAD`] as
/// they fit in (each repeating `head`); none without entries.
fn pack(head: &str, entries: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = head.to_owned();
    for entry in entries {
        if current.len() > head.len() && current.len() + 1 + entry.len() > MAX_PAYLOAD {
            out.push(std::mem::replace(&mut current, head.to_owned()));
        }
        current.push(' ');
        current.push_str(&entry);
    }
    if current.len() > head.len() {
        out.push(current);
    }
    out
}

/// The payload the `revocations` trigger sends (kept here for the tests that compare the two).
pub fn revoked_payload(node: &str, subject: &str, at_ms: i64) -> String {
    format!("{node} {REVOKED} {} {at_ms}", base64().encode(subject))
}

/// The payload announcing `node`, asking the others to answer or not.
pub fn hello_payload(node: &str, asks: bool) -> String {
    format!("{node} {}", if asks { HELLO } else { ALIVE })
}

/// The payloads announcing that `node` opened (or closed) `docs`.
pub fn interest_payloads(node: &str, open: bool, docs: &[DocName]) -> Vec<String> {
    let head = format!("{node} {}", if open { OPEN } else { CLOSE });
    pack(&head, docs.iter().map(|doc| base64().encode(doc.as_str())))
}

/// The largest broadcast data (an update, a presence piece) that fits in one notification with a
/// document name of `doc_len` bytes.
pub fn broadcast_capacity(doc_len: usize) -> usize {
    let fixed = NODE_ID_MAX + STATELESS.len().max(PRESENCE.len()).max(LIVE.len()) + 4 + 12;
    (MAX_PAYLOAD.saturating_sub(fixed) * 3 / 4).saturating_sub(doc_len + 32)
}

/// The payload announcing `data`, signed with `key` if there is one, if it fits in one.
pub fn broadcast_payload(
    node: &str,
    kind: BroadcastKind,
    doc: &DocName,
    data: &[u8],
    key: Option<&NodeKey>,
) -> Option<String> {
    let doc = doc.as_str();
    if node.len() > NODE_ID_MAX || data.len() > broadcast_capacity(doc.len()) {
        return None;
    }
    let word = kind.word();
    let mut payload = format!(
        "{node} {word} {} {}",
        base64().encode(doc),
        base64().encode(data)
    );
    sign(key, &mut payload, &[word, node, doc], data);
    Some(payload)
}

/// The payloads announcing `item`: one, or for an update too large for one, its parts, numbered
/// `id`; none if it cannot be broadcast (a presence piece too large, an update over
/// [`MAX_BROADCAST_UPDATE`]).
pub fn broadcast_payloads(
    node: &str,
    item: &Broadcast,
    key: Option<&NodeKey>,
    id: u64,
) -> Vec<String> {
    let data = &item.data[..];
    if let Some(one) = broadcast_payload(node, item.kind, &item.doc, data, key) {
        return vec![one];
    }
    if item.kind != BroadcastKind::Update
        || node.len() > NODE_ID_MAX
        || data.len() > MAX_BROADCAST_UPDATE
    {
        return Vec::new();
    }
    let doc = item.doc.as_str();
    let chunk = broadcast_capacity(doc.len()).saturating_sub(PART_NUMBERS);
    let count = data.len().div_ceil(chunk);
    data.chunks(chunk)
        .enumerate()
        .map(|(index, chunk)| {
            let numbers = format!("{id} {index} {count}");
            let mut payload = format!(
                "{node} {PART} {} {numbers} {}",
                base64().encode(doc),
                base64().encode(chunk)
            );
            sign(key, &mut payload, &[PART, node, doc, &numbers], chunk);
            payload
        })
        .collect()
}

/// A payload as read: who sent it and what it says.
#[derive(Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    Hello {
        node: &'a str,
        asks: bool,
    },
    Interest {
        node: &'a str,
        open: bool,
        docs: Vec<DocName>,
    },
    Broadcast {
        node: &'a str,
        kind: BroadcastKind,
        doc: DocName,
        data: Vec<u8>,
    },
    Part {
        node: &'a str,
        part: Part,
    },
    /// A subject's tokens issued before `at_ms` were revoked (the `revocations` trigger: not
    /// signed, like `stored`, since the database writes it).
    Revoked {
        node: &'a str,
        subject: String,
        at_ms: i64,
    },
    /// One INSERT statement into the log committed: its rows are those of `docs` with positions
    /// in `first..=last`.
    Stored {
        /// The writing node, or [`OTHER_PROGRAM`].
        node: &'a str,
        first: Seq,
        last: Seq,
        docs: StoredDocs,
    },
}

impl Payload<'_> {
    /// The node that sent it.
    pub fn node(&self) -> &str {
        match self {
            Payload::Hello { node, .. }
            | Payload::Interest { node, .. }
            | Payload::Broadcast { node, .. }
            | Payload::Part { node, .. }
            | Payload::Revoked { node, .. }
            | Payload::Stored { node, .. } => node,
        }
    }
}

/// Whether `payload` was sent by `node` (every listener hears its own notifications too): told
/// before anything is decoded.
pub fn is_from(payload: &str, node: &str) -> bool {
    payload
        .strip_prefix(node)
        .is_some_and(|rest| rest.starts_with(' '))
}

/// A document name as sent: base64 of a valid name.
fn doc_name(field: Option<&str>) -> Option<DocName> {
    let bytes = base64().decode(field?).ok()?;
    DocName::parse(&String::from_utf8(bytes).ok()?).ok()
}

/// Reads a payload; `None` if it is not one of ours (another program may notify on the channel
/// too), names an invalid document, or, with a `key`, is a broadcast it did not sign.
pub fn parse<'a>(payload: &'a str, key: Option<&NodeKey>) -> Option<Payload<'a>> {
    let mut parts = payload.split(' ');
    let node = parts.next().filter(|n| !n.is_empty())?;
    let mut rest = parts.clone();
    let word = rest.next();
    if word == Some(HELLO) || word == Some(ALIVE) {
        let asks = word == Some(HELLO);
        return rest
            .next()
            .is_none()
            .then_some(Payload::Hello { node, asks });
    }
    if word == Some(OPEN) || word == Some(CLOSE) {
        let docs = rest
            .map(|doc| doc_name(Some(doc)))
            .collect::<Option<Vec<_>>>()?;
        let open = word == Some(OPEN);
        return Some(Payload::Interest { node, open, docs });
    }
    if word == Some(PART) {
        let doc = doc_name(rest.next())?;
        let (id, index, count) = (rest.next()?, rest.next()?, rest.next()?);
        let numbers = format!("{id} {index} {count}");
        let part = Part {
            doc,
            id: id.parse().ok()?,
            index: index.parse().ok()?,
            count: count.parse().ok()?,
            chunk: base64().decode(rest.next()?).ok()?,
        };
        let tag = rest.next();
        if rest.next().is_some() || part.count > MAX_PARTS || part.index >= part.count {
            return None;
        }
        let fields = [PART, node, part.doc.as_str(), &numbers];
        verify(key, tag, &fields, &part.chunk)?;
        return Some(Payload::Part { node, part });
    }
    let kind = match word {
        Some(LIVE) => Some(BroadcastKind::Update),
        Some(PRESENCE) => Some(BroadcastKind::Presence),
        Some(STATELESS) => Some(BroadcastKind::Stateless),
        Some(DELETED) => Some(BroadcastKind::Deleted),
        _ => None,
    };
    if let Some(kind) = kind {
        let doc = doc_name(rest.next())?;
        let data = base64().decode(rest.next()?).ok()?;
        let tag = rest.next();
        if rest.next().is_some() {
            return None;
        }
        verify(key, tag, &[kind.word(), node, doc.as_str()], &data)?;
        return Some(Payload::Broadcast {
            node,
            kind,
            doc,
            data,
        });
    }
    if word == Some(STORED) {
        return parse_stored(node, rest);
    }
    if word == Some(REVOKED) {
        let subject = String::from_utf8(base64().decode(rest.next()?).ok()?).ok()?;
        let at_ms: i64 = rest.next()?.parse().ok()?;
        if rest.next().is_some() || subject.is_empty() {
            return None;
        }
        return Some(Payload::Revoked {
            node,
            subject,
            at_ms,
        });
    }
    None
}

fn parse_stored<'a>(node: &'a str, mut rest: std::str::Split<'a, char>) -> Option<Payload<'a>> {
    let first: Seq = rest.next()?.parse().ok()?;
    let last: Seq = rest.next()?.parse().ok()?;
    if first > last || first < 0 {
        return None;
    }
    let mut ids = Vec::new();
    let mut every = false;
    for entry in rest {
        if entry == EVERY_DOCUMENT && ids.is_empty() && !every {
            every = true;
            continue;
        }
        if every || ids.len() >= MAX_STORED_IDS {
            return None;
        }
        ids.push(entry.parse::<i64>().ok()?);
    }
    let docs = match (every, ids.is_empty()) {
        (true, _) => StoredDocs::Every,
        (false, false) => StoredDocs::Listed(ids),
        (false, true) => return None,
    };
    Some(Payload::Stored {
        node,
        first,
        last,
        docs,
    })
}

#[cfg(test)]
mod tests;
