//! Structure-aware fuzz input: bytes read as a small program (a "plan") that always encodes into
//! well-formed Yjs v1 updates holding nested values and nested shared types, together with the
//! depths the plan knows it built.
//!
//! It exists because random mutation of raw update bytes almost never builds thousands of
//! well-formed nested containers (every level is a tag, a count and, in a map, a key that must
//! all agree), which is why fuzz runs 1-10 never reached the stack overflow of issue 20 (D1). One
//! plan op says "wrap the next value in 5 000 arrays" or "a chain of 3 000 maps, each inside the
//! last"; any mutation of a plan is still a plan, so the updates stay well-formed; and the plan
//! knows how deep everything sits, an oracle for `update_check::check_update`.
//!
//! Input: `[selector]`, then ops until the input ends. A read past the end gives 0, so every byte
//! string is a plan, and an op cut short still completes (0 is always the cheapest choice).
//!
//! | op (byte % 8) | then                        | adds                                            |
//! | ------------- | --------------------------- | ----------------------------------------------- |
//! | 0 value       | place, value program        | an item of JSON-like content (ref 8)            |
//! | 1 type        | kind, place                 | a shared type (ref 7)                           |
//! | 2 chain       | kind, count, place          | `count` types, each the only child of the last  |
//! | 3 subdoc      | place, value program        | a subdocument (ref 9), the value its options    |
//! | 4 string      | place                       | a string item (ref 4)                           |
//! | 5 split       | b                           | b even: a new update; odd: a new client in it   |
//! | 6 delete      | b                           | an earlier item (any update) to the delete set  |
//! | 7 raw         | len u8, bytes               | the bytes as an update of their own (unplanned) |
//!
//! `place` is `[mode][parent]`. mode % 4: 0 a map entry (key from mode / 4), 1 first in the
//! parent's sequence, 2 after its last element (left origin only, no parent info: yrs takes the
//! neighbour's parent), 3 before its first one (right origin only). parent: 0 the type created
//! last, 1 and 2 the root types "m" and "a", n >= 3 the (n - 3)-th type counting back from the
//! last one (all modulo what exists; without types, root "m").
//!
//! kind % 7: map, array, XML element, maps and arrays alternating (chains), XML fragment, text,
//! XML text. A chain puts each level under key "k" of a map, else first in the sequence.
//!
//! A value program, byte % 8: 0 null, 1 integer, 2 string, 3 array of 1 + (next % 4) values, 4 a
//! map of as many entries, 5 `wrap`: a count of single-entry arrays (maps if bit 3 of the byte is
//! set) around the next value, 6 true, 7 a buffer. It is read with an explicit stack, as everything
//! here is: the harness must not overflow the stack it is testing.
//!
//! A count is one byte below 0xf0, or 0xf0..=0xff followed by a u16 LE (at most [`MAX_RUN`]).

mod builder;
mod writer;

use std::collections::{BTreeMap, HashMap};

use builder::{Builder, ClientBlocks};
pub use writer::PlanWriter;

/// Longest chain or wrap one op builds: past every depth that matters (yrs overflowed a 2 MiB
/// stack at ~6 000 levels of values), bounded so that one op stays cheap.
pub const MAX_RUN: usize = 20_000;
/// Size at which an update stops growing: ops are still read, but values close at once and
/// items are left out, so a plan cannot ask for gigabytes.
pub const MAX_UPDATE_BYTES: usize = 1 << 20;
/// Most updates one plan makes.
pub const MAX_UPDATES: usize = 16;
/// Most items one plan makes (a chain counts each level).
pub const MAX_ITEMS: usize = 100_000;

/// Root type names (parent selector 1 and 2).
const ROOTS: [&str; 2] = ["m", "a"];
/// Keys of map entries (`place`) and of JSON-like objects.
const KEYS: [&str; 4] = ["k", "a", "b", "c"];
/// The first client id a plan writes as (each update and each split takes the next one).
const FIRST_CLIENT: u64 = 100;

/// Plan ops (the table above), for code that writes plans.
pub mod op {
    pub const VALUE: u8 = 0;
    pub const TYPE: u8 = 1;
    pub const CHAIN: u8 = 2;
    pub const SUBDOC: u8 = 3;
    pub const STRING: u8 = 4;
    pub const SPLIT: u8 = 5;
    pub const DELETE: u8 = 6;
    pub const RAW: u8 = 7;
    /// Value program bytes.
    pub const V_NULL: u8 = 0;
    pub const V_ARRAY: u8 = 3;
    pub const V_MAP: u8 = 4;
    pub const V_WRAP_ARRAYS: u8 = 5;
    pub const V_WRAP_MAPS: u8 = 5 | 8;
    /// Type kinds.
    pub const K_MAP: u8 = 0;
    pub const K_ARRAY: u8 = 1;
    pub const K_XML: u8 = 2;
    pub const K_MIXED: u8 = 3;
    pub const K_TEXT: u8 = 5;
    /// Places: `[mode, parent]`.
    pub const IN_ROOT_MAP: [u8; 2] = [0, 1];
    pub const IN_ROOT_ARRAY: [u8; 2] = [1, 2];
    pub const IN_LAST_TYPE_KEY: [u8; 2] = [0, 0];
    pub const IN_LAST_TYPE_SEQ: [u8; 2] = [1, 0];
    pub const AFTER_LAST_IN_LAST_TYPE: [u8; 2] = [2, 0];
    pub const BEFORE_FIRST_IN_LAST_TYPE: [u8; 2] = [3, 0];
}

