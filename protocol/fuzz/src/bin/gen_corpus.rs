//! Writes the seed corpus: `gen_corpus <corpus-root>` creates `<root>/decode_frame/*` (single
//! frames, plus all of them in one frame), `<root>/handle_message/*` and
//! `<root>/hocuspocus_frame/*` (conversations in the step format of `plait_fuzz::split_steps`, of
//! y-websocket and of Hocuspocus frames), `<root>/nested_update/*` (plans, see
//! `plait_fuzz::plan`) and `<root>/replay_rows/*` (a flags byte, then a plan). libFuzzer mutates
//! from these instead of from nothing.
//!
//! Besides ordinary frames it writes valid updates nesting values and shared types at the
//! depths that matter: a little, just under, at and just over the default limit of 128, the
//! largest limit (1000) and past it, and thousands deep (issue 20, D1: yrs overflowed its stack
//! on those). Random mutation alone never built them (see protocol/fuzz/README.md).

use plait_fuzz::plan::{self, op, PlanWriter};
use plait_fuzz::{hocuspocus_seed_frames, join_steps, seed_frames, CTL_CLOSE_AFTER, CTL_READ_ONLY};
use plait_protocol::frame::encode_update;
use std::path::{Path, PathBuf};

/// The update of issue 20 (D1): one item in map "m" under key "k" holding arrays nested
/// `depth` deep.
fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut update = vec![
        0x01, 0x01, 0x7b, 0x00, 0x28, 0x01, 0x01, b'm', 0x01, b'k', 0x01,
    ];
    for _ in 0..depth {
        update.extend_from_slice(&[0x75, 0x01]);
    }
    update.extend_from_slice(&[0x7e, 0x00]);
    update
}

/// Depths around the limits: the default (128) and the largest allowed (1000).
const EDGES: [u16; 7] = [1, 2, 127, 128, 129, 1000, 1001];
/// Far past them: yrs' recursion overflows a 2 MiB stack at a few thousand levels.
const DEEP: [u16; 2] = [3000, 6000];

