//! What other nodes store: how a node hears of the updates other servers append to the same
//! PostgreSQL database, so that it can relay them to its own clients.
//!
//! Exists because several nodes may hold the same document in memory at once. Without it, a client
//! on one node would not see another node's edits until its document was unloaded and read again.
//! Two kinds of notification travel on one channel, so they arrive in one order:
//!
//! - **live**: a node announces each update it relays to its own clients, as it relays them,
//!   with the update itself (base64; a payload is limited to 8000 bytes, so a larger update goes
//!   in numbered **parts** the receiver joins, up to [`MAX_LIVE_UPDATE`]; beyond that, by the
//!   stored kind only). It is what keeps another node's clients milliseconds behind, not a flush
//!   interval behind.
//! - **presence**: a node announces what its own clients' presence states (cursors, names)
//!   became, once per presence tick, so that every node's clients see everyone's. Never stored.
//! - **hello** / **alive**, **open** and **close**: a node announces itself, and the documents it
//!   loads and unloads, so that the others publish live updates only of the documents it has
//!   open. A `hello` (at start, and after the listening connection was lost) asks every node to
//!   answer with its own `alive` and what it has open.
//! - **stored**: the append transaction names the rows it commits (PostgreSQL delivers it only if
//!   the transaction commits, in commit order), and each node reads them. This is the one that
//!   cannot be missed: what a live notification already brought changes nothing the second time.
//!
//! SQLite has no such feed: it is the single-node default, and [`crate::DocStore::peer_feed`]
//! returns `None` there.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};
use sha2::Sha256;

use crate::entities::{document, document_update};
use crate::error::StorageError;
use crate::store::Seq;

/// The PostgreSQL channel every node notifies and listens on.
pub const CHANNEL: &str = "plait_updates";

/// A notification's payload stays below PostgreSQL's 8000-byte limit with room to spare.
const MAX_PAYLOAD: usize = 7000;

/// What a live notification carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveKind {
    /// A Yjs v1 update the node is relaying to its clients.
    Update,
    /// Its own clients' presence states: a y-protocols awareness update (the body of an
    /// awareness message).
    Presence,
}

impl LiveKind {
    /// The word that marks the payload.
    fn tag(self) -> &'static str {
        match self {
            LiveKind::Update => LIVE,
            LiveKind::Presence => PRESENCE,
        }
    }
}

/// One thing a node tells the others of at once, not stored (see [`crate::DocStore::publish_live`]).
#[derive(Debug, Clone)]
pub struct LiveItem {
    /// The document's name.
    pub doc: String,
    /// What `data` is.
    pub kind: LiveKind,
    /// The update, or the awareness update.
    pub data: bytes::Bytes,
}

/// What a node hears from the others.
#[derive(Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// Another node relayed an update to its clients; it is not stored yet (a `Stored` event
    /// follows once it is).
    Live {
        /// The node that sent it.
        node: String,
        /// The document's name.
        doc: String,
        /// The Yjs v1 update.
        update: Vec<u8>,
    },
    /// Another node's clients' presence changed (see [`LiveKind::Presence`]).
    Presence {
        /// The node whose clients they are.
        node: String,
        /// The document's name.
        doc: String,
        /// The awareness update.
        update: Vec<u8>,
    },
    /// Another node announced itself: every few seconds while it runs, and asking the others to
    /// answer with what they have open when it starts or has lost what it knew of them.
    Hello {
        /// The node.
        node: String,
        /// Whether it asks to be told, whoever it is already known to.
        asks: bool,
    },
    /// Another node loaded (`open: true`) or unloaded documents.
    Interest {
        /// The node.
        node: String,
        /// Whether it has them open from now on.
        open: bool,
        /// The documents' names.
        docs: Vec<String>,
    },
    /// Another node committed rows.
    Stored {
        /// The node that committed them.
        node: String,
        /// The rows, in log order.
        updates: Vec<PeerUpdate>,
        /// Documents some of whose rows were gone before they could be read (a compaction folded
        /// them into the snapshot): read these documents whole.
        reload: Vec<String>,
    },
    /// The connection was lost and made again: what was notified in between is unknown, so
    /// every document in memory must catch up from storage.
    Lost,
}

/// One row another node appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerUpdate {
    /// The document's name.
    pub doc: String,
    /// The row's log position.
    pub seq: Seq,
    /// The Yjs v1 update.
    pub data: Vec<u8>,
}

/// Which documents a node holds (loaded, or being loaded), by name: the rows the other nodes
/// commit to any other document need not be read.
pub type Holds<'a> = dyn Fn(&str) -> bool + Send + Sync + 'a;

