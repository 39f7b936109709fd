//! Worker actors: pools whose workers each own a state `S`
//! ([`thread_with`]), and the policy that supervises it (rebuild after a
//! panic, retire after a [`lifespan`](Pool::lifespan), back off and give up
//! when `init` keeps failing).
//!
//! The policy runs on the worker thread itself ([`Life`]), between two jobs,
//! so the per-job hot path is one check that the state exists and one count
//! against the lifespan. A plain [`thread()`](crate::thread()) pool is the
//! same worker with a unit state.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::collector::{Batch, Outcome, Results};
use super::front::Pool;
use super::pool::Backend;
use super::stats::{Meter, Meters};
use super::thread_pool::{self, Thread};
use super::worker::{self, Worker};
use crate::error::{panic_message, TaskError};

/// Failed `init`s in a row after which a worker gives up.
pub(crate) const MAX_FAILED_INITS: u32 = 5;
/// The wait before the second `init`; it doubles with each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest wait between two `init`s.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A pool whose workers each own a state `S`, built by `init(worker_index)`
/// on the worker thread, once, and passed to every job as `&mut S`.
///
/// `S` need not be `Send`: it is built, used and dropped on its worker
/// thread. Use it for what should happen once per worker rather than once
/// per job: load a model, open a connection, bind a device by index.
///
/// - **Index**: worker `i` (in `0..n_workers`) calls `init(i)`; a worker
///   whose state is rebuilt is worker `i` again.
/// - **Panics**: a job that panics fails with
///   [`TaskError::Panicked`] as in any pool; its worker's state is dropped at
///   once and rebuilt by `init(i)` before that worker's next job (the other
///   workers keep theirs).
/// - **Lifespan**: [`lifespan(k)`](Pool::lifespan) drops a worker's state
///   after `k` jobs; it is rebuilt before the worker's next job.
/// - **Exit hook**: `S`'s `Drop` runs on the worker thread when its state
///   retires or is rebuilt after a panic, and when the pool shuts down
///   (the last handle is gone and the queued jobs are done).
/// - **A failing `init`** (one that panics): the job given to the worker
///   fails with [`TaskError::Launch`] naming the panic message; the worker
///   waits 10 ms before it tries `init` again, doubling the wait (at most
///   1 s) after each failure, so `init` never runs in a tight loop. After 5
///   failed inits in a row (a success resets the count) the worker gives up:
///   it fails the jobs it holds with `Launch("worker i gave up after 5 failed
///   inits in a row: ...")` and leaves the pool, or, if it was the last worker
///   standing, stays to fail every later job of the pool the same way, so
///   that no gather waits forever. So `init` runs at most 5 times per worker
///   in a row of failures. A pool in that state does not recover: make a new
///   one.
/// - **Meters**: restarts (with their cause: "job panicked: ...",
///   "lifespan of k jobs reached") are counted in [`stats`](Pool::stats) and
///   logged through `log`.
///
/// [`call`](Pool::call) and debug mode (`n_workers == 0` or `LOX_DEBUG`) run
/// jobs in the calling thread, on a state of that thread built by `init(0)`
/// at first use and kept for the next call (a job that panics drops it); it
/// is dropped when the pool is dropped on that thread, or when the thread
/// exits.
///
/// ```
/// use std::collections::HashMap;
///
/// // Each worker keeps its own cache; a job that panicked would get a fresh one.
/// let pool = lox::thread_with(
///     2,
///     |_worker| HashMap::<u64, u64>::new(),
///     |cache: &mut HashMap<u64, u64>, n: u64| *cache.entry(n).or_insert_with(|| n * n),
/// );
/// for n in [3, 4, 3] {
///     pool.scatter(n);
/// }
/// assert_eq!(pool.gather(), vec![9, 16, 9]);
/// ```
///
/// The state need not be `Send`, and the worker index is stable:
///
/// ```
/// use std::rc::Rc;
///
/// let pool = lox::thread_with(3, |index| Rc::new(index), |me: &mut Rc<usize>, _: ()| **me);
/// for _ in 0..30 {
///     pool.scatter(());
/// }
/// assert!(pool.gather().into_iter().all(|index| index < 3));
/// ```
pub fn thread_with<S, A, R, I, F>(n_workers: usize, init: I, f: F) -> Thread<A, R>
where
    S: 'static,
    A: Send + 'static,
    R: Send + 'static,
    I: Fn(usize) -> S + Send + Sync + 'static,
    F: Fn(&mut S, A) -> R + Send + Sync + 'static,
{
    let spec = Arc::new(Spec::new(init, f));
    let id = caller::new_pool_id();
    let (s1, s2) = (spec.clone(), spec.clone());
    let call = Arc::new(move |args| s1.call_here(id, args));
    let inline = Arc::new(move |args| s2.inline_here(id, args));
    thread_pool::build(n_workers, call, inline, spec, Some(id))
}