/// The nesting plans, by name: `(name, plan bytes)`. Each one's updates are also seeds of the
/// frame targets.
fn plans() -> Vec<(String, Vec<u8>)> {
    let mut plans = Vec::new();
    let mut add = |name: String, writer: PlanWriter| plans.push((name, writer.0));
    // Selector 0: the default limit (see plait_fuzz::LIMITS); 0x10: stored updates (limit 1000).
    for depth in EDGES.into_iter().chain(DEEP) {
        add(
            format!("value_arrays_{depth}"),
            PlanWriter::new(0).nested_value(op::IN_ROOT_MAP, depth, false),
        );
        add(
            format!("map_chain_{depth}"),
            PlanWriter::new(0).chain(op::K_MAP, depth, op::IN_ROOT_MAP),
        );
        add(
            format!("stored_map_chain_{depth}"),
            PlanWriter::new(0x10).chain(op::K_MAP, depth, op::IN_ROOT_MAP),
        );
    }
    for depth in [127, 128, 129, 3000] {
        add(
            format!("value_maps_{depth}"),
            PlanWriter::new(0).nested_value(op::IN_ROOT_ARRAY, depth, true),
        );
        add(
            format!("subdoc_options_{depth}"),
            PlanWriter::new(0).nested_subdoc(op::IN_ROOT_MAP, depth),
        );
        for (kind, name) in [
            (op::K_ARRAY, "array"),
            (op::K_XML, "xml"),
            (op::K_MIXED, "mixed"),
            (op::K_TEXT, "text"),
        ] {
            add(
                format!("{name}_chain_{depth}"),
                PlanWriter::new(0).chain(kind, depth, op::IN_ROOT_ARRAY),
            );
        }
    }
    // The document's own depth counts: 64 levels in one update, then 64 or 65 more inside the
    // deepest in the next one (128 is taken, 129 refused).
    for more in [64, 65] {
        add(
            format!("two_updates_64_then_{more}"),
            PlanWriter::new(0)
                .chain(op::K_MAP, 64, op::IN_ROOT_MAP)
                .next_update()
                .chain(op::K_MAP, more, op::IN_LAST_TYPE_KEY),
        );
    }
    // Types placed by their neighbours (no parent info): yrs takes the neighbour's parent.
    add(
        "neighbours".to_owned(),
        PlanWriter::new(0)
            .chain(op::K_ARRAY, 126, op::IN_ROOT_ARRAY)
            .string(op::IN_LAST_TYPE_SEQ)
            .new_type(op::K_ARRAY, op::AFTER_LAST_IN_LAST_TYPE)
            .new_type(op::K_MAP, op::BEFORE_FIRST_IN_LAST_TYPE)
            .chain(op::K_MAP, 2, op::IN_LAST_TYPE_KEY),
    );
    add(
        "neighbours_next_update".to_owned(),
        PlanWriter::new(0)
            .chain(op::K_ARRAY, 100, op::IN_ROOT_ARRAY)
            .string(op::IN_LAST_TYPE_SEQ)
            .next_update()
            .new_type(op::K_ARRAY, op::AFTER_LAST_IN_LAST_TYPE)
            .chain(op::K_MAP, 30, op::IN_LAST_TYPE_KEY),
    );
    // Two clients in one update, nesting into each other; then deletions of nested types.
    add(
        "two_clients_and_deletions".to_owned(),
        PlanWriter::new(0)
            .chain(op::K_MAP, 60, op::IN_ROOT_MAP)
            .next_client()
            .chain(op::K_ARRAY, 60, op::IN_LAST_TYPE_KEY)
            .mixed_value(op::IN_LAST_TYPE_SEQ)
            .delete(61)
            .next_update()
            .delete(3)
            .delete(100),
    );
    add(
        "mixed_content".to_owned(),
        PlanWriter::new(2)
            .mixed_value(op::IN_ROOT_MAP)
            .new_type(op::K_TEXT, op::IN_ROOT_MAP)
            .string(op::IN_LAST_TYPE_SEQ)
            .string(op::AFTER_LAST_IN_LAST_TYPE)
            .nested_value(op::IN_LAST_TYPE_SEQ, 3, true)
            .nested_subdoc(op::IN_ROOT_ARRAY, 2)
            .raw(&[0, 0]),
    );
    // A small limit (selector 6: LIMITS[6] = 1).
    add(
        "limit_1".to_owned(),
        PlanWriter::new(6)
            .nested_value(op::IN_ROOT_MAP, 1, false)
            .chain(op::K_MAP, 2, op::IN_ROOT_MAP),
    );
    plans
}