/// The updates other nodes store, as a node receives them.
#[async_trait::async_trait]
pub trait PeerFeed: Send {
    /// Waits for the next event. Committed rows are read only for the documents `holds` says the
    /// node holds (and for documents the feed does not know yet). After an error the feed is still
    /// usable: the next call reconnects and reports [`PeerEvent::Lost`].
    async fn next(&mut self, holds: &Holds<'_>) -> Result<PeerEvent, StorageError>;
}

/// Document ids whose names a feed remembers at most; past it, it forgets them all and learns
/// again from the rows it reads.
const MAX_KNOWN_NAMES: usize = 65_536;

/// A name for this process among the nodes sharing a database, so that a node skips its own
/// notifications. Unique enough: the process id and the start time in nanoseconds.
pub fn node_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}-{:x}", std::process::id(), nanos)
}

/// The payloads announcing `rows` (document id, log position), each below [`MAX_PAYLOAD`]:
/// `"<node> <doc id>:<seq> <doc id>:<seq> ..."`.
pub(crate) fn stored_payloads(node: &str, rows: &[(i64, Seq)]) -> Vec<String> {
    pack(
        node,
        rows.iter().map(|(doc_id, seq)| format!("{doc_id}:{seq}")),
    )
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

/// Marks a live payload: `"<node> live <base64 document> <base64 update> [<base64 MAC>]"`.
const LIVE: &str = "live";
/// Marks a presence payload, laid out as a live one: `"<node> presence <base64 document>
/// <base64 awareness update> [<base64 MAC>]"`.
const PRESENCE: &str = "presence";
/// Marks a hello payload: `"<node> hello"` asks the others to answer, `"<node> alive"` does not.
const HELLO: &str = "hello";
const ALIVE: &str = "alive";

/// Marks the payloads naming documents a node opened or closed:
/// `"<node> open <base64 name> ..."`.
const OPEN: &str = "open";
const CLOSE: &str = "close";

/// The payload announcing `node`, asking the others to answer or not.
pub(crate) fn hello_payload(node: &str, asks: bool) -> String {
    format!("{node} {}", if asks { HELLO } else { ALIVE })
}

/// The payloads announcing that `node` opened (or closed) `docs`, each below [`MAX_PAYLOAD`].
pub(crate) fn interest_payloads(node: &str, open: bool, docs: &[String]) -> Vec<String> {
    use base64::Engine as _;
    let engine = &base64::engine::general_purpose::STANDARD;
    let head = format!("{node} {}", if open { OPEN } else { CLOSE });
    pack(&head, docs.iter().map(|doc| engine.encode(doc)))
}

/// The key that signs live payloads, shared by the nodes of one deployment.
///
/// Exists because PostgreSQL lets every role that can connect to the database send a
/// notification: without it, a role that may only read (a change-data-capture reader, an
/// analyst) could put content into every node's documents, and from there, through the clients'
/// next sync, into the database. The nodes share the auth secret (each must verify the same
/// tokens), so the key is derived from it; with authentication off, anyone who reaches a node can
/// write anyway, and live payloads go unsigned.
#[derive(Clone)]
pub struct PeerKey([u8; 32]);

impl PeerKey {
    /// The key for nodes whose auth secret is `secret`.
    pub fn derive(secret: &[u8]) -> PeerKey {
        let mut mac = Self::hmac(secret);
        mac.update(b"plait peer relay v1");
        PeerKey(mac.finalize().into_bytes().into())
    }

    fn hmac(key: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        match <Hmac<Sha256> as Mac>::new_from_slice(key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        }
    }

    /// The MAC of one live payload, over everything it says (`fields`: its kind, node, document
    /// and, for a part, its numbers; then its data): a presence payload's cannot be passed off as
    /// an update's, nor a part moved to another place.
    fn mac(&self, fields: &[&str], data: &[u8]) -> Hmac<Sha256> {
        let mut mac = Self::hmac(&self.0);
        for field in fields {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac.update(data);
        mac
    }
}

/// Appends to `payload`, with a key, the MAC of what it says (see [`PeerKey::mac`]).
fn sign(key: Option<&PeerKey>, payload: &mut String, fields: &[&str], data: &[u8]) {
    use base64::Engine as _;
    if let Some(key) = key {
        let tag = key.mac(fields, data).finalize().into_bytes();
        payload.push(' ');
        payload.push_str(&base64::engine::general_purpose::STANDARD.encode(tag));
    }
}

/// With a key, whether a payload's `tag` is the MAC of what it says; without one, any payload.
fn verify(key: Option<&PeerKey>, tag: Option<&str>, fields: &[&str], data: &[u8]) -> Option<()> {
    use base64::Engine as _;
    let Some(key) = key else {
        return Some(());
    };
    let tag = base64::engine::general_purpose::STANDARD
        .decode(tag?)
        .ok()?;
    key.mac(fields, data).verify_slice(&tag).ok()
}

impl std::fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerKey(..)")
    }
}

