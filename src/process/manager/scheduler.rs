//! Which jobs go to this manager's worker, and when: no process, no I/O.
//!
//! Jobs sent to a process cannot be taken back (a cancelled one stays in
//! flight, marked, and the worker skips it: see `cancel`), so a worker gets jobs ahead
//! (the next one is already in its pipe when the current one ends) only
//! within three limits:
//! - the window: about [`AHEAD_SECS`] of work, from the recent job time, at
//!   least [`MIN_DEPTH`] and at most [`MAX_DEPTH`] jobs;
//! - its fair share: no more than the queue holds for each other worker
//!   (after cheap jobs, slow ones must still spread out);
//! - the byte budget: frames behind the running job fit in [`PIPELINE_MAX`];
//!
//! and never more jobs to one worker process than its lifespan.

use std::collections::VecDeque;
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::Job;
use crate::actors::collector::Key;

/// Jobs in flight per worker at least: the running one and the next.
pub(crate) const MIN_DEPTH: usize = 2;
/// Jobs in flight per worker at most (short jobs).
pub(crate) const MAX_DEPTH: usize = 64;
/// Work queued ahead of a worker is kept near this much time, so that a
/// worker holding jobs never leaves another idle for long at the end.
const AHEAD_SECS: f64 = 1e-3;

/// Most bytes of frames sent to a worker that is still busy. The manager writes and
/// reads on one thread: while it writes, it does not read. A busy worker
/// reads its next job only after writing its current result, so a frame sent
/// ahead must fit in the pipe without the worker's help, or both ends block
/// writing (a big job frame one way, a big result the other). One page is
/// the smallest capacity a Linux pipe ever has; anything bigger waits until
/// the worker is idle, when it reads the whole frame before writing anything.
pub(crate) const PIPELINE_MAX: usize = 4096;

/// How many jobs to keep in flight for jobs that take `job_secs` (0: unknown).
fn depth(job_secs: f64) -> usize {
    if job_secs <= 0.0 {
        return MIN_DEPTH;
    }
    ((AHEAD_SECS / job_secs) as usize).clamp(MIN_DEPTH, MAX_DEPTH)
}

/// A job sent to the worker.
pub(crate) struct Flight {
    pub(crate) job: Job,
    /// When the worker started running it (known for the head only).
    pub(crate) started: Option<Instant>,
    /// Its frame's size: the bytes it took in the worker's pipe (the frame
    /// itself is freed when the job is cancelled).
    bytes: usize,
    /// Cancelled after it was sent (see [`Scheduler::withdraw`]): its outcome
    /// is settled already, so its reply is dropped and it is never re-sent.
    pub(crate) cancelled: bool,
}

/// What to do with the job the worker was running when it was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Head {
    /// Nothing ran: send it again, unchanged.
    Resend,
    /// Send it again as a new attempt.
    Retry,
    /// It fails: [`Scheduler::lost_worker`] hands it back.
    Fail,
}

/// One worker's jobs: in flight (in the order it runs them) and waiting.
pub(crate) struct Scheduler {
    /// The pool's size.
    workers: usize,
    inflight: VecDeque<Flight>,
    /// Jobs to (re)send before new ones: those behind a lost worker.
    waiting: VecDeque<Job>,
    /// Recent job time (EWMA, seconds): sets the window.
    job_secs: f64,
    /// Jobs the current worker process may still be sent (its lifespan).
    budget: usize,
}

impl Scheduler {
    pub(crate) fn new(workers: usize) -> Self {
        Scheduler {
            workers: workers.max(1),
            inflight: VecDeque::with_capacity(MAX_DEPTH),
            waiting: VecDeque::new(),
            job_secs: 0.0,
            budget: usize::MAX,
        }
    }

    /// A fresh worker process is up: it may take `lifespan` jobs (`None`: any number).
    pub(crate) fn new_worker(&mut self, lifespan: Option<usize>) {
        self.budget = lifespan.unwrap_or(usize::MAX);
    }

    /// The worker has been sent its lifespan of jobs and has answered them all.
    pub(crate) fn spent(&self) -> bool {
        self.budget == 0 && self.inflight.is_empty()
    }

    /// Nothing in flight.
    pub(crate) fn idle(&self) -> bool {
        self.inflight.is_empty()
    }

