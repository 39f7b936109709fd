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

    /// Someone is about to wait for outcomes: send on any job held back for
    /// batching (thread pools), so that a warm worker starts it now.
    fn flush(&self) {}

    /// The per-worker meters, for [`Stats`](crate::Stats).
    fn meters(&self) -> &Meters;

    /// Retire each worker after `jobs` jobs (see
    /// [`Pool::lifespan`](crate::Pool::lifespan)): its state is dropped and
    /// built again (a process pool starts a fresh process).
    fn set_lifespan(&self, jobs: usize);
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
    /// `max_pending`; `usize::MAX` when unbounded.
    bound: AtomicUsize,
}

impl<A, R, B> Drop for Core<A, R, B> {
    fn drop(&mut self) {
        // The last handle is gone: an open `results()` ends once the jobs
        // already numbered have reported.
        self.collector.close();
    }
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
            bound: AtomicUsize::new(usize::MAX),
        }
    }

    #[inline]
    pub(crate) fn scatter(&self, args: A) -> Ticket {
        if self.bound.load(Ordering::Relaxed) != usize::MAX {
            self.wait_room();
        }
        self.scatter_now(args)
    }

    /// `scatter` past the mailbox bound.
    #[inline]
    pub(crate) fn scatter_now(&self, args: A) -> Ticket {
        let key = self.collector.next_key();
        self.send(key, args);
        self.collector.ticket(key)
    }

    /// Hand a numbered job to the workers (or run it inline).
    #[inline]
    pub(crate) fn send(&self, key: Key, args: A) {
        if self.n_workers == 0 {
            self.collector.deposit(key, self.backend.inline(args));
        } else {
            self.backend.send(key, args, &self.collector);
            if self.spawned.load(Ordering::Relaxed) < self.n_workers {
                self.start_worker();
            }
        }
    }

    /// `max_pending`: block while the mailbox is full.
    #[cold]
    fn wait_room(&self) {
        crate::actors::mailbox::block_until(&self.collector, || self.has_room());
    }

    /// Fewer than `max_pending` jobs wait for a worker.
    pub(crate) fn has_room(&self) -> bool {
        self.n_workers == 0 || self.len() < self.bound.load(Ordering::Relaxed)
    }

    /// Set the mailbox bound (`usize::MAX`: none).
    pub(crate) fn set_bound(&self, n: usize) {
        self.bound.store(n, Ordering::Relaxed);
    }

    /// Take back the jobs not started that `which` selects (settled as
    /// cancelled); returns how many.
    pub(crate) fn withdraw(&self, which: &dyn Fn(Key) -> bool) -> usize {
        self.backend.withdraw(which, &self.collector)
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
        outcomes(&self.collector, cut, progress)
    }

    /// The results of the jobs of `cut`, or the panic naming the first failure.
    #[track_caller]
    pub(crate) fn results(&self, cut: Cut, progress: Progress) -> Vec<R> {
        results(&self.collector, cut, progress)
    }
}

/// The outcomes of the jobs of `cut`, in scatter order.
pub(crate) fn outcomes<R: Send + 'static>(
    collector: &Collector<R>,
    cut: Cut,
    progress: Progress,
) -> Vec<Result<R, TaskError>> {
    with_bar(progress, cut.len(), |p| collector.wait_all(cut, p)).into_outcomes()
}

/// The results of the jobs of `cut`, or the panic naming the first failure.
#[track_caller]
pub(crate) fn results<R: Send + 'static>(
    collector: &Collector<R>,
    cut: Cut,
    progress: Progress,
) -> Vec<R> {
    let bucket = with_bar(progress, cut.len(), |p| collector.wait_all(cut, p));
    match bucket.into_results() {
        Ok(results) => results,
        Err(failed) => super::raise(failed, cut.len()),
    }
}

/// What a waiting collector asks of its pool, whatever `A`.
pub(crate) trait Flush: Send + Sync {
    /// See [`Backend::flush`].
    fn flush(&self);
}

impl<A: Send + 'static, R: Send + 'static, B: Backend<A, R>> Flush for Core<A, R, B> {
    fn flush(&self) {
        self.backend.flush();
    }
}

/// What a submitted job needs of its pool to be cancelled, whatever `A`.
pub(crate) trait Cancel: Send + Sync {
    /// Take back the jobs not started that `which` selects; how many.
    fn withdraw(&self, which: &dyn Fn(Key) -> bool) -> usize;
    /// Stop job `key` if it is running and the kind can.
    fn abort(&self, key: Key) -> bool;
}

impl<A: Send + 'static, R: Send + 'static, B: Backend<A, R>> Cancel for Core<A, R, B> {
    fn withdraw(&self, which: &dyn Fn(Key) -> bool) -> usize {
        Core::withdraw(self, which)
    }
    fn abort(&self, key: Key) -> bool {
        self.backend.abort(key, &self.collector)
    }
}

/// What the Supervisor needs of a pool, whatever its backend.
pub(crate) trait Front<A, R: Send + 'static>: Cancel {
    fn scatter(&self, args: A) -> Ticket;
    /// Hand a job numbered elsewhere (a batch, a map) to the workers.
    fn send(&self, key: Key, args: A);
    /// Wait while the `max_pending` mailbox is full.
    fn wait_room(&self);
    /// The pool's size (0: inline).
    fn n_workers(&self) -> usize;
    fn submit(self: Arc<Self>, args: A) -> crate::Job<R>;
    fn len(&self) -> usize;
    fn stats(&self) -> Stats;
    fn collector(&self) -> &Arc<Collector<R>>;
}

impl<A: Send + 'static, R: Send + 'static, B: Backend<A, R>> Front<A, R> for Core<A, R, B> {
    fn scatter(&self, args: A) -> Ticket {
        Core::scatter(self, args)
    }
    fn submit(self: Arc<Self>, args: A) -> crate::Job<R> {
        crate::actors::job::submit(&self, args)
    }
    fn send(&self, key: Key, args: A) {
        Core::send(self, key, args)
    }
    fn wait_room(&self) {
        if self.bound.load(Ordering::Relaxed) != usize::MAX {
            Core::wait_room(self);
        }
    }
    fn n_workers(&self) -> usize {
        self.n_workers
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
