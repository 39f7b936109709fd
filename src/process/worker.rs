//! The worker side: [`init`] and the job loop.
//!
//! A worker is the same executable started with the command-line marker
//! [`MARKER`] (an argument, not an environment variable, so it survives
//! `ssh` and batch launchers that do not forward the environment). On Linux
//! (glibc) `early` sees the marker before `main` and serves; elsewhere
//! `init()` at the top of `main` does: it serves jobs on stdin/stdout until
//! stdin closes, and exits; without the marker it returns at once.
//!
//! The job loop reads its frames itself until a shared handle (a lock passed
//! in a job's arguments, see `client`) first sends a request; from then on a
//! reader thread reads every frame, so that answers reach a job that waits
//! for them, and passes jobs on in order.

use std::fs::File;
use std::io::{BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::client;
use super::entry::{self, Status};
use super::frame::{self, FrameError};
use super::handshake::Hello;
use super::message::{Down, Setup, Up};
use super::report;
use super::worker_queue::{Incoming, Queue};
use super::worker_state::WorkerState;

/// Jobs at least this long make the worker look for cancels in its pipe
/// before the next one (see `Input::look_ahead`).
const LOOK_AHEAD_AFTER: Duration = Duration::from_micros(50);

/// The argument that makes a process a worker: `<exe> --lox-worker`.
pub(crate) const MARKER: &str = "--lox-worker";

/// `init()` has run in this process.
static INIT_RAN: AtomicBool = AtomicBool::new(false);

/// This process was started as a worker (its first argument is the marker).
pub(crate) fn started_as_worker() -> bool {
    std::env::args_os().nth(1).is_some_and(|a| a == MARKER)
}

/// `init()` has run in this process (it returns only in a parent).
pub(crate) fn init_ran() -> bool {
    INIT_RAN.load(Ordering::Acquire)
}

/// Must be the first statement of `main` in every binary that uses
/// [`process`](crate::process()) (in a `#[test]` with the default harness:
/// the first statement of the test).
///
/// In the parent it returns at once. In a worker process (the same executable,
/// started by a pool with the `--lox-worker` marker argument) it never returns:
/// it answers the handshake, runs the jobs it is sent until its parent closes
/// the channel or dies, then exits.
///
/// # Forgetting it
///
/// A worker is the whole program started again, so whatever `main` does
/// before `init()` (printing, writing files, opening connections) would run
/// once more in every worker. lox guards against this twice:
///
/// - On Linux (glibc) a worker is caught before `main` (a function of the
///   executable's `.init_array` sees the marker and serves): it never runs
///   `main`, so no user code but its jobs. This is also what lets a test
///   binary with the default harness, whose `main` is libtest's, serve
///   process pools.
/// - In the parent, a process pool that is about to start workers while
///   `init()` has not run fails its jobs with [`TaskError::Launch`]
///   ("main() did not call lox::init() before starting worker processes
///   ..."), and `gather` panics with that message: on platforms without the
///   first guard the program would otherwise misbehave.
///
/// A pool with 0 workers (or `LOX_DEBUG`) starts no process and needs no
/// `init()`.
///
/// [`TaskError::Launch`]: crate::TaskError::Launch
///
/// ```
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     lox::init(); // a worker serves jobs here and exits
///     let pool = lox::process(0, square); // 0: inline, as doc tests spawn no worker
///     pool.scatter(3);
///     assert_eq!(pool.gather(), vec![9]);
/// }
/// ```
pub fn init() {
    INIT_RAN.store(true, Ordering::Release);
    if started_as_worker() {
        serve_and_exit();
    }
}

/// Serve as a worker until the parent closes the channel, then exit.
pub(crate) fn serve_and_exit() -> ! {
    INIT_RAN.store(true, Ordering::Release);
    let code = match serve() {
        Ok(()) => 0,
        // Its panic was reported to the parent, which fails the jobs.
        Err(why) if why.is_empty() => 3,
        Err(why) => {
            eprintln!("lox worker {}: {why}", std::process::id());
            2
        }
    };
    std::process::exit(code);
}

/// A protocol fd that is a terminal goes to raw mode: `srun --unbuffered`
/// gives the worker a pseudo-terminal for stdout. Slurm 22.05 turns output
/// processing off on it (no `\n` becomes `\r\n`) and nothing is ever
/// typed at its other end, so its line discipline is then harmless; raw mode
/// (`cfmakeraw`: no output processing, no echo, no flow-control or signal
/// characters) makes that so whatever the launcher set. Not a terminal (a
/// pipe, a socket): nothing to do.
fn make_raw(fd: RawFd) -> Result<(), String> {
    let os = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: isatty only asks about an fd this process owns.
    if unsafe { libc::isatty(fd) } != 1 {
        return Ok(());
    }
    // SAFETY: termios is plain old data; all-zero is a valid value.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr fills `t`, a valid termios, for an fd we own.
    if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
        return Err(os("tcgetattr of the protocol terminal"));
    }
    // SAFETY: cfmakeraw only rewrites the fields of `t`.
    unsafe { libc::cfmakeraw(&mut t) };
    // SAFETY: tcsetattr reads `t` and sets the mode of an fd we own.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
        return Err(os("raw mode on the protocol terminal"));
    }
    Ok(())
}

