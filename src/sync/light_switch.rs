//! [`LightSwitch`]: the first one in turns the light (a [`Lock`]) on, the last
//! one out turns it off.
//!
//! Composed of two brokers: a turnstile [`Lock`] that serializes the entries
//! that find the room empty (the first one blocks on the shared lock while the
//! others queue behind it), and the shared lock itself. The count and the
//! held guard live behind a short mutex; the last guard out takes the held
//! lock guard and drops it, from whichever thread that is.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::Either;

use super::foreign::{Access, Foreign, Query, Wait};
use super::lock::{deadline, Lock, LockGuard};
use crate::Timeout;

struct SwitchState {
    count: usize,
    held: Option<LockGuard<()>>,
}

struct SwitchInner {
    lock: Lock<()>,
    turnstile: Lock<()>,
    state: parking_lot::Mutex<SwitchState>,
}

impl SwitchInner {
    /// Enter if the light is already on.
    fn enter_if_on(self: &Arc<Self>) -> Option<LightSwitchGuard> {
        let mut s = self.state.lock();
        if s.count == 0 {
            return None;
        }
        s.count += 1;
        Some(LightSwitchGuard {
            src: Src::Local(self.clone()),
        })
    }

    /// First one in: the shared lock is now held by the switch.
    fn enter_first(self: &Arc<Self>, held: LockGuard<()>) -> LightSwitchGuard {
        let mut s = self.state.lock();
        debug_assert_eq!(s.count, 0);
        s.count = 1;
        s.held = Some(held);
        LightSwitchGuard {
            src: Src::Local(self.clone()),
        }
    }

    fn acquire_until(
        self: &Arc<Self>,
        deadline: Option<Instant>,
    ) -> Result<LightSwitchGuard, Timeout> {
        let left = |d: Instant| d.saturating_duration_since(Instant::now());
        if let Some(g) = self.enter_if_on() {
            return Ok(g);
        }
        let _turn = match deadline {
            None => self.turnstile.acquire(),
            Some(d) => self.turnstile.acquire_timeout(left(d))?,
        };
        if let Some(g) = self.enter_if_on() {
            return Ok(g);
        }
        let held = match deadline {
            None => self.lock.acquire(),
            Some(d) => self.lock.acquire_timeout(left(d))?,
        };
        Ok(self.enter_first(held))
    }
}

/// Shared access to a [`Lock`]: the first holder in acquires the lock, the
/// last one out releases it (from whichever thread that is); holders in
/// between enter freely. Someone taking the lock directly waits until the
/// room is empty, and while they hold it, nobody enters.
///
/// The janitor and the restroom of Python lox's docs: people use the restroom
/// together; the janitor cleans it only when it is empty, and nobody enters
/// while the janitor cleans.
///
/// ```
/// use std::time::Duration;
///
/// let occupied = lox::Lock::new(()); // held while anyone is inside, or the janitor
/// let restroom = lox::LightSwitch::new(occupied.clone());
///
/// let people: Vec<_> = (0..4)
///     .map(|_| {
///         let restroom = restroom.clone();
///         std::thread::spawn(move || {
///             for _ in 0..20 {
///                 let _inside = restroom.acquire();
///                 std::thread::yield_now();
///             }
///         })
///     })
///     .collect();
///
/// let janitor = {
///     let (occupied, restroom) = (occupied.clone(), restroom.clone());
///     std::thread::spawn(move || {
///         for _ in 0..5 {
///             let _cleaning = occupied.acquire(); // waits for an empty restroom
///             assert_eq!(restroom.count(), 0, "someone is inside while cleaning");
///             std::thread::sleep(Duration::from_millis(1));
///         }
///     })
/// };
///
/// for p in people {
///     p.join().unwrap();
/// }
/// janitor.join().unwrap();
/// assert_eq!(restroom.count(), 0);
/// assert!(!occupied.is_locked()); // the last one out turned the light off
/// ```
#[derive(Clone)]
pub struct LightSwitch {
    src: Src,
}

