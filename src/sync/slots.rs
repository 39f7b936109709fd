//! The slot broker behind [`Lock`](crate::Lock), [`QLock`](crate::QLock) and
//! [`IndexSemaphore`](crate::IndexSemaphore): `n` numbered slots, each granted
//! to one holder at a time.
//!
//! Two policies. **Fair** (QLock, IndexSemaphore): waiters are served
//! strictly first come, first served; a release hands its slot directly to
//! the first waiter. **Barging** (Lock, like parking_lot's mutex): a release
//! frees the slot and wakes the first waiter with a *retry* grant; the waiter
//! competes for the slot again with newcomers, which keeps the lock busy
//! under contention instead of waiting for a parked thread to wake up. A
//! waiter that gives up while holding a retry grant passes it on.
//!
//! State word (for `n <= 59`): bit `i` set = slot `i` free; bit 63 = `SLOW`
//! (waiters queued); bit 62 = `ORPHAN` (every handle is gone while guards
//! still hold slots: the release that frees the last slot frees the owner);
//! bit 59 = `FOREIGN` (see `foreign`). The inlined fast paths are one CAS
//! from the exact word of the uncontended one-slot case: acquire 1 → 0,
//! release 0 → the slot's bit (any other word, flags included, takes the
//! out-of-line path). That path clears the lowest free bit with one CAS
//! while a slot is free (and, for the fair policy, nobody waits: in that
//! policy a queued waiter gets its slot by hand-off and the word never shows
//! it free), and sets it back while `SLOW` is clear. The lock changes the
//! word only by atomic read-modify-write, so fast acquires may run meanwhile.
//! For `n > 59` the free set lives in the lock and `SLOW` stays set: every
//! request goes through it (fair policy only).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::task::Waker;

use super::broker::{Broker, Collect, Queue, WaiterId, Wake, SLOW};
use super::foreign::{self, Access, Delegate, Foreign, Query, FOREIGN};
use super::platform::{Locked, Platform, Word};

/// Most slots the fast path can represent in the state word.
const FAST_SLOTS: usize = 59;

/// Set once the last handle is gone while slots are still held.
const ORPHAN: u64 = 1 << 62;
/// The bits of the word that are not free-slot bits.
const FLAGS: u64 = SLOW | ORPHAN | FOREIGN;
/// The grant of the barging policy: "a slot was freed; try again".
const RETRY: usize = usize::MAX;

pub(crate) struct SlotsState<P: Platform> {
    queue: Queue<P, usize>,
    /// Free slots when `n > 59` (lowest first).
    big_free: BTreeSet<usize>,
    /// The far side of a foreign broker.
    foreign: Option<Delegate>,
}

/// `n` slots with a FIFO of waiters.
pub(crate) struct RawSlots<P: Platform> {
    word: P::Word,
    n: usize,
    fair: bool,
    locked: P::Locked<SlotsState<P>>,
}

impl<P: Platform> RawSlots<P> {
    /// `n >= 1` slots, all free, served first come, first served.
    pub(crate) fn new(n: usize) -> Self {
        Self::with_policy(n, true)
    }

    /// One slot, barging policy (see the module docs).
    pub(crate) fn barging() -> Self {
        Self::with_policy(1, false)
    }

    /// A broker that forwards to `far` (see `foreign`): no slot of its own,
    /// `FOREIGN | SLOW` keep every fast path away.
    pub(crate) fn delegating(far: Arc<dyn Foreign>) -> Self {
        let mut raw = Self::with_policy(1, true);
        raw.word = P::Word::new(FOREIGN | SLOW);
        raw.locked = P::Locked::new(SlotsState {
            queue: Queue::new(),
            big_free: BTreeSet::new(),
            foreign: Delegate::new(far),
        });
        raw
    }

    fn with_policy(n: usize, fair: bool) -> Self {
        assert!(n >= 1, "lox: a slot broker needs at least one slot");
        let big = n > FAST_SLOTS;
        assert!(
            fair || !big,
            "lox: the barging policy needs the fast-path word"
        );
        let word = if big { SLOW } else { (1u64 << n) - 1 };
        RawSlots {
            word: P::Word::new(word),
            n,
            fair,
            locked: P::Locked::new(SlotsState {
                queue: Queue::new(),
                big_free: if big {
                    (0..n).collect()
                } else {
                    BTreeSet::new()
                },
                foreign: None,
            }),
        }
    }

