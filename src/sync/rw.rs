//! The readers-writer broker behind [`RWLock`](crate::RWLock).
//!
//! State word: bits 0..=58 count the readers inside, bit 62 = `WRITER` (a
//! writer is inside), bit 63 = `SLOW` (waiters queued: releases that could
//! let one of them in go through the lock), bit 61 = `ORPHAN` (every
//! handle is gone while guards are still inside: the last one out frees the
//! owner), bit 60 = `WRITER_WAITING` (a writer is queued), bit 59 =
//! `FOREIGN` (see `foreign`).
//!
//! **Policy: writer preference with barging, like parking_lot's RwLock.**
//!
//! * Fast paths (one CAS, whether or not anyone waits; inlined for the
//!   uncontended case, a reader entering or leaving while no writer is
//!   inside or waiting and no flag is set, a writer from and to the exact
//!   free word; out of line otherwise): a reader enters while
//!   no writer is inside *and no writer waits* (`WRITER_WAITING` blocks new
//!   readers, so readers cannot starve a writer); a writer enters while
//!   nobody is inside. A blocking acquire retries the fast path before it
//!   queues: a brief spin, then a few `yield`s (on a busy machine the
//!   holders, or the writer that readers make way for, get the processor
//!   instead of everybody parking behind a writer that is still waking up).
//! * A release that could let a waiter in (a writer's, or the last reader's,
//!   while `SLOW` is set) goes through the lock, which **wakes** the
//!   waiters at the front that could enter now (the first writer, or the
//!   run of readers before the first writer) but does not hand them the
//!   lock: a woken waiter stays queued, in its place, and tries to enter
//!   under the lock when it runs; if a newcomer took the lock meanwhile,
//!   it parks again and is woken by the next release. The lock is thus never
//!   held by a thread that is still waking up (no convoy).
//! * A queued reader enters only with no writer queued ahead of it; readers
//!   queued before a writer are not held back by it.
//! * **Eventual fairness**: a woken waiter that finds the lock taken
//!   `Platform::HANDOFF_AFTER` times is marked for hand-off: the next release
//!   that lets it in enters it in the same CAS that releases (no newcomer can
//!   slip in between), records a grant and wakes it (strict hand-off, as
//!   [`QLock`](crate::QLock) does). So a waiting writer gets in even against
//!   a stream of barging writers.
//! * A waiter that times out or whose future is dropped leaves the queue (if
//!   it had been handed the lock meanwhile, the grant is returned to the
//!   caller, who releases it on); wake-ups are recomputed, so a writer that
//!   gave up at the front lets the readers behind it in. No grant is ever
//!   left to a waiter that gave up.
//!
//! No lost wake-up: a waiter parks only after failing under the lock with
//! `SLOW` already set; from then on every change that could let it in (a
//! writer's release, the last reader's release, a writer ahead leaving the
//! queue) passes through the lock and re-runs the wake-up step. A reader
//! release that leaves other readers inside stays on the fast path: it
//! cannot let anyone in.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

use super::broker::{Broker, Collect, WaiterId, Wake, SLOW};
use super::foreign::{self, Access as Far, Delegate, Foreign, Query, FOREIGN};
use super::platform::{Locked, Platform, Word};

const WRITER: u64 = 1 << 62;
/// Set once the last handle is gone while guards are still inside.
const ORPHAN: u64 = 1 << 61;
/// Set while a writer is queued: new readers stay out.
const WRITER_WAITING: u64 = 1 << 60;
const READERS: u64 = FOREIGN - 1;

/// What a waiter asks for, and what it is granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

struct RwWaiter<P: Platform> {
    id: WaiterId,
    access: Access,
    wake: Wake<P>,
    /// Woken and not yet back: no need to wake it again.
    woken: bool,
    /// Times it was woken and found the lock taken.
    misses: u32,
}

pub(crate) struct RwState<P: Platform> {
    /// Waiters in arrival order; a waiter stays here until it enters or gives up.
    waiters: VecDeque<RwWaiter<P>>,
    /// Hand-offs recorded but not yet collected.
    grants: Vec<(WaiterId, Access)>,
    /// Writers in `waiters`.
    writers: usize,
    next_id: WaiterId,
    /// The far side of a foreign broker.
    foreign: Option<Delegate>,
}

/// Many readers or one writer; writer preference, barging, eventual hand-off.
pub(crate) struct RawRw<P: Platform> {
    word: P::Word,
    locked: P::Locked<RwState<P>>,
}

