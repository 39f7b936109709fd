//! [`IndexSemaphore`]: a semaphore whose grants are distinct indices.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::broker::{self, Acquire, Broker};
use super::foreign::Foreign;
use super::lock::deadline;
use super::platform::Real;
use super::slots::RawSlots;
use crate::Timeout;

/// A semaphore of `n` slots that tells each holder which slot it got: an
/// index in `0..n`, never held by two guards at once (the lowest free index is
/// handed out). Waiters are granted in arrival order.
///
/// The GPU pool of Python lox's docs: eight jobs share two GPUs, each job
/// runs on the GPU whose index it was granted.
///
/// ```
/// let gpus = lox::IndexSemaphore::new(2);
/// let in_use = lox::Lock::new([false; 2]);
/// let pool = {
///     let (gpus, in_use) = (gpus.clone(), in_use.clone());
///     lox::thread(8, move |job: u32| {
///         let gpu = gpus.acquire(); // blocks while both GPUs are taken
///         let i = gpu.index();
///         {
///             let mut busy = in_use.acquire();
///             assert!(!busy[i], "GPU {i} handed out twice");
///             busy[i] = true;
///         }
///         std::thread::sleep(std::time::Duration::from_millis(2)); // "compute"
///         in_use.acquire()[i] = false;
///         (job, i)
///     })
/// };
/// for job in 0..8 {
///     pool.scatter(job);
/// }
/// let results = pool.gather();
/// assert_eq!(results.len(), 8);
/// assert!(results.iter().all(|&(_, gpu)| gpu < 2));
/// assert_eq!(gpus.available(), 2);
/// ```
#[derive(Clone)]
pub struct IndexSemaphore {
    raw: Arc<RawSlots<Real>>,
}

impl fmt::Debug for IndexSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexSemaphore")
            .field("available", &self.raw.available())
            .finish_non_exhaustive()
    }
}

impl IndexSemaphore {
    /// A semaphore with `n` slots, indices `0..n`, all free.
    ///
    /// # Panics
    ///
    /// If `n == 0` (nobody could ever acquire it).
    ///
    /// ```
    /// let s = lox::IndexSemaphore::new(3);
    /// assert_eq!(s.available(), 3);
    /// ```
    ///
    /// ```should_panic
    /// let _ = lox::IndexSemaphore::new(0); // panics: needs at least one slot
    /// ```
    pub fn new(n: usize) -> Self {
        assert!(
            n > 0,
            "lox::IndexSemaphore::new(0): an index semaphore needs at least one slot"
        );
        IndexSemaphore {
            raw: Arc::new(RawSlots::new(n)),
        }
    }

    /// A semaphore that forwards to `far` (see `foreign`).
    pub(crate) fn foreign(far: Arc<dyn Foreign>) -> Self {
        IndexSemaphore {
            raw: Arc::new(RawSlots::delegating(far)),
        }
    }

    /// The far side, if this semaphore forwards to one.
    pub(crate) fn far(&self) -> Option<Arc<dyn Foreign>> {
        self.raw.foreign()
    }

    /// Names it in the registry.
    pub(crate) fn addr(&self) -> usize {
        Arc::as_ptr(&self.raw) as usize
    }

    /// Nothing but this handle refers to it (its guards hold one too).
    pub(crate) fn unused(&self) -> bool {
        Arc::strong_count(&self.raw) == 1
    }

    fn guard(&self, index: usize) -> IndexGuard {
        IndexGuard {
            raw: self.raw.clone(),
            index,
        }
    }

    /// Block until a slot is free; the guard tells which one.
    ///
    /// ```
    /// let s = lox::IndexSemaphore::new(2);
    /// let a = s.acquire();
    /// let b = s.acquire();
    /// assert_ne!(a.index(), b.index());
    /// assert_eq!(s.available(), 0);
    /// ```
    pub fn acquire(&self) -> IndexGuard {
        self.acquire_until(None)
            .expect("lox: an acquire without deadline timed out")
    }

    /// The inlined fast path is for one slot: with `n`, enter by the
    /// general CAS first (a failed CAS costs as much as one that succeeds).
    fn acquire_until(&self, deadline: Option<Instant>) -> Result<IndexGuard, Timeout> {
        let index = match self.raw.try_enter(()) {
            Some(index) => index,
            None => broker::acquire(&*self.raw, (), deadline)?,
        };
        Ok(self.guard(index))
    }

    /// Like [`acquire`](Self::acquire), but gives up with [`Timeout`] after
    /// `timeout`, leaving the queue.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let s = lox::IndexSemaphore::new(1);
    /// let g = s.acquire();
    /// assert!(s.acquire_timeout(Duration::from_millis(5)).is_err());
    /// drop(g);
    /// assert_eq!(s.acquire_timeout(Duration::from_secs(5)).unwrap().index(), 0);
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<IndexGuard, Timeout> {
        self.acquire_until(deadline(timeout))
    }

    /// A free slot if there is one and nobody waits; never blocks.
    ///
    /// ```
    /// let s = lox::IndexSemaphore::new(1);
    /// let g = s.try_acquire().unwrap();
    /// assert!(s.try_acquire().is_none());
    /// drop(g);
    /// ```
    pub fn try_acquire(&self) -> Option<IndexGuard> {
        broker::try_acquire(&*self.raw, ()).map(|i| self.guard(i))
    }

    /// Async twin of [`acquire`](Self::acquire); never blocks the executor.
    /// Dropping the future leaves the queue.
    ///
    /// ```
    /// let s = lox::IndexSemaphore::new(4);
    /// let i = futures::executor::block_on(async { s.acquire_async().await.index() });
    /// assert_eq!(i, 0);
    /// ```
    pub fn acquire_async(&self) -> impl Future<Output = IndexGuard> + Send + 'static {
        let fut = Acquire::new(self.raw.clone(), |r: &Arc<RawSlots<Real>>| &**r, ());
        async move {
            let (raw, index) = fut.await;
            IndexGuard { raw, index }
        }
    }

    /// Free slots right now.
    ///
    /// ```
    /// let s = lox::IndexSemaphore::new(2);
    /// let g = s.acquire();
    /// assert_eq!(s.available(), 1);
    /// drop(g);
    /// assert_eq!(s.available(), 2);
    /// ```
    pub fn available(&self) -> usize {
        self.raw.available()
    }
}

/// One slot of an [`IndexSemaphore`]; frees it on drop. `Send + 'static`.
///
/// ```
/// let s = lox::IndexSemaphore::new(2);
/// let g = s.acquire();
/// assert_eq!(g.index(), 0);
/// std::thread::spawn(move || drop(g)).join().unwrap();
/// assert_eq!(s.available(), 2);
/// ```
pub struct IndexGuard {
    raw: Arc<RawSlots<Real>>,
    index: usize,
}

impl IndexGuard {
    /// The slot this guard holds, in `0..n`.
    ///
    /// ```
    /// let s = lox::IndexSemaphore::new(3);
    /// assert!(s.acquire().index() < 3);
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for IndexGuard {
    fn drop(&mut self) {
        // Guards hold an `Arc`, so this broker is never orphaned; the
        // general release (see `acquire_until`).
        let _ = self.raw.release_cold(self.index);
    }
}

impl fmt::Debug for IndexGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexGuard")
            .field("index", &self.index)
            .finish()
    }
}
