//! The state of a [`process_with`](crate::process_with) pool outside its
//! worker processes: for debug mode (`n_workers == 0`, jobs run inline in
//! `scatter`) and for [`call`](crate::Pool::call). It lives in the calling
//! thread (so `S` need not be `Send`), one per pool and thread, built by
//! `init(0)` on first use; a job that panics drops it, and the next job
//! builds it again. Dropping the pool drops the state of the thread that
//! drops it; other threads' states go when those threads end.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::panic_message;

thread_local! {
    /// This thread's states, by pool id.
    static STATES: RefCell<HashMap<u64, Box<dyn Any>>> = RefCell::new(HashMap::new());
}

/// A fresh pool id.
pub(crate) fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Run `job` on this thread's state of pool `id` (built by `init(0)` first
/// if there is none). The state is put back afterwards if `keep` says so of
/// the job's value, and dropped if not or if `job` panics (the panic goes
/// on). `Err`: `init` panicked, with its message.
pub(crate) fn with<S: 'static, T>(
    id: u64,
    init: fn(usize) -> S,
    job: impl FnOnce(&mut S) -> T,
    keep: impl FnOnce(&T) -> bool,
) -> Result<T, String> {
    // Out of the map while the job runs: a job that calls the pool again
    // (or drops another pool) finds the map free.
    let taken = STATES.with(|s| s.borrow_mut().remove(&id));
    let mut state = match taken.and_then(|b| b.downcast::<S>().ok()) {
        Some(state) => state,
        None => catch_unwind(|| Box::new(init(0)))
            .map_err(|p| format!("init panicked: {}", panic_message(&*p)))?,
    };
    let out = match catch_unwind(AssertUnwindSafe(|| job(&mut state))) {
        Ok(out) => out,
        Err(payload) => {
            drop(state);
            resume_unwind(payload)
        }
    };
    if keep(&out) {
        let old = STATES.with(|s| s.borrow_mut().insert(id, state));
        drop(old); // a state the job built meanwhile, dropped outside the borrow
    }
    Ok(out)
}

/// Pool `id` is gone: drop this thread's state of it.
pub(crate) fn forget(id: u64) {
    let state = STATES
        .try_with(|s| s.borrow_mut().remove(&id))
        .ok()
        .flatten();
    drop(state);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static INITS: Cell<u32> = const { Cell::new(0) };
    }

    fn start(index: usize) -> Vec<u32> {
        INITS.with(|i| i.set(i.get() + 1));
        vec![index as u32]
    }

    #[test]
    fn built_once_dropped_after_a_panic_and_on_forget() {
        let id = next_id();
        let push = |v: &mut Vec<u32>| {
            v.push(7);
            v.len()
        };
        assert_eq!(with(id, start, push, |_| true), Ok(2));
        assert_eq!(with(id, start, push, |_| true), Ok(3));
        assert_eq!(INITS.with(Cell::get), 1);
        // Not kept: built again next time.
        assert_eq!(with(id, start, push, |_| false), Ok(4));
        assert_eq!(with(id, start, push, |_| true), Ok(2));
        let panicked = catch_unwind(|| with(id, start, |_| panic!("x"), |_: &()| true));
        assert!(panicked.is_err());
        assert_eq!(with(id, start, push, |_| true), Ok(2));
        assert_eq!(INITS.with(Cell::get), 3);
        forget(id);
        assert_eq!(with(id, start, push, |_| true), Ok(2));
        let bad = with(next_id(), |_| -> u8 { panic!("no") }, |_| (), |_| true);
        assert_eq!(bad, Err("init panicked: no".to_owned()));
    }
}
