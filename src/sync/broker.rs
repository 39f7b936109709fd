//! The waiting-queue machinery shared by every lock broker.
//!
//! A **broker** is the single owner of a primitive's state: who holds it, the
//! FIFO of **waiters**, and the rules for handing it on. It processes requests
//! one at a time under its lock (a mutex): *request* (grant now, or queue a
//! waiter), *release* (hand the freed grant to the first waiter that can take
//! it), and *cancel* (a waiter that timed out or whose future was dropped
//! leaves the queue; if it had been granted in the meantime, the grant is
//! returned to the caller, who releases it on).
//!
//! A **grant** is recorded in the queue under the waiter's id and the waiter is
//! woken (thread unpark or task `Waker`); the waiter collects it under the
//! lock. Because a waiter either collects its grant or cancels under the
//! same lock, a grant is never lost on a waiter that has gone. The
//! barging brokers ([`Lock`](crate::Lock)'s and [`RWLock`](crate::RWLock)'s)
//! mostly wake waiters without granting: the waiter then competes with
//! newcomers (see `slots` and `rw` for the details of each policy).
//!
//! The uncontended case never touches the lock: each broker keeps an atomic
//! state word with a `SLOW` bit that is set whenever waiters are queued. While
//! `SLOW` is clear, acquire and release are a single compare-and-swap; while it
//! is set, only the lock holder writes the word.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use futures::future::BoxFuture;

use super::foreign::{Access, Foreign, Wait};
use super::platform::Platform;
use crate::Timeout;

/// Set in a broker's state word while waiters are queued (or the state lives
/// in the lock); the fast paths then stand aside.
pub(crate) const SLOW: u64 = 1 << 63;

/// Identifies one waiter in a broker's queue.
pub(crate) type WaiterId = u64;

/// How to wake a waiter once it has been granted.
pub(crate) enum Wake<P: Platform> {
    /// A thread parked in a blocking acquire.
    Thread(P::Thread),
    /// An async acquire.
    Task(Waker),
}

impl<P: Platform> Clone for Wake<P> {
    fn clone(&self) -> Self {
        match self {
            Wake::Thread(t) => Wake::Thread(t.clone()),
            Wake::Task(w) => Wake::Task(w.clone()),
        }
    }
}

impl<P: Platform> Wake<P> {
    pub(crate) fn wake(self) {
        match self {
            Wake::Thread(t) => P::unpark(&t),
            Wake::Task(w) => w.wake(),
        }
    }
}

struct Waiter<P: Platform> {
    id: WaiterId,
    wake: Wake<P>,
}

/// The FIFO of waiters and the grants not yet collected.
pub(crate) struct Queue<P: Platform, G> {
    waiters: VecDeque<Waiter<P>>,
    grants: Vec<(WaiterId, G)>,
    next_id: WaiterId,
}

impl<P: Platform, G: Copy> Queue<P, G> {
    pub(crate) fn new() -> Self {
        Queue {
            waiters: VecDeque::new(),
            grants: Vec::new(),
            next_id: 0,
        }
    }

    /// Waiters still queued (granted ones not counted).
    pub(crate) fn len(&self) -> usize {
        self.waiters.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Grants recorded but not yet collected (for invariant checks).
    #[cfg(test)]
    pub(crate) fn pending_grants(&self) -> usize {
        self.grants.len()
    }

    /// Queue a new waiter at the back.
    pub(crate) fn push(&mut self, wake: Wake<P>) -> WaiterId {
        let id = self.next_id;
        self.next_id += 1;
        self.waiters.push_back(Waiter { id, wake });
        id
    }

    /// Grant `g` to the first waiter: record it and return how to wake it
    /// (the caller wakes it after leaving the lock).
    pub(crate) fn grant_front(&mut self, g: G) -> Option<Wake<P>> {
        let w = self.waiters.pop_front()?;
        self.grants.push((w.id, g));
        Some(w.wake)
    }

    /// Collect the grant of waiter `id`, if it has one.
    pub(crate) fn take_grant(&mut self, id: WaiterId) -> Option<G> {
        let pos = self.grants.iter().position(|(i, _)| *i == id)?;
        Some(self.grants.swap_remove(pos).1)
    }

    /// Remove waiter `id` from the queue (it gave up).
    pub(crate) fn remove(&mut self, id: WaiterId) -> bool {
        match self.waiters.iter().position(|w| w.id == id) {
            Some(pos) => {
                self.waiters.remove(pos);
                true
            }
            None => false,
        }
    }

    /// Replace the waker of a queued async waiter.
    pub(crate) fn set_waker(&mut self, id: WaiterId, waker: &Waker) {
        if let Some(w) = self.waiters.iter_mut().find(|w| w.id == id) {
            match &w.wake {
                Wake::Task(old) if old.will_wake(waker) => {}
                _ => w.wake = Wake::Task(waker.clone()),
            }
        }
    }

    /// Collect waiter `id`'s grant, or refresh its waker.
    pub(crate) fn poll_grant(&mut self, id: WaiterId, waker: &Waker) -> Option<G> {
        let g = self.take_grant(id);
        if g.is_none() {
            self.set_waker(id, waker);
        }
        g
    }
}

/// What a waiter finds when it looks for its grant.
pub(crate) enum Collect<G> {
    /// Not granted yet; still queued.
    Pending,
    /// Granted: the waiter now holds `G`.
    Granted(G),
    /// Woken to compete again (barging policy); no longer queued.
    Retry,
}

/// Operations every broker answers. `Req` says what is asked for (e.g. read
/// or write), `Grant` what was handed out (e.g. an index).
pub(crate) trait Broker: Send + Sync + 'static {
    type P: Platform;
    type Req: Copy + Send + Unpin;
    type Grant: Copy + Send + Unpin;
    /// Whether a blocking acquire, after spinning and before queueing,
    /// yields its thread `Platform::YIELDS` times, retrying in between.
    const YIELDS: bool = false;

