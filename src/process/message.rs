//! What travels in frames. Every frame body starts with one header (`Down`
//! from parent to worker, `Up` back); a job or a successful result is followed
//! in the same body by its encoded payload, so arguments and results are
//! encoded once, straight into the frame, and never copied through a byte
//! array.
//!
//! Besides jobs, the channel carries the requests of sync handles and
//! announcement peers that a job received in its arguments: the worker asks
//! ([`Request`], inside `Up::Share`), the parent's broker answers
//! ([`Answer`], inside `Down::Share`). See `super::share`.

use serde::{Deserialize, Serialize};

use super::entry::{Entry, Status};
use super::handshake::Hello;

/// Parent → worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Down {
    /// First frame: who is asking.
    Hello(Hello),
    /// Second frame: the worker's index and its pool's `init`; answered by
    /// `Up::Ready` or `Up::InitFailed`.
    Setup(Setup),
    /// Run a job; the encoded argument follows.
    Job { id: u64, entry: Entry },
    /// The answer to a request of a shared handle (an item follows
    /// `Answer::Item`).
    Share(Answer),
    /// The worker has run its lifespan of jobs: drop the state and exit 0.
    Retire,
    /// Jobs sent before this frame were cancelled: those not started yet
    /// are answered `Status::Skipped` and never run.
    Skip(Vec<u64>),
}

/// Who a worker is in its pool, and how it builds its state.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Setup {
    /// The worker's index, `0..n_workers`, stable across replacements.
    pub(crate) index: u64,
    /// The pool's `init` (`process_with`); `None`: no per-worker state.
    pub(crate) init: Option<Entry>,
}

/// Worker → parent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Up {
    /// First frame: who answers (sent also on a mismatch, before exiting).
    Hello(Hello),
    /// The worker's state is built: it takes jobs.
    Ready,
    /// The worker builds its state again (a job panicked) before the next
    /// job: until that job's `Done`, a death is a death in `init`.
    Rebuilding,
    /// `init` failed (its panic message); the worker exits. Sent instead of
    /// `Ready`, or instead of the `Done` of the job that needed the state
    /// rebuilt after a panic.
    InitFailed(String),
    /// A job ended; on `Status::Ok` the encoded result follows.
    Done { id: u64, status: Status },
    /// A request of a shared handle (an item follows `Request::Put`).
    Share(Request),
    /// Text for the parent's terminal: a panic report, labelled with the
    /// worker and the job. The parent prints it above any progress bar.
    Report(String),
}

/// What a shared handle asks for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    /// `Lock` / `QLock` acquire.
    Lock,
    /// `RWLock` read.
    Read,
    /// `RWLock` write.
    Write,
    /// `IndexSemaphore` acquire.
    Index,
    /// `LightSwitch` acquire.
    Switch,
}

// How long a request may wait in the parent's broker, and the counters a
// handle reads from it: the vocabulary of sync's foreign brokers.
pub(crate) use crate::sync::foreign::{Query, Wait};

/// Worker → parent: a request of a shared handle. `req` numbers the
/// requests that expect an answer; `id` names the primitive in the parent's
/// registry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Request {
    /// Acquire; answered by `Granted` or `Refused`.
    Acquire {
        req: u64,
        id: u64,
        op: Op,
        wait: Wait,
    },
    /// Give back one grant of (`id`, `op`, `index`); no answer.
    Release { id: u64, op: Op, index: u64 },
    /// The worker no longer waits for `req` (an async acquire or get was
    /// dropped); no answer. A grant already on its way is released by the
    /// worker when it arrives.
    Cancel { req: u64 },
    /// Read a counter; answered by `Value`.
    Query { req: u64, id: u64, query: Query },
    /// Announcement put; the encoded item follows; no answer.
    Put { id: u64 },
    /// Announcement get; answered by `Item` (the item follows) or `Refused`.
    Get { req: u64, id: u64, wait: Wait },
    /// Announcement subscribe: a new peer; answered by `Value` (its id) or
    /// `Refused` (finalized).
    Subscribe { req: u64, id: u64 },
    /// Announcement finalize; no answer.
    Finalize { id: u64 },
    /// A peer this worker subscribed is dropped: it leaves the group; no
    /// answer.
    Unsubscribe { id: u64 },
    /// An announcement item that reached the worker for a get that had gone
    /// away, given back (it follows) to the front of the peer's queue; no
    /// answer.
    Unget { id: u64 },
}

/// Why a request was not granted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `Wait::Try` found it taken, or `Wait::Nanos` ran out.
    Timeout,
    /// The announcement is finalized (subscribe).
    Finalized,
    /// The request cannot be served: unknown id, wrong kind; says why.
    Invalid(String),
}

/// Parent → worker: the answer to a request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Granted; `index` is the semaphore slot (0 for the others).
    Granted {
        req: u64,
        index: u64,
    },
    Refused {
        req: u64,
        why: Refusal,
    },
    Value {
        req: u64,
        value: u64,
    },
    /// An announcement item; its encoding follows.
    Item {
        req: u64,
    },
}

impl Answer {
    /// The request this answers.
    pub(crate) fn req(&self) -> u64 {
        match *self {
            Answer::Granted { req, .. }
            | Answer::Refused { req, .. }
            | Answer::Value { req, .. }
            | Answer::Item { req } => req,
        }
    }
}
