//! One worker process and its channel: launch and handshake, frames in and
//! out, the worker's shared-handle requests served as they come, and the end
//! (kill, reap, how it ended).

use std::io::{BufReader, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, ChildStdout};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{Config, Control};
use crate::actors::collector::Key;
use crate::error::TaskError;
use crate::process::early;
use crate::process::entry::Status;
use crate::process::frame::{self, FrameError};
use crate::process::handshake::Hello;
use crate::process::message::{Down, Request, Setup, Up};
use crate::process::share::Peer;

const HINT: &str = "did main() call lox::init() first?";

/// Why a worker could not be started.
#[derive(Debug)]
pub(crate) enum LaunchError {
    /// No command to run, or no fingerprint of this executable.
    Setup(String),
    /// Running the command (named) failed.
    Spawn(String, std::io::Error),
    /// The worker (named, with its pid and how it ended) failed the handshake.
    Handshake(String, HandshakeError),
    /// The worker (named) could not build its state: `init` panicked (its
    /// message), or the worker died in `init` (how it ended).
    Init(String, String),
}

/// Why a started worker is not one we can talk to.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    Silent(Duration),
    /// It exited first (with the error of sending it our hello, if any).
    Exited(Option<FrameError>),
    NotLox(String),
    /// Another protocol version or executable.
    Mismatch(String),
}

/// How a worker failed its manager.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Its channel ended (or broke): it exited or was killed.
    Closed(Option<std::io::Error>),
    /// Something that is not a frame, or not a reply.
    Garbage(String),
    /// An answer to job `.0` while it ran job `.1` (or none).
    Stray(u64, Option<Key>),
    /// Its job ran past the pool's `job_timeout`.
    TimedOut(Duration),
    /// Building its state again (after a job panicked) failed: `init`
    /// panicked, with this message. The worker exits.
    Init(String),
    /// It was killed because its running job was cancelled.
    Cancelled,
}

impl std::fmt::Display for LaunchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LaunchError::Setup(why) => f.write_str(why),
            LaunchError::Spawn(desc, e) => write!(f, "could not run {desc}: {e}"),
            LaunchError::Handshake(worker, why) => write!(f, "{worker}: {why}"),
            LaunchError::Init(worker, why) => {
                write!(f, "{worker} could not build its worker state: {why}")
            }
        }
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self {
            HandshakeError::Silent(t) => format!("no handshake within {t:?}"),
            HandshakeError::Exited(None) => "exited before the handshake".into(),
            HandshakeError::Exited(Some(e)) => format!("exited before the handshake ({e})"),
            HandshakeError::NotLox(why) => format!("did not answer the lox handshake ({why})"),
            HandshakeError::Mismatch(why) => return f.write_str(why),
        };
        write!(f, "{why}; {HINT}")
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Closed(None) => f.write_str("its channel closed"),
            Failure::Closed(Some(e)) => write!(f, "i/o error on the worker channel: {e}"),
            Failure::Garbage(why) => write!(f, "spoke garbage on its channel: {why}"),
            Failure::Stray(id, Some(k)) => write!(f, "answered job {id} while running job {k}"),
            Failure::Stray(id, None) => write!(f, "answered job {id} while idle"),
            Failure::TimedOut(d) => write!(f, "ran a job past the timeout of {d:?}"),
            Failure::Init(why) => write!(f, "could not build its worker state again: {why}"),
            Failure::Cancelled => f.write_str("was stopped: its running job was cancelled"),
        }
    }
}

impl Failure {
    /// What the running job of worker `pid`, which ended with `status`, fails with.
    pub(crate) fn task_error(&self, pid: u32, status: &str) -> TaskError {
        let stopped = format!("worker process {pid} {status}");
        match self {
            Failure::Closed(None) => TaskError::WorkerDied(stopped),
            Failure::Closed(Some(_)) => TaskError::WorkerDied(format!("{stopped} ({self})")),
            Failure::TimedOut(d) => TaskError::TimedOut(*d),
            Failure::Cancelled => TaskError::Cancelled,
            Failure::Init(_) => {
                TaskError::Launch(format!("worker process {pid} ({status}) {self}"))
            }
            _ => TaskError::Protocol(format!(
                "worker {pid} {self} (the worker was stopped: {status})"
            )),
        }
    }
}

/// A frame from the worker.
enum Frame {
    /// A job ended; its payload starts at byte `at` of the body.
    Done { id: u64, status: Status, at: usize },
    /// A request of a shared handle; its payload starts at byte `at`.
    Share(Request, usize),
    /// The worker's state is built (the answer to the setup).
    Ready,
    /// `init` panicked (its message); the worker exits.
    InitFailed(String),
    /// The worker builds its state again before the next job.
    Rebuilding,
}