/// Move the protocol off fds 0 and 1: returns (protocol in, protocol out).
/// Afterwards fd 1 is stderr (so `println!` in a job cannot corrupt the
/// channel) and fd 0 is `/dev/null` (so a job reading stdin cannot steal it).
/// Either end that is a terminal is made raw (see `make_raw`).
fn take_stdio() -> Result<(RawFd, RawFd), String> {
    let os = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) only reads fd 0 and makes a new fd (>= 3,
    // close-on-exec, so no child of a job inherits it); no memory is touched.
    let pin = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3) };
    if pin < 0 {
        return Err(os("dup of stdin"));
    }
    // SAFETY: as above, for fd 1.
    let pout = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3) };
    if pout < 0 {
        return Err(os("dup of stdout"));
    }
    // SAFETY: dup2 replaces fd 1, which nothing in this process owns as a
    // Rust object (std's stdout writes to fd 1 by number), with a copy of 2.
    if unsafe { libc::dup2(2, 1) } < 0 {
        return Err(os("dup2(stderr, stdout)"));
    }
    // SAFETY: a NUL-terminated path literal; open reads it and makes a new fd.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if null < 0 {
        return Err(os("open /dev/null"));
    }
    // SAFETY: as for fd 1: fd 0 is owned by no Rust object here.
    let moved = unsafe { libc::dup2(null, 0) };
    let err = (moved < 0).then(|| os("dup2(/dev/null, stdin)"));
    // SAFETY: `null` was opened above and is used by nothing else.
    unsafe { libc::close(null) };
    if let Some(e) = err {
        return Err(e);
    }
    make_raw(pin)?;
    make_raw(pout)?;
    Ok((pin, pout))
}

/// Exit within moments of the parent's death or of the channel closing, also
/// in the middle of a job: a thread that waits for a hang-up on the protocol
/// input (for a pipe, POLLHUP once no writer is left; for a socket, POLLRDHUP).
fn start_watchdog(fd: RawFd) {
    #[cfg(target_os = "linux")]
    const EVENTS: libc::c_short = libc::POLLRDHUP;
    #[cfg(not(target_os = "linux"))]
    const EVENTS: libc::c_short = 0;
    let spawned = std::thread::Builder::new()
        .name("lox-watchdog".into())
        .spawn(move || loop {
            let mut p = libc::pollfd {
                fd,
                events: EVENTS,
                revents: 0,
            };
            // SAFETY: one valid pollfd; `fd` stays open for the life of the process.
            let n = unsafe { libc::poll(&mut p, 1, 1000) };
            if n > 0 && p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL | EVENTS) != 0 {
                // SAFETY: _exit ends the process at once without running anything
                // else; the parent is gone, so there is nobody left to serve.
                unsafe { libc::_exit(0) };
            }
        });
    if let Err(e) = spawned {
        eprintln!(
            "lox worker: no watchdog thread ({e}); the worker exits only when its channel closes"
        );
    }
}

