//! [`RWLock`]: many readers or one writer over a value.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use super::broker::{self, Acquire, Broker};
use super::foreign::Foreign;
use super::handle::{Handle, Held, Orphan};
use super::lock::deadline;
use super::platform::Real;
use super::rw::{Access, RawRw};
use crate::Timeout;

struct RwInner<T> {
    raw: RawRw<Real>,
    value: UnsafeCell<T>,
}

// SAFETY: the broker grants either one writer (the only reference, `&mut T`)
// or any number of readers (`&T` shared across threads, hence `T: Sync`);
// a writer on another thread needs `T: Send`. Same bounds as `std::sync::RwLock`.
unsafe impl<T: Send> Send for RwInner<T> {}
// SAFETY: see above.
unsafe impl<T: Send + Sync> Sync for RwInner<T> {}

impl<T> Orphan for RwInner<T> {
    fn orphan(&self) -> bool {
        self.raw.orphan()
    }
}

/// A readers-writer lock: many readers at once, or one writer.
///
/// A waiting writer blocks readers that arrive after it, so a stream of
/// readers never starves a writer; readers queued before it, and consecutive
/// waiting readers, enter together. Under contention a released lock goes to
/// whoever takes it first, a woken waiter or a newcomer (as with
/// parking_lot's `RwLock`), which keeps throughput high; a woken waiter that
/// keeps losing is handed the lock directly on a later release, so every
/// waiter gets in eventually. A waiter that times out (or whose async
/// acquire is dropped) leaves the queue at once and is never handed the lock
/// afterwards. Guards are `Send + 'static` and release on drop.
///
/// ```
/// let config = lox::RWLock::new(String::from("v1"));
/// {
///     let a = config.read();
///     let b = config.read(); // readers share
///     assert_eq!(config.readers(), 2);
///     assert!(config.try_write().is_none()); // no writer while readers are inside
///     assert_eq!(*a, *b);
/// }
/// config.write().push_str("-patched");
/// assert_eq!(&*config.read(), "v1-patched");
/// ```
pub struct RWLock<T = ()> {
    /// Owns the allocation; guards only point into it (the orphan scheme of
    /// [`handle`](super::handle), as for [`Lock`](crate::Lock)).
    inner: Handle<RwInner<T>>,
}

impl<T> Clone for RWLock<T> {
    fn clone(&self) -> Self {
        RWLock {
            inner: self.inner.clone(),
        }
    }
}

/// Give access `a` back; the last guard out of an orphaned lock frees it.
///
/// # Safety
///
/// `held` belongs to a guard holding access `a`; called once, from that
/// guard's `drop`, and `held` is not used afterwards.
unsafe fn release<T>(held: &Held<RwInner<T>>, a: Access) {
    // SAFETY: by the contract; the closure gives back exactly access `a`.
    unsafe { held.release(|inner| inner.raw.release(a)) }
}

impl<T: Default> Default for RWLock<T> {
    fn default() -> Self {
        RWLock::new(T::default())
    }
}

impl<T> fmt::Debug for RWLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RWLock")
            .field("readers", &self.readers())
            .field("write_locked", &self.is_write_locked())
            .finish_non_exhaustive()
    }
}

impl<T> RWLock<T> {
    /// A new, unlocked readers-writer lock protecting `value`.
    ///
    /// ```
    /// let l = lox::RWLock::new(3);
    /// assert_eq!(*l.read(), 3);
    /// ```
    pub fn new(value: T) -> Self {
        Self::with_broker(value, RawRw::new())
    }

    fn with_broker(value: T, raw: RawRw<Real>) -> Self {
        RWLock {
            inner: Handle::new(RwInner {
                raw,
                value: UnsafeCell::new(value),
            }),
        }
    }

    /// An RWLock that forwards to `far` (see `foreign`).
    pub(crate) fn foreign(value: T, far: Arc<dyn Foreign>) -> Self {
        Self::with_broker(value, RawRw::delegating(far))
    }

    /// The far side, if this lock forwards to one.
    pub(crate) fn far(&self) -> Option<Arc<dyn Foreign>> {
        self.inner.raw.foreign()
    }

    /// Where the broker lives: names it in the registry.
    pub(crate) fn addr(&self) -> usize {
        self.inner.addr()
    }

    /// Nothing but this handle refers to the lock, nobody is inside or waits.
    pub(crate) fn unused(&self) -> bool {
        self.inner.count() == 1
            && self.readers() == 0
            && !self.is_write_locked()
            && self.waiting() == 0
    }

