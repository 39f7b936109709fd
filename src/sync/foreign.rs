//! Brokers whose state lives elsewhere: the hook through which a handle
//! stands for a primitive it does not own (a handle deserialized in a
//! process worker stands for the broker in the parent).
//!
//! sync/ knows only this trait; whoever makes such handles implements it and
//! builds them with the `foreign` constructors (`Lock::foreign`, ...). A
//! foreign broker keeps its state word at [`FOREIGN`] plus flags that make
//! every fast path fail, so the local fast paths never test for it: only the
//! out-of-line paths (`broker::acquire_slow`, the slow release, queries)
//! look, and then forward. Under the lock the broker counts the foreign
//! grants held in this process ([`Delegate`]), so that the orphan scheme of
//! `handle` keeps the allocation alive while such a guard exists.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::broker::SLOW;
use super::platform::{Locked, Platform, Word};

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

/// Under a foreign broker's lock: the far side, and the grants held in
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

/// The far side of a delegating broker (its word carries `FOREIGN`), read
/// under the broker's lock; `None` for a local broker (one load, no lock).
pub(crate) fn far<P: Platform, S: Send>(
    locked: &P::Locked<S>,
    word: &P::Word,
    delegate: fn(&S) -> Option<&Delegate>,
) -> Option<Arc<dyn Foreign>> {
    if word.load() & FOREIGN == 0 {
        return None;
    }
    locked.with(|s| delegate(s).map(|d| d.far.clone()))
}

/// The last handle to a broker's owner is being dropped (no request can come
/// any more): `false`, nobody is inside, free the owner now; `true`, guards
/// are inside, the broker is marked orphaned (`orphan_bit`) and the release
/// that lets the last one out frees the owner.
///
/// Decided under the lock, so that no release is inside the lock
/// (one there may free the last slot and then still use the broker: deciding
/// from the word alone could free it under that release). Orphaning also sets
/// SLOW: every later release then goes through the lock too and cannot
/// free the broker before this lock is let go, the orphaner's last use of the
/// broker. A delegating broker counts its grants in its `Delegate` (its
/// releases always take the lock).
pub(crate) fn orphan<P: Platform, S: Send>(
    locked: &P::Locked<S>,
    word: &P::Word,
    delegate: fn(&S) -> Option<&Delegate>,
    orphan_bit: u64,
    inside: impl Fn(u64) -> bool,
) -> bool {
    locked.with(|s| {
        if let Some(d) = delegate(s) {
            let inside = d.held > 0;
            if inside {
                word.fetch_or(orphan_bit);
            }
            return inside;
        }
        let mut w = word.load();
        loop {
            if !inside(w) {
                return false;
            }
            match word.cas(w, w | orphan_bit | SLOW) {
                Ok(_) => return true,
                Err(now) => w = now,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{Lock, RWLock};

    /// A far side that grants everything and counts what comes back.
    #[derive(Default)]
    struct Far {
        granted: AtomicUsize,
        released: AtomicUsize,
    }

    impl Foreign for Far {
        fn acquire(&self, _: Access, _: Wait) -> Option<usize> {
            Some(self.granted.fetch_add(1, Ordering::SeqCst))
        }
        fn acquire_async(&self, access: Access) -> BoxFuture<'static, usize> {
            let index = self.acquire(access, Wait::Forever).unwrap();
            Box::pin(async move { index })
        }
        fn release(&self, _: Access, _: usize) {
            self.released.fetch_add(1, Ordering::SeqCst);
        }
        fn query(&self, _: Query) -> usize {
            7
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    /// Counts its drops: the lock's value is dropped with the allocation.
    struct Value(Arc<AtomicUsize>);

    impl Drop for Value {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn every_call_of_a_foreign_lock_goes_to_the_far_side() {
        let far = Arc::new(Far::default());
        let lock = Lock::foreign((), far.clone());
        let a = lock.acquire();
        let b = lock.try_acquire().expect("the far side grants");
        let c = lock.acquire_timeout(Duration::from_secs(1)).unwrap();
        let d = futures::executor::block_on(lock.acquire_async());
        assert_eq!(far.granted.load(Ordering::SeqCst), 4);
        assert_eq!(lock.waiting(), 7, "queries are the far side's");
        drop((a, b, c, d));
        assert_eq!(far.released.load(Ordering::SeqCst), 4);
        let rw = RWLock::foreign((), far.clone());
        drop((rw.read(), rw.write()));
        assert_eq!(far.released.load(Ordering::SeqCst), 6);
    }

    /// The orphan scheme holds for foreign grants: the last handle going
    /// while a guard is inside leaves the allocation to the guard. Fails
    /// on the mutant whose `orphan` ignores `Delegate::held` (the value is
    /// then dropped under the guard).
    #[test]
    fn a_foreign_guard_outliving_every_handle_frees_the_lock() {
        let drops = Arc::new(AtomicUsize::new(0));
        let far = Arc::new(Far::default());
        let lock = Lock::foreign(Value(drops.clone()), far.clone());
        let guard = lock.acquire();
        drop(lock);
        assert_eq!(drops.load(Ordering::SeqCst), 0, "freed under a guard");
        drop(guard);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(far.released.load(Ordering::SeqCst), 1);

        let rw = RWLock::foreign(Value(drops.clone()), far.clone());
        let reader = rw.read();
        drop(rw);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "freed under a reader");
        drop(reader);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }
}
