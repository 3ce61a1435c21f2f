//! Writing plans: the seed corpus and the plan's own tests.

use super::*;

/// Writes plan inputs (for the seed corpus and the tests of the plan itself).
#[derive(Debug, Clone, Default)]
pub struct PlanWriter(pub Vec<u8>);

impl PlanWriter {
    pub fn new(selector: u8) -> Self {
        PlanWriter(vec![selector])
    }

    /// A value item at `place`: `depth` single-entry arrays (or maps) around null.
    pub fn nested_value(mut self, place: [u8; 2], depth: u16, maps: bool) -> Self {
        self.0.push(op::VALUE);
        self.0.extend_from_slice(&place);
        self.wrap(depth, maps)
    }

    /// A subdocument at `place` whose options nest `depth` deep.
    pub fn nested_subdoc(mut self, place: [u8; 2], depth: u16) -> Self {
        self.0.push(op::SUBDOC);
        self.0.extend_from_slice(&place);
        self.wrap(depth, true)
    }

    fn wrap(mut self, depth: u16, maps: bool) -> Self {
        let code = if maps {
            op::V_WRAP_MAPS
        } else {
            op::V_WRAP_ARRAYS
        };
        self.0.push(code);
        self.count(depth);
        self.0.push(op::V_NULL);
        self
    }

    fn count(&mut self, count: u16) {
        match u8::try_from(count) {
            Ok(small) if small < 0xf0 => self.0.push(small),
            _ => {
                self.0.push(0xff);
                self.0.extend_from_slice(&count.to_le_bytes());
            }
        }
    }

    /// A value item of mixed content: `[1, "s", {"a": null, "b": [true]}]`-like.
    pub fn mixed_value(mut self, place: [u8; 2]) -> Self {
        self.0.push(op::VALUE);
        self.0.extend_from_slice(&place);
        // array of 3: int, string, map of 2: null, array of 1: true
        self.0
            .extend_from_slice(&[op::V_ARRAY, 2, 1, 7, 2, op::V_MAP, 1, 0, op::V_ARRAY, 0, 6]);
        self
    }

    pub fn new_type(mut self, kind: u8, place: [u8; 2]) -> Self {
        self.0.push(op::TYPE);
        self.0.push(kind);
        self.0.extend_from_slice(&place);
        self
    }

    pub fn chain(mut self, kind: u8, count: u16, place: [u8; 2]) -> Self {
        self.0.push(op::CHAIN);
        self.0.push(kind);
        self.count(count);
        self.0.extend_from_slice(&place);
        self
    }

    pub fn string(mut self, place: [u8; 2]) -> Self {
        self.0.push(op::STRING);
        self.0.extend_from_slice(&place);
        self
    }

    /// Ends the update; what follows goes into the next one.
    pub fn next_update(mut self) -> Self {
        self.0.extend_from_slice(&[op::SPLIT, 0]);
        self
    }

    /// A second client in the same update.
    pub fn next_client(mut self) -> Self {
        self.0.extend_from_slice(&[op::SPLIT, 1]);
        self
    }

    /// Deletes the `back`-th item counting back from the last one.
    pub fn delete(mut self, back: u8) -> Self {
        self.0.extend_from_slice(&[op::DELETE, back]);
        self
    }

    pub fn raw(mut self, bytes: &[u8]) -> Self {
        let len = bytes.len().min(255);
        self.0.push(op::RAW);
        self.0.push(len as u8);
        self.0.extend_from_slice(&bytes[..len]);
        self
    }
}