fn serve() -> Result<(), String> {
    let (pin, pout) = take_stdio()?;
    // On Linux the parent asks for SIGKILL on its death too (local workers);
    // the watchdog covers every launcher.
    start_watchdog(pin);
    // SAFETY: `take_stdio` just created these fds and nothing else owns them.
    let (rd, mut wr) = unsafe { (File::from_raw_fd(pin), File::from_raw_fd(pout)) };
    let mut rd = BufReader::with_capacity(64 << 10, rd);
    let Some(parent) = handshake(&mut rd, &mut wr)? else {
        return Ok(()); // the parent closed the channel first
    };
    let max = usize::try_from(parent.max_frame)
        .unwrap_or(usize::MAX)
        .max(1024);

    // Results and the requests of shared handles share one writer lock.
    // Frames are read by this thread between jobs, until a shared handle
    // first sends a request: from then on a reader thread takes every frame
    // off the input (a running job may be waiting for an answer) and passes
    // jobs on through a channel. Pools that share nothing never pay for the
    // extra thread.
    let writer: &'static Mutex<File> = Box::leak(Box::new(Mutex::new(wr)));
    let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded::<Result<Incoming, End>>();
    let input: &'static Input = Box::leak(Box::new(Input {
        rd: Mutex::new(rd),
        max,
        threaded: AtomicBool::new(false),
        jobs: jobs_tx,
    }));
    client::install(writer, max);
    report::install(writer, parent.worker, max);
    let Some(mut state) = setup(&mut *input.rd.lock(), writer)? else {
        return Ok(()); // the parent closed the channel first
    };
    let _ = INPUT.set(input);
    let end = job_loop(input, &jobs_rx, writer, &mut state);
    drop(state); // before `exit`: the state's `Drop` runs on a graceful end
    match end {
        Ok(()) | Err(End::Closed) => Ok(()),
        Err(End::InitFailed) => Err(String::new()),
        Err(End::Broken(why)) => Err(why),
    }
}

/// Read the setup frame and build the worker's state; answer `Ready`, or
/// `InitFailed` and `Err("")` (exit 3) when `init` panicked. `None`: the
/// parent closed the channel first.
fn setup(rd: &mut impl std::io::Read, writer: &Mutex<File>) -> Result<Option<WorkerState>, String> {
    let mut body = Vec::new();
    match frame::read_frame(rd, frame::DEFAULT_MAX_FRAME, &mut body) {
        Ok(()) => {}
        Err(FrameError::Closed) => return Ok(None),
        Err(e) => return Err(format!("no setup from the parent: {e}")),
    }
    let setup: Setup = match frame::decode_all::<Down>(&body) {
        Ok(Down::Setup(s)) => s,
        Ok(other) => return Err(format!("expected the setup, got {other:?}")),
        Err(e) => return Err(format!("bad setup from the parent: {e}")),
    };
    // SAFETY: the handshake succeeded (same protocol, same executable), so
    // the setup's init entry names code of this very image.
    let mut state = unsafe { WorkerState::new(setup) };
    let built = state.ensure();
    let answer = match &built {
        Ok(()) => Up::Ready,
        Err(why) => Up::InitFailed(why.clone()),
    };
    frame::write_value(&mut *writer.lock(), &answer, frame::DEFAULT_MAX_FRAME)
        .map_err(|e| format!("answering the setup: {e}"))?;
    match built {
        Ok(()) => Ok(Some(state)),
        Err(_) => Err(String::new()),
    }
}

