//! A second, independent measurement of how deeply an update nests, for the targets' oracles.
//!
//! `update_check` walks an update without recursion and bounds type depths with a memo. This
//! reads it the plain way, as yrs does: every item's content through yrs' own decoders
//! (`Any::decode` and `ItemContent::decode`, which recurse), depths counted on the decoded
//! values, parents followed one link at a time. Only give it bytes `check_update` accepted or
//! that yrs encoded from a document: were the check to let a deep value through, the recursion
//! here would overflow the stack, and the fuzzer would report that crash (the finding).

use std::collections::HashMap;

use yrs::block::{
    ItemContent, BLOCK_GC_REF_NUMBER, BLOCK_ITEM_ANY_REF_NUMBER, BLOCK_ITEM_DOC_REF_NUMBER,
    BLOCK_SKIP_REF_NUMBER, HAS_ORIGIN, HAS_PARENT_SUB, HAS_RIGHT_ORIGIN,
};
use yrs::encoding::read::{Cursor, Error, Read};
use yrs::updates::decoder::{Decoder, DecoderV1};
use yrs::{Any, ID};

/// How deeply one update nests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Depths {
    /// Deepest lib0 value of item content; a container at the top is 1.
    pub values: usize,
    /// Deepest subdocument options (a lib0 value). The check refuses any subdocument before
    /// reading them, so in an accepted update this is always 0.
    pub options: usize,
    /// Deepest value parsed from a JSON string (embeds, formatting attributes), which serde_json
    /// bounds by itself (see [`JSON_DEPTH_CAP`]).
    pub json: usize,
    /// Deepest shared type; a type in a root type is 1, and so is one whose parent the update
    /// does not hold (the document's own depth is not known here).
    pub types: usize,
    /// How many subdocuments (content 9) it holds, wherever they sit.
    pub subdocs: usize,
}

/// How deeply serde_json (its default recursion limit of 128) lets a JSON string nest.
pub const JSON_DEPTH_CAP: usize = 128;

/// How an item names its parent.
#[derive(Clone, Copy)]
enum Named {
    Root,
    Type(ID),
    /// The parent of its left (or else right) neighbour.
    Neighbour(ID),
}

struct Node {
    named: Named,
    is_type: bool,
}

/// Reads `update` (v1) and measures it. Errors where yrs' readers do.
pub fn measure(update: &[u8]) -> Result<Depths, Error> {
    let mut decoder = DecoderV1::new(Cursor::new(update));
    let mut depths = Depths::default();
    let mut nodes: Vec<Node> = Vec::new();
    let mut ids: HashMap<u64, Vec<(u32, u32, usize)>> = HashMap::new();
    let clients: u32 = decoder.read_var()?;
    for _ in 0..clients {
        let blocks: u32 = decoder.read_var()?;
        let client = decoder.read_client()?.get();
        let mut clock: u32 = decoder.read_var()?;
        for _ in 0..blocks {
            let info = decoder.read_info()?;
            let len = match info {
                BLOCK_SKIP_REF_NUMBER => decoder.read_var()?,
                BLOCK_GC_REF_NUMBER => decoder.read_len()?,
                _ => {
                    let origin = (info & HAS_ORIGIN != 0)
                        .then(|| decoder.read_left_id())
                        .transpose()?;
                    let right = (info & HAS_RIGHT_ORIGIN != 0)
                        .then(|| decoder.read_right_id())
                        .transpose()?;
                    let named = match origin.or(right) {
                        Some(id) => Named::Neighbour(id),
                        None => {
                            let named = if decoder.read_parent_info()? {
                                decoder.read_string()?;
                                Named::Root
                            } else {
                                Named::Type(decoder.read_left_id()?)
                            };
                            if info & HAS_PARENT_SUB != 0 {
                                decoder.read_string()?;
                            }
                            named
                        }
                    };
                    let (len, is_type) = content(&mut decoder, info, &mut depths)?;
                    if info & 0b1111 == BLOCK_ITEM_DOC_REF_NUMBER {
                        depths.subdocs += 1;
                    }
                    if len > 0 {
                        ids.entry(client)
                            .or_default()
                            .push((clock, len, nodes.len()));
                        nodes.push(Node { named, is_type });
                    }
                    len
                }
            };
            clock = clock.wrapping_add(len);
        }
    }
    depths.types = type_depth(&nodes, &ids);
    Ok(depths)
}

