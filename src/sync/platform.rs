//! The few primitives a broker is built from: an atomic state word, the
//! broker's lock, and thread parking.
//!
//! Brokers are generic over a [`Platform`] so that the very same state machine
//! runs on real threads ([`Real`]: `std` atomics, a `parking_lot` mutex,
//! `std::thread::park`) and, in the crate's unit tests, under the shuttle model
//! checker (`model::Shuttle`), which explores the interleavings of grant,
//! release, timeout and cancel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// An atomic 64-bit state word (the broker's fast path).
pub(crate) trait Word: Send + Sync {
    fn new(v: u64) -> Self;
    fn load(&self) -> u64;
    fn cas(&self, current: u64, new: u64) -> Result<u64, u64>;
    fn fetch_or(&self, v: u64) -> u64;
    fn fetch_and(&self, v: u64) -> u64;
    fn fetch_add(&self, v: u64) -> u64;
    fn fetch_sub(&self, v: u64) -> u64;
    fn store(&self, v: u64);
}

/// The broker's lock: requests are processed one at a time under it.
pub(crate) trait Locked<T>: Send + Sync {
    fn new(value: T) -> Self;
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
}

/// Where a broker's atomics, lock and parking come from.
pub(crate) trait Platform: Sized + Send + Sync + 'static {
    type Word: Word;
    type Locked<T: Send>: Locked<T>;
    /// A handle to unpark a parked waiter thread.
    type Thread: Clone + Send + Sync;
    /// How many times a blocking acquire retries the fast path before queueing.
    const SPINS: u32;
    /// How many times a woken waiter of a barging broker may find the lock
    /// taken by a newcomer before the broker hands it the lock directly.
    const HANDOFF_AFTER: u32;
    /// How many times a blocking acquire of a broker that yields (see
    /// `Broker::YIELDS`) yields its thread before queueing.
    const YIELDS: u32;
    fn current() -> Self::Thread;
    fn unpark(thread: &Self::Thread);
    /// Let other threads run (spin-waiting).
    fn yield_now();
    /// A sequentially consistent fence (Dekker-style handshakes).
    fn fence();
    /// Park until unparked (may wake spuriously).
    fn park();
    /// Park until unparked or `deadline`; true when the deadline has passed
    /// (the caller then gives up and cancels its request).
    fn park_until(deadline: Instant) -> bool;
}

/// Real threads.
#[derive(Debug)]
pub(crate) struct Real;

impl Word for AtomicU64 {
    #[inline]
    fn new(v: u64) -> Self {
        AtomicU64::new(v)
    }
    #[inline]
    fn load(&self) -> u64 {
        AtomicU64::load(self, Ordering::Acquire)
    }
    #[inline]
    fn cas(&self, current: u64, new: u64) -> Result<u64, u64> {
        self.compare_exchange_weak(current, new, Ordering::AcqRel, Ordering::Acquire)
    }
    #[inline]
    fn fetch_or(&self, v: u64) -> u64 {
        AtomicU64::fetch_or(self, v, Ordering::AcqRel)
    }
    #[inline]
    fn fetch_and(&self, v: u64) -> u64 {
        AtomicU64::fetch_and(self, v, Ordering::AcqRel)
    }
    #[inline]
    fn fetch_add(&self, v: u64) -> u64 {
        AtomicU64::fetch_add(self, v, Ordering::AcqRel)
    }
    #[inline]
    fn fetch_sub(&self, v: u64) -> u64 {
        AtomicU64::fetch_sub(self, v, Ordering::AcqRel)
    }
    #[inline]
    fn store(&self, v: u64) {
        AtomicU64::store(self, v, Ordering::Release)
    }
}

impl<T: Send> Locked<T> for parking_lot::Mutex<T> {
    fn new(value: T) -> Self {
        parking_lot::Mutex::new(value)
    }
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.lock())
    }
}

impl Platform for Real {
    type Word = AtomicU64;
    type Locked<T: Send> = parking_lot::Mutex<T>;
    type Thread = std::thread::Thread;
    const SPINS: u32 = 40;
    const HANDOFF_AFTER: u32 = 3;
    const YIELDS: u32 = 8;
    fn current() -> Self::Thread {
        std::thread::current()
    }
    fn unpark(thread: &Self::Thread) {
        thread.unpark()
    }
    fn yield_now() {
        std::thread::yield_now()
    }
    #[inline]
    fn fence() {
        std::sync::atomic::fence(Ordering::SeqCst)
    }
    fn park() {
        std::thread::park()
    }
    fn park_until(deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::park_timeout(deadline - now);
        false
    }
}
