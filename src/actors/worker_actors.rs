//! Worker actors: builders of pools whose workers own a state (see
//! [`process_with`](crate::process_with)).

use super::front::Pool;
use super::pool::Backend;

impl<A: Send + 'static, R: Send + 'static, B: Backend<A, R>> Pool<A, R, B> {
    /// Retire a worker after `jobs` jobs (at least 1): its state is dropped
    /// and built again; in a process pool the worker process exits (its
    /// state's `Drop` runs there) and a fresh one takes the next job; each
    /// retirement counts as a restart in [`stats`](Pool::stats). Call it
    /// before the first scatter. Inline pools (`n_workers == 0`) ignore it.
    ///
    /// ```
    /// fn open(_index: usize) -> Vec<u8> { Vec::new() }
    /// fn push(buf: &mut Vec<u8>, x: u8) -> usize { buf.push(x); buf.len() }
    ///
    /// lox::init();
    /// let pool = lox::process_with(0, open, push).lifespan(100);
    /// pool.scatter(1);
    /// assert_eq!(pool.gather(), vec![1]);
    /// ```
    pub fn lifespan(self, jobs: usize) -> Self {
        self.core().backend.set_lifespan(jobs);
        self
    }
}
