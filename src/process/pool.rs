//! `Process<A, R>`: the public handle of a process pool.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::entry::{self, Entry, Status};
use super::frame;
use super::launcher::Launcher;
use super::manager::{Config, Control, Job, Manager, HANDSHAKE_TIMEOUT};
use super::message::Down;
use super::payload;
use super::registry;
use crate::actors::collector::{Collector, Key, Outcome, Ticket};
use crate::actors::completed::{into_stream, Completed};
use crate::actors::pool::{gather_outcomes, gather_results, outcomes_of, results_of};
use crate::error::TaskError;

/// The number of CPUs: the worker count of a bare `#[lox::process]`.
pub(crate) fn default_processes() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `f` in `n_workers` worker processes (the same executable, re-launched).
///
/// `f` must be a plain function or a non-capturing closure; its argument and
/// result travel as MessagePack (serde). `main` must call [`init()`](crate::init)
/// first: a worker is this executable started again with a marker argument,
/// and `init()` is where it serves jobs.
///
/// `n_workers == 0` (or `LOX_DEBUG` set to a true-like value, as for
/// [`thread`](crate::thread())) runs every scatter inline in the caller, no
/// process spawned. Inline jobs still make the serialize → deserialize round
/// trip of both argument and result, so a type that does not survive it fails
/// in debug mode too, and a panic is caught and reported by `gather` exactly as
/// with workers.
///
/// Worker processes start on the first scatter (not here), up to `n_workers`,
/// stay up between gathers, and are killed when the last handle is dropped
/// (jobs still queued are dropped with them) or when this process exits; a
/// worker also exits within a second of its parent's death (even `SIGKILL`),
/// in the middle of a job too.
///
/// # How a worker finds `f`
///
/// Nothing is registered: a job carries the offset of `f` and of a
/// monomorphized trampoline (decode `A`, call, encode `R`) from a base symbol
/// inside lox. The worker runs a byte-identical executable (the handshake
/// compares a hash of the file's contents, and a protocol version, before any
/// job is accepted; a mismatch is a [`TaskError::Launch`] naming both), so
/// the same offsets point at the same code whatever ASLR did. This is why `f`
/// is a plain `fn` pointer and why the worker must be the same build.
///
/// # Failures
///
/// A panic in `f` is [`TaskError::Panicked`] and the worker goes on. A worker
/// that dies mid-job (exit, abort, signal) fails that job only, with
/// [`TaskError::WorkerDied`] and the exit status, unless
/// [`retries`](Process::retries) allows re-running it; a fresh worker takes
/// the jobs behind it. See also [`job_timeout`](Process::job_timeout) and
/// [`max_frame`](Process::max_frame).
///
/// ```
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     lox::init();
///     let pool = lox::process(0, square); // 0: inline (a doc test spawns no worker)
///     for i in 0..4 { pool.scatter(i); }
///     assert_eq!(pool.gather(), vec![0, 1, 4, 9]);
/// }
/// ```
pub fn process<A, R>(n_workers: usize, f: fn(A) -> R) -> Process<A, R>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let n = if crate::actors::debug_forced() {
        0
    } else {
        n_workers
    };
    let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
    let config = Config {
        launchers: vec![Launcher::local()],
        retries: 0,
        job_timeout: None,
        max_frame: frame::DEFAULT_MAX_FRAME,
        handshake_timeout: HANDSHAKE_TIMEOUT,
    };
    Process {
        shared: Arc::new(Shared {
            f,
            n_workers: n,
            entry: entry::entry_of(f),
            collector: Collector::new(),
            jobs_tx,
            jobs_rx,
            spawned: AtomicUsize::new(0),
            spawn_lock: Mutex::new(()),
            max_frame: AtomicUsize::new(frame::DEFAULT_MAX_FRAME),
            control: Arc::new(Control::new(config)),
            codec: Codec {
                encode: encode_job::<A>,
                inline: run_inline::<A, R>,
                manage: |m| m.run(),
            },
        }),
    }
}

/// A function wrapped in a pool of worker processes (see [`process`](crate::process())).
///
/// A cheap `Clone + Send + Sync` handle with the same methods as
/// [`Thread`](crate::Thread): clones share one pool and one list of pending
/// results. The builders ([`with_launcher`](Process::with_launcher),
/// [`retries`](Process::retries), [`job_timeout`](Process::job_timeout),
/// [`max_frame`](Process::max_frame)) change the pool that every clone shares;
/// call them before the first scatter.
pub struct Process<A, R> {
    shared: Arc<Shared<A, R>>,
}

