//! `max_pending`: a bounded mailbox. `scatter` waits while the bound's worth
//! of jobs wait for a worker. Waits are woken when outcomes are reported (a
//! worker that reports has moved on to the next job); a blocking wait also
//! looks again every millisecond, since a job's start is not signalled.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use super::collector::{Collector, Ticket};
use super::pool::{Backend, Core};

/// Wakes a thread parked in [`block_until`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Block the calling thread until `ready()` holds.
pub(crate) fn block_until<R: Send + 'static>(collector: &Collector<R>, ready: impl Fn() -> bool) {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    loop {
        // Registered before looking: a report after the look unparks us.
        collector.wakers().register(&waker);
        if ready() {
            return;
        }
        std::thread::park_timeout(Duration::from_millis(1));
    }
}

/// `scatter_async`: resolves to the job's ticket once the mailbox has room.
pub(crate) struct ScatterAsync<'a, A: Send + 'static, R: Send + 'static, B> {
    pub(crate) core: &'a Core<A, R, B>,
    pub(crate) args: Option<A>,
}

// Nothing is pinned through the future: `args` is moved out by value.
impl<A: Send + 'static, R: Send + 'static, B> Unpin for ScatterAsync<'_, A, R, B> {}

impl<A: Send + 'static, R: Send + 'static, B: Backend<A, R>> Future for ScatterAsync<'_, A, R, B> {
    type Output = Ticket;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ticket> {
        let this = self.get_mut();
        this.core.collector.wakers().register(cx.waker());
        if !this.core.has_room() {
            return Poll::Pending;
        }
        let args = this
            .args
            .take()
            .expect("lox: scatter_async polled after it resolved");
        Poll::Ready(this.core.scatter_now(args))
    }
}
