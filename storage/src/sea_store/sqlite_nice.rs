//! SQLite's threads give way to the server's runtime for the CPU.
//!
//! sqlx runs each SQLite connection on a thread of its own, and a commit is a burst of CPU there
//! (the multi-row INSERT, its triggers, the projection's full-text index). Where that thread and
//! the runtime's worker share a core, a keystroke that arrives during the burst waits until the
//! kernel switches back to the worker: at 100 rooms x 4 clients typing 2.4–3.9 updates/s each on
//! one core, the relay's p99 was 1.6–2.8 ms with SQLite against 0.8 ms with `memory:`, and
//! 0.6–1.0 ms with the SQLite threads at nice 10 (BENCHMARKS.md, issue 27, row 1). A higher nice
//! lets the woken worker take the core at once, while the thread still gets its weight's share
//! when both want it all the time (nice 10: about a tenth of a core beside one busy worker), so
//! commits slow down under saturation but never stop.
//!
//! The threads are found by name ([`thread_name`]) in `/proc/self/task`, since sqlx starts them
//! without a hook of ours inside; [`lower`] runs after every new connection. Linux only:
//! elsewhere it does nothing. Lowering needs no privilege; raising back would, so the level
//! only ever goes down.

use std::sync::atomic::{AtomicI32, Ordering};

/// The prefix of every SQLite connection thread's name (the kernel keeps 15 bytes of it).
const PREFIX: &str = "plait-sqlite-";

/// The name sqlx gives connection thread `id`.
pub(super) fn thread_name(id: u64) -> String {
    format!("{PREFIX}{id}")
}

/// How much nicer than the runtime's threads SQLite's are (0–19), shared with the pool's
/// after-connect hook.
#[derive(Debug, Default)]
pub(super) struct SqliteNice(AtomicI32);

impl SqliteNice {
    pub(super) fn set(&self, nice: i32) {
        self.0.store(nice.clamp(0, 19), Ordering::Relaxed);
    }

    /// Lowers every SQLite thread of this process to the level, relative to the calling
    /// thread's own nice; returns how many threads it lowered.
    pub(super) fn lower(&self) -> usize {
        match self.0.load(Ordering::Relaxed) {
            0 => 0,
            nice => lower(nice),
        }
    }
}

#[cfg(target_os = "linux")]
fn lower(nice: i32) -> usize {
    let Some(own) = nice_of("/proc/thread-self/stat") else {
        return 0;
    };
    let target = (own + nice).min(19);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut lowered = 0;
    for task in tasks.flatten() {
        let path = task.path();
        let named =
            std::fs::read_to_string(path.join("comm")).is_ok_and(|comm| comm.starts_with(PREFIX));
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let below = nice_of(path.join("stat")).is_some_and(|current| current < target);
        if named && below && set_nice(tid, target) {
            lowered += 1;
        }
    }
    if lowered > 0 {
        tracing::debug!(lowered, nice = target, "SQLite threads lowered");
    }
    lowered
}

#[cfg(not(target_os = "linux"))]
fn lower(_nice: i32) -> usize {
    0
}

/// A thread's nice value, field 19 of its `stat` (the fields after the command's closing
/// parenthesis start at field 3).
#[cfg(target_os = "linux")]
fn nice_of(stat: impl AsRef<std::path::Path>) -> Option<i32> {
    let text = std::fs::read_to_string(stat).ok()?;
    let (_, fields) = text.rsplit_once(')')?;
    fields.split_whitespace().nth(16)?.parse().ok()
}

/// `setpriority(PRIO_PROCESS, tid, nice)`: on Linux the nice value belongs to a thread.
#[cfg(target_os = "linux")]
fn set_nice(tid: u32, nice: i32) -> bool {
    // SAFETY: setpriority reads only its three integer arguments; a thread that exited
    // meanwhile makes it fail with ESRCH, which is reported as false.
    let done = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) } == 0;
    if !done {
        let error = std::io::Error::last_os_error();
        tracing::debug!(tid, nice, %error, "could not lower a SQLite thread");
    }
    done
}
