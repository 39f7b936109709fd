//! The pool core: numbering and reorder (the collector), the job channel, and
//! the worker threads, which start one per scatter until the pool has its
//! `n_workers` (a pool that is never used starts none).
//!
//! Hot path: `scatter` is one `fetch_add` and a push onto the partial chunk
//! (see [`dispatch`](super::dispatch)); a worker takes a chunk with one
//! receive and reports it with one send. Nothing on it passes through actix's
//! mailbox.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::collector::{Collector, Cut, Ticket};
use super::completed::Completed;
use super::dispatch::{Chunk, Dispatch};
use super::worker::{self, Job};
use crate::error::TaskError;

pub(crate) struct PoolCore<A: Send, R> {
    pub(crate) f: Job<A, R>,
    /// 0: run every job inline in `scatter`.
    pub(crate) n_workers: usize,
    pub(crate) collector: Arc<Collector<R>>,
    dispatch: Arc<Dispatch<A>>,
    jobs_tx: Sender<Chunk<A>>,
    jobs_rx: Receiver<Chunk<A>>,
    spawned: AtomicUsize,
    spawn_lock: Mutex<()>,
}

impl<A: Send + 'static, R: Send + 'static> PoolCore<A, R> {
    pub(crate) fn new(n_workers: usize, f: Job<A, R>) -> Self {
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
        PoolCore {
            f,
            n_workers,
            collector: Collector::new(),
            dispatch: Arc::new(Dispatch::new(n_workers)),
            jobs_tx,
            jobs_rx,
            spawned: AtomicUsize::new(0),
            spawn_lock: Mutex::new(()),
        }
    }

    #[inline]
    pub(crate) fn scatter(&self, args: A) -> Ticket {
        let key = self.collector.next_key();
        if self.n_workers == 0 {
            self.collector.deposit(key, worker::run(&*self.f, args));
        } else {
            if let Some(chunk) = self.dispatch.push(key, args) {
                // Never fails: the core holds a receiver of its own.
                let _ = self.jobs_tx.send(chunk);
            }
            if self.spawned.load(Ordering::Relaxed) < self.n_workers {
                self.spawn_worker();
            }
        }
        self.collector.ticket(key)
    }

    #[cold]
    fn spawn_worker(&self) {
        let _guard = self.spawn_lock.lock();
        let i = self.spawned.load(Ordering::Relaxed);
        if i >= self.n_workers {
            return;
        }
        let (local, wake) = self.dispatch.register();
        let w = worker::Worker {
            dispatch: self.dispatch.clone(),
            jobs: self.jobs_rx.clone(),
            local,
            wake,
        };
        let (f, results) = (self.f.clone(), self.collector.sender());
        let spawned = std::thread::Builder::new()
            .name(format!("lox-worker-{i}"))
            .spawn(move || worker::serve(f, w, results));
        match spawned {
            Ok(_) => self.spawned.store(i + 1, Ordering::Relaxed),
            Err(e) if i == 0 => {
                // No worker will ever take the queued jobs: fail them rather
                // than let a gather wait forever. The next scatter tries again.
                log::error!("lox: could not start a worker thread: {e}");
                let why = format!("could not start a worker thread: {e}");
                for chunk in self.dispatch.drain() {
                    let _ = self.jobs_tx.send(chunk);
                }
                for chunk in self.jobs_rx.try_iter() {
                    self.dispatch.taken(chunk.len());
                    for (key, _) in chunk {
                        self.collector
                            .deposit(key, Err(Box::new(TaskError::Launch(why.clone()))));
                    }
                }
            }
            Err(e) => log::warn!("lox: running on {i} workers, could not start another: {e}"),
        }
    }

    /// Take every job scattered so far for a gather. (Jobs still in the
    /// dispatch buffer need no flush: workers take them before they park.)
    pub(crate) fn cut(&self) -> Cut {
        self.collector.cut()
    }

    /// Jobs scattered but not yet taken by a worker.
    pub(crate) fn pending(&self) -> usize {
        self.dispatch.pending()
    }

    pub(crate) fn try_gather_with(&self, progress: Bar) -> Vec<Result<R, TaskError>> {
        let cut = self.cut();
        outcomes_of(&self.collector, cut, progress)
    }

    #[track_caller]
    pub(crate) fn gather_with(&self, progress: Bar) -> Vec<R> {
        let cut = self.cut();
        results_of(&self.collector, cut, progress)
    }

    pub(crate) fn gather_iter(&self) -> Completed<R> {
        let cut = self.cut();
        Completed::new(self.collector.clone(), cut)
    }
}

impl<A: Send, R> Drop for PoolCore<A, R> {
    fn drop(&mut self) {
        // Queued jobs still run after the last handle is gone.
        for chunk in self.dispatch.drain() {
            let _ = self.jobs_tx.send(chunk);
        }
    }
}

/// How a gather reports progress.
pub(crate) type Bar = crate::progress::Progress;

fn with_progress<T>(progress: Bar, len: usize, f: impl FnOnce(&mut dyn FnMut(usize)) -> T) -> T {
    crate::progress::with_bar(progress, len, f)
}

/// `try_gather` for any pool: one outcome per job, in scatter order.
pub(crate) fn gather_outcomes<R: Send + 'static>(
    c: &Collector<R>,
    progress: Bar,
) -> Vec<Result<R, TaskError>> {
    outcomes_of(c, c.cut(), progress)
}

/// `gather` for any pool: results in scatter order, or the panic that names
/// the first failed job once every job has finished.
#[track_caller]
pub(crate) fn gather_results<R: Send + 'static>(c: &Collector<R>, progress: Bar) -> Vec<R> {
    results_of(c, c.cut(), progress)
}

/// The outcomes of the jobs of `cut`.
pub(crate) fn outcomes_of<R: Send + 'static>(
    c: &Collector<R>,
    cut: Cut,
    progress: Bar,
) -> Vec<Result<R, TaskError>> {
    with_progress(progress, cut.len(), |p| c.try_gather(cut, p))
}

/// The results of the jobs of `cut`, or the panic naming the first failure.
#[track_caller]
pub(crate) fn results_of<R: Send + 'static>(c: &Collector<R>, cut: Cut, progress: Bar) -> Vec<R> {
    match with_progress(progress, cut.len(), |p| c.gather(cut, p)) {
        Ok(v) => v,
        Err(failed) => super::raise(failed, cut.len()),
    }
}