impl<A: Send + 'static, R: Send + 'static, B: Backend<A, R>> Pool<A, R, B> {
    /// Retire a worker after `jobs` jobs: its state is dropped and rebuilt
    /// by `init` before its next job (for leaky native libraries, or to
    /// refresh a connection now and then). Applies to states built after the
    /// call; set it when making the pool. Each retirement counts as a restart
    /// in [`stats`](Pool::stats).
    ///
    /// `jobs = 0` is taken as 1 (a fresh state for every job).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let inits = Arc::new(AtomicUsize::new(0));
    /// let counter = inits.clone();
    /// let pool = lox::thread_with(
    ///     1,
    ///     move |_| counter.fetch_add(1, Ordering::SeqCst),
    ///     |_: &mut usize, x: u32| x,
    /// )
    /// .lifespan(10);
    /// for i in 0..25 {
    ///     pool.scatter(i);
    /// }
    /// pool.gather();
    /// assert_eq!(inits.load(Ordering::SeqCst), 3); // jobs 0..10, 10..20, 20..25
    /// assert_eq!(pool.stats().restarts, 2);
    /// ```
    pub fn lifespan(self, jobs: usize) -> Self {
        self.core().backend.set_lifespan(jobs.max(1));
        self
    }
}

/// What a thread pool's workers share besides their jobs: meters and policy.
#[derive(Debug)]
pub(crate) struct Crew {
    pub(crate) meters: Meters,
    /// Jobs per state; `usize::MAX`: unlimited.
    lifespan: AtomicUsize,
    /// Workers started and not given up.
    standing: AtomicUsize,
}

impl Crew {
    pub(crate) fn new(n_workers: usize) -> Arc<Self> {
        Arc::new(Crew {
            meters: Meters::new(n_workers),
            lifespan: AtomicUsize::new(usize::MAX),
            standing: AtomicUsize::new(0),
        })
    }

    pub(crate) fn set_lifespan(&self, jobs: usize) {
        self.lifespan.store(jobs, Ordering::Relaxed);
    }
}

/// One worker's place in its pool: its stable index and the crew.
pub(crate) struct Slot {
    pub(crate) index: usize,
    pub(crate) crew: Arc<Crew>,
}

impl Slot {
    pub(crate) fn meter(&self) -> &Meter {
        self.crew.meters.slot(self.index)
    }
}

/// How a thread worker serves: the worker loop for one state type, behind a
/// trait object so that [`Thread`] does not name `S`.
pub(crate) trait Serve<A: Send, R>: Send + Sync + 'static {
    fn serve(&self, slot: Slot, worker: Worker<A>, results: Results<R>);
}

/// A worker actor's recipe: build the state, run a job on it.
pub(crate) struct Spec<S, I, F> {
    init: I,
    pub(crate) f: F,
    _state: PhantomData<fn() -> S>,
}

impl<S: 'static, I: Fn(usize) -> S, F> Spec<S, I, F> {
    pub(crate) fn new(init: I, f: F) -> Self {
        Spec {
            init,
            f,
            _state: PhantomData,
        }
    }

    pub(crate) fn init(&self) -> &I {
        &self.init
    }

    /// `call`: the function on this thread's state.
    fn call_here<A, R>(&self, pool: u64, args: A) -> R
    where
        F: Fn(&mut S, A) -> R,
    {
        let mut state = caller::take(pool).unwrap_or_else(|| (self.init)(0));
        let r = (self.f)(&mut state, args); // a panic drops the state
        caller::put(pool, state);
        r
    }

    /// Debug mode: one job on this thread's state, panics caught.
    fn inline_here<A, R>(&self, pool: u64, args: A) -> Outcome<R>
    where
        F: Fn(&mut S, A) -> R,
    {
        let mut state = match caller::take(pool) {
            Some(state) => state,
            None => catch_unwind(AssertUnwindSafe(|| (self.init)(0))).map_err(|p| {
                let msg = panic_message(&*p);
                Box::new(TaskError::Launch(format!(
                    "init of the caller's state panicked: {msg}"
                )))
            })?,
        };
        match catch_unwind(AssertUnwindSafe(|| (self.f)(&mut state, args))) {
            Ok(r) => {
                caller::put(pool, state);
                Ok(r)
            }
            Err(p) => {
                drop_state(state, "the caller's state");
                Err(Box::new(TaskError::Panicked(panic_message(&*p))))
            }
        }
    }
}