impl<P: Platform> RawRw<P> {
    pub(crate) fn new() -> Self {
        RawRw {
            word: P::Word::new(0),
            locked: P::Locked::new(RwState {
                waiters: VecDeque::new(),
                grants: Vec::new(),
                writers: 0,
                next_id: 0,
                foreign: None,
            }),
        }
    }

    /// A broker that forwards to `far` (see `foreign`): its word keeps
    /// every fast path away.
    pub(crate) fn delegating(far: Arc<dyn Foreign>) -> Self {
        let raw = Self::new();
        raw.word.store(FOREIGN | SLOW | WRITER | WRITER_WAITING);
        raw.locked.with(|s| s.foreign = Delegate::new(far));
        raw
    }

    /// Readers inside right now.
    pub(crate) fn readers(&self) -> usize {
        match self.foreign() {
            Some(far) => far.query(Query::Readers),
            None => (self.word.load() & READERS) as usize,
        }
    }

    /// True while a writer is inside.
    pub(crate) fn is_write_locked(&self) -> bool {
        match self.foreign() {
            Some(far) => far.query(Query::WriteLocked) != 0,
            None => self.word.load() & WRITER != 0,
        }
    }

    /// True while a writer is queued (new readers stay out).
    #[cfg(test)]
    pub(crate) fn writer_waiting(&self) -> bool {
        self.word.load() & WRITER_WAITING != 0
    }

    /// Waiters queued right now.
    pub(crate) fn waiting(&self) -> usize {
        match self.foreign() {
            Some(far) => far.query(Query::Waiting),
            None => self.locked.with(|s| s.waiters.len()),
        }
    }

    /// Grants recorded but not collected (model checks).
    #[cfg(test)]
    pub(crate) fn pending_grants(&self) -> usize {
        self.locked.with(|s| s.grants.len())
    }

    /// The last handle to the owner is being dropped (no request can come
    /// any more). `false`: nobody is inside, free the owner now. `true`:
    /// guards are inside; the release that lets the last one out returns
    /// `true`, telling that guard to free the owner.
    pub(crate) fn orphan(&self) -> bool {
        foreign::orphan::<P, _>(
            &self.locked,
            &self.word,
            |s| s.foreign.as_ref(),
            ORPHAN,
            |w| {
                debug_assert!(
                    w & (SLOW | ORPHAN | WRITER_WAITING) == 0,
                    "lox: orphaning a broker with waiters"
                );
                w & (READERS | WRITER) != 0
            },
        )
    }

    /// Could a newcomer asking `a` enter, given word `w`?
    #[inline]
    fn open_to_newcomer(w: u64, a: Access) -> bool {
        match a {
            Access::Read => w & (WRITER | WRITER_WAITING) == 0,
            Access::Write => w & (WRITER | READERS) == 0,
        }
    }

    /// Could a queued waiter asking `a`, with no writer queued ahead of it,
    /// enter given word `w`? (The writers queued behind it do not count.)
    #[inline]
    fn open_to_queued(w: u64, a: Access) -> bool {
        match a {
            Access::Read => w & WRITER == 0,
            Access::Write => w & (WRITER | READERS) == 0,
        }
    }

    #[inline]
    fn enter(w: u64, a: Access) -> u64 {
        match a {
            Access::Read => w + 1,
            Access::Write => w | WRITER,
        }
    }

    #[inline]
    fn leave(w: u64, a: Access) -> u64 {
        match a {
            Access::Read => {
                debug_assert!(w & READERS != 0, "lox: read released twice");
                w - 1
            }
            Access::Write => {
                debug_assert!(w & WRITER != 0, "lox: write released twice");
                w & !WRITER
            }
        }
    }

    /// Enter by CAS while `open(w, a)` holds.
    #[inline]
    fn enter_if(&self, a: Access, open: fn(u64, Access) -> bool) -> bool {
        let mut w = self.word.load();
        loop {
            if !open(w, a) {
                return false;
            }
            match self.word.cas(w, Self::enter(w, a)) {
                Ok(_) => return true,
                Err(now) => w = now,
            }
        }
    }

    /// Locked only: make `SLOW` and `WRITER_WAITING` match the queue.
    fn settle(&self, s: &RwState<P>) {
        let w = self.word.load();
        let mut set = 0;
        let mut clear = 0;
        match (s.waiters.is_empty(), w & SLOW != 0) {
            (false, false) => set |= SLOW,
            (true, true) => clear |= SLOW,
            _ => {}
        }
        match (s.writers > 0, w & WRITER_WAITING != 0) {
            (true, false) => set |= WRITER_WAITING,
            (false, true) => clear |= WRITER_WAITING,
            _ => {}
        }
        if set != 0 {
            self.word.fetch_or(set);
        }
        if clear != 0 {
            self.word.fetch_and(!clear);
        }
    }

