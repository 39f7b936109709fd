//! Synchronization primitives as lock brokers: [`Lock`](crate::Lock),
//! [`IndexSemaphore`](crate::IndexSemaphore), [`LightSwitch`](crate::LightSwitch),
//! [`QLock`](crate::QLock), [`RWLock`](crate::RWLock).
//!
//! Each primitive is a **broker** (see [`broker`]): the single owner of its
//! state (holders, FIFO of waiters, writer preference) that grants, queues,
//! hands on and cancels requests one at a time under its mailbox, with an
//! atomic fast path for the uncontended case. The brokers are state machines
//! with waiter ids ([`slots::RawSlots`], [`rw::RawRw`]), separate from the
//! public handles that wrap them.

pub(crate) mod broker;
mod light_switch;
mod lock;
pub(crate) mod platform;
mod qlock;
mod rw;
mod rwlock;
mod semaphore;
mod slots;

#[cfg(test)]
mod model;

pub use light_switch::{LightSwitch, LightSwitchGuard};
pub use lock::{Lock, LockGuard};
pub use qlock::{QLock, QLockGuard};
pub use rwlock::{RWLock, ReadGuard, WriteGuard};
pub use semaphore::{IndexGuard, IndexSemaphore};