impl<S, A, R, I, F> Serve<A, R> for Spec<S, I, F>
where
    S: 'static,
    A: Send + 'static,
    R: Send + 'static,
    I: Fn(usize) -> S + Send + Sync + 'static,
    F: Fn(&mut S, A) -> R + Send + Sync + 'static,
{
    fn serve(&self, slot: Slot, worker: Worker<A>, results: Results<R>) {
        worker::serve(self, &slot, worker, results)
    }
}

/// Drop a state with its `Drop`'s panic caught (logged): the worker goes on.
fn drop_state<S>(state: S, whose: &str) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(state))) {
        log::error!("lox: dropping {whose} panicked: {}", panic_message(&*p));
    }
}

/// One worker's state and the policy around it, run on the worker thread:
/// build, rebuild after a panic or a lifespan, back off and give up when
/// `init` fails; and its meter.
pub(crate) struct Life<'a, S, I> {
    init: &'a I,
    slot: &'a Slot,
    state: Option<S>,
    /// Jobs run on the current state, and how many it may run.
    used: usize,
    lifespan: usize,
    /// Why the next built state is a rebuild (counted as a restart once built).
    cause: Option<String>,
    failed_inits: u32,
    last_error: String,
    gave_up: bool,
    /// Gave up while another worker stands: leave the pool.
    leaving: bool,
    /// Jobs run since the last report to the meter, and since when.
    unreported: u64,
    since: Instant,
}

impl<'a, S, I: Fn(usize) -> S> Life<'a, S, I> {
    /// A worker starts: it is alive, and builds its state at once.
    pub(crate) fn start(init: &'a I, slot: &'a Slot) -> Self {
        slot.meter().alive.store(true, Ordering::Relaxed);
        slot.crew.standing.fetch_add(1, Ordering::SeqCst);
        let mut life = Life {
            init,
            slot,
            state: None,
            used: 0,
            lifespan: usize::MAX,
            cause: None,
            failed_inits: 0,
            last_error: String::new(),
            gave_up: false,
            leaving: false,
            unreported: 0,
            since: Instant::now(),
        };
        let _ = life.build();
        life
    }