    /// True while a writer is inside.
    pub(crate) fn is_write_locked(&self) -> bool {
        self.inner.raw.is_write_locked()
    }

    /// Block until read access is granted (no writer inside, and none waiting
    /// that asked before this reader).
    ///
    /// ```
    /// let l = lox::RWLock::new(vec![1]);
    /// assert_eq!(l.read().len(), 1);
    /// ```
    pub fn read(&self) -> ReadGuard<T> {
        let _ = broker::acquire(&self.inner.raw, Access::Read, None);
        // SAFETY: granted just above.
        unsafe { ReadGuard::new(self) }
    }

    /// Block until write access is granted (nobody else inside).
    ///
    /// ```
    /// let l = lox::RWLock::new(1);
    /// *l.write() += 1;
    /// assert_eq!(*l.read(), 2);
    /// ```
    pub fn write(&self) -> WriteGuard<T> {
        let _ = broker::acquire(&self.inner.raw, Access::Write, None);
        // SAFETY: granted just above.
        unsafe { WriteGuard::new(self) }
    }

    /// Like [`read`](Self::read), but gives up with [`Timeout`] after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = lox::RWLock::new(());
    /// let w = l.write();
    /// assert_eq!(l.read_timeout(Duration::from_millis(5)).unwrap_err(), lox::Timeout);
    /// drop(w);
    /// assert!(l.read_timeout(Duration::from_secs(5)).is_ok());
    /// ```
    pub fn read_timeout(&self, timeout: Duration) -> Result<ReadGuard<T>, Timeout> {
        broker::acquire(&self.inner.raw, Access::Read, deadline(timeout))?;
        // SAFETY: granted just above.
        Ok(unsafe { ReadGuard::new(self) })
    }

    /// Like [`write`](Self::write), but gives up with [`Timeout`] after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = lox::RWLock::new(());
    /// let r = l.read();
    /// assert!(l.write_timeout(Duration::from_millis(5)).is_err());
    /// drop(r);
    /// assert!(l.write_timeout(Duration::from_secs(5)).is_ok());
    /// ```
    pub fn write_timeout(&self, timeout: Duration) -> Result<WriteGuard<T>, Timeout> {
        broker::acquire(&self.inner.raw, Access::Write, deadline(timeout))?;
        // SAFETY: granted just above.
        Ok(unsafe { WriteGuard::new(self) })
    }

    /// Read access if it can be had at once without passing a waiting writer.
    ///
    /// ```
    /// let l = lox::RWLock::new(());
    /// let w = l.write();
    /// assert!(l.try_read().is_none());
    /// drop(w);
    /// assert!(l.try_read().is_some());
    /// ```
    pub fn try_read(&self) -> Option<ReadGuard<T>> {
        broker::try_acquire(&self.inner.raw, Access::Read)?;
        // SAFETY: granted just above.
        Some(unsafe { ReadGuard::new(self) })
    }

    /// Write access if nobody is inside right now (like a newcomer under
    /// contention, it may take a lock just freed before a woken waiter does).
    ///
    /// ```
    /// let l = lox::RWLock::new(());
    /// let r = l.read();
    /// assert!(l.try_write().is_none());
    /// drop(r);
    /// assert!(l.try_write().is_some());
    /// ```
    pub fn try_write(&self) -> Option<WriteGuard<T>> {
        broker::try_acquire(&self.inner.raw, Access::Write)?;
        // SAFETY: granted just above.
        Some(unsafe { WriteGuard::new(self) })
    }

    /// Readers inside right now.
    ///
    /// ```
    /// let l = lox::RWLock::new(());
    /// let _a = l.read();
    /// assert_eq!(l.readers(), 1);
    /// ```
    pub fn readers(&self) -> usize {
        self.inner.raw.readers()
    }

    /// Readers and writers queued right now (those inside are not counted).
    ///
    /// ```
    /// let l = lox::RWLock::new(());
    /// let _r = l.read();
    /// assert_eq!(l.waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.inner.raw.waiting()
    }
}