struct Shared<A, R> {
    f: fn(A) -> R,
    n_workers: usize,
    entry: Result<Entry, String>,
    collector: Arc<Collector<R>>,
    jobs_tx: Sender<Job>,
    jobs_rx: Receiver<Job>,
    spawned: AtomicUsize,
    spawn_lock: Mutex<()>,
    /// Copy of the config's cap for `scatter` (no lock on the hot path).
    max_frame: AtomicUsize,
    control: Arc<Control>,
    codec: Codec<A, R>,
}

/// What needs serde, chosen in [`process`] where its bounds hold: the
/// handle's methods need no serde bounds, so a type that cannot travel is
/// one error (at `process`), not one more per method that a caller uses.
struct Codec<A, R> {
    encode: Encode<A>,
    inline: Inline<A, R>,
    manage: fn(Manager<R>),
}

/// `encode_job`: a job's whole frame.
type Encode<A> = fn(Key, &Result<Entry, String>, &A, usize) -> Result<Vec<u8>, TaskError>;

/// `run_inline`: a job in the caller's thread (debug mode).
type Inline<A, R> = fn(fn(A) -> R, &A, usize) -> Outcome<R>;

impl<A, R> Drop for Shared<A, R> {
    fn drop(&mut self) {
        // Runs before `jobs_tx` drops: managers wake to a closed channel and
        // a shutdown flag, and find their workers killed.
        self.control.shut_down();
    }
}

impl<A, R> Clone for Process<A, R> {
    fn clone(&self) -> Self {
        Process {
            shared: self.shared.clone(),
        }
    }
}

impl<A, R> std::fmt::Debug for Process<A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("n_workers", &self.shared.n_workers)
            .field("pending", &self.shared.jobs_rx.len())
            .finish_non_exhaustive()
    }
}