    /// Locked only: remove the waiter at `pos`.
    fn remove_at(s: &mut RwState<P>, pos: usize) -> RwWaiter<P> {
        let w = s.waiters.remove(pos).expect("lox: waiter position");
        if w.access == Access::Write {
            s.writers -= 1;
        }
        w
    }

    /// Locked only: wake the waiters at the front that could enter now (the
    /// first writer alone, or the run of readers before the first writer).
    /// A front waiter marked for hand-off is entered and granted instead.
    fn wake_ready(&self, s: &mut RwState<P>, wakes: &mut Vec<Wake<P>>) {
        while let Some(f) = s.waiters.front() {
            if f.misses < P::HANDOFF_AFTER {
                break;
            }
            let a = f.access;
            if !self.enter_if(a, Self::open_to_queued) {
                break;
            }
            let f = Self::remove_at(s, 0);
            s.grants.push((f.id, a));
            wakes.push(f.wake);
        }
        let w = self.word.load();
        for (i, f) in s.waiters.iter_mut().enumerate() {
            let open = match f.access {
                Access::Read => Self::open_to_queued(w, Access::Read),
                Access::Write => i == 0 && Self::open_to_queued(w, Access::Write),
            };
            if !open {
                break;
            }
            if !f.woken {
                f.woken = true;
                wakes.push(f.wake.clone());
            }
            if f.access == Access::Write {
                break;
            }
        }
    }

    #[cold]
    fn release_slow(&self, a: Access) -> bool {
        let mut wakes = Vec::new();
        let freed = self.locked.with(|s| {
            // A front waiter marked for hand-off enters in the very CAS that
            // releases: no newcomer can take the lock in between.
            let handoff = s
                .waiters
                .front()
                .filter(|f| f.misses >= P::HANDOFF_AFTER)
                .map(|f| f.access);
            let mut w = self.word.load();
            let (new, handed) = loop {
                let mut new = Self::leave(w, a);
                let handed = handoff.filter(|&h| Self::open_to_queued(new, h));
                if let Some(h) = handed {
                    new = Self::enter(new, h);
                }
                match self.word.cas(w, new) {
                    Ok(_) => break (new, handed),
                    Err(now) => w = now,
                }
            };
            if let Some(h) = handed {
                let f = Self::remove_at(s, 0);
                s.grants.push((f.id, h));
                wakes.push(f.wake);
            }
            self.wake_ready(s, &mut wakes);
            self.settle(s);
            new & ORPHAN != 0 && new & (READERS | WRITER) == 0
        });
        for wake in wakes {
            wake.wake();
        }
        freed
    }
}

impl<P: Platform> RawRw<P> {
    /// Every release but the uncontended ones (see `release`).
    #[cold]
    #[inline(never)]
    fn release_cold(&self, a: Access) -> bool {
        let mut w = self.word.load();
        if w & FOREIGN != 0 {
            return self.release_foreign(a);
        }
        loop {
            // While waiters are queued, only a release that cannot let
            // anyone in (a reader leaving other readers inside) stays fast.
            if w & SLOW != 0 && !(a == Access::Read && w & READERS > 1) {
                return self.release_slow(a);
            }
            let new = Self::leave(w, a);
            match self.word.cas(w, new) {
                Ok(_) => return new & ORPHAN != 0 && new & (READERS | WRITER) == 0,
                Err(now) => w = now,
            }
        }
    }

    /// Give a foreign grant back: uncounted here (the last one out of an
    /// orphan frees it), then to the far side.
    fn release_foreign(&self, a: Access) -> bool {
        let (far, orphaned) = self.locked.with(|s| {
            let d = s.foreign.as_mut().expect("lox: a foreign broker");
            d.held -= 1;
            (d.far.clone(), d.held == 0 && self.word.load() & ORPHAN != 0)
        });
        far.release(Self::access(a), 0);
        orphaned
    }
}

impl<P: Platform> Broker for RawRw<P> {
    type P = P;
    type Req = Access;
    type Grant = Access;
    // A writer usually gets through within a time slice: on a busy machine,
    // give the holders the processor a few times before parking.
    const YIELDS: bool = true;