    /// Number of slots.
    #[cfg(test)]
    pub(crate) fn slots(&self) -> usize {
        self.n
    }

    fn big(&self) -> bool {
        self.n > FAST_SLOTS
    }

    /// The free-slot bits with every slot free (fast mode).
    fn all_free(&self) -> u64 {
        (1u64 << self.n) - 1
    }

    /// Free slots right now.
    pub(crate) fn available(&self) -> usize {
        if let Some(far) = self.foreign() {
            return far.query(Query::Available);
        }
        if self.big() {
            self.locked.with(|s| s.big_free.len())
        } else {
            (self.word.load() & !FLAGS).count_ones() as usize
        }
    }

    /// Waiters queued right now.
    pub(crate) fn waiting(&self) -> usize {
        match self.foreign() {
            Some(far) => far.query(Query::Waiting),
            None => self.locked.with(|s| s.queue.len()),
        }
    }

    /// Grants recorded but not collected (model checks).
    #[cfg(test)]
    pub(crate) fn pending_grants(&self) -> usize {
        self.locked.with(|s| s.queue.pending_grants())
    }

    /// The last handle to the owner of this broker is being dropped (so no
    /// request can come any more, and none is queued). `false`: every slot
    /// is free, the caller frees the owner now. `true`: guards still hold
    /// slots; the broker is marked orphaned and the release that frees the
    /// last slot returns `true`, telling that guard to free the owner.
    /// Fast mode (`n <= 59`) only.
    pub(crate) fn orphan(&self) -> bool {
        assert!(!self.big(), "lox: orphan() needs the fast-path word");
        foreign::orphan::<P, _>(
            &self.locked,
            &self.word,
            |s| s.foreign.as_ref(),
            ORPHAN,
            |w| {
                debug_assert!(w & FLAGS == 0, "lox: orphaning a broker with waiters");
                w & !FLAGS != self.all_free()
            },
        )
    }

    /// Take the lowest free slot of word-state `w` by CAS.
    #[inline]
    fn take_bit(&self, mut w: u64) -> Option<usize> {
        loop {
            let free = w & !FLAGS;
            if free == 0 {
                return None;
            }
            let bit = free & free.wrapping_neg();
            match self.word.cas(w, w & !bit) {
                Ok(_) => return Some(bit.trailing_zeros() as usize),
                Err(now) => w = now,
            }
        }
    }

    /// Locked only: take a free slot.
    fn take_free(&self, s: &mut SlotsState<P>) -> Option<usize> {
        if self.big() {
            s.big_free.pop_first()
        } else {
            self.take_bit(self.word.load())
        }
    }

    /// Locked only: `slot` is free again. True if that freed the last
    /// held slot of an orphaned broker (the caller then frees the owner):
    /// decided by the one atomic step that sets the bit, so exactly one
    /// release sees it.
    fn put_free(&self, s: &mut SlotsState<P>, slot: usize) -> bool {
        if self.big() {
            s.big_free.insert(slot);
            false
        } else {
            let bit = 1u64 << slot;
            let new = self.word.fetch_or(bit) | bit;
            new & ORPHAN != 0 && new & !FLAGS == self.all_free()
        }
    }

    /// Locked only: let the fast paths run again once nobody waits.
    fn settle(&self, s: &SlotsState<P>) {
        if s.queue.is_empty() && !self.big() {
            self.word.fetch_and(!SLOW);
        }
    }

    /// A release while waiters were queued; returns the orphan flag as
    /// `release` does (the queue may have emptied meanwhile, and the last
    /// handle gone: the slot is then the orphan's last).
    #[cold]
    fn release_slow(&self, slot: usize) -> bool {
        let (wake, orphaned) = self.locked.with(|s| {
            let (wake, orphaned) = if self.fair {
                match s.queue.grant_front(slot) {
                    Some(wake) => (Some(wake), false),
                    None => (None, self.put_free(s, slot)),
                }
            } else {
                let orphaned = self.put_free(s, slot);
                (s.queue.grant_front(RETRY), orphaned)
            };
            self.settle(s);
            (wake, orphaned)
        });
        if let Some(wake) = wake {
            wake.wake();
        }
        orphaned
    }
}

