//! `batch()`: a private scatter/gather list on a pool's workers. A batch
//! numbers its jobs in private lanes of the collector (a fresh lane per
//! gather), so its gathers take its own jobs only, in its own order.

use std::sync::Arc;

use super::collector::{Collector, Ticket};
use super::completed::{Completed, CompletedStream};
use super::numbering::{split, Numbering};
use super::pool::{outcomes, results, Front};
use super::wakers::AllDone;
use crate::error::TaskError;
use crate::progress::Progress;

/// A private batch: the pool's scatter/gather family over its own jobs only.
/// Returned by [`Pool::batch`](crate::Pool::batch).
///
/// Batches of one pool share its workers, never their results: ten threads
/// each with a batch get exactly their own results, in their own scatter
/// order, while the pool's own `gather` sees none of them. Dropping a batch
/// cancels its jobs that have not started.
///
/// ```
/// let pool = lox::thread(4, |x: u32| x * 10);
/// std::thread::scope(|s| {
///     for t in 0..3u32 {
///         let pool = &pool;
///         s.spawn(move || {
///             let batch = pool.batch();
///             for i in 0..5 { batch.scatter(t * 100 + i); }
///             assert_eq!(batch.gather(), (0..5).map(|i| (t * 100 + i) * 10).collect::<Vec<_>>());
///         });
///     }
/// });
/// assert!(pool.gather().is_empty());
/// ```
pub struct Batch<A: Send + 'static, R: Send + 'static> {
    pool: Arc<dyn Front<A, R>>,
    numbering: Numbering,
}

impl<A: Send + 'static, R: Send + 'static> Batch<A, R> {
    pub(crate) fn new(pool: Arc<dyn Front<A, R>>) -> Self {
        let lane = pool.collector().state().open_lane();
        let numbering = Numbering::starting_at(lane);
        Batch { pool, numbering }
    }

    fn collector(&self) -> &Arc<Collector<R>> {
        self.pool.collector()
    }

    /// Enqueue one job of this batch; returns its [`Ticket`] (`seq()`: its
    /// index in the next `gather` of this batch). Waits while the pool's
    /// [`max_pending`](crate::Pool::max_pending) mailbox is full.
    pub fn scatter(&self, args: A) -> Ticket {
        self.pool.wait_room();
        let key = self.numbering.next_key();
        self.pool.send(key, args);
        self.collector().ticket(key)
    }

    /// Every job of this batch scattered before the call, finished; their
    /// results in scatter order.
    ///
    /// # Panics
    ///
    /// Like [`Pool::gather`](crate::Pool::gather): after every other job of
    /// the batch finished, naming the failed job and its error.
    #[track_caller]
    pub fn gather(&self) -> Vec<R> {
        results(
            self.collector(),
            self.collector().cut_lane(&self.numbering),
            Progress::none(),
        )
    }

    /// Like [`gather`](Batch::gather), never panics: one `Result` per job.
    ///
    /// ```
    /// let pool = lox::thread(2, |x: i32| if x < 0 { panic!("negative") } else { x });
    /// let batch = pool.batch();
    /// batch.scatter(1);
    /// batch.scatter(-1);
    /// let out = batch.try_gather();
    /// assert_eq!(out[0], Ok(1));
    /// assert!(out[1].is_err());
    /// ```
    pub fn try_gather(&self) -> Vec<Result<R, TaskError>> {
        outcomes(
            self.collector(),
            self.collector().cut_lane(&self.numbering),
            Progress::none(),
        )
    }

    /// [`gather`](Batch::gather) with a progress bar, as in
    /// [`Pool::gather_with`](crate::Pool::gather_with).
    #[track_caller]
    pub fn gather_with(&self, progress: impl Into<Progress>) -> Vec<R> {
        results(
            self.collector(),
            self.collector().cut_lane(&self.numbering),
            progress.into(),
        )
    }

    /// Streaming gather of this batch: `(seq, outcome)` in completion order.
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x + 1);
    /// let batch = pool.batch();
    /// for i in 0..4 { batch.scatter(i); }
    /// let mut got: Vec<_> = batch.gather_iter().map(|(seq, r)| (seq, r.unwrap())).collect();
    /// got.sort();
    /// assert_eq!(got, vec![(0, 1), (1, 2), (2, 3), (3, 4)]);
    /// ```
    pub fn gather_iter(&self) -> Completed<R> {
        let cut = self.collector().cut_lane(&self.numbering);
        Completed::new(self.collector().clone(), cut)
    }

    /// [`gather_iter`](Batch::gather_iter) as a `futures::Stream`.
    pub fn gather_stream(&self) -> CompletedStream<R> {
        self.gather_iter().into()
    }

    /// [`gather`](Batch::gather) for async callers: no executor thread
    /// blocks. The jobs taken are those scattered before the first poll.
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x * 2);
    /// let batch = pool.batch();
    /// batch.scatter(21);
    /// assert_eq!(futures::executor::block_on(batch.gather_async()), vec![42]);
    /// ```
    pub async fn gather_async(&self) -> Vec<R> {
        let cut = self.collector().cut_lane(&self.numbering);
        match AllDone::new(self.collector().clone(), cut)
            .await
            .into_results()
        {
            Ok(results) => results,
            Err(failed) => super::raise(failed, cut.len()),
        }
    }

    /// [`try_gather`](Batch::try_gather) for async callers.
    pub async fn try_gather_async(&self) -> Vec<Result<R, TaskError>> {
        let cut = self.collector().cut_lane(&self.numbering);
        AllDone::new(self.collector().clone(), cut)
            .await
            .into_outcomes()
    }

    /// Jobs scattered through this batch and not yet gathered.
    ///
    /// ```
    /// let pool = lox::thread(1, |x: u32| x);
    /// let batch = pool.batch();
    /// batch.scatter(1);
    /// assert_eq!(batch.len(), 1);
    /// batch.gather();
    /// assert!(batch.is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.numbering.peek()
    }

    /// No job of this batch waits for a gather.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<A: Send + 'static, R: Send + 'static> Drop for Batch<A, R> {
    fn drop(&mut self) {
        let (lane, n) = split(self.numbering.word());
        if n > 0 {
            self.pool.withdraw(&|k| split(k).0 == lane);
        }
        self.collector().state().discard(lane, n as usize);
    }
}

impl<A: Send + 'static, R: Send + 'static> std::fmt::Debug for Batch<A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}
