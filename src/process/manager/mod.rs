//! The parent side: one manager thread per worker slot, in three parts.
//!
//! - [`scheduler`]: which jobs go to the worker, and when. Jobs go ahead (the
//!   next one is already in the worker's pipe when the current one ends, so
//!   the worker never waits for a round trip), within a window of about a
//!   millisecond of work, the worker's fair share of the queue and a byte
//!   budget. No I/O: unit-tested as it is.
//! - [`connection`]: one worker process and its channel: launch, handshake,
//!   frames in and out, the worker's shared-handle requests served as they
//!   come, kill and reap.
//! - [`state`]: the state machine from what happened (a reply, a death, a
//!   failed launch, ...) to the next state and what to do. Pure as well.
//! - [`cancel`]: the scheduler sits in a [`Slot`] shared with the pool, so
//!   that a cancel takes back the jobs a manager holds (or marks those sent
//!   ahead, which the worker then skips) and kills a worker whose running
//!   job is cancelled, without waiting for the manager.
//!
//! [`Manager::run`] ties them: it waits for jobs, launches a worker on the
//! first one (and again after a death), sends batches in one `write`, turns
//! each reply into an outcome on the pool's collector, and feeds what
//! happened to the state machine.
//!
//! Worker actors: each slot's worker process gets its index and the pool's
//! `init` in a setup frame right after the handshake; launch waits until the
//! state is built. A job that panicked makes the worker drop its state and
//! build it again before its next job; a fresh process (after a death, or
//! after its `lifespan` of jobs, see [`scheduler`]) builds it afresh. A
//! failed `init` fails the jobs given to that worker with
//! `TaskError::Launch`, and [`backoff`] keeps the slot from spinning. Each
//! slot reports to its [`Meter`]: alive, busy, jobs, busy time, restarts.
//!
//! Supervision: the worker runs jobs in the order they were sent, so when its
//! channel ends (exit, abort, signal) the job at the head of the in-flight
//! queue is the one that was running: it becomes `TaskError::WorkerDied` with
//! the exit status (or is re-sent, up to the pool's `retries`), the jobs behind
//! it are re-sent unchanged to a fresh worker. A job past `job_timeout` gets
//! its worker killed and becomes `TaskError::TimedOut`; one cancelled while
//! it runs gets its worker killed too, and is neither retried nor failed (it
//! was settled as `TaskError::Cancelled` by the cancel). Each slot has at most
//! one process at a time: a dead worker is reaped before its replacement starts.

mod backoff;
mod cancel;
mod connection;
mod lifecycle;
mod scheduler;
mod state;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;

use super::entry::{Entry, Status};
use super::launcher::Launcher;
use super::payload;
use crate::actors::collector::{Collector, Key, Outcome};
use crate::actors::stats::{Meter, Meters};
use crate::error::TaskError;
use backoff::{Given, InitGuard, Verdict};
use cancel::Desk;
pub(crate) use cancel::{abort, withdraw, Slot};
use connection::{Conn, Failure};
use scheduler::Head;
use state::{Event, Machine, State, Step};

/// How often a manager with no job looks at its worker's channel, once the
/// worker has used shared handles.
const IDLE_POLL: Duration = Duration::from_millis(10);

/// How long a worker whose channel closed may take to exit by itself before
/// it is killed (a launcher such as ssh relays the exit status a little after
/// the channel ends).
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// How long a retiring worker may take to drop its state and exit before it
/// is killed.
const RETIRE_GRACE: Duration = Duration::from_secs(10);

/// How often a slot that gave up looks again (at its window, the pool's end,
/// the other slots).
const GIVEN_UP_POLL: Duration = Duration::from_millis(20);

/// How long a new worker may take to answer the handshake, by default.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// One encoded job: its whole frame, ready to write.
pub(crate) struct Job {
    pub(crate) key: Key,
    pub(crate) frame: Vec<u8>,
    /// Times it was re-sent after its worker died.
    pub(crate) attempts: usize,
    /// Shared primitives in its arguments stay registered while it lives.
    pub(crate) pins: Vec<super::registry::Pin>,
}

/// Settings the builders change; read by managers per launch and per job.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Worker slot `i` is started by `launchers[i % len]` (never empty).
    pub(crate) launchers: Vec<Launcher>,
    pub(crate) retries: usize,
    pub(crate) job_timeout: Option<Duration>,
    pub(crate) max_frame: usize,
    pub(crate) handshake_timeout: Duration,
    /// The pool's `init` (`process_with`), sent in each worker's setup.
    pub(crate) init: Option<Entry>,
    /// Jobs per worker process before it retires (`None`: no limit).
    pub(crate) lifespan: Option<usize>,
}

