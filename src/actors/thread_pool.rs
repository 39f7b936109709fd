//! `Thread<A, R>`: the public handle of a thread pool.

use std::sync::{Arc, OnceLock};

use actix::Addr;

use super::collector::Ticket;
use super::completed::{into_stream, Completed};
use super::pool::{outcomes_of, results_of, PoolCore};
use super::supervisor::Supervisor;
use crate::error::TaskError;

/// Same as Python's bare `@lox.thread`: 50 workers.
pub const DEFAULT_THREADS: usize = 50;

/// Wrap `f` in a pool of `n_workers` worker threads.
///
/// `n_workers == 0` runs every scatter inline in the caller's thread (debug
/// mode: breakpoints and backtraces work as in serial code); the environment
/// variable `LOX_DEBUG` set to a true-like value (1, true, yes, on; any case)
/// forces 0 for every pool created while it is set.
///
/// Worker threads start one per scatter until there are `n_workers`, so a pool
/// costs nothing until it is used. Dropping the last handle (and the last
/// [`supervisor`](Thread::supervisor) address) does not wait: the workers
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
    let n = if super::debug_forced() { 0 } else { n_workers };
    Thread {
        shared: Arc::new(Shared {
            core: Arc::new(PoolCore::new(n, Arc::new(f))),
            supervisor: OnceLock::new(),
        }),
    }
}

/// A function wrapped in a pool of worker threads (see [`thread()`]).
///
/// A cheap `Clone` handle: clones share one pool and one list of pending
/// results, so jobs scattered through any clone, from any thread, are gathered
/// by the next `gather` through any clone.
pub struct Thread<A: Send + 'static, R: Send + 'static> {
    shared: Arc<Shared<A, R>>,
}

struct Shared<A: Send + 'static, R: Send + 'static> {
    core: Arc<PoolCore<A, R>>,
    supervisor: OnceLock<Addr<Supervisor<A, R>>>,
}

impl<A: Send + 'static, R: Send + 'static> Clone for Thread<A, R> {
    fn clone(&self) -> Self {
        Thread {
            shared: self.shared.clone(),
        }
    }
}

impl<A: Send + 'static, R: Send + 'static> std::fmt::Debug for Thread<A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thread")
            .field("n_workers", &self.n_workers())
            .field("pending", &self.len())
            .finish_non_exhaustive()
    }
}

impl<A: Send + 'static, R: Send + 'static> Thread<A, R> {
    fn core(&self) -> &PoolCore<A, R> {
        &self.shared.core
    }

    /// Plain call in the caller's thread: the function as if undecorated.
    ///
    /// ```
    /// let double = lox::thread(2, |x: i32| x * 2);
    /// assert_eq!(double.call(21), 42);
    /// assert!(double.is_empty()); // nothing was scattered
    /// ```
    pub fn call(&self, args: A) -> R {
        (self.core().f)(args)
    }

    /// Enqueue one job; never blocks on the job. Returns its [`Ticket`].
    ///
    /// ```
    /// let pool = lox::thread(2, |s: String| s.len());
    /// let t = pool.scatter("four".to_string());
    /// assert_eq!(t.seq(), 0);
    /// assert_eq!(pool.gather(), vec![4]);
    /// ```
    #[inline]
    pub fn scatter(&self, args: A) -> Ticket {
        self.core().scatter(args)
    }

    /// Block until every job scattered (from any thread) before this call has
    /// finished; return their results in scatter order.
    ///
    /// # Panics
    ///
    /// If a job failed (it panicked), `gather` waits for all the others, then
    /// panics with a message naming the job's sequence number and the original
    /// panic message. Use [`try_gather`](Thread::try_gather) to get every
    /// outcome instead.
    ///
    /// ```
    /// let pool = lox::thread(3, |ms: u64| {
    ///     std::thread::sleep(std::time::Duration::from_millis(ms));
    ///     ms
    /// });
    /// for ms in [30, 10, 20] { pool.scatter(ms); }
    /// assert_eq!(pool.gather(), vec![30, 10, 20]); // scatter order, not finish order
    /// assert_eq!(pool.gather(), Vec::<u64>::new()); // nothing new was scattered
    /// ```
    #[track_caller]
    pub fn gather(&self) -> Vec<R> {
        self.core().gather_with(Default::default())
    }

    /// Like [`gather`](Thread::gather), but never panics: one `Result` per job,
    /// in scatter order.
    ///
    /// ```
    /// let pool = lox::thread(2, |x: i32| if x < 0 { panic!("negative: {x}") } else { x });
    /// pool.scatter(1);
    /// pool.scatter(-1);
    /// let out = pool.try_gather();
    /// assert_eq!(out[0], Ok(1));
    /// assert_eq!(out[1], Err(lox::TaskError::Panicked("negative: -1".into())));
    /// ```
    pub fn try_gather(&self) -> Vec<Result<R, TaskError>> {
        self.core().try_gather_with(Default::default())
    }