    /// The uncontended case, inlined into callers: one CAS from the exact
    /// state of a free primitive. May fail where [`try_enter`](Self::try_enter)
    /// succeeds (and always fails on a foreign broker).
    fn try_fast(&self, req: Self::Req) -> Option<Self::Grant>;
    /// Grant by CAS on the state word if the policy allows it now (the
    /// general fast path, what spinning retries); never the lock.
    fn try_enter(&self, req: Self::Req) -> Option<Self::Grant>;
    /// Grant now if possible without jumping the queue; never queues.
    fn try_slow(&self, req: Self::Req) -> Option<Self::Grant> {
        self.try_enter(req)
    }
    /// Grant now, or queue a waiter woken through `wake`.
    fn request(&self, req: Self::Req, wake: Wake<Self::P>) -> Result<Self::Grant, WaiterId>;
    /// Collect waiter `id`'s grant; for async waiters, refresh the waker.
    fn collect(&self, id: WaiterId, waker: Option<&Waker>) -> Collect<Self::Grant>;
    /// Waiter `id` gives up. `Some(grant)` if it had been granted meanwhile:
    /// the caller now holds that grant.
    fn cancel(&self, id: WaiterId) -> Option<Self::Grant>;
    /// Give a grant back; the broker hands it on to waiters. `true` when the
    /// broker had been orphaned (see `orphan`) and this release let the last
    /// holder out: the caller must then free the broker's owner.
    fn release(&self, grant: Self::Grant) -> bool;
    /// The far side, if this broker forwards to one (see `foreign`).
    fn foreign(&self) -> Option<Arc<dyn Foreign>>;
    /// What `req` asks of a foreign broker.
    fn access(req: Self::Req) -> Access;
    /// A foreign grant of `req` (its `index`) is now held here: count it and
    /// return the grant a guard gives back.
    fn enter_foreign(&self, req: Self::Req, index: usize) -> Self::Grant;
}

/// Non-blocking acquire.
#[inline]
pub(crate) fn try_acquire<B: Broker>(b: &B, req: B::Req) -> Option<B::Grant> {
    b.try_fast(req).or_else(|| try_acquire_slow(b, req))
}

#[cold]
fn try_acquire_slow<B: Broker>(b: &B, req: B::Req) -> Option<B::Grant> {
    match b.foreign() {
        Some(far) => {
            let index = far.acquire(B::access(req), Wait::Try)?;
            Some(b.enter_foreign(req, index))
        }
        None => b.try_enter(req).or_else(|| b.try_slow(req)),
    }
}

/// Blocking acquire; with a deadline, `Err(Timeout)` once it passes (the
/// waiter is then removed from the queue).
#[inline]
pub(crate) fn acquire<B: Broker>(
    b: &B,
    req: B::Req,
    deadline: Option<Instant>,
) -> Result<B::Grant, Timeout> {
    if let Some(g) = b.try_fast(req) {
        return Ok(g);
    }
    acquire_slow(b, req, deadline)
}

