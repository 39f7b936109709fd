//! Lazy parallel maps: [`Map`], [`TryMap`], [`Unordered`] and
//! [`MapStream`]. A map pulls an input only when one of its `window` slots
//! is free, numbers its jobs in private lanes of the collector (a fresh lane
//! every 2^16 inputs, so no lane's bookkeeping grows with the input), and
//! keeps at most `window` outcomes waiting to be yielded. Memory is bounded
//! by the window, whatever the input's length.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;

use super::collector::{Collector, State};
use super::dispatch::MAX_CHUNK;
use super::numbering::{split, Key};
use super::pool::{Cancel, Front};
use crate::error::TaskError;
use crate::progress::{Progress, Ticker};

/// Jobs per lane of a map.
const LANE_JOBS: u64 = 1 << 16;

/// The default window: enough jobs in flight to keep every worker busy with
/// full chunks.
fn default_window(n_workers: usize) -> usize {
    if n_workers == 0 {
        1
    } else {
        2 * MAX_CHUNK * n_workers
    }
}

/// One lane of a map: its id, the index of its first input, and how many of
/// its outcomes have been moved out of the collector.
struct LaneUse {
    id: u32,
    first: u64,
    drained: u64,
}

/// What every map shares: its lanes, the window, and the outcomes that
/// arrived and are not yet yielded.
struct Window<R: Send + 'static> {
    collector: Arc<Collector<R>>,
    pool: Arc<dyn Cancel>,
    lanes: VecDeque<LaneUse>,
    /// Inputs fed so far; input `i` is job `i`.
    fed: u64,
    /// Outcomes yielded so far.
    yielded: u64,
    window: usize,
    ordered: bool,
    /// Ordered: slot `k` holds job `yielded + k` once it arrived.
    /// Unordered: outcomes in arrival order.
    ready: VecDeque<Option<(u64, Result<R, TaskError>)>>,
    /// The input has no more items.
    exhausted: bool,
    ticker: Ticker,
    scratch: Vec<(u32, Result<R, TaskError>)>,
}

impl<R: Send + 'static> Window<R> {
    fn new(
        collector: Arc<Collector<R>>,
        pool: Arc<dyn Cancel>,
        n_workers: usize,
        ordered: bool,
    ) -> Self {
        Window {
            collector,
            pool,
            lanes: VecDeque::new(),
            fed: 0,
            yielded: 0,
            window: default_window(n_workers),
            ordered,
            ready: VecDeque::new(),
            exhausted: false,
            ticker: Ticker::default(),
            scratch: Vec::new(),
        }
    }

    /// A free slot for one more input.
    fn has_room(&self) -> bool {
        !self.exhausted && ((self.fed - self.yielded) as usize) < self.window
    }

    /// The key of the next input (opening a lane every `LANE_JOBS` inputs).
    fn next_key(&mut self) -> Key {
        if self.fed % LANE_JOBS == 0 {
            let id = self.collector.state().open_lane();
            let first = self.fed;
            self.lanes.push_back(LaneUse {
                id,
                first,
                drained: 0,
            });
        }
        let lane = self.lanes.back().expect("a lane was just opened");
        (lane.id as Key) << 32 | (self.fed - lane.first)
    }

    /// Move every arrived outcome of this map's lanes out of the collector;
    /// true if any arrived.
    fn collect(&mut self, st: &mut State<R>) -> bool {
        let mut any = false;
        let mut finished = Vec::new();
        for lane in self.lanes.iter_mut() {
            st.drain_lane(lane.id, &mut self.scratch);
            lane.drained += self.scratch.len() as u64;
            for (rel, outcome) in self.scratch.drain(..) {
                any = true;
                let index = lane.first + rel as u64;
                if self.ordered {
                    let slot = (index - self.yielded) as usize;
                    if self.ready.len() <= slot {
                        self.ready.resize_with(slot + 1, || None);
                    }
                    self.ready[slot] = Some((index, outcome));
                } else {
                    self.ready.push_back(Some((index, outcome)));
                }
            }
            if lane.drained == LANE_JOBS {
                finished.push(lane.id);
            }
        }
        for id in finished {
            st.discard(id, LANE_JOBS as usize);
            self.lanes.retain(|l| l.id != id);
        }
        any
    }

    /// The next outcome to yield, if it has arrived.
    fn pop(&mut self) -> Option<(u64, Result<R, TaskError>)> {
        if !matches!(self.ready.front(), Some(Some(_))) {
            return None;
        }
        let item = self.ready.pop_front().flatten()?;
        self.yielded += 1;
        self.ticker.inc();
        Some(item)
    }

    /// Every input was fed and every outcome yielded.
    fn finished(&self) -> bool {
        self.exhausted && self.yielded == self.fed
    }

    /// Block until an outcome arrives.
    fn wait(&mut self) {
        let collector = self.collector.clone();
        collector.wait_for(|st| self.collect(st).then_some(()));
    }

    /// Wake `cx` when an outcome arrives; ready if one has.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let collector = self.collector.clone();
        collector.poll_for(cx, |st| self.collect(st).then_some(()))
    }
}

