//! Async waits on a collector: wakers, woken where the collector's condvar is
//! notified and when a worker reports. No thread waits on their behalf.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use parking_lot::Mutex;

use super::collector::{Bucket, Collector, Cut};

/// The wakers of the async waits on one collector.
#[derive(Default)]
pub(crate) struct Wakers {
    /// Some waker is registered: a reporting worker must wake them.
    armed: AtomicBool,
    list: Mutex<Vec<Waker>>,
}

impl Wakers {
    /// Register `waker` before looking for outcomes. The fence pairs with
    /// the one in [`notify`](Wakers::notify): either the look that follows
    /// sees a report, or the reporter sees this waker.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut list = self.list.lock();
        if !list.iter().any(|w| w.will_wake(waker)) {
            list.push(waker.clone());
        }
        self.armed.store(true, Ordering::Relaxed);
        drop(list);
        fence(Ordering::SeqCst);
    }

    /// Outcomes were reported or moved: every registered wait looks again
    /// (one load when there is none).
    #[inline]
    pub(crate) fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.armed.load(Ordering::Relaxed) {
            let mut list = self.list.lock();
            self.armed.store(false, Ordering::Relaxed);
            std::mem::take(&mut *list).into_iter().for_each(Waker::wake);
        }
    }
}

/// Resolves to the bucket of `cut` once every one of its jobs has an
/// outcome. Dropped early, its outcomes are discarded as they come.
pub(crate) struct AllDone<R: Send + 'static> {
    collector: Arc<Collector<R>>,
    /// `None` once resolved.
    cut: Option<Cut>,
}

impl<R: Send + 'static> AllDone<R> {
    pub(crate) fn new(collector: Arc<Collector<R>>, cut: Cut) -> Self {
        let cut = Some(cut);
        AllDone { collector, cut }
    }
}

impl<R: Send + 'static> Future for AllDone<R> {
    type Output = Bucket<R>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Bucket<R>> {
        let cut = self.cut.expect("lox: AllDone polled after it resolved");
        let bucket = ready!(self.collector.poll_for(cx, |st| st.take_done(cut)));
        self.cut = None;
        Poll::Ready(bucket)
    }
}

impl<R: Send + 'static> Drop for AllDone<R> {
    fn drop(&mut self) {
        if let Some(cut) = self.cut {
            self.collector.close_stream(cut, 0);
        }
    }
}