/// The parent speaks first; answer with ours, refuse a mismatch. `None`: the
/// parent closed the channel before saying anything.
fn handshake(rd: &mut impl std::io::Read, wr: &mut File) -> Result<Option<Hello>, String> {
    let mut body = Vec::new();
    match frame::read_frame(rd, frame::DEFAULT_MAX_FRAME, &mut body) {
        Ok(()) => {}
        Err(FrameError::Closed) => return Ok(None),
        Err(e) => return Err(format!("no handshake from the parent: {e}")),
    }
    let parent = match frame::decode_all::<Down>(&body) {
        Ok(Down::Hello(h)) => h,
        Ok(other) => return Err(format!("expected a handshake, got {other:?}")),
        Err(e) => return Err(format!("bad handshake from the parent: {e}")),
    };
    let ours = Hello::ours(0)?;
    let refused = ours.mismatch(&parent);
    frame::write_value(wr, &Up::Hello(ours), frame::DEFAULT_MAX_FRAME)
        .map_err(|e| e.to_string())?;
    match refused {
        Some(why) => Err(format!("refusing to serve parent {}: {why}", parent.pid)),
        None => Ok(Some(parent)),
    }
}

/// Run jobs until the input ends: read by this thread, or taken from the
/// reader thread once it runs. Before each job, what has arrived already is
/// read too (see `worker_queue`): a job cancelled meanwhile is skipped.
fn job_loop(
    input: &'static Input,
    jobs_rx: &crossbeam_channel::Receiver<Result<Incoming, End>>,
    writer: &Mutex<File>,
    state: &mut WorkerState,
) -> Result<(), End> {
    let (mut out, mut reply, mut queue) = (Vec::new(), Vec::new(), Queue::default());
    // The last job was long enough for a cancel to have come in meanwhile.
    let mut long = false;
    loop {
        if queue.is_empty() {
            match input.wait(jobs_rx, queue.spare())? {
                Some(incoming) => queue.take(incoming),
                None => continue,
            }
        }
        input.look_ahead(jobs_rx, &mut queue, long)?;
        let Some((id, frame)) = queue.pop() else {
            continue;
        };
        let Some(frame) = frame else {
            encode_reply(&mut reply, id, Status::Skipped, &[], input.max);
            writer
                .lock()
                .write_all(&reply)
                .map_err(|e| End::Broken(format!("writing a result: {e}")))?;
            continue;
        };
        if state.needs_build() {
            // The parent then knows that a death from here on is one in `init`.
            frame::write_value(&mut *writer.lock(), &Up::Rebuilding, input.max)
                .map_err(|e| End::Broken(format!("writing a result: {e}")))?;
        }
        let t0 = Instant::now();
        let ran = run_job(&frame, state, &mut out, &mut reply, input.max)?;
        long = t0.elapsed() >= LOOK_AHEAD_AFTER;
        queue.recycle(frame);
        if input.threaded.load(Ordering::Acquire) {
            // What the job gave back (a grant or an item that crossed a
            // withdrawal) reaches the parent before its result.
            if let Some(c) = client::get() {
                c.wait_settled();
            }
        }
        writer
            .lock()
            .write_all(&reply)
            .map_err(|e| End::Broken(format!("writing a result: {e}")))?;
        ran?;
    }
}

