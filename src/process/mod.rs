//! Process pools: [`process`](crate::process()) runs a plain function in worker processes that
//! are copies of the running executable.
//!
//! Inside (a newcomer's map):
//! - `frame`: the codec, a `u32` LE length prefix and a MessagePack body,
//!   capped, read in bounded chunks.
//! - `handshake`: protocol version and the executable's fingerprint (a hash of
//!   the file's contents).
//! - `message`: the headers that travel in frames.
//! - `payload`: arguments and results in frames; a `Vec<u8>` travels as one
//!   MessagePack `bin`.
//! - `entry`: how a job names its function without any registration: offsets
//!   of the user's `fn(A) -> R` and of a monomorphized trampoline from a base
//!   symbol of lox. Same executable (checked by the handshake) ⇒ same offsets,
//!   whatever ASLR does, since the image moves as one block.
//! - `early`: a worker caught before `main` (Linux: `.init_array`), and
//!   the parent's check that `main` called [`init`].
//! - `worker`: [`init`] and the worker's job loop. The worker moves the
//!   protocol off fds 0/1, points fd 1 at stderr (a job's `println!` cannot
//!   corrupt the channel), and a watchdog thread exits the process within a
//!   second of its parent's death, also mid-job.
//! - `worker_queue`: the worker's jobs read ahead, and those the parent
//!   cancelled after sending them (skipped, never run).
//! - `manager`: the parent side, one manager thread per worker process: a
//!   scheduler (which jobs go ahead to the worker), the connection (launch,
//!   handshake, frames in and out, the worker's shared-handle requests served
//!   as they come) and a state machine for supervision (worker death,
//!   retries, timeouts, replacement).
//! - `report`: a worker's panics, labelled with worker and job, sent to the
//!   parent, which prints them above its progress bars.
//! - `launcher`: [`Launcher`], the `Command` template (local, or a prefix such
//!   as `ssh host`).
//! - `registry`: the parent's ids of sync handles and announcement peers
//!   that travel in job arguments (serde), and what a deserialized handle
//!   becomes: the same primitive here, a remote handle in a worker.
//! - `handles`, `peer`: serde for the sync handles and announcement peers
//!   (registering what they serialize), and the registry entries that serve
//!   them to workers.
//! - `proxy`: the far side of a sync handle deserialized in a worker (sync's
//!   foreign brokers forward to it); `peer` has the announcement's.
//! - `client`: the worker's side of shared handles: requests to the parent's
//!   brokers over the channel, answers routed to their waiters.
//! - `share`: the parent's side, one `Peer` per worker: serves requests
//!   without blocking the manager (waits run as the brokers' own async
//!   acquires on lox's runtime), holds the worker's guards and releases them
//!   when the worker dies.
//! - `pool`: [`process`](crate::process()) and the [`Process`] handle, on the collector that
//!   thread pools use too (numbering, reorder, gathers).
//!
//! Soundness of the function offsets: the worker accepts jobs only after a
//! handshake showing the same protocol version and the same executable
//! fingerprint, and the parent computes offsets only for functions that live
//! in the executable image (checked with `dladdr`). Each `unsafe` block in
//! `entry` and `worker` says how it relies on this.

pub(crate) mod client;
mod early;
mod entry;
mod frame;
mod handles;
mod handshake;
mod inline_state;
mod launcher;
mod manager;
pub(crate) mod message;
mod payload;
mod peer;
mod pool;
mod proxy;
pub(crate) mod registry;
mod report;
mod share;
mod stateful;
mod worker;
mod worker_queue;
mod worker_state;

pub use launcher::Launcher;
pub(crate) use pool::default_processes;
pub use pool::{process, Process};
pub use stateful::process_with;
pub use worker::init;