/// Reads plan bytes; past the end every read is 0.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at = self.at.saturating_add(1);
        b
    }

    /// A count: one byte below 0xf0 is itself; 0xf0 and above escape to a u16 LE after it. So
    /// most counts a mutation makes are small (fast runs), and a deep one is one byte away.
    fn count(&mut self) -> usize {
        match self.byte() {
            small @ 0..=0xef => usize::from(small),
            _ => usize::from(u16::from_le_bytes([self.byte(), self.byte()])),
        }
    }

    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
}

/// lib0 unsigned varint.
pub fn write_var(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// lib0 string: varint length, then UTF-8.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    write_var(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A shared type the plan created.
#[derive(Debug, Clone, Copy)]
pub struct PlannedType {
    /// The update (index in [`Plan::updates`]) that creates it.
    pub update: usize,
    /// The type it sits in (index in [`Plan::types`]); `None` for a root type.
    pub parent: Option<usize>,
    /// Its real depth in a document holding its ancestors (a type in a root type is 1 deep).
    pub depth: usize,
    /// The first update that deletes it or one of its ancestors (yrs then deletes, and
    /// garbage-collects, everything inside): from there on it is not where the plan put it. A
    /// delete set deletes; so may a second entry under the same key of a map (the plan writes
    /// entries without the origin Yjs would give them, so yrs resolves them as concurrent, and
    /// either one may lose).
    pub deleted_by: Option<usize>,
}

/// One update of the plan.
#[derive(Debug, Clone, Default)]
pub struct PlannedUpdate {
    pub bytes: Vec<u8>,
    /// `false` for the bytes of a raw op: nothing below is known about them.
    pub planned: bool,
    /// Deepest JSON-like value (item content or subdocument options; a container at the top is
    /// 1 deep), 0 without containers.
    pub value_depth: usize,
    /// The types it creates (indexes in [`Plan::types`]).
    pub types: Vec<usize>,
    /// How many subdocuments it holds. `check_update` refuses every one (yrs 0.28.1 frees a
    /// deleted subdocument's item while still using it).
    pub subdocs: usize,
    /// Every parent and neighbour it names is its own or a root type: `check_update` needs
    /// nothing from the document to know how deep its types nest.
    pub self_contained: bool,
}

impl PlannedUpdate {
    /// How deep its deepest type sits in a document holding its ancestors; 0 without types.
    pub fn type_depth(&self, plan: &Plan) -> usize {
        self.types
            .iter()
            .map(|&t| plan.types[t].depth)
            .max()
            .unwrap_or(0)
    }

    /// Whether it nests within `max_depth` (values, and types where the plan put them).
    pub fn within(&self, plan: &Plan, max_depth: usize) -> bool {
        self.value_depth <= max_depth && self.type_depth(plan) <= max_depth
    }

    /// Whether `check_update` must accept it where the plan put everything: it nests within
    /// `max_depth` and holds no subdocument. Its clocks and counts are
    /// well-formed, so that is all the check could refuse. (Against a document lacking some of
    /// its ancestors the check counts less deep, so it may accept more.)
    pub fn acceptable(&self, plan: &Plan, max_depth: usize) -> bool {
        self.within(plan, max_depth) && self.subdocs == 0
    }
}

/// What a plan built.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The first input byte, for the target to pick its limits from.
    pub selector: u8,
    pub updates: Vec<PlannedUpdate>,
    pub types: Vec<PlannedType>,
}