fn write_all(dir: &Path, seeds: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("seed_{name}")), bytes)?;
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "corpus".to_owned()),
    );
    let frames = seed_frames();
    let plans = plans();

    // Frames holding nested updates: the bytes of issue 20, and every plan's updates.
    let mut nested: Vec<(String, Vec<u8>)> = EDGES
        .into_iter()
        .chain(DEEP)
        .chain([10_000])
        .map(|depth| {
            let update = nested_arrays(usize::from(depth));
            (format!("issue20_arrays_{depth}"), encode_update(&update))
        })
        .collect();
    for (name, bytes) in &plans {
        let planned = plan::read(bytes);
        for (i, update) in planned.updates.iter().enumerate() {
            nested.push((format!("{name}_{i}"), encode_update(&update.bytes)));
        }
    }

    let dir = root.join("decode_frame");
    std::fs::create_dir_all(&dir)?;
    for (name, frame) in &frames {
        std::fs::write(dir.join(format!("seed_{name}")), frame)?;
    }
    let all: Vec<u8> = frames.iter().flat_map(|(_, f)| f.iter().copied()).collect();
    std::fs::write(dir.join("seed_all_in_one_frame"), all)?;
    write_all(&dir, &nested)?;

    let dir = root.join("handle_message");
    std::fs::create_dir_all(&dir)?;
    for (name, frame) in &frames {
        std::fs::write(
            dir.join(format!("seed_writer_{name}")),
            join_steps(&[(0, frame.clone())]),
        )?;
        std::fs::write(
            dir.join(format!("seed_reader_{name}")),
            join_steps(&[(CTL_READ_ONLY, frame.clone())]),
        )?;
    }
    // A whole conversation: both connect, the writer edits, both share presence, one leaves.
    let conversation: Vec<(u8, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(i, (_, f))| {
            let ctl = if i % 2 == 0 { 0 } else { CTL_READ_ONLY };
            (ctl, f.clone())
        })
        .chain([(CTL_READ_ONLY | CTL_CLOSE_AFTER, vec![3])])
        .collect();
    std::fs::write(dir.join("seed_conversation"), join_steps(&conversation))?;
    // Each nested update as a writer's step (a step holds at most 65 535 bytes: deeper ones
    // stay in decode_frame), and each multi-update plan as one conversation.
    let steps: Vec<(String, Vec<u8>)> = nested
        .iter()
        .filter(|(_, frame)| frame.len() <= usize::from(u16::MAX))
        .map(|(name, frame)| (name.clone(), join_steps(&[(0, frame.clone())])))
        .collect();
    write_all(&dir, &steps)?;
    for (name, bytes) in &plans {
        let planned = plan::read(bytes);
        if planned.updates.len() > 1 {
            let steps: Vec<(u8, Vec<u8>)> = planned
                .updates
                .iter()
                .map(|u| (0, encode_update(&u.bytes)))
                .collect();
            std::fs::write(
                dir.join(format!("seed_conversation_{name}")),
                join_steps(&steps),
            )?;
        }
    }

    write_all(&root.join("nested_update"), &plans)?;

    // hocuspocus_frame: each provider frame from either session, and a conversation: both
    // authenticate and sync, the writer edits, both share presence, the reader asks for it,
    // detaches (Close) and answers a ping; then the writer leaves.
    let hocuspocus = hocuspocus_seed_frames();
    let dir = root.join("hocuspocus_frame");
    std::fs::create_dir_all(&dir)?;
    for (name, frame) in &hocuspocus {
        std::fs::write(
            dir.join(format!("seed_writer_{name}")),
            join_steps(&[(0, frame.clone())]),
        )?;
        std::fs::write(
            dir.join(format!("seed_reader_{name}")),
            join_steps(&[(CTL_READ_ONLY, frame.clone())]),
        )?;
    }
    let frame = |name: &str| {
        hocuspocus
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .unwrap_or_else(|| panic!("no Hocuspocus seed {name}"))
    };
    let conversation = [
        (0, "auth_token_4x"),
        (CTL_READ_ONLY, "auth_token_3x"),
        (0, "step1_empty"),
        (CTL_READ_ONLY, "sync_reply_step1_empty"),
        (0, "update_insert"),
        (0, "session_awareness_present"),
        (CTL_READ_ONLY, "awareness_present"),
        (0, "update_delete"),
        (0, "stateless"),
        (CTL_READ_ONLY, "query_awareness"),
        (CTL_READ_ONLY, "close"),
        (CTL_READ_ONLY, "pong"),
        (CTL_CLOSE_AFTER, "step1_after_insert"),
    ]
    .map(|(ctl, name)| (ctl, frame(name)));
    std::fs::write(dir.join("seed_conversation"), join_steps(&conversation))?;

    // replay_rows: no snapshot; the first update as the snapshot; the first update compacted
    // into one; rows reversed (the retry passes); each row twice.
    let mut replays = Vec::new();
    for (name, bytes) in &plans {
        for (flags, how) in [
            (0x00, "rows"),
            (0x03, "snapshot"),
            (0x11, "compacted"),
            (0x04, "reversed"),
            (0x0c, "twice"),
        ] {
            let mut input = vec![flags];
            input.extend_from_slice(bytes);
            replays.push((format!("{how}_{name}"), input));
        }
    }
    write_all(&root.join("replay_rows"), &replays)?;
    println!("seed corpus written under {}", root.display());
    Ok(())
}