impl<R: Send + 'static> Drop for Window<R> {
    fn drop(&mut self) {
        if self.lanes.is_empty() {
            return;
        }
        let ids: Vec<u32> = self.lanes.iter().map(|l| l.id).collect();
        self.pool.withdraw(&|k| ids.contains(&split(k).0));
        let mut st = self.collector.state();
        for lane in &self.lanes {
            let total = (self.fed - lane.first).min(LANE_JOBS);
            st.discard(lane.id, total as usize);
        }
    }
}

/// Feeds a map from an iterator: pulls one input, sends it with a key.
type Feed<A> = Box<dyn FnMut() -> Option<A>>;

/// The iterator half shared by [`Map`], [`TryMap`] and [`Unordered`].
struct Inner<A: Send + 'static, R: Send + 'static> {
    window: Window<R>,
    pool: Arc<dyn Front<A, R>>,
    inputs: Feed<A>,
}

impl<A: Send + 'static, R: Send + 'static> Inner<A, R> {
    fn new<I>(pool: Arc<dyn Front<A, R>>, inputs: I, ordered: bool) -> Self
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        let mut it = inputs.into_iter();
        let cancel: Arc<dyn Cancel> = pool.clone();
        let window = Window::new(pool.collector().clone(), cancel, pool.n_workers(), ordered);
        Inner {
            window,
            pool,
            inputs: Box::new(move || it.next()),
        }
    }

    /// Feed inputs while there is room.
    fn fill(&mut self) {
        while self.window.has_room() {
            match (self.inputs)() {
                Some(args) => {
                    let key = self.window.next_key();
                    self.window.fed += 1;
                    self.pool.send(key, args);
                }
                None => self.window.exhausted = true,
            }
        }
    }

    fn next(&mut self) -> Option<(u64, Result<R, TaskError>)> {
        loop {
            self.fill();
            if let Some(item) = self.window.pop() {
                return Some(item);
            }
            if self.window.finished() {
                return None;
            }
            self.window.wait();
        }
    }
}

/// Type-erased [`Inner`], so that a map's type names only `R`.
trait Next<R: Send + 'static> {
    fn next(&mut self) -> Option<(u64, Result<R, TaskError>)>;
    fn window(&self) -> &Window<R>;
    fn window_mut(&mut self) -> &mut Window<R>;
}

impl<A: Send + 'static, R: Send + 'static> Next<R> for Inner<A, R> {
    fn next(&mut self) -> Option<(u64, Result<R, TaskError>)> {
        Inner::next(self)
    }
    fn window(&self) -> &Window<R> {
        &self.window
    }
    fn window_mut(&mut self) -> &mut Window<R> {
        &mut self.window
    }
}

/// A map's state: the erased inner iterator and the input's exact length.
struct Erased<R: Send + 'static> {
    inner: Box<dyn Next<R>>,
    len: Option<usize>,
}

