//! Lazy parallel maps: [`Map`], [`TryMap`], [`Unordered`] and
//! [`MapStream`]. A map pulls an input only when one of its `window` slots
//! is free, numbers its jobs in private lanes of the collector (a fresh lane
//! every 2^16 inputs, so no lane's bookkeeping grows with the input), and
//! keeps at most `window` outcomes waiting to be yielded. Memory is bounded
//! by the window, whatever the input's length.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::{Condvar, Mutex};

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

/// The feeding side of a map, shared by its consumer and its feeder.
#[derive(Default)]
struct Feed {
    /// Inputs fed so far; input `i` is job `i`.
    fed: AtomicU64,
    /// The input has no more items (or panicked).
    exhausted: AtomicBool,
    /// The map was dropped: feed nothing more.
    stop: AtomicBool,
    /// What the two sides tell each other under a lock.
    sync: Mutex<Shared>,
    /// The feeder waits here for room.
    room: Condvar,
}

#[derive(Default)]
struct Shared {
    /// Outcomes the consumer has yielded, as last published.
    yielded: u64,
    /// The window, as last published.
    window: usize,
    /// Lanes opened, in order: (id, first input).
    lanes: Vec<(u32, u64)>,
    /// The input iterator panicked: its message.
    panicked: Option<String>,
}

impl Feed {
    /// The key of input `i` (opening a lane every `LANE_JOBS` inputs).
    fn key<R: Send + 'static>(
        &self,
        collector: &Collector<R>,
        i: u64,
        lane: &mut (u32, u64),
    ) -> Key {
        if i % LANE_JOBS == 0 {
            let id = collector.state().open_lane();
            *lane = (id, i);
            self.sync.lock().lanes.push(*lane);
        }
        (lane.0 as Key) << 32 | (i - lane.1)
    }

    /// The feeder's wait until input `i` fits in the window; false if the
    /// map was dropped.
    fn wait_room(&self, i: u64, seen: &mut u64, window: &mut usize) -> bool {
        if i - *seen < *window as u64 {
            return true;
        }
        let mut sync = self.sync.lock();
        loop {
            (*seen, *window) = (sync.yielded, sync.window);
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            if i - *seen < *window as u64 {
                return true;
            }
            self.room.wait(&mut sync);
        }
    }
}

/// What every map shares: its lanes, the window, and the outcomes that
/// arrived and are not yet yielded.
struct Window<R: Send + 'static> {
    collector: Arc<Collector<R>>,
    pool: Arc<dyn Cancel>,
    feed: Arc<Feed>,
    lanes: VecDeque<LaneUse>,
    /// Lanes of `feed` taken into `lanes` so far.
    known: usize,
    /// Outcomes yielded so far, and as last published to the feeder.
    yielded: u64,
    published: u64,
    window: usize,
    ordered: bool,
    /// Ordered: slot `k` holds job `yielded + k` once it arrived.
    /// Unordered: outcomes in arrival order.
    ready: VecDeque<Option<(u64, Result<R, TaskError>)>>,
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
            feed: Arc::default(),
            lanes: VecDeque::new(),
            known: 0,
            yielded: 0,
            published: 0,
            window: default_window(n_workers),
            ordered,
            ready: VecDeque::new(),
            ticker: Ticker::default(),
            scratch: Vec::new(),
        }
    }

    fn fed(&self) -> u64 {
        self.feed.fed.load(Ordering::Acquire)
    }

    /// A free slot for one more input (when feeding on this thread).
    fn has_room(&self) -> bool {
        !self.feed.exhausted.load(Ordering::Relaxed)
            && ((self.fed() - self.yielded) as usize) < self.window
    }

    /// Feeding on this thread: the key of the next input, counted as fed.
    fn feed_here(&mut self, lane: &mut (u32, u64)) -> Key {
        let fed = self.fed();
        let key = self.feed.key(&self.collector, fed, lane);
        self.feed.fed.store(fed + 1, Ordering::Release);
        key
    }

    /// Feeding on this thread: the input has no more items.
    fn end_input(&self) {
        self.feed.exhausted.store(true, Ordering::Release);
    }

    /// Tell the feeder how far the consumer got (and the window).
    fn publish(&mut self) {
        let mut sync = self.feed.sync.lock();
        sync.yielded = self.yielded;
        sync.window = self.window;
        self.published = self.yielded;
        drop(sync);
        self.feed.room.notify_one();
    }

    /// Move every arrived outcome of this map's lanes out of the collector;
    /// true if any arrived.
    fn collect(&mut self, st: &mut State<R>) -> bool {
        {
            let sync = self.feed.sync.lock();
            for &(id, first) in &sync.lanes[self.known..] {
                self.lanes.push_back(LaneUse {
                    id,
                    first,
                    drained: 0,
                });
            }
            self.known = sync.lanes.len();
        }
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
        if self.yielded - self.published >= (self.window as u64 / 4).max(1) {
            self.publish();
        }
        Some(item)
    }

    /// Every input was fed and every outcome yielded.
    fn finished(&self) -> bool {
        self.feed.exhausted.load(Ordering::Acquire) && self.yielded == self.fed()
    }

    /// Block until an outcome arrives or the input ends.
    fn wait(&mut self) {
        if self.published != self.yielded {
            self.publish();
        }
        let collector = self.collector.clone();
        collector.wait_for(|st| (self.collect(st) || self.finished()).then_some(()));
    }

    /// Wake `cx` when an outcome arrives; ready if one has.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let collector = self.collector.clone();
        collector.poll_for(cx, |st| self.collect(st).then_some(()))
    }

    /// The input panicked: say so, once every earlier outcome was yielded.
    #[track_caller]
    fn check_input(&self) {
        if let Some(msg) = self.feed.sync.lock().panicked.take() {
            panic!("lox: the map's input iterator panicked: {msg}");
        }
    }
}