/// The longest id [`node_id`] makes: two 64-bit numbers in hex around a dash, and more.
const NODE_ID_MAX: usize = 40;

/// The largest live data (an update, a presence piece) that fits in one notification with a
/// document name of `doc_len` bytes.
pub fn live_capacity(doc_len: usize) -> usize {
    let fixed = NODE_ID_MAX + PRESENCE.len().max(LIVE.len()) + 4 + 12;
    (MAX_PAYLOAD.saturating_sub(fixed) * 3 / 4).saturating_sub(doc_len + 32)
}

/// The live payload announcing `data` of `doc`, signed with `key` if there is one, if it fits
/// in one notification.
pub(crate) fn live_payload(
    node: &str,
    kind: LiveKind,
    doc: &str,
    data: &[u8],
    key: Option<&PeerKey>,
) -> Option<String> {
    use base64::Engine as _;
    let engine = &base64::engine::general_purpose::STANDARD;
    if node.len() > NODE_ID_MAX || data.len() > live_capacity(doc.len()) {
        return None;
    }
    let mut payload = format!(
        "{node} {} {} {}",
        kind.tag(),
        engine.encode(doc),
        engine.encode(data)
    );
    sign(key, &mut payload, &[kind.tag(), node, doc], data);
    Some(payload)
}

/// Marks one part of an update too large for one payload:
/// `"<node> part <base64 document> <id> <index> <count> <base64 chunk> [<base64 MAC>]"`. A node
/// numbers its large updates (`id`), and the receiver joins the `count` parts of each.
const PART: &str = "part";
/// Updates up to this size go live in parts; larger ones only by the stored path.
pub const MAX_LIVE_UPDATE: usize = 256 * 1024;
/// Parts of one update at most: [`MAX_LIVE_UPDATE`] in the smallest chunks (the longest name).
const MAX_PARTS: usize = 64;
/// The raw bytes a part's numbers (`<id> <index> <count>`) take from its chunk.
const PART_NUMBERS: usize = 64;
/// Updates being joined at once at most, per feed: past it, they are dropped (their rows bring
/// them). Parts of one update are sent together, so only a failed send leaves one unfinished.
const MAX_JOINING: usize = 16;

/// The payloads announcing `item`: one, or for an update too large for one, its parts, numbered
/// with the next of `ids`; none if it cannot go live (a presence piece too large, an update over
/// [`MAX_LIVE_UPDATE`]).
pub(crate) fn live_payloads(
    node: &str,
    item: &LiveItem,
    key: Option<&PeerKey>,
    ids: &std::sync::atomic::AtomicU64,
) -> Vec<String> {
    use base64::Engine as _;
    let engine = &base64::engine::general_purpose::STANDARD;
    let (doc, data) = (item.doc.as_str(), &item.data[..]);
    if let Some(one) = live_payload(node, item.kind, doc, data, key) {
        return vec![one];
    }
    if item.kind != LiveKind::Update || node.len() > NODE_ID_MAX || data.len() > MAX_LIVE_UPDATE {
        return Vec::new();
    }
    let id = ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let chunk = live_capacity(doc.len()).saturating_sub(PART_NUMBERS);
    let count = data.len().div_ceil(chunk);
    data.chunks(chunk)
        .enumerate()
        .map(|(index, chunk)| {
            let numbers = format!("{id} {index} {count}");
            let mut payload = format!(
                "{node} {PART} {} {numbers} {}",
                engine.encode(doc),
                engine.encode(chunk)
            );
            sign(key, &mut payload, &[PART, node, doc, &numbers], chunk);
            payload
        })
        .collect()
}

/// One part of a large update, as read.
#[derive(Debug, PartialEq, Eq)]
struct Part {
    doc: String,
    id: u64,
    index: usize,
    count: usize,
    chunk: Vec<u8>,
}

/// Joins the parts of the large updates other nodes send (see [`PART`]).
#[derive(Debug, Default)]
struct Joiner {
    /// By node and update id.
    joining: HashMap<(String, u64), Joining>,
}