/// One running worker process and its channel.
pub(crate) struct Conn {
    child: Child,
    pub(crate) pid: u32,
    /// Jobs from the manager and answers to shared handles from lox's
    /// runtime thread go through this one lock.
    stdin: Arc<Mutex<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
    /// The last frame read.
    body: Vec<u8>,
    max_frame: usize,
    /// The worker's shared-handle requests: waiting ones and grants held.
    pub(crate) peer: Arc<Peer>,
}

impl Conn {
    /// Start a worker for slot `slot`, complete the handshake and the setup
    /// (the worker's state built).
    pub(crate) fn launch(
        config: &Config,
        control: &Control,
        slot: usize,
    ) -> Result<Conn, LaunchError> {
        early::require_init().map_err(LaunchError::Setup)?;
        let ours = Hello::ours(config.max_frame)
            .map_err(LaunchError::Setup)?
            .for_worker(slot);
        let launcher = &config.launchers[slot % config.launchers.len().max(1)];
        let (mut cmd, desc) = launcher.command().map_err(LaunchError::Setup)?;
        let mut child = cmd
            .spawn()
            .map_err(|e| LaunchError::Spawn(desc.clone(), e))?;
        let pid = child.id();
        control.pids.lock().push((pid, slot));
        let stdin = Arc::new(Mutex::new(child.stdin.take().expect("stdin is piped")));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut conn = Conn {
            child,
            pid,
            peer: Peer::new(stdin.clone(), config.max_frame),
            stdin,
            stdout: BufReader::with_capacity(64 << 10, stdout),
            body: Vec::new(),
            max_frame: config.max_frame,
        };
        if let Err(why) = conn.handshake(&ours, config.handshake_timeout) {
            let worker = format!("worker {desc} (pid {pid}, {})", conn.reap(control));
            return Err(LaunchError::Handshake(worker, why));
        }
        let setup = Setup {
            index: slot as u64,
            init: config.init,
        };
        match conn.setup(setup) {
            Ok(()) => Ok(conn),
            Err(why) => {
                let worker = format!("worker {slot} (pid {pid}, {})", conn.reap(control));
                Err(LaunchError::Init(worker, why))
            }
        }
    }

    /// Send the setup and wait (without a timeout: `init` may load a model)
    /// until the worker's state is built. `Err`: why not.
    fn setup(&mut self, setup: Setup) -> Result<(), String> {
        let sent = frame::write_value(
            &mut *self.stdin.lock(),
            &Down::Setup(setup),
            frame::DEFAULT_MAX_FRAME,
        );
        match self.read_frame() {
            Ok(Frame::Ready) => Ok(()),
            Ok(Frame::InitFailed(why)) => Err(why),
            Ok(_) => Err("it answered the setup with something else".to_owned()),
            Err(Failure::Closed(_)) => Err(match sent {
                Ok(()) => "it died in init".to_owned(),
                Err(e) => format!("it died before the setup ({e})"),
            }),
            Err(e) => Err(e.to_string()),
        }
    }

    fn handshake(&mut self, ours: &Hello, timeout: Duration) -> Result<(), HandshakeError> {
        // The worker may be gone already; its answer (or its absence) says why.
        let sent = frame::write_value(
            &mut *self.stdin.lock(),
            &Down::Hello(ours.clone()),
            frame::DEFAULT_MAX_FRAME,
        );
        if !wait_readable(self.fd(), timeout) {
            return Err(HandshakeError::Silent(timeout));
        }
        // A handshake is small: a tight cap keeps a chatty non-worker cheap.
        match frame::read_frame(&mut self.stdout, 4096, &mut self.body) {
            Ok(()) => {}
            Err(FrameError::Closed) => return Err(HandshakeError::Exited(sent.err())),
            Err(e) => return Err(HandshakeError::NotLox(e.to_string())),
        }
        match frame::decode_all::<Up>(&self.body) {
            Ok(Up::Hello(theirs)) => ours
                .mismatch(&theirs)
                .map_or(Ok(()), |why| Err(HandshakeError::Mismatch(why))),
            Ok(_) => Err(HandshakeError::NotLox("a reply before the hello".into())),
            Err(e) => Err(HandshakeError::NotLox(e.to_string())),
        }
    }

    /// How a canceller reaches this worker.
    pub(crate) fn worker(&self) -> super::cancel::Worker {
        super::cancel::Worker {
            pid: self.pid,
            stdin: self.stdin.clone(),
        }
    }