    /// [`gather`](Thread::gather) that advances a progress bar by one per
    /// finished job: `true` or [`Progress::bar()`](crate::Progress::bar) for a
    /// default terminal bar, an [`indicatif::ProgressBar`] of your own, or
    /// `false` for none.
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x);
    /// for i in 0..100 { pool.scatter(i); }
    /// let out = pool.gather_with(false);
    /// assert_eq!(out.len(), 100);
    /// ```
    #[track_caller]
    pub fn gather_with(&self, progress: impl Into<crate::Progress>) -> Vec<R> {
        self.core().gather_with(progress.into())
    }

    /// [`try_gather`](Thread::try_gather) with a progress bar, as in
    /// [`gather_with`](Thread::gather_with).
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x);
    /// pool.scatter(7);
    /// assert_eq!(pool.try_gather_with(false), vec![Ok(7)]);
    /// ```
    pub fn try_gather_with(
        &self,
        progress: impl Into<crate::Progress>,
    ) -> Vec<Result<R, TaskError>> {
        self.core().try_gather_with(progress.into())
    }

    /// [`gather`](Thread::gather) for async callers (actix or tokio): the wait
    /// happens on a helper thread, never on the executor.
    ///
    /// The jobs taken are those scattered before the future is first polled.
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x * 2);
    /// pool.scatter(1);
    /// pool.scatter(2);
    /// let out = actix_rt::System::new().block_on(pool.gather_async());
    /// assert_eq!(out, vec![2, 4]);
    /// ```
    pub async fn gather_async(&self) -> Vec<R> {
        let collector = self.shared.core.collector.clone();
        let cut = self.shared.core.cut(); // at first poll
        crate::runtime::off_thread("lox-gather", move || {
            results_of(&collector, cut, Default::default())
        })
        .await
    }

    /// [`try_gather`](Thread::try_gather) for async callers.
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x + 1);
    /// pool.scatter(1);
    /// let out = actix_rt::System::new().block_on(pool.try_gather_async());
    /// assert_eq!(out, vec![Ok(2)]);
    /// ```
    pub async fn try_gather_async(&self) -> Vec<Result<R, TaskError>> {
        let collector = self.shared.core.collector.clone();
        let cut = self.shared.core.cut(); // at first poll
        crate::runtime::off_thread("lox-gather", move || {
            outcomes_of(&collector, cut, Default::default())
        })
        .await
    }

    /// Streaming gather: take every job scattered so far and yield
    /// `(seq, outcome)` as each finishes, in completion order rather than
    /// scatter order.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = lox::thread(2, |ms: u64| { std::thread::sleep(Duration::from_millis(ms)); ms });
    /// pool.scatter(200);
    /// pool.scatter(1);
    /// let order: Vec<usize> = pool.gather_iter().map(|(seq, _)| seq).collect();
    /// assert_eq!(order.len(), 2);
    /// ```
    pub fn gather_iter(&self) -> Completed<R> {
        self.core().gather_iter()
    }

    /// [`gather_iter`](Thread::gather_iter) as a `futures::Stream` for async
    /// callers; the waiting happens on a helper thread.
    ///
    /// ```
    /// use futures::StreamExt;
    /// let pool = lox::thread(2, |x: u32| x * 3);
    /// for i in 0..4 { pool.scatter(i); }
    /// let mut got: Vec<(usize, u32)> = actix_rt::System::new().block_on(
    ///     pool.gather_stream().map(|(seq, r)| (seq, r.unwrap())).collect(),
    /// );
    /// got.sort();
    /// assert_eq!(got, vec![(0, 0), (1, 3), (2, 6), (3, 9)]);
    /// ```
    pub fn gather_stream(
        &self,
    ) -> impl futures::Stream<Item = (usize, Result<R, TaskError>)> + Send + Unpin {
        into_stream(self.gather_iter())
    }

    /// Jobs scattered but not yet started by a worker: the backlog. Running
    /// and finished jobs are not counted (a gather still waits for them).
    ///
    /// ```
    /// let pool = lox::thread(1, |x: u32| x);
    /// assert_eq!(pool.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.core().pending()
    }

    /// No job is waiting for a worker ([`len`](Thread::len) is 0).
    ///
    /// ```
    /// assert!(lox::thread(1, |x: u32| x).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pool's size; 0 when jobs run inline (debug mode).
    ///
    /// ```
    /// assert_eq!(lox::thread(3, |x: u32| x).n_workers(), 3);
    /// assert_eq!(lox::thread(0, |x: u32| x).n_workers(), 0);
    /// ```
    pub fn n_workers(&self) -> usize {
        self.core().n_workers
    }

    /// The address of the pool's [`Supervisor`] actor, for actix applications:
    /// send it [`Scatter`](crate::actors::Scatter), [`Gather`](crate::actors::Gather)
    /// and [`Pending`](crate::actors::Pending) messages to use the pool
    /// actor-to-actor without blocking. Started on first request.
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x);
    /// let a = pool.supervisor();
    /// let b = pool.clone().supervisor();
    /// assert_eq!(a, b); // one Supervisor per pool
    /// ```
    pub fn supervisor(&self) -> Addr<Supervisor<A, R>> {
        self.shared
            .supervisor
            .get_or_init(|| {
                let core = self.shared.core.clone();
                crate::runtime::start(move |_| Supervisor::new(core))
            })
            .clone()
    }
}