/// Run the job in `frame`, leaving its `Done` frame in `reply`. When the
/// state has to be built again first and `init` panics, `reply` holds
/// `InitFailed` instead, and the inner `Err` says the worker ends.
fn run_job(
    frame: &[u8],
    state: &mut WorkerState,
    out: &mut Vec<u8>,
    reply: &mut Vec<u8>,
    max: usize,
) -> Result<Result<(), End>, End> {
    let mut rest = frame;
    let (id, entry) = match frame::take::<Down>(&mut rest) {
        Ok(Down::Job { id, entry }) => (id, entry),
        Ok(other) => return Err(End::Broken(format!("unexpected message {other:?}"))),
        Err(e) => return Err(End::Broken(e.to_string())),
    };
    if let Err(why) = report::running(id, || state.ensure()) {
        frame::begin(reply);
        frame::push(reply, &Up::InitFailed(why)).map_err(|e| End::Broken(e.to_string()))?;
        frame::finish(reply, max).map_err(|e| End::Broken(e.to_string()))?;
        return Ok(Err(End::InitFailed));
    }
    // SAFETY: the handshake succeeded: the parent runs a byte-identical
    // executable (same fingerprint) and speaks this protocol version, so
    // `entry` holds offsets of a trampoline and a function of this very
    // image (see `entry`).
    let (tramp, func) = unsafe { entry::resolve(entry) };
    // SAFETY: `resolve` paired this trampoline with this address, after the
    // handshake (its contract, above).
    let status = report::running(id, || unsafe { tramp(func, state.state(), rest, out) });
    state.after(&status);
    encode_reply(reply, id, status, out, max);
    Ok(Ok(()))
}

/// What one read of the input found.
enum Read {
    /// A job, now in the caller's buffer.
    Job,
    /// Jobs sent before, to skip.
    Skip(Vec<u64>),
    /// An answer to a shared handle's request, already routed to its waiter.
    Answer,
    /// (Job loop only.) The reader thread has taken over: nothing was read;
    /// the jobs it read before are in its channel, in order.
    ReaderTookOver,
}

/// Why the input ended.
#[derive(Debug)]
enum End {
    /// The parent closed the channel, or retired the worker: it exits
    /// cleanly.
    Closed,
    /// Building the state again failed (reported to the parent).
    InitFailed,
    /// The channel broke or carried garbage.
    Broken(String),
}

/// The worker's input channel.
struct Input {
    rd: Mutex<BufReader<File>>,
    max: usize,
    /// The reader thread runs: only it reads frames.
    threaded: AtomicBool,
    jobs: crossbeam_channel::Sender<Result<Incoming, End>>,
}

static INPUT: OnceLock<&'static Input> = OnceLock::new();

impl Input {
    /// Wait for the next job or skip: read by the job loop, or taken from
    /// the reader thread once it runs. `None`: nothing for the job loop (an
    /// answer routed, or the reader took over).
    /// `body`: a buffer to read into.
    fn wait(
        &self,
        jobs_rx: &crossbeam_channel::Receiver<Result<Incoming, End>>,
        mut body: Vec<u8>,
    ) -> Result<Option<Incoming>, End> {
        if self.threaded.load(Ordering::Acquire) {
            // A closed channel means the reader ended: it sent why first.
            return jobs_rx.recv().unwrap_or(Err(End::Closed)).map(Some);
        }
        Ok(match self.next(&mut body, true)? {
            Read::Job => Some(Incoming::Job(body)),
            Read::Skip(ids) => Some(Incoming::Skip(ids)),
            Read::Answer | Read::ReaderTookOver => None,
        })
    }

    /// Take into `queue` whatever has arrived already, without waiting:
    /// what the input holds buffered and, if `poll`, what waits in the pipe
    /// (a system call, spared after a short job: a cancel that came in
    /// during one is seen at the next read).
    fn look_ahead(
        &self,
        jobs_rx: &crossbeam_channel::Receiver<Result<Incoming, End>>,
        queue: &mut Queue,
        poll: bool,
    ) -> Result<(), End> {
        loop {
            if self.threaded.load(Ordering::Acquire) {
                while let Ok(incoming) = jobs_rx.try_recv() {
                    queue.take(incoming?);
                }
                return Ok(());
            }
            {
                let rd = self.rd.lock();
                if rd.buffer().is_empty() && !(poll && readable(rd.get_ref().as_raw_fd())) {
                    return Ok(());
                }
            }
            if let Some(incoming) = self.wait(jobs_rx, queue.spare())? {
                queue.take(incoming);
            }
        }
    }