/// One large update being joined.
#[derive(Debug)]
struct Joining {
    doc: String,
    /// Its chunks, `None` until received.
    chunks: Vec<Option<Vec<u8>>>,
}

impl Joiner {
    /// Takes one part; the document and the whole update once its last part is in.
    fn add(&mut self, node: &str, part: Part) -> Option<(String, Vec<u8>)> {
        let key = (node.to_owned(), part.id);
        let fits = |j: &Joining| j.doc == part.doc && j.chunks.len() == part.count;
        if !self.joining.get(&key).is_some_and(fits) {
            if self.joining.len() >= MAX_JOINING {
                self.joining.clear();
            }
            let chunks = vec![None; part.count];
            let doc = part.doc;
            self.joining.insert(key.clone(), Joining { doc, chunks });
        }
        let joining = self.joining.get_mut(&key)?;
        joining.chunks[part.index] = Some(part.chunk);
        if joining.chunks.iter().any(Option::is_none) {
            return None;
        }
        let Joining { doc, chunks } = self.joining.remove(&key)?;
        Some((doc, chunks.into_iter().flatten().flatten().collect()))
    }

    /// Forgets every unfinished update (after a lost connection, whose parts never come).
    fn clear(&mut self) {
        self.joining.clear();
    }
}

/// A payload as read: who sent it and what it says.
#[derive(Debug, PartialEq, Eq)]
enum Payload<'a> {
    Hello {
        node: &'a str,
        asks: bool,
    },
    Interest {
        node: &'a str,
        open: bool,
        docs: Vec<String>,
    },
    Live {
        node: &'a str,
        kind: LiveKind,
        doc: String,
        data: Vec<u8>,
    },
    Part {
        node: &'a str,
        part: Part,
    },
    Stored {
        node: &'a str,
        rows: Vec<(i64, Seq)>,
    },
}

impl Payload<'_> {
    fn node(&self) -> &str {
        match self {
            Payload::Hello { node, .. }
            | Payload::Interest { node, .. }
            | Payload::Live { node, .. }
            | Payload::Part { node, .. }
            | Payload::Stored { node, .. } => node,
        }
    }
}

/// Reads a payload; `None` if it is not one of ours (another program may notify on the channel
/// too) or, with a `key`, a live one it did not sign.
fn parse<'a>(payload: &'a str, key: Option<&PeerKey>) -> Option<Payload<'a>> {
    use base64::Engine as _;
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut parts = payload.split(' ');
    let node = parts.next().filter(|n| !n.is_empty())?;
    let mut rest = parts.clone();
    let kind = rest.next();
    if kind == Some(HELLO) || kind == Some(ALIVE) {
        let asks = kind == Some(HELLO);
        return rest
            .next()
            .is_none()
            .then_some(Payload::Hello { node, asks });
    }
    if kind == Some(OPEN) || kind == Some(CLOSE) {
        let docs = rest
            .map(|doc| String::from_utf8(engine.decode(doc).ok()?).ok())
            .collect::<Option<Vec<_>>>()?;
        return Some(Payload::Interest {
            node,
            open: kind == Some(OPEN),
            docs,
        });
    }
    if kind == Some(PART) {
        let doc = String::from_utf8(engine.decode(rest.next()?).ok()?).ok()?;
        let (id, index, count) = (rest.next()?, rest.next()?, rest.next()?);
        let numbers = format!("{id} {index} {count}");
        let part = Part {
            doc,
            id: id.parse().ok()?,
            index: index.parse().ok()?,
            count: count.parse().ok()?,
            chunk: engine.decode(rest.next()?).ok()?,
        };
        let tag = rest.next();
        if rest.next().is_some() || part.count > MAX_PARTS || part.index >= part.count {
            return None;
        }
        verify(key, tag, &[PART, node, &part.doc, &numbers], &part.chunk)?;
        return Some(Payload::Part { node, part });
    }
    let live = match kind {
        Some(LIVE) => Some(LiveKind::Update),
        Some(PRESENCE) => Some(LiveKind::Presence),
        _ => None,
    };
    if let Some(kind) = live {
        let doc = String::from_utf8(engine.decode(rest.next()?).ok()?).ok()?;
        let data = engine.decode(rest.next()?).ok()?;
        let tag = rest.next();
        if rest.next().is_some() {
            return None;
        }
        verify(key, tag, &[kind.tag(), node, &doc], &data)?;
        return Some(Payload::Live {
            node,
            kind,
            doc,
            data,
        });
    }
    parse_rows(parts).map(|rows| Payload::Stored { node, rows })
}

