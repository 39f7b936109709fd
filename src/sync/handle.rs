//! The handle of a lock whose guards hold no reference count (`Lock`,
//! `RWLock`): the orphan scheme, in one place.
//!
//! Handles share one allocation ([`Shared`]) and count themselves in it;
//! guards ([`Held`]) only point into it, so an uncontended acquire+release
//! touches no reference count. The one atomic step that takes the handle
//! count from 1 to 0 decides what happens to the allocation: freed at once if
//! nobody is inside, else the broker is marked orphaned and the last guard out
//! frees it ([`Held::release`]). Deciding from a separate read of the count
//! (as an earlier version did with `Arc::strong_count`) lets two handles
//! dropped at once both see a count of 2, neither orphan, and the second
//! decrement free the allocation under a guard: the shuttle models in
//! `sync::model` (`handle_*`) catch that mutant.

use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;

use super::platform::{Platform, Real, Word};

/// A broker that can be orphaned.
pub(crate) trait Orphan {
    /// If a guard is inside, mark the broker orphaned and return true: the
    /// allocation then belongs to the last guard out.
    fn orphan(&self) -> bool;
}

/// The allocation that handles share: how many handles there are, and the
/// broker with its value.
pub(crate) struct Shared<I, P: Platform = Real> {
    handles: P::Word,
    inner: I,
}

/// A cheap `Clone` handle to a broker and its value.
///
/// Invariant: `ptr` came from `Box::into_raw` in [`Handle::new`]; the
/// allocation lives while `handles > 0`, and after that while a guard is
/// inside an orphaned broker (see [`Held`]).
pub(crate) struct Handle<I: Orphan, P: Platform = Real> {
    ptr: NonNull<Shared<I, P>>,
    /// Owns (a share of) the allocation and may drop `I`.
    _owns: PhantomData<Shared<I, P>>,
}

// SAFETY: a handle gives `&I` on any thread and its last drop may drop `I`
// there, exactly like `Arc<I>`, hence the same bounds.
unsafe impl<I: Orphan + Send + Sync, P: Platform> Send for Handle<I, P> {}
// SAFETY: as above.
unsafe impl<I: Orphan + Send + Sync, P: Platform> Sync for Handle<I, P> {}

impl<I: Orphan, P: Platform> Handle<I, P> {
    pub(crate) fn new(inner: I) -> Self {
        let shared = Box::new(Shared {
            handles: P::Word::new(1),
            inner,
        });
        Handle {
            ptr: NonNull::from(Box::leak(shared)),
            _owns: PhantomData,
        }
    }

    #[inline]
    fn shared(&self) -> &Shared<I, P> {
        // SAFETY: this handle is counted in `handles`, so the allocation is
        // alive at least until its own `drop` (the type's invariant).
        unsafe { self.ptr.as_ref() }
    }

    /// Handles alive (pending async acquires hold one too).
    pub(crate) fn count(&self) -> usize {
        self.shared().handles.load() as usize
    }

    /// Where the broker lives (a stable address while any handle is alive).
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }
}

impl<I: Orphan, P: Platform> Deref for Handle<I, P> {
    type Target = I;
    #[inline]
    fn deref(&self) -> &I {
        &self.shared().inner
    }
}

impl<I: Orphan, P: Platform> Clone for Handle<I, P> {
    fn clone(&self) -> Self {
        self.shared().handles.fetch_add(1);
        Handle {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<I: Orphan, P: Platform> Drop for Handle<I, P> {
    fn drop(&mut self) {
        // Only the step that takes the count to zero may decide; it is
        // AcqRel, so it sees everything the other handles did before their
        // own decrements. With no handle left, no new guard can appear.
        if self.shared().handles.fetch_sub(1) != 1 {
            return;
        }
        if self.shared().inner.orphan() {
            // A guard is inside: the last guard out frees the allocation.
            return;
        }
        // SAFETY: the count reached zero here, so no other handle exists, and
        // nobody is inside the broker, so no guard points here.
        unsafe { free(self.ptr) }
    }
}

/// What a guard holds: a pointer to its broker, valid while it is inside.
///
/// Invariant: the holder of a `Held` holds a grant of the broker (made
/// through a live handle) and gives it back only through [`Held::release`].
/// While any grant is held, the allocation lives: a handle that takes the
/// count to zero then orphans the broker instead of freeing it.
pub(crate) struct Held<I: Orphan, P: Platform = Real> {
    ptr: NonNull<Shared<I, P>>,
    /// May free the allocation (the last guard out of an orphaned broker).
    _owns: PhantomData<Shared<I, P>>,
}

impl<I: Orphan, P: Platform> Held<I, P> {
    /// The pointer of a guard whose grant was just made through `handle`.
    ///
    /// # Safety
    ///
    /// The caller holds a grant of `handle`'s broker that nothing else will
    /// release, and gives it back only through [`Held::release`] on the
    /// returned value.
    #[inline]
    pub(crate) unsafe fn new(handle: &Handle<I, P>) -> Self {
        Held {
            ptr: handle.ptr,
            _owns: PhantomData,
        }
    }

    /// The broker and value; borrowed from the guard, so it cannot outlive
    /// the grant.
    #[inline]
    pub(crate) fn get(&self) -> &I {
        // SAFETY: by the type's invariant the grant is held while `self`
        // exists (release consumes it, in effect: see `release`'s contract),
        // and a held grant keeps the allocation alive.
        unsafe { &self.ptr.as_ref().inner }
    }

    /// Give the grant back with `release`, which returns the broker's orphan
    /// flag (true: the broker was orphaned and this was the last grant); then
    /// free the allocation if so.
    ///
    /// # Safety
    ///
    /// Called at most once per `Held` (from its guard's `drop`), with a
    /// `release` that gives back exactly this `Held`'s grant; `self` is not
    /// used afterwards.
    #[inline]
    pub(crate) unsafe fn release(&self, release: impl FnOnce(&I) -> bool) {
        if release(self.get()) {
            // SAFETY: the broker was orphaned, so no handle is left, and this
            // was the last grant, so no other guard points here; the last
            // handle left the allocation to us and nobody else frees it.
            unsafe { free(self.ptr) }
        }
    }
}

/// Free the allocation (the last handle with nobody inside, or the last
/// guard out of an orphan): out of line, off the release fast path.
///
/// # Safety
///
/// `ptr` came from [`Handle::new`] (`Box::leak`, which `Box::from_raw`
/// accepts back), and the caller is the one party entitled to free it:
/// nothing uses it afterwards.
#[cold]
#[inline(never)]
unsafe fn free<I, P: Platform>(ptr: NonNull<Shared<I, P>>) {
    // SAFETY: by the contract.
    unsafe { drop(Box::from_raw(ptr.as_ptr())) }
}
