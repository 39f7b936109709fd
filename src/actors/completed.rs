//! Streaming gather: outcomes in completion order, as `(seq, outcome)`.

use std::sync::Arc;

use super::collector::{Collector, Cut};
use crate::error::TaskError;

/// Iterator over the outcomes of every job scattered before it was made, in
/// the order the jobs finish. Returned by [`Thread::gather_iter`](crate::Thread::gather_iter).
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
    pub(crate) fn new(collector: Arc<Collector<R>>) -> Self {
        let cut = collector.cut();
        Completed { collector, cut, delivered: 0, closed: false }
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
        let item = self.collector.next_completed(self.cut);
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

/// Turn a `Completed` into a `Stream` for async callers: a helper thread walks
/// the iterator and forwards each item; dropping the stream stops it.
pub(crate) fn into_stream<R: Send + 'static>(
    mut it: Completed<R>,
) -> futures::channel::mpsc::UnboundedReceiver<(usize, Result<R, TaskError>)> {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    if it.len() == 0 {
        return rx; // tx dropped: the stream ends at once
    }
    std::thread::Builder::new()
        .name("lox-gather-stream".into())
        .spawn(move || {
            for item in it.by_ref() {
                if tx.unbounded_send(item).is_err() {
                    break;
                }
            }
        })
        .expect("lox: could not spawn a helper thread");
    rx
}
