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
        let mut cur = self.0.load();
        loop {
            let (epoch, rel) = split(cur);
            let next = (epoch.wrapping_add(1) as u64) << 32;
            match self.0.cas(cur, next) {
                Ok(_) => return (epoch, rel as usize),
                Err(actual) => cur = actual,
            }
        }
    }
}
