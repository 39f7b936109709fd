//! Pools as actors: the [`Supervisor`] and its messages, for using a pool from
//! an actix application, and [`Completed`] / [`CompletedStream`], the
//! streaming gather.
//!
//! Inside (a newcomer's map):
//! - `front`: [`Pool`](crate::Pool), the public handle of both kinds; `pool`:
//!   the core under it and `Backend`, what threads and processes do differently.
//! - `numbering`: sequence numbers (one atomic word, epochs cut by gathers).
//! - `collector`: the reorder buffer; shared by thread and process pools.
//! - `wakers`: async waits on the collector (no thread per wait).
//! - `thread_pool`: [`thread()`](crate::thread()) and the thread backend.
//! - `dispatch`: adaptive batching of jobs between scatter and workers.
//! - `worker`: the loop a thread worker runs.
//! - `supervisor`: the actix actor that fronts a pool for actor-to-actor use.
//! - `completed`: streaming gather, in completion order.

pub(crate) mod collector;
pub(crate) mod completed;
pub(crate) mod dispatch;
pub(crate) mod front;
#[cfg(test)]
mod model;
pub(crate) mod numbering;
pub(crate) mod pool;
pub(crate) mod stats;
pub(crate) mod supervisor;
pub use completed::{Completed, CompletedStream};
pub use supervisor::{Gather, Pending, Scatter, Stats, Supervisor};
pub(crate) mod thread_pool;
pub(crate) mod wakers;
pub(crate) mod worker;
pub(crate) mod worker_actors;

/// `LOX_DEBUG` is set to a true-like value (1, true, yes, on; any case):
/// every pool created while it is set runs inline.
pub(crate) fn debug_forced() -> bool {
    std::env::var("LOX_DEBUG").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// Panic the way `gather` does when jobs failed: after every other job has
/// finished, naming the first failed job's sequence number and its error.
#[track_caller]
pub(crate) fn raise(failed: Vec<(usize, crate::TaskError)>, total: usize) -> ! {
    let (seq, err) = &failed[0];
    let more = match failed.len() {
        1 => String::new(),
        n => format!(
            " ({} more of the {total} jobs failed too; use try_gather to see each)",
            n - 1
        ),
    };
    panic!("lox: job {seq} of {total} failed: {err}{more}")
}