impl<R: Send + 'static> Erased<R> {
    pub(crate) fn new<A, I>(pool: Arc<dyn Front<A, R>>, inputs: I, ordered: bool) -> Self
    where
        A: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        let it = inputs.into_iter();
        let len = match it.size_hint() {
            (lo, Some(hi)) if lo == hi => Some(lo),
            _ => None,
        };
        let inner = Box::new(Inner::new(pool, it, ordered));
        Erased { inner, len }
    }
}

macro_rules! map_kind {
    ($(#[$doc:meta])* $name:ident, $item:ty, $ordered:expr, |$seq:ident, $out:ident| $map:expr) => {
        $(#[$doc])*
        pub struct $name<R: Send + 'static>(Erased<R>);

        impl<R: Send + 'static> $name<R> {
            pub(crate) fn new<A, I>(pool: Arc<dyn Front<A, R>>, inputs: I) -> Self
            where
                A: Send + 'static,
                I: IntoIterator<Item = A>,
                I::IntoIter: 'static,
            {
                $name(Erased::new(pool, inputs, $ordered))
            }

            /// At most `n` jobs in flight (fed and not yet yielded; at least
            /// 1). The default keeps every worker busy: two full chunks per
            /// worker, 1 when jobs run inline.
            pub fn window(mut self, n: usize) -> Self {
                self.0.inner.window_mut().window = n.max(1);
                self
            }

            /// Advance a progress bar by one per result: `true` for a
            /// default bar, an `indicatif::ProgressBar` of yours, or
            /// `false`. Its length is the input's size hint when exact.
            pub fn progress(mut self, p: impl Into<Progress>) -> Self {
                self.0.inner.window_mut().ticker = Ticker::new(p.into(), self.0.len);
                self
            }
        }

        impl<R: Send + 'static> Iterator for $name<R> {
            type Item = $item;

            #[track_caller]
            fn next(&mut self) -> Option<$item> {
                let ($seq, $out) = self.0.inner.next()?;
                Some($map)
            }

            fn size_hint(&self) -> (usize, Option<usize>) {
                match self.0.len {
                    Some(n) => {
                        let left = n - self.0.inner.window().yielded as usize;
                        (left, Some(left))
                    }
                    None => (0, None),
                }
            }
        }

        impl<R: Send + 'static> std::fmt::Debug for $name<R> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let w = self.0.inner.window();
                f.debug_struct(stringify!($name))
                    .field("window", &w.window)
                    .field("fed", &w.fed)
                    .field("yielded", &w.yielded)
                    .finish_non_exhaustive()
            }
        }
    };
}

map_kind!(
    /// Lazy parallel map in input order: [`Pool::map`](crate::Pool::map).
    ///
    /// Pulls an input only when one of its [`window`](Map::window) slots is
    /// free, so results stream out while inputs are still being read and
    /// memory stays bounded whatever the input's length (an endless input
    /// works with `take` on the output). A failed job panics at its item
    /// (naming its index and error), like `gather`; use
    /// [`try_map`](crate::Pool::try_map) to get every outcome. Dropping the
    /// map cancels its jobs that have not started.
    ///
    /// ```
    /// let pool = lox::thread(4, |x: u64| x * x);
    /// let squares: Vec<u64> = pool.map(1..=5).collect();
    /// assert_eq!(squares, vec![1, 4, 9, 16, 25]);
    /// // An endless input: only what is taken (plus the window) runs.
    /// let first: Vec<u64> = pool.map(0..).window(8).take(3).collect();
    /// assert_eq!(first, vec![0, 1, 4]);
    /// ```
    Map, R, true, |seq, out| match out {
        Ok(r) => r,
        Err(e) => panic!("lox: map job {seq} failed: {e}"),
    }
);

