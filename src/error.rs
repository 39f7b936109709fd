//! Error types shared by pools, sync primitives and queues.

use std::fmt;
use std::time::Duration;

/// Why one job produced no result.
///
/// Returned per job by [`try_gather`](crate::Thread::try_gather); [`gather`](crate::Thread::gather)
/// panics with this error's message (and the job's sequence number) instead.
///
/// ```
/// let pool = lox::thread(2, |x: u32| if x == 1 { panic!("one is bad") } else { x });
/// for i in 0..3 { pool.scatter(i); }
/// let results = pool.try_gather();
/// assert_eq!(results[0].as_ref().ok(), Some(&0));
/// assert!(matches!(&results[1], Err(lox::TaskError::Panicked(msg)) if msg == "one is bad"));
/// assert_eq!(results[2].as_ref().ok(), Some(&2));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// The job panicked; carries the panic message.
    Panicked(String),
    /// The worker process died (killed, crashed, exited) while running the job.
    WorkerDied(String),
    /// Arguments or result could not be (de)serialized, or the worker spoke
    /// garbage on its channel.
    Protocol(String),
    /// The job ran past the pool's `job_timeout` (carried here); its worker was killed.
    TimedOut(Duration),
    /// No worker could be started for the job (launcher missing, exec failed,
    /// handshake refused); carries the reason.
    Launch(String),
    /// The job was cancelled before it produced a result: [`Job::cancel`](crate::Job::cancel),
    /// a dropped batch or map, or [`cancel_pending`](crate::Pool::cancel_pending).
    Cancelled,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked(m) => write!(f, "job panicked: {m}"),
            TaskError::WorkerDied(m) => write!(f, "worker process died: {m}"),
            TaskError::Protocol(m) => write!(f, "protocol error: {m}"),
            TaskError::TimedOut(d) => write!(f, "job timed out after {d:?}; its worker was killed"),
            TaskError::Launch(m) => write!(f, "could not start a worker: {m}"),
            TaskError::Cancelled => f.write_str("job cancelled before it produced a result"),
        }
    }
}

impl std::error::Error for TaskError {}

/// A blocking call gave up after its timeout (the `lox.Timeout` of Python lox).
///
/// Every blocking acquire of the sync primitives has a `_timeout` twin that
/// returns it:
///
/// ```
/// use std::time::Duration;
///
/// let lock = lox::Lock::new(());
/// let _held = lock.acquire();
/// let err = lock.acquire_timeout(Duration::from_millis(10)).unwrap_err();
/// assert_eq!(err, lox::Timeout);
/// let err: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
/// assert_eq!(err.to_string(), "timed out");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for Timeout {}

/// Turn a panic payload into its message, as `std` prints it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any> (a panic payload that is not a string)".to_owned()
    }
}
