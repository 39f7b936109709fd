//! `Pool<A, R, B>`: the public handle of every pool, written once. Its two
//! kinds are [`Thread`](crate::Thread) and [`Process`](crate::Process).

use std::sync::{Arc, OnceLock};

use actix::Addr;

use super::collector::Ticket;
use super::completed::{Completed, CompletedStream};
use super::pool::{Backend, Core};
use super::supervisor::Supervisor;
use super::wakers::AllDone;
use crate::error::TaskError;

/// A function wrapped in a pool of workers: [`Thread`](crate::Thread) (made
/// by [`thread()`](crate::thread())) or [`Process`](crate::Process) (made by
/// [`process()`](crate::process())); `B` is how jobs reach the workers.
///
/// A cheap `Clone` handle: clones share one pool and one list of pending
/// results, so jobs scattered through any clone, from any thread, are
/// gathered by the next `gather` through any clone.
///
/// ```
/// let pool: lox::Thread<u64, u64> = lox::thread(4, |x| x * 2);
/// pool.clone().scatter(1); // through a clone
/// assert_eq!(pool.gather(), vec![2]);
/// ```
pub struct Pool<A: Send + 'static, R: Send + 'static, B> {
    core: Arc<Core<A, R, B>>,
    /// Held by the handles only: the actor stops with the last of them.
    supervisor: Arc<OnceLock<Addr<Supervisor<A, R>>>>,
}

impl<A: Send + 'static, R: Send + 'static, B> Clone for Pool<A, R, B> {
    fn clone(&self) -> Self {
        let (core, supervisor) = (self.core.clone(), self.supervisor.clone());
        Pool { core, supervisor }
    }
}

impl<A: Send + 'static, R: Send + 'static, B: Backend<A, R>> std::fmt::Debug for Pool<A, R, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(B::KIND)
            .field("n_workers", &self.n_workers())
            .field("len", &self.len())
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}

impl<A: Send + 'static, R: Send + 'static, B: Backend<A, R>> Pool<A, R, B> {
    /// A pool of `n_workers` (0, or `LOX_DEBUG` set: inline) on `backend`.
    pub(crate) fn new(n_workers: usize, f: Arc<dyn Fn(A) -> R + Send + Sync>, backend: B) -> Self {
        let core = Arc::new(Core::new(n_workers, f, backend));
        let weak: std::sync::Weak<Core<A, R, B>> = Arc::downgrade(&core);
        core.collector.set_flush(weak);
        Pool {
            core,
            supervisor: Arc::default(),
        }
    }

    pub(crate) fn core(&self) -> &Core<A, R, B> {
        &self.core
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
    /// If a job failed (panicked, lost its worker process, timed out, …),
    /// `gather` waits for all the others, then panics with a message naming
    /// the job's sequence number and the error. Use
    /// [`try_gather`](Pool::try_gather) to get every outcome instead.
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
        self.core()
            .results(self.core().collector.cut(), Default::default())
    }

