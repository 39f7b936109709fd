//! Synchronization primitives as lock brokers: [`Lock`],
//! [`IndexSemaphore`], [`LightSwitch`],
//! [`QLock`], [`RWLock`].
//!
//! Each primitive is a **broker** (see [`broker`]): the single owner of its
//! state (holders, FIFO of waiters, writer preference) that grants, queues,
//! hands on and cancels requests one at a time under its lock, with an
//! atomic fast path (one CAS on a state word) while the primitive is free
//! and, for the FIFO policies, nobody waits. The brokers are state machines
//! with waiter ids ([`slots::RawSlots`]: n numbered slots, FIFO or barging;
//! [`rw::RawRw`]: readers-writer, barging with writer preference and an
//! eventual hand-off), separate from
//! the public handles that wrap them, and generic over a [`platform`] so that
//! the `model` unit tests run the very same code under the shuttle model
//! checker.
//!
//! sync/ knows nothing of processes. A handle may stand for a broker that
//! lives elsewhere ([`foreign`]): its state word keeps every fast path away
//! and the out-of-line paths forward to the far side. The process code
//! builds such handles when it deserializes one in a worker (and gives
//! `Lock<()>`, `QLock<()>`, `RWLock<()>`, `IndexSemaphore` and `LightSwitch`
//! their serde impls).
//!
//! Handles are shared, counted allocations. The guards of `Lock`, `QLock` and
//! `RWLock` hold no reference count of their own (that keeps an uncontended
//! acquire+release at two atomic operations): the lock being held keeps the
//! allocation alive. When the decrement that takes the handle count to zero
//! finds guards inside, the broker is marked *orphaned* and the last guard
//! out frees it (`handle`).

pub(crate) mod broker;
pub(crate) mod foreign;
mod handle;
mod light_switch;
mod lock;
pub(crate) mod platform;
mod qlock;
mod rw;
mod rwlock;
mod semaphore;
mod slots;

#[cfg(test)]
mod handle_model;
#[cfg(test)]
pub(crate) mod model;

pub use light_switch::{LightSwitch, LightSwitchGuard};
pub use lock::{Lock, LockGuard};
pub use qlock::{QLock, QLockGuard};
pub use rwlock::{RWLock, ReadGuard, WriteGuard};
pub use semaphore::{IndexGuard, IndexSemaphore};