impl<T: Send + Sync + 'static> RWLock<T> {
    /// Async twin of [`read`](Self::read); never blocks the executor.
    /// Dropping the future leaves the queue.
    ///
    /// ```
    /// let l = lox::RWLock::new(4);
    /// let v = futures::executor::block_on(async { *l.read_async().await });
    /// assert_eq!(v, 4);
    /// ```
    pub fn read_async(&self) -> impl Future<Output = ReadGuard<T>> + Send + 'static {
        let fut = Acquire::new(self.clone(), |l: &RWLock<T>| &l.inner.raw, Access::Read);
        async move {
            // SAFETY: the future resolves once the broker granted access.
            unsafe { ReadGuard::new(&fut.await.0) }
        }
    }

    /// Async twin of [`write`](Self::write); never blocks the executor.
    /// Dropping the future leaves the queue.
    ///
    /// ```
    /// let l = lox::RWLock::new(4);
    /// futures::executor::block_on(async { *l.write_async().await += 1 });
    /// assert_eq!(*l.read(), 5);
    /// ```
    pub fn write_async(&self) -> impl Future<Output = WriteGuard<T>> + Send + 'static {
        let fut = Acquire::new(self.clone(), |l: &RWLock<T>| &l.inner.raw, Access::Write);
        async move {
            // SAFETY: the future resolves once the broker granted access.
            unsafe { WriteGuard::new(&fut.await.0) }
        }
    }
}

/// Shared read access to an [`RWLock`]; derefs to `T`; releases on drop.
/// `Send + 'static`.
///
/// ```
/// let l = lox::RWLock::new(1);
/// let r = l.read();
/// std::thread::spawn(move || assert_eq!(*r, 1)).join().unwrap();
/// assert_eq!(l.readers(), 0);
/// ```
pub struct ReadGuard<T = ()> {
    /// Valid while this guard is inside; may free the lock (and its `T`).
    /// Send and Sync by hand below.
    held: Held<RwInner<T>>,
}

// SAFETY: a read guard only gives `&T`; moving it to another thread shares
// `&T` across threads (`T: Sync`), and its drop may free the value there if it
// holds the last reference (`T: Send`). The release works from any thread.
unsafe impl<T: Send + Sync> Send for ReadGuard<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for ReadGuard<T> {}

impl<T> ReadGuard<T> {
    /// The guard of read access just granted through `lock`.
    ///
    /// # Safety
    ///
    /// The caller was just granted read access to `lock` and hands it to
    /// the guard, which releases it on drop.
    unsafe fn new(lock: &RWLock<T>) -> Self {
        ReadGuard {
            // SAFETY: the grant passes to the guard, which releases it only
            // through `release`, in `drop`.
            held: unsafe { Held::new(&lock.inner) },
        }
    }
}

impl<T> Deref for ReadGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the broker granted read access: no writer is inside until
        // this guard (and every other reader) has been dropped.
        unsafe { &*self.held.get().value.get() }
    }
}

impl<T> Drop for ReadGuard<T> {
    fn drop(&mut self) {
        // SAFETY: this guard holds read access; `drop` runs once.
        unsafe { release(&self.held, Access::Read) }
    }
}

impl<T: fmt::Debug> fmt::Debug for ReadGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReadGuard").field(&**self).finish()
    }
}

/// Exclusive write access to an [`RWLock`]; derefs mutably to `T`; releases
/// on drop. `Send + 'static`.
///
/// ```
/// let l = lox::RWLock::new(1);
/// let mut w = l.write();
/// *w = 2;
/// std::thread::spawn(move || drop(w)).join().unwrap();
/// assert_eq!(*l.read(), 2);
/// ```
pub struct WriteGuard<T = ()> {
    /// Valid while this guard is inside; may free the lock (and its `T`).
    /// Send and Sync by hand below.
    held: Held<RwInner<T>>,
}

// SAFETY: moving a write guard moves the unique `&mut T` to another thread
// (`T: Send`); sharing it shares `&T` (`T: Sync`).
unsafe impl<T: Send> Send for WriteGuard<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for WriteGuard<T> {}

impl<T> WriteGuard<T> {
    /// The guard of write access just granted through `lock`.
    ///
    /// # Safety
    ///
    /// The caller was just granted write access to `lock` and hands it to
    /// the guard, which releases it on drop.
    unsafe fn new(lock: &RWLock<T>) -> Self {
        WriteGuard {
            // SAFETY: the grant passes to the guard, which releases it only
            // through `release`, in `drop`.
            held: unsafe { Held::new(&lock.inner) },
        }
    }
}

impl<T> Deref for WriteGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the broker granted write access: nobody else is inside
        // until this guard is dropped.
        unsafe { &*self.held.get().value.get() }
    }
}

impl<T> DerefMut for WriteGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this reference unique.
        unsafe { &mut *self.held.get().value.get() }
    }
}

impl<T> Drop for WriteGuard<T> {
    fn drop(&mut self) {
        // SAFETY: this guard holds write access; `drop` runs once.
        unsafe { release(&self.held, Access::Write) }
    }
}

impl<T: fmt::Debug> fmt::Debug for WriteGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WriteGuard").field(&**self).finish()
    }
}
