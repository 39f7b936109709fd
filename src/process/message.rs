//! What travels in frames. Every frame body starts with one header (`Down`
//! from parent to worker, `Up` back); a job or a successful result is followed
//! in the same body by its encoded payload, so arguments and results are
//! encoded once, straight into the frame, and never copied through a byte
//! array.
//!
//! The headers are enums so that later message kinds (e.g. lock requests of
//! sync handles used inside jobs) can share the channel.

use serde::{Deserialize, Serialize};

use super::entry::{Entry, Status};
use super::handshake::Hello;

/// Parent → worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Down {
    /// First frame: who is asking.
    Hello(Hello),
    /// Run a job; the encoded argument follows.
    Job { id: u64, entry: Entry },
}

/// Worker → parent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Up {
    /// First frame: who answers (sent also on a mismatch, before exiting).
    Hello(Hello),
    /// A job ended; on `Status::Ok` the encoded result follows.
    Done { id: u64, status: Status },
}
