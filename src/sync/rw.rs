//! The readers-writer broker behind [`RWLock`](crate::RWLock).
//!
//! State word: bits 0..61 count the readers inside, bit 62 = a writer is
//! inside, bit 63 = `SLOW` (waiters queued), bit 61 = `ORPHAN` (every handle
//! is gone while guards are still inside: the last one out frees the owner). The fast paths (CAS) run only
//! while nobody waits. Waiters are served in arrival order: a run of readers
//! at the front of the queue is granted together; a writer at the front waits
//! until every reader has left, and every reader that arrives after it queues
//! behind it (a waiting writer blocks new readers, so writers never starve).

use std::task::Waker;

use super::broker::{Broker, Collect, Queue, WaiterId, Wake, SLOW};
use super::platform::{Mailbox, Platform, Word};

const WRITER: u64 = 1 << 62;
/// Set once the last handle is gone while guards are still inside.
const ORPHAN: u64 = 1 << 61;
const READERS: u64 = ORPHAN - 1;

/// What a waiter asks for, and what it is granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

pub(crate) struct RwState<P: Platform> {
    queue: Queue<P, Access, Access>,
}

/// Many readers or one writer, with a FIFO of waiters.
pub(crate) struct RawRw<P: Platform> {
    word: P::Word,
    mailbox: P::Mailbox<RwState<P>>,
}

impl<P: Platform> RawRw<P> {
    pub(crate) fn new() -> Self {
        RawRw {
            word: P::Word::new(0),
            mailbox: P::Mailbox::new(RwState {
                queue: Queue::new(),
            }),
        }
    }

    /// Readers inside right now.
    pub(crate) fn readers(&self) -> usize {
        (self.word.load() & READERS) as usize
    }

    /// True while a writer is inside.
    pub(crate) fn is_write_locked(&self) -> bool {
        self.word.load() & WRITER != 0
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

    /// The last handle to the owner is being dropped (no request can come
    /// any more). `false`: nobody is inside, free the owner now. `true`:
    /// guards are inside; the release that lets the last one out returns
    /// `true`, telling that guard to free the owner.
    pub(crate) fn orphan(&self) -> bool {
        let mut w = self.word.load();
        loop {
            debug_assert!(
                w & (SLOW | ORPHAN) == 0,
                "lox: orphaning a broker with waiters"
            );
            if w & (READERS | WRITER) == 0 {
                return false;
            }
            match self.word.cas(w, w | ORPHAN) {
                Ok(_) => return true,
                Err(now) => w = now,
            }
        }
    }

    fn lock_word(&self) -> u64 {
        self.word.fetch_or(SLOW) | SLOW
    }

    fn unlock_word(&self, w: u64, queue_empty: bool) {
        self.word
            .store(if queue_empty { w & !SLOW } else { w | SLOW });
    }

    /// Could `a` enter now, given word `w`?
    fn compatible(w: u64, a: Access) -> bool {
        match a {
            Access::Read => w & WRITER == 0,
            Access::Write => w & (WRITER | READERS) == 0,
        }
    }

    fn enter(w: &mut u64, a: Access) {
        match a {
            Access::Read => *w += 1,
            Access::Write => *w |= WRITER,
        }
    }

    /// Grant the waiters at the front that can enter now.
    fn grant_ready(s: &mut RwState<P>, w: &mut u64, wakes: &mut Vec<Wake<P>>) {
        while let Some(a) = s.queue.front() {
            if !Self::compatible(*w, a) {
                break;
            }
            Self::enter(w, a);
            wakes.extend(s.queue.grant_front(a));
        }
    }

    #[cold]
    fn release_slow(&self, a: Access) {
        let mut wakes = Vec::new();
        self.mailbox.with(|s| {
            let mut w = self.lock_word();
            match a {
                Access::Read => {
                    debug_assert!(w & READERS != 0, "lox: read released twice");
                    w -= 1
                }
                Access::Write => w &= !WRITER,
            }
            Self::grant_ready(s, &mut w, &mut wakes);
            self.unlock_word(w, s.queue.is_empty());
        });
        for wake in wakes {
            wake.wake();
        }
    }
}

impl<P: Platform> Broker for RawRw<P> {
    type P = P;
    type Req = Access;
    type Grant = Access;

    #[inline]
    fn try_fast(&self, a: Access) -> Option<Access> {
        let mut w = self.word.load();
        loop {
            if w & SLOW != 0 || !Self::compatible(w, a) {
                return None;
            }
            let mut new = w;
            Self::enter(&mut new, a);
            match self.word.cas(w, new) {
                Ok(_) => return Some(a),
                Err(now) => w = now,
            }
        }
    }

    fn try_slow(&self, a: Access) -> Option<Access> {
        self.mailbox.with(|s| {
            if !s.queue.is_empty() {
                return None;
            }
            let mut w = self.lock_word();
            let ok = Self::compatible(w, a);
            if ok {
                Self::enter(&mut w, a);
            }
            self.unlock_word(w, true);
            ok.then_some(a)
        })
    }

    fn request(&self, a: Access, wake: Wake<P>) -> Result<Access, WaiterId> {
        self.mailbox.with(|s| {
            let mut w = self.lock_word();
            if s.queue.is_empty() && Self::compatible(w, a) {
                Self::enter(&mut w, a);
                self.unlock_word(w, true);
                return Ok(a);
            }
            let id = s.queue.push(a, wake);
            self.unlock_word(w, false);
            Err(id)
        })
    }

    fn collect(&self, id: WaiterId, waker: Option<&Waker>) -> Collect<Access> {
        let g = self.mailbox.with(|s| match waker {
            Some(waker) => s.queue.poll_grant(id, waker),
            None => s.queue.take_grant(id),
        });
        g.map_or(Collect::Pending, Collect::Granted)
    }

    fn cancel(&self, id: WaiterId) -> Option<Access> {
        let mut wakes = Vec::new();
        let got = self.mailbox.with(|s| {
            if let Some(g) = s.queue.take_grant(id) {
                return Some(g);
            }
            if s.queue.remove(id) {
                // A writer that gave up at the front may have been holding
                // back readers that can enter now.
                let mut w = self.lock_word();
                Self::grant_ready(s, &mut w, &mut wakes);
                self.unlock_word(w, s.queue.is_empty());
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
        let mut w = self.word.load();
        while w & SLOW == 0 {
            let new = match a {
                Access::Read => w - 1,
                Access::Write => w & !WRITER,
            };
            match self.word.cas(w, new) {
                Ok(_) => return new & ORPHAN != 0 && new & (READERS | WRITER) == 0,
                Err(now) => w = now,
            }
        }
        self.release_slow(a);
        false
    }
}