    /// Run one job on the state (built first if need be).
    #[inline]
    pub(crate) fn run<A, R, F>(&mut self, f: &F, args: A, wait: &dyn Fn()) -> Outcome<R>
    where
        F: Fn(&mut S, A) -> R,
    {
        let state = match self.state {
            Some(ref mut state) => state,
            None => self.rebuild(wait)?,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| f(state, args)));
        self.unreported += 1;
        self.used += 1;
        match outcome {
            Ok(r) => {
                if self.used >= self.lifespan {
                    self.retire(format!("lifespan of {} jobs reached", self.lifespan));
                }
                Ok(r)
            }
            Err(p) => {
                let msg = panic_message(&*p);
                self.retire(format!("job panicked: {msg}"));
                Err(Box::new(TaskError::Panicked(msg)))
            }
        }
    }

    /// The worker gave up and another one stands: it should leave.
    #[inline]
    pub(crate) fn leaving(&self) -> bool {
        self.leaving
    }

    /// Fail a job without running it (the worker is leaving).
    pub(crate) fn refuse<R>(&self) -> Outcome<R> {
        Err(Box::new(TaskError::Launch(self.gave_up_message())))
    }

    /// Report the jobs run so far to the meter, then send `batch`: once a
    /// gather has the outcomes, [`Stats`](crate::Stats) counts their jobs.
    /// `now` is the worker's clock reading (it has one for dispatch).
    pub(crate) fn report<R>(&mut self, now: Instant, results: &Results<R>, batch: &mut Batch<R>) {
        if self.unreported > 0 {
            let meter = self.slot.meter();
            meter.ran(self.unreported, now.saturating_duration_since(self.since));
            self.unreported = 0;
        }
        self.since = now;
        results.send_batch(std::mem::take(batch));
    }

    /// The worker has run dry and looks for jobs: not busy.
    pub(crate) fn idle(&mut self) {
        self.slot.meter().busy.store(false, Ordering::Relaxed);
    }

    /// The worker took jobs at `now`: busy.
    pub(crate) fn busy(&mut self, now: Instant) {
        self.slot.meter().busy.store(true, Ordering::Relaxed);
        self.since = now;
    }

    fn retire(&mut self, why: String) {
        if let Some(state) = self.state.take() {
            drop_state(state, &format!("the state of worker {}", self.slot.index));
        }
        self.cause = Some(why);
    }

    /// Build the state: `Err` with the reason when `init` panicked.
    fn build(&mut self) -> Result<(), String> {
        let index = self.slot.index;
        match catch_unwind(AssertUnwindSafe(|| (self.init)(index))) {
            Ok(state) => {
                self.state = Some(state);
                (self.used, self.failed_inits) = (0, 0);
                self.lifespan = self.slot.crew.lifespan.load(Ordering::Relaxed);
                if let Some(why) = self.cause.take() {
                    self.slot.meter().restarted(index, why);
                }
                Ok(())
            }
            Err(p) => {
                self.failed_inits += 1;
                self.last_error = panic_message(&*p);
                log::warn!(
                    "lox: init of worker {index} panicked ({} in a row): {}",
                    self.failed_inits,
                    self.last_error
                );
                Err(self.last_error.clone())
            }
        }
    }

    /// No state: back off, build it, or give up.
    #[cold]
    fn rebuild(&mut self, wait: &dyn Fn()) -> Result<&mut S, Box<TaskError>> {
        if self.gave_up {
            if self.slot.crew.standing.load(Ordering::SeqCst) > 0 {
                self.leaving = true;
            }
            return Err(Box::new(TaskError::Launch(self.gave_up_message())));
        }
        if self.failed_inits > 0 {
            wait();
            let doubling = FIRST_BACKOFF.saturating_mul(1 << (self.failed_inits - 1).min(16));
            std::thread::sleep(doubling.min(MAX_BACKOFF));
        }
        match self.build() {
            Ok(()) => Ok(self.state.as_mut().expect("just built")),
            Err(_) if self.failed_inits >= MAX_FAILED_INITS => {
                self.give_up();
                Err(Box::new(TaskError::Launch(self.gave_up_message())))
            }
            Err(msg) => Err(Box::new(TaskError::Launch(format!(
                "init of worker {} panicked: {msg}",
                self.slot.index
            )))),
        }
    }

    fn give_up(&mut self) {
        self.gave_up = true;
        self.slot.meter().alive.store(false, Ordering::Relaxed);
        let others = self.slot.crew.standing.fetch_sub(1, Ordering::SeqCst) - 1;
        self.leaving = others > 0;
        let then = if self.leaving {
            "it leaves the pool"
        } else {
            "it was the last worker: it fails the pool's jobs from now on"
        };
        log::error!("lox: {}; {then}", self.gave_up_message());
    }

    fn gave_up_message(&self) -> String {
        format!(
            "worker {} gave up after {} failed inits in a row: {}",
            self.slot.index, self.failed_inits, self.last_error
        )
    }
}

impl<S, I> Drop for Life<'_, S, I> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            drop_state(state, &format!("the state of worker {}", self.slot.index));
        }
        let meter = self.slot.meter();
        meter.busy.store(false, Ordering::Relaxed);
        meter.alive.store(false, Ordering::Relaxed);
    }
}

/// The caller-thread states of `call` and debug mode: per thread, per pool.
mod caller {
    use super::*;

    thread_local! {
        static STATES: RefCell<Vec<(u64, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
    }

    static NEXT: AtomicU64 = AtomicU64::new(0);

    pub(super) fn new_pool_id() -> u64 {
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    /// This thread's state for `pool`, taken out (a nested call builds its own).
    pub(super) fn take<S: 'static>(pool: u64) -> Option<S> {
        let found = STATES
            .try_with(|states| {
                let mut states = states.borrow_mut();
                let i = states.iter().position(|(id, _)| *id == pool)?;
                Some(states.swap_remove(i).1)
            })
            .ok()??;
        found.downcast::<S>().ok().map(|state| *state)
    }

    pub(super) fn put<S: 'static>(pool: u64, state: S) {
        let mut state = Some(state);
        let _ = STATES.try_with(|states| {
            if let Some(state) = state.take() {
                states.borrow_mut().push((pool, Box::new(state)));
            }
        });
        // Thread exiting: `state` is dropped here, outside the borrow.
    }

    /// The pool is gone: drop this thread's states for it (more than one if
    /// a job called the pool's `call` from inside a call).
    pub(crate) fn forget(pool: u64) {
        let gone: Vec<(u64, Box<dyn Any>)> = STATES
            .try_with(|states| {
                let mut states = states.borrow_mut();
                let (gone, keep) = std::mem::take(&mut *states)
                    .into_iter()
                    .partition(|(id, _)| *id == pool);
                *states = keep;
                gone
            })
            .unwrap_or_default();
        drop(gone); // outside the borrow: S's Drop may use lox itself
    }
}

pub(crate) use caller::forget as forget_caller_state;