impl<R: Send + 'static> Drop for Window<R> {
    fn drop(&mut self) {
        self.feed.stop.store(true, Ordering::Relaxed);
        let lanes = std::mem::take(&mut self.feed.sync.lock().lanes);
        self.feed.room.notify_all();
        if lanes.is_empty() {
            return;
        }
        let ids: Vec<u32> = lanes.iter().map(|l| l.0).collect();
        self.pool.withdraw(&|k| ids.contains(&split(k).0));
        let fed = self.fed();
        let mut st = self.collector.state();
        for (id, first) in lanes {
            st.discard(id, (fed - first).min(LANE_JOBS) as usize);
        }
    }
}

/// The feeder thread of a map: pulls inputs while the window has room and
/// sends them. Its own thread, so that an input that blocks (a channel, a
/// socket) never keeps finished results from the consumer.
fn feeder<A: Send + 'static, R: Send + 'static>(
    feed: Arc<Feed>,
    pool: Arc<dyn Front<A, R>>,
    mut inputs: impl Iterator<Item = A>,
) {
    let (mut seen, mut window) = {
        let sync = feed.sync.lock();
        (sync.yielded, sync.window)
    };
    let mut lane = (0, 0);
    let collector = pool.collector().clone();
    let mut i = 0u64;
    while feed.wait_room(i, &mut seen, &mut window) {
        let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inputs.next()));
        let args = match next {
            Ok(Some(args)) => args,
            Ok(None) => break,
            Err(payload) => {
                feed.sync.lock().panicked = Some(crate::error::panic_message(&*payload));
                break;
            }
        };
        if feed.stop.load(Ordering::Relaxed) {
            break;
        }
        let key = feed.key(&collector, i, &mut lane);
        pool.send(key, args);
        i += 1;
        feed.fed.store(i, Ordering::Release);
    }
    feed.exhausted.store(true, Ordering::Release);
    collector.poke();
}

/// The iterator half shared by [`Map`], [`TryMap`] and [`Unordered`]. With
/// workers, a feeder thread (started on the first `next`) pulls the inputs;
/// inline (`n_workers == 0`), this thread feeds one input at a time.
struct Inner<A: Send + 'static, R: Send + 'static> {
    window: Window<R>,
    pool: Arc<dyn Front<A, R>>,
    /// The input, until it moves to the feeder.
    inputs: Option<Box<dyn Iterator<Item = A> + Send>>,
    lane: (u32, u64),
}

impl<A: Send + 'static, R: Send + 'static> Inner<A, R> {
    fn new<I>(pool: Arc<dyn Front<A, R>>, inputs: I, ordered: bool) -> Self
    where
        I: Iterator<Item = A> + Send + 'static,
    {
        let cancel: Arc<dyn Cancel> = pool.clone();
        let window = Window::new(pool.collector().clone(), cancel, pool.n_workers(), ordered);
        Inner {
            window,
            pool,
            inputs: Some(Box::new(inputs)),
            lane: (0, 0),
        }
    }

    /// Start the feeder, or (inline) feed while there is room.
    fn fill(&mut self) {
        if self.pool.n_workers() > 0 {
            if let Some(inputs) = self.inputs.take() {
                self.window.publish();
                let (feed, pool) = (self.window.feed.clone(), self.pool.clone());
                let spawned = std::thread::Builder::new()
                    .name("lox-map-feeder".into())
                    .spawn(move || feeder(feed, pool, inputs));
                if let Err(e) = spawned {
                    panic!("lox: could not start the map's feeder thread: {e}");
                }
            }
            return;
        }
        while self.window.has_room() {
            let Some(inputs) = self.inputs.as_mut() else {
                return;
            };
            match inputs.next() {
                Some(args) => {
                    let key = self.window.feed_here(&mut self.lane);
                    self.pool.send(key, args);
                }
                None => self.window.end_input(),
            }
        }
    }

    #[track_caller]
    fn next(&mut self) -> Option<(u64, Result<R, TaskError>)> {
        loop {
            self.fill();
            if let Some(item) = self.window.pop() {
                return Some(item);
            }
            if self.window.finished() {
                self.window.check_input();
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
    inner: Box<dyn Next<R> + Send>,
    len: Option<usize>,
}

impl<R: Send + 'static> Erased<R> {
    pub(crate) fn new<A, I>(pool: Arc<dyn Front<A, R>>, inputs: I, ordered: bool) -> Self
    where
        A: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
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
                I::IntoIter: Send + 'static,
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
                    .field("fed", &w.fed())
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
    lane: (u32, u64),
}

impl<A: Send + 'static, R: Send + 'static, S: Stream<Item = A>> MapStream<A, R, S> {
    pub(crate) fn new(pool: Arc<dyn Front<A, R>>, inputs: S) -> Self {
        let cancel: Arc<dyn Cancel> = pool.clone();
        let window = Window::new(pool.collector().clone(), cancel, pool.n_workers(), true);
        MapStream {
            window,
            pool,
            inputs: Box::pin(inputs),
            lane: (0, 0),
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
                    let key = self.window.feed_here(&mut self.lane);
                    self.pool.send(key, args);
                }
                Poll::Ready(None) => self.window.end_input(),
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
            if this.window.fed() == this.window.yielded {
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
            .field("fed", &self.window.fed())
            .field("yielded", &self.window.yielded)
            .finish_non_exhaustive()
    }
}