fn parse_rows<'a>(parts: impl Iterator<Item = &'a str>) -> Option<Vec<(i64, Seq)>> {
    parts
        .map(|entry| {
            let (doc_id, seq) = entry.split_once(':')?;
            Some((doc_id.parse().ok()?, seq.parse().ok()?))
        })
        .collect::<Option<Vec<_>>>()
}

/// The start of a payload, for a log line.
fn truncated(payload: &str) -> &str {
    let mut end = payload.len().min(120);
    while !payload.is_char_boundary(end) {
        end -= 1;
    }
    &payload[..end]
}

/// A failure of the listening connection, as the database error it is.
fn listen_error(error: sea_orm::SqlxError) -> StorageError {
    sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(error))).into()
}

/// The PostgreSQL feed: a `LISTEN` connection of its own, plus the store's pool to read rows.
pub struct PgPeerFeed {
    listener: PgListener,
    db: DatabaseConnection,
    node: String,
    /// Live payloads must carry this key's MAC (see [`PeerKey`]).
    key: Option<PeerKey>,
    /// A call failed: the next one makes sure the listener is connected again and reports
    /// [`PeerEvent::Lost`], even if no notification arrives to wake it.
    failed: bool,
    /// Document id to name, learned from the rows read: notifications name documents by id.
    names: HashMap<i64, String>,
    /// Large updates whose parts are arriving.
    joiner: Joiner,
}

impl PgPeerFeed {
    /// Listens on [`CHANNEL`] through a connection to `url` of its own (a pool connection held
    /// forever would be one fewer for the writer).
    pub(crate) async fn connect(
        url: &str,
        db: DatabaseConnection,
        node: String,
        key: Option<PeerKey>,
    ) -> Result<PgPeerFeed, StorageError> {
        let mut listener = PgListener::connect(url).await.map_err(listen_error)?;
        listener.listen(CHANNEL).await.map_err(listen_error)?;
        Ok(PgPeerFeed {
            listener,
            db,
            node,
            key,
            failed: false,
            names: HashMap::new(),
            joiner: Joiner::default(),
        })
    }

    /// Reads the rows a notification named, except those of documents known not to be held
    /// here; `None` if that leaves none. Rows already folded into a snapshot are missing; their
    /// documents are returned for a whole read.
    async fn read(
        &mut self,
        node: String,
        mut rows: Vec<(i64, Seq)>,
        holds: &Holds<'_>,
    ) -> Result<Option<PeerEvent>, StorageError> {
        rows.retain(|(doc_id, _)| self.names.get(doc_id).is_none_or(|name| holds(name)));
        if rows.is_empty() {
            return Ok(None);
        }
        let seqs: Vec<Seq> = rows.iter().map(|&(_, seq)| seq).collect();
        let query = document_update::Entity::find()
            .select_only()
            .column(document_update::Column::Seq)
            .column(document_update::Column::DocumentId)
            .column(document::Column::Name)
            .column(document_update::Column::Data)
            .inner_join(document::Entity)
            .filter(document_update::Column::Seq.is_in(seqs))
            .order_by_asc(document_update::Column::Seq);
        let raw = self
            .db
            .query_all_raw(query.build(self.db.get_database_backend()))
            .await?;
        // Each row read on its own: one whose update is not bytes (written by hand) counts as
        // gone, so its document is read whole, where the load quarantines it.
        let found: Vec<(Seq, i64, String, Vec<u8>)> = raw
            .iter()
            .filter_map(|row| {
                Some((
                    row.try_get("", "seq").ok()?,
                    row.try_get("", "document_id").ok()?,
                    row.try_get("", "name").ok()?,
                    row.try_get("", "data").ok()?,
                ))
            })
            .collect();
        let seen: HashSet<Seq> = found.iter().map(|row| row.0).collect();
        let gone: BTreeSet<i64> = rows
            .iter()
            .filter(|(_, seq)| !seen.contains(seq))
            .map(|&(doc_id, _)| doc_id)
            .collect();
        let reload: Vec<(i64, String)> = if gone.is_empty() {
            Vec::new()
        } else {
            document::Entity::find()
                .select_only()
                .column(document::Column::Id)
                .column(document::Column::Name)
                .filter(document::Column::Id.is_in(gone))
                .into_tuple()
                .all(&self.db)
                .await?
        };
        if self.names.len() > MAX_KNOWN_NAMES {
            self.names.clear();
        }
        let learned = found.iter().map(|(_, id, name, _)| (id, name));
        for (id, name) in learned.chain(reload.iter().map(|(id, name)| (id, name))) {
            self.names.entry(*id).or_insert_with(|| name.clone());
        }
        let updates = found
            .into_iter()
            .map(|(seq, _, doc, data)| PeerUpdate { doc, seq, data })
            .collect();
        let reload = reload.into_iter().map(|(_, name)| name).collect();
        Ok(Some(PeerEvent::Stored {
            node,
            updates,
            reload,
        }))
    }

