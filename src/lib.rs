//! # lox: threading and multiprocessing made easy
//!
//! Wrap a function, `scatter` calls to it, `gather` the results in scatter order.
//! A Rust port of the Python library [lox](https://github.com/BrianPugh/lox),
//! built as an actor system on actix.
//!
//! ```
//! #[lox::thread(4)] // a pool of 4 worker threads
//! fn multiply(x: u64, y: u64) -> u64 {
//!     x * y
//! }
//!
//! fn main() {
//!     assert_eq!(multiply(3, 4), 12); // still a plain function
//!     for i in 0..5 {
//!         multiply::scatter(i, i + 1); // runs in the pool; returns at once
//!     }
//!     assert_eq!(multiply::gather(), vec![0, 2, 6, 12, 20]); // in scatter order
//! }
//! ```
//!
//! Without the macro, [`thread()`] wraps any `Fn(A) -> R` (a closure too):
//!
//! ```
//! let pool = lox::thread(4, |(x, y): (u64, u64)| x * y);
//! for i in 0..5 {
//!     pool.scatter((i, i + 1));
//! }
//! assert_eq!(pool.gather(), vec![0, 2, 6, 12, 20]);
//! ```
//!
//! - Thread pools: [`thread()`] / [`Thread`] (and `#[lox::thread]`); a job that
//!   panics is reported by [`gather`](Pool::gather) (which panics naming it)
//!   or [`try_gather`](Pool::try_gather) (one `Result` per job), and the pool
//!   goes on. `n = 0` or `LOX_DEBUG=1` runs every job inline for debugging.
//!   [`len`](Pool::len) counts jobs not yet started, [`pending`](Pool::pending) not yet gathered.
//! - Worker actors: [`thread_with`] gives each worker a state of its own, built
//!   once on the worker by `init(index)` and passed to every job as `&mut S`;
//!   it is rebuilt after a job panics and after [`lifespan`](Pool::lifespan)
//!   jobs, and [`stats`](Pool::stats) counts jobs, busy time and restarts.
//! - Process pools: [`process()`] / [`Process`] (and `#[lox::process]`) run a
//!   plain `fn` in worker processes, copies of the running executable; a
//!   crashed worker fails only its job. [`init()`] must be the first statement
//!   of `main` (or of a `#[test]`); arguments and results are serde types (a
//!   `Vec<u8>` travels as one MessagePack `bin`). [`Launcher`] starts workers
//!   elsewhere (`ssh`, `srun`).
//! - Sync primitives, shared by threads and process workers: [`Lock`],
//!   [`IndexSemaphore`] (acquire an index in `0..n`), [`LightSwitch`] (first
//!   in locks, last out unlocks), [`QLock`] (first come, first served) and
//!   [`RWLock`] (writer-preferring), each with `_timeout`, `try_` and async
//!   twins.
//! - Queues: [`Announcement`] (broadcast to every subscriber, with an
//!   optional backlog) and [`Funnel`] (waits until every input delivered its
//!   item for a job id).
//! - [`Progress`] bars on gather, async gathers, and a streaming gather in
//!   completion order ([`Pool::gather_iter`]).
//! - For actix applications, each pool's [`actors::Supervisor`]
//!   answers messages, so actors can use a pool without blocking.
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

pub mod actors;
mod error;
mod process;
mod progress;
mod queue;
mod runtime;
mod sync;

pub use actors::batch::Batch;
pub use actors::collector::Ticket;
pub use actors::front::Pool;
pub use actors::job::Job;
pub use actors::map::{Map, MapStream, TryMap, Unordered};
pub use actors::results::{Results, ResultsStream};
pub use actors::stats::{Stats, WorkerStats};
pub use actors::thread_pool::{thread, Thread, DEFAULT_THREADS};
pub use actors::worker_actors::thread_with;
pub use error::{TaskError, Timeout};
pub use progress::Progress;
// Sync primitives.
pub use sync::{
    IndexGuard, IndexSemaphore, LightSwitch, LightSwitchGuard, Lock, LockGuard, QLock, QLockGuard,
    RWLock, ReadGuard, WriteGuard,
};
// Queues.
pub use queue::{Announcement, Funnel, FunnelInput, SubscribeFinalizedError};
// Process pools.
pub use process::{init, process, process_with, Launcher, Process};

