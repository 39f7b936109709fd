//! [`process_with`]: process pools whose workers each own a state.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::entry::{self, Status};
use super::inline_state;
use super::pool::{build, run_inline, Inline, Parts, Process};

/// Run `f` in `n_workers` worker processes, each owning a state `S` that
/// `init(worker_index)` builds inside the worker process, once, and that every
/// job gets as `&mut S`.
///
/// Load a model, open a connection or bind a device once per worker rather
/// than once per job: `S` never leaves its process, so it needs no serde and
/// may hold files, sockets or device handles (it need not be `Send` either).
/// `A` and `R` travel as MessagePack, as for [`process`](crate::process()),
/// and `init` and `f` are plain functions for the same reason: a worker finds
/// them by their offsets in the (byte-identical) executable.
///
/// The worker index is in `0..n_workers` and stable: worker `i`'s
/// replacement is worker `i` again, so the index can pick a GPU. A worker
/// takes jobs once its `init` has returned, however long it takes (the
/// [`handshake_timeout`](crate::Process::handshake_timeout) ends before it).
///
/// # Supervision
///
/// - A job that panics fails with [`TaskError::Panicked`]; its worker drops
///   its state and builds it again (`init` runs again in the same process)
///   before its next job.
/// - A worker process that dies (exit, abort, signal, [`job_timeout`]) is
///   replaced by a fresh process, which runs `init` again.
/// - [`lifespan(k)`](crate::Pool::lifespan) retires a worker process after
///   `k` jobs: it drops its state (so `S`'s `Drop` runs there) and exits; a
///   fresh process runs `init` for the next job.
/// - An `init` that panics, or a worker that dies in `init`, fails the jobs
///   given to that worker with [`TaskError::Launch`] naming the cause. The
///   worker slot waits a little before trying again, and after 3 failed inits
///   in a row gives up for 10 s: while every slot has given up, jobs fail
///   with `Launch` at once rather than start process after process.
///
/// [`stats()`](crate::Pool::stats) counts each restart and its cause per
/// worker, beside jobs run and busy time. When the pool is dropped its
/// worker processes are killed (`S`'s `Drop` does not run there).
///
/// `n_workers == 0` (or `LOX_DEBUG`) runs jobs inline in the calling thread,
/// on a state that `init(0)` builds there on first use (one per thread);
/// [`call`](crate::Pool::call) uses that state too.
///
/// [`TaskError::Panicked`]: crate::TaskError::Panicked
/// [`TaskError::Launch`]: crate::TaskError::Launch
/// [`job_timeout`]: crate::Process::job_timeout
///
/// ```
/// /// A worker's state: what it has seen so far.
/// struct Tally { worker: usize, sum: u64 }
///
/// fn open(worker: usize) -> Tally { Tally { worker, sum: 0 } }
///
/// fn add(t: &mut Tally, x: u64) -> (usize, u64) {
///     t.sum += x;
///     (t.worker, t.sum)
/// }
///
/// fn main() {
///     lox::init();
///     let pool = lox::process_with(0, open, add); // 0: inline (a doc test spawns no worker)
///     for x in [1, 2, 3] { pool.scatter(x); }
///     assert_eq!(pool.gather(), vec![(0, 1), (0, 3), (0, 6)]);
///     assert_eq!(pool.call(4), (0, 10)); // the same state
/// }
/// ```
pub fn process_with<S, A, R>(
    n_workers: usize,
    init: fn(usize) -> S,
    f: fn(&mut S, A) -> R,
) -> Process<A, R>
where
    S: 'static,
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let id = inline_state::next_id();
    let entries = entry::init_entry(init).and_then(|i| Ok((entry::entry_with(f)?, i)));
    let inline: Inline<A, R> = Box::new(move |args, max| {
        run_inline(args, max, |encoded, out| {
            let job = |s: &mut S| entry::call_encoded(|a| f(s, a), encoded, out);
            let keep = |status: &Status| !matches!(status, Status::Panicked(_));
            inline_state::with(id, init, job, keep)
        })
    });
    let call = move |args: A| {
        inline_state::with(id, init, |s| f(s, args), |_| true)
            .unwrap_or_else(|why| panic!("lox: the worker state could not be built: {why}"))
    };
    let parts = Parts {
        init: entries.as_ref().ok().map(|&(_, i)| i),
        entry: entries.map(|(e, _)| e),
        inline,
        inline_id: Some(id),
    };
    build(n_workers, Arc::new(call), parts)
}
