//! The slot broker behind [`Lock`](crate::Lock), [`QLock`](crate::QLock) and
//! [`IndexSemaphore`](crate::IndexSemaphore): `n` numbered slots, each granted
//! to one holder at a time, waiters served strictly first come, first served.
//!
//! State word (for `n <= 62`): bit `i` set = slot `i` free; bit 63 = `SLOW`
//! (waiters queued); bit 62 = `ORPHAN` (every handle is gone while guards
//! still hold slots: the release that frees the last slot frees the owner). Fast acquire clears the lowest free bit with one CAS while
//! `SLOW` is clear; fast release sets it back. Once a waiter is queued, a
//! release hands its slot directly to the first waiter (the word never shows
//! it free), so nobody can barge ahead of the queue. For `n > 62` the free set
//! lives in the mailbox and `SLOW` stays set: every request goes through it.

use std::collections::BTreeSet;
use std::task::Waker;

use super::broker::{Broker, Queue, WaiterId, Wake, SLOW};
use super::platform::{Mailbox, Platform, Word};

/// Most slots the fast path can represent in the state word.
const FAST_SLOTS: usize = 62;

/// Set once the last handle is gone while slots are still held.
const ORPHAN: u64 = 1 << 62;
/// The bits of the word that are not free-slot bits.
const FLAGS: u64 = SLOW | ORPHAN;

pub(crate) struct SlotsState<P: Platform> {
    queue: Queue<P, (), usize>,
    /// Free slots when `n > 63` (lowest first).
    big_free: BTreeSet<usize>,
}

/// `n` slots with a FIFO of waiters.
pub(crate) struct RawSlots<P: Platform> {
    word: P::Word,
    n: usize,
    mailbox: P::Mailbox<SlotsState<P>>,
}

impl<P: Platform> RawSlots<P> {
    /// `n >= 1` slots, all free.
    pub(crate) fn new(n: usize) -> Self {
        assert!(n >= 1, "lox: a slot broker needs at least one slot");
        let big = n > FAST_SLOTS;
        let word = if big { SLOW } else { (1u64 << n) - 1 };
        RawSlots {
            word: P::Word::new(word),
            n,
            mailbox: P::Mailbox::new(SlotsState {
                queue: Queue::new(),
                big_free: if big {
                    (0..n).collect()
                } else {
                    BTreeSet::new()
                },
            }),
        }
    }

    fn big(&self) -> bool {
        self.n > FAST_SLOTS
    }

    /// The free-slot bits with every slot free (fast mode).
    fn all_free(&self) -> u64 {
        (1u64 << self.n) - 1
    }

    /// The last handle to the owner of this broker is being dropped (so no
    /// request can come any more, and none is queued). `false`: every slot
    /// is free, the caller frees the owner now. `true`: guards still hold
    /// slots; the broker is marked orphaned and the release that frees the
    /// last slot returns `true`, telling that guard to free the owner.
    /// Fast mode (`n <= 62`) only.
    pub(crate) fn orphan(&self) -> bool {
        assert!(!self.big(), "lox: orphan() needs the fast-path word");
        let mut w = self.word.load();
        loop {
            debug_assert!(w & FLAGS == 0, "lox: orphaning a broker with waiters");
            if w & !FLAGS == self.all_free() {
                return false;
            }
            match self.word.cas(w, w | ORPHAN) {
                Ok(_) => return true,
                Err(now) => w = now,
            }
        }
    }

    /// Number of slots.
    pub(crate) fn slots(&self) -> usize {
        self.n
    }

    /// Free slots right now.
    pub(crate) fn available(&self) -> usize {
        if self.big() {
            self.mailbox.with(|s| s.big_free.len())
        } else {
            (self.word.load() & !FLAGS).count_ones() as usize
        }
    }

    /// Waiters queued right now.
    pub(crate) fn waiting(&self) -> usize {
        self.mailbox.with(|s| s.queue.len())
    }

    /// Grants recorded but not collected (model checks).
    #[cfg(test)]
    pub(crate) fn pending_grants(&self) -> usize {
        self.mailbox.with(|s| s.queue.pending_grants())
    }