/// The progress-bar crate behind [`Progress`], re-exported so that a bar of
/// your own matches the version lox uses.
#[cfg(feature = "progress")]
pub use indicatif;

/// `#[lox::thread(n)]`: make a free function parallel on a pool of `n` threads
/// (bare `#[lox::thread]`: [`DEFAULT_THREADS`]).
///
/// The function stays callable as before; a module of the same name appears
/// beside it with `pool()` and one function per method of [`Pool`] (`scatter`
/// takes the function's own arguments).
///
/// The function must be at module level (not inside another function), take
/// owned argument types and have no generics: the macro says so at compile
/// time otherwise.
///
/// After the worker count come `key = value` arguments: `init = path` names a
/// `fn(usize) -> S` that builds each worker's state (called on the worker with
/// its index; `S` need not be `Send`), which the function takes as its first
/// parameter `&mut S` and which `scatter` leaves out, as in
/// `#[lox::thread(4, init = load_model)] fn embed(model: &mut Model, text: String) -> Vec<f32>`
/// (the pool is a [`thread_with()`] pool). `lifespan = n`
/// and `max_pending = n` call the pool's builders of those names. A first
/// parameter `&mut S` without `init`, `init` without one, or an unknown key is
/// a compile error that says so.
///
/// ```
/// #[lox::thread(2)]
/// fn add(a: u32, b: u32) -> u32 { a + b }
///
/// fn main() {
///     add::scatter(1, 2);
///     add::scatter(3, 4);
///     assert_eq!(add::gather(), vec![3, 7]);
///     assert_eq!(add(5, 5), 10);
///     assert_eq!(add::pool().n_workers(), 2);
/// }
/// ```
#[cfg(feature = "macros")]
pub use lox_macros::thread;

/// `#[lox::process(n)]`: make a free function parallel on a pool of `n` worker
/// processes (bare `#[lox::process]`: one per CPU). `main` must call
/// [`init()`] first.
///
/// The function stays callable as before; a module of the same name appears
/// beside it with the same functions as for `#[lox::thread]`. Arguments and
/// result must be serde types.
///
/// The arguments after the worker count are those of `#[lox::thread]`
/// (`init = path` with a first parameter `&mut S`, built inside each worker
/// process, so `S` needs no serde; the pool is a
/// [`process_with()`] pool), plus `retries = k` and
/// `job_timeout = <Duration expression>`, which call
/// [`Process::retries`] and [`Process::job_timeout`].
///
/// ```
/// #[lox::process(0)] // 0: inline, so that this doc test spawns no process
/// fn add(a: u32, b: u32) -> u32 { a + b }
///
/// fn main() {
///     lox::init();
///     add::scatter(1, 2);
///     add::scatter(3, 4);
///     assert_eq!(add::gather(), vec![3, 7]);
///     assert_eq!(add(5, 5), 10);
/// }
/// ```
#[cfg(feature = "macros")]
pub use lox_macros::process;

#[doc(hidden)]
pub mod __private {
    //! Used by the code the attribute macros generate; not public API.
    pub use actix::Addr;
    pub use futures::Stream;
    pub use std::sync::OnceLock;

    /// Worker count of a bare `#[lox::process]`: the number of CPUs.
    pub fn default_processes() -> usize {
        crate::process::default_processes()
    }

    /// What the generated module finds under the decorated function's name
    /// when the function is not at module level (see `located` in
    /// lox-macros' `expand`): its `located` fails to compile, saying so.
    pub mod not_at_module_level {
        /// Never implemented: the bound that carries the message.
        #[diagnostic::on_unimplemented(
            message = "a #[lox::thread] or #[lox::process] function must be at module level, not inside another function",
            label = "move this function out of the function body, to module level",
            note = "the macro generates a module of the same name beside the function, and a module cannot see the items of a function body"
        )]
        pub trait AtModuleLevel {}

        /// Fails to compile: the function is inside a function body.
        pub const fn located<T: AtModuleLevel>() {}
    }
}