impl<A, R> Process<A, R>
where
    A: Send + 'static,
    R: Send + 'static,
{
    fn configure(self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.shared.control.config.lock();
        change(&mut config);
        self.shared
            .max_frame
            .store(config.max_frame, Ordering::Relaxed);
        drop(config);
        self
    }

    /// How worker processes are started (default: [`Launcher::local()`]).
    /// Applies to workers started afterwards.
    ///
    /// ```no_run
    /// let pool = lox::process(2, |x: u32| x + 1)
    ///     .with_launcher(lox::Launcher::slurm());
    /// ```
    pub fn with_launcher(self, launcher: Launcher) -> Self {
        self.configure(|c| c.launchers = vec![launcher])
    }

    /// Start worker `i` with `launchers[i % launchers.len()]`: spreads the
    /// pool over several hosts, e.g. one `ssh` prefix per host. A worker that
    /// dies is replaced through the same launcher. An empty list means
    /// [`Launcher::local()`]. Applies to workers started afterwards.
    ///
    /// ```no_run
    /// use lox::Launcher;
    /// // 4 workers: two on node1, two on node2
    /// let pool = lox::process(4, |x: u32| x + 1).with_launchers(vec![
    ///     Launcher::prefix("ssh", ["node1"]),
    ///     Launcher::prefix("ssh", ["node2"]),
    /// ]);
    /// ```
    pub fn with_launchers(self, launchers: Vec<Launcher>) -> Self {
        let launchers = if launchers.is_empty() {
            vec![Launcher::local()]
        } else {
            launchers
        };
        self.configure(|c| c.launchers = launchers)
    }

    /// Re-run a job whose worker died (exit, abort, signal) on a fresh worker,
    /// up to `k` times, before reporting [`TaskError::WorkerDied`]. A job that
    /// hit the [`job_timeout`](Process::job_timeout) is not retried.
    ///
    /// ```
    /// let pool = lox::process(0, |x: u32| x).retries(2);
    /// # let _ = pool;
    /// ```
    pub fn retries(self, k: usize) -> Self {
        self.configure(|c| c.retries = k)
    }

    /// Kill a worker whose job runs longer than `d` and report the job as
    /// [`TaskError::TimedOut`]; a fresh worker takes the jobs behind it. The
    /// clock starts when the worker starts the job, not at scatter. Not
    /// applied to inline (`n_workers == 0`) jobs.
    ///
    /// ```
    /// let pool = lox::process(0, |x: u32| x).job_timeout(std::time::Duration::from_secs(60));
    /// # let _ = pool;
    /// ```
    pub fn job_timeout(self, d: Duration) -> Self {
        self.configure(|c| c.job_timeout = Some(d))
    }

    /// Cap on one frame (an encoded job or result), both directions; default
    /// 256 MiB. A job over the cap fails at scatter with
    /// [`TaskError::Protocol`]; so does a result over it.
    ///
    /// ```
    /// let pool = lox::process(0, |v: Vec<u8>| v.len()).max_frame(1024);
    /// pool.scatter(vec![0; 10]);
    /// pool.scatter(vec![0; 4096]);
    /// let out = pool.try_gather();
    /// assert_eq!(out[0], Ok(10));
    /// assert!(matches!(out[1], Err(lox::TaskError::Protocol(_))));
    /// ```
    pub fn max_frame(self, bytes: usize) -> Self {
        self.configure(|c| c.max_frame = bytes)
    }

    /// How long a newly started worker may take to answer the handshake
    /// (default 60 s) before its jobs fail with [`TaskError::Launch`]. Raise it
    /// for launchers that queue (batch schedulers), lower it to fail fast.
    ///
    /// ```
    /// let pool = lox::process(0, |x: u32| x).handshake_timeout(std::time::Duration::from_secs(300));
    /// # let _ = pool;
    /// ```
    pub fn handshake_timeout(self, d: Duration) -> Self {
        self.configure(|c| c.handshake_timeout = d)
    }

    /// Plain call in the caller's thread and process: the function as if
    /// undecorated (no serialization).
    ///
    /// ```
    /// let double = lox::process(2, |x: i32| x * 2);
    /// assert_eq!(double.call(21), 42);
    /// assert!(double.is_empty()); // nothing was scattered, no process started
    /// ```
    pub fn call(&self, args: A) -> R {
        (self.shared.f)(args)
    }

    /// Enqueue one job; never blocks on the job. Returns its [`Ticket`].
    ///
    /// The argument is encoded here, in the caller's thread: an argument that
    /// fails to encode, or is over the [`max_frame`](Process::max_frame) cap,
    /// makes the job fail with [`TaskError::Protocol`].
    ///
    /// ```
    /// let pool = lox::process(0, |s: String| s.len());
    /// let t = pool.scatter("four".to_string());
    /// assert_eq!(t.seq(), 0);
    /// assert_eq!(pool.gather(), vec![4]);
    /// ```
    pub fn scatter(&self, args: A) -> Ticket {
        let sh = &*self.shared;
        let key = sh.collector.next_key();
        if sh.n_workers == 0 {
            sh.collector.deposit(
                key,
                (sh.codec.inline)(sh.f, &args, sh.max_frame.load(Ordering::Relaxed)),
            );
        } else {
            let (encoded, pins) = registry::collect_pins(|| {
                (sh.codec.encode)(key, &sh.entry, &args, sh.max_frame.load(Ordering::Relaxed))
            });
            match encoded {
                Ok(frame) => {
                    // Never fails: the pool holds a receiver of its own.
                    let _ = sh.jobs_tx.send(Job {
                        key,
                        frame,
                        attempts: 0,
                        pins,
                    });
                    if sh.spawned.load(Ordering::Relaxed) < sh.n_workers {
                        self.spawn_manager();
                    }
                }
                Err(e) => sh.collector.deposit(key, Err(Box::new(e))),
            }
        }
        sh.collector.ticket(key)
    }

    #[cold]
    fn spawn_manager(&self) {
        let sh = &*self.shared;
        let _guard = sh.spawn_lock.lock();
        let i = sh.spawned.load(Ordering::Relaxed);
        if i >= sh.n_workers {
            return;
        }
        let manage = sh.codec.manage;
        let manager = Manager::<R>::new(
            sh.control.clone(),
            sh.jobs_rx.clone(),
            sh.collector.clone(),
            sh.n_workers,
            i,
        );
        match std::thread::Builder::new()
            .name(format!("lox-process-{i}"))
            .spawn(move || manage(manager))
        {
            Ok(_) => sh.spawned.store(i + 1, Ordering::Relaxed),
            Err(e) if i == 0 => {
                let why = format!("could not start a manager thread: {e}");
                for job in sh.jobs_rx.try_iter() {
                    sh.collector
                        .deposit(job.key, Err(Box::new(TaskError::Launch(why.clone()))));
                }
            }
            Err(e) => {
                log::warn!("lox: running on {i} worker processes, could not start another: {e}")
            }
        }
    }

    /// Block until every job scattered (from any thread) before this call has
    /// finished; return their results in scatter order.
    ///
    /// # Panics
    ///
    /// If a job failed (panicked, lost its worker, timed out, …), `gather`
    /// waits for all the others, then panics with a message naming the job's
    /// sequence number and the error. Use [`try_gather`](Process::try_gather)
    /// to get every outcome instead.
    ///
    /// ```
    /// let pool = lox::process(0, |x: u64| x + 1);
    /// for x in [3, 1, 2] { pool.scatter(x); }
    /// assert_eq!(pool.gather(), vec![4, 2, 3]);
    /// assert_eq!(pool.gather(), Vec::<u64>::new()); // nothing new was scattered
    /// ```
    #[track_caller]
    pub fn gather(&self) -> Vec<R> {
        gather_results(&self.shared.collector, Default::default())
    }

    /// Like [`gather`](Process::gather), but never panics: one `Result` per
    /// job, in scatter order.
    ///
    /// ```
    /// let pool = lox::process(0, |x: i32| if x < 0 { panic!("negative: {x}") } else { x });
    /// pool.scatter(1);
    /// pool.scatter(-1);
    /// let out = pool.try_gather();
    /// assert_eq!(out[0], Ok(1));
    /// assert_eq!(out[1], Err(lox::TaskError::Panicked("negative: -1".into())));
    /// ```
    pub fn try_gather(&self) -> Vec<Result<R, TaskError>> {
        gather_outcomes(&self.shared.collector, Default::default())
    }

    /// [`gather`](Process::gather) that advances a progress bar by one per
    /// finished job (see [`Progress`](crate::Progress)).
    ///
    /// ```
    /// let pool = lox::process(0, |x: u32| x);
    /// for i in 0..10 { pool.scatter(i); }
    /// assert_eq!(pool.gather_with(false).len(), 10);
    /// ```
    #[track_caller]
    pub fn gather_with(&self, progress: impl Into<crate::Progress>) -> Vec<R> {
        gather_results(&self.shared.collector, progress.into())
    }

    /// [`try_gather`](Process::try_gather) with a progress bar.
    ///
    /// ```
    /// let pool = lox::process(0, |x: u32| x);
    /// pool.scatter(7);
    /// assert_eq!(pool.try_gather_with(false), vec![Ok(7)]);
    /// ```
    pub fn try_gather_with(
        &self,
        progress: impl Into<crate::Progress>,
    ) -> Vec<Result<R, TaskError>> {
        gather_outcomes(&self.shared.collector, progress.into())
    }

    /// [`gather`](Process::gather) for async callers (actix or tokio): the
    /// wait happens on a helper thread, never on the executor.
    ///
    /// ```
    /// let pool = lox::process(0, |x: u32| x * 2);
    /// pool.scatter(1);
    /// pool.scatter(2);
    /// let out = actix_rt::System::new().block_on(pool.gather_async());
    /// assert_eq!(out, vec![2, 4]);
    /// ```
    pub async fn gather_async(&self) -> Vec<R> {
        let c = self.shared.collector.clone();
        let cut = c.cut(); // at first poll, like Thread::gather_async
        crate::runtime::off_thread("lox-gather", move || {
            results_of(&c, cut, Default::default())
        })
        .await
    }

    /// [`try_gather`](Process::try_gather) for async callers.
    ///
    /// ```
    /// let pool = lox::process(0, |x: u32| x + 1);
    /// pool.scatter(1);
    /// let out = actix_rt::System::new().block_on(pool.try_gather_async());
    /// assert_eq!(out, vec![Ok(2)]);
    /// ```
    pub async fn try_gather_async(&self) -> Vec<Result<R, TaskError>> {
        let c = self.shared.collector.clone();
        let cut = c.cut(); // at first poll, like Thread::try_gather_async
        crate::runtime::off_thread("lox-gather", move || {
            outcomes_of(&c, cut, Default::default())
        })
        .await
    }

    /// Streaming gather: take every job scattered so far and yield
    /// `(seq, outcome)` as each finishes, in completion order.
    ///
    /// ```
    /// let pool = lox::process(0, |x: u64| x * x);
    /// for i in 0..4 { pool.scatter(i); }
    /// let mut seen: Vec<(usize, u64)> = pool.gather_iter().map(|(s, r)| (s, r.unwrap())).collect();
    /// seen.sort();
    /// assert_eq!(seen, vec![(0, 0), (1, 1), (2, 4), (3, 9)]);
    /// ```
    pub fn gather_iter(&self) -> Completed<R> {
        let collector = self.shared.collector.clone();
        let cut = collector.cut();
        Completed::new(collector, cut)
    }

    /// [`gather_iter`](Process::gather_iter) as a `futures::Stream` for async
    /// callers; the waiting happens on a helper thread.
    ///
    /// ```
    /// use futures::StreamExt;
    /// let pool = lox::process(0, |x: u32| x * 3);
    /// for i in 0..3 { pool.scatter(i); }
    /// let mut got: Vec<(usize, u32)> = actix_rt::System::new().block_on(
    ///     pool.gather_stream().map(|(seq, r)| (seq, r.unwrap())).collect(),
    /// );
    /// got.sort();
    /// assert_eq!(got, vec![(0, 0), (1, 3), (2, 6)]);
    /// ```
    pub fn gather_stream(
        &self,
    ) -> impl futures::Stream<Item = (usize, Result<R, TaskError>)> + Send + Unpin {
        into_stream(self.gather_iter())
    }

    /// Jobs scattered but not yet started by a worker (not yet sent to a
    /// worker process): the backlog. Running and finished jobs are not
    /// counted (a gather still waits for them).
    ///
    /// ```
    /// let pool = lox::process(1, |x: u32| x);
    /// assert_eq!(pool.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.shared.jobs_rx.len()
    }

    /// No job is waiting for a worker ([`len`](Process::len) is 0).
    ///
    /// ```
    /// assert!(lox::process(1, |x: u32| x).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pool's size; 0 when jobs run inline (debug mode).
    ///
    /// ```
    /// assert_eq!(lox::process(3, |x: u32| x).n_workers(), 3);
    /// assert_eq!(lox::process(0, |x: u32| x).n_workers(), 0);
    /// ```
    pub fn n_workers(&self) -> usize {
        self.shared.n_workers
    }
}

