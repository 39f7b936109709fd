//! `Process<A, R>`: the public handle of a process pool.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::entry::{self, Entry, Status};
use super::frame;
use super::launcher::Launcher;
use super::manager::{self, Config, Control, Job, Manager, Slot, HANDSHAKE_TIMEOUT};
use super::message::Down;
use super::payload;
use super::registry;
use crate::actors::collector::{Collector, Key, Outcome};
use crate::actors::pool::Backend;
use crate::actors::stats::Meters;
use crate::error::TaskError;
use crate::Pool;

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
/// `scatter` encodes the argument in the caller's thread: one that fails to
/// encode, or is over the [`max_frame`](Process::max_frame) cap, fails its
/// job with [`TaskError::Protocol`] at once.
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
/// [`max_frame`](Process::max_frame), and [`process_with`](crate::process_with)
/// for workers that build a state once (a model, a connection, a device) and
/// keep it across jobs.
///
/// # Cancellation
///
/// [`Job::cancel`](crate::Job::cancel), [`cancel_pending`](Pool::cancel_pending)
/// and dropping a [`Batch`](crate::Batch) or a map turn jobs not started into
/// [`TaskError::Cancelled`] and free their frames at once, wherever they
/// wait: on the pool's queue, held by a worker's manager, or already sent
/// ahead into a worker's pipe (the worker is told to skip it; one it had
/// taken up in the same microseconds runs, and its result is dropped). A
/// running job whose `Job::cancel` is called gets its worker killed, as with
/// [`job_timeout`](Process::job_timeout), and is reported `Cancelled`, not
/// retried; a fresh worker (with a fresh state for `process_with`) takes
/// the jobs behind it.
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
    let inline: Inline<A, R> = Box::new(move |args, max| {
        run_inline(args, max, |encoded, out| {
            Ok(entry::call_encoded(f, encoded, out))
        })
    });
    let parts = Parts {
        entry: entry::entry_of(f),
        init: None,
        inline,
        inline_id: None,
    };
    build(n_workers, Arc::new(f), parts)
}

/// What [`process`] and [`process_with`] give [`build`].
pub(super) struct Parts<A, R> {
    pub(super) entry: Result<Entry, String>,
    pub(super) init: Option<Entry>,
    pub(super) inline: Inline<A, R>,
    /// The pool's id for its inline states (`process_with`).
    pub(super) inline_id: Option<u64>,
}

/// The pool of `n_workers` for `parts`; `call` runs a plain call.
pub(super) fn build<A, R>(
    n_workers: usize,
    call: Arc<dyn Fn(A) -> R + Send + Sync>,
    parts: Parts<A, R>,
) -> Process<A, R>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
    let config = Config {
        launchers: vec![Launcher::local()],
        retries: 0,
        job_timeout: None,
        max_frame: frame::DEFAULT_MAX_FRAME,
        handshake_timeout: HANDSHAKE_TIMEOUT,
        init: parts.init,
        lifespan: None,
    };
    let meters = Arc::new(Meters::new(n_workers));
    let backend = Processes {
        entry: parts.entry,
        jobs_tx,
        jobs_rx,
        slots: (0..n_workers).map(|_| Slot::new(n_workers)).collect(),
        max_frame: AtomicUsize::new(frame::DEFAULT_MAX_FRAME),
        control: Arc::new(Control::new(config, meters.clone())),
        codec: Codec {
            encode: encode_job::<A>,
            inline: parts.inline,
            manage: |m| m.run(),
        },
        meters,
        inline_id: parts.inline_id,
        collector: std::sync::OnceLock::new(),
    };
    Pool::new(n_workers, call, backend)
}

/// A function wrapped in a pool of worker processes (see
/// [`process`](crate::process())); its methods are those of [`Pool`], plus
/// the builders below.
///
/// A cheap `Clone + Send + Sync` handle: clones share one pool and one list
/// of pending results. The builders ([`with_launcher`](Process::with_launcher),
/// [`retries`](Process::retries), [`job_timeout`](Process::job_timeout),
/// [`max_frame`](Process::max_frame)) change the pool that every clone shares;
/// call them before the first scatter.
pub type Process<A, R> = Pool<A, R, Processes<A, R>>;

/// The backend of a process pool: encoded jobs on a channel, one manager
/// thread per worker process (see `manager`).
pub struct Processes<A, R> {
    entry: Result<Entry, String>,
    jobs_tx: Sender<Job>,
    jobs_rx: Receiver<Job>,
    /// Per worker slot: the jobs its manager holds (cancels reach them there).
    slots: Arc<[Slot]>,
    /// Copy of the config's cap for `scatter` (no lock on the hot path).
    max_frame: AtomicUsize,
    control: Arc<Control>,
    codec: Codec<A, R>,
    meters: Arc<Meters>,
    /// `process_with`: the id of the pool's states in calling threads.
    inline_id: Option<u64>,
    /// The pool's collector, once a worker started: a `results()` open on
    /// it when the pool goes makes the workers finish the queued jobs
    /// rather than be killed (see `Drop`).
    collector: std::sync::OnceLock<Arc<Collector<R>>>,
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

/// A job in the caller's thread (debug mode), with the frame cap.
pub(super) type Inline<A, R> = Box<dyn Fn(&A, usize) -> Outcome<R> + Send + Sync>;

impl<A, R> Drop for Processes<A, R> {
    fn drop(&mut self) {
        // Runs before `jobs_tx` drops: managers wake to a closed channel and
        // a shutdown flag, and find their workers killed. With a `results()`
        // open, no shutdown: the managers run what is queued, then find the
        // channel closed and stop their workers.
        if !self.collector.get().is_some_and(|c| c.results_open()) {
            self.control.shut_down();
        }
        if let Some(id) = self.inline_id {
            super::inline_state::forget(id);
        }
    }
}

impl<A: Send + 'static, R: Send + 'static> Backend<A, R> for Processes<A, R> {
    const KIND: &'static str = "Process";

