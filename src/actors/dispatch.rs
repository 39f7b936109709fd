//! Adaptive batching of jobs between `scatter` and the workers.
//!
//! Jobs go to workers in *chunks* whose size follows the measured cost of a
//! job: about [`TARGET_CHUNK_NS`] of work per chunk, at most [`MAX_CHUNK`]
//! jobs. Trivial jobs travel 256 to a message (one channel operation and one
//! result message per chunk instead of per job); jobs of 10 µs or more travel
//! one by one, so slow jobs spread evenly over the workers.
//!
//! No job is stranded in the partial chunk while a worker idles:
//! - a worker that finds the channel empty takes the partial chunk itself;
//!   for a few tens of microseconds it keeps looking (warm), then parks;
//! - before it parks it announces itself idle and looks once more; `scatter`
//!   sends the partial chunk at once when a worker is parked and no chunk is
//!   already on its way to one. Both sides look under the buffer's lock, so a
//!   scatter either sees the worker idle or the worker sees the scatter's job.
//!
//! So a job waits at most a few tens of microseconds while workers are warm
//! and not at all once they are parked, while a scatter loop that outruns the
//! workers pays no wake-up per job (DESIGN.md: flushing on every idle worker
//! costs a futex wake per job, ~250 ns/job on 2 cores).
//!
//! DESIGN.md measured this shape at ~45 ns/job against ~90 ns for one job
//! channel and one result channel, on 100k trivial jobs.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};

use super::collector::Key;

/// Work one chunk should carry, in nanoseconds of measured job time.
pub(crate) const TARGET_CHUNK_NS: u64 = 10_000;
/// The most jobs in one chunk.
pub(crate) const MAX_CHUNK: usize = 256;

/// Jobs on their way to a worker.
pub(crate) type Chunk<A> = Vec<(Key, A)>;

/// The state `scatter` and the workers share.
pub(crate) struct Dispatch<A> {
    /// The partial chunk.
    buffer: Mutex<Chunk<A>>,
    /// Workers parked on the job channel, or about to park.
    idle: AtomicUsize,
    /// Jobs sent on the job channel and not yet taken by a worker.
    queued: AtomicUsize,
    /// Smoothed cost of one job in ns; `u64::MAX` until measured.
    job_ns: AtomicU64,
}

impl<A> Dispatch<A> {
    pub(crate) fn new() -> Self {
        Dispatch {
            buffer: Mutex::new(Vec::new()),
            idle: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            job_ns: AtomicU64::new(u64::MAX),
        }
    }

    /// Jobs per chunk for the job cost measured so far (1 until measured).
    #[inline]
    pub(crate) fn chunk_size(&self) -> usize {
        let ns = self.job_ns.load(Ordering::Relaxed);
        (TARGET_CHUNK_NS / ns.max(1)).clamp(1, MAX_CHUNK as u64) as usize
    }

    /// Add a job to the partial chunk; returns a chunk to send when it is
    /// full, or when a worker idles with nothing on its way to it.
    #[inline]
    pub(crate) fn push(&self, key: Key, args: A) -> Option<Chunk<A>> {
        let mut buf = self.buffer.lock();
        buf.push((key, args));
        let size = self.chunk_size();
        if buf.len() >= size
            || (self.idle.load(Ordering::SeqCst) > 0 && self.queued.load(Ordering::Relaxed) == 0)
        {
            Some(self.take(&mut buf, size))
        } else {
            None
        }
    }

    /// Take the whole partial chunk (a gather is about to wait for it).
    pub(crate) fn flush(&self) -> Option<Chunk<A>> {
        let mut buf = self.buffer.lock();
        if buf.is_empty() {
            return None;
        }
        let len = buf.len();
        self.queued.fetch_add(len, Ordering::Relaxed);
        Some(std::mem::take(&mut *buf))
    }

    /// Count a chunk as queued (under the lock, so that a concurrent push
    /// sees it) and replace the buffer.
    fn take(&self, buf: &mut MutexGuard<'_, Chunk<A>>, size: usize) -> Chunk<A> {
        self.queued.fetch_add(buf.len(), Ordering::Relaxed);
        std::mem::replace(&mut **buf, Vec::with_capacity(size))
    }

    /// A worker takes up to one chunk's worth of the partial chunk.
    pub(crate) fn steal(&self) -> Option<Chunk<A>> {
        let mut buf = self.buffer.lock();
        if buf.is_empty() {
            return None;
        }
        let size = self.chunk_size();
        if buf.len() <= size {
            Some(std::mem::take(&mut *buf))
        } else {
            Some(buf.drain(..size).collect())
        }
    }

    /// A worker took a chunk off the job channel.
    #[inline]
    pub(crate) fn taken(&self, len: usize) {
        self.queued.fetch_sub(len, Ordering::Relaxed);
    }

    pub(crate) fn enter_idle(&self) {
        self.idle.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn leave_idle(&self) {
        self.idle.fetch_sub(1, Ordering::SeqCst);
    }

    /// Fold one chunk's measured time into the job-cost estimate.
    pub(crate) fn record(&self, elapsed_ns: u64, jobs: usize) {
        let sample = (elapsed_ns / jobs.max(1) as u64).max(1);
        let old = self.job_ns.load(Ordering::Relaxed);
        let new = if old == u64::MAX {
            sample
        } else {
            (old.saturating_mul(3) + sample) / 4
        };
        self.job_ns.store(new, Ordering::Relaxed);
    }

    /// Jobs not yet taken by a worker.
    pub(crate) fn pending(&self) -> usize {
        let buf = self.buffer.lock();
        buf.len() + self.queued.load(Ordering::Relaxed)
    }
}
