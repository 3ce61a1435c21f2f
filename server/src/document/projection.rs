//! The document task's part of the projection table (see [`crate::projection`]): it renders its
//! document when `settle` says so, when asked (`Command::Project`), and at unload.

use tokio::time::Instant;

use super::settle::Unprojected;
use super::task::DocTask;
use crate::projection::Projector;

impl DocTask {
    /// The document changed (a local or another node's update was applied).
    pub(super) fn changed(&mut self, now: Instant) {
        if self.ctx.projector.is_some() {
            self.unprojected = Some(Unprojected::changed(self.unprojected, now));
        }
    }

    /// When the next rendering is due, if one is.
    pub(super) fn projection_due(&self) -> Option<Instant> {
        self.unprojected.map(Unprojected::due)
    }

    /// The timer fired: renders if due.
    pub(super) fn project_if_due(&mut self, now: Instant) {
        let Some(unprojected) = self.unprojected else {
            return;
        };
        match unprojected.render_at(now, self.pending_durable > 0) {
            Ok(()) => self.project_now(),
            Err(waiting) => self.unprojected = Some(waiting),
        }
    }

    /// Renders now and hands the row to the projector.
    pub(super) fn project_now(&mut self) {
        if let Some(projection) = self.render() {
            if let Some(projector) = &self.ctx.projector {
                projector.submit(projection);
            }
        }
    }

    /// The document rendered at the log head this node knows (see [`crate::projection`]).
    pub(super) fn render(&mut self) -> Option<plait_storage::catalog::Projection> {
        self.unprojected = None;
        let projector = self.ctx.projector.as_ref()?;
        let seq = projector.head();
        Some(Projector::render(
            self.ctx.name.as_str(),
            self.state.doc(),
            seq,
        ))
    }
}
