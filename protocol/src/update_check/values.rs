//! Reading past one JSON-like value (lib0 `Any`) without recursion, refusing deep nesting.
//!
//! yrs' `Any::decode` calls itself for every array element and map value: its stack grows with
//! the nesting, and a value nested ~6 000 deep (2 bytes a level) overflows a worker's stack.
//! Here an explicit stack of open containers, bounded by the depth limit, does the same walk.

use yrs::encoding::read::{Error, Read};
use yrs::updates::decoder::DecoderV1;

/// Why a value was refused.
pub(super) enum TooDeep {
    /// The bytes do not parse as a value.
    Parse(Error),
    /// Containers nest more than `max` deep.
    Depth { max: usize },
}

impl From<Error> for TooDeep {
    fn from(error: Error) -> Self {
        TooDeep::Parse(error)
    }
}

/// One container being read: how many of its entries are left, and whether each is a map entry
/// (a key, then a value) or an array element.
struct Open {
    left: u64,
    map: bool,
}

/// Reads one value exactly as `Any::decode` does (same tags, same readers), refusing arrays and
/// maps nested more than `max_depth` deep. A container at the top is 1 deep.
pub(super) fn skip_any(decoder: &mut DecoderV1<'_>, max_depth: usize) -> Result<(), TooDeep> {
    let mut open: Vec<Open> = Vec::new();
    loop {
        if let Some(top) = open.last() {
            if top.map {
                decoder.read_string()?;
            }
        }
        match decoder.read_u8()? {
            // undefined, null, false, true
            127 | 126 | 121 | 120 => {}
            125 => {
                decoder.read_var::<i64>()?;
            }
            124 => {
                decoder.read_f32()?;
            }
            123 => {
                decoder.read_f64()?;
            }
            122 => {
                decoder.read_i64()?;
            }
            119 => {
                decoder.read_string()?;
            }
            116 => {
                decoder.read_buf()?;
            }
            tag @ (118 | 117) => {
                let left: u64 = decoder.read_var::<usize>()? as u64;
                if open.len() >= max_depth {
                    return Err(TooDeep::Depth { max: max_depth });
                }
                // An empty container is a complete value; a full one is read entry by entry.
                if left > 0 {
                    open.push(Open {
                        left,
                        map: tag == 118,
                    });
                    continue;
                }
            }
            _ => return Err(TooDeep::Parse(Error::UnexpectedValue)),
        }
        // A value is complete: it was an entry of the innermost container, and may complete it.
        loop {
            let Some(top) = open.last_mut() else {
                return Ok(());
            };
            top.left -= 1;
            if top.left > 0 {
                break;
            }
            open.pop();
        }
    }
}