impl<P: Platform> RawSlots<P> {
    /// Every release but the uncontended one-slot case (see `release`);
    /// the release of a semaphore of `n` slots.
    #[cold]
    #[inline(never)]
    pub(crate) fn release_cold(&self, slot: usize) -> bool {
        let mut w = self.word.load();
        if w & FOREIGN != 0 {
            return self.release_foreign(slot);
        }
        debug_assert!(slot < self.n);
        if !self.big() {
            let bit = 1u64 << slot;
            while w & SLOW == 0 {
                debug_assert!(w & bit == 0, "lox: slot released twice");
                let new = w | bit;
                match self.word.cas(w, new) {
                    Ok(_) => return new & ORPHAN != 0 && new & !FLAGS == self.all_free(),
                    Err(now) => w = now,
                }
            }
        }
        self.release_slow(slot)
    }

    /// Give a foreign grant back: uncounted here (the last one out of an
    /// orphan frees it), then to the far side.
    fn release_foreign(&self, slot: usize) -> bool {
        let (far, orphaned) = self.locked.with(|s| {
            let d = s.foreign.as_mut().expect("lox: a foreign broker");
            d.held -= 1;
            (d.far.clone(), d.held == 0 && self.word.load() & ORPHAN != 0)
        });
        far.release(Access::Exclusive, slot);
        orphaned
    }
}

impl<P: Platform> Broker for RawSlots<P> {
    type P = P;
    type Req = ();
    type Grant = usize;

    #[inline]
    fn try_fast(&self, _req: ()) -> Option<usize> {
        // Slot 0 free, every other slot taken, no flag: take slot 0.
        self.word.cas(1, 0).ok().map(|_| 0)
    }

    fn try_enter(&self, _req: ()) -> Option<usize> {
        if self.big() {
            return self.locked.with(|s| {
                if self.fair && !s.queue.is_empty() {
                    return None;
                }
                s.big_free.pop_first()
            });
        }
        let w = self.word.load();
        // Fair policy: a queued waiter means no slot is free (hand-off), so
        // this fails while anyone waits. Barging policy: take it anyway.
        if w & ORPHAN != 0 {
            return None;
        }
        self.take_bit(w)
    }

    fn request(&self, _req: (), wake: Wake<P>) -> Result<usize, WaiterId> {
        self.locked.with(|s| {
            // From here on, releases come through the lock.
            self.word.fetch_or(SLOW);
            if !self.fair || s.queue.is_empty() {
                if let Some(i) = self.take_free(s) {
                    self.settle(s);
                    return Ok(i);
                }
            }
            Err(s.queue.push(wake))
        })
    }

    fn collect(&self, id: WaiterId, waker: Option<&Waker>) -> Collect<usize> {
        self.locked.with(|s| {
            let g = match waker {
                Some(waker) => s.queue.poll_grant(id, waker),
                None => s.queue.take_grant(id),
            };
            match g {
                None => Collect::Pending,
                Some(RETRY) => Collect::Retry,
                Some(g) => Collect::Granted(g),
            }
        })
    }

    fn cancel(&self, id: WaiterId) -> Option<usize> {
        let (got, wake) = self.locked.with(|s| {
            let r = match s.queue.take_grant(id) {
                // Woken to retry: pass the duty on to the next waiter.
                Some(RETRY) => (None, s.queue.grant_front(RETRY)),
                Some(g) => (Some(g), None),
                None => {
                    s.queue.remove(id);
                    (None, None)
                }
            };
            self.settle(s);
            r
        });
        if let Some(wake) = wake {
            wake.wake();
        }
        got
    }

    #[inline]
    fn release(&self, slot: usize) -> bool {
        // Every slot taken, no flag: free this one (a foreign or big
        // broker's word always has flags).
        if self.word.cas(0, 1u64.wrapping_shl(slot as u32)).is_ok() {
            return false;
        }
        self.release_cold(slot)
    }

    fn foreign(&self) -> Option<Arc<dyn Foreign>> {
        foreign::far::<P, _>(&self.locked, &self.word, |s| s.foreign.as_ref())
    }

    fn access(_req: ()) -> Access {
        Access::Exclusive
    }

    fn enter_foreign(&self, _req: (), index: usize) -> usize {
        self.locked.with(|s| {
            if let Some(d) = s.foreign.as_mut() {
                d.held += 1;
            }
        });
        index
    }
}
