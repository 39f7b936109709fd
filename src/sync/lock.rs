//! [`Lock`]: mutual exclusion over a value, as a slot broker with one slot.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::broker::{self, Acquire, Broker};
use super::foreign::Foreign;
use super::handle::{Handle, Held, Orphan};
use super::platform::Real;
use super::slots::RawSlots;
use crate::Timeout;

/// The instant `d` from now, or `None` (wait forever) if that overflows.
pub(crate) fn deadline(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

pub(crate) struct LockInner<T> {
    pub(crate) raw: RawSlots<Real>,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and the broker grants its
// single slot to one guard at a time; moving the whole lock between threads
// moves `T`, hence `T: Send`. Shared access from several threads never yields
// two references to `T` at once, so `T: Send` suffices for `Sync` (as for
// `std::sync::Mutex`).
unsafe impl<T: Send> Send for LockInner<T> {}
// SAFETY: see above.
unsafe impl<T: Send> Sync for LockInner<T> {}

impl<T> Orphan for LockInner<T> {
    fn orphan(&self) -> bool {
        self.raw.orphan()
    }
}

/// Mutual exclusion: one holder at a time, guard derefs to the protected `T`.
///
/// A cheap `Clone` handle: all clones address the same broker. `Lock::new(())`
/// is a plain lock. The guard is `Send + 'static` (it keeps the lock alive
/// even if every handle is dropped) and may be dropped on another thread; it
/// releases on drop, also while a panic unwinds.
///
/// Under contention a released lock goes to whoever takes it first, a woken
/// waiter or a newcomer (as with parking_lot's mutex), which keeps throughput
/// high; use [`QLock`](crate::QLock) for strict arrival order. A waiter that
/// times out (or whose async acquire is dropped) leaves the queue at once.
///
/// `Lock<()>` can be passed to [`process`](fn@super::super::process) jobs (it is
/// serde `Serialize + Deserialize`): in the worker process, the handle
/// acquires the one lock in the parent, and a worker that dies holding it
/// releases it. A lock carrying data stays in its process.
///
/// ```
/// use std::time::Duration;
///
/// let counter = lox::Lock::new(0u64);
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let counter = counter.clone();
///         std::thread::spawn(move || {
///             for _ in 0..1000 {
///                 *counter.acquire() += 1;
///             }
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.acquire(), 4000);
///
/// let guard = counter.acquire();
/// assert!(counter.is_locked());
/// assert!(counter.try_acquire().is_none());
/// assert_eq!(
///     counter.acquire_timeout(Duration::from_millis(10)).unwrap_err(),
///     lox::Timeout
/// );
/// drop(guard);
/// assert!(!counter.is_locked());
/// ```
pub struct Lock<T = ()> {
    /// Owns the allocation; guards only point into it (the orphan scheme of
    /// [`handle`](super::handle): an uncontended acquire+release touches no
    /// reference count).
    inner: Handle<LockInner<T>>,
}

impl<T> Clone for Lock<T> {
    fn clone(&self) -> Self {
        Lock {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}

impl<T> Lock<T> {
    /// A new, unlocked lock protecting `value`.
    ///
    /// ```
    /// let lock = lox::Lock::new(vec![1, 2]);
    /// lock.acquire().push(3);
    /// assert_eq!(*lock.acquire(), vec![1, 2, 3]);
    /// ```
    pub fn new(value: T) -> Self {
        Self::with_broker(value, RawSlots::barging())
    }

    /// A lock whose waiters are served strictly first come, first served
    /// (the broker of [`QLock`](crate::QLock)).
    pub(crate) fn new_fifo(value: T) -> Self {
        Self::with_broker(value, RawSlots::new(1))
    }

    fn with_broker(value: T, raw: RawSlots<Real>) -> Self {
        Lock {
            inner: Handle::new(LockInner {
                raw,
                value: UnsafeCell::new(value),
            }),
        }
    }

    /// A lock that forwards to `far` (see `foreign`).
    pub(crate) fn foreign(value: T, far: Arc<dyn Foreign>) -> Self {
        Self::with_broker(value, RawSlots::delegating(far))
    }

    /// The far side, if this lock forwards to one.
    pub(crate) fn far(&self) -> Option<Arc<dyn Foreign>> {
        self.inner.raw.foreign()
    }

    /// Where the broker lives: names it in the registry.
    pub(crate) fn addr(&self) -> usize {
        self.inner.addr()
    }

    /// Nothing but this handle refers to the lock, and nobody holds or
    /// waits for it.
    pub(crate) fn unused(&self) -> bool {
        self.inner.count() == 1 && !self.is_locked() && self.waiting() == 0
    }

    /// Block until the lock is granted.
    ///
    /// ```
    /// let lock = lox::Lock::new(String::from("a"));
    /// lock.acquire().push('b');
    /// assert_eq!(&*lock.acquire(), "ab");
    /// ```
    pub fn acquire(&self) -> LockGuard<T> {
        let _ = broker::acquire(&self.inner.raw, (), None);
        // SAFETY: granted just above.
        unsafe { LockGuard::new(self) }
    }

    /// Like [`acquire`](Self::acquire), but gives up with [`Timeout`] after
    /// `timeout`; a waiter that gave up is out of the queue.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = lox::Lock::new(());
    /// let held = lock.acquire();
    /// assert!(lock.acquire_timeout(Duration::from_millis(5)).is_err());
    /// drop(held);
    /// assert!(lock.acquire_timeout(Duration::from_secs(5)).is_ok());
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockGuard<T>, Timeout> {
        broker::acquire(&self.inner.raw, (), deadline(timeout))?;
        // SAFETY: granted just above.
        Ok(unsafe { LockGuard::new(self) })
    }

    /// The guard if the lock is free, else `None`; never blocks.
    ///
    /// ```
    /// let lock = lox::Lock::new(1);
    /// let g = lock.try_acquire().unwrap();
    /// assert!(lock.try_acquire().is_none());
    /// drop(g);
    /// assert!(lock.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<LockGuard<T>> {
        broker::try_acquire(&self.inner.raw, ())?;
        // SAFETY: granted just above.
        Some(unsafe { LockGuard::new(self) })
    }

    /// True while some guard holds the lock.
    ///
    /// ```
    /// let lock = lox::Lock::new(());
    /// assert!(!lock.is_locked());
    /// let g = lock.acquire();
    /// assert!(lock.is_locked());
    /// drop(g);
    /// assert!(!lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.inner.raw.available() == 0
    }

    /// Waiters queued right now (the holder is not counted).
    ///
    /// ```
    /// let lock = lox::Lock::new(());
    /// let g = lock.acquire();
    /// let l2 = lock.clone();
    /// let t = std::thread::spawn(move || drop(l2.acquire()));
    /// while lock.waiting() == 0 {
    ///     std::thread::yield_now();
    /// }
    /// drop(g);
    /// t.join().unwrap();
    /// assert_eq!(lock.waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.inner.raw.waiting()
    }
}

