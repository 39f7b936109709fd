//! The parent side: one manager thread per worker slot.
//!
//! A manager takes encoded jobs from the pool's job channel, starts its worker
//! process when it first has a job (and again after the worker dies), keeps up
//! jobs in flight (the next job is already in the worker's pipe when the
//! current one finishes, so the worker never waits for a round trip: two for
//! long jobs, up to [`MAX_DEPTH`] for short ones, about a millisecond of work
//! ahead), written in one `write` per batch,
//! and turns each reply into an outcome on the pool's collector.
//!
//! Supervision: the worker runs jobs in the order they were sent, so when its
//! channel ends (exit, abort, signal) the job at the head of the in-flight
//! queue is the one that was running: it becomes `TaskError::WorkerDied` with
//! the exit status (or is re-sent, up to the pool's `retries`), the jobs behind
//! it are re-sent unchanged to a fresh worker. A job past `job_timeout` gets
//! its worker killed and becomes `TaskError::TimedOut`. Each slot has at most
//! one process at a time: a dead worker is reaped before its replacement starts.

use std::collections::VecDeque;
use std::io::{BufReader, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, ChildStdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;

use super::early;
use super::entry::Status;
use super::frame::{self, FrameError};
use super::handshake::Hello;
use super::launcher::Launcher;
use super::message::{Down, Request, Up};
use super::payload;
use super::share::Peer;
use crate::actors::collector::{Collector, Key, Outcome};
use crate::error::TaskError;

/// Jobs in flight per worker at least: the running one and the next.
pub(crate) const MIN_DEPTH: usize = 2;
/// Jobs in flight per worker at most (short jobs).
pub(crate) const MAX_DEPTH: usize = 64;
/// Work queued ahead of a worker is kept near this much time, so that a
/// worker holding jobs never leaves another idle for long at the end.
const AHEAD_SECS: f64 = 1e-3;

/// How many jobs to keep in flight for jobs that take `job_secs` (0: unknown).
fn depth(job_secs: f64) -> usize {
    if job_secs <= 0.0 {
        return MIN_DEPTH;
    }
    ((AHEAD_SECS / job_secs) as usize).clamp(MIN_DEPTH, MAX_DEPTH)
}

/// Most bytes of frames sent to a worker that is still busy. The manager writes and
/// reads on one thread: while it writes, it does not read. A busy worker
/// reads its next job only after writing its current result, so a frame sent
/// ahead must fit in the pipe without the worker's help, or both ends block
/// writing (a big job frame one way, a big result the other). One page is
/// the smallest capacity a Linux pipe ever has; anything bigger waits until
/// the worker is idle, when it reads the whole frame before writing anything.
pub(crate) const PIPELINE_MAX: usize = 4096;

/// How often a manager with no job looks at its worker's channel, once the
/// worker has used shared handles.
const IDLE_POLL: Duration = Duration::from_millis(10);

/// How long a worker whose channel closed may take to exit by itself before
/// it is killed (a launcher such as ssh relays the exit status a little after
/// the channel ends).
const EXIT_GRACE: Duration = Duration::from_secs(2);

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
}

/// State shared by a pool's handles and its managers.
pub(crate) struct Control {
    pub(crate) shutdown: AtomicBool,
    pub(crate) config: Mutex<Config>,
    /// Worker processes alive and not yet reaped (killed on shutdown).
    pids: Mutex<Vec<u32>>,
}

impl Control {
    pub(crate) fn new(config: Config) -> Self {
        Control {
            shutdown: AtomicBool::new(false),
            config: Mutex::new(config),
            pids: Mutex::new(Vec::new()),
        }
    }

