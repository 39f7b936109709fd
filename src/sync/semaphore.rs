//! [`IndexSemaphore`]: a semaphore whose grants are distinct indices.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::broker::{self, Acquire, Broker};
use super::lock::{deadline, wait_for};
use super::platform::Real;
use super::shared::Place;
use super::slots::RawSlots;
use crate::process::client::Remote;
use crate::process::message::{Op, Query, Wait};
use crate::Timeout;
use futures::future::Either;

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
    src: Src,
}

/// Where it lives: here, or (in a process worker) in the parent.
type Src = Place<RawSlots<Real>>;

impl fmt::Debug for IndexSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("IndexSemaphore");
        match &self.src {
            Src::Local(raw) => d
                .field("slots", &raw.slots())
                .field("available", &raw.available()),
            Src::Remote(r) => d.field("remote", &r.wire.id),
        };
        d.finish()
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
            src: Src::Local(Arc::new(RawSlots::new(n))),
        }
    }

    /// The parent's semaphore, in a process worker (see `process::registry`).
    pub(crate) fn remote(remote: Remote) -> Self {
        IndexSemaphore {
            src: Src::Remote(remote),
        }
    }

    /// The parent's semaphore this handle stands for, in a process worker.
    pub(crate) fn remote_ref(&self) -> Option<Remote> {
        self.src.remote_ref()
    }

    /// Names it in the registry.
    pub(crate) fn addr(&self) -> usize {
        self.src.addr()
    }

    /// Nothing but this handle refers to it.
    pub(crate) fn unused(&self) -> bool {
        self.src.unused()
    }

    fn remote_acquire(&self, r: Remote, wait: Wait) -> Option<IndexGuard> {
        let index = r.acquire(Op::Index, wait)?;
        Some(IndexGuard {
            src: Src::Remote(r),
            index: index as usize,
        })
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
        match &self.src {
            Src::Local(raw) => {
                let index = broker::acquire(&**raw, (), None).unwrap_or_default();
                guard(raw, index)
            }
            Src::Remote(r) => self
                .remote_acquire(*r, Wait::Forever)
                .expect("lox: an acquire without deadline was refused"),
        }
    }

    /// Like [`acquire`](Self::acquire), but gives up with [`Timeout`] after
    /// `timeout`, leaving the queue.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = lox::IndexSemaphore::new(1);
    /// let g = s.acquire();
    /// assert!(s.acquire_timeout(Duration::from_millis(5)).is_err());
    /// drop(g);
    /// assert_eq!(s.acquire_timeout(Duration::from_secs(5)).unwrap().index(), 0);
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<IndexGuard, Timeout> {
        match &self.src {
            Src::Local(raw) => {
                let index = broker::acquire(&**raw, (), deadline(timeout))?;
                Ok(guard(raw, index))
            }
            Src::Remote(r) => self.remote_acquire(*r, wait_for(timeout)).ok_or(Timeout),
        }
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
        match &self.src {
            Src::Local(raw) => broker::try_acquire(&**raw, ()).map(|i| guard(raw, i)),
            Src::Remote(r) => self.remote_acquire(*r, Wait::Try),
        }
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
        match &self.src {
            Src::Local(raw) => {
                let fut = Acquire::new(raw.clone(), |r: &Arc<RawSlots<Real>>| &**r, ());
                Either::Left(async move {
                    let (raw, index) = fut.await;
                    IndexGuard {
                        src: Src::Local(raw),
                        index,
                    }
                })
            }
            Src::Remote(r) => {
                let (r, fut) = (*r, r.acquire_async(Op::Index));
                Either::Right(async move {
                    IndexGuard {
                        src: Src::Remote(r),
                        index: fut.await as usize,
                    }
                })
            }
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
        match &self.src {
            Src::Local(raw) => raw.available(),
            Src::Remote(r) => r.query(Query::Available) as usize,
        }
    }
}

fn guard(raw: &Arc<RawSlots<Real>>, index: usize) -> IndexGuard {
    IndexGuard {
        src: Src::Local(raw.clone()),
        index,
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
    src: Src,
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
        match &self.src {
            // Guards hold an `Arc`, so this broker is never orphaned.
            Src::Local(raw) => {
                let _ = raw.release(self.index);
            }
            Src::Remote(r) => r.release(Op::Index, self.index as u64),
        }
    }
}

impl fmt::Debug for IndexGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexGuard")
            .field("index", &self.index)
            .finish()
    }
}