    /// Mailbox only: set `SLOW` so that the fast paths stand aside; the word is
    /// ours until [`unlock_word`](Self::unlock_word).
    fn lock_word(&self) -> u64 {
        self.word.fetch_or(SLOW) | SLOW
    }

    /// Mailbox only: publish the word; `SLOW` stays while waiters are queued.
    fn unlock_word(&self, w: u64, queue_empty: bool) {
        let w = if queue_empty && !self.big() {
            w & !SLOW
        } else {
            w | SLOW
        };
        self.word.store(w);
    }

    /// Mailbox only, `SLOW` set in `w`: take the lowest free slot.
    fn take_free(&self, s: &mut SlotsState<P>, w: &mut u64) -> Option<usize> {
        if self.big() {
            s.big_free.pop_first()
        } else {
            let free = *w & !FLAGS;
            if free == 0 {
                return None;
            }
            let bit = free & free.wrapping_neg();
            *w &= !bit;
            Some(bit.trailing_zeros() as usize)
        }
    }
}

impl<P: Platform> Broker for RawSlots<P> {
    type P = P;
    type Req = ();
    type Grant = usize;

    #[inline]
    fn try_fast(&self, _req: ()) -> Option<usize> {
        let mut w = self.word.load();
        loop {
            if w & FLAGS != 0 || w == 0 {
                return None;
            }
            let bit = w & w.wrapping_neg();
            match self.word.cas(w, w & !bit) {
                Ok(_) => return Some(bit.trailing_zeros() as usize),
                Err(now) => w = now,
            }
        }
    }

    fn try_slow(&self, _req: ()) -> Option<usize> {
        self.mailbox.with(|s| {
            if !s.queue.is_empty() {
                return None;
            }
            let mut w = self.lock_word();
            let got = self.take_free(s, &mut w);
            self.unlock_word(w, true);
            got
        })
    }

    fn request(&self, req: (), wake: Wake<P>) -> Result<usize, WaiterId> {
        self.mailbox.with(|s| {
            let mut w = self.lock_word();
            if s.queue.is_empty() {
                if let Some(i) = self.take_free(s, &mut w) {
                    self.unlock_word(w, true);
                    return Ok(i);
                }
            }
            let id = s.queue.push(req, wake);
            self.unlock_word(w, false);
            Err(id)
        })
    }

    fn collect(&self, id: WaiterId, waker: Option<&Waker>) -> Option<usize> {
        self.mailbox.with(|s| match waker {
            Some(waker) => s.queue.poll_grant(id, waker),
            None => s.queue.take_grant(id),
        })
    }

    fn cancel(&self, id: WaiterId) -> Option<usize> {
        self.mailbox.with(|s| {
            if let Some(g) = s.queue.take_grant(id) {
                return Some(g);
            }
            if s.queue.remove(id) && s.queue.is_empty() {
                let w = self.lock_word();
                self.unlock_word(w, true);
            }
            None
        })
    }

    #[inline]
    fn release(&self, slot: usize) -> bool {
        debug_assert!(slot < self.n);
        if !self.big() {
            let bit = 1u64 << slot;
            let mut w = self.word.load();
            while w & SLOW == 0 {
                debug_assert!(w & bit == 0, "lox: slot released twice");
                let new = w | bit;
                match self.word.cas(w, new) {
                    Ok(_) => return new & ORPHAN != 0 && new & !FLAGS == self.all_free(),
                    Err(now) => w = now,
                }
            }
        }
        self.release_slow(slot);
        false
    }
}

impl<P: Platform> RawSlots<P> {
    #[cold]
    fn release_slow(&self, slot: usize) {
        let wake = self.mailbox.with(|s| {
            let mut w = self.lock_word();
            match s.queue.grant_front(slot) {
                Some(wake) => {
                    self.unlock_word(w, s.queue.is_empty());
                    Some(wake)
                }
                None => {
                    if self.big() {
                        s.big_free.insert(slot);
                    } else {
                        w |= 1u64 << slot;
                    }
                    self.unlock_word(w, true);
                    None
                }
            }
        });
        if let Some(wake) = wake {
            wake.wake();
        }
    }
}