/// The whole frame of one job: header, then the encoded argument.
fn encode_job<A: Serialize + 'static>(
    key: Key,
    entry: &Result<Entry, String>,
    args: &A,
    max: usize,
) -> Result<Vec<u8>, TaskError> {
    let entry = *entry
        .as_ref()
        .map_err(|why| TaskError::Launch(why.clone()))?;
    let mut buf = Vec::with_capacity(64);
    frame::begin(&mut buf);
    frame::push(&mut buf, &Down::Job { id: key, entry })
        .map_err(|e| TaskError::Protocol(e.to_string()))?;
    payload::push(&mut buf, args)
        .map_err(|e| TaskError::Protocol(format!("could not encode the job's argument: {e}")))?;
    frame::finish(&mut buf, max)
        .map_err(|e| TaskError::Protocol(format!("the job's argument could not be sent: {e}")))?;
    Ok(buf)
}

/// Debug mode: the same encode → call → decode round trip as a worker, in
/// the caller's thread.
fn run_inline<A, R>(f: fn(A) -> R, args: &A, max: usize) -> Outcome<R>
where
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    let proto = |m: String| Box::new(TaskError::Protocol(m));
    let mut encoded = Vec::new();
    payload::push(&mut encoded, args)
        .map_err(|e| proto(format!("could not encode the job's argument: {e}")))?;
    if encoded.len() > max {
        return Err(proto(format!("the job's argument could not be sent: frame of {} bytes exceeds the cap of {max} bytes", encoded.len())));
    }
    let mut out = Vec::new();
    match entry::call_encoded(f, &encoded, &mut out) {
        Status::Ok if out.len() > max => Err(proto(format!(
            "the job's result could not be sent: frame of {} bytes exceeds the cap of {max} bytes",
            out.len()
        ))),
        Status::Ok => payload::decode(&out)
            .map_err(|e| proto(format!("could not decode the job's result: {e}"))),
        Status::Panicked(m) => Err(Box::new(TaskError::Panicked(m))),
        Status::Protocol(m) => Err(proto(m)),
    }
}