/// Where it lives: here, or on a far side it forwards to (see `foreign`).
#[derive(Clone)]
enum Src {
    Local(Arc<SwitchInner>),
    Far(Arc<dyn Foreign>),
}

impl fmt::Debug for LightSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LightSwitch")
            .field("count", &self.count())
            .finish_non_exhaustive()
    }
}

impl LightSwitch {
    /// A switch over `lock` (a plain `Lock<()>`, shared with whoever must
    /// exclude the switch's holders).
    ///
    /// ```
    /// let lock = lox::Lock::new(());
    /// let switch = lox::LightSwitch::new(lock.clone());
    /// let a = switch.acquire();
    /// let b = switch.acquire();
    /// assert!(lock.is_locked());
    /// drop(a);
    /// assert!(lock.is_locked());
    /// drop(b);
    /// assert!(!lock.is_locked());
    /// ```
    pub fn new(lock: Lock) -> Self {
        LightSwitch {
            src: Src::Local(Arc::new(SwitchInner {
                lock,
                turnstile: Lock::new(()),
                state: parking_lot::Mutex::new(SwitchState {
                    count: 0,
                    held: None,
                }),
            })),
        }
    }

    /// A switch that forwards to `far` (see `foreign`).
    pub(crate) fn foreign(far: Arc<dyn Foreign>) -> Self {
        LightSwitch { src: Src::Far(far) }
    }

    /// The far side, if this switch forwards to one.
    pub(crate) fn far(&self) -> Option<Arc<dyn Foreign>> {
        match &self.src {
            Src::Far(far) => Some(far.clone()),
            Src::Local(_) => None,
        }
    }

    /// Names it in the registry.
    pub(crate) fn addr(&self) -> usize {
        match &self.src {
            Src::Local(inner) => Arc::as_ptr(inner) as usize,
            Src::Far(far) => Arc::as_ptr(far) as *const () as usize,
        }
    }

    /// Nothing but this handle refers to it (its guards hold one too).
    pub(crate) fn unused(&self) -> bool {
        match &self.src {
            Src::Local(inner) => Arc::strong_count(inner) == 1,
            Src::Far(_) => false,
        }
    }

    /// Enter through the far side (`wait` bounds the wait there).
    fn far_acquire(far: &Arc<dyn Foreign>, wait: Wait) -> Option<LightSwitchGuard> {
        far.acquire(Access::Shared, wait)?;
        Some(LightSwitchGuard {
            src: Src::Far(far.clone()),
        })
    }

    /// Enter: the first one in blocks until it has acquired the lock; later
    /// ones enter at once while anyone is inside.
    ///
    /// ```
    /// let switch = lox::LightSwitch::new(lox::Lock::new(()));
    /// let g = switch.acquire();
    /// assert_eq!(switch.count(), 1);
    /// drop(g);
    /// assert_eq!(switch.count(), 0);
    /// ```
    pub fn acquire(&self) -> LightSwitchGuard {
        let inner = match &self.src {
            Src::Local(inner) => inner,
            Src::Far(far) => {
                return Self::far_acquire(far, Wait::Forever)
                    .expect("lox: an acquire without deadline was refused")
            }
        };
        match inner.acquire_until(None) {
            Ok(g) => g,
            Err(Timeout) => unreachable!("lox: an acquire without deadline timed out"),
        }
    }

    /// Like [`acquire`](Self::acquire), but gives up with [`Timeout`] after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = lox::Lock::new(());
    /// let switch = lox::LightSwitch::new(lock.clone());
    /// let janitor = lock.acquire();
    /// assert!(switch.acquire_timeout(Duration::from_millis(5)).is_err());
    /// drop(janitor);
    /// assert!(switch.acquire_timeout(Duration::from_secs(5)).is_ok());
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LightSwitchGuard, Timeout> {
        let inner = match &self.src {
            Src::Local(inner) => inner,
            Src::Far(far) => return Self::far_acquire(far, Wait::at_most(timeout)).ok_or(Timeout),
        };
        match deadline(timeout) {
            Some(d) => inner.acquire_until(Some(d)),
            None => Ok(self.acquire()),
        }
    }

