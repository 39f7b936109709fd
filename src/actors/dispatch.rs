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
//!   sends the partial chunk at once while any worker is parked. (Counting
//!   chunks in flight against parked workers is not enough: a warm worker may
//!   take the chunk meant for a parked one, and a job that waits for another
//!   job's start would then wait for a worker to come back.) Both sides look under the buffer's lock, so a
//!   scatter either sees the worker idle or the worker sees the scatter's job.
//!
//! The channel holds at most about one chunk per worker; a longer backlog
//! waits in the buffer (one `(key, args)` each, no per-chunk allocation), from
//! which workers take chunk-sized pieces: a million pending `u64` jobs cost
//! about 16 MB there.
//!
//! A worker keeps the chunk it took in a work-stealing deque; idle workers
//! steal un-started jobs from busy ones, and a worker that loads several jobs
//! while another is parked wakes it to steal. So a job never waits behind a
//! slow or blocked job of its own chunk while a worker idles (a job may wait
//! for a later job of the same chunk, e.g. on a channel).
//!
//! So a job waits at most a few tens of microseconds while workers are warm
//! and not at all once they are parked, while a scatter loop that outruns the
//! workers pays no wake-up per job (measured: flushing on every idle worker
//! costs a futex wake per job, ~250 ns/job on 2 cores).
//!
//! This shape measured ~45 ns/job against ~90 ns for one job channel and one
//! result channel, on 100k trivial jobs.

use std::collections::VecDeque;

use crossbeam_channel::{Receiver, Sender};
use crossbeam_deque::{Steal, Stealer, Worker as Deque};
use parking_lot::RwLock;

use super::numbering::Key;
use crate::sync::platform::{Locked, Platform, Real, Word};

/// Work one chunk should carry, in nanoseconds of measured job time.
pub(crate) const TARGET_CHUNK_NS: u64 = 10_000;
/// The most jobs in one chunk.
pub(crate) const MAX_CHUNK: usize = 256;

/// Jobs on their way to a worker.
pub(crate) type Chunk<A> = Vec<(Key, A)>;

fn take_front<A>(buf: &mut VecDeque<(Key, A)>, size: usize) -> Chunk<A> {
    let n = size.min(buf.len());
    buf.drain(..n).collect()
}

/// The state `scatter` and the workers share. Generic over the platform of
/// its lock, atomics and fences, so that the shuttle model
/// (`actors::model`) checks the park/offer handshake on this very code.
pub(crate) struct Dispatch<A: Send, P: Platform = Real> {
    /// Jobs not yet sent: the partial chunk and any backlog.
    buffer: P::Locked<VecDeque<(Key, A)>>,
    /// Workers parked on the job channel, or about to park.
    idle: P::Word,
    /// Jobs sent on the job channel and not yet taken by a worker.
    queued: P::Word,
    /// Smoothed cost of one job in ns; `u64::MAX` until measured.
    job_ns: P::Word,
    /// The pool's size: how many chunks the channel may hold.
    workers: usize,
    /// The stealing ends of every worker's deque.
    stealers: RwLock<Vec<Stealer<(Key, A)>>>,
    /// Wakes a parked worker so that it steals from a busy one.
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
}

impl<A: Send, P: Platform> Dispatch<A, P> {
    pub(crate) fn new(workers: usize) -> Self {
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(workers.max(1));
        Dispatch {
            buffer: P::Locked::new(VecDeque::new()),
            idle: P::Word::new(0),
            queued: P::Word::new(0),
            job_ns: P::Word::new(u64::MAX),
            workers: workers.max(1),
            stealers: RwLock::new(Vec::new()),
            wake_tx,
            wake_rx,
        }
    }

    /// A new worker's deque: its stealing end is shared with the others.
    pub(crate) fn register(&self) -> (Deque<(Key, A)>, Receiver<()>) {
        let deque = Deque::new_fifo();
        self.stealers.write().push(deque.stealer());
        (deque, self.wake_rx.clone())
    }