map_kind!(
    /// [`Map`] that never panics: one `Result` per input, in input order.
    /// Returned by [`Pool::try_map`](crate::Pool::try_map).
    ///
    /// ```
    /// let pool = lox::thread(2, |x: i32| if x == 2 { panic!("two") } else { x });
    /// let out: Vec<_> = pool.try_map([1, 2, 3]).collect();
    /// assert_eq!(out[0], Ok(1));
    /// assert_eq!(out[1], Err(lox::TaskError::Panicked("two".into())));
    /// assert_eq!(out[2], Ok(3));
    /// ```
    TryMap, Result<R, TaskError>, true, |_seq, out| out
);

map_kind!(
    /// Lazy parallel map in completion order: each outcome as its job
    /// finishes. Returned by [`Pool::map_unordered`](crate::Pool::map_unordered).
    ///
    /// ```
    /// let pool = lox::thread(2, |x: u32| x + 1);
    /// let mut out: Vec<u32> = pool.map_unordered(0..4).map(Result::unwrap).collect();
    /// out.sort();
    /// assert_eq!(out, vec![1, 2, 3, 4]);
    /// ```
    Unordered, Result<R, TaskError>, false, |_seq, out| out
);

/// [`Map`] over an async `Stream` of inputs: a `Stream` of outcomes in input
/// order. Returned by [`Pool::map_stream`](crate::Pool::map_stream).
///
/// Pulls an input only when a [`window`](MapStream::window) slot is free; no
/// thread waits for it, the task is woken by its input and by the workers.
/// Dropping it cancels its jobs that have not started.
///
/// ```
/// use futures::StreamExt;
/// let pool = lox::thread(2, |x: u32| x * 2);
/// let out: Vec<_> = futures::executor::block_on(
///     pool.map_stream(futures::stream::iter(1..=4)).collect(),
/// );
/// assert_eq!(out, vec![Ok(2), Ok(4), Ok(6), Ok(8)]);
/// ```
pub struct MapStream<A: Send + 'static, R: Send + 'static, S> {
    window: Window<R>,
    pool: Arc<dyn Front<A, R>>,
    inputs: Pin<Box<S>>,
}

impl<A: Send + 'static, R: Send + 'static, S: Stream<Item = A>> MapStream<A, R, S> {
    pub(crate) fn new(pool: Arc<dyn Front<A, R>>, inputs: S) -> Self {
        let cancel: Arc<dyn Cancel> = pool.clone();
        let window = Window::new(pool.collector().clone(), cancel, pool.n_workers(), true);
        MapStream {
            window,
            pool,
            inputs: Box::pin(inputs),
        }
    }

    /// At most `n` jobs in flight (at least 1); see [`Map::window`].
    pub fn window(mut self, n: usize) -> Self {
        self.window.window = n.max(1);
        self
    }

    /// Feed inputs while there is room and the input has them ready.
    fn fill(&mut self, cx: &mut Context<'_>) {
        while self.window.has_room() {
            match self.inputs.as_mut().poll_next(cx) {
                Poll::Ready(Some(args)) => {
                    let key = self.window.next_key();
                    self.window.fed += 1;
                    self.pool.send(key, args);
                }
                Poll::Ready(None) => self.window.exhausted = true,
                Poll::Pending => break,
            }
        }
    }
}

// Nothing is pinned through the stream but the input (boxed): outcomes are
// moved by value.
impl<A: Send + 'static, R: Send + 'static, S> Unpin for MapStream<A, R, S> {}

impl<A: Send + 'static, R: Send + 'static, S: Stream<Item = A>> Stream for MapStream<A, R, S> {
    type Item = Result<R, TaskError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            this.fill(cx);
            if let Some((_, outcome)) = this.window.pop() {
                return Poll::Ready(Some(outcome));
            }
            if this.window.finished() {
                return Poll::Ready(None);
            }
            if this.window.fed == this.window.yielded {
                return Poll::Pending; // nothing in flight: the input wakes us
            }
            if this.window.poll_wait(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl<A: Send + 'static, R: Send + 'static, S> std::fmt::Debug for MapStream<A, R, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapStream")
            .field("window", &self.window.window)
            .field("fed", &self.window.fed)
            .field("yielded", &self.window.yielded)
            .finish_non_exhaustive()
    }
}
