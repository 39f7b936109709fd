//! Cancellation: how a pool's handles reach the jobs its managers hold.
//!
//! Each worker slot shares a [`Slot`] with the pool: its manager's
//! [`Scheduler`] sits behind a lock that the manager takes only between its
//! I/O (never while it waits for a job or a reply), so a caller cancelling
//! jobs never waits for a worker.
//!
//! - Jobs the manager holds and has not sent (waiting) are taken out,
//!   dropped, and settled as cancelled by the caller.
//! - Jobs sent ahead of the running one are in the worker's pipe and cannot
//!   be recalled: they are settled as cancelled at once, their frames freed,
//!   and marked, so that the manager drops whatever the worker answers for
//!   them and never re-sends them to a replacement. The worker is told to
//!   skip them (a `Skip` frame written behind them, at once, by the
//!   canceller): it answers `Skipped` without running them. One it had
//!   already taken up when the `Skip` reached it (a race of microseconds)
//!   runs to its end, and its result is dropped.
//! - The running job ([`abort`]) is marked the same way and its worker is
//!   killed: the manager, seeing that death come from a cancel, drops the
//!   job and sends the jobs behind it to a fresh worker, with no retry and
//!   no failure reported.

use std::process::ChildStdin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use super::scheduler::Scheduler;
use super::Job;
use crate::actors::collector::Key;
use crate::process::frame;
use crate::process::message::Down;

/// The part of a worker slot that the pool's handles share with its
/// manager; alone on a cache line (its count is written per job).
#[repr(align(128))]
pub(crate) struct Slot {
    /// Jobs the manager holds that have not started (for the pool's `len`).
    pub(crate) held: AtomicUsize,
    desk: Mutex<Desk>,
}

/// What the lock of a [`Slot`] guards.
pub(crate) struct Desk {
    pub(crate) sched: Scheduler,
    /// The worker process now up (`None`: none).
    pub(crate) worker: Option<Worker>,
    /// The pid of a worker killed to abort its running job: its death is
    /// not a failure.
    pub(crate) aborted: Option<u32>,
}

/// How a canceller reaches the live worker of a slot.
pub(crate) struct Worker {
    pub(crate) pid: u32,
    /// Its pipe: the lock orders a `Skip` with the manager's writes.
    pub(crate) stdin: Arc<Mutex<ChildStdin>>,
}

impl Worker {
    /// Tell the worker not to run jobs `ids`, sent to it earlier. A failed
    /// write means the worker is gone: its manager re-sends none of them.
    fn skip(&self, ids: &[Key]) {
        let skip = Down::Skip(ids.to_vec());
        let _ = frame::write_value(&mut *self.stdin.lock(), &skip, frame::DEFAULT_MAX_FRAME);
    }
}

impl Slot {
    /// A slot of a pool of `workers`.
    pub(crate) fn new(workers: usize) -> Self {
        Slot {
            held: AtomicUsize::new(0),
            desk: Mutex::new(Desk {
                sched: Scheduler::new(workers),
                worker: None,
                aborted: None,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Desk> {
        self.desk.lock()
    }

    /// Publish the count of jobs held and not started.
    pub(crate) fn publish(&self, desk: &Desk) {
        self.held.store(desk.sched.unstarted(), Ordering::Relaxed);
    }
}

/// Take back the jobs not started that `which` selects from every slot;
/// returns the jobs taken out (to drop) and the keys of every job cancelled
/// (to settle as cancelled, once each).
pub(crate) fn withdraw(slots: &[Slot], which: &dyn Fn(Key) -> bool) -> (Vec<Job>, Vec<Key>) {
    let (mut jobs, mut keys) = (Vec::new(), Vec::new());
    for slot in slots {
        let mut desk = slot.lock();
        let (taken, ahead) = desk.sched.withdraw(which);
        if let (Some(worker), false) = (&desk.worker, ahead.is_empty()) {
            worker.skip(&ahead);
        }
        slot.publish(&desk);
        drop(desk);
        keys.extend(taken.iter().map(|j| j.key));
        keys.extend(ahead);
        jobs.extend(taken);
    }
    (jobs, keys)
}

/// If job `key` runs on some slot's worker, mark it cancelled and kill that
/// worker; true if so.
pub(crate) fn abort(slots: &[Slot], key: Key) -> bool {
    for slot in slots {
        let mut desk = slot.lock();
        let Some(pid) = desk.worker.as_ref().map(|w| w.pid) else {
            continue;
        };
        if !desk.sched.abort(key) {
            continue;
        }
        desk.aborted = Some(pid);
        // SAFETY: kill(2) has no memory effects. The pid is still ours: the
        // manager clears `worker` (under this lock) before it reaps the
        // process, so it cannot have been reused.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        return true;
    }
    false
}
