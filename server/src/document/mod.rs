//! A loaded document: one tokio task per document owns its CRDT and its connections.
//!
//! Why a task (an actor) instead of a `Mutex<Doc>`: every change to a document is ordered by one
//! queue, no lock is ever held across an `.await`, and the task is the natural place to batch
//! work per drain of its queue. Connections talk to it through [`DocHandle`].
//!
//! # Layout
//! - `handle`: [`Command`], the replies, and [`DocHandle`].
//! - `task`: the task's state and loop (commands, the timer, the idle unload).
//! - `commands`: what each command does; a connection's messages go through
//!   `plait_protocol::session::handle`.
//! - `fan_out`: the end of a drain: to the connections (the plan is `plait_protocol::fan_out`'s),
//!   to the other nodes, to the writer.
//! - `context`: [`DocContext`], what the task needs from its surroundings.
//! - `durable`, `echo`: from the writer's commit back to the task: the durable echo.
//! - `unconfirmed`: other nodes' updates this node applied before they were stored, and the
//!   acknowledgements of its own drains held behind them ("durable before acknowledged").
//! - `connections`: the connection table, and closing those that cannot keep up.
//! - `outbound`: what is queued for a connection's socket, bounded in entries and bytes.
//! - `presence`: the presence tick.
//! - `projection`, `settle`: when the document is rendered for the projection table.

mod commands;
mod connections;
mod context;
mod durable;
mod echo;
mod fan_out;
mod handle;
mod outbound;
mod presence;
mod projection;
mod settle;
mod task;
mod unconfirmed;

use std::sync::Arc;

use plait_protocol::session::DocState;
use tokio_util::task::TaskTracker;
use tracing::{debug_span, Instrument};

pub use context::DocContext;
use durable::DocShared;
pub use handle::{author, Acks, CloseReason, Command, ConnLink, DocHandle, PostOutcome, Render};
pub use outbound::{outbound_queue, ConnId, Outbound, OutboundReceiver, OutboundSender};
use task::DocTask;

/// Starts the task of a freshly loaded document, tracked by `tasks` (shutdown waits for it).
pub fn spawn(state: DocState, ctx: DocContext, queue: usize, tasks: &TaskTracker) -> DocHandle {
    let (commands, rx) = flume::bounded(queue);
    let shared = Arc::new(DocShared::default());
    let handle = DocHandle {
        commands: commands.clone(),
        shared: shared.clone(),
    };
    // A debug span: an open span costs the log subscriber about 0.8 KB for as long as the
    // document stays loaded, so at the default level the events name the document themselves.
    let span = debug_span!("doc", name = %ctx.name);
    let task = DocTask::new(state, ctx, commands.downgrade(), shared);
    tasks.spawn(task.task_future(rx).instrument(span));
    handle
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_acks;
