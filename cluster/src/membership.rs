//! Which other nodes share the database, and which documents each has open.
//!
//! Exists so that a node broadcasts only what another node wants: for a lone node, or documents
//! no other node holds (a load balancer that sends each document to one node), a broadcast would
//! cost a database round trip every few drains for nobody. Each node says `hello` at start (and
//! after it lost track), `alive` every few seconds, and `open`/`close` as it loads and unloads
//! documents; a node heard from for the first time (or asking) is answered with what this one
//! has open. The time is passed in, so the table is tested without waiting.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use plait_protocol::name::DocName;

/// How often a node announces itself.
pub const HELLO_EVERY: Duration = Duration::from_secs(10);
/// A node not heard from for this long (three announcements) is taken to be gone.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(30);

/// The other nodes heard from lately, and which documents each has open.
#[derive(Debug, Default)]
pub struct Membership {
    /// Each other node, when it was last heard, and the documents it has open.
    nodes: HashMap<String, Node>,
    /// How many other nodes have each document open. Read on every drain.
    wanted: HashMap<DocName, usize>,
}

/// One other node as this one knows it.
#[derive(Debug)]
struct Node {
    heard: Instant,
    open: HashSet<DocName>,
}

impl Membership {
    /// Records a message from `node` at `now`; true if it was not known (new, or back after a
    /// silence). Nodes silent for [`NODE_TIMEOUT`] are forgotten, with the documents they had
    /// open.
    pub fn heard(&mut self, node: &str, now: Instant) -> bool {
        let gone: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| now.saturating_duration_since(n.heard) >= NODE_TIMEOUT)
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(gone) = self.nodes.remove(&id) {
                for doc in &gone.open {
                    drop_one(&mut self.wanted, doc);
                }
            }
        }
        match self.nodes.get_mut(node) {
            Some(known) => {
                known.heard = now;
                false
            }
            None => {
                let open = HashSet::new();
                self.nodes
                    .insert(node.to_owned(), Node { heard: now, open });
                true
            }
        }
    }

    /// Forgets every node and what it has open, to learn them again from their answers.
    pub fn forget_all(&mut self) {
        self.nodes.clear();
        self.wanted.clear();
    }

    /// `node` opened (or closed) `docs`. Ignored for a node not heard from (its `hello` comes
    /// first on the channel).
    pub fn interest(&mut self, node: &str, open: bool, docs: &[DocName]) {
        let Some(known) = self.nodes.get_mut(node) else {
            return;
        };
        for doc in docs {
            if open {
                if known.open.insert(doc.clone()) {
                    *self.wanted.entry(doc.clone()).or_default() += 1;
                }
            } else if known.open.remove(doc) {
                drop_one(&mut self.wanted, doc);
            }
        }
    }

    /// Whether another node has `doc` open.
    pub fn wants(&self, doc: &DocName) -> bool {
        self.wanted.contains_key(doc)
    }

    /// How many other nodes have `doc` open.
    pub fn open_elsewhere(&self, doc: &DocName) -> usize {
        self.wanted.get(doc).copied().unwrap_or(0)
    }

    /// How many other nodes were heard within [`NODE_TIMEOUT`] of `now`.
    pub fn other_nodes(&self, now: Instant) -> usize {
        self.nodes
            .values()
            .filter(|n| now.saturating_duration_since(n.heard) < NODE_TIMEOUT)
            .count()
    }
}

fn drop_one(wanted: &mut HashMap<DocName, usize>, doc: &DocName) {
    if let Some(count) = wanted.get_mut(doc) {
        *count -= 1;
        if *count == 0 {
            wanted.remove(doc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DocName {
        DocName::parse(s).expect("a valid name")
    }

    #[test]
    fn documents_are_wanted_while_another_node_has_them_open() {
        let start = Instant::now();
        let mut members = Membership::default();
        assert!(members.heard("a", start), "new");
        assert!(!members.heard("a", start), "known");
        assert!(members.heard("b", start));
        members.interest("a", true, &[name("x"), name("y")]);
        members.interest("b", true, &[name("x")]);
        members.interest("unknown", true, &[name("z")]);
        assert_eq!(members.open_elsewhere(&name("x")), 2);
        assert!(members.wants(&name("y")) && !members.wants(&name("z")));
        members.interest("a", false, &[name("x"), name("y")]);
        assert_eq!(members.open_elsewhere(&name("x")), 1);
        assert!(!members.wants(&name("y")));
        assert_eq!(members.other_nodes(start), 2);
    }

    #[test]
    fn a_silent_node_is_forgotten_with_what_it_had_open() {
        let start = Instant::now();
        let mut members = Membership::default();
        members.heard("a", start);
        members.heard("b", start);
        members.interest("a", true, &[name("x")]);
        let later = start + NODE_TIMEOUT;
        assert_eq!(
            members.other_nodes(later),
            0,
            "neither heard within the timeout"
        );
        assert!(members.heard("b", later), "both were swept: b is new again");
        assert!(!members.wants(&name("x")), "a was swept, and x with it");
        assert_eq!(members.other_nodes(later), 1);
        assert!(
            !members.heard("b", later + Duration::from_secs(1)),
            "b is known now"
        );
        members.forget_all();
        assert_eq!(members.other_nodes(later), 0);
    }
}