#[cold]
fn acquire_slow<B: Broker>(
    b: &B,
    req: B::Req,
    deadline: Option<Instant>,
) -> Result<B::Grant, Timeout> {
    if let Some(far) = b.foreign() {
        let index = far
            .acquire(B::access(req), Wait::until(deadline))
            .ok_or(Timeout)?;
        return Ok(b.enter_foreign(req, index));
    }
    if let Some(g) = b.try_enter(req) {
        return Ok(g);
    }
    // A holder usually lets go within a few hundred cycles: try again
    // briefly before queueing and parking.
    for _ in 0..<B::P as Platform>::SPINS {
        std::hint::spin_loop();
        if let Some(g) = b.try_enter(req) {
            return Ok(g);
        }
    }
    let yields = if B::YIELDS {
        <B::P as Platform>::YIELDS
    } else {
        0
    };
    for _ in 0..yields {
        <B::P as Platform>::yield_now();
        if let Some(g) = b.try_enter(req) {
            return Ok(g);
        }
    }
    loop {
        let id = match b.request(req, Wake::Thread(<B::P as Platform>::current())) {
            Ok(g) => return Ok(g),
            Err(id) => id,
        };
        loop {
            match b.collect(id, None) {
                Collect::Granted(g) => return Ok(g),
                Collect::Retry => match b.try_enter(req) {
                    Some(g) => return Ok(g),
                    None => break, // lost the race: queue again
                },
                Collect::Pending => {}
            }
            match deadline {
                None => <B::P as Platform>::park(),
                Some(d) => {
                    if <B::P as Platform>::park_until(d) {
                        // Gave up; a grant that raced with the timeout is kept.
                        return b.cancel(id).ok_or(Timeout);
                    }
                }
            }
        }
    }
}

/// Async acquire of `req` on the broker that `get` finds in `handle`.
/// Resolves to the handle and the grant; dropping it before then cancels the
/// request (a grant that raced with the drop is released on).
pub(crate) struct Acquire<H: Send + Sync + 'static, B: Broker> {
    handle: Option<H>,
    get: fn(&H) -> &B,
    req: B::Req,
    waiter: Option<WaiterId>,
    /// A foreign broker's grant, once asked for (dropping it withdraws).
    far: Option<BoxFuture<'static, usize>>,
}

impl<H: Send + Sync + 'static, B: Broker> Acquire<H, B> {
    pub(crate) fn new(handle: H, get: fn(&H) -> &B, req: B::Req) -> Self {
        Acquire {
            handle: Some(handle),
            get,
            req,
            waiter: None,
            far: None,
        }
    }
}

// The future is never structurally pinned: it holds a handle and plain data.
impl<H: Send + Sync + 'static, B: Broker> Unpin for Acquire<H, B> {}

impl<H: Send + Sync + 'static, B: Broker> Future for Acquire<H, B> {
    type Output = (H, B::Grant);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let handle = this
            .handle
            .as_ref()
            .expect("lox: acquire future polled after completion");
        let broker = (this.get)(handle);
        let granted = if this.far.is_none() && this.waiter.is_none() {
            match broker.try_fast(this.req) {
                Some(g) => Some(g),
                None => {
                    this.far = broker
                        .foreign()
                        .map(|f| f.acquire_async(B::access(this.req)));
                    None
                }
            }
        } else {
            None
        };
        let granted = match (granted, this.far.as_mut()) {
            (Some(g), _) => Some(g),
            (None, Some(far)) => {
                let index = std::task::ready!(far.as_mut().poll(cx));
                this.far = None;
                Some(broker.enter_foreign(this.req, index))
            }
            (None, None) => poll_local(broker, this.req, &mut this.waiter, cx),
        };
        match granted {
            Some(g) => {
                this.waiter = None;
                let handle = this.handle.take().expect("checked above");
                Poll::Ready((handle, g))
            }
            None => Poll::Pending,
        }
    }
}

/// An async acquire of a local broker: enter, or queue (or stay queued as
/// `waiter`) with the task's waker.
fn poll_local<B: Broker>(
    broker: &B,
    req: B::Req,
    waiter: &mut Option<WaiterId>,
    cx: &mut Context<'_>,
) -> Option<B::Grant> {
    loop {
        match *waiter {
            None => match broker.try_enter(req) {
                Some(g) => return Some(g),
                None => match broker.request(req, Wake::Task(cx.waker().clone())) {
                    Ok(g) => return Some(g),
                    Err(id) => {
                        *waiter = Some(id);
                        return None;
                    }
                },
            },
            Some(id) => match broker.collect(id, Some(cx.waker())) {
                Collect::Granted(g) => return Some(g),
                Collect::Pending => return None,
                // Woken to compete again: go round (fast path, then queue).
                Collect::Retry => *waiter = None,
            },
        }
    }
}

impl<H: Send + Sync + 'static, B: Broker> Drop for Acquire<H, B> {
    fn drop(&mut self) {
        if let (Some(id), Some(handle)) = (self.waiter, self.handle.as_ref()) {
            let broker = (self.get)(handle);
            if let Some(g) = broker.cancel(id) {
                // We still hold a handle, so the broker cannot be orphaned.
                let orphaned = broker.release(g);
                debug_assert!(!orphaned);
            }
        }
    }
}
