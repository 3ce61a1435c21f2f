//! The builder behind [`super::read`]: the items a plan wrote, where they sit, and the update
//! being encoded.

use std::collections::{BTreeMap, HashMap};

use super::*;

/// The branch an item sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Parent {
    Root(usize),
    Type(usize),
}

/// An item the plan wrote.
#[derive(Debug, Clone, Copy)]
pub(super) struct Item {
    pub(super) update: usize,
    pub(super) client: u64,
    pub(super) clock: u32,
    pub(super) len: u32,
    pub(super) parent: Parent,
    /// The type it creates (index in `plan.types`).
    pub(super) creates: Option<usize>,
}

/// How an item names its place.
#[derive(Clone, Copy)]
pub(super) enum Placement {
    /// Parent info, and for a map entry its key.
    Explicit {
        parent: Parent,
        key: Option<&'static str>,
    },
    /// Left origin: after this item.
    After(usize),
    /// Right origin: before this item.
    Before(usize),
}

/// One client's blocks in the update being built (its clocks start at 0).
pub(super) struct ClientBlocks {
    pub(super) client: u64,
    pub(super) clock: u32,
    pub(super) count: u64,
    pub(super) bytes: Vec<u8>,
}

pub(super) struct Builder {
    pub(super) plan: Plan,
    pub(super) items: Vec<Item>,
    /// The item that created each type (by index in `plan.types`).
    pub(super) type_items: Vec<usize>,
    /// Each branch's sequence (items placed without a key), in order.
    pub(super) sequences: HashMap<Parent, Vec<usize>>,
    /// Each branch's map entries, by key.
    pub(super) entries: HashMap<(Parent, &'static str), Vec<usize>>,
    /// The update being built.
    pub(super) current: PlannedUpdate,
    pub(super) clients: Vec<ClientBlocks>,
    pub(super) size: usize,
    pub(super) deletions: BTreeMap<u64, Vec<(u32, u32)>>,
    pub(super) next_client: u64,
    /// The item just written went under a key that already had an entry.
    pub(super) contested: bool,
}

impl PlannedUpdate {
    pub(super) fn planned() -> Self {
        PlannedUpdate {
            planned: true,
            self_contained: true,
            ..PlannedUpdate::default()
        }
    }
}

impl ClientBlocks {
    pub(super) fn new(client: u64) -> Self {
        ClientBlocks {
            client,
            clock: 0,
            count: 0,
            bytes: Vec::new(),
        }
    }
}

impl Builder {
    /// Notes that the update being built deletes type `t` (if the item created one).
    pub(super) fn deleted(&mut self, t: Option<usize>) {
        if let Some(t) = t {
            let update = self.plan.updates.len();
            let by = &mut self.plan.types[t].deleted_by;
            *by = Some(by.map_or(update, |u| u.min(update)));
        }
    }

    pub(super) fn take_client(&mut self) -> u64 {
        let client = self.next_client;
        self.next_client += 1;
        client
    }

    /// Bytes left before the update is full.
    pub(super) fn room(&self) -> usize {
        MAX_UPDATE_BYTES.saturating_sub(self.size)
    }

    pub(super) fn placement(&mut self, r: &mut Reader<'_>) -> Placement {
        let mode = r.byte();
        let selector = usize::from(r.byte());
        let types = self.plan.types.len();
        let parent = match selector {
            1 | 2 => Parent::Root(selector - 1),
            _ if types == 0 => Parent::Root(0),
            0 => Parent::Type(types - 1),
            n => Parent::Type(types - 1 - (n - 3) % types),
        };
        let sequence = self.sequences.get(&parent);
        match mode % 4 {
            0 => Placement::Explicit {
                parent,
                key: Some(KEYS[usize::from(mode / 4) % KEYS.len()]),
            },
            2 => match sequence.and_then(|s| s.last()) {
                Some(&last) => Placement::After(last),
                None => Placement::Explicit { parent, key: None },
            },
            3 => match sequence.and_then(|s| s.first()) {
                Some(&first) => Placement::Before(first),
                None => Placement::Explicit { parent, key: None },
            },
            _ => Placement::Explicit { parent, key: None },
        }
    }

