//! Writes the seed corpus: `gen_corpus <corpus-root>` creates `<root>/decode_frame/*` (single
//! frames, plus all of them in one frame) and `<root>/handle_message/*` (conversations in the
//! step format of `plait_fuzz::split_steps`). libFuzzer mutates from these instead of from nothing.

use plait_fuzz::{join_steps, seed_frames, CTL_CLOSE_AFTER, CTL_READ_ONLY};
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "corpus".to_owned()),
    );
    let frames = seed_frames();

    let dir = root.join("decode_frame");
    std::fs::create_dir_all(&dir)?;
    for (name, frame) in &frames {
        std::fs::write(dir.join(format!("seed_{name}")), frame)?;
    }
    let all: Vec<u8> = frames.iter().flat_map(|(_, f)| f.iter().copied()).collect();
    std::fs::write(dir.join("seed_all_in_one_frame"), all)?;

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
    println!("seed corpus written under {}", root.display());
    Ok(())
}