    /// Steal un-started jobs from another worker into `local`; returns the first.
    pub(crate) fn steal_peer(&self, local: &Deque<(Key, A)>) -> Option<(Key, A)> {
        let stealers = self.stealers.read();
        for _ in 0..4 {
            let mut retry = false;
            for s in stealers.iter() {
                match s.steal_batch_and_pop(local) {
                    Steal::Success(job) => return Some(job),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
        None
    }

    /// A worker put several jobs in its deque: if a worker is parked, wake it
    /// to steal some. (The fence pairs with the one in `enter_idle`: either
    /// this load sees the parked worker, or its look sees these jobs.)
    pub(crate) fn offer(&self) {
        P::fence();
        if self.idle.load() > 0 {
            let _ = self.wake_tx.try_send(());
        }
    }

    /// Jobs per chunk for the job cost measured so far (1 until measured).
    #[inline]
    pub(crate) fn chunk_size(&self) -> usize {
        let ns = self.job_ns.load();
        (TARGET_CHUNK_NS / ns.max(1)).clamp(1, MAX_CHUNK as u64) as usize
    }

    /// Add a job; returns a chunk to send on the job channel when one is full
    /// and the channel has room, or when a worker is parked with nothing on
    /// its way to it.
    #[inline]
    pub(crate) fn push(&self, key: Key, args: A) -> Option<Chunk<A>> {
        self.buffer.with(|buf| {
            buf.push_back((key, args));
            let size = self.chunk_size();
            let queued = self.queued.load() as usize;
            let send = (buf.len() >= size && queued < self.workers.saturating_mul(size))
                || self.idle.load() > 0;
            if send {
                // Counted under the lock, so that a concurrent push sees it.
                let chunk = take_front(buf, size);
                self.queued.fetch_add(chunk.len() as u64);
                Some(chunk)
            } else {
                None
            }
        })
    }

    /// Everything not yet sent, in chunks (the pool is going away: the
    /// workers run what was queued).
    pub(crate) fn drain(&self) -> Vec<Chunk<A>> {
        self.buffer.with(|buf| {
            let size = self.chunk_size();
            let mut chunks = Vec::new();
            while !buf.is_empty() {
                let chunk = take_front(buf, size);
                self.queued.fetch_add(chunk.len() as u64);
                chunks.push(chunk);
            }
            chunks
        })
    }

    /// A worker takes up to one chunk's worth of the buffer.
    pub(crate) fn steal(&self) -> Option<Chunk<A>> {
        self.buffer.with(|buf| {
            if buf.is_empty() {
                return None;
            }
            let size = self.chunk_size();
            Some(take_front(buf, size))
        })
    }

    /// A worker took a chunk off the job channel.
    #[inline]
    pub(crate) fn taken(&self, len: usize) {
        self.queued.fetch_sub(len as u64);
    }

    /// A worker is about to park: from here on, `push` sends at once and
    /// `offer` wakes; the worker then looks once more before it parks.
    pub(crate) fn enter_idle(&self) {
        self.idle.fetch_add(1);
        P::fence();
    }

    pub(crate) fn leave_idle(&self) {
        self.idle.fetch_sub(1);
    }

    /// Fold one chunk's measured time into the job-cost estimate.
    pub(crate) fn record(&self, elapsed_ns: u64, jobs: usize) {
        let sample = (elapsed_ns / jobs.max(1) as u64).max(1);
        let old = self.job_ns.load();
        let new = if old == u64::MAX {
            sample
        } else {
            (old.saturating_mul(3) + sample) / 4
        };
        self.job_ns.store(new);
    }

    /// Take out every job not yet started for which `which(key)` holds:
    /// from the buffer, the job channel and every worker's deque. Jobs taken
    /// off the channel or a deque that do not match go back on the channel,
    /// so a parked worker still gets them.
    pub(crate) fn withdraw(
        &self,
        which: &dyn Fn(Key) -> bool,
        jobs: (&Sender<Chunk<A>>, &Receiver<Chunk<A>>),
    ) -> Vec<(Key, A)> {
        let mut out = Vec::new();
        self.buffer.with(|buf| {
            let mut keep = VecDeque::with_capacity(buf.len());
            for job in buf.drain(..) {
                if which(job.0) {
                    out.push(job)
                } else {
                    keep.push_back(job)
                }
            }
            *buf = keep;
        });
        let mut back: Chunk<A> = Vec::new();
        for chunk in jobs.1.try_iter() {
            self.taken(chunk.len());
            back.extend(chunk);
        }
        for s in self.stealers.read().iter() {
            loop {
                match s.steal() {
                    Steal::Success(job) => back.push(job),
                    Steal::Retry => continue,
                    Steal::Empty => break,
                }
            }
        }
        let (hit, keep): (Chunk<A>, Chunk<A>) = back.into_iter().partition(|job| which(job.0));
        out.extend(hit);
        if !keep.is_empty() {
            self.queued.fetch_add(keep.len() as u64);
            // Never fails: the backend holds a receiver of its own.
            let _ = jobs.0.send(keep);
        }
        out
    }

    /// Jobs not yet started by a worker.
    pub(crate) fn pending(&self) -> usize {
        let in_deques: usize = self.stealers.read().iter().map(Stealer::len).sum();
        let buffered = self.buffer.with(|buf| buf.len());
        buffered + self.queued.load() as usize + in_deques
    }
}