    /// Writes one item of length 1 (every content here is one clock long). Returns its index,
    /// or `None` when the plan is full.
    pub(super) fn item(
        &mut self,
        place: Placement,
        content_ref: u8,
        content: &[u8],
    ) -> Option<usize> {
        self.contested = false;
        if self.room() == 0 || self.items.len() >= MAX_ITEMS {
            return None;
        }
        let update = self.plan.updates.len();
        let mut bytes = Vec::with_capacity(content.len() + 16);
        // Where yrs will put it, and whether what names that place is in this update.
        let mut key_of = None;
        let (parent, own, in_sequence) = match place {
            Placement::Explicit { parent, key } => {
                bytes.push(content_ref | if key.is_some() { 0x20 } else { 0 });
                let own = match parent {
                    Parent::Root(root) => {
                        write_var(&mut bytes, 1);
                        write_string(&mut bytes, ROOTS[root]);
                        true
                    }
                    Parent::Type(t) => {
                        let creator = self.items[self.type_items[t]];
                        write_var(&mut bytes, 0);
                        write_var(&mut bytes, creator.client);
                        write_var(&mut bytes, u64::from(creator.clock));
                        creator.update == update
                    }
                };
                if let Some(key) = key {
                    write_string(&mut bytes, key);
                    key_of = Some(key);
                }
                (parent, own, key.is_none())
            }
            Placement::After(n) | Placement::Before(n) => {
                let neighbour = self.items[n];
                let flag = if matches!(place, Placement::After(_)) {
                    0x80
                } else {
                    0x40
                };
                bytes.push(content_ref | flag);
                write_var(&mut bytes, neighbour.client);
                write_var(&mut bytes, u64::from(neighbour.clock));
                (neighbour.parent, neighbour.update == update, true)
            }
        };
        bytes.extend_from_slice(content);

        if self.clients.is_empty() {
            let client = self.take_client();
            self.clients.push(ClientBlocks::new(client));
        }
        let blocks = self.clients.last_mut()?;
        let (client, clock) = (blocks.client, blocks.clock);
        blocks.clock += 1;
        blocks.count += 1;
        blocks.bytes.extend_from_slice(&bytes);
        self.size += bytes.len();
        self.current.self_contained &= own;
        let index = self.items.len();
        self.items.push(Item {
            update,
            client,
            clock,
            len: 1,
            parent,
            creates: None,
        });
        if let Some(key) = key_of {
            let others = self.entries.entry((parent, key)).or_default();
            others.push(index);
            if others.len() > 1 {
                // A second entry under one key: any of them may be the one deleted.
                let contested: Vec<Option<usize>> =
                    others.iter().map(|&i| self.items[i].creates).collect();
                self.contested = true;
                for t in contested {
                    self.deleted(t);
                }
            }
        }
        if in_sequence {
            let list = self.sequences.entry(parent).or_default();
            match place {
                Placement::Before(first) => {
                    let at = list.iter().position(|&i| i == first).unwrap_or(0);
                    list.insert(at, index);
                }
                _ => list.push(index),
            }
        }
        Some(index)
    }

    /// Writes a new shared type; returns its index in `plan.types`.
    pub(super) fn new_type(&mut self, place: Placement, kind: u8, level: usize) -> Option<usize> {
        let (content, _) = type_ref(kind, level);
        let index = self.item(place, 7, content)?;
        let item = self.items[index];
        let (parent, depth) = match item.parent {
            Parent::Root(_) => (None, 1),
            Parent::Type(t) => (Some(t), self.plan.types[t].depth + 1),
        };
        let t = self.plan.types.len();
        self.plan.types.push(PlannedType {
            update: item.update,
            parent,
            depth,
            deleted_by: None,
        });
        self.items[index].creates = Some(t);
        self.type_items.push(index);
        if self.contested {
            self.deleted(Some(t));
        }
        self.current.types.push(t);
        Some(t)
    }

    /// `count` types, the first at `place`, each next one the only child of the one before.
    pub(super) fn chain(&mut self, place: Placement, kind: u8, count: usize) {
        let mut place = place;
        for level in 0..count {
            let Some(t) = self.new_type(place, kind, level) else {
                return;
            };
            let (_, is_map) = type_ref(kind, level);
            place = Placement::Explicit {
                parent: Parent::Type(t),
                key: is_map.then_some("k"),
            };
        }
    }

    /// Ends the update being built (if it holds anything) and starts the next one.
    pub(super) fn flush(&mut self) {
        let clients: Vec<ClientBlocks> = std::mem::take(&mut self.clients)
            .into_iter()
            .filter(|c| c.count > 0)
            .collect();
        let deletions = std::mem::take(&mut self.deletions);
        let current = std::mem::replace(&mut self.current, PlannedUpdate::planned());
        self.size = 0;
        if (clients.is_empty() && deletions.is_empty()) || self.plan.updates.len() >= MAX_UPDATES {
            return;
        }
        let mut bytes = Vec::new();
        write_var(&mut bytes, clients.len() as u64);
        for c in &clients {
            write_var(&mut bytes, c.count);
            write_var(&mut bytes, c.client);
            write_var(&mut bytes, 0);
            bytes.extend_from_slice(&c.bytes);
        }
        // The delete set: per client, ranges sorted and merged (as Yjs writes them).
        write_var(&mut bytes, deletions.len() as u64);
        for (client, mut ranges) in deletions {
            ranges.sort_unstable();
            let mut merged: Vec<(u32, u32)> = Vec::new();
            for (start, end) in ranges {
                match merged.last_mut() {
                    Some(last) if start <= last.1 => last.1 = last.1.max(end),
                    _ => merged.push((start, end)),
                }
            }
            write_var(&mut bytes, client);
            write_var(&mut bytes, merged.len() as u64);
            for (start, end) in merged {
                write_var(&mut bytes, u64::from(start));
                write_var(&mut bytes, u64::from(end - start));
            }
        }
        self.plan.updates.push(PlannedUpdate { bytes, ..current });
    }
}
