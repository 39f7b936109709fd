//! Brokers whose state lives elsewhere: the hook through which a handle
//! stands for a primitive it does not own (a handle deserialized in a
//! process worker stands for the broker in the parent).
//!
//! sync/ knows only this trait; whoever makes such handles implements it and
//! builds them with the `foreign` constructors (`Lock::foreign`, ...). A
//! foreign broker keeps its state word at [`FOREIGN`] plus flags that make
//! every fast path fail, so the local fast paths never test for it: only the
//! out-of-line paths (`broker::acquire_slow`, the slow release, queries)
//! look, and then forward. Under the mailbox the broker counts the foreign
//! grants held in this process ([`Delegate`]), so that the orphan scheme of
//! `handle` keeps the allocation alive while such a guard exists.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// Set in the state word of a broker that forwards to a [`Foreign`] one.
pub(crate) const FOREIGN: u64 = 1 << 59;

/// How long a foreign acquire may wait.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Answer at once (`try_` methods).
    Try,
    /// Until granted.
    Forever,
    /// At most this many nanoseconds (`_timeout` methods), counted from
    /// when the far side receives the request.
    Nanos(u64),
}

impl Wait {
    /// At most `d` (forever if it does not fit in a u64 of nanoseconds).
    pub(crate) fn at_most(d: Duration) -> Wait {
        u64::try_from(d.as_nanos()).map_or(Wait::Forever, Wait::Nanos)
    }

    /// Until `deadline` (`None`: forever).
    pub(crate) fn until(deadline: Option<Instant>) -> Wait {
        deadline.map_or(Wait::Forever, |d| {
            Wait::at_most(d.saturating_duration_since(Instant::now()))
        })
    }
}

/// Counters a handle reads from a foreign primitive.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Query {
    /// Free slots (`IndexSemaphore::available`; `Lock::is_locked` is 0).
    Available,
    /// `waiting`.
    Waiting,
    /// `RWLock::readers`.
    Readers,
    /// A writer is inside (1 or 0).
    WriteLocked,
    /// `LightSwitch::count`.
    Count,
    /// `Announcement::subscribers`.
    Subscribers,
    /// `Announcement::qsize`.
    QSize,
}

/// What is asked of a foreign broker: exclusive access (a lock, a slot, a
/// write) or shared access (an RWLock's read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Shared,
    Exclusive,
}

/// The far side of a foreign broker.
pub(crate) trait Foreign: Send + Sync + 'static {
    /// Block until granted (the grant's index) or until `wait` runs out.
    fn acquire(&self, access: Access, wait: Wait) -> Option<usize>;
    /// Granted once the future resolves; dropping it withdraws the request.
    fn acquire_async(&self, access: Access) -> BoxFuture<'static, usize>;
    /// Give back a grant (from a guard's drop: must not panic).
    fn release(&self, access: Access, index: usize);
    fn query(&self, query: Query) -> usize;
    /// For the implementor's own downcasts (serializing a foreign handle).
    fn as_any(&self) -> &dyn Any;
}

/// Under a foreign broker's mailbox: the far side, and the grants held in
/// this process (the orphan scheme's count).
pub(crate) struct Delegate {
    pub(crate) far: Arc<dyn Foreign>,
    pub(crate) held: usize,
}

impl Delegate {
    pub(crate) fn new(far: Arc<dyn Foreign>) -> Option<Self> {
        Some(Delegate { far, held: 0 })
    }
}