/// Reads `data` as a plan (see the module documentation). Total: every input is a plan.
pub fn read(data: &[u8]) -> Plan {
    let mut r = Reader { data, at: 0 };
    let mut b = Builder {
        plan: Plan {
            selector: r.byte(),
            ..Plan::default()
        },
        items: Vec::new(),
        type_items: Vec::new(),
        sequences: HashMap::new(),
        entries: HashMap::new(),
        current: PlannedUpdate::planned(),
        clients: Vec::new(),
        size: 0,
        deletions: BTreeMap::new(),
        next_client: FIRST_CLIENT,
        contested: false,
    };
    while !r.done() && b.plan.updates.len() < MAX_UPDATES {
        let code = r.byte();
        match code % 8 {
            op::VALUE | op::SUBDOC => {
                let place = b.placement(&mut r);
                let mut content = Vec::new();
                let content_ref = if code % 8 == op::VALUE {
                    write_var(&mut content, 1);
                    8
                } else {
                    write_string(&mut content, "g");
                    9
                };
                let depth = value(&mut r, &mut content, b.room());
                if b.item(place, content_ref, &content).is_some() {
                    b.current.value_depth = b.current.value_depth.max(depth);
                    b.current.subdocs += usize::from(content_ref == 9);
                }
            }
            op::TYPE => {
                let kind = r.byte();
                let place = b.placement(&mut r);
                b.new_type(place, kind, 0);
            }
            op::CHAIN => {
                let kind = r.byte();
                let count = r.count().min(MAX_RUN);
                let place = b.placement(&mut r);
                b.chain(place, kind, count);
            }
            op::STRING => {
                let place = b.placement(&mut r);
                let mut content = Vec::new();
                write_string(&mut content, "x");
                b.item(place, 4, &content);
            }
            op::SPLIT => {
                if r.byte().is_multiple_of(2) {
                    b.flush();
                } else {
                    let client = b.take_client();
                    b.clients.push(ClientBlocks::new(client));
                }
            }
            op::DELETE => {
                let pick = usize::from(r.byte());
                if !b.items.is_empty() {
                    let item = b.items[b.items.len() - 1 - pick % b.items.len()];
                    b.deletions
                        .entry(item.client)
                        .or_default()
                        .push((item.clock, item.clock + item.len));
                    b.deleted(item.creates);
                }
            }
            _ => {
                let len = usize::from(r.byte());
                let bytes: Vec<u8> = (0..len).map(|_| r.byte()).collect();
                b.flush();
                if b.plan.updates.len() < MAX_UPDATES {
                    b.plan.updates.push(PlannedUpdate {
                        bytes,
                        ..PlannedUpdate::default()
                    });
                }
            }
        }
    }
    b.flush();
    // A deletion reaches everything inside (types are numbered parents first).
    for t in 0..b.plan.types.len() {
        if let Some(parent) = b.plan.types[t].parent {
            let inherited = b.plan.types[parent].deleted_by;
            let own = &mut b.plan.types[t].deleted_by;
            *own = match (*own, inherited) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    b.plan
}

/// The type reference bytes (content of a ref 7 item) of `kind` at `level` of a chain, and
/// whether that type is a map (its children get a key).
fn type_ref(kind: u8, level: usize) -> (&'static [u8], bool) {
    match kind % 7 {
        op::K_MAP => (&[1], true),
        op::K_ARRAY => (&[0], false),
        op::K_XML => (&[3, 1, b'p'], false),
        op::K_MIXED if level.is_multiple_of(2) => (&[1], true),
        op::K_MIXED => (&[0], false),
        4 => (&[4], false),
        op::K_TEXT => (&[2], false),
        _ => (&[6], false),
    }
}

/// Writes one value program's value into `out`; returns how deeply its containers nest.
/// Once `room` bytes are written every further value is null, so it closes at once.
fn value(r: &mut Reader<'_>, out: &mut Vec<u8>, room: usize) -> usize {
    let start = out.len();
    // Open containers: entries still to write, and whether each entry has a key.
    let mut open: Vec<(u32, bool)> = Vec::new();
    let mut deepest = 0;
    // Before every value: the key, if it is a map entry.
    fn begin(out: &mut Vec<u8>, open: &[(u32, bool)]) {
        if let Some(&(left, true)) = open.last() {
            write_string(out, KEYS[left as usize % KEYS.len()]);
        }
    }
    loop {
        begin(out, &open);
        let used = out.len() - start;
        let code = if used >= room { op::V_NULL } else { r.byte() };
        match code % 8 {
            1 => {
                out.push(125);
                out.push(r.byte() & 0x3f);
            }
            2 => {
                out.push(119);
                write_string(out, "s");
            }
            tag @ (op::V_ARRAY | op::V_MAP) => {
                let entries = 1 + r.byte() % 4;
                out.push(if tag == op::V_ARRAY { 117 } else { 118 });
                write_var(out, u64::from(entries));
                open.push((u32::from(entries), tag == op::V_MAP));
                deepest = deepest.max(open.len());
                continue;
            }
            5 => {
                let map = code & 8 != 0;
                // At most 5 bytes a level.
                let count = r.count().min(MAX_RUN).min((room - used) / 5);
                if count > 0 {
                    for level in 0..count {
                        if level > 0 {
                            begin(out, &open);
                        }
                        out.push(if map { 118 } else { 117 });
                        out.push(1);
                        open.push((1, map));
                    }
                    deepest = deepest.max(open.len());
                    continue;
                }
                out.push(126);
            }
            6 => out.push(120),
            7 => {
                out.push(116);
                write_var(out, 1);
                out.push(r.byte());
            }
            _ => out.push(126),
        }
        // A value is complete: it may complete the containers around it.
        loop {
            let Some(top) = open.last_mut() else {
                return deepest;
            };
            top.0 -= 1;
            if top.0 > 0 {
                break;
            }
            open.pop();
        }
    }
}
