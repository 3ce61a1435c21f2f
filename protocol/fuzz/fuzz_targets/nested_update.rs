//! Fuzz target: updates built from a plan (see `plait_fuzz::plan`), checked and applied one
//! after another to one document, then everything deleted.
//!
//! The plan makes well-formed updates with values and shared types nested from 1 to 20 000
//! deep, types placed by parent, by left neighbour and by right neighbour, across several
//! updates and clients, so that one mutation of the input changes a depth, a parent or a limit
//! instead of breaking the encoding. The first input byte picks the nesting limit
//! (`plait_fuzz::LIMITS`) and whether updates come in as a client's or as stored ones.
//!
//! Checks, per update (`check_update` counts a type from where the document holds its parent):
//! - it never refuses an update whose values and types, where the plan put them, nest within
//!   the limit and that holds no subdocument (`PlannedUpdate::acceptable`), and always refuses
//!   a value nested past it;
//! - for an update naming no parent outside itself, it accepts exactly when the plan's update
//!   is acceptable, and reports the plan's type depth;
//! - what it accepts, yrs decodes without panic or overflow, and an independent measurement
//!   finds within the limit (`plait_fuzz::check_and_confirm`);
//! - `DocState` never integrates what the check refuses, and once it integrated an update
//!   whole, every type of it that sits where the plan put it (its ancestors came in whole and
//!   were not deleted before) is at most the limit deep.
//!
//! Then: the document's state nests within the limit and decodes into a fresh document, and
//! deleting every item (yrs deletes nested types by recursion) neither fails nor overflows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plait_fuzz::plan::{self, Plan};
use plait_fuzz::{check_and_confirm, check_usable, confirm_state, delete_everything, LIMITS};
use plait_protocol::session::{DocLimits, DocState};
use plait_protocol::update_check::MAX_NESTING_LIMIT;
use yrs::Doc;

fuzz_target!(|data: &[u8]| {
    let plan: Plan = plan::read(data);
    let limit = LIMITS[usize::from(plan.selector) % LIMITS.len()];
    // Stored updates (other nodes, log rows) meet the largest limit instead of this node's.
    let stored = plan.selector & 0x10 != 0;
    let effective = if stored {
        MAX_NESTING_LIMIT.max(limit)
    } else {
        limit
    };
    let mut state = DocState::with_limits(
        Doc::with_client_id(1),
        DocLimits {
            max_size: usize::MAX,
            max_nesting: limit,
        },
    );
    // Types in the document where the plan put them: their update came in whole, and so did
    // every ancestor's (types are numbered in creation order, parents first).
    let mut present = vec![false; plan.types.len()];
    for (index, update) in plan.updates.iter().enumerate() {
        let checked = check_and_confirm(&update.bytes, effective, state.doc());
        if update.planned {
            let (values, types) = (update.value_depth, update.type_depth(&plan));
            let what = format!(
                "update {index}: check_update said {checked:?}; the plan's values nest {values} \
                 deep, its types {types} (limit {effective})"
            );
            // The check counts a parent the document lacks (or deleted) from 0: never deeper.
            if update.acceptable(&plan, effective) {
                assert!(checked.is_ok(), "{what}: refused");
            }
            if values > effective {
                assert!(checked.is_err(), "{what}: accepted");
            }
            if update.self_contained {
                assert_eq!(
                    checked.is_ok(),
                    update.acceptable(&plan, effective),
                    "{what}; {} subdocuments",
                    update.subdocs
                );
                if let Ok(checked) = &checked {
                    assert_eq!(checked.type_depth, types, "{what}: type depth");
                }
            }
        }
        let integrated = if stored {
            state.integrate_stored(&update.bytes)
        } else {
            state.integrate(&update.bytes)
        };
        let Ok(integrated) = integrated else {
            continue;
        };
        if let Err(refused) = checked {
            panic!("update {index} was integrated although check_update refuses it: {refused}");
        }
        if integrated.incomplete {
            continue;
        }
        for &t in &update.types {
            let undeleted = |p: usize| plan.types[p].deleted_by.is_none_or(|by| by >= index);
            present[t] = plan.types[t]
                .parent
                .is_none_or(|p| present[p] && undeleted(p));
            if present[t] {
                assert!(
                    plan.types[t].depth <= effective,
                    "update {index} put a type {} deep into the document, limit {effective}",
                    plan.types[t].depth
                );
            }
        }
    }
    confirm_state(&state.encode_state(), effective);
    check_usable(&state);
    // yrs deletes a type's children by recursion: whatever was let in must survive that.
    let deletion = delete_everything(&state);
    if let Err(e) = state.integrate_stored(&deletion) {
        panic!("deleting everything failed: {e}");
    }
    check_usable(&state);
});
