//! [`QLock`]: a lock whose waiters are served strictly in arrival order.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::lock::{Lock, LockGuard};
use crate::Timeout;

/// A lock that serves its waiters first come, first served.
///
/// Its broker keeps a FIFO of waiters; a release hands the lock directly to
/// the first one, so no late arrival can barge ahead. A waiter that times out
/// (or whose async acquire is dropped) leaves the queue at once: the next
/// release goes to the next waiter still there. (Python lox's QLock lost
/// releases in that case; this one does not.)
///
/// ```
/// use std::time::Duration;
///
/// let q = lox::QLock::new(Vec::new());
/// let first = q.acquire();
/// let mut handles = Vec::new();
/// for i in 0..3 {
///     let q2 = q.clone();
///     handles.push(std::thread::spawn(move || q2.acquire().push(i)));
///     // wait until thread i is queued before starting the next one
///     while q.waiting() != i + 1 {
///         std::thread::yield_now();
///     }
/// }
/// assert!(q.acquire_timeout(Duration::from_millis(5)).is_err()); // gave up, left the queue
/// drop(first);
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*q.acquire(), vec![0, 1, 2]); // arrival order
/// ```
pub struct QLock<T = ()> {
    lock: Lock<T>,
}

impl<T> Clone for QLock<T> {
    fn clone(&self) -> Self {
        QLock {
            lock: self.lock.clone(),
        }
    }
}

impl<T: Default> Default for QLock<T> {
    fn default() -> Self {
        QLock::new(T::default())
    }
}

impl<T> fmt::Debug for QLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QLock")
            .field("locked", &self.is_locked())
            .field("waiting", &self.waiting())
            .finish_non_exhaustive()
    }
}

impl<T> QLock<T> {
    /// A new, unlocked queue lock protecting `value`.
    ///
    /// ```
    /// let q = lox::QLock::new(0);
    /// *q.acquire() += 1;
    /// assert_eq!(*q.acquire(), 1);
    /// ```
    pub fn new(value: T) -> Self {
        QLock {
            lock: Lock::new_fifo(value),
        }
    }

    /// A QLock over `lock` (a FIFO lock, or a foreign one).
    pub(crate) fn from_lock(lock: Lock<T>) -> Self {
        QLock { lock }
    }

    /// The FIFO lock inside.
    pub(crate) fn lock(&self) -> &Lock<T> {
        &self.lock
    }

    /// Block until granted; waiters are granted in arrival order.
    ///
    /// ```
    /// let q = lox::QLock::new(());
    /// let g = q.acquire();
    /// assert!(q.is_locked());
    /// drop(g);
    /// ```
    pub fn acquire(&self) -> QLockGuard<T> {
        QLockGuard(self.lock.acquire())
    }

    /// Like [`acquire`](Self::acquire), but gives up with [`Timeout`] after
    /// `timeout`, leaving the queue.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = lox::QLock::new(());
    /// let g = q.acquire();
    /// assert_eq!(q.acquire_timeout(Duration::from_millis(5)).unwrap_err(), lox::Timeout);
    /// assert_eq!(q.waiting(), 0);
    /// drop(g);
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<QLockGuard<T>, Timeout> {
        self.lock.acquire_timeout(timeout).map(QLockGuard)
    }

    /// The guard if the lock is free and nobody waits; never blocks.
    ///
    /// ```
    /// let q = lox::QLock::new(());
    /// let g = q.try_acquire().unwrap();
    /// assert!(q.try_acquire().is_none());
    /// drop(g);
    /// ```
    pub fn try_acquire(&self) -> Option<QLockGuard<T>> {
        self.lock.try_acquire().map(QLockGuard)
    }

    /// Waiters queued right now (the holder is not counted).
    ///
    /// ```
    /// let q = lox::QLock::new(());
    /// let g = q.acquire();
    /// assert_eq!(q.waiting(), 0);
    /// let q2 = q.clone();
    /// let t = std::thread::spawn(move || drop(q2.acquire()));
    /// while q.waiting() == 0 { std::thread::yield_now(); }
    /// assert_eq!(q.waiting(), 1);
    /// drop(g);
    /// t.join().unwrap();
    /// assert_eq!(q.waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.lock.waiting()
    }

    /// True while some guard holds the lock.
    ///
    /// ```
    /// let q = lox::QLock::new(());
    /// assert!(!q.is_locked());
    /// let _g = q.acquire();
    /// assert!(q.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }
}

impl<T: Send + 'static> QLock<T> {
    /// Async twin of [`acquire`](Self::acquire); never blocks the executor.
    /// Dropping the future leaves the queue.
    ///
    /// ```
    /// let q = lox::QLock::new(1);
    /// let v = futures::executor::block_on(async { *q.acquire_async().await });
    /// assert_eq!(v, 1);
    /// ```
    pub fn acquire_async(&self) -> impl Future<Output = QLockGuard<T>> + Send + 'static {
        let fut = self.lock.acquire_async();
        async move { QLockGuard(fut.await) }
    }
}

/// Holds a [`QLock`]; derefs to the protected value; releases on drop
/// (handing the lock to the first waiter). `Send + 'static`.
///
/// ```
/// let q = lox::QLock::new(1);
/// let mut g = q.acquire();
/// *g += 1;
/// drop(g);
/// assert_eq!(*q.acquire(), 2);
/// ```
pub struct QLockGuard<T = ()>(LockGuard<T>);

impl<T> Deref for QLockGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for QLockGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for QLockGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("QLockGuard").field(&**self).finish()
    }
}
