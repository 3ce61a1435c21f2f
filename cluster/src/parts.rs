//! An update too large for one notification travels in numbered parts; the receiver joins them.

use std::collections::HashMap;

use plait_protocol::name::DocName;

/// Updates up to this size are broadcast in parts; larger ones reach the other nodes only once
/// stored (the commit's notification).
pub const MAX_BROADCAST_UPDATE: usize = 256 * 1024;
/// Parts of one update at most: [`MAX_BROADCAST_UPDATE`] in the smallest chunks (the longest
/// name).
pub(crate) const MAX_PARTS: usize = 64;
/// Updates being joined at once at most, per feed: past it, they are dropped (their rows bring
/// them). Parts of one update are sent together, so only a failed send leaves one unfinished.
pub const MAX_JOINING: usize = 16;

/// One part of a large update, as read.
#[derive(Debug, PartialEq, Eq)]
pub struct Part {
    pub doc: DocName,
    /// Numbers the sending node's large updates.
    pub id: u64,
    pub index: usize,
    /// How many parts the update has; `index < count <= MAX_PARTS` (checked when read).
    pub count: usize,
    pub chunk: Vec<u8>,
}

/// Joins the parts of the large updates other nodes send.
#[derive(Debug, Default)]
pub struct Joiner {
    /// By node and update id.
    joining: HashMap<(String, u64), Joining>,
}

/// One large update being joined.
#[derive(Debug)]
struct Joining {
    doc: DocName,
    /// Its chunks, `None` until received.
    chunks: Vec<Option<Vec<u8>>>,
}

impl Joiner {
    /// Takes one part of `node`'s; the document and the whole update once its last part is in.
    pub fn add(&mut self, node: &str, part: Part) -> Option<(DocName, Vec<u8>)> {
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
        *joining.chunks.get_mut(part.index)? = Some(part.chunk);
        if joining.chunks.iter().any(Option::is_none) {
            return None;
        }
        let Joining { doc, chunks } = self.joining.remove(&key)?;
        Some((doc, chunks.into_iter().flatten().flatten().collect()))
    }

    /// How many updates are being joined.
    pub fn len(&self) -> usize {
        self.joining.len()
    }

    /// Whether no update is being joined.
    pub fn is_empty(&self) -> bool {
        self.joining.is_empty()
    }

    /// Forgets every unfinished update (after a lost connection, whose parts never come).
    pub fn clear(&mut self) {
        self.joining.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_update_is_dropped_once_too_many_are_joining() {
        let mut joiner = Joiner::default();
        let doc = DocName::parse("d").expect("a valid name");
        let part = |id: u64, index: usize| Part {
            doc: doc.clone(),
            id,
            index,
            count: 2,
            chunk: vec![index as u8],
        };
        for id in 0..MAX_JOINING as u64 {
            assert_eq!(joiner.add("n", part(id, 0)), None);
        }
        assert_eq!(joiner.len(), MAX_JOINING);
        assert_eq!(joiner.add("n", part(99, 0)), None);
        assert_eq!(joiner.len(), 1, "the unfinished ones were dropped");
        assert_eq!(joiner.add("n", part(0, 1)), None, "0's first part is gone");
        let whole = joiner
            .add("n", part(99, 1))
            .map(|(d, data)| (d.to_string(), data));
        assert_eq!(whole, Some(("d".to_owned(), vec![0, 1])));
    }
}