    /// Enter without blocking, if possible.
    ///
    /// ```
    /// let lock = lox::Lock::new(());
    /// let switch = lox::LightSwitch::new(lock.clone());
    /// let held = lock.acquire();
    /// assert!(switch.try_acquire().is_none());
    /// drop(held);
    /// let g = switch.try_acquire().unwrap();
    /// assert!(switch.try_acquire().is_some()); // the light is on: enter freely
    /// drop(g);
    /// ```
    pub fn try_acquire(&self) -> Option<LightSwitchGuard> {
        let inner = match &self.src {
            Src::Local(inner) => inner,
            Src::Far(far) => return Self::far_acquire(far, Wait::Try),
        };
        if let Some(g) = inner.enter_if_on() {
            return Some(g);
        }
        let _turn = inner.turnstile.try_acquire()?;
        if let Some(g) = inner.enter_if_on() {
            return Some(g);
        }
        let held = inner.lock.try_acquire()?;
        Some(inner.enter_first(held))
    }

    /// Async twin of [`acquire`](Self::acquire); never blocks the executor.
    ///
    /// ```
    /// let switch = lox::LightSwitch::new(lox::Lock::new(()));
    /// let n = futures::executor::block_on(async {
    ///     let _a = switch.acquire_async().await;
    ///     let _b = switch.acquire_async().await;
    ///     switch.count()
    /// });
    /// assert_eq!(n, 2);
    /// ```
    pub fn acquire_async(&self) -> impl Future<Output = LightSwitchGuard> + Send + 'static {
        let inner = match &self.src {
            Src::Local(inner) => inner.clone(),
            Src::Far(far) => {
                let (far, fut) = (far.clone(), far.acquire_async(Access::Shared));
                return Either::Right(async move {
                    fut.await;
                    LightSwitchGuard { src: Src::Far(far) }
                });
            }
        };
        Either::Left(async move {
            if let Some(g) = inner.enter_if_on() {
                return g;
            }
            let _turn = inner.turnstile.acquire_async().await;
            if let Some(g) = inner.enter_if_on() {
                return g;
            }
            let held = inner.lock.acquire_async().await;
            inner.enter_first(held)
        })
    }

    /// Holders inside right now.
    ///
    /// ```
    /// let switch = lox::LightSwitch::new(lox::Lock::new(()));
    /// assert_eq!(switch.count(), 0);
    /// let _g = switch.acquire();
    /// assert_eq!(switch.count(), 1);
    /// ```
    pub fn count(&self) -> usize {
        match &self.src {
            Src::Local(inner) => inner.state.lock().count,
            Src::Far(far) => far.query(Query::Count),
        }
    }
}

/// One holder inside a [`LightSwitch`]; the last one dropped releases the
/// lock. `Send + 'static`.
///
/// ```
/// let lock = lox::Lock::new(());
/// let switch = lox::LightSwitch::new(lock.clone());
/// let g = switch.acquire();
/// std::thread::spawn(move || drop(g)).join().unwrap();
/// assert!(!lock.is_locked());
/// ```
pub struct LightSwitchGuard {
    src: Src,
}

impl Drop for LightSwitchGuard {
    fn drop(&mut self) {
        let inner = match &self.src {
            Src::Local(inner) => inner,
            Src::Far(far) => return far.release(Access::Shared, 0),
        };
        let held = {
            let mut s = inner.state.lock();
            s.count -= 1;
            if s.count == 0 {
                s.held.take()
            } else {
                None
            }
        };
        drop(held); // the last one out releases the lock
    }
}

impl fmt::Debug for LightSwitchGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LightSwitchGuard").finish_non_exhaustive()
    }
}
