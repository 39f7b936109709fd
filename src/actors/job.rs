//! `submit`: one job whose outcome belongs to its [`Job`], a future, never to
//! a gather. Each job gets a private lane of the collector (a one-job epoch),
//! so the workers, the chunking and the reorder buffer are those of every
//! other job.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::collector::Collector;
use super::numbering::Key;
use super::pool::{Backend, Cancel, Core};
use crate::error::{TaskError, Timeout};

const LIVE: u8 = 0;
const SPENT: u8 = 1;
const CANCELLED: u8 = 2;

/// A submitted job: a sequence-numbered future that owns its job's outcome.
/// Returned by [`Pool::submit`](crate::Pool::submit) and by the Supervisor's
/// [`Submit`](crate::actors::Submit) message.
///
/// Await it (under actix, tokio or any executor: no thread blocks and none is
/// started for the wait), or [`wait`](Job::wait) for it. Its outcome is never
/// part of a `gather`. Dropping a `Job` does not cancel it: the job runs and
/// its outcome is dropped; call [`cancel`](Job::cancel) for that.
///
/// ```
/// let pool = lox::thread(2, |x: u64| x * x);
/// let a = pool.submit(3);
/// let b = pool.submit(4);
/// assert!(b.seq() > a.seq());
/// assert_eq!(b.wait(), Ok(16));
/// assert_eq!(futures::executor::block_on(a), Ok(9));
/// assert!(pool.gather().is_empty()); // submitted jobs are nobody else's
/// ```
pub struct Job<R: Send + 'static> {
    collector: Arc<Collector<R>>,
    pool: Weak<dyn Cancel>,
    lane: u32,
    seq: u64,
    state: AtomicU8,
}

/// Submit one job to `core`.
pub(crate) fn submit<A, R, B>(core: &Arc<Core<A, R, B>>, args: A) -> Job<R>
where
    A: Send + 'static,
    R: Send + 'static,
    B: Backend<A, R>,
{
    let (lane, seq) = {
        let mut st = core.collector.state();
        (st.open_single(), st.next_seq())
    };
    core.send((lane as Key) << 32, args);
    let pool: Weak<Core<A, R, B>> = Arc::downgrade(core);
    Job {
        collector: core.collector.clone(),
        pool,
        lane,
        seq,
        state: AtomicU8::new(LIVE),
    }
}

impl<R: Send + 'static> Job<R> {
    /// The job's number: unique in its pool, increasing in submit order.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The job has an outcome (also when it was cancelled or its outcome was
    /// taken already). Never blocks on the job.
    ///
    /// ```
    /// let job = lox::thread(0, |x: u8| x).submit(1); // 0: inline, done at once
    /// assert!(job.is_done());
    /// ```
    pub fn is_done(&self) -> bool {
        if self.state.load(Ordering::Acquire) != LIVE {
            return true;
        }
        self.collector
            .lock()
            .lane_received(self.lane)
            .map_or(true, |n| n > 0)
    }

    /// Block until the job has finished; its outcome.
    ///
    /// # Panics
    ///
    /// If the outcome was taken already (by [`wait_timeout`](Job::wait_timeout)).
    pub fn wait(self) -> Result<R, TaskError> {
        if let Some(early) = self.settled() {
            return early;
        }
        let lane = self.lane;
        let out = self.collector.wait_for(|st| st.take_one(lane));
        self.state.store(SPENT, Ordering::Release);
        out
    }

    /// Wait at most `d`. `Err(Timeout)`: not done yet, the job goes on (ask
    /// again, or [`cancel`](Job::cancel) it). Once this has returned the
    /// outcome the `Job` is spent: a later `wait` or `.await` panics.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = lox::thread(1, |ms: u64| { std::thread::sleep(Duration::from_millis(ms)); ms });
    /// let job = pool.submit(50);
    /// assert_eq!(job.wait_timeout(Duration::from_secs(60)), Ok(Ok(50)));
    /// ```
    pub fn wait_timeout(&self, d: Duration) -> Result<Result<R, TaskError>, Timeout> {
        if let Some(early) = self.settled() {
            return Ok(early);
        }
        let lane = self.lane;
        let deadline = Instant::now().checked_add(d).ok_or(Timeout);
        let out = match deadline {
            Ok(deadline) => self.collector.wait_until(deadline, |st| st.take_one(lane)),
            Err(_) => Some(self.collector.wait_for(|st| st.take_one(lane))),
        };
        let out = out.ok_or(Timeout)?;
        self.state.store(SPENT, Ordering::Release);
        Ok(out)
    }

    /// Cancel the job. Not started: it never runs. Running in a process
    /// pool: its worker is killed (a fresh one takes the jobs behind it).
    /// Running on a thread: it finishes, and its result is dropped. Either
    /// way its outcome is `Err(TaskError::Cancelled)`. Returns false if the
    /// job had finished already (its outcome stays).
    ///
    /// ```
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let rx = std::sync::Mutex::new(rx);
    /// let pool = lox::thread(1, move |x: u32| { let _ = rx.lock().unwrap().recv(); x });
    /// let running = pool.submit(1); // holds the only worker until we send
    /// let queued = pool.submit(2);
    /// assert!(queued.cancel());
    /// assert_eq!(queued.wait(), Err(lox::TaskError::Cancelled));
    /// tx.send(()).unwrap();
    /// assert_eq!(running.wait(), Ok(1));
    /// ```
    pub fn cancel(&self) -> bool {
        let mut st = self.collector.lock();
        match self.state.load(Ordering::Acquire) {
            CANCELLED => return true,
            SPENT => return false,
            _ => {}
        }
        if st.lane_received(self.lane) != Some(0) {
            return false; // finished: the outcome stays
        }
        self.state.store(CANCELLED, Ordering::Release);
        st.discard(self.lane, 1);
        drop(st);
        if let Some(pool) = self.pool.upgrade() {
            let key = (self.lane as Key) << 32;
            if pool.withdraw(&|k| k == key) == 0 {
                pool.abort(key);
            }
        }
        true
    }

    /// The outcome without waiting, when it is settled already.
    fn settled(&self) -> Option<Result<R, TaskError>> {
        match self.state.load(Ordering::Acquire) {
            LIVE => None,
            CANCELLED => {
                self.state.store(SPENT, Ordering::Release);
                Some(Err(TaskError::Cancelled))
            }
            _ => panic!(
                "lox: job {} was waited for already: its outcome was taken by wait_timeout",
                self.seq
            ),
        }
    }
}

impl<R: Send + 'static> Future for Job<R> {
    type Output = Result<R, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(early) = self.settled() {
            return Poll::Ready(early);
        }
        let lane = self.lane;
        let out = std::task::ready!(self.collector.poll_for(cx, |st| st.take_one(lane)));
        self.state.store(SPENT, Ordering::Release);
        Poll::Ready(out)
    }
}

impl<R: Send + 'static> Drop for Job<R> {
    fn drop(&mut self) {
        if *self.state.get_mut() == LIVE {
            // Nobody will take the outcome: drop it when it comes.
            self.collector.state().discard(self.lane, 1);
        }
    }
}

impl<R: Send + 'static> std::fmt::Debug for Job<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("seq", &self.seq)
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}
