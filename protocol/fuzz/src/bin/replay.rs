//! Debug aid: `replay <input>` walks a `handle_message` input step by step and prints every
//! message, the decoded update, what the handler returned and whether the results decode, so a
//! crash can be triaged without a debugger.

use plait_fuzz::split_steps;
use plait_protocol::frame::{decode_frame, Limits};
use plait_protocol::session::{handle, DocState, Outgoing, Session};
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::{Doc, Update};

fn describe(bytes: &[u8]) -> String {
    match Update::decode_v1(bytes) {
        Ok(u) => format!("{u:?}"),
        Err(e) => format!("DOES NOT DECODE: {e}"),
    }
}

fn main() -> std::io::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_default();
    let data = std::fs::read(path)?;
    let limits = Limits::default();
    let mut state = DocState::new(Doc::with_client_id(1));
    let mut sessions = [Session::new(false), Session::new(true)];
    for (i, step) in split_steps(&data).iter().enumerate() {
        println!(
            "step {i}: read_only={} close={} frame={:02x?}",
            step.read_only, step.close_after, step.frame
        );
        let session = &mut sessions[usize::from(step.read_only)];
        match decode_frame(step.frame, &limits) {
            Err(e) => println!("  frame error: {e}"),
            Ok(messages) => {
                for msg in messages {
                    println!("  msg {msg:?}");
                    if let Message::Sync(SyncMessage::SyncStep2(u) | SyncMessage::Update(u)) = &msg
                    {
                        println!("     {}", describe(u));
                    }
                    match handle(&mut state, session, msg) {
                        Err(e) => {
                            println!("  -> error {e}");
                            *session = Session::new(step.read_only);
                            break;
                        }
                        Ok(out) => {
                            for o in out {
                                match o {
                                    Outgoing::Update(u) => {
                                        println!("  -> update {u:02x?}\n     {}", describe(&u))
                                    }
                                    other => println!("  -> {other:?}"),
                                }
                            }
                        }
                    }
                }
            }
        }
        let encoded = state.encode_state();
        println!("  state {encoded:02x?}\n     {}", describe(&encoded));
    }
    Ok(())
}