impl<T: Send + 'static> Lock<T> {
    /// Async twin of [`acquire`](Self::acquire): waits without blocking the
    /// executor thread (tokio, actix-rt, any executor). Dropping the future
    /// before it resolves withdraws the request.
    ///
    /// ```
    /// let lock = lox::Lock::new(5);
    /// let value = futures::executor::block_on(async {
    ///     let mut g = lock.acquire_async().await;
    ///     *g += 1;
    ///     *g
    /// });
    /// assert_eq!(value, 6);
    /// ```
    pub fn acquire_async(&self) -> impl Future<Output = LockGuard<T>> + Send + 'static {
        let fut = Acquire::new(self.clone(), |l: &Lock<T>| &l.inner.raw, ());
        async move {
            let (lock, _) = fut.await;
            // SAFETY: the future resolves once the broker granted the slot.
            unsafe { LockGuard::new(&lock) }
            // `lock` is dropped here like any handle: if it was the last one,
            // the guard inherits its reference.
        }
    }
}

/// Holds a [`Lock`]; derefs to the protected value; releases on drop.
///
/// `Send + 'static` (for `T: Send + 'static`): it may be moved to and dropped
/// on another thread.
///
/// ```
/// let lock = lox::Lock::new(0);
/// let mut guard = lock.acquire();
/// *guard = 7;
/// std::thread::spawn(move || drop(guard)).join().unwrap();
/// assert_eq!(*lock.acquire(), 7);
/// ```
///
/// Releasing is dropping, so a guard cannot be released twice: this does
/// not compile.
///
/// ```compile_fail
/// let lock = lox::Lock::new(());
/// let guard = lock.acquire();
/// drop(guard);
/// drop(guard); // error[E0382]: use of moved value: `guard`
/// ```
pub struct LockGuard<T = ()> {
    /// Points into the lock's handles' allocation, valid while the lock is
    /// held (the orphan scheme of `super::handle`); may free it (and `T`).
    held: Held<LockInner<T>>,
}

// SAFETY: moving the guard moves the exclusive right to `&mut T` to another
// thread, which needs `T: Send`; the release in `drop` works from any thread.
unsafe impl<T: Send> Send for LockGuard<T> {}
// SAFETY: `&LockGuard` only gives `&T`, so sharing it needs `T: Sync`.
unsafe impl<T: Sync> Sync for LockGuard<T> {}

impl<T> LockGuard<T> {
    /// The guard of a lock just granted through `lock`.
    ///
    /// # Safety
    ///
    /// The caller was just granted `lock`'s slot and hands it to the guard,
    /// which releases it on drop.
    unsafe fn new(lock: &Lock<T>) -> Self {
        LockGuard {
            // SAFETY: the grant passes to the guard, which releases it only
            // through `Held::release`, in `drop`.
            held: unsafe { Held::new(&lock.inner) },
        }
    }

    fn inner(&self) -> &LockInner<T> {
        self.held.get()
    }
}

impl<T> Deref for LockGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock's only slot, granted by the broker,
        // until it is dropped; no other guard exists meanwhile.
        unsafe { &*self.inner().value.get() }
    }
}

impl<T> DerefMut for LockGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this reference unique.
        unsafe { &mut *self.inner().value.get() }
    }
}

impl<T> Drop for LockGuard<T> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once and `held` is not used after; the closure
        // gives back this guard's slot.
        unsafe { self.held.release(|inner| inner.raw.release(0)) }
    }
}

impl<T: fmt::Debug> fmt::Debug for LockGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LockGuard").field(&**self).finish()
    }
}
