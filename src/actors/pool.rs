//! The pool core: numbering and reorder (the collector), the job channel, and
//! the worker threads, which start one per scatter until the pool has its
//! `n_workers` (a pool that is never used starts none).
//!
//! Hot path: `scatter` is one `fetch_add`, one send on the job channel and one
//! relaxed load; a worker's round trip is one receive, the call, one send on the
//! result channel. Nothing on it passes through actix's mailbox.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::collector::{Collector, Key, Ticket};
use super::completed::Completed;
use super::worker::{self, Job};
use crate::error::TaskError;

pub(crate) struct PoolCore<A, R> {
    pub(crate) f: Job<A, R>,
    /// 0: run every job inline in `scatter`.
    pub(crate) n_workers: usize,
    pub(crate) collector: Arc<Collector<R>>,
    jobs_tx: Sender<(Key, A)>,
    jobs_rx: Receiver<(Key, A)>,
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
            // Never fails: the core holds a receiver of its own.
            let _ = self.jobs_tx.send((key, args));
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
        let (f, jobs, results) = (self.f.clone(), self.jobs_rx.clone(), self.collector.sender());
        let spawned = std::thread::Builder::new()
            .name(format!("lox-worker-{i}"))
            .spawn(move || worker::serve(f, jobs, results));
        match spawned {
            Ok(_) => self.spawned.store(i + 1, Ordering::Relaxed),
            Err(e) if i == 0 => {
                // No worker will ever take the queued jobs: fail them rather
                // than let a gather wait forever. The next scatter tries again.
                log::error!("lox: could not start a worker thread: {e}");
                let why = format!("could not start a worker thread: {e}");
                for (key, _) in self.jobs_rx.try_iter() {
                    self.collector.deposit(key, Err(Box::new(TaskError::Launch(why.clone()))));
                }
            }
            Err(e) => log::warn!("lox: running on {i} workers, could not start another: {e}"),
        }
    }

    /// Jobs scattered but not yet taken by a worker.
    pub(crate) fn pending(&self) -> usize {
        self.jobs_rx.len()
    }

    pub(crate) fn try_gather_with(&self, progress: Bar) -> Vec<Result<R, TaskError>> {
        gather_outcomes(&self.collector, progress)
    }

    pub(crate) fn gather_with(&self, progress: Bar) -> Vec<R> {
        gather_results(&self.collector, progress)
    }

    pub(crate) fn gather_iter(&self) -> Completed<R> {
        Completed::new(self.collector.clone())
    }
}

/// How a gather reports progress.
pub(crate) type Bar = crate::progress::Progress;

fn with_progress<T>(progress: Bar, len: usize, f: impl FnOnce(&mut dyn FnMut(usize)) -> T) -> T {
    crate::progress::with_bar(progress, len, f)
}

/// `try_gather` for any pool: one outcome per job, in scatter order.
pub(crate) fn gather_outcomes<R: Send + 'static>(c: &Collector<R>, progress: Bar) -> Vec<Result<R, TaskError>> {
    let cut = c.cut();
    with_progress(progress, cut.len(), |p| c.try_gather(cut, p))
}

/// `gather` for any pool: results in scatter order, or the panic that names
/// the first failed job once every job has finished.
pub(crate) fn gather_results<R: Send + 'static>(c: &Collector<R>, progress: Bar) -> Vec<R> {
    let cut = c.cut();
    match with_progress(progress, cut.len(), |p| c.gather(cut, p)) {
        Ok(v) => v,
        Err(failed) => super::raise(failed, cut.len()),
    }
}
