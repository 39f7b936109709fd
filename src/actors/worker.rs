//! The loop a thread worker runs: take a chunk of jobs, run each with panics
//! caught, report the chunk's outcomes in one message. One OS thread per
//! worker, never an actix event loop.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};

use super::collector::{Batch, Outcome, Results};
use super::dispatch::{Chunk, Dispatch};
use crate::error::{panic_message, TaskError};

/// The user's function, shared by every worker of a pool.
pub(crate) type Job<A, R> = Arc<dyn Fn(A) -> R + Send + Sync>;

/// Run one job, turning a panic into `TaskError::Panicked`.
#[inline]
pub(crate) fn run<A, R>(f: &(dyn Fn(A) -> R + Send + Sync), args: A) -> Outcome<R> {
    catch_unwind(AssertUnwindSafe(|| f(args)))
        .map_err(|payload| Box::new(TaskError::Panicked(panic_message(&*payload))))
}

/// How long an idle worker keeps looking at the partial chunk before it
/// parks and asks `scatter` to send it jobs at once.
const WARM_WAIT: Duration = Duration::from_micros(20);
const WARM_ROUNDS: usize = 4;

/// The next chunk: from the channel, else the partial chunk, else park until
/// one comes. `None` once the pool is gone and every queued job has run.
fn next_chunk<A>(dispatch: &Dispatch<A>, jobs: &Receiver<Chunk<A>>) -> Option<Chunk<A>> {
    match jobs.try_recv() {
        Ok(chunk) => {
            dispatch.taken(chunk.len());
            return Some(chunk);
        }
        Err(TryRecvError::Disconnected) => return None,
        Err(TryRecvError::Empty) => {}
    }
    // Warm wait: jobs are probably still coming (a scatter loop is running).
    // Look at the partial chunk every WARM_WAIT instead of asking scatter to
    // send each job at once: that would cost a wake-up per job.
    for _ in 0..WARM_ROUNDS {
        if let Some(chunk) = dispatch.steal() {
            return Some(chunk);
        }
        match jobs.recv_timeout(WARM_WAIT) {
            Ok(chunk) => {
                dispatch.taken(chunk.len());
                return Some(chunk);
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
    }
    // Cold: announce idleness, then look again: a scatter that pushed before this
    // look is seen here; one that pushes after it sees us idle and sends.
    dispatch.enter_idle();
    let chunk = dispatch.steal().or_else(|| {
        let chunk = jobs.recv().ok()?;
        dispatch.taken(chunk.len());
        Some(chunk)
    });
    dispatch.leave_idle();
    chunk
}

/// Serve jobs until the pool's job channel closes and is empty. Once every
/// handle is gone nobody can gather, but queued jobs still run (their side
/// effects may be the point); their results are dropped.
pub(crate) fn serve<A, R>(
    f: Job<A, R>,
    dispatch: Arc<Dispatch<A>>,
    jobs: Receiver<Chunk<A>>,
    results: Results<R>,
) {
    while let Some(chunk) = next_chunk(&dispatch, &jobs) {
        let n = chunk.len();
        let start = Instant::now();
        let batch: Batch<R> = chunk
            .into_iter()
            .map(|(key, args)| (key, run(&*f, args)))
            .collect();
        dispatch.record(start.elapsed().as_nanos() as u64, n);
        results.send_batch(batch);
    }
}