    async fn next_inner(&mut self, holds: &Holds<'_>) -> Result<PeerEvent, StorageError> {
        if self.failed {
            // LISTEN again connects (and subscribes) if the connection is gone; repeating it on a
            // live connection changes nothing.
            self.listener.listen(CHANNEL).await.map_err(listen_error)?;
            self.failed = false;
            self.joiner.clear();
            return Ok(PeerEvent::Lost);
        }
        loop {
            let Some(notification) = self.listener.try_recv().await.map_err(listen_error)? else {
                // Reconnected already (eager reconnect is the default).
                self.joiner.clear();
                return Ok(PeerEvent::Lost);
            };
            // Our own come back too (every listener of the database hears every notification):
            // skipped before anything is decoded.
            let own = notification
                .payload()
                .strip_prefix(self.node.as_str())
                .is_some_and(|rest| rest.starts_with(' '));
            if own {
                continue;
            }
            let Some(payload) = parse(notification.payload(), self.key.as_ref()) else {
                tracing::warn!(
                    payload = %truncated(notification.payload()),
                    "ignored a notification on the channel that is not a node's (or not signed \
                     with this deployment's key)"
                );
                continue;
            };
            let node = payload.node().to_owned();
            match payload {
                Payload::Hello { asks, .. } => return Ok(PeerEvent::Hello { node, asks }),
                Payload::Interest { open, docs, .. } => {
                    return Ok(PeerEvent::Interest { node, open, docs })
                }
                Payload::Live {
                    kind, doc, data, ..
                } => {
                    let update = data;
                    return Ok(match kind {
                        LiveKind::Update => PeerEvent::Live { node, doc, update },
                        LiveKind::Presence => PeerEvent::Presence { node, doc, update },
                    });
                }
                Payload::Part { part, .. } => {
                    if let Some((doc, update)) = self.joiner.add(&node, part) {
                        return Ok(PeerEvent::Live { node, doc, update });
                    }
                }
                Payload::Stored { rows, .. } => {
                    if let Some(stored) = self.read(node, rows, holds).await? {
                        return Ok(stored);
                    }
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl PeerFeed for PgPeerFeed {
    async fn next(&mut self, holds: &Holds<'_>) -> Result<PeerEvent, StorageError> {
        let result = self.next_inner(holds).await;
        if result.is_err() {
            // A notification may have been taken and its rows not read: treat it as lost.
            self.failed = true;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_payloads_round_trip_and_stay_below_the_limit() {
        let rows: Vec<(i64, Seq)> = (0..2000).map(|i| (i % 7, 1_000_000_000 + i)).collect();
        let encoded = stored_payloads("node-1", &rows);
        assert!(encoded.len() > 1, "2000 rows fit one payload?");
        let mut back = Vec::new();
        for payload in &encoded {
            assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
            let Some(Payload::Stored { node, rows }) = parse(payload, None) else {
                panic!("not read back: {payload}");
            };
            assert_eq!(node, "node-1");
            back.extend(rows);
        }
        assert_eq!(back, rows);
        assert!(stored_payloads("node-1", &[]).is_empty());
    }

    #[test]
    fn live_payloads_round_trip_and_large_updates_have_none() {
        let update = vec![0u8, 1, 2, 255, b' ', b':'];
        for kind in [LiveKind::Update, LiveKind::Presence] {
            let payload = live_payload("node-1", kind, "notes/é 1", &update, None).expect("fits");
            assert_eq!(
                parse(&payload, None),
                Some(Payload::Live {
                    node: "node-1",
                    kind,
                    doc: "notes/é 1".to_owned(),
                    data: update.clone(),
                })
            );
            let fits = live_payload("n", kind, "d", &[7; 5000], None).expect("5000 bytes fit");
            assert!(fits.len() <= MAX_PAYLOAD, "{}", fits.len());
            assert_eq!(live_payload("n", kind, "d", &[7; 6000], None), None);
            // What `live_capacity` promises fits, with a long node id and document name.
            let (node, doc) = ("n".repeat(40), "d".repeat(255));
            let most = vec![0xff; live_capacity(doc.len())];
            let payload = live_payload(&node, kind, &doc, &most, None).expect("fits");
            assert!(payload.len() <= MAX_PAYLOAD, "{}", payload.len());
            let signed = live_payload(&node, kind, &doc, &most, Some(&PeerKey::derive(b"k")));
            assert!(signed.is_some_and(|p| p.len() <= MAX_PAYLOAD));
        }
    }

    #[test]
    fn interest_payloads_round_trip_in_pieces() {
        let docs: Vec<String> = (0..2000).map(|i| format!("doc {i}/é")).collect();
        for open in [true, false] {
            let payloads = interest_payloads("node-1", open, &docs);
            assert!(payloads.len() > 1, "2000 names fit one payload?");
            let mut back = Vec::new();
            for payload in &payloads {
                assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
                let Some(Payload::Interest {
                    node,
                    open: o,
                    docs,
                }) = parse(payload, None)
                else {
                    panic!("not read back: {payload}");
                };
                assert_eq!((node, o), ("node-1", open));
                back.extend(docs);
            }
            assert_eq!(back, docs);
        }
        assert!(interest_payloads("node-1", true, &[]).is_empty());
    }

    #[test]
    fn with_a_key_only_live_payloads_it_signed_are_read() {
        let key = PeerKey::derive(b"the deployment's auth secret, 32+");
        let other = PeerKey::derive(b"another deployment's secret, 32++");
        let update = b"\x01\x02 update".to_vec();
        let live = |doc: &str, update: &[u8], key: Option<&PeerKey>| {
            live_payload("node-1", LiveKind::Update, doc, update, key).expect("fits")
        };
        let signed = live("doc", &update, Some(&key));
        let expected = Payload::Live {
            node: "node-1",
            kind: LiveKind::Update,
            doc: "doc".to_owned(),
            data: update.clone(),
        };
        assert_eq!(parse(&signed, Some(&key)), Some(expected));
        assert_eq!(
            parse(&signed, Some(&other)),
            None,
            "another key's MAC accepted"
        );
        let unsigned = live("doc", &update, None);
        assert_eq!(
            parse(&unsigned, Some(&key)),
            None,
            "an unsigned payload accepted"
        );
        // The MAC covers each part: moving it to another node, document or kind fails.
        let tag = signed.rsplit(' ').next().expect("a tag");
        let as_presence = live_payload("node-1", LiveKind::Presence, "doc", &update, None);
        for forged in [
            format!("node-2{}", &signed["node-1".len()..]),
            live("elsewhere", &update, None) + " " + tag,
            live("doc", b"other", None) + " " + tag,
            as_presence.expect("fits") + " " + tag,
        ] {
            assert_eq!(parse(&forged, Some(&key)), None, "{forged}");
        }
        // Without a key a signed payload is read too (a node without auth among signed ones).
        assert!(parse(&signed, None).is_some());
    }

    #[test]
    fn hello_payloads_round_trip() {
        for asks in [true, false] {
            assert_eq!(
                parse(&hello_payload("node-1", asks), None),
                Some(Payload::Hello {
                    node: "node-1",
                    asks
                })
            );
        }
    }

    #[test]
    fn foreign_payloads_are_not_misread() {
        for payload in [
            "",
            " 1:2",
            "node 1:x",
            "node 12",
            "node 1:2:3",
            "node live",
            "node live !!! AAAA",
            "node live ZG9j AAAA dGFn extra",
            "node hello there",
            "node open !!!",
        ] {
            assert_eq!(parse(payload, None), None, "{payload:?}");
        }
    }

    fn update_item(doc: &str, data: Vec<u8>) -> LiveItem {
        LiveItem {
            doc: doc.to_owned(),
            kind: LiveKind::Update,
            data: bytes::Bytes::from(data),
        }
    }

    /// Reads `payloads` as a feed would and joins the parts; the updates that came out whole.
    fn receive(payloads: &[String], key: Option<&PeerKey>) -> Vec<(String, Vec<u8>)> {
        let mut joiner = Joiner::default();
        let mut whole = Vec::new();
        for payload in payloads {
            assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
            match parse(payload, key) {
                Some(Payload::Part { node, part }) => whole.extend(joiner.add(node, part)),
                Some(Payload::Live { doc, data, .. }) => whole.push((doc, data)),
                other => panic!("not a live payload: {other:?}"),
            }
        }
        whole
    }

    #[test]
    fn large_updates_go_in_parts_that_join_again() {
        let ids = std::sync::atomic::AtomicU64::new(0);
        let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let other: Vec<u8> = (0..12_000u32).map(|i| (i % 13) as u8).collect();
        let parts = live_payloads("node-1", &update_item("notes/é", big.clone()), None, &ids);
        assert!(parts.len() >= 4, "{} parts for 20 KB", parts.len());
        // Another node numbers its own: the same id, told apart by the node.
        let its_ids = std::sync::atomic::AtomicU64::new(0);
        let others = live_payloads("node-2", &update_item("b", other.clone()), None, &its_ids);
        // Two nodes' parts interleaved, and a small update between them.
        let mut mixed: Vec<String> = (0..parts.len().max(others.len()))
            .flat_map(|i| [parts.get(i), others.get(i)])
            .flatten()
            .cloned()
            .collect();
        mixed.insert(
            3,
            live_payload("node-3", LiveKind::Update, "c", b"x", None).expect("fits"),
        );
        let mut whole = receive(&mixed, None);
        whole.sort();
        let mut expected = vec![
            ("notes/é".to_owned(), big),
            ("b".to_owned(), other),
            ("c".to_owned(), b"x".to_vec()),
        ];
        expected.sort();
        assert_eq!(whole, expected);

        // The longest name, at the largest size, stays within the parts a feed accepts.
        let name = "n".repeat(255);
        let most = update_item(&name, vec![1; MAX_LIVE_UPDATE]);
        let parts = live_payloads(&"i".repeat(NODE_ID_MAX), &most, None, &ids);
        assert!(
            !parts.is_empty() && parts.len() <= MAX_PARTS,
            "{}",
            parts.len()
        );
        assert_eq!(
            receive(&parts, None),
            vec![(name, vec![1; MAX_LIVE_UPDATE])]
        );
        // Past it, and for presence too large for one payload, nothing goes live.
        let over = update_item("d", vec![1; MAX_LIVE_UPDATE + 1]);
        assert!(live_payloads("n", &over, None, &ids).is_empty());
        let presence = LiveItem {
            kind: LiveKind::Presence,
            ..update_item("d", vec![1; 6000])
        };
        assert!(live_payloads("n", &presence, None, &ids).is_empty());
    }

    #[test]
    fn with_a_key_parts_are_signed_and_cannot_be_moved() {
        let key = PeerKey::derive(b"the deployment's auth secret, 32+");
        let ids = std::sync::atomic::AtomicU64::new(7);
        let big = vec![9u8; 12_000];
        let signed = live_payloads("node-1", &update_item("doc", big.clone()), Some(&key), &ids);
        assert_eq!(receive(&signed, Some(&key)), vec![("doc".to_owned(), big)]);
        let unsigned = live_payloads("node-1", &update_item("doc", vec![9; 12_000]), None, &ids);
        assert!(
            parse(&unsigned[0], Some(&key)).is_none(),
            "an unsigned part read"
        );
        // Another index, id or count under the same MAC is refused.
        let fields: Vec<&str> = signed[0].split(' ').collect();
        for (at, value) in [(3, "8"), (4, "1"), (5, "9")] {
            let mut forged = fields.clone();
            forged[at] = value;
            assert!(
                parse(&forged.join(" "), Some(&key)).is_none(),
                "{at} -> {value}"
            );
        }
        // Numbers a feed would not accept.
        for numbers in ["1 3 3", "1 0 65", "x 0 1"] {
            let forged = format!("n part ZG9j {numbers} AAAA");
            assert!(parse(&forged, None).is_none(), "{numbers}");
        }
    }

    #[test]
    fn an_unfinished_update_is_dropped_once_too_many_are_joining() {
        let mut joiner = Joiner::default();
        let part = |id: u64, index: usize| Part {
            doc: "d".to_owned(),
            id,
            index,
            count: 2,
            chunk: vec![index as u8],
        };
        for id in 0..MAX_JOINING as u64 {
            assert_eq!(joiner.add("n", part(id, 0)), None);
        }
        assert_eq!(joiner.joining.len(), MAX_JOINING);
        assert_eq!(joiner.add("n", part(99, 0)), None);
        assert_eq!(joiner.joining.len(), 1, "the unfinished ones were dropped");
        assert_eq!(joiner.add("n", part(0, 1)), None, "0's first part is gone");
        assert_eq!(
            joiner.add("n", part(99, 1)),
            Some(("d".to_owned(), vec![0, 1]))
        );
    }
}
