//! Shuttle models of the orphan scheme (`handle`): the very `Handle` and
//! `Held` code runs on shuttle's atomics, with a `RawSlots` broker inside.
//!
//! Checked: the allocation is freed exactly once, never while a guard is
//! inside, whichever way the last handles, a pending async acquire and the
//! guard race. Named mutant these fail on: in `Handle::drop`, deciding from a
//! separate read of the count (`handles.load() == 1`, then orphan, then
//! `fetch_sub`), as the code did with `Arc::strong_count` before: two last
//! handles dropped at once both read 2 and the second decrement frees the
//! allocation under the guard ("freed under a guard").

use std::future::Future;
use std::sync::Arc;
use std::task::Context;

use shuttle::rand::Rng;
use shuttle::sync::atomic::{AtomicUsize, Ordering};
use shuttle::thread;

use super::broker::{self, Acquire, Broker};
use super::handle::{Handle, Held, Orphan};
use super::model::Shuttle;
use super::slots::RawSlots;

const ITERS: usize = 3000;

/// A lock's inner part that counts its own drops.
struct Probe {
    raw: RawSlots<Shuttle>,
    dropped: Arc<AtomicUsize>,
}

impl Orphan for Probe {
    fn orphan(&self) -> bool {
        self.raw.orphan()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

type H = Handle<Probe, Shuttle>;

/// A guard's pointer, moved to another model thread.
struct Guard(Held<Probe, Shuttle>);
// SAFETY: `Probe` is Send + Sync and the grant `Held` stands for may be
// released from any thread (as `LockGuard` is Send).
unsafe impl Send for Guard {}

impl Guard {
    /// Acquire through `h` (must be free) and keep the grant.
    fn take(h: &H) -> Guard {
        broker::try_acquire(&h.raw, ()).expect("the lock is free");
        // SAFETY: granted just above; released once, in `release`.
        Guard(unsafe { Held::new(h) })
    }

    /// Release, checking first that nobody freed the lock under us.
    fn release(self, dropped: &AtomicUsize) {
        // SAFETY: this guard's grant; `self` is consumed.
        unsafe {
            self.0.release(|p| {
                assert_eq!(dropped.load(Ordering::SeqCst), 0, "freed under a guard");
                p.raw.release(0)
            })
        }
    }
}

fn probe() -> (H, Arc<AtomicUsize>) {
    let dropped = Arc::new(AtomicUsize::new(0));
    let h = Handle::new(Probe {
        raw: RawSlots::barging(),
        dropped: dropped.clone(),
    });
    (h, dropped)
}

/// The last two handles dropped on two threads while a guard, on a third,
/// is inside and leaves.
fn two_last_handles() {
    let (h1, dropped) = probe();
    let h2 = h1.clone();
    let guard = Guard::take(&h1);
    let d = dropped.clone();
    let threads = [
        thread::spawn(move || drop(h1)),
        thread::spawn(move || drop(h2)),
        thread::spawn(move || guard.release(&d)),
    ];
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "freed once, at the end");
}

/// The user's last handle goes while a pending async acquire holds the
/// other: the future is dropped (withdrawn) or completes (a guard of its own
/// that outlives every handle), racing the holder's release.
fn handle_and_pending_acquire() {
    let (h1, dropped) = probe();
    let guard = Guard::take(&h1);
    let mut fut = Box::pin(Acquire::new(h1.clone(), |h: &H| &h.raw, ()));
    let waker = futures::task::noop_waker();
    assert!(fut
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    let (d1, d2) = (dropped.clone(), dropped.clone());
    let threads = [
        thread::spawn(move || {
            if shuttle::rand::thread_rng().gen::<bool>() {
                drop(fut);
            } else {
                let (h, _slot) = shuttle::future::block_on(fut);
                let mine = Guard::take_granted(&h);
                drop(h);
                thread::yield_now();
                mine.release(&d1);
            }
        }),
        thread::spawn(move || drop(h1)),
        thread::spawn(move || guard.release(&d2)),
    ];
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "freed once, at the end");
}

impl Guard {
    /// The guard of a grant an async acquire just resolved with.
    fn take_granted(h: &H) -> Guard {
        // SAFETY: the future resolved with this grant; released in `release`.
        Guard(unsafe { Held::new(h) })
    }
}

#[test]
fn model_handle_two_last_handles() {
    shuttle::check_random(two_last_handles, ITERS);
}

#[test]
fn model_handle_two_last_handles_pct() {
    shuttle::check_pct(two_last_handles, ITERS, 3);
}

#[test]
fn model_handle_and_pending_acquire() {
    shuttle::check_random(handle_and_pending_acquire, ITERS);
}

#[test]
fn model_handle_and_pending_acquire_pct() {
    shuttle::check_pct(handle_and_pending_acquire, ITERS, 3);
}
