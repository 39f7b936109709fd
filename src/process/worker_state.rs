//! A worker process's own state (`process_with`): built by the pool's `init`
//! once the worker knows its index, passed to every job, dropped after a job
//! that panicked and built again before the next one, dropped when the
//! worker retires.
//!
//! The state is a `Box<dyn Any>`: the worker loop knows no `S`. The setup
//! frame names `init` and its monomorphized builder by offsets (see
//! `entry`); each job's trampoline downcasts the box to its `S`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::entry::{self, Builder, State, Status};
use super::message::Setup;
use crate::error::panic_message;

/// The state of one worker process and how to build it again.
pub(crate) struct WorkerState {
    index: usize,
    /// The builder and the address of `init`; `None`: a pool without state.
    init: Option<(Builder, usize)>,
    state: State,
}

impl WorkerState {
    /// The state that `setup` describes, not built yet.
    ///
    /// # Safety
    ///
    /// The handshake with the parent that sent `setup` has succeeded (same
    /// protocol version, same executable fingerprint): its init entry then
    /// names a builder and an `init` of this very image (see `entry`).
    pub(crate) unsafe fn new(setup: Setup) -> Self {
        WorkerState {
            index: usize::try_from(setup.index).unwrap_or(usize::MAX),
            // SAFETY: the caller guarantees the handshake.
            init: setup.init.map(|e| unsafe { entry::resolve_init(e) }),
            state: None,
        }
    }

    /// Build the state if the pool has one and it is not built; `Err` with
    /// the cause when `init` panicked.
    pub(crate) fn ensure(&mut self) -> Result<(), String> {
        match self.init {
            Some((build, init)) if self.state.is_none() => {
                // SAFETY: `resolve_init` paired the builder with `init`, after
                // the handshake (`new`'s contract).
                self.state = Some(unsafe { build(init, self.index) }?);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The pool has a state and it is not built (a job panicked): the next
    /// job builds it first.
    pub(crate) fn needs_build(&self) -> bool {
        self.init.is_some() && self.state.is_none()
    }

    /// What a job's trampoline gets.
    pub(crate) fn state(&mut self) -> &mut State {
        &mut self.state
    }

    /// A job ended with `status`: after a panic the state may be broken, so
    /// it is dropped now and built again before the next job.
    pub(crate) fn after(&mut self, status: &Status) {
        if matches!(status, Status::Panicked(_)) {
            self.drop_state();
        }
    }

    /// Drop the state; a panic in its `Drop` is reported (by the panic hook)
    /// and goes no further.
    fn drop_state(&mut self) {
        if let Some(state) = self.state.take() {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(state))) {
                eprintln!(
                    "lox worker {}: dropping the worker state panicked: {}",
                    self.index,
                    panic_message(&*payload)
                );
            }
        }
    }
}

impl Drop for WorkerState {
    fn drop(&mut self) {
        self.drop_state();
    }
}
