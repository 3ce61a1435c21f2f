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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use plait_protocol::name::DocName;
    use plait_protocol::session::DocState;
    use plait_storage::{DocStore, SeaStore, Writer, WriterConfig};
    use tokio_util::sync::CancellationToken;
    use yrs::Doc;

    use super::super::handle::{Command, Render};
    use super::super::tests::typed;
    use super::super::{spawn, DocContext};
    use crate::projection::Projector;

    /// The background sweep leaves a document to its task while the task has a rendering due
    /// (it writes it itself within `MAX_LAG`); a search's refresh has it rendered at once.
    #[tokio::test]
    async fn a_task_with_a_rendering_due_keeps_it_from_the_sweep_but_not_from_a_search() {
        let store: Arc<dyn DocStore> = Arc::new(
            SeaStore::connect("sqlite::memory:")
                .await
                .expect("in-memory SQLite"),
        );
        let shutdown = CancellationToken::new();
        let Ok(name) = DocName::parse("projected") else {
            panic!("valid name");
        };
        let ctx = DocContext {
            name,
            writer: Writer::spawn(store.clone(), WriterConfig::default()),
            idle_unload: Duration::from_secs(60),
            shutdown: shutdown.clone(),
            broadcaster: None,
            projector: Projector::start(store, shutdown.clone()),
            unregister: Box::new(|| true),
        };
        let handle = spawn(
            DocState::new(Doc::new()),
            ctx,
            64,
            &tokio_util::task::TaskTracker::new(),
        );
        let rendered = |when| {
            let handle = handle.clone();
            async move { handle.project(when).await.expect("the task runs") }
        };
        assert!(
            rendered(Render::UnlessDue).await.is_some(),
            "nothing due: the sweep has it rendered"
        );

        // Queued ahead of the question (the reply, after the commit, is not awaited): the task
        // has applied it when it answers.
        let (reply, _committed) = tokio::sync::oneshot::channel();
        let command = Command::PostUpdate {
            update: typed(1, "hello").into(),
            author: Arc::from("{}"),
            reply,
        };
        assert!(handle.send(command).await.is_ok());
        assert!(
            rendered(Render::UnlessDue).await.is_none(),
            "a change makes a rendering due: left to the task"
        );
        let projection = rendered(Render::Now).await.expect("a search renders now");
        assert_eq!(projection.text.trim(), "hello");
        assert!(
            rendered(Render::UnlessDue).await.is_some(),
            "rendered: nothing due any more"
        );
        shutdown.cancel();
    }
}