    /// The last handle is gone: stop every worker now.
    pub(crate) fn shut_down(&self) {
        self.shutdown.store(true, Ordering::Release);
        for &pid in self.pids.lock().iter() {
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

/// One running worker process and its channel.
struct Conn {
    child: Child,
    pid: u32,
    /// Jobs from the manager and answers to shared handles from lox's
    /// runtime thread go through this one lock.
    stdin: Arc<Mutex<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
    desc: String,
    /// The worker's shared-handle requests: waiting ones and grants held.
    peer: Arc<Peer>,
}

/// What waiting for a reply produced.
enum Reply {
    Done {
        id: u64,
        status: Status,
        payload: std::ops::Range<usize>,
    },
    /// The channel ended or failed: the worker is gone.
    Dead(String),
    /// The worker sent something that is not a reply.
    Garbage(String),
    TimedOut,
    /// A request of a shared handle; its payload is that range of the body.
    Share(Request, std::ops::Range<usize>),
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    if let Some(sig) = status.signal() {
        let name = match sig {
            libc::SIGKILL => "SIGKILL",
            libc::SIGABRT => "SIGABRT",
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGBUS => "SIGBUS",
            libc::SIGILL => "SIGILL",
            libc::SIGFPE => "SIGFPE",
            libc::SIGTERM => "SIGTERM",
            libc::SIGINT => "SIGINT",
            libc::SIGPIPE => "SIGPIPE",
            _ => "signal",
        };
        let core = if status.core_dumped() {
            ", core dumped"
        } else {
            ""
        };
        return format!("killed by signal {sig} ({name}{core})");
    }
    format!("ended ({status})")
}

/// Wait until `fd` is readable or `timeout` passes; true when readable (or
/// hung up: the read that follows reports it).
fn wait_readable(fd: i32, timeout: Duration) -> bool {
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd on an fd the caller owns.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n >= 0 {
            return n > 0;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return true;
        }
    }
}

impl Conn {
    /// Start a worker and complete the handshake.
    fn launch(config: &Config, control: &Control, slot: usize) -> Result<Conn, String> {
        early::require_init()?;
        let ours = Hello::ours(config.max_frame)?.for_worker(slot);
        let launcher = &config.launchers[slot % config.launchers.len().max(1)];
        let (mut cmd, desc) = launcher.command()?;
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("could not run {desc}: {e}"))?;
        let pid = child.id();
        control.pids.lock().push(pid);
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdin = Arc::new(Mutex::new(stdin));
        let mut conn = Conn {
            child,
            pid,
            peer: Peer::new(stdin.clone(), config.max_frame),
            stdin,
            stdout: BufReader::with_capacity(64 << 10, stdout),
            desc,
        };
        match conn.handshake(&ours, config.handshake_timeout) {
            Ok(()) => Ok(conn),
            Err(why) => {
                let status = conn.reap(control, true);
                Err(format!("worker {} (pid {pid}, {status}): {why}", conn.desc))
            }
        }
    }

    fn handshake(&mut self, ours: &Hello, timeout: Duration) -> Result<(), String> {
        let hint = "did main() call lox::init() first?";
        // The worker may be gone already; its answer (or its absence) says why.
        let sent = frame::write_value(
            &mut *self.stdin.lock(),
            &Down::Hello(ours.clone()),
            frame::DEFAULT_MAX_FRAME,
        );
        if !wait_readable(self.stdout.get_ref().as_raw_fd(), timeout) {
            return Err(format!("no handshake within {timeout:?}; {hint}"));
        }
        let mut body = Vec::new();
        // A handshake is small: a tight cap keeps a chatty non-worker cheap.
        match frame::read_frame(&mut self.stdout, 4096, &mut body) {
            Ok(()) => {}
            Err(FrameError::Closed) => {
                let why = sent.err().map(|e| format!(" ({e})")).unwrap_or_default();
                return Err(format!("exited before the handshake{why}; {hint}"));
            }
            Err(e) => return Err(format!("did not answer the lox handshake ({e}); {hint}")),
        }
        let theirs = match frame::decode_all::<Up>(&body) {
            Ok(Up::Hello(h)) => h,
            Ok(_) => {
                return Err(format!(
                    "did not answer the lox handshake (a reply before the hello); {hint}"
                ))
            }
            Err(e) => return Err(format!("did not answer the lox handshake ({e}); {hint}")),
        };
        match ours.mismatch(&theirs) {
            None => Ok(()),
            Some(why) => Err(why),
        }
    }

    /// Wait for the next reply, serving the worker's shared-handle requests
    /// that come first; `deadline` applies while nothing has arrived.
    fn read_reply(&mut self, deadline: Option<Instant>, max: usize, body: &mut Vec<u8>) -> Reply {
        loop {
            match self.read_frame(deadline, max, body) {
                Reply::Share(request, payload) => {
                    let payload = body[payload].to_vec();
                    self.peer.handle(request, &payload);
                }
                other => return other,
            }
        }
    }

    /// Serve the requests already waiting on the channel of a worker that
    /// has no job (a thread of an earlier job may still hold or ask for a
    /// lock). `Err` when the worker turns out to be gone or broken.
    fn serve_idle(&mut self, max: usize, body: &mut Vec<u8>) -> Result<(), String> {
        while !self.stdout.buffer().is_empty()
            || wait_readable(self.stdout.get_ref().as_raw_fd(), Duration::ZERO)
        {
            match self.read_frame(None, max, body) {
                Reply::Share(request, payload) => {
                    let payload = body[payload].to_vec();
                    self.peer.handle(request, &payload);
                }
                Reply::Done { id, .. } => {
                    return Err(format!("an answer to job {id} it was not running"))
                }
                Reply::Garbage(why) => return Err(format!("garbage on its channel: {why}")),
                Reply::Dead(detail) => return Err(format!("its channel closed{detail}")),
                Reply::TimedOut => return Ok(()),
            }
        }
        Ok(())
    }

    /// Read one frame: a job's reply or a shared-handle request.
    fn read_frame(&mut self, deadline: Option<Instant>, max: usize, body: &mut Vec<u8>) -> Reply {
        if let Some(deadline) = deadline {
            if self.stdout.buffer().is_empty() {
                let left = deadline.saturating_duration_since(Instant::now());
                if !wait_readable(self.stdout.get_ref().as_raw_fd(), left) {
                    return Reply::TimedOut;
                }
            }
        }
        match frame::read_frame(&mut self.stdout, max, body) {
            Ok(()) => {}
            Err(
                e @ (FrameError::Oversize { .. }
                | FrameError::Truncated { .. }
                | FrameError::Decode(_)
                | FrameError::Encode(_)),
            ) => return Reply::Garbage(e.to_string()),
            Err(FrameError::Closed) => return Reply::Dead(String::new()),
            Err(e) => return Reply::Dead(format!(" ({e})")),
        }
        let mut rest = &body[..];
        match frame::take::<Up>(&mut rest) {
            Ok(Up::Done { id, status }) => {
                let start = body.len() - rest.len();
                Reply::Done {
                    id,
                    status,
                    payload: start..body.len(),
                }
            }
            Ok(Up::Share(request)) => {
                let start = body.len() - rest.len();
                Reply::Share(request, start..body.len())
            }
            Ok(Up::Report(text)) => {
                crate::progress::eprint_above_bars(&text);
                self.read_frame(deadline, max, body)
            }
            Ok(other) => Reply::Garbage(format!("unexpected message {other:?}")),
            Err(e) => Reply::Garbage(e.to_string()),
        }
    }

    /// Wait up to `grace` for the process to exit on its own.
    fn await_exit(&mut self, grace: Duration) {
        let t0 = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) && t0.elapsed() < grace {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Kill (if asked) and reap the process; returns how it ended. Every
    /// shared lock it held is released.
    fn reap(&mut self, control: &Control, kill: bool) -> String {
        self.peer.close();
        {
            let mut pids = control.pids.lock();
            pids.retain(|&p| p != self.pid);
        }
        if kill {
            let _ = self.child.kill();
        }
        match self.child.wait() {
            Ok(status) => describe(status),
            Err(e) => format!("status unknown: {e}"),
        }
    }
}

/// Everything a manager needs; `R` only to decode results.
pub(crate) struct Manager<R> {
    pub(crate) control: Arc<Control>,
    pub(crate) jobs: Receiver<Job>,
    /// Where outcomes go (through `deposit`, the collector's one entry point).
    pub(crate) results: Arc<Collector<R>>,
    /// The user's function has no valid entry (checked once per pool).
    pub(crate) entry_error: Option<String>,
    /// The pool's size: a worker takes jobs ahead only up to its fair share.
    pub(crate) workers: usize,
    /// This manager's worker slot (picks its launcher).
    pub(crate) slot: usize,
}

struct Flight {
    job: Job,
    /// When the worker started running it (known for the head only).
    started: Option<Instant>,
}

impl<R: DeserializeOwned + Send + 'static> Manager<R> {
    fn deposit(&self, key: Key, outcome: Outcome<R>) {
        self.results.deposit(key, outcome);
    }

    fn fail(&self, key: Key, err: TaskError) {
        self.deposit(key, Err(Box::new(err)));
    }

    /// The manager's loop; returns when the pool is dropped.
    pub(crate) fn run(self) {
        let mut conn: Option<Conn> = None;
        let mut inflight: VecDeque<Flight> = VecDeque::with_capacity(MAX_DEPTH);
        // Jobs to (re)send before taking new ones: those behind a dead worker.
        let mut local: VecDeque<Job> = VecDeque::new();
        let mut body = Vec::new();
        // Frames gathered for one write.
        let mut batch: Vec<u8> = Vec::new();
        // Recent job time (EWMA, seconds): sets how many jobs go ahead.
        let mut job_secs = 0.0f64;
        // Workers in a row that died before taking a job (bounded, so that a
        // worker that can never take one fails jobs instead of looping).
        let mut idle_deaths = 0;
        'serve: loop {
            if self.control.is_shut_down() {
                break;
            }
            let config = self.control.config.lock().clone();
            let window = depth(job_secs);
            let was_idle = inflight.is_empty();
            // Bytes the worker has not necessarily read: every frame behind the head.
            let mut ahead: usize = inflight.iter().skip(1).map(|f| f.job.frame.len()).sum();
            // Fill the pipeline.
            while inflight.len() < window {
                let job = if let Some(j) = local.pop_front() {
                    j
                } else if inflight.is_empty() {
                    match self.next_job_idle(&mut conn, &config, &mut body) {
                        Some(j) => j,
                        None => break, // every handle dropped
                    }
                } else {
                    // Jobs sent to a process cannot be taken back: go ahead
                    // only while the queue still holds a share for every
                    // other worker, whatever the measured job cost says
                    // (after cheap jobs, slow ones must still spread out).
                    if inflight.len() > self.jobs.len() / self.workers.max(1) {
                        break;
                    }
                    match self.jobs.try_recv() {
                        Ok(j) => j,
                        Err(_) => break,
                    }
                };
                if self.control.is_shut_down() {
                    local.push_front(job); // settled below
                    break 'serve;
                }
                if !inflight.is_empty() && ahead + job.frame.len() > PIPELINE_MAX {
                    // Sent once the worker has caught up: see PIPELINE_MAX.
                    local.push_front(job);
                    break;
                }
                if let Some(why) = &self.entry_error {
                    self.fail(job.key, TaskError::Launch(why.clone()));
                    continue;
                }
                if conn.is_none() {
                    match Conn::launch(&config, &self.control, self.slot) {
                        Ok(c) => conn = Some(c),
                        Err(why) => {
                            log::error!("lox: {why}");
                            // Fail this job and every one waiting now rather
                            // than relaunch (and fail) once per job; the next
                            // scatter tries again.
                            self.fail(job.key, TaskError::Launch(why.clone()));
                            for j in local.drain(..).chain(self.jobs.try_iter()) {
                                self.fail(j.key, TaskError::Launch(why.clone()));
                            }
                            continue;
                        }
                    }
                }
                if !job.pins.is_empty() {
                    if let Some(c) = conn.as_ref() {
                        c.peer.mark_used();
                    }
                }
                batch.extend_from_slice(&job.frame);
                if !inflight.is_empty() {
                    ahead += job.frame.len();
                }
                let started = inflight.is_empty().then(Instant::now);
                inflight.push_back(Flight { job, started });
            }
            if !batch.is_empty() {
                let c = conn.as_mut().expect("a batch is built only with a worker");
                let written = c.stdin.lock().write_all(&batch);
                batch.clear();
                if written.is_err() && was_idle && idle_deaths < 3 {
                    idle_deaths += 1;
                    // The worker died while idle: nothing ran, nothing is
                    // lost. Reap it and send the jobs to a fresh one.
                    for f in inflight.drain(..).rev() {
                        local.push_front(f.job);
                    }
                    let status = c.reap(&self.control, true);
                    log::warn!(
                        "lox: worker {} {status} while idle; starting another",
                        c.pid
                    );
                    conn = None;
                    continue;
                }
                // Otherwise a failed write means the worker died while running
                // the head job: the read below reports it.
            }
            if self.control.is_shut_down() {
                break;
            }
            // Nothing in flight after filling: the job channel closed (every
            // handle is gone).
            let Some(head) = inflight.front() else { break };
            let (key, started) = (head.job.key, head.started);
            let Some(c) = conn.as_mut() else { continue };
            let deadline = config
                .job_timeout
                .map(|d| started.unwrap_or_else(Instant::now) + d);
            match c.read_reply(deadline, config.max_frame, &mut body) {
                Reply::Done {
                    id,
                    status,
                    payload,
                } if id == key => {
                    let outcome = match status {
                        Status::Ok => payload::decode::<R>(&body[payload]).map_err(|e| {
                            Box::new(TaskError::Protocol(format!(
                                "could not decode the job's result: {e}"
                            )))
                        }),
                        Status::Panicked(m) => Err(Box::new(TaskError::Panicked(m))),
                        Status::Protocol(m) => Err(Box::new(TaskError::Protocol(m))),
                    };
                    idle_deaths = 0;
                    let done = inflight.pop_front().expect("the head was in flight");
                    let now = Instant::now();
                    if let Some(t0) = done.started {
                        let secs = now.duration_since(t0).as_secs_f64();
                        job_secs = if job_secs == 0.0 {
                            secs
                        } else {
                            0.8 * job_secs + 0.2 * secs
                        };
                    }
                    if let Some(next) = inflight.front_mut() {
                        next.started = Some(now);
                    }
                    // Its pins go before its outcome shows: a shared
                    // primitive only it kept is gone when gather returns.
                    drop(done);
                    self.deposit(key, outcome);
                    // The result is decoded: peers the worker dropped before
                    // it may go (one of them may have come back in it).
                    c.peer.after_result();
                }
                Reply::Done { id, .. } => {
                    let why = format!("worker {} answered job {id} while running job {key}", c.pid);
                    self.replace(
                        &mut conn,
                        &mut inflight,
                        &mut local,
                        |_| TaskError::Protocol(why),
                        &config,
                    );
                }
                Reply::Garbage(why) => {
                    let why = format!("worker {} spoke garbage on its channel: {why}", c.pid);
                    self.replace(
                        &mut conn,
                        &mut inflight,
                        &mut local,
                        |status| {
                            TaskError::Protocol(format!("{why} (the worker was stopped: {status})"))
                        },
                        &config,
                    );
                }
                Reply::TimedOut => {
                    let d = config.job_timeout.unwrap_or_default();
                    self.replace(
                        &mut conn,
                        &mut inflight,
                        &mut local,
                        |_| TaskError::TimedOut(d),
                        &config,
                    );
                }
                Reply::Share(..) => unreachable!("read_reply serves requests itself"),
                Reply::Dead(detail) => {
                    if self.control.is_shut_down() {
                        break;
                    }
                    let pid = c.pid;
                    // The channel closed: the worker is exiting. Give a
                    // launcher in between (ssh, srun) a moment to pass on
                    // the worker's own exit status before it is killed.
                    c.peer.close(); // its locks are free while we wait
                    c.await_exit(EXIT_GRACE);
                    self.replace(
                        &mut conn,
                        &mut inflight,
                        &mut local,
                        |status| {
                            TaskError::WorkerDied(format!("worker process {pid} {status}{detail}"))
                        },
                        &config,
                    );
                }
            }
        }
        if let Some(mut c) = conn {
            c.reap(&self.control, true);
        }
        // The pool was dropped: a streaming gather or a ticket may still be
        // waiting for these jobs, so settle them rather than leave them open.
        let why = "the pool was dropped before the job finished; its workers were stopped";
        let left = inflight
            .into_iter()
            .map(|f| f.job)
            .chain(local)
            .chain(self.jobs.try_iter());
        for job in left {
            self.fail(job.key, TaskError::WorkerDied(why.to_owned()));
        }
    }