    #[inline]
    fn try_fast(&self, a: Access) -> Option<Access> {
        let entered = match a {
            Access::Read => {
                let w = self.word.load();
                w & (WRITER | WRITER_WAITING) == 0 && self.word.cas(w, w + 1).is_ok()
            }
            Access::Write => self.word.cas(0, WRITER).is_ok(),
        };
        entered.then_some(a)
    }

    fn try_enter(&self, a: Access) -> Option<Access> {
        self.enter_if(a, Self::open_to_newcomer).then_some(a)
    }

    fn request(&self, a: Access, wake: Wake<P>) -> Result<Access, WaiterId> {
        self.locked.with(|s| {
            // From here on, a release that could let us in comes through the
            // lock, so checking once more below cannot miss it.
            self.word.fetch_or(SLOW);
            if self.enter_if(a, Self::open_to_newcomer) {
                self.settle(s);
                return Ok(a);
            }
            let id = s.next_id;
            s.next_id += 1;
            s.waiters.push_back(RwWaiter {
                id,
                access: a,
                wake,
                woken: false,
                misses: 0,
            });
            if a == Access::Write {
                s.writers += 1;
            }
            self.settle(s);
            Err(id)
        })
    }

    fn collect(&self, id: WaiterId, waker: Option<&Waker>) -> Collect<Access> {
        let mut wakes = Vec::new();
        let r = self.locked.with(|s| {
            if let Some(pos) = s.grants.iter().position(|(i, _)| *i == id) {
                return Collect::Granted(s.grants.swap_remove(pos).1);
            }
            let Some(pos) = s.waiters.iter().position(|f| f.id == id) else {
                debug_assert!(false, "lox: collect by an unknown waiter");
                return Collect::Pending;
            };
            let f = &s.waiters[pos];
            let a = f.access;
            let no_writer_ahead = match a {
                Access::Read => s.waiters.iter().take(pos).all(|f| f.access == Access::Read),
                Access::Write => pos == 0,
            };
            if no_writer_ahead && self.enter_if(a, Self::open_to_queued) {
                Self::remove_at(s, pos);
                // Readers behind an entering reader may be woken too.
                self.wake_ready(s, &mut wakes);
                self.settle(s);
                return Collect::Granted(a);
            }
            let f = &mut s.waiters[pos];
            if f.woken {
                // Woken, but a newcomer was faster.
                f.woken = false;
                f.misses += 1;
            }
            if let Some(waker) = waker {
                match &f.wake {
                    Wake::Task(old) if old.will_wake(waker) => {}
                    _ => f.wake = Wake::Task(waker.clone()),
                }
            }
            // The lock may have become free while we looked (a release
            // waiting for the lock will wake us; this is for hand-offs).
            self.wake_ready(s, &mut wakes);
            Collect::Pending
        });
        for wake in wakes {
            wake.wake();
        }
        r
    }

    fn cancel(&self, id: WaiterId) -> Option<Access> {
        let mut wakes = Vec::new();
        let got = self.locked.with(|s| {
            if let Some(pos) = s.grants.iter().position(|(i, _)| *i == id) {
                return Some(s.grants.swap_remove(pos).1);
            }
            if let Some(pos) = s.waiters.iter().position(|f| f.id == id) {
                Self::remove_at(s, pos);
                // A writer that gave up may have been holding back readers
                // (queued, or newcomers); a woken waiter that gave up passes
                // its wake-up on.
                self.wake_ready(s, &mut wakes);
                self.settle(s);
            }
            None
        });
        for wake in wakes {
            wake.wake();
        }
        got
    }

    #[inline]
    fn release(&self, a: Access) -> bool {
        let left = match a {
            Access::Read => {
                let w = self.word.load();
                w & (SLOW | ORPHAN) == 0 && self.word.cas(w, w - 1).is_ok()
            }
            Access::Write => self.word.cas(WRITER, 0).is_ok(),
        };
        if left {
            return false;
        }
        self.release_cold(a)
    }

    fn foreign(&self) -> Option<Arc<dyn Foreign>> {
        foreign::far::<P, _>(&self.locked, &self.word, |s| s.foreign.as_ref())
    }

    fn access(a: Access) -> Far {
        match a {
            Access::Read => Far::Shared,
            Access::Write => Far::Exclusive,
        }
    }

    fn enter_foreign(&self, a: Access, _index: usize) -> Access {
        self.locked.with(|s| {
            if let Some(d) = s.foreign.as_mut() {
                d.held += 1;
            }
        });
        a
    }
}
