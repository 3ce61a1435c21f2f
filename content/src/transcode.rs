//! Rewrites a Yjs v1 update so that a text's formatting boundaries become visible list items.
//!
//! yrs reports a text's formatting (`Text::diff`) as a `HashMap` per chunk, which loses the order
//! Yjs' `toDelta()` gives (the order in which each attribute was set walking the text) and that
//! y-prosemirror turns into the order of a text node's `marks`. yrs keeps the items themselves
//! private. So the document is encoded, every formatting item (`ContentFormat`, not countable) is
//! replaced by an embed (`ContentEmbed`, countable, the same length of 1) carrying its key and
//! value, and the result is loaded into a second document: the same items with the same ids,
//! origins and deletions integrate into the same order, and `diff` there lists the boundaries
//! where they are. See [`crate::shadow`].
//!
//! Markers: a formatting item becomes the embed `[key, value]` (a 2-element array) and an
//! original embed `v` becomes `[v]`, so the two cannot be confused. Content the marked text never
//! reads is blanked to nulls of the same length (JSON-like values, bytes, subdocuments), which
//! keeps the copy small and never creates a subdocument.

use yrs::block::{
    ItemContent, BLOCK_GC_REF_NUMBER, BLOCK_SKIP_REF_NUMBER, HAS_ORIGIN, HAS_PARENT_SUB,
    HAS_RIGHT_ORIGIN,
};
use yrs::encoding::read::{Error, Read};
use yrs::encoding::write::Write;
use yrs::updates::decoder::{Decoder, DecoderV1};
use yrs::updates::encoder::{Encoder, EncoderV1};
use yrs::Any;

/// The update `update_v1` with formatting items turned into marker embeds (see the module doc).
pub(crate) fn mark_formats(update_v1: &[u8]) -> Result<Vec<u8>, Error> {
    let mut decoder = DecoderV1::from(update_v1);
    let mut encoder = EncoderV1::new();
    let clients: u32 = decoder.read_var()?;
    encoder.write_var(clients);
    for _ in 0..clients {
        let blocks: u32 = decoder.read_var()?;
        let client = decoder.read_client()?;
        let clock: u32 = decoder.read_var()?;
        encoder.write_var(blocks);
        encoder.write_client(client);
        encoder.write_var(clock);
        for _ in 0..blocks {
            copy_block(&mut decoder, &mut encoder)?;
        }
    }
    // The delete set, unchanged.
    let rest = decoder.read_to_end()?;
    encoder.write_all(rest);
    Ok(encoder.to_vec())
}

fn copy_block(decoder: &mut DecoderV1, encoder: &mut EncoderV1) -> Result<(), Error> {
    let info = decoder.read_info()?;
    match info {
        BLOCK_SKIP_REF_NUMBER => {
            let len: u32 = decoder.read_var()?;
            encoder.write_info(info);
            encoder.write_var(len);
        }
        BLOCK_GC_REF_NUMBER => {
            let len = decoder.read_len()?;
            encoder.write_info(info);
            encoder.write_len(len);
        }
        _ => {
            let origin = if info & HAS_ORIGIN != 0 {
                Some(decoder.read_left_id()?)
            } else {
                None
            };
            let right_origin = if info & HAS_RIGHT_ORIGIN != 0 {
                Some(decoder.read_right_id()?)
            } else {
                None
            };
            let cant_copy_parent_info = info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0;
            let mut parent_name = None;
            let mut parent_id = None;
            let mut parent_sub = None;
            if cant_copy_parent_info {
                if decoder.read_parent_info()? {
                    parent_name = Some(decoder.read_string()?.to_owned());
                } else {
                    parent_id = Some(decoder.read_left_id()?);
                }
                if info & HAS_PARENT_SUB != 0 {
                    parent_sub = Some(decoder.read_string()?.to_owned());
                }
            }
            let content = marked(ItemContent::decode(decoder, info)?);

            encoder.write_info((info & !0b1_1111) | content.get_ref_number());
            if let Some(id) = &origin {
                encoder.write_left_id(id);
            }
            if let Some(id) = &right_origin {
                encoder.write_right_id(id);
            }
            if cant_copy_parent_info {
                match (&parent_name, &parent_id) {
                    (Some(name), _) => {
                        encoder.write_parent_info(true);
                        encoder.write_string(name);
                    }
                    (None, Some(id)) => {
                        encoder.write_parent_info(false);
                        encoder.write_left_id(id);
                    }
                    (None, None) => {}
                }
                if let Some(sub) = &parent_sub {
                    encoder.write_string(sub);
                }
            }
            content.encode(encoder);
        }
    }
    Ok(())
}

/// The content a marked copy holds instead of `content` (same length).
fn marked(content: ItemContent) -> ItemContent {
    match content {
        ItemContent::Format(key, value) => {
            ItemContent::Embed(Any::Array(vec![Any::String(key), *value].into()))
        }
        ItemContent::Embed(value) => ItemContent::Embed(Any::Array(vec![value].into())),
        ItemContent::Any(values) => ItemContent::Any(vec![Any::Null; values.len()]),
        ItemContent::JSON(values) => ItemContent::Any(vec![Any::Null; values.len()]),
        ItemContent::Binary(_) | ItemContent::Doc(_, _) => ItemContent::Any(vec![Any::Null]),
        other @ (ItemContent::String(_) | ItemContent::Type(_) | ItemContent::Deleted(_)) => other,
    }
}