/// State shared by a pool's handles and its managers.
pub(crate) struct Control {
    pub(crate) shutdown: AtomicBool,
    pub(crate) config: Mutex<Config>,
    /// Worker processes alive and not yet reaped, with their slots (killed
    /// on shutdown, except idle ones that own a state: see `shut_down`).
    pids: Mutex<Vec<(u32, usize)>>,
    meters: Arc<Meters>,
    /// Managers started, and those of them that gave up on a failing `init`.
    pub(crate) started: AtomicUsize,
    given_up: AtomicUsize,
}

impl Control {
    pub(crate) fn new(config: Config, meters: Arc<Meters>) -> Self {
        Control {
            shutdown: AtomicBool::new(false),
            config: Mutex::new(config),
            pids: Mutex::new(Vec::new()),
            meters,
            started: AtomicUsize::new(0),
            given_up: AtomicUsize::new(0),
        }
    }

    /// Every slot started has given up: nothing can run a job.
    fn all_given_up(&self) -> bool {
        self.given_up.load(Ordering::Acquire) >= self.started.load(Ordering::Acquire)
    }

    /// The last handle is gone: stop every worker now. An idle worker that
    /// owns a state (`process_with`) is left to its manager, which asks it to
    /// drop the state and exit (see `Manager::run`).
    pub(crate) fn shut_down(&self) {
        self.shutdown.store(true, Ordering::Release);
        let graceful = self.config.lock().init.is_some();
        for &(pid, slot) in self.pids.lock().iter() {
            let meter = self.meters.slot(slot);
            let idle = meter.alive.load(Ordering::Acquire) && !meter.busy.load(Ordering::Acquire);
            if graceful && idle {
                continue;
            }
            // SAFETY: kill(2) has no memory effects. The pid is still ours: a
            // manager removes it from this list (under this lock) before it
            // reaps the process, so it cannot have been reused.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }

    fn is_shut_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }
}

/// One manager: its worker slot, the jobs for it, where outcomes go.
pub(crate) struct Manager<R> {
    control: Arc<Control>,
    jobs: Receiver<Job>,
    /// Where outcomes go (the collector's one entry point is `deposit`).
    results: Arc<Collector<R>>,
    /// This manager's worker slot (picks its launcher).
    slot: usize,
    /// Per slot: its scheduler and what cancels reach (see [`cancel`]).
    slots: Arc<[Slot]>,
    /// Per slot: what `stats()` reports.
    meters: Arc<Meters>,
    machine: Machine,
    /// Failed inits in a row, back-off, giving up.
    guard: InitGuard,
    /// The worker process, while the state is `Up`.
    conn: Option<Conn>,
    /// Frames gathered for one write.
    batch: Vec<u8>,
}

impl<R> Manager<R> {
    /// The manager of worker slot `slot` of a pool of `slots.len()` workers.
    pub(crate) fn new(
        control: Arc<Control>,
        jobs: Receiver<Job>,
        results: Arc<Collector<R>>,
        slot: usize,
        slots: Arc<[Slot]>,
        meters: Arc<Meters>,
    ) -> Self {
        Manager {
            control,
            jobs,
            results,
            slot,
            slots,
            meters,
            machine: Machine::default(),
            guard: InitGuard::default(),
            conn: None,
            batch: Vec::new(),
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> Manager<R> {
    /// This slot's scheduler and cancel marks, locked (never across I/O).
    fn desk(&self) -> parking_lot::MutexGuard<'_, Desk> {
        self.slots[self.slot].lock()
    }

    /// Tell the pool's `len` how many of this slot's jobs have not started.
    fn publish(&self) {
        let slot = &self.slots[self.slot];
        slot.publish(&slot.lock());
    }

    fn fail(&self, key: Key, err: TaskError) {
        self.results.deposit(key, Err(Box::new(err)));
    }

    fn meter(&self) -> &Meter {
        self.meters.slot(self.slot)
    }

    /// The worker process is gone (or up again).
    fn set_alive(&self, alive: bool) {
        self.meter().alive.store(alive, Ordering::Relaxed);
        self.meter().busy.store(false, Ordering::Relaxed);
    }

    /// The manager's loop; returns when the pool is dropped.
    pub(crate) fn run(mut self) {
        loop {
            self.publish();
            // Builders may change these before the first scatter.
            let (retries, timeout) = {
                let config = self.control.config.lock();
                (config.retries, config.job_timeout)
            };
            let event = match self.machine.state() {
                State::Stopped => break,
                _ if self.control.is_shut_down() => Event::Shutdown,
                State::Absent => self.launch(),
                State::Up => self.serve(timeout),
            };
            match self.machine.next(event, retries) {
                Step::Go | Step::Stop => {}
                Step::FailWaiting(why) => {
                    log::error!("lox: {why}");
                    let jobs = self.desk().sched.take_waiting();
                    for job in jobs.into_iter().chain(self.jobs.try_iter()) {
                        self.fail(job.key, TaskError::Launch(why.to_string()));
                    }
                }
                Step::Replace { why, head, grace } => self.replace(why, head, grace),
                Step::InitFailed(why) => self.init_failed(why),
                Step::Retire => self.retire(),
            }
        }
        if let Some(mut conn) = self.take_conn() {
            let graceful = self.control.config.lock().init.is_some();
            let idle = self.desk().sched.idle();
            if graceful && idle && conn.retire().is_ok() {
                conn.await_exit(EXIT_GRACE); // its state's `Drop` runs
            }
            conn.reap(&self.control);
        }
        self.set_alive(false);
        // A streaming gather or a ticket may still wait for these jobs:
        // settle them rather than leave them open.
        let why = "the pool was dropped before the job finished; its workers were stopped";
        let held = self.desk().sched.take_all();
        for job in held.into_iter().chain(self.jobs.try_iter()) {
            let err = TaskError::WorkerDied(why.to_owned());
            self.results.deposit(job.key, Err(Box::new(err)));
        }
    }

    /// No worker: start one for the next job (unless the slot backs off or
    /// gave up).
    fn launch(&mut self) -> Event {
        if let Some(event) = self.hold_off() {
            return event;
        }
        if self.desk().sched.is_empty() {
            match self.jobs.recv() {
                Ok(job) => self.desk().sched.push(job),
                Err(_) => return Event::JobsClosed,
            }
            self.publish();
        }
        if self.control.is_shut_down() {
            return Event::Shutdown; // no worker for a dropped pool's jobs
        }
        let config = self.control.config.lock().clone();
        match Conn::launch(&config, &self.control, self.slot) {
            Ok(conn) => {
                let mut desk = self.desk();
                desk.worker = Some(conn.worker());
                desk.aborted = None;
                desk.sched.new_worker(config.lifespan);
                drop(desk);
                self.conn = Some(conn);
                self.set_alive(true);
                Event::Launched
            }
            Err(e) => Event::LaunchFailed(Box::new(e)),
        }
    }

    /// A worker is up: give it jobs, read the next reply.
    fn serve(&mut self, timeout: Option<Duration>) -> Event {
        if self.desk().sched.is_empty() {
            match self.wait_for_job() {
                Ok(job) => self.desk().sched.push(job),
                Err(event) => return event,
            }
        }
        if self.control.is_shut_down() {
            return Event::Shutdown;
        }
        let slot = &self.slots[self.slot];
        let mut desk = slot.lock();
        let was_idle = desk.sched.idle();
        let conn = self.conn.as_mut().expect("a worker is up");
        if desk.sched.fill(&self.jobs, &mut self.batch) {
            conn.peer.mark_used();
        }
        slot.publish(&desk);
        let busy = !desk.sched.idle();
        drop(desk);
        self.meters
            .slot(self.slot)
            .busy
            .store(busy, Ordering::Relaxed);
        if !self.batch.is_empty() {
            let written = conn.send(&self.batch);
            self.batch.clear();
            match written {
                Err(e) if was_idle => return Event::WriteFailed(e),
                // The worker died running the head job: the read reports it.
                _ => {}
            }
        }
        self.read_reply(timeout)
    }

    /// Wait for a job while the worker has none. A worker that has used
    /// shared handles is watched meanwhile: its requests are served (a
    /// thread of an earlier job may hold or want a lock) and its death
    /// releases what it held.
    fn wait_for_job(&mut self) -> Result<Job, Event> {
        let conn = self.conn.as_mut().expect("a worker is up");
        loop {
            if !conn.peer.used() {
                return self.jobs.recv().map_err(|_| Event::JobsClosed);
            }
            match self.jobs.recv_timeout(IDLE_POLL) {
                Ok(job) => return Ok(job),
                Err(RecvTimeoutError::Disconnected) => return Err(Event::JobsClosed),
                Err(RecvTimeoutError::Timeout) if self.control.is_shut_down() => {
                    return Err(Event::Shutdown)
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            conn.serve_idle().map_err(Event::IdleFailed)?;
            // No job is running, so no result can bring a peer back.
            conn.peer.after_result();
        }
    }

    /// Wait for the reply to the head job and deposit its outcome.
    fn read_reply(&mut self, timeout: Option<Duration>) -> Event {
        let desk = self.desk();
        let head = desk.sched.head().expect("a job in flight");
        let (key, attempts) = (head.job.key, head.job.attempts);
        let started = head.started.unwrap_or_else(Instant::now);
        drop(desk);
        let conn = self.conn.as_mut().expect("a worker is up");
        let pid = conn.pid;
        let (outcome, panic) = match conn.read_reply(key, started, timeout) {
            Ok((status, payload)) => {
                let panic = match &status {
                    Status::Panicked(m) => Some(m.clone()),
                    _ => None,
                };
                (decode::<R>(status, payload), panic)
            }
            Err(_) if self.control.is_shut_down() => return Event::Shutdown,
            // Killed by `abort`: its job was cancelled.
            Err(_) if self.slots[self.slot].lock().aborted == Some(pid) => {
                return Event::Failed(Failure::Cancelled, attempts)
            }
            Err(failure) => return Event::Failed(failure, attempts),
        };
        let panicked = panic.is_some_and(|m| self.restarts_on_panic(&m, key));
        let now = Instant::now();
        let mut desk = self.desk();
        // Its pins go before its outcome shows: a shared primitive only it
        // kept is gone when gather returns.
        let cancelled = desk.sched.finish_head(now).is_some_and(|f| f.cancelled);
        let (idle, spent) = (desk.sched.idle(), desk.sched.spent());
        drop(desk);
        self.meter().ran(1, now.saturating_duration_since(started));
        self.meter().busy.store(!idle, Ordering::Relaxed);
        if !cancelled {
            self.results.deposit(key, outcome); // a cancelled one's is settled
        }
        // The result is decoded: peers the worker dropped before it may go
        // (one of them may have come back in it).
        if let Some(conn) = &self.conn {
            conn.peer.after_result();
        }
        if !panicked {
            self.guard.succeeded();
        }
        if spent {
            Event::Spent
        } else {
            Event::Answered
        }
    }

    /// Job `key` panicked with `message`: a worker with state drops it and
    /// builds it again before its next job; count that restart. True if so.
    fn restarts_on_panic(&self, message: &str, key: Key) -> bool {
        if self.control.config.lock().init.is_none() {
            return false;
        }
        let why = format!("job {} panicked ({message}): state rebuilt", key as u32);
        self.meter().restarted(self.slot, why);
        true
    }

    /// The worker process, no longer one that a cancel may kill.
    fn take_conn(&mut self) -> Option<Conn> {
        self.desk().worker = None;
        self.conn.take()
    }

    /// The worker is lost: stop and reap it, settle the job it ran as `head`
    /// says, and keep the jobs behind it for a fresh worker.
    fn replace(&mut self, why: Failure, head: Head, grace: bool) {
        let Some(mut conn) = self.take_conn() else {
            return;
        };
        if grace {
            conn.peer.close(); // its locks are free while we wait
            conn.await_exit(EXIT_GRACE);
        }
        let started = self.desk().sched.head().and_then(|f| f.started);
        let status = conn.reap(&self.control);
        self.set_alive(false);
        let err = why.task_error(conn.pid, &status);
        let cause = format!("worker process {} {status} ({why})", conn.pid);
        self.meter().restarted(self.slot, cause);
        match head {
            Head::Resend if matches!(why, Failure::Cancelled) => {
                log::debug!("lox: worker {} {status} ({why})", conn.pid)
            }
            Head::Resend => log::warn!(
                "lox: worker {} {status} ({why}); starting another",
                conn.pid
            ),
            Head::Retry => log::warn!("lox: {err}; re-running the job"),
            Head::Fail => {}
        }
        let lost = self.desk().sched.lost_worker(head);
        if let Some(job) = lost {
            let key = job.key;
            drop(job); // its pins go before its outcome shows
            let busy = started.map_or(Duration::ZERO, |t| t.elapsed());
            self.meter().ran(1, busy);
            self.fail(key, err);
        }
    }
}

/// A job's outcome from its reply.
fn decode<R: DeserializeOwned + 'static>(status: Status, payload: &[u8]) -> Outcome<R> {
    match status {
        Status::Ok => payload::decode::<R>(payload).map_err(|e| {
            let why = format!("could not decode the job's result: {e}");
            Box::new(TaskError::Protocol(why))
        }),
        Status::Panicked(m) => Err(Box::new(TaskError::Panicked(m))),
        Status::Protocol(m) => Err(Box::new(TaskError::Protocol(m))),
        Status::Skipped => Err(Box::new(TaskError::Cancelled)),
    }
}
