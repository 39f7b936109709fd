//! The loop a thread worker runs: take a job, run it with panics caught,
//! report the outcome. One OS thread per worker, never an actix event loop.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crossbeam_channel::{Receiver, Sender};

use super::collector::{Key, Outcome};
use crate::error::{panic_message, TaskError};

/// The user's function, shared by every worker of a pool.
pub(crate) type Job<A, R> = std::sync::Arc<dyn Fn(A) -> R + Send + Sync>;

/// Run one job, turning a panic into `TaskError::Panicked`.
#[inline]
pub(crate) fn run<A, R>(f: &(dyn Fn(A) -> R + Send + Sync), args: A) -> Outcome<R> {
    catch_unwind(AssertUnwindSafe(|| f(args)))
        .map_err(|payload| Box::new(TaskError::Panicked(panic_message(&*payload))))
}

/// Serve jobs until the pool's job channel closes and is empty.
pub(crate) fn serve<A, R>(f: Job<A, R>, jobs: Receiver<(Key, A)>, results: Sender<(Key, Outcome<R>)>) {
    while let Ok((key, args)) = jobs.recv() {
        let outcome = run(&*f, args);
        if results.send((key, outcome)).is_err() {
            return;
        }
    }
}
