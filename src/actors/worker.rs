//! The loop a thread worker runs: take jobs from its own deque, refill it
//! from the job channel, the dispatch buffer or another worker's deque, run
//! each job with panics caught, and report outcomes in batches. One OS thread
//! per worker, never an actix event loop.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use crossbeam_deque::Worker as Deque;

use super::collector::{Batch, Key, Outcome, Results};
use super::dispatch::{Chunk, Dispatch, MAX_CHUNK};
use super::worker_actors::{Life, Slot, Spec};
use crate::error::{panic_message, TaskError};
use crate::sync::platform::{Platform, Real};

/// The user's function, shared by every worker of a pool.
pub(crate) type Job<A, R> = Arc<dyn Fn(A) -> R + Send + Sync>;

/// Run one job, turning a panic into `TaskError::Panicked`.
#[inline]
pub(crate) fn run<A, R>(f: &(dyn Fn(A) -> R + Send + Sync), args: A) -> Outcome<R> {
    catch_unwind(AssertUnwindSafe(|| f(args)))
        .map_err(|payload| Box::new(TaskError::Panicked(panic_message(&*payload))))
}

/// How long an idle worker keeps looking for work before it parks and asks
/// `scatter` to send it jobs at once.
const WARM_WAIT: Duration = Duration::from_micros(20);
const WARM_ROUNDS: usize = 4;

/// One worker: its deque, and the channels it listens on.
pub(crate) struct Worker<A: Send, P: Platform = Real> {
    pub(crate) dispatch: Arc<Dispatch<A, P>>,
    pub(crate) jobs: Receiver<Chunk<A>>,
    pub(crate) local: Deque<(Key, A)>,
    pub(crate) wake: Receiver<()>,
}

pub(super) enum Found<A> {
    Job((Key, A)),
    Nothing,
    Closed,
}

impl<A: Send, P: Platform> Worker<A, P> {
    /// Put a chunk in the deque and return its first job; offer the rest to
    /// parked workers.
    pub(super) fn load(&self, chunk: Chunk<A>) -> Option<(Key, A)> {
        let many = chunk.len() > 1;
        for job in chunk {
            self.local.push(job);
        }
        if many {
            self.dispatch.offer();
        }
        self.local.pop()
    }

    /// One look everywhere work can be, without blocking.
    pub(super) fn look(&self) -> Found<A> {
        match self.jobs.try_recv() {
            Ok(chunk) => {
                self.dispatch.taken(chunk.len());
                if let Some(job) = self.load(chunk) {
                    return Found::Job(job);
                }
            }
            Err(TryRecvError::Disconnected) => return Found::Closed,
            Err(TryRecvError::Empty) => {}
        }
        if let Some(job) = self.dispatch.steal().and_then(|chunk| self.load(chunk)) {
            return Found::Job(job);
        }
        match self.dispatch.steal_peer(&self.local) {
            Some(job) => {
                if !self.local.is_empty() {
                    self.dispatch.offer(); // stole several: pass some on
                }
                Found::Job(job)
            }
            None => Found::Nothing,
        }
    }

    /// The next job once the deque is empty; `None` once the pool is gone and
    /// every queued job has been taken.
    fn refill(&self) -> Option<(Key, A)> {
        // Warm: jobs are probably still coming (a scatter loop is running);
        // look every WARM_WAIT rather than make scatter wake us per job.
        for _ in 0..WARM_ROUNDS {
            match self.look() {
                Found::Job(job) => return Some(job),
                Found::Closed => return None,
                Found::Nothing => {}
            }
            match self.jobs.recv_timeout(WARM_WAIT) {
                Ok(chunk) => {
                    self.dispatch.taken(chunk.len());
                    if let Some(job) = self.load(chunk) {
                        return Some(job);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        // Cold: announce idleness, then look again: a scatter or a loading
        // worker either sees us idle (and sends or wakes), or we see its jobs.
        loop {
            self.dispatch.enter_idle();
            let found = match self.look() {
                Found::Nothing => {
                    crossbeam_channel::select! {
                        recv(self.jobs) -> msg => match msg {
                            Ok(chunk) => {
                                self.dispatch.taken(chunk.len());
                                self.load(chunk).map_or(Found::Nothing, Found::Job)
                            }
                            Err(_) => Found::Closed,
                        },
                        recv(self.wake) -> _ => Found::Nothing,
                    }
                }
                other => other,
            };
            self.dispatch.leave_idle();
            match found {
                Found::Job(job) => return Some(job),
                Found::Closed => return None,
                Found::Nothing => {}
            }
        }
    }
}

/// Serve jobs until the pool's job channel closes and is empty. Once every
/// handle is gone nobody can gather, but queued jobs still run (their side
/// effects may be the point); their results are dropped.
///
/// Each job runs on the worker's state under its [`Life`] (build, rebuild
/// after a panic or a lifespan, give up on a failing `init`); a plain pool's
/// state is `()`.
///
/// Outcomes are reported in batches: when the deque runs dry, or every
/// `MAX_CHUNK` jobs. (So while a cheap job's batch-mate runs, its outcome may
/// wait for it; `gather` waits for both anyway.) The slot's meter is updated
/// before each batch goes out.
pub(crate) fn serve<A: Send, R, S, I, F>(
    spec: &Spec<S, I, F>,
    slot: &Slot,
    worker: Worker<A>,
    results: Results<R>,
) where
    S: 'static,
    I: Fn(usize) -> S,
    F: Fn(&mut S, A) -> R,
{
    let mut life = Life::start(spec.init(), slot);
    let offer = || worker.dispatch.offer(); // before a back-off: let others steal
    let mut batch: Batch<R> = Vec::new();
    let mut ran = 0usize;
    let mut since = Instant::now();
    loop {
        let (key, args) = match worker.local.pop() {
            Some(job) => job,
            None => {
                let now = Instant::now();
                if ran > 0 {
                    let elapsed = now.saturating_duration_since(since);
                    worker.dispatch.record(elapsed.as_nanos() as u64, ran);
                    ran = 0;
                }
                // Not busy before the outcomes go out: once a gather has
                // them, `stats().busy` no longer counts this worker.
                life.idle();
                life.report(now, &results, &mut batch);
                match worker.refill() {
                    Some(job) => {
                        since = Instant::now();
                        life.busy(since);
                        job
                    }
                    None => break,
                }
            }
        };
        batch.push((key, life.run(&spec.f, args, &offer)));
        ran += 1;
        if batch.len() >= MAX_CHUNK {
            life.report(Instant::now(), &results, &mut batch);
        }
        if life.leaving() {
            // Gave up on `init` while another worker stands: fail what this
            // worker holds and leave; the others take the rest.
            while let Some((key, _)) = worker.local.pop() {
                batch.push((key, life.refuse()));
            }
            break;
        }
    }
    life.report(Instant::now(), &results, &mut batch);
}
