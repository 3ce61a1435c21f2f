//! Reading the inserted strings of a Yjs v1 update without a document, and
//! the time stamps the scenarios put into those strings.
//!
//! Applying every received update to a yrs `Doc` would make the load
//! generator, not the server, the bottleneck. yrs keeps its decoded blocks
//! crate-private, so this walks the block structure with yrs' public
//! `DecoderV1` and `ItemContent::decode`, in the order of yrs 0.28.1
//! `Update::decode_block`. The delete set after the blocks is not needed.

use crate::error::{BenchError, Result};
use std::hash::{BuildHasher, Hasher};
use yrs::block::{ClientID, ItemContent};
use yrs::encoding::read::Read;
use yrs::updates::decoder::{Decode, Decoder, DecoderV1};

const BLOCK_GC: u8 = 0;
const BLOCK_SKIP: u8 = 10;
const HAS_ORIGIN: u8 = 0x80;
const HAS_RIGHT_ORIGIN: u8 = 0x40;
const HAS_PARENT_SUB: u8 = 0x20;

fn bad(e: impl std::fmt::Display) -> BenchError {
    BenchError::Update(e.to_string())
}

/// Call `f(client, text)` for every string item of a v1 update.
pub fn for_each_string(update: &[u8], mut f: impl FnMut(ClientID, &str)) -> Result<()> {
    let mut d = DecoderV1::from(update);
    let clients: u32 = d.read_var().map_err(bad)?;
    for _ in 0..clients {
        let blocks: u32 = d.read_var().map_err(bad)?;
        let client = d.read_client().map_err(bad)?;
        let _first_clock: u32 = d.read_var().map_err(bad)?;
        for _ in 0..blocks {
            match d.read_info().map_err(bad)? {
                BLOCK_SKIP => {
                    let _len: u32 = d.read_var().map_err(bad)?;
                }
                BLOCK_GC => {
                    d.read_len().map_err(bad)?;
                }
                info => {
                    // Without origins, the parent is written explicitly.
                    let explicit_parent = info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0;
                    if info & HAS_ORIGIN != 0 {
                        d.read_left_id().map_err(bad)?;
                    }
                    if info & HAS_RIGHT_ORIGIN != 0 {
                        d.read_right_id().map_err(bad)?;
                    }
                    if explicit_parent {
                        if d.read_parent_info().map_err(bad)? {
                            d.read_string().map_err(bad)?;
                        } else {
                            d.read_left_id().map_err(bad)?;
                        }
                        if info & HAS_PARENT_SUB != 0 {
                            d.read_string().map_err(bad)?;
                        }
                    }
                    if let ItemContent::String(s) =
                        ItemContent::decode(&mut d, info).map_err(bad)?
                    {
                        f(client, s.as_str());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Full yrs decode, for `--validate`: proves the walker did not accept
/// something yrs itself rejects.
pub fn validate(update: &[u8]) -> Result<()> {
    yrs::Update::decode_v1(update).map(|_| ()).map_err(bad)
}

/// A random 32-bit client id, as Yjs in the browser picks. yrs 0.28 would
/// pick 53-bit ids, which older yrs servers (y-sweet, yrs 0.19) mangle, so
/// the writer would no longer recognise its own echoed items.
pub fn random_client_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the OS once per process; the counter makes
    // every call differ.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    u64::from((h.finish() as u32).max(1))
}

/// A document owned by one simulated client.
pub fn new_doc() -> yrs::Doc {
    yrs::Doc::with_client_id(random_client_id())
}

/// `~<scheduled µs>+<lag µs>|` padded with `.` to `size` bytes. `scheduled`
/// is the planned send instant since the run's epoch, `lag` how late the
/// update actually left: receivers get the latency from the schedule (safe
/// against coordinated omission) and from the actual send.
pub fn stamp(scheduled_us: u64, lag_us: u64, size: usize) -> String {
    let mut s = format!("~{scheduled_us}+{lag_us}|");
    let pad = size.saturating_sub(s.len());
    s.extend(std::iter::repeat_n('.', pad));
    s
}

/// Call `f(scheduled_us, lag_us)` for every well-formed stamp in `s`: a
/// server may merge one client's consecutive inserts into one string.
pub fn for_each_stamp(s: &str, mut f: impl FnMut(u64, u64)) {
    for part in s.split('~').skip(1) {
        let Some((body, _)) = part.split_once('|') else {
            continue;
        };
        let Some((a, b)) = body.split_once('+') else {
            continue;
        };
        if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
            f(a, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{GetString, Map, ReadTxn, Text, Transact};

    fn strings(update: &[u8]) -> Vec<(u64, String)> {
        let mut v = Vec::new();
        for_each_string(update, |c, s| v.push((c.get(), s.to_owned()))).unwrap();
        v
    }

    #[test]
    fn finds_the_inserted_strings_of_real_yrs_updates() {
        let doc = yrs::Doc::with_client_id(42);
        let text = doc.get_or_insert_text("text");
        let mut all = String::new();
        for (sched, lag) in [(5, 0), (123_456_789, 17)] {
            let mut txn = doc.transact_mut();
            let end = text.len(&txn);
            let st = stamp(sched, lag, 24);
            text.insert(&mut txn, end, &st);
            let u = txn.encode_update_v1();
            drop(txn);
            validate(&u).unwrap();
            assert_eq!(strings(&u), [(42, st.clone())]);
            all.push_str(&st);
        }
        assert_eq!(text.get_string(&doc.transact()), all);
        // the whole state: one merged string item of both inserts
        let full = doc
            .transact()
            .encode_state_as_update_v1(&Default::default());
        let mut got = Vec::new();
        for_each_string(&full, |_, s| for_each_stamp(s, |a, b| got.push((a, b)))).unwrap();
        assert_eq!(got, [(5, 0), (123_456_789, 17)]);
    }

    #[test]
    fn walks_past_map_entries_deletes_and_53_bit_clients() {
        let doc = yrs::Doc::with_client_id((1 << 53) - 1);
        let map = doc.get_or_insert_map("m");
        let text = doc.get_or_insert_text("t");
        let mut txn = doc.transact_mut();
        map.insert(&mut txn, "k", "not a text item");
        text.insert(&mut txn, 0, "abcdef");
        text.remove_range(&mut txn, 1, 2);
        text.insert(&mut txn, 0, "xy");
        let u = txn.encode_update_v1();
        drop(txn);
        let got = strings(&u);
        assert!(got.iter().all(|(c, _)| *c == (1 << 53) - 1));
        let joined: String = got.iter().map(|(_, s)| s.as_str()).collect();
        for piece in ["xy", "a", "def"] {
            assert!(joined.contains(piece), "{joined:?} lacks {piece}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(for_each_string(&[1, 1, 0x80], |_, _| {}).is_err());
        assert!(for_each_string(&[3, 200, 200, 200, 200, 200, 200], |_, _| {}).is_err());
    }

    #[test]
    fn stamps_parse_and_malformed_ones_are_skipped() {
        let s = stamp(7, 3, 20);
        assert_eq!(s, format!("~7+3|{}", ".".repeat(15)));
        let mut v = Vec::new();
        for_each_stamp(&format!("{s}~x|~|~3+|{}", stamp(333, 1, 0)), |a, b| {
            v.push((a, b))
        });
        assert_eq!(v, [(7, 3), (333, 1)]);
    }

    #[test]
    fn client_ids_are_random_and_fit_32_bits() {
        let a = random_client_id();
        let b = random_client_id();
        assert_ne!(a, b);
        assert!(a > 0 && a <= u64::from(u32::MAX));
    }
}
