//! Rejects v1 updates whose clock layout yrs 0.28.1 cannot integrate safely.
//!
//! yrs adds block and deletion lengths to `u32` clocks unchecked (wrapping in release builds), and
//! appends the blocks of a client listed twice to one list with overlapping clocks. The
//! `handle_message` fuzz target found both reaching yrs' block store: divide by zero and index
//! out of bounds in `block_store.rs`, `unwrap` on `None` in `store.rs` (some of them while
//! unwinding, which aborts the process past the panic guard), and full states that no longer
//! decode. Yjs never writes such updates, so they are refused before yrs integrates them.
//!
//! The walk mirrors yrs' own `Update::decode_v1` with yrs' own readers (block lengths come from
//! `ItemContent::decode`, so they are exactly the lengths yrs will use).

use crate::error::ProtocolError;
use std::collections::HashSet;
use yrs::block::{
    ItemContent, BLOCK_GC_REF_NUMBER, BLOCK_SKIP_REF_NUMBER, HAS_ORIGIN, HAS_PARENT_SUB,
    HAS_RIGHT_ORIGIN,
};
use yrs::encoding::read::{Cursor, Error, Read};
use yrs::updates::decoder::{Decoder, DecoderV1};

/// Why an update's clocks are refused.
fn invalid(why: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::InvalidUpdate(format!("clock layout: {why}"))
}

/// Checks that no block or deleted range runs past `u32::MAX`, that every client's blocks are
/// listed once, and that each client's deleted ranges are sorted and disjoint.
///
/// Runs before `Update::decode_v1` (which itself overflows on such clocks in debug builds).
/// Bytes that do not parse pass here: the decode that follows reports them with its own error.
pub(crate) fn check_clocks(update: &[u8]) -> Result<(), ProtocolError> {
    let mut decoder = DecoderV1::new(Cursor::new(update));
    match check_blocks(&mut decoder) {
        Ok(Ok(())) => check_delete_set(&mut decoder).unwrap_or(Ok(())),
        Ok(refused) => refused,
        Err(_) => Ok(()),
    }
}

/// The block section: `[clients][blocks client clock block*]*`.
fn check_blocks(decoder: &mut DecoderV1<'_>) -> Result<Result<(), ProtocolError>, Error> {
    let clients: u32 = decoder.read_var()?;
    let mut seen = HashSet::new();
    for _ in 0..clients {
        let blocks: u32 = decoder.read_var()?;
        let client = decoder.read_client()?;
        let mut clock: u32 = decoder.read_var()?;
        if !seen.insert(client) {
            return Ok(Err(invalid(format!("client {client} is listed twice"))));
        }
        for _ in 0..blocks {
            let len = block_len(decoder)?;
            match clock.checked_add(len) {
                Some(end) => clock = end,
                None => {
                    return Ok(Err(invalid(format!(
                        "a block of client {client} at clock {clock} with length {len} runs past \
                         u32::MAX"
                    ))))
                }
            }
        }
    }
    Ok(Ok(()))
}

/// Reads one block and returns the clock length yrs gives it (0 for content yrs drops).
fn block_len(decoder: &mut DecoderV1<'_>) -> Result<u32, Error> {
    let info = decoder.read_info()?;
    match info {
        BLOCK_SKIP_REF_NUMBER => decoder.read_var(),
        BLOCK_GC_REF_NUMBER => decoder.read_len(),
        info => {
            if info & HAS_ORIGIN != 0 {
                decoder.read_left_id()?;
            }
            if info & HAS_RIGHT_ORIGIN != 0 {
                decoder.read_right_id()?;
            }
            let cant_copy_parent_info = info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0;
            if cant_copy_parent_info {
                if decoder.read_parent_info()? {
                    decoder.read_string()?;
                } else {
                    decoder.read_left_id()?;
                }
                if info & HAS_PARENT_SUB != 0 {
                    decoder.read_string()?;
                }
            }
            Ok(ItemContent::decode(decoder, info)?.len_utf16())
        }
    }
}

/// The delete set: `[clients][client ranges (clock len)*]*`.
fn check_delete_set(decoder: &mut DecoderV1<'_>) -> Result<Result<(), ProtocolError>, Error> {
    let clients: u32 = decoder.read_var()?;
    let mut seen = HashSet::new();
    for _ in 0..clients {
        decoder.reset_ds_cur_val();
        let client: u64 = decoder.read_var()?;
        if !seen.insert(client) {
            return Ok(Err(invalid(format!(
                "client {client} is listed twice in the delete set"
            ))));
        }
        let ranges: u32 = decoder.read_var()?;
        let mut previous_end = 0u32;
        for _ in 0..ranges {
            let clock = decoder.read_ds_clock()?;
            let len = decoder.read_ds_len()?;
            let Some(end) = clock.checked_add(len) else {
                return Ok(Err(invalid(format!(
                    "deleted range {clock}+{len} of client {client} runs past u32::MAX"
                ))));
            };
            // yrs keeps decoded ranges as they come (`IdRanges::from_raw`) but relies on them
            // being sorted and disjoint, which is how Yjs writes them.
            if clock < previous_end {
                return Ok(Err(invalid(format!(
                    "deleted ranges of client {client} are not sorted and disjoint"
                ))));
            }
            previous_end = end;
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::check_clocks;
    use yrs::updates::encoder::Encode;
    use yrs::{Doc, ReadTxn, StateVector, Text, Transact, Update};

    #[test]
    fn real_updates_pass() {
        let doc = Doc::with_client_id(3);
        let text = doc.get_or_insert_text("t");
        text.push(&mut doc.transact_mut(), "hello 🌍 world");
        text.remove_range(&mut doc.transact_mut(), 1, 3);
        text.remove_range(&mut doc.transact_mut(), 0, 1);
        let map = doc.get_or_insert_map("m");
        yrs::Map::insert(&map, &mut doc.transact_mut(), "k", 1);
        let full = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        assert_eq!(check_clocks(&full), Ok(()));
        assert_eq!(check_clocks(&Update::new().encode_v1()), Ok(()));
    }

    #[test]
    fn wrapping_and_repeated_clients_are_refused() {
        // One client, one GC block at clock u32::MAX of length 42.
        let wrap = [1, 1, 42, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 42, 0];
        assert!(check_clocks(&wrap).is_err());
        // Client 7 listed twice, both at clock 0.
        let twice = [2, 1, 7, 0, 0, 1, 1, 7, 0, 0, 1, 0];
        assert!(check_clocks(&twice).is_err());
        // A deleted range that wraps, and two that overlap.
        let ds_wrap = [0, 1, 7, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 2];
        assert!(check_clocks(&ds_wrap).is_err());
        let ds_overlap = [0, 1, 7, 2, 5, 3, 6, 1];
        assert!(check_clocks(&ds_overlap).is_err());
        let ds_sorted = [0, 1, 7, 2, 5, 3, 8, 1];
        assert_eq!(check_clocks(&ds_sorted), Ok(()));
    }
}