    /// Write frames in one `write`.
    pub(crate) fn send(&self, frames: &[u8]) -> std::io::Result<()> {
        self.stdin.lock().write_all(frames)
    }

    /// Wait for the reply to job `running`, which started at `started`,
    /// serving the worker's shared-handle requests that come first.
    /// Returns its status and payload.
    pub(crate) fn read_reply(
        &mut self,
        running: Key,
        started: Instant,
        timeout: Option<Duration>,
    ) -> Result<(Status, &[u8]), Failure> {
        let mut rebuilding = false;
        loop {
            if let Some(d) = timeout {
                let left = (started + d).saturating_duration_since(Instant::now());
                if self.stdout.buffer().is_empty() && !wait_readable(self.fd(), left) {
                    return Err(Failure::TimedOut(d));
                }
            }
            let frame = match self.read_frame() {
                Err(Failure::Closed(_)) if rebuilding => {
                    return Err(Failure::Init("it died in init".to_owned()))
                }
                other => other?,
            };
            match frame {
                Frame::Rebuilding => rebuilding = true,
                Frame::Share(request, at) => self.peer.handle(request, &self.body[at..]),
                Frame::Done { id, status, at } if id == running => {
                    return Ok((status, &self.body[at..]))
                }
                Frame::Done { id, .. } => return Err(Failure::Stray(id, Some(running))),
                Frame::InitFailed(why) => return Err(Failure::Init(why)),
                Frame::Ready => return Err(Failure::Garbage("a stray Ready".into())),
            }
        }
    }

    /// Serve the requests already waiting on the channel of a worker that
    /// has no job (a thread of an earlier job may still hold or ask for a
    /// lock).
    pub(crate) fn serve_idle(&mut self) -> Result<(), Failure> {
        while !self.stdout.buffer().is_empty() || wait_readable(self.fd(), Duration::ZERO) {
            match self.read_frame()? {
                Frame::Share(request, at) => self.peer.handle(request, &self.body[at..]),
                Frame::Done { id, .. } => return Err(Failure::Stray(id, None)),
                Frame::InitFailed(why) => return Err(Failure::Init(why)),
                Frame::Ready | Frame::Rebuilding => {
                    return Err(Failure::Garbage("a stray setup answer".into()))
                }
            }
        }
        Ok(())
    }

    fn fd(&self) -> i32 {
        self.stdout.get_ref().as_raw_fd()
    }

    /// Read one frame: a job's reply or a shared-handle request.
    fn read_frame(&mut self) -> Result<Frame, Failure> {
        frame::read_frame(&mut self.stdout, self.max_frame, &mut self.body).map_err(
            |e| match e {
                FrameError::Closed => Failure::Closed(None),
                FrameError::Io(e) => Failure::Closed(Some(e)),
                e => Failure::Garbage(e.to_string()),
            },
        )?;
        let mut rest = &self.body[..];
        let header = frame::take::<Up>(&mut rest).map_err(|e| Failure::Garbage(e.to_string()))?;
        let at = self.body.len() - rest.len();
        match header {
            Up::Done { id, status } => Ok(Frame::Done { id, status, at }),
            Up::Share(request) => Ok(Frame::Share(request, at)),
            Up::Ready => Ok(Frame::Ready),
            Up::InitFailed(why) => Ok(Frame::InitFailed(why)),
            Up::Rebuilding => Ok(Frame::Rebuilding),
            Up::Report(text) => {
                crate::progress::eprint_above_bars(&text);
                self.read_frame()
            }
            other => Err(Failure::Garbage(format!("unexpected message {other:?}"))),
        }
    }

    /// Ask the worker to drop its state and exit (it has run its lifespan).
    pub(crate) fn retire(&self) -> std::io::Result<()> {
        frame::write_value(
            &mut *self.stdin.lock(),
            &Down::Retire,
            frame::DEFAULT_MAX_FRAME,
        )
        .map_err(|e| std::io::Error::other(e.to_string()))
    }

    /// Wait up to `grace` for the process to exit on its own.
    pub(crate) fn await_exit(&mut self, grace: Duration) {
        let t0 = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) && t0.elapsed() < grace {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Kill and reap the process; returns how it ended. Every shared lock it
    /// held is released.
    pub(crate) fn reap(&mut self, control: &Control) -> String {
        self.peer.close();
        control.pids.lock().retain(|&(p, _)| p != self.pid);
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(status) => describe(status),
            Err(e) => format!("status unknown: {e}"),
        }
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    let Some(sig) = status.signal() else {
        return format!("ended ({status})");
    };
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
    format!("killed by signal {sig} ({name}{core})")
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
