//! `results()`: an open-ended stream of the outcomes of every job scattered
//! through the pool from the call on, in completion order, until the pool's
//! last handle is dropped. It takes the shared scatter lane: while it lives,
//! scattered jobs are numbered in a private lane of the collector that only
//! it reads, and gathers take none of them.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::collector::{Collector, State};
use crate::error::TaskError;

/// Outcomes of every job scattered from its creation on, as `(seq, outcome)`
/// in completion order, until the pool's last handle is dropped (handles,
/// batches, maps and Supervisor addresses). Returned by
/// [`Pool::results`](crate::Pool::results); an `Iterator`, and a `Stream`
/// through [`Pool::results_stream`](crate::Pool::results_stream).
///
/// `seq` is the scattered job's [`Ticket::seq`](crate::Ticket::seq).
/// Dropping it gives the scatter lane back to gathers; outcomes it had not
/// yielded are dropped.
///
/// ```
/// let pool = lox::thread(2, |x: u32| x * 2);
/// let results = pool.results();
/// let producer = std::thread::spawn(move || {
///     for i in 0..5 { pool.scatter(i); }
///     // the pool's last handle drops here: `results` ends after these 5
/// });
/// let mut got: Vec<u32> = results.map(|(_, r)| r.unwrap()).collect();
/// producer.join().unwrap();
/// got.sort();
/// assert_eq!(got, vec![0, 2, 4, 6, 8]);
/// ```
pub struct Results<R: Send + 'static> {
    collector: Arc<Collector<R>>,
    lane: u32,
    buf: std::collections::VecDeque<(u32, Result<R, TaskError>)>,
    scratch: Vec<(u32, Result<R, TaskError>)>,
    ended: bool,
}

impl<R: Send + 'static> Results<R> {
    pub(crate) fn new(collector: Arc<Collector<R>>) -> Self {
        let lane = collector.take_shared_lane();
        Results {
            collector,
            lane,
            buf: Default::default(),
            scratch: Vec::new(),
            ended: false,
        }
    }

    /// Move what arrived; `Some(true)`: something to yield, `Some(false)`:
    /// the pool is gone and every job it numbered has reported.
    fn look(&mut self, st: &mut State<R>, numbered: &dyn Fn() -> usize) -> Option<bool> {
        st.drain_lane(self.lane, &mut self.scratch);
        if !self.scratch.is_empty() {
            self.buf.extend(self.scratch.drain(..));
            return Some(true);
        }
        let done = st.is_closed() && st.lane_received(self.lane) == Some(numbered());
        done.then_some(false)
    }

    fn take(&mut self) -> Option<(usize, Result<R, TaskError>)> {
        self.buf.pop_front().map(|(rel, o)| (rel as usize, o))
    }
}

impl<R: Send + 'static> Iterator for Results<R> {
    type Item = (usize, Result<R, TaskError>);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.take() {
            return Some(item);
        }
        if self.ended {
            return None;
        }
        let collector = self.collector.clone();
        let numbered = || collector.numbered();
        if !collector.wait_for(|st| self.look(st, &numbered)) {
            self.ended = true;
        }
        self.take()
    }
}

/// [`Results`] as a `futures::Stream`, for async callers: no thread waits
/// for it. Returned by [`Pool::results_stream`](crate::Pool::results_stream).
///
/// ```
/// use futures::StreamExt;
/// let pool = lox::thread(2, |x: u32| x + 1);
/// let stream = pool.results_stream();
/// pool.scatter(41);
/// drop(pool); // the last handle: the stream ends after that job
/// let got: Vec<_> = futures::executor::block_on(stream.collect());
/// assert_eq!(got, vec![(0, Ok(42))]);
/// ```
#[derive(Debug)]
pub struct ResultsStream<R: Send + 'static>(Results<R>);

impl<R: Send + 'static> From<Results<R>> for ResultsStream<R> {
    fn from(results: Results<R>) -> Self {
        ResultsStream(results)
    }
}

// Nothing is pinned through the stream: outcomes are moved by value.
impl<R: Send + 'static> Unpin for ResultsStream<R> {}

impl<R: Send + 'static> futures::Stream for ResultsStream<R> {
    type Item = (usize, Result<R, TaskError>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut self.get_mut().0;
        if let Some(item) = this.take() {
            return Poll::Ready(Some(item));
        }
        if this.ended {
            return Poll::Ready(None);
        }
        let collector = this.collector.clone();
        let numbered = || collector.numbered();
        if !std::task::ready!(collector.poll_for(cx, |st| this.look(st, &numbered))) {
            this.ended = true;
        }
        Poll::Ready(this.take())
    }
}

impl<R: Send + 'static> Drop for Results<R> {
    fn drop(&mut self) {
        self.collector.give_back_shared_lane();
    }
}

impl<R: Send + 'static> std::fmt::Debug for Results<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Results")
            .field("ready", &self.buf.len())
            .finish_non_exhaustive()
    }
}