    /// Read one frame into `body` (see [`Read`]); `job_loop`: the caller is
    /// the job loop, which stops reading once the reader thread runs.
    fn next(&self, body: &mut Vec<u8>, job_loop: bool) -> Result<Read, End> {
        let mut rd = self.rd.lock();
        if job_loop && self.threaded.load(Ordering::Acquire) {
            return Ok(Read::ReaderTookOver);
        }
        match frame::read_frame(&mut *rd, self.max, body) {
            Ok(()) => {}
            Err(FrameError::Closed) => return Err(End::Closed),
            Err(e) => return Err(End::Broken(e.to_string())),
        }
        let mut rest = &body[..];
        match frame::take::<Down>(&mut rest) {
            Ok(Down::Job { .. }) => Ok(Read::Job),
            Ok(Down::Retire) => Err(End::Closed),
            Ok(Down::Skip(ids)) => Ok(Read::Skip(ids)),
            Ok(Down::Share(answer)) => {
                if let Some(c) = client::get() {
                    c.deliver(answer, rest.to_vec());
                }
                Ok(Read::Answer)
            }
            Ok(other) => Err(End::Broken(format!("unexpected message {other:?}"))),
            Err(e) => Err(End::Broken(e.to_string())),
        }
    }
}

/// A shared handle is about to send its first request: make sure a thread
/// reads the answers even while the job loop runs a job.
pub(crate) fn start_reader() {
    let Some(input) = INPUT.get().copied() else {
        return;
    };
    if input.threaded.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("lox-worker-reader".into())
        .spawn(move || read_loop(input));
    if let Err(e) = spawned {
        eprintln!("lox worker: no reader thread ({e}); exiting");
        std::process::exit(2);
    }
}

/// The reader thread: jobs go to the job loop, answers to the requests of
/// shared handles go to their waiters. (The job loop may still be inside
/// its own last read; the lock orders the two.)
fn read_loop(input: &'static Input) {
    loop {
        let mut body = Vec::new();
        match input.next(&mut body, false) {
            Ok(Read::Job) => {
                if input.jobs.send(Ok(Incoming::Job(body))).is_err() {
                    break;
                }
            }
            Ok(Read::Skip(ids)) => {
                if input.jobs.send(Ok(Incoming::Skip(ids))).is_err() {
                    break;
                }
            }
            Ok(Read::Answer | Read::ReaderTookOver) => {}
            Err(why) => {
                // The job loop ends (cleanly when the parent closed the
                // channel); the sender is static, so it is told.
                let _ = input.jobs.send(Err(why));
                break;
            }
        }
    }
    // Waiters learn that no answer will come.
    if let Some(c) = client::get() {
        c.disconnect();
    }
}

/// Something (or a hang-up) is waiting to be read on `fd`.
fn readable(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd on an fd this process owns; no waiting.
    unsafe { libc::poll(&mut p, 1, 0) > 0 }
}

/// Build a `Done` frame; a result over the cap becomes a protocol error.
fn encode_reply(reply: &mut Vec<u8>, id: u64, status: Status, payload: &[u8], max: usize) {
    let ok = status == Status::Ok;
    frame::begin(reply);
    let mut built = frame::push(reply, &Up::Done { id, status });
    if built.is_ok() && ok {
        reply.extend_from_slice(payload);
    }
    if built.is_ok() {
        built = frame::finish(reply, max);
    }
    if let Err(e) = built {
        let status = Status::Protocol(format!("the job's result could not be sent: {e}"));
        frame::begin(reply);
        frame::push(reply, &Up::Done { id, status }).expect("a short header always encodes");
        frame::finish(reply, usize::MAX).expect("a short header fits any cap");
    }
}
