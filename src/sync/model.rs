//! Model checks of the broker state machines under shuttle: the very code of
//! [`RawSlots`] and [`RawRw`] (fast paths included) runs on shuttle's atomics,
//! mutex and thread parking, and shuttle explores interleavings of grant,
//! release, timeout and cancel. A timed wait is modelled as a nondeterministic
//! choice: each time a waiter would park with a deadline, it either times out
//! (and cancels) or goes around again.
//!
//! Invariants checked: mutual exclusion (slots) / no writer with readers and
//! at most one writer (rw), no lost wake-up (shuttle reports a deadlock), and
//! at the end the broker is idle: every slot free, no waiter queued, no grant
//! left on a waiter that gave up. For the rw broker's barging policy also:
//! woken waiters that lose to newcomers and the eventual hand-off
//! (`HANDOFF_AFTER` is 1 here, so hand-offs race with timeouts and dropped
//! futures), and writer preference: a reader that saw a writer waiting never
//! gets in before that writer (so readers re-acquiring in a loop cannot
//! starve it; the model's bounded loops then all terminate).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use shuttle::rand::Rng;
use shuttle::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use shuttle::thread;

use super::broker::{self, Acquire, Broker, Wake};
use super::platform::{Locked, Platform, Word};
use super::rw::{Access, RawRw};
use super::slots::RawSlots;

/// Shuttle's threads, atomics and mutex.
pub(crate) struct Shuttle;

pub(crate) struct ShuttleWord(AtomicU64);

impl Word for ShuttleWord {
    fn new(v: u64) -> Self {
        ShuttleWord(AtomicU64::new(v))
    }
    fn load(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
    fn cas(&self, current: u64, new: u64) -> Result<u64, u64> {
        self.0
            .compare_exchange_weak(current, new, Ordering::AcqRel, Ordering::Acquire)
    }
    fn fetch_or(&self, v: u64) -> u64 {
        self.0.fetch_or(v, Ordering::AcqRel)
    }
    fn fetch_and(&self, v: u64) -> u64 {
        self.0.fetch_and(v, Ordering::AcqRel)
    }
    fn fetch_add(&self, v: u64) -> u64 {
        self.0.fetch_add(v, Ordering::AcqRel)
    }
    fn fetch_sub(&self, v: u64) -> u64 {
        self.0.fetch_sub(v, Ordering::AcqRel)
    }
    fn store(&self, v: u64) {
        self.0.store(v, Ordering::Release)
    }
}

pub(crate) struct ShuttleLocked<T>(shuttle::sync::Mutex<T>);

impl<T: Send> Locked<T> for ShuttleLocked<T> {
    fn new(value: T) -> Self {
        ShuttleLocked(shuttle::sync::Mutex::new(value))
    }
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

impl Platform for Shuttle {
    type Word = ShuttleWord;
    type Locked<T: Send> = ShuttleLocked<T>;
    type Thread = thread::Thread;
    const SPINS: u32 = 1;
    // Reach the hand-off paths within the model's bounds.
    const HANDOFF_AFTER: u32 = 1;
    const YIELDS: u32 = 1;
    fn current() -> Self::Thread {
        thread::current()
    }
    fn unpark(t: &Self::Thread) {
        t.unpark()
    }
    fn yield_now() {
        thread::yield_now()
    }
    fn fence() {
        shuttle::sync::atomic::fence(Ordering::SeqCst)
    }
    fn park() {
        thread::park()
    }
    fn park_until(_deadline: Instant) -> bool {
        // Time is not modelled: the deadline passes, or not, nondeterministically.
        if shuttle::rand::thread_rng().gen::<bool>() {
            true
        } else {
            thread::yield_now();
            false
        }
    }
}

fn some_deadline() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(3600))
}

/// How one model thread asks.
#[derive(Clone, Copy)]
enum Mode {
    Blocking,
    Timed,
    Try,
    /// An async acquire polled once, then dropped (cancel, release on a race).
    DroppedFuture,
    /// An async acquire driven to completion by shuttle's executor.
    Async,
}

