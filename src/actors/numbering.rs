//! Job numbering: one atomic word, `epoch << 32 | rel`.
//!
//! `scatter` takes a number with one `fetch_add` (no lock on the hot path); a
//! gather *cuts* the current epoch with a compare-and-swap that starts the
//! next one, so it knows exactly how many jobs (`rel` of the cut) were
//! scattered before it, from any thread. Jobs scattered after the cut carry
//! the next epoch and belong to the next gather. Generic over the word so
//! that the shuttle model (`actors::model`) checks this very code.

use std::sync::atomic::AtomicU64;

use crate::sync::platform::Word;

/// A job's key: its epoch (which gather it belongs to) and its index in it.
pub(crate) type Key = u64;

/// The epoch bit of private lanes: shared epochs count in the lower 31 bits.
pub(crate) const LANE: u32 = 1 << 31;

/// The epoch and index of a key.
#[inline]
pub(crate) fn split(key: Key) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

/// The most jobs one gather can take (the rest of 2^32 is a margin, so that
/// concurrent refused scatters never carry into the epoch bits).
pub(crate) const MAX_PER_GATHER: u32 = u32::MAX - (1 << 24);

/// The numbering word, padded onto its own cache line: every scatter writes it.
#[repr(align(128))]
pub(crate) struct Numbering<W: Word = AtomicU64>(W);

impl<W: Word> Numbering<W> {
    pub(crate) fn new() -> Self {
        Numbering(W::new(0))
    }

    /// A numbering whose first keys carry epoch `epoch` (a lane id).
    pub(crate) fn starting_at(epoch: u32) -> Self {
        Numbering(W::new((epoch as u64) << 32))
    }

    /// The whole word: the current epoch and how many keys it has given.
    pub(crate) fn word(&self) -> u64 {
        self.0.load()
    }

    /// Number the next job. Lock-free: one `fetch_add`.
    #[inline]
    pub(crate) fn next_key(&self) -> Key {
        let key = self.0.fetch_add(1);
        if key as u32 >= MAX_PER_GATHER {
            // Refuse well before the count could carry into the epoch bits.
            self.0.fetch_sub(1);
            panic!("lox: more than {MAX_PER_GATHER} jobs scattered without a gather");
        }
        key
    }

    /// Jobs numbered in the current epoch (not yet cut by a gather).
    pub(crate) fn peek(&self) -> usize {
        (split(self.0.load()).1).min(MAX_PER_GATHER) as usize
    }

    /// End the current epoch and start the next: returns the epoch cut and
    /// how many jobs it holds. Every key taken before this CAS carries the
    /// cut epoch and an index below that count; every later key, the next
    /// epoch. Callers serialize cuts (the collector's lock).
    pub(crate) fn cut(&self) -> (u32, usize) {
        let (epoch, _) = split(self.0.load());
        let (epoch, rel) = split(self.swap(((epoch.wrapping_add(1) & !LANE) as u64) << 32));
        (epoch, rel.min(MAX_PER_GATHER) as usize)
    }

    /// [`cut`](Numbering::cut) that starts epoch `next` (a fresh lane id).
    pub(crate) fn cut_to(&self, next: u32) -> (u32, usize) {
        let (epoch, rel) = split(self.swap((next as u64) << 32));
        (epoch, rel.min(MAX_PER_GATHER) as usize)
    }

    /// Replace the word (a compare-and-swap loop, so that no concurrent
    /// `fetch_add` is lost between the load and the store); returns the old.
    pub(crate) fn swap(&self, new: u64) -> u64 {
        let mut cur = self.0.load();
        loop {
            match self.0.cas(cur, new) {
                Ok(_) => return cur,
                Err(actual) => cur = actual,
            }
        }
    }
}
