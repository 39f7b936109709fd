//! The pool core, one for both kinds: the collector, debug mode (`n_workers
//! == 0` runs jobs inline), lazy start (one worker per scatter until the pool
//! has its `n_workers`), gathers. What threads and processes do differently
//! is a [`Backend`]: how a job reaches a worker, how a worker starts, and
//! which jobs have not started yet.
//!
//! Hot path: `scatter` is one `fetch_add` and the backend's `send`; nothing
//! on it passes through actix's mailbox.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::collector::{Collector, Cut, Key, Outcome, Ticket};
use super::stats::{Meters, Stats};
use crate::error::TaskError;
use crate::progress::{with_bar, Progress};

/// How jobs reach a pool's workers, and how outcomes come back: all that
/// thread pools and process pools do differently.
pub trait Backend<A, R>: Send + Sync + 'static {
    /// The kind's public name, for `Debug`.
    const KIND: &'static str;

    /// Debug mode: run one job in the caller's thread.
    fn inline(&self, args: A) -> Outcome<R>;

    /// Hand one numbered job to the workers, or settle it on `results` at
    /// once when it cannot go (e.g. an argument that fails to encode).
    fn send(&self, key: Key, args: A, results: &Collector<R>);

    /// Start worker `index`, which reports to `results`. When the first
    /// worker cannot start, the core fails the queued jobs with
    /// [`fail_queued`](Backend::fail_queued).
    fn start(&self, index: usize, results: &Arc<Collector<R>>) -> std::io::Result<()>;

    /// No worker could be started: settle every job sent so far with `why`.
    fn fail_queued(&self, why: &TaskError, results: &Collector<R>);

    /// Jobs sent and not yet started by a worker.
    fn unstarted(&self) -> usize;

    /// Take back every job not yet started whose key `which` selects, settle
    /// each with [`TaskError::Cancelled`] on `results`, free its argument at
    /// once, and return how many.
    fn withdraw(&self, which: &dyn Fn(Key) -> bool, results: &Collector<R>) -> usize;

    /// Job `key` may be running: stop it if this kind can (a process pool
    /// kills the worker running it and settles the job with
    /// [`TaskError::Cancelled`]) and return true; false if it cannot (a
    /// thread runs its job to the end) or `key` is not running.
    fn abort(&self, key: Key, results: &Collector<R>) -> bool {
        let _ = (key, results);
        false
    }

    /// The per-worker meters, for [`Stats`](crate::Stats).
    fn meters(&self) -> &Meters;

    /// Retire a worker after `jobs` jobs: its state is dropped and built
    /// again (a process pool starts a fresh process).
    fn set_lifespan(&self, jobs: usize) {
        let _ = jobs; // TODO(issue 13, thread side): thread workers
    }
}

/// A pool: the user's function, the collector, and the backend's workers.
pub(crate) struct Core<A, R, B> {
    /// For `call`.
    pub(crate) f: Arc<dyn Fn(A) -> R + Send + Sync>,
    /// 0: run every job inline in `scatter`.
    pub(crate) n_workers: usize,
    pub(crate) collector: Arc<Collector<R>>,
    pub(crate) backend: B,
    spawned: AtomicUsize,
    spawn_lock: Mutex<()>,
}

impl<A: Send + 'static, R: Send + 'static, B: Backend<A, R>> Core<A, R, B> {
    pub(crate) fn new(n_workers: usize, f: Arc<dyn Fn(A) -> R + Send + Sync>, backend: B) -> Self {
        Core {
            f,
            n_workers: if super::debug_forced() { 0 } else { n_workers },
            collector: Collector::new(),
            backend,
            spawned: AtomicUsize::new(0),
            spawn_lock: Mutex::new(()),
        }
    }

    #[inline]
    pub(crate) fn scatter(&self, args: A) -> Ticket {
        let key = self.collector.next_key();
        if self.n_workers == 0 {
            self.collector.deposit(key, self.backend.inline(args));
        } else {
            self.backend.send(key, args, &self.collector);
            if self.spawned.load(Ordering::Relaxed) < self.n_workers {
                self.start_worker();
            }
        }
        self.collector.ticket(key)
    }

    #[cold]
    fn start_worker(&self) {
        let _guard = self.spawn_lock.lock();
        let i = self.spawned.load(Ordering::Relaxed);
        if i >= self.n_workers {
            return;
        }
        match self.backend.start(i, &self.collector) {
            Ok(()) => self.spawned.store(i + 1, Ordering::Relaxed),
            Err(e) if i == 0 => {
                // No worker will ever take the queued jobs: fail them rather
                // than let a gather wait forever. The next scatter tries again.
                log::error!("lox: could not start a worker: {e}");
                let why = TaskError::Launch(format!("could not start a worker thread: {e}"));
                self.backend.fail_queued(&why, &self.collector);
            }
            Err(e) => log::warn!("lox: running on {i} workers, could not start another: {e}"),
        }
    }

    /// Jobs scattered and not yet started by a worker.
    pub(crate) fn len(&self) -> usize {
        self.backend.unstarted()
    }

    /// A snapshot for [`Stats`].
    pub(crate) fn stats(&self) -> Stats {
        let mut stats = self.backend.meters().snapshot();
        (stats.done, stats.failed) = self.collector.tally();
        stats.queued = self.len();
        stats
    }

    /// The outcomes of the jobs of `cut`, in scatter order.
    pub(crate) fn outcomes(&self, cut: Cut, progress: Progress) -> Vec<Result<R, TaskError>> {
        with_bar(progress, cut.len(), |p| self.collector.wait_all(cut, p)).into_outcomes()
    }

    /// The results of the jobs of `cut`, or the panic naming the first failure.
    #[track_caller]
    pub(crate) fn results(&self, cut: Cut, progress: Progress) -> Vec<R> {
        let bucket = with_bar(progress, cut.len(), |p| self.collector.wait_all(cut, p));
        match bucket.into_results() {
            Ok(results) => results,
            Err(failed) => super::raise(failed, cut.len()),
        }
    }
}

/// What the Supervisor needs of a pool, whatever its backend.
pub(crate) trait Front<A, R>: Send + Sync {
    fn scatter(&self, args: A) -> Ticket;
    fn len(&self) -> usize;
    fn stats(&self) -> Stats;
    fn collector(&self) -> &Arc<Collector<R>>;
}

impl<A: Send + 'static, R: Send + 'static, B: Backend<A, R>> Front<A, R> for Core<A, R, B> {
    fn scatter(&self, args: A) -> Ticket {
        Core::scatter(self, args)
    }
    fn len(&self) -> usize {
        Core::len(self)
    }
    fn stats(&self) -> Stats {
        Core::stats(self)
    }
    fn collector(&self) -> &Arc<Collector<R>> {
        &self.collector
    }
}