/// Acquire per `mode`; `Some(grant)` if granted.
fn get<B: Broker<P = Shuttle>>(b: &Arc<B>, req: B::Req, mode: Mode) -> Option<B::Grant> {
    match mode {
        Mode::Blocking => broker::acquire(&**b, req, None).ok(),
        Mode::Timed => broker::acquire(&**b, req, some_deadline()).ok(),
        Mode::Try => broker::try_acquire(&**b, req),
        Mode::DroppedFuture => {
            let mut fut = Box::pin(Acquire::new(b.clone(), |b: &Arc<B>| &**b, req));
            let waker = futures::task::noop_waker();
            match fut.as_mut().poll(&mut Context::from_waker(&waker)) {
                Poll::Ready((_, g)) => Some(g),
                Poll::Pending => {
                    thread::yield_now();
                    drop(fut);
                    None
                }
            }
        }
        Mode::Async => {
            Some(shuttle::future::block_on(Acquire::new(b.clone(), |b: &Arc<B>| &**b, req)).1)
        }
    }
}

use std::future::Future;

fn slots_scenario(n: usize, modes: &'static [Mode]) {
    slots_scenario_with(RawSlots::<Shuttle>::new(n), modes)
}

fn slots_scenario_with(raw: RawSlots<Shuttle>, modes: &'static [Mode]) {
    let n = raw.slots();
    let raw = Arc::new(raw);
    let holders = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
    let threads: Vec<_> = modes
        .iter()
        .map(|&mode| {
            let (raw, holders) = (raw.clone(), holders.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    if let Some(i) = get(&raw, (), mode) {
                        assert!(i < n);
                        assert_eq!(
                            holders[i].fetch_add(1, Ordering::SeqCst),
                            0,
                            "slot {i} granted twice"
                        );
                        thread::yield_now();
                        holders[i].fetch_sub(1, Ordering::SeqCst);
                        raw.release(i);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(raw.available(), n, "a slot was lost");
    assert_eq!(raw.waiting(), 0);
    assert_eq!(
        raw.pending_grants(),
        0,
        "a grant went to a waiter that gave up"
    );
}

fn rw_scenario(modes: &'static [(Access, Mode)]) {
    let raw = Arc::new(RawRw::<Shuttle>::new());
    let readers = Arc::new(AtomicUsize::new(0));
    let writers = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = modes
        .iter()
        .map(|&(access, mode)| {
            let (raw, readers, writers) = (raw.clone(), readers.clone(), writers.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    if let Some(a) = get(&raw, access, mode) {
                        assert_eq!(a, access);
                        match a {
                            Access::Read => {
                                readers.fetch_add(1, Ordering::SeqCst);
                                assert_eq!(
                                    writers.load(Ordering::SeqCst),
                                    0,
                                    "reader with a writer"
                                );
                                thread::yield_now();
                                readers.fetch_sub(1, Ordering::SeqCst);
                            }
                            Access::Write => {
                                assert_eq!(
                                    writers.fetch_add(1, Ordering::SeqCst),
                                    0,
                                    "two writers"
                                );
                                assert_eq!(
                                    readers.load(Ordering::SeqCst),
                                    0,
                                    "writer with readers"
                                );
                                thread::yield_now();
                                writers.fetch_sub(1, Ordering::SeqCst);
                            }
                        }
                        raw.release(a);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(raw.readers(), 0);
    assert!(!raw.is_write_locked());
    assert_eq!(raw.waiting(), 0);
    assert_eq!(
        raw.pending_grants(),
        0,
        "a grant went to a waiter that gave up"
    );
}

/// Writer preference under barging: readers re-acquire in a loop (bounded)
/// while one blocking writer waits. A reader that saw a writer waiting before
/// it asked must not get in before that writer has been in: new readers
/// never pass a waiting writer, so the writer is not starved.
fn rw_writer_preference_scenario(readers: usize, rounds: usize) {
    let raw = Arc::new(RawRw::<Shuttle>::new());
    // 0: writer not in yet; 1: inside; 2: done.
    let writer_state = Arc::new(AtomicUsize::new(0));
    let reader_threads: Vec<_> = (0..readers)
        .map(|_| {
            let (raw, writer_state) = (raw.clone(), writer_state.clone());
            thread::spawn(move || {
                for _ in 0..rounds {
                    if writer_state.load(Ordering::SeqCst) == 2 {
                        break;
                    }
                    let writer_was_waiting = raw.writer_waiting();
                    let a = broker::acquire(&*raw, Access::Read, None).unwrap();
                    let ws = writer_state.load(Ordering::SeqCst);
                    assert_ne!(ws, 1, "reader with a writer");
                    if writer_was_waiting {
                        assert_eq!(ws, 2, "a new reader passed a waiting writer");
                    }
                    thread::yield_now();
                    raw.release(a);
                }
            })
        })
        .collect();
    let writer = {
        let (raw, writer_state) = (raw.clone(), writer_state.clone());
        thread::spawn(move || {
            let a = broker::acquire(&*raw, Access::Write, None).unwrap();
            writer_state.store(1, Ordering::SeqCst);
            assert_eq!(raw.readers(), 0, "writer with readers");
            thread::yield_now();
            writer_state.store(2, Ordering::SeqCst);
            raw.release(a);
        })
    };
    writer.join().unwrap();
    for t in reader_threads {
        t.join().unwrap();
    }
    assert_eq!(raw.readers(), 0);
    assert!(!raw.is_write_locked());
    assert!(!raw.writer_waiting());
    assert_eq!(raw.waiting(), 0);
    assert_eq!(raw.pending_grants(), 0);
}

const ITERS: usize = 1500;

#[test]
fn model_lock_blocking_and_timed() {
    shuttle::check_random(
        || slots_scenario(1, &[Mode::Blocking, Mode::Timed, Mode::Timed]),
        ITERS,
    );
}

#[test]
fn model_lock_try_and_cancelled_futures() {
    shuttle::check_random(
        || {
            slots_scenario(
                1,
                &[Mode::Blocking, Mode::DroppedFuture, Mode::Try, Mode::Async],
            )
        },
        ITERS,
    );
}

#[test]
fn model_lock_pct() {
    shuttle::check_pct(
        || slots_scenario(1, &[Mode::Blocking, Mode::Timed, Mode::DroppedFuture]),
        ITERS,
        3,
    );
}

#[test]
fn model_barging_lock() {
    shuttle::check_random(
        || {
            slots_scenario_with(
                RawSlots::barging(),
                &[
                    Mode::Blocking,
                    Mode::Timed,
                    Mode::Blocking,
                    Mode::DroppedFuture,
                ],
            )
        },
        ITERS,
    );
}

#[test]
fn model_barging_lock_pct() {
    shuttle::check_pct(
        || {
            slots_scenario_with(
                RawSlots::barging(),
                &[Mode::Blocking, Mode::Timed, Mode::Async, Mode::Try],
            )
        },
        ITERS,
        3,
    );
}

#[test]
fn model_semaphore() {
    shuttle::check_random(
        || {
            slots_scenario(
                2,
                &[
                    Mode::Blocking,
                    Mode::Timed,
                    Mode::Blocking,
                    Mode::DroppedFuture,
                ],
            )
        },
        ITERS,
    );
}

#[test]
fn model_semaphore_lock_only() {
    // More slots than the fast path's word holds: every request goes through the lock.
    shuttle::check_random(
        || slots_scenario(64, &[Mode::Blocking, Mode::Timed, Mode::Try]),
        ITERS / 3,
    );
}

#[test]
fn model_rwlock() {
    shuttle::check_random(
        || {
            rw_scenario(&[
                (Access::Read, Mode::Blocking),
                (Access::Write, Mode::Timed),
                (Access::Read, Mode::Timed),
                (Access::Write, Mode::Blocking),
            ])
        },
        ITERS,
    );
}

#[test]
fn model_rwlock_cancel() {
    shuttle::check_pct(
        || {
            rw_scenario(&[
                (Access::Read, Mode::Blocking),
                (Access::Write, Mode::DroppedFuture),
                (Access::Read, Mode::Async),
                (Access::Write, Mode::Try),
            ])
        },
        ITERS,
        3,
    );
}

/// Writers barge; a woken writer that lost once is handed the lock
/// (`HANDOFF_AFTER` is 1 under the model), also while it times out or its
/// future is dropped: the hand-off comes back to it (or is released on).
#[test]
fn model_rwlock_barging_writers() {
    shuttle::check_random(
        || {
            rw_scenario(&[
                (Access::Write, Mode::Blocking),
                (Access::Write, Mode::Timed),
                (Access::Write, Mode::DroppedFuture),
                (Access::Read, Mode::Timed),
            ])
        },
        ITERS,
    );
}

#[test]
fn model_rwlock_barging_pct() {
    shuttle::check_pct(
        || {
            rw_scenario(&[
                (Access::Write, Mode::Blocking),
                (Access::Read, Mode::Blocking),
                (Access::Write, Mode::Async),
                (Access::Read, Mode::Timed),
            ])
        },
        ITERS,
        3,
    );
}

#[test]
fn model_rwlock_writer_not_starved() {
    shuttle::check_random(|| rw_writer_preference_scenario(2, 4), ITERS);
}

#[test]
fn model_rwlock_writer_not_starved_pct() {
    shuttle::check_pct(|| rw_writer_preference_scenario(3, 3), ITERS, 3);
}

/// Grant and cancel race directly: a queued waiter is granted by a release
/// while it cancels; the grant must come back to it exactly once.
#[test]
fn model_grant_cancel_race() {
    shuttle::check_random(
        || {
            let raw = Arc::new(RawSlots::<Shuttle>::new(1));
            let held = broker::try_acquire(&*raw, ()).unwrap();
            let id = raw
                .request((), Wake::Thread(thread::current()))
                .unwrap_err();
            let releaser = {
                let raw = raw.clone();
                thread::spawn(move || raw.release(held))
            };
            if let Some(g) = raw.cancel(id) {
                raw.release(g);
            }
            releaser.join().unwrap();
            assert_eq!(raw.available(), 1);
            assert_eq!(raw.waiting(), 0);
            assert_eq!(raw.pending_grants(), 0);
        },
        ITERS,
    );
}

/// The last handle goes (`orphan`) while guards release: exactly one party
/// frees the owner (the handle if everyone was out, else the last guard out).
#[test]
fn model_orphan_slots() {
    shuttle::check_random(
        || {
            let raw = Arc::new(RawSlots::<Shuttle>::barging());
            let held = broker::try_acquire(&*raw, ()).unwrap();
            let guard = {
                let raw = raw.clone();
                thread::spawn(move || raw.release(held))
            };
            let handle_frees = !raw.orphan();
            let guard_frees = guard.join().unwrap();
            assert!(
                handle_frees ^ guard_frees,
                "freed {} times",
                handle_frees as u8 + guard_frees as u8
            );
        },
        ITERS,
    );
}

#[test]
fn model_orphan_rw() {
    shuttle::check_random(
        || {
            let raw = Arc::new(RawRw::<Shuttle>::new());
            let a = broker::try_acquire(&*raw, Access::Read).unwrap();
            let b = broker::try_acquire(&*raw, Access::Read).unwrap();
            let guards: Vec<_> = [a, b]
                .into_iter()
                .map(|g| {
                    let raw = raw.clone();
                    thread::spawn(move || raw.release(g))
                })
                .collect();
            let handle_frees = !raw.orphan();
            let frees = handle_frees as u8
                + guards
                    .into_iter()
                    .map(|t| t.join().unwrap() as u8)
                    .sum::<u8>();
            assert_eq!(frees, 1);
        },
        ITERS,
    );
}