/// Reads one item's content with yrs' decoders; its length and whether it is a type.
fn content(
    decoder: &mut DecoderV1<'_>,
    info: u8,
    depths: &mut Depths,
) -> Result<(u32, bool), Error> {
    match info & 0b1111 {
        BLOCK_ITEM_ANY_REF_NUMBER => {
            let count = decoder.read_len()?;
            for _ in 0..count {
                let value = Any::decode(decoder)?;
                depths.values = depths.values.max(any_depth(&value));
            }
            Ok((count, false))
        }
        BLOCK_ITEM_DOC_REF_NUMBER => {
            decoder.read_string()?;
            let options = Any::decode(decoder)?;
            depths.options = depths.options.max(any_depth(&options));
            Ok((1, false))
        }
        _ => {
            let content = ItemContent::decode(decoder, info)?;
            let json = match &content {
                ItemContent::Embed(value) => any_depth(value),
                ItemContent::Format(_, value) => any_depth(value),
                _ => 0,
            };
            depths.json = depths.json.max(json);
            let is_type = matches!(content, ItemContent::Type(_));
            Ok((content.len_utf16(), is_type))
        }
    }
}

/// How deeply containers nest in `value` (a container at the top is 1), with an explicit stack.
pub fn any_depth(value: &Any) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, around)) = stack.pop() {
        match value {
            Any::Array(items) => {
                deepest = deepest.max(around + 1);
                stack.extend(items.iter().map(|v| (v, around + 1)));
            }
            Any::Map(entries) => {
                deepest = deepest.max(around + 1);
                stack.extend(entries.values().map(|v| (v, around + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// The node holding `id` (each client's nodes are in clock order).
fn find(ids: &HashMap<u64, Vec<(u32, u32, usize)>>, id: &ID) -> Option<usize> {
    let nodes = ids.get(&id.client.get())?;
    let at = nodes.partition_point(|&(clock, _, _)| clock <= id.clock);
    let &(clock, len, node) = nodes.get(at.checked_sub(1)?)?;
    (id.clock - clock < len).then_some(node)
}

/// The deepest type, following parents one link at a time. A parent the update does not hold,
/// or a cycle of neighbours (which yrs cannot integrate), counts as a root.
fn type_depth(nodes: &[Node], ids: &HashMap<u64, Vec<(u32, u32, usize)>>) -> usize {
    // Marks the nodes of the walk in progress (the walk's number), to see cycles.
    let mut walk = vec![usize::MAX; nodes.len()];
    // Which type each node sits in (`Some(None)`: a root, or unknown).
    let mut branch: Vec<Option<Option<usize>>> = vec![None; nodes.len()];
    for start in 0..nodes.len() {
        let mut path = Vec::new();
        let mut at = start;
        let found = loop {
            if let Some(known) = branch[at] {
                break known;
            }
            if walk[at] == start {
                break None;
            }
            walk[at] = start;
            path.push(at);
            match nodes[at].named {
                Named::Root => break None,
                Named::Type(id) => break find(ids, &id).filter(|&n| nodes[n].is_type),
                Named::Neighbour(id) => match find(ids, &id) {
                    Some(n) => at = n,
                    None => break None,
                },
            }
        };
        for n in path {
            branch[n] = Some(found);
        }
    }
    // Each type's depth: one more than the type it sits in.
    let mut walk = vec![usize::MAX; nodes.len()];
    let mut depth: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut deepest = 0;
    for start in 0..nodes.len() {
        if !nodes[start].is_type || depth[start].is_some() {
            continue;
        }
        let mut path = vec![start];
        walk[start] = start;
        let mut base = 0;
        let mut at = start;
        while let Some(Some(parent)) = branch[at] {
            if let Some(known) = depth[parent] {
                base = known;
                break;
            }
            if walk[parent] == start {
                break;
            }
            walk[parent] = start;
            path.push(parent);
            at = parent;
        }
        for (n, d) in path.iter().rev().zip(base + 1..) {
            depth[*n] = Some(d);
        }
        deepest = deepest.max(depth[start].unwrap_or(0));
    }
    deepest
}
