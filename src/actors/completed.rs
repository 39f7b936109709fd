//! Streaming gather: outcomes in completion order, as `(seq, outcome)`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::collector::{Collector, Cut};
use crate::error::TaskError;

/// Iterator over the outcomes of every job scattered before it was made, in
/// the order the jobs finish. Returned by [`Pool::gather_iter`](crate::Pool::gather_iter).
///
/// Each item is `(seq, outcome)`, where `seq` is the job's sequence number (the
/// index `gather` would have put it at). Dropping the iterator early discards
/// the outcomes it has not yielded (the jobs still run).
///
/// ```
/// let pool = lox::thread(4, |x: u64| x * x);
/// for i in 0..8 { pool.scatter(i); }
/// let mut seen: Vec<(usize, u64)> = pool.gather_iter().map(|(seq, r)| (seq, r.unwrap())).collect();
/// seen.sort();
/// assert_eq!(seen, (0..8).map(|i| (i as usize, i * i)).collect::<Vec<_>>());
/// ```
pub struct Completed<R: Send + 'static> {
    collector: Arc<Collector<R>>,
    cut: Cut,
    delivered: usize,
    closed: bool,
}

impl<R: Send + 'static> Completed<R> {
    /// Stream the jobs of `cut`.
    pub(crate) fn new(collector: Arc<Collector<R>>, cut: Cut) -> Self {
        Completed {
            collector,
            cut,
            delivered: 0,
            closed: false,
        }
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.collector.close_stream(self.cut, self.delivered);
        }
    }
}

impl<R: Send + 'static> Iterator for Completed<R> {
    type Item = (usize, Result<R, TaskError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.delivered >= self.cut.len() {
            self.close();
            return None;
        }
        let cut = self.cut;
        let item = self.collector.wait_for(|st| st.pop_oldest(cut));
        self.delivered += 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.cut.len() - self.delivered;
        (left, Some(left))
    }
}

impl<R: Send + 'static> ExactSizeIterator for Completed<R> {}

impl<R: Send + 'static> Drop for Completed<R> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<R: Send + 'static> std::fmt::Debug for Completed<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completed")
            .field("jobs", &self.cut.len())
            .field("delivered", &self.delivered)
            .finish()
    }
}

/// [`Completed`] as a `futures::Stream`, for async callers: the task is
/// woken as outcomes arrive, no thread waits for it. Returned by
/// [`Pool::gather_stream`](crate::Pool::gather_stream).
///
/// ```
/// use futures::StreamExt;
/// let pool = lox::thread(2, |x: u32| x * 3);
/// pool.scatter(2);
/// let got: Vec<_> = futures::executor::block_on(pool.gather_stream().collect());
/// assert_eq!(got, vec![(0, Ok(6))]);
/// ```
#[derive(Debug)]
pub struct CompletedStream<R: Send + 'static>(Completed<R>);

impl<R: Send + 'static> From<Completed<R>> for CompletedStream<R> {
    fn from(it: Completed<R>) -> Self {
        CompletedStream(it)
    }
}

impl<R: Send + 'static> futures::Stream for CompletedStream<R> {
    type Item = (usize, Result<R, TaskError>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let it = &mut self.get_mut().0;
        if it.delivered >= it.cut.len() {
            it.close();
            return Poll::Ready(None);
        }
        let cut = it.cut;
        let item = ready!(it.collector.poll_for(cx, |st| st.pop_oldest(cut)));
        it.delivered += 1;
        Poll::Ready(Some(item))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}