    /// Like [`gather`](Pool::gather), but never panics: one `Result` per job,
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
        self.core()
            .outcomes(self.core().collector.cut(), Default::default())
    }

    /// [`gather`](Pool::gather) that advances a progress bar by one per
    /// finished job: `true` or [`Progress::bar()`](crate::Progress::bar) for a
    /// default terminal bar, an `indicatif::ProgressBar` of your own, or
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
        self.core()
            .results(self.core().collector.cut(), progress.into())
    }

    /// [`try_gather`](Pool::try_gather) with a progress bar, as in
    /// [`gather_with`](Pool::gather_with).
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
        self.core()
            .outcomes(self.core().collector.cut(), progress.into())
    }

    /// [`gather`](Pool::gather) for async callers (actix, tokio or any
    /// executor): the task is woken as outcomes arrive; no executor thread
    /// blocks and no thread is started for the wait.
    ///
    /// The jobs taken are those scattered before the future is first polled.
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x * 2);
    /// pool.scatter(1);
    /// pool.scatter(2);
    /// let out = futures::executor::block_on(pool.gather_async());
    /// assert_eq!(out, vec![2, 4]);
    /// ```
    pub async fn gather_async(&self) -> Vec<R> {
        let (collector, cut) = (&self.core().collector, self.core().collector.cut()); // at first poll
        match AllDone::new(collector.clone(), cut).await.into_results() {
            Ok(results) => results,
            Err(failed) => super::raise(failed, cut.len()),
        }
    }

    /// [`try_gather`](Pool::try_gather) for async callers.
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x + 1);
    /// pool.scatter(1);
    /// let out = futures::executor::block_on(pool.try_gather_async());
    /// assert_eq!(out, vec![Ok(2)]);
    /// ```
    pub async fn try_gather_async(&self) -> Vec<Result<R, TaskError>> {
        let collector = &self.core().collector;
        let cut = collector.cut(); // at first poll
        AllDone::new(collector.clone(), cut).await.into_outcomes()
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
        Completed::new(self.core().collector.clone(), self.core().collector.cut())
    }

    /// [`gather_iter`](Pool::gather_iter) as a `futures::Stream` for async
    /// callers; no thread waits for it, and dropping it early discards the
    /// outcomes it has not yielded.
    ///
    /// ```
    /// use futures::StreamExt;
    /// let pool = lox::thread(2, |x: u32| x * 3);
    /// for i in 0..4 { pool.scatter(i); }
    /// let mut got: Vec<(usize, u32)> = futures::executor::block_on(
    ///     pool.gather_stream().map(|(seq, r)| (seq, r.unwrap())).collect(),
    /// );
    /// got.sort();
    /// assert_eq!(got, vec![(0, 0), (1, 3), (2, 6), (3, 9)]);
    /// ```
    pub fn gather_stream(&self) -> CompletedStream<R> {
        self.gather_iter().into()
    }

    /// Jobs scattered and not yet started by a worker: the backlog. Running
    /// jobs, finished jobs and jobs run inline (`n_workers == 0`) are not
    /// counted; for jobs not yet gathered, see [`pending`](Pool::pending).
    ///
    /// ```
    /// let pool = lox::thread(1, |x: u32| x);
    /// assert_eq!(pool.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.core().len()
    }

    /// Jobs scattered and not yet gathered: how many the next gather takes
    /// (waiting, running or finished), if nothing else is scattered first.
    ///
    /// ```
    /// let pool = lox::thread(0, |x: u32| x); // 0: jobs run inline, in scatter
    /// pool.scatter(1);
    /// pool.scatter(2);
    /// assert_eq!((pool.len(), pool.pending()), (0, 2)); // done, not yet gathered
    /// pool.gather();
    /// assert_eq!(pool.pending(), 0);
    /// ```
    pub fn pending(&self) -> usize {
        self.core().collector.pending()
    }

    /// No job is waiting for a worker ([`len`](Pool::len) is 0).
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

    /// One job whose outcome belongs to the returned [`Job`](crate::Job), a
    /// sequence-numbered future, never to a gather. Await it, or
    /// [`wait`](crate::Job::wait) for it.
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x + 1);
    /// pool.scatter(10);
    /// let job = pool.submit(20);
    /// assert_eq!(pool.gather(), vec![11]); // the submitted job is not in it
    /// assert_eq!(job.wait(), Ok(21));
    /// ```
    pub fn submit(&self, args: A) -> crate::Job<R> {
        super::job::submit(&self.core, args)
    }

    /// A private scatter/gather list on this pool's workers: its gathers take
    /// its own jobs only. See [`Batch`](crate::Batch).
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x * 2);
    /// let mine = pool.batch();
    /// mine.scatter(1);
    /// pool.scatter(100);
    /// assert_eq!(mine.gather(), vec![2]);
    /// assert_eq!(pool.gather(), vec![200]);
    /// ```
    pub fn batch(&self) -> crate::Batch<A, R> {
        crate::Batch::new(self.core.clone())
    }

    /// Lazy parallel map in input order: pulls inputs only as room frees
    /// up (see [`Map::window`](crate::Map::window)), yields results while
    /// inputs are still being read: a feeder thread pulls the input, so one
    /// that blocks (a channel, a socket) never holds back finished results.
    /// The input moves to that thread, so it must be `Send + 'static`: map
    /// over `vec.into_iter()`, a range, a channel's `into_iter()`, not over a
    /// borrow. A failed job panics at its item, like `gather`. See
    /// [`Map`](crate::Map).
    ///
    /// ```
    /// let pool = lox::thread(4, |s: String| s.len());
    /// let words = vec!["a".to_string(), "bb".into(), "ccc".into()];
    /// assert_eq!(pool.map(words).collect::<Vec<_>>(), vec![1, 2, 3]);
    /// ```
    pub fn map<I>(&self, inputs: I) -> crate::Map<R>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        crate::Map::new(self.core.clone(), inputs)
    }

    /// [`map`](Pool::map) that never panics: one `Result` per input, in
    /// input order. See [`TryMap`](crate::TryMap).
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| 10 / x);
    /// let out: Vec<_> = pool.try_map([5, 0]).collect();
    /// assert_eq!(out[0], Ok(2));
    /// assert!(matches!(out[1], Err(lox::TaskError::Panicked(_))));
    /// ```
    pub fn try_map<I>(&self, inputs: I) -> crate::TryMap<R>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        crate::TryMap::new(self.core.clone(), inputs)
    }

    /// Lazy parallel map in completion order: each job's outcome as it
    /// finishes. See [`Unordered`](crate::Unordered).
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x);
    /// let mut seen: Vec<u32> = pool.map_unordered(0..10).map(Result::unwrap).collect();
    /// seen.sort();
    /// assert_eq!(seen, (0..10).collect::<Vec<_>>());
    /// ```
    pub fn map_unordered<I>(&self, inputs: I) -> crate::Unordered<R>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        crate::Unordered::new(self.core.clone(), inputs)
    }

    /// [`map`](Pool::map) over an async `Stream` of inputs: a `Stream` of
    /// outcomes in input order. See [`MapStream`](crate::MapStream).
    pub fn map_stream<S>(&self, inputs: S) -> crate::MapStream<A, R, S>
    where
        S: futures::Stream<Item = A>,
    {
        crate::MapStream::new(self.core.clone(), inputs)
    }

    /// A bounded mailbox: [`scatter`](Pool::scatter) (and a batch's) blocks,
    /// and [`scatter_async`](Pool::scatter_async) waits, while `n` jobs are
    /// scattered and not yet started (see [`len`](Pool::len)). `n = 0` is
    /// taken as 1. Applies to every clone of the pool. Maps have their own
    /// bound ([`Map::window`](crate::Map::window)); `submit` is not bounded.
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u64| x).max_pending(100);
    /// for i in 0..1_000 { pool.scatter(i); } // never more than 100 waiting
    /// assert_eq!(pool.gather().len(), 1_000);
    /// ```
    pub fn max_pending(self, n: usize) -> Self {
        self.core().set_bound(n.max(1));
        self
    }

    /// [`scatter`](Pool::scatter) for async callers: waits, without blocking
    /// the executor, while the [`max_pending`](Pool::max_pending) mailbox is
    /// full (woken as jobs finish).
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x + 1).max_pending(4);
    /// let out = futures::executor::block_on(async {
    ///     for i in 0..20 { pool.scatter_async(i).await; }
    ///     pool.gather_async().await
    /// });
    /// assert_eq!(out, (1..=20).collect::<Vec<_>>());
    /// ```
    pub async fn scatter_async(&self, args: A) -> Ticket {
        let core = self.core();
        super::mailbox::ScatterAsync {
            core,
            args: Some(args),
        }
        .await
    }

    /// Cancel every job not yet started, in every lane (scatters, batches,
    /// maps, submits): each becomes `Err(TaskError::Cancelled)` and its
    /// argument is freed now. Running jobs go on. Returns how many.
    ///
    /// ```
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let rx = std::sync::Mutex::new(rx);
    /// let pool = lox::thread(1, move |x: u32| { if x == 0 { let _ = rx.lock().unwrap().recv(); } x });
    /// pool.scatter(0); // holds the only worker until we send
    /// for i in 1..=3 { pool.scatter(i); }
    /// let cancelled = pool.cancel_pending();
    /// tx.send(()).unwrap();
    /// let out = pool.try_gather();
    /// assert_eq!(out.iter().filter(|o| **o == Err(lox::TaskError::Cancelled)).count(), cancelled);
    /// ```
    pub fn cancel_pending(&self) -> usize {
        self.core().withdraw(&|_| true)
    }

    /// Outcomes of every job scattered from now on, in completion order,
    /// until the pool's last handle is dropped: a consumer stage with no
    /// polling loop. It takes the shared scatter lane: gathers take none of
    /// these jobs while it lives (only those scattered before it). Dropping
    /// it gives the lane back. See [`Results`](crate::Results).
    ///
    /// A process pool whose last handle goes while a `results()` is open
    /// lets its workers finish the queued jobs (instead of killing them, as
    /// a dropped process pool does otherwise), so the consumer sees them all.
    ///
    /// # Panics
    ///
    /// If another `results()` of this pool is alive.
    pub fn results(&self) -> crate::Results<R> {
        crate::Results::new(self.core().collector.clone())
    }

    /// [`results`](Pool::results) as a `futures::Stream`.
    pub fn results_stream(&self) -> crate::ResultsStream<R> {
        self.results().into()
    }

    /// What the pool's Supervisor knows now: workers alive and busy, jobs
    /// queued, done and failed, restarts, and per-worker job counts and busy
    /// time. See [`Stats`](crate::Stats).
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| if x == 3 { panic!("three") } else { x });
    /// for i in 0..5 { pool.scatter(i); }
    /// let _ = pool.try_gather();
    /// let stats = pool.stats();
    /// assert_eq!((stats.done, stats.failed), (4, 1));
    /// ```
    pub fn stats(&self) -> crate::Stats {
        self.core().stats()
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
        let core = self.core.clone();
        let start = || crate::runtime::start(move |_| Supervisor::new(core));
        self.supervisor.get_or_init(start).clone()
    }
}
