//! The handle of a lock whose guards hold no reference count (`Lock`,
//! `RWLock`): the orphan scheme, in one place.
//!
//! Handles own the allocation through an `Arc`; guards only point into it, so
//! an uncontended acquire+release touches no reference count. When the last
//! handle goes while a guard is inside, it marks the broker orphaned and
//! leaves its reference to the guards; the last guard out frees the
//! allocation with [`free_orphan`].

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

/// A broker that can be orphaned.
pub(crate) trait Orphan {
    /// If a guard is inside, mark the broker orphaned and return true: the
    /// caller's reference then belongs to the last guard out.
    fn orphan(&self) -> bool;
}

/// A cheap `Clone` handle owning one reference to the broker and its value.
pub(crate) struct Handle<I: Orphan>(ManuallyDrop<Arc<I>>);

impl<I: Orphan> Handle<I> {
    pub(crate) fn new(inner: I) -> Self {
        Handle(ManuallyDrop::new(Arc::new(inner)))
    }

    /// Handles alive (and pending async acquires, which hold one).
    pub(crate) fn count(&self) -> usize {
        Arc::strong_count(&self.0)
    }

    /// Where a guard points: valid while the guard is inside (see `Drop`).
    pub(crate) fn ptr(&self) -> NonNull<I> {
        NonNull::from(&**self.0)
    }
}

impl<I: Orphan> Deref for Handle<I> {
    type Target = I;
    fn deref(&self) -> &I {
        &self.0
    }
}

impl<I: Orphan> Clone for Handle<I> {
    fn clone(&self) -> Self {
        Handle(ManuallyDrop::new(Arc::clone(&self.0)))
    }
}

impl<I: Orphan> Drop for Handle<I> {
    fn drop(&mut self) {
        // Only handles (and pending async acquires, which hold a handle) own
        // references, so a count of one cannot grow under our feet.
        if Arc::strong_count(&self.0) == 1 {
            // Pairs with the release decrement of the other handles, so we see
            // every acquire they made before letting go.
            fence(Ordering::Acquire);
            if self.0.orphan() {
                // A guard is inside: it now owns our reference and frees the
                // allocation on its release (`free_orphan`).
                return;
            }
        }
        // SAFETY: the `Arc` is dropped exactly once, here, and not used after.
        unsafe { ManuallyDrop::drop(&mut self.0) }
    }
}

/// Free an orphaned broker: called by the last guard out, once its release
/// reported that the broker was orphaned.
///
/// # Safety
///
/// `ptr` came from [`Handle::ptr`], the broker was orphaned, the caller was
/// the last guard inside, and it calls this once.
pub(crate) unsafe fn free_orphan<I>(ptr: NonNull<I>) {
    // SAFETY: by the contract, the last handle left its `Arc` reference to
    // the caller, and nobody else can reach the allocation any more.
    unsafe { drop(Arc::from_raw(ptr.as_ptr())) }
}