    /// Wait for a job while the worker has none. A worker that has used
    /// shared handles is watched meanwhile: its requests are served (a
    /// thread of an earlier job may hold or want a lock) and its death
    /// releases what it held.
    fn next_job_idle(
        &self,
        conn: &mut Option<Conn>,
        config: &Config,
        body: &mut Vec<u8>,
    ) -> Option<Job> {
        loop {
            let watch = conn.as_ref().is_some_and(|c| c.peer.used());
            if !watch {
                return self.jobs.recv().ok();
            }
            match self.jobs.recv_timeout(IDLE_POLL) {
                Ok(j) => return Some(j),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            }
            if self.control.is_shut_down() {
                return None;
            }
            let c = conn.as_mut().expect("watched above");
            match c.serve_idle(config.max_frame, body) {
                // No job is running, so no result can bring a peer back.
                Ok(()) => c.peer.after_result(),
                Err(why) => {
                    let status = c.reap(&self.control, true);
                    log::warn!("lox: idle worker {} {status}: {why}", c.pid);
                    *conn = None;
                }
            }
        }
    }

    /// The worker is dead or unusable: kill and reap it, settle the running
    /// job (`err` gets the exit status), and queue the jobs behind it for a
    /// fresh worker. Only a `WorkerDied` job is retried.
    fn replace(
        &self,
        conn: &mut Option<Conn>,
        inflight: &mut VecDeque<Flight>,
        local: &mut VecDeque<Job>,
        err: impl FnOnce(String) -> TaskError,
        config: &Config,
    ) {
        let Some(mut c) = conn.take() else { return };
        let status = c.reap(&self.control, true);
        let mut rest: Vec<Job> = Vec::with_capacity(inflight.len());
        if let Some(head) = inflight.pop_front() {
            let err = err(status);
            let mut job = head.job;
            if matches!(err, TaskError::WorkerDied(_)) && job.attempts < config.retries {
                job.attempts += 1;
                log::warn!(
                    "lox: {err}; re-running the job (attempt {})",
                    job.attempts + 1
                );
                rest.push(job);
            } else {
                self.fail(job.key, err);
            }
        }
        rest.extend(inflight.drain(..).map(|f| f.job));
        for job in rest.into_iter().rev() {
            local.push_front(job);
        }
    }
}
