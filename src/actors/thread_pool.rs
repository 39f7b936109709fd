//! Thread pools: [`thread()`], and [`Threads`], the backend that moves jobs
//! to worker threads in chunks (see [`dispatch`](super::dispatch)).

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::collector::{Collector, Key, Outcome};
use super::dispatch::{Chunk, Dispatch};
use super::front::Pool;
use super::pool::Backend;
use super::stats::Meters;
use super::worker::{self, Job};
use crate::error::TaskError;

/// Same as Python's bare `@lox.thread`: 50 workers.
pub const DEFAULT_THREADS: usize = 50;

/// A function wrapped in a pool of worker threads (see [`thread()`]); its
/// methods are those of [`Pool`].
pub type Thread<A, R> = Pool<A, R, Threads<A, R>>;

/// Wrap `f` in a pool of `n_workers` worker threads.
///
/// `n_workers == 0` runs every scatter inline in the caller's thread (debug
/// mode: breakpoints and backtraces work as in serial code); the environment
/// variable `LOX_DEBUG` set to a true-like value (1, true, yes, on; any case)
/// forces 0 for every pool created while it is set.
///
/// Worker threads start one per scatter until there are `n_workers`, so a pool
/// costs nothing until it is used. Dropping the last handle (and the last
/// [`supervisor`](Pool::supervisor) address) does not wait: the workers
/// finish the jobs already queued and exit.
///
/// ```
/// fn multiply(x: u64, y: u64) -> u64 { x * y }
///
/// let pool = lox::thread(4, |(x, y)| multiply(x, y));
/// assert_eq!(pool.call((3, 4)), 12); // plain call, in this thread
/// for i in 0..5 {
///     pool.scatter((i, i + 1));
/// }
/// assert_eq!(pool.gather(), vec![0, 2, 6, 12, 20]);
/// ```
pub fn thread<A, R, F>(n_workers: usize, f: F) -> Thread<A, R>
where
    A: Send + 'static,
    R: Send + 'static,
    F: Fn(A) -> R + Send + Sync + 'static,
{
    let f: Job<A, R> = Arc::new(f);
    let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
    let backend = Threads {
        f: f.clone(),
        dispatch: Arc::new(Dispatch::new(n_workers)),
        jobs_tx,
        jobs_rx,
        meters: Meters::new(n_workers),
    };
    Pool::new(n_workers, f, backend)
}

/// The backend of a thread pool: a dispatch buffer, a job channel of
/// chunks, and worker threads with work-stealing deques.
pub struct Threads<A: Send, R> {
    f: Job<A, R>,
    dispatch: Arc<Dispatch<A>>,
    jobs_tx: Sender<Chunk<A>>,
    jobs_rx: Receiver<Chunk<A>>,
    meters: Meters,
}

impl<A: Send + 'static, R: Send + 'static> Backend<A, R> for Threads<A, R> {
    const KIND: &'static str = "Thread";

    #[inline]
    fn inline(&self, args: A) -> Outcome<R> {
        worker::run(&*self.f, args)
    }

    #[inline]
    fn send(&self, key: Key, args: A, _: &Collector<R>) {
        if let Some(chunk) = self.dispatch.push(key, args) {
            // Never fails: the backend holds a receiver of its own.
            let _ = self.jobs_tx.send(chunk);
        }
    }

    fn start(&self, index: usize, results: &Arc<Collector<R>>) -> std::io::Result<()> {
        let (local, wake) = self.dispatch.register();
        let w = worker::Worker {
            dispatch: self.dispatch.clone(),
            jobs: self.jobs_rx.clone(),
            local,
            wake,
        };
        let (f, results) = (self.f.clone(), results.sender());
        std::thread::Builder::new()
            .name(format!("lox-worker-{index}"))
            .spawn(move || worker::serve(f, w, results))
            .map(drop)
    }

    fn fail_queued(&self, why: &TaskError, results: &Collector<R>) {
        for chunk in self.dispatch.drain() {
            let _ = self.jobs_tx.send(chunk);
        }
        for chunk in self.jobs_rx.try_iter() {
            self.dispatch.taken(chunk.len());
            for (key, _) in chunk {
                results.deposit(key, Err(Box::new(why.clone())));
            }
        }
    }

    fn unstarted(&self) -> usize {
        self.dispatch.pending()
    }

    fn withdraw(&self, which: &dyn Fn(Key) -> bool, results: &Collector<R>) -> usize {
        let taken = self
            .dispatch
            .withdraw(which, (&self.jobs_tx, &self.jobs_rx));
        let n = taken.len();
        for (key, args) in taken {
            drop(args); // freed now, not when a worker would have reached it
            results.deposit(key, Err(Box::new(TaskError::Cancelled)));
        }
        n
    }

    fn meters(&self) -> &Meters {
        &self.meters
    }
}

impl<A: Send, R> Drop for Threads<A, R> {
    fn drop(&mut self) {
        // Queued jobs still run after the last handle is gone.
        for chunk in self.dispatch.drain() {
            let _ = self.jobs_tx.send(chunk);
        }
    }
}