    /// Nothing in flight and nothing waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.inflight.is_empty() && self.waiting.is_empty()
    }

    /// Jobs held here that the worker has not started: every waiting one,
    /// and those in flight behind the running head (only the head can have
    /// started), but for the cancelled ones (settled already).
    pub(crate) fn unstarted(&self) -> usize {
        let ahead = self.inflight.iter().skip(1).filter(|f| !f.cancelled);
        self.waiting.len() + ahead.count()
    }

    /// A job taken from the pool's queue while idle.
    pub(crate) fn push(&mut self, job: Job) {
        self.waiting.push_back(job);
    }

    /// The job the worker runs now.
    pub(crate) fn head(&self) -> Option<&Flight> {
        self.inflight.front()
    }

    /// Move jobs into flight, waiting ones first, then from the pool's
    /// `queue`, within the window, the fair share and the byte budget; their
    /// frames go to `batch`. True when one of them carries shared handles.
    pub(crate) fn fill(&mut self, queue: &Receiver<Job>, batch: &mut Vec<u8>) -> bool {
        let window = depth(self.job_secs);
        // Bytes the worker has not necessarily read: every frame behind the head.
        let mut ahead: usize = self.inflight.iter().skip(1).map(|f| f.bytes).sum();
        let mut pins = false;
        while self.inflight.len() < window && self.budget > 0 {
            let Some(job) = self.next(queue) else { break };
            if !self.idle() {
                if ahead + job.frame.len() > PIPELINE_MAX {
                    self.waiting.push_front(job); // sent once the worker has caught up
                    break;
                }
                ahead += job.frame.len();
            }
            pins |= !job.pins.is_empty();
            batch.extend_from_slice(&job.frame);
            let started = self.idle().then(Instant::now);
            let bytes = job.frame.len();
            self.inflight.push_back(Flight {
                job,
                started,
                bytes,
                cancelled: false,
            });
            self.budget -= 1;
        }
        pins
    }

    fn next(&mut self, queue: &Receiver<Job>) -> Option<Job> {
        if let Some(job) = self.waiting.pop_front() {
            return Some(job);
        }
        if self.inflight.len() > queue.len() / self.workers {
            return None; // the rest is the other workers' share
        }
        queue.try_recv().ok()
    }

    /// The head job's reply came at `now`: it leaves, the next one runs.
    pub(crate) fn finish_head(&mut self, now: Instant) -> Option<Flight> {
        let done = self.inflight.pop_front()?;
        if let Some(t0) = done.started {
            let secs = now.duration_since(t0).as_secs_f64();
            self.job_secs = match self.job_secs {
                0.0 => secs,
                avg => 0.8 * avg + 0.2 * secs,
            };
        }
        if let Some(next) = self.inflight.front_mut() {
            next.started = Some(now);
        }
        Some(done)
    }

    /// Take back the jobs not started that `which` selects: waiting ones
    /// leave (returned, to be dropped); those sent ahead of the head, which
    /// cannot be recalled from the pipe, stay in flight marked cancelled,
    /// their frames freed. Returns the keys of both, to settle as cancelled.
    pub(crate) fn withdraw(&mut self, which: &dyn Fn(Key) -> bool) -> (Vec<Job>, Vec<Key>) {
        let (hit, keep): (Vec<Job>, Vec<Job>) = self.waiting.drain(..).partition(|j| which(j.key));
        self.waiting = keep.into();
        let mut keys: Vec<Key> = Vec::new();
        for f in self.inflight.iter_mut().skip(1) {
            if !f.cancelled && which(f.job.key) {
                f.cancelled = true;
                f.job.frame = Vec::new(); // freed now; its pins go with its reply
                keys.push(f.job.key);
            }
        }
        (hit, keys)
    }

    /// Mark the head job cancelled if it is job `key` (its worker is about
    /// to be killed). True if so.
    pub(crate) fn abort(&mut self, key: Key) -> bool {
        match self.inflight.front_mut() {
            Some(f) if f.job.key == key && !f.cancelled => {
                f.cancelled = true;
                true
            }
            _ => false,
        }
    }

    /// The worker is gone: every job in flight goes back to the front of the
    /// waiting ones, in order, the head as `head` says. Returns the head when
    /// it fails.
    /// Cancelled jobs are settled: they are dropped, never re-sent nor
    /// failed.
    pub(crate) fn lost_worker(&mut self, head: Head) -> Option<Job> {
        let mut first = match head {
            Head::Resend => None,
            Head::Retry | Head::Fail => self.inflight.pop_front(),
        }
        .filter(|f| !f.cancelled)
        .map(|f| f.job);
        for flight in self.inflight.drain(..).rev().filter(|f| !f.cancelled) {
            self.waiting.push_front(flight.job);
        }
        if head == Head::Retry {
            if let Some(mut job) = first.take() {
                job.attempts += 1;
                self.waiting.push_front(job);
            }
        }
        first
    }

    /// Every job waiting (none is in flight).
    pub(crate) fn take_waiting(&mut self) -> Vec<Job> {
        self.waiting.drain(..).collect()
    }

    /// Every job held and not cancelled, in flight then waiting (the
    /// worker is gone).
    pub(crate) fn take_all(&mut self) -> Vec<Job> {
        let inflight = self.inflight.drain(..).filter(|f| !f.cancelled);
        let inflight = inflight.map(|f| f.job);
        inflight.chain(self.waiting.drain(..)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    impl Scheduler {
        /// The keys in flight and waiting.
        fn keys(&self) -> (Vec<Key>, Vec<Key>) {
            let inflight = self.inflight.iter().map(|f| f.job.key).collect();
            (inflight, self.waiting.iter().map(|j| j.key).collect())
        }
    }

    fn job(key: Key, bytes: usize) -> Job {
        Job {
            key,
            frame: vec![0; bytes],
            attempts: 0,
            pins: Vec::new(),
        }
    }

    /// The pool's queue, holding jobs `keys` of `bytes` each.
    struct Queue(Receiver<Job>, crossbeam_channel::Sender<Job>);

    impl Queue {
        fn of(keys: std::ops::Range<Key>, bytes: usize) -> Self {
            let (tx, rx) = crossbeam_channel::unbounded();
            let q = Queue(rx, tx);
            q.extend(keys, bytes);
            q
        }
        fn extend(&self, keys: std::ops::Range<Key>, bytes: usize) {
            keys.for_each(|k| self.1.send(job(k, bytes)).unwrap());
        }
    }

    fn fill(s: &mut Scheduler, q: &Queue) -> usize {
        let mut batch = Vec::new();
        s.fill(&q.0, &mut batch);
        batch.len()
    }

    /// Run `n` jobs of `secs` each: fill, then the head's reply.
    fn measured(s: &mut Scheduler, q: &Queue, secs: f64, n: u32) {
        for _ in 0..n {
            s.fill(&q.0, &mut Vec::new());
            let started = s.head().and_then(|f| f.started).unwrap();
            s.finish_head(started + Duration::from_secs_f64(secs));
        }
    }

    #[test]
    fn window_starts_at_two_and_follows_the_job_time() {
        let mut s = Scheduler::new(1);
        let q = Queue::of(0..1000, 10);
        assert_eq!(fill(&mut s, &q), 20, "unknown job time: two jobs ahead");
        assert_eq!(s.keys().0, [0, 1]);
        let window = |secs: f64| {
            let mut s = Scheduler::new(1);
            let q = Queue::of(0..1000, 10);
            measured(&mut s, &q, secs, 20);
            fill(&mut s, &q);
            s.inflight.len()
        };
        assert_eq!(window(1e-5), MAX_DEPTH, "10 µs jobs: 100 per ms, capped");
        assert!((9..=10).contains(&window(1e-4)), "100 µs jobs: 10 per ms");
        assert_eq!(
            window(0.5),
            MIN_DEPTH,
            "slow jobs: the running one and the next"
        );
        // The estimate moves gradually: one cheap job after slow ones keeps
        // the window narrow, a run of them widens it.
        let mut s = Scheduler::new(1);
        let q = Queue::of(0..1000, 10);
        measured(&mut s, &q, 0.5, 5);
        measured(&mut s, &q, 1e-5, 1);
        fill(&mut s, &q);
        assert_eq!(s.inflight.len(), MIN_DEPTH);
        measured(&mut s, &q, 1e-5, 60);
        fill(&mut s, &q);
        assert_eq!(s.inflight.len(), MAX_DEPTH);
    }

    #[test]
    fn a_worker_takes_no_more_than_its_fair_share() {
        // Cheap jobs (a wide window), two workers, four jobs queued: this one
        // takes two and leaves two for the other.
        let mut s = Scheduler::new(2);
        s.job_secs = 1e-6;
        let q = Queue::of(0..4, 10);
        fill(&mut s, &q);
        assert_eq!(s.keys().0, [0, 1]);
        assert_eq!(q.0.len(), 2);
        // Alone in the pool, it takes more (and leaves one for a worker
        // that finished).
        let mut s = Scheduler::new(1);
        s.job_secs = 1e-6;
        let q = Queue::of(0..4, 10);
        fill(&mut s, &q);
        assert_eq!(s.keys().0, [0, 1, 2]);
    }

    #[test]
    fn frames_ahead_of_a_busy_worker_fit_the_byte_budget() {
        let mut s = Scheduler::new(1);
        s.job_secs = 1e-6; // a wide window: only the budget holds jobs back
                           // The head goes whatever its size: the worker reads it whole.
        let q = Queue::of(0..1, 10 * PIPELINE_MAX);
        q.extend(1..4, PIPELINE_MAX / 3);
        q.extend(4..5, PIPELINE_MAX / 3 + 1);
        q.extend(5..15, PIPELINE_MAX);
        fill(&mut s, &q);
        // Three thirds fit behind the head; the fourth job would not.
        assert_eq!(s.keys(), (vec![0, 1, 2, 3], vec![4]));
        // Once the head is done, frames behind the new head leave room.
        s.finish_head(Instant::now());
        fill(&mut s, &q);
        assert_eq!(s.keys(), (vec![1, 2, 3, 4], vec![5]));
    }

    #[test]
    fn a_worker_is_sent_no_more_than_its_lifespan() {
        let mut s = Scheduler::new(1);
        s.job_secs = 1e-6; // a wide window: only the lifespan holds jobs back
        s.new_worker(Some(3));
        let q = Queue::of(0..10, 10);
        fill(&mut s, &q);
        assert_eq!(s.keys().0, [0, 1, 2]);
        s.finish_head(Instant::now());
        fill(&mut s, &q);
        assert_eq!(s.keys().0, [1, 2], "spent: nothing more to this process");
        assert!(!s.spent());
        s.finish_head(Instant::now());
        s.finish_head(Instant::now());
        assert!(s.spent());
        s.new_worker(Some(3));
        fill(&mut s, &q);
        assert_eq!(s.keys().0, [3, 4, 5], "a fresh process, a fresh lifespan");
        assert_eq!(s.take_all().len(), 3);
        assert!(s.is_empty());
    }

    #[test]
    fn a_lost_worker_gives_its_jobs_back_in_order() {
        let q = Queue::of(0..5, 10);
        let mut s = Scheduler::new(1);
        fill(&mut s, &q); // 0 and 1 in flight
        assert!(s.lost_worker(Head::Resend).is_none());
        assert_eq!(s.keys(), (vec![], vec![0, 1]));
        fill(&mut s, &q);
        // Retry: the head first again, one attempt more.
        assert!(s.lost_worker(Head::Retry).is_none());
        assert_eq!(s.keys(), (vec![], vec![0, 1]));
        assert_eq!(s.waiting[0].attempts, 1);
        assert_eq!(s.waiting[1].attempts, 0);
        // Fail: the head comes back to be failed, the rest stays queued
        // ahead of the pool's queue.
        fill(&mut s, &q);
        assert_eq!(s.lost_worker(Head::Fail).map(|j| j.key), Some(0));
        assert_eq!(s.keys(), (vec![], vec![1]));
        fill(&mut s, &q);
        assert_eq!(s.keys().0, [1, 2]);
    }

    #[test]
    fn withdrawn_jobs_leave_or_stay_marked_and_are_never_resent() {
        let q = Queue::of(0..4, 10);
        let mut s = Scheduler::new(1);
        s.job_secs = 1e-6; // a wide window: 0 runs, 1 and 2 go ahead
        fill(&mut s, &q);
        assert_eq!(s.keys().0, [0, 1, 2]);
        s.push(job(9, 10)); // waiting, as behind a lost worker
        assert_eq!(s.unstarted(), 3);
        let (taken, ahead) = s.withdraw(&|k| k != 1);
        // The head has started: only an abort reaches it.
        assert_eq!(taken.iter().map(|j| j.key).collect::<Vec<_>>(), [9]);
        assert_eq!(ahead, [2]);
        assert!(s.inflight[2].job.frame.is_empty(), "its frame is freed");
        assert_eq!(s.unstarted(), 1);
        assert_eq!(s.withdraw(&|_| true).1, [1], "each job once");
        assert_eq!(s.unstarted(), 0);
        assert!(!s.abort(1), "not the running job");
        assert!(s.abort(0));
        assert!(!s.abort(0), "once");
        // The worker is lost: no cancelled job comes back, whatever `head` says.
        assert!(s.lost_worker(Head::Retry).is_none());
        assert!(s.is_empty());
        // Replies: a cancelled one is dropped by the manager.
        let q = Queue::of(10..12, 10);
        fill(&mut s, &q);
        s.withdraw(&|k| k == 11);
        assert!(!s.finish_head(Instant::now()).unwrap().cancelled);
        assert!(s.finish_head(Instant::now()).unwrap().cancelled);
        // Bytes in the pipe count until the worker has read them.
        let q = Queue::of(20..22, PIPELINE_MAX / 2);
        fill(&mut s, &q);
        s.withdraw(&|k| k == 21);
        q.extend(22..24, PIPELINE_MAX / 2 + 1);
        fill(&mut s, &q);
        assert_eq!(s.keys(), (vec![20, 21], vec![22]));
    }
}