    fn inline(&self, args: A) -> Outcome<R> {
        (self.codec.inline)(&args, self.max_frame.load(Ordering::Relaxed))
    }

    /// The argument is encoded here, in the caller's thread: one that fails
    /// to encode, or is over the `max_frame` cap, fails its job at once.
    fn send(&self, key: Key, args: A, results: &Collector<R>) {
        let max = self.max_frame.load(Ordering::Relaxed);
        let (encoded, pins) =
            registry::collect_pins(|| (self.codec.encode)(key, &self.entry, &args, max));
        match encoded {
            Ok(frame) => {
                let attempts = 0;
                // Never fails: the backend holds a receiver of its own.
                let _ = self.jobs_tx.send(Job {
                    key,
                    frame,
                    attempts,
                    pins,
                });
            }
            Err(e) => results.deposit(key, Err(Box::new(e))),
        }
    }

    fn start(&self, index: usize, results: &Arc<Collector<R>>) -> std::io::Result<()> {
        let _ = self.collector.set(results.clone());
        let manage = self.codec.manage;
        let manager = Manager::<R>::new(
            self.control.clone(),
            self.jobs_rx.clone(),
            results.clone(),
            index,
            self.slots.clone(),
            self.meters.clone(),
        );
        self.control.started.fetch_add(1, Ordering::AcqRel);
        std::thread::Builder::new()
            .name(format!("lox-process-{index}"))
            .spawn(move || manage(manager))
            .map(drop)
    }

    fn fail_queued(&self, why: &TaskError, results: &Collector<R>) {
        for job in self.jobs_rx.try_iter() {
            results.deposit(job.key, Err(Box::new(why.clone())));
        }
    }

    fn unstarted(&self) -> usize {
        let held: usize = self
            .slots
            .iter()
            .map(|s| s.held.load(Ordering::Relaxed))
            .sum();
        self.jobs_rx.len() + held
    }

    /// Jobs on the pool's queue and jobs its managers hold, sent ahead to a
    /// worker or not (see `manager::cancel`). The managers are looked at
    /// before and after the queue, so that a job moving from the queue to a
    /// manager meanwhile is found too.
    fn withdraw(&self, which: &dyn Fn(Key) -> bool, results: &Collector<R>) -> usize {
        let (mut jobs, mut keys) = manager::withdraw(&self.slots, which);
        let (hit, keep): (Vec<Job>, Vec<Job>) = self.jobs_rx.try_iter().partition(|j| which(j.key));
        for job in keep {
            let _ = self.jobs_tx.send(job);
        }
        keys.extend(hit.iter().map(|j| j.key));
        jobs.extend(hit);
        let (late, ahead) = manager::withdraw(&self.slots, which);
        keys.extend(late.iter().map(|j| j.key).chain(ahead));
        drop(jobs); // frames and pins go before the outcomes show
        drop(late);
        for &key in &keys {
            results.deposit(key, Err(Box::new(TaskError::Cancelled)));
        }
        keys.len()
    }

    /// A job running on a worker: the worker is killed, a fresh one takes
    /// the jobs behind it (see `manager::cancel`).
    fn abort(&self, key: Key, results: &Collector<R>) -> bool {
        let killed = manager::abort(&self.slots, key);
        if killed {
            results.deposit(key, Err(Box::new(TaskError::Cancelled)));
        }
        killed
    }

    fn meters(&self) -> &Meters {
        &self.meters
    }

    /// A worker process retires after `jobs` jobs (at least 1): it drops its
    /// state and exits, and the next job starts a fresh process.
    fn set_lifespan(&self, jobs: usize) {
        let mut config = self.control.config.lock();
        config.lifespan = Some(jobs.max(1));
    }
}

impl<A, R> Process<A, R>
where
    A: Send + 'static,
    R: Send + 'static,
{
    fn configure(self, change: impl FnOnce(&mut Config)) -> Self {
        let backend = &self.core().backend;
        let mut config = backend.control.config.lock();
        change(&mut config);
        backend.max_frame.store(config.max_frame, Ordering::Relaxed);
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
/// the caller's thread; `call` runs the encoded job (`Err`: the state could
/// not be built).
pub(super) fn run_inline<A, R>(
    args: &A,
    max: usize,
    call: impl FnOnce(&[u8], &mut Vec<u8>) -> Result<Status, String>,
) -> Outcome<R>
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
    let status = call(&encoded, &mut out).map_err(|why| Box::new(TaskError::Launch(why)))?;
    match status {
        Status::Ok if out.len() > max => Err(proto(format!(
            "the job's result could not be sent: frame of {} bytes exceeds the cap of {max} bytes",
            out.len()
        ))),
        Status::Ok => payload::decode(&out)
            .map_err(|e| proto(format!("could not decode the job's result: {e}"))),
        Status::Panicked(m) => Err(Box::new(TaskError::Panicked(m))),
        Status::Protocol(m) => Err(proto(m)),
        Status::Skipped => Err(Box::new(TaskError::Cancelled)),
    }
}
