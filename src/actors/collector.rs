//! Sequence numbers and the reorder buffer: the half of a pool that thread and
//! process pools share.
//!
//! Jobs are numbered by `numbering` (epochs cut by gathers).
//!
//! Workers send `(key, outcome)` on one result channel. Whoever waits for
//! results (a gather, a streaming gather, a `Ticket::is_done`) moves them from
//! the channel into per-epoch buckets under one mutex. Only one waiter at a time
//! blocks on the channel (the *drainer*); the others sleep on a condvar that the
//! drainer signals after each burst, so a result is never taken by one waiter
//! while another sleeps on the channel waiting for it.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex, MutexGuard};

use super::numbering::{split, Numbering, LANE};
use super::wakers::Wakers;
use crate::error::TaskError;

pub(crate) use super::numbering::Key;

/// What a worker reports for one job. Errors are boxed: they are rare, and a
/// small message keeps the result channel cheap.
pub(crate) type Outcome<R> = Result<R, Box<TaskError>>;

/// Outcomes travel in batches: a worker reports a whole chunk in one send.
pub(crate) type Batch<R> = Vec<(Key, Outcome<R>)>;

/// The sending end of a pool's result channel, held by each worker.
pub(crate) struct Results<R> {
    tx: Sender<Batch<R>>,
    wakers: Arc<Wakers>,
}

impl<R> Results<R> {
    /// Report a batch of outcomes. Once the pool and every ticket are gone
    /// nobody can receive them: they are dropped.
    pub(crate) fn send_batch(&self, batch: Batch<R>) {
        if !batch.is_empty() {
            let _ = self.tx.send(batch);
            self.wakers.notify();
        }
    }
}

/// How many result batches one drainer moves per lock hold.
const BURST: usize = 64;

/// A pool's numbering and reorder buffer (crate-internal; public only in name,
/// for the `Backend` trait).
pub struct Collector<R> {
    numbering: Numbering,
    tx: Sender<Batch<R>>,
    rx: Receiver<Batch<R>>,
    state: Mutex<State<R>>,
    changed: Condvar,
    /// Async waits, woken with `changed`.
    wakers: Arc<Wakers>,
    /// The pool, asked to send jobs held back for batching before anyone
    /// blocks for outcomes.
    flush: std::sync::OnceLock<std::sync::Weak<dyn super::pool::Flush>>,
}

pub(crate) struct State<R> {
    /// Epochs below this one (wrapping) have been cut by a gather.
    next_epoch: u32,
    /// Epochs cut by a gather that has not finished yet.
    active: Vec<u32>,
    /// Results moved off the channel and not yet handed out, per epoch.
    buckets: Vec<Bucket<R>>,
    /// Someone is blocked on the result channel.
    draining: bool,
    /// Outcomes sorted so far: `Ok`, `Err`.
    tally: (u64, u64),
    /// Private lanes (epochs with the `LANE` bit), open until taken or
    /// discarded; outcomes of a lane not here are dropped.
    lanes: HashMap<u32, Bucket<R>, BuildHasherDefault<Fib>>,
    /// One-job lanes (submitted jobs): no bucket, just the outcome.
    singles: HashMap<u32, Single<R>, BuildHasherDefault<Fib>>,
    /// The next lane id to try.
    next_lane: u32,
    /// The next `Job::seq`.
    next_seq: u64,
    /// While a `results()` holds the shared lane: the shared numbering word
    /// it replaced (gathers cut this one), and the lane it took.
    paused: Option<(u64, u32)>,
    /// Every handle of the pool is gone: nothing more will be numbered.
    closed: bool,
}

/// The outcome slot of a one-job lane.
pub(crate) enum Single<R> {
    Waiting,
    Done(Result<R, TaskError>),
    /// Nobody will take it: drop it when it comes.
    Discard,
}

/// Fibonacci hashing for lane ids (sequential u32s).
#[derive(Default)]
pub(crate) struct Fib(u64);

impl Hasher for Fib {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) struct Bucket<R> {
    epoch: u32,
    /// Results, in arrival order.
    ok: VecDeque<(u32, R)>,
    /// Errors, in arrival order, each with the number of results that had
    /// arrived before it (to interleave the two in completion order).
    err: VecDeque<(u32, usize, TaskError)>,
    ok_received: usize,
    /// Outcomes received for this epoch so far (also those already handed out).
    received: usize,
    /// One bit per job of the epoch: its outcome has arrived.
    done: Vec<u64>,
    /// Set when a streaming gather of this epoch was dropped early: later
    /// outcomes are counted (for `is_done`) but not kept, and the bucket goes
    /// once `received` reaches this.
    discard_until: Option<usize>,
}

impl<R> Bucket<R> {
    fn new(epoch: u32) -> Self {
        Bucket {
            epoch,
            ok: VecDeque::new(),
            err: VecDeque::new(),
            ok_received: 0,
            received: 0,
            done: Vec::new(),
            discard_until: None,
        }
    }

    fn put(&mut self, rel: u32, outcome: Outcome<R>) {
        let word = rel as usize / 64;
        if word >= self.done.len() {
            self.done.resize((word + 1).next_power_of_two(), 0);
        }
        self.done[word] |= 1 << (rel % 64);
        self.received += 1;
        if self.discard_until.is_some() {
            return;
        }
        match outcome {
            Ok(r) => {
                self.ok.push_back((rel, r));
                self.ok_received += 1;
            }
            Err(e) => self.err.push_back((rel, self.ok_received, *e)),
        }
    }

    /// The oldest outcome not yet handed out, in completion order.
    fn pop_oldest(&mut self) -> Option<(usize, Result<R, TaskError>)> {
        let ok_taken = self.ok_received - self.ok.len();
        let err_first = match (self.err.front(), self.ok.is_empty()) {
            (Some(_), true) => true,
            (Some(&(_, oks_before, _)), false) => oks_before <= ok_taken,
            (None, _) => false,
        };
        if err_first {
            self.err
                .pop_front()
                .map(|(rel, _, e)| (rel as usize, Err(e)))
        } else {
            self.ok.pop_front().map(|(rel, r)| (rel as usize, Ok(r)))
        }
    }

    /// Every outcome of a finished epoch, in scatter order.
    pub(crate) fn into_outcomes(self) -> Vec<Result<R, TaskError>> {
        let ok = self.ok.into_iter().map(|(rel, r)| (rel, Ok(r)));
        in_order(
            ok.chain(self.err.into_iter().map(|(rel, _, e)| (rel, Err(e))))
                .collect(),
        )
    }

    /// Every result of a finished epoch in scatter order, or the failed jobs
    /// (sequence number and error, in order) if any failed.
    pub(crate) fn into_results(self) -> Result<Vec<R>, Vec<(usize, TaskError)>> {
        if self.err.is_empty() {
            return Ok(in_order(Vec::from(self.ok)));
        }
        let mut failed: Vec<_> = self
            .err
            .into_iter()
            .map(|(rel, _, e)| (rel as usize, e))
            .collect();
        failed.sort_by_key(|f| f.0);
        Err(failed)
    }

    fn is_done(&self, rel: u32) -> bool {
        self.done
            .get(rel as usize / 64)
            .is_some_and(|w| w & (1 << (rel % 64)) != 0)
    }
}

/// The values of `keyed`, whose keys are a permutation of `0..len`, in key
/// order: each is swapped into its slot (linear time, no second buffer;
/// outcomes mostly arrive near their place already).
fn in_order<T>(mut keyed: Vec<(u32, T)>) -> Vec<T> {
    for i in 0..keyed.len() {
        while keyed[i].0 as usize != i {
            let j = keyed[i].0 as usize;
            keyed.swap(i, j);
        }
    }
    keyed.into_iter().map(|(_, v)| v).collect()
}

/// `a` comes strictly before `b`, on the circle of 31-bit shared epochs.
#[inline]
fn before(a: u32, b: u32) -> bool {
    let d = b.wrapping_sub(a) & !LANE;
    d != 0 && d < 1 << 30
}

impl<R> State<R> {
    fn bucket(&mut self, epoch: u32) -> &mut Bucket<R> {
        if epoch & LANE != 0 {
            return self
                .lanes
                .entry(epoch)
                .or_insert_with(|| Bucket::new(epoch));
        }
        // Almost always one or two live epochs: a linear scan beats hashing.
        match self.buckets.iter().position(|b| b.epoch == epoch) {
            Some(i) => &mut self.buckets[i],
            None => {
                self.buckets.push(Bucket::new(epoch));
                self.buckets.last_mut().expect("just pushed")
            }
        }
    }

    fn find(&self, epoch: u32) -> Option<&Bucket<R>> {
        if epoch & LANE != 0 {
            return self.lanes.get(&epoch);
        }
        self.buckets.iter().find(|b| b.epoch == epoch)
    }

    pub(crate) fn find_mut(&mut self, epoch: u32) -> Option<&mut Bucket<R>> {
        if epoch & LANE != 0 {
            return self.lanes.get_mut(&epoch);
        }
        self.buckets.iter_mut().find(|b| b.epoch == epoch)
    }

    fn take(&mut self, epoch: u32) -> Option<Bucket<R>> {
        if epoch & LANE != 0 {
            return self.lanes.remove(&epoch);
        }
        let i = self.buckets.iter().position(|b| b.epoch == epoch)?;
        Some(self.buckets.swap_remove(i))
    }

    fn place(&mut self, batch: Batch<R>) {
        // Consecutive outcomes almost always share an epoch: look its bucket
        // up once per run.
        let mut cached: Option<(u32, usize)> = None;
        for (key, outcome) in batch {
            let (epoch, rel) = split(key);
            match outcome {
                Ok(_) => self.tally.0 += 1,
                Err(_) => self.tally.1 += 1,
            }
            if epoch & LANE != 0 {
                self.place_lane(epoch, rel, outcome);
                continue;
            }
            let i = match cached {
                Some((e, i)) if e == epoch => i,
                _ => {
                    self.bucket(epoch);
                    let i = self
                        .buckets
                        .iter()
                        .position(|b| b.epoch == epoch)
                        .expect("bucket exists");
                    cached = Some((epoch, i));
                    i
                }
            };
            let b = &mut self.buckets[i];
            b.put(rel, outcome);
            if b.discard_until == Some(b.received) {
                // The last outcome of an abandoned streaming gather.
                self.buckets.swap_remove(i);
                self.finish(epoch);
                cached = None;
            }
        }
    }

    /// An outcome of a private lane; dropped if the lane is gone.
    fn place_lane(&mut self, lane: u32, rel: u32, outcome: Outcome<R>) {
        if let Some(single) = self.singles.get_mut(&lane) {
            match single {
                Single::Waiting => *single = Single::Done(outcome.map_err(|e| *e)),
                _ => {
                    self.singles.remove(&lane);
                }
            }
            return;
        }
        if let Some(b) = self.lanes.get_mut(&lane) {
            b.put(rel, outcome);
            if b.discard_until.is_some_and(|n| b.received >= n) {
                self.lanes.remove(&lane);
            }
        }
    }

    /// Open a fresh private lane; returns its id (an epoch with the `LANE` bit).
    pub(crate) fn open_lane(&mut self) -> u32 {
        let lane = self.fresh_lane();
        self.lanes.insert(lane, Bucket::new(lane));
        lane
    }

    /// Open a one-job lane (a submitted job's).
    pub(crate) fn open_single(&mut self) -> u32 {
        let lane = self.fresh_lane();
        self.singles.insert(lane, Single::Waiting);
        lane
    }

    /// A lane id in use by no lane.
    fn fresh_lane(&mut self) -> u32 {
        loop {
            let lane = self.next_lane | LANE;
            self.next_lane = self.next_lane.wrapping_add(1) & !LANE;
            if !self.lanes.contains_key(&lane) && !self.singles.contains_key(&lane) {
                return lane;
            }
        }
    }

    /// The next `Job::seq`.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq - 1
    }

    /// The first outcome of a one-job lane, taking the lane.
    pub(crate) fn take_one(&mut self, lane: u32) -> Option<Result<R, TaskError>> {
        if let Some(single) = self.singles.get(&lane) {
            if !matches!(single, Single::Done(_)) {
                return None;
            }
            return match self.singles.remove(&lane) {
                Some(Single::Done(outcome)) => Some(outcome),
                _ => None,
            };
        }
        if self.lanes.get(&lane)?.received == 0 {
            return None;
        }
        let mut b = self.lanes.remove(&lane)?;
        b.pop_oldest().map(|(_, outcome)| outcome)
    }

    /// Every outcome of `lane` that has arrived, in completion order, as
    /// `(rel, outcome)`.
    pub(crate) fn drain_lane(&mut self, lane: u32, out: &mut Vec<(u32, Result<R, TaskError>)>) {
        if let Some(b) = self.lanes.get_mut(&lane) {
            while let Some((rel, o)) = b.pop_oldest() {
                out.push((rel as u32, o));
            }
        }
    }

    /// Outcomes of `lane` received so far (also those handed out); `None`
    /// once the lane is gone.
    pub(crate) fn lane_received(&self, lane: u32) -> Option<usize> {
        match self.singles.get(&lane) {
            Some(Single::Waiting) => return Some(0),
            Some(_) => return Some(1),
            None => {}
        }
        self.lanes.get(&lane).map(|b| b.received)
    }

    /// The pool's handles are all gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Forget a lane once `total` outcomes have arrived for it: those still
    /// held are dropped now, later ones as they come.
    pub(crate) fn discard(&mut self, lane: u32, total: usize) {
        if let Some(single) = self.singles.get_mut(&lane) {
            match single {
                Single::Waiting => *single = Single::Discard,
                _ => {
                    self.singles.remove(&lane);
                }
            }
            return;
        }
        let Some(b) = self.find_mut(lane) else { return };
        b.ok.clear();
        b.err.clear();
        if b.received < total {
            b.discard_until = Some(total);
        } else {
            self.take(lane);
            self.finish(lane);
        }
    }

    /// The bucket of `cut`, once every one of its jobs has an outcome.
    pub(crate) fn take_done(&mut self, cut: Cut) -> Option<Bucket<R>> {
        if self.received(cut.epoch) < cut.len {
            return None;
        }
        let bucket = self
            .take(cut.epoch)
            .unwrap_or_else(|| Bucket::new(cut.epoch));
        self.finish(cut.epoch);
        Some(bucket)
    }

    /// The oldest outcome of `cut` not yet handed out, in completion order.
    pub(crate) fn pop_oldest(&mut self, cut: Cut) -> Option<(usize, Result<R, TaskError>)> {
        self.find_mut(cut.epoch).and_then(Bucket::pop_oldest)
    }

    fn received(&self, epoch: u32) -> usize {
        self.find(epoch).map_or(0, |b| b.received)
    }

    fn finish(&mut self, epoch: u32) {
        self.active.retain(|&e| e != epoch);
    }
}

/// The jobs one gather took: an epoch and how many jobs it holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cut {
    epoch: u32,
    len: usize,
}

impl Cut {
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl<R> Collector<R> {
    /// A `results()` holds the shared lane.
    pub(crate) fn results_open(&self) -> bool {
        self.state.lock().paused.is_some()
    }

    /// Wake every wait to look again (a map's input ended).
    pub(crate) fn poke(&self) {
        let _ = self.tx.send(Vec::new());
        self.changed.notify_all();
        self.wakers.notify();
    }

    /// The last handle of the pool is gone: wake every wait so that an open
    /// `results()` can end.
    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
        let _ = self.tx.send(Vec::new());
        self.changed.notify_all();
        self.wakers.notify();
    }
}

impl<R: Send + 'static> Collector<R> {
    pub(crate) fn new() -> Arc<Self> {
        let (tx, rx) = crossbeam_channel::unbounded();
        Arc::new(Collector {
            numbering: Numbering::new(),
            tx,
            rx,
            state: Mutex::new(State {
                next_epoch: 0,
                active: Vec::new(),
                buckets: Vec::new(),
                draining: false,
                tally: (0, 0),
                lanes: HashMap::default(),
                singles: HashMap::default(),
                next_lane: 0,
                next_seq: 0,
                paused: None,
                closed: false,
            }),
            changed: Condvar::new(),
            wakers: Arc::default(),
            flush: std::sync::OnceLock::new(),
        })
    }

    /// Number the next job. Lock-free: one `fetch_add`.
    #[inline]
    pub(crate) fn next_key(&self) -> Key {
        self.numbering.next_key()
    }

    /// Set the pool to flush before waits (once, at the pool's creation).
    pub(crate) fn set_flush(&self, pool: std::sync::Weak<dyn super::pool::Flush>) {
        let _ = self.flush.set(pool);
    }

    /// Ask the pool to send on jobs held back for batching.
    fn flush(&self) {
        if let Some(pool) = self.flush.get().and_then(std::sync::Weak::upgrade) {
            pool.flush();
        }
    }

    /// The async waits on this collector.
    pub(crate) fn wakers(&self) -> &Wakers {
        &self.wakers
    }

    /// The channel workers report outcomes on.
    pub(crate) fn sender(&self) -> Results<R> {
        Results {
            tx: self.tx.clone(),
            wakers: self.wakers.clone(),
        }
    }

    /// Jobs scattered and not yet taken by a gather.
    pub(crate) fn pending(&self) -> usize {
        match self.state.lock().paused {
            Some((word, _)) => split(word).1 as usize,
            None => self.numbering.peek(),
        }
    }

    /// Outcomes reported so far: (`Ok`, `Err`).
    pub(crate) fn tally(&self) -> (u64, u64) {
        let mut st = self.state.lock();
        self.drain_now(&mut st);
        st.tally
    }

    /// Report one job's outcome (the inline path, failures found before a
    /// job reached a worker).
    pub(crate) fn deposit(&self, key: Key, outcome: Outcome<R>) {
        // The collector holds a receiver itself, so the channel never closes.
        let _ = self.tx.send(vec![(key, outcome)]);
        self.wakers.notify();
    }

    /// Make a ticket for a numbered job.
    pub(crate) fn ticket(self: &Arc<Self>, key: Key) -> Ticket {
        let (epoch, rel) = split(key);
        Ticket {
            epoch,
            rel,
            source: self.clone(),
        }
    }

    /// Take every job scattered so far: they belong to this gather. While a
    /// `results()` holds the shared lane, the jobs scattered before it.
    pub(crate) fn cut(&self) -> Cut {
        let mut st = self.state.lock();
        let (epoch, len) = match st.paused {
            Some((word, lane)) => {
                let (epoch, len) = split(word);
                let next = epoch.wrapping_add(1) & !LANE;
                st.paused = Some(((next as u64) << 32, lane));
                (epoch, len as usize)
            }
            None => self.numbering.cut(),
        };
        st.next_epoch = epoch.wrapping_add(1) & !LANE;
        st.active.push(epoch);
        Cut { epoch, len }
    }

    /// A cut of a private lane numbered by `numbering` (a batch's): its jobs
    /// so far; later ones go to a fresh lane.
    pub(crate) fn cut_lane(&self, numbering: &Numbering) -> Cut {
        let mut st = self.state.lock();
        let next = st.open_lane();
        let (epoch, len) = numbering.cut_to(next);
        Cut { epoch, len }
    }

    /// Lock the state, without moving outcomes.
    pub(crate) fn state(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock()
    }

    /// Lock the state after moving what is on the channel (for lanes).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<R>> {
        let mut st = self.state.lock();
        self.drain_now(&mut st);
        st
    }

    /// From now on scattered jobs go to a fresh lane (for `results()`);
    /// returns it. Panics if one is open already.
    pub(crate) fn take_shared_lane(&self) -> u32 {
        let mut st = self.state.lock();
        assert!(
            st.paused.is_none(),
            "lox: results() is already open on this pool; drop it before calling results() again"
        );
        let lane = st.open_lane();
        let word = self.numbering.swap((lane as u64) << 32);
        st.paused = Some((word, lane));
        lane
    }

    /// Give the shared lane back (a `Results` was dropped): returns how many
    /// jobs had been numbered in its lane.
    pub(crate) fn give_back_shared_lane(&self) -> usize {
        let mut st = self.state.lock();
        let Some((word, lane)) = st.paused.take() else {
            return 0;
        };
        let (_, taken) = split(self.numbering.swap(word));
        st.discard(lane, taken as usize);
        taken as usize
    }

    /// Jobs numbered in the shared numbering's current lane (for `Results`).
    pub(crate) fn numbered(&self) -> usize {
        split(self.numbering.word()).1 as usize
    }

    /// Block until the state may have changed (or `deadline` passes):
    /// either become the drainer and move one burst of results off the
    /// channel, or sleep until the drainer signals. Returns with the lock
    /// held again.
    fn wait_change(&self, st: &mut MutexGuard<'_, State<R>>, deadline: Option<Instant>) {
        if st.draining {
            match deadline {
                Some(d) => drop(self.changed.wait_until(st, d)),
                None => self.changed.wait(st),
            }
            return;
        }
        st.draining = true;
        let first = MutexGuard::unlocked(st, || {
            self.flush();
            match deadline {
                Some(d) => self.rx.recv_deadline(d).ok(),
                // Never disconnected: `self.tx` lives as long as `self`.
                None => self.rx.recv().ok(),
            }
        });
        if let Some(msg) = first {
            st.place(msg);
            for msg in self.rx.try_iter().take(BURST) {
                st.place(msg);
            }
        }
        st.draining = false;
        self.changed.notify_all();
        self.wakers.notify();
    }

    /// Move what is on the channel now, without blocking, unless a drainer is
    /// already on it (it will move everything momentarily). True if it
    /// moved anything.
    fn drain_now(&self, st: &mut MutexGuard<'_, State<R>>) -> bool {
        if st.draining {
            return false;
        }
        let mut moved = false;
        for msg in self.rx.try_iter().take(BURST * 16) {
            st.place(msg);
            moved = true;
        }
        if moved {
            self.changed.notify_all();
            self.wakers.notify();
        }
        moved
    }

    /// Block until `ready` finds what the caller waits for.
    pub(crate) fn wait_for<T>(&self, mut ready: impl FnMut(&mut State<R>) -> Option<T>) -> T {
        let mut st = self.state.lock();
        loop {
            if let Some(found) = ready(&mut st) {
                return found;
            }
            self.wait_change(&mut st, None);
        }
    }

    /// [`wait_for`](Collector::wait_for) that gives up at `deadline`.
    pub(crate) fn wait_until<T>(
        &self,
        deadline: Instant,
        mut ready: impl FnMut(&mut State<R>) -> Option<T>,
    ) -> Option<T> {
        let mut st = self.state.lock();
        loop {
            if let Some(found) = ready(&mut st) {
                return Some(found);
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.wait_change(&mut st, Some(deadline));
        }
    }

    /// [`wait_for`](Collector::wait_for) for async callers: never blocks on
    /// the channel; the task is woken when outcomes arrive.
    pub(crate) fn poll_for<T>(
        &self,
        cx: &mut Context<'_>,
        mut ready: impl FnMut(&mut State<R>) -> Option<T>,
    ) -> Poll<T> {
        self.wakers.register(cx.waker());
        let mut st = self.state.lock();
        loop {
            if let Some(found) = ready(&mut st) {
                return Poll::Ready(found);
            }
            if !self.drain_now(&mut st) {
                MutexGuard::unlocked(&mut st, || self.flush());
                return Poll::Pending;
            }
        }
    }

    /// Wait for every job of `cut`, calling `progress(done)` as the count of
    /// finished jobs grows, and return the epoch's bucket.
    pub(crate) fn wait_all(&self, cut: Cut, progress: &mut dyn FnMut(usize)) -> Bucket<R> {
        let mut reported = 0;
        let mut st = self.state.lock();
        loop {
            let received = st.received(cut.epoch);
            if let Some(bucket) = st.take_done(cut) {
                drop(st);
                if received != reported {
                    progress(received);
                }
                return bucket;
            }
            if received != reported {
                reported = received;
                MutexGuard::unlocked(&mut st, || progress(received));
                continue;
            }
            self.wait_change(&mut st, None);
        }
    }

    /// A streaming gather is done, or dropped early. Dropped: its outcomes
    /// still to come are counted (so tickets stay truthful) but not kept, and
    /// the epoch is forgotten when the last one arrives.
    pub(crate) fn close_stream(&self, cut: Cut, delivered: usize) {
        let mut st = self.state.lock();
        if cut.epoch & LANE != 0 {
            st.discard(cut.epoch, cut.len);
            return;
        }
        if delivered < cut.len {
            let b = st.bucket(cut.epoch);
            b.ok.clear();
            b.err.clear();
            if b.received < cut.len {
                b.discard_until = Some(cut.len);
                return;
            }
        }
        st.take(cut.epoch);
        st.finish(cut.epoch);
    }
}

/// Whether a job has its outcome: what a [`Ticket`] asks, whatever `R`.
pub(crate) trait Completion: Send + Sync {
    fn is_done(&self, epoch: u32, rel: u32) -> bool;
}

impl<R: Send + 'static> Completion for Collector<R> {
    fn is_done(&self, epoch: u32, rel: u32) -> bool {
        let mut st = self.state.lock();
        self.drain_now(&mut st);
        if let Some(b) = st.find(epoch) {
            return b.is_done(rel);
        }
        if epoch & LANE != 0 {
            // A lane is open until its outcomes are taken or discarded.
            return true;
        }
        // No results held for that epoch: either none arrived yet, or its
        // gather has handed them all out already.
        before(epoch, st.next_epoch) && !st.active.contains(&epoch)
    }
}

/// Sequence-numbered handle returned by `scatter`.
///
/// [`seq`](Ticket::seq) is the job's index in the `Vec` that the next `gather`
/// returns (0-based, counted since the last gather).
///
/// ```
/// let pool = lox::thread(2, |x: u32| x * 10);
/// let a = pool.scatter(1);
/// let b = pool.scatter(2);
/// assert_eq!((a.seq(), b.seq()), (0, 1));
/// let results = pool.gather();
/// assert!(a.is_done() && b.is_done());
/// assert_eq!(results[b.seq()], 20);
/// ```
#[derive(Clone)]
pub struct Ticket {
    epoch: u32,
    rel: u32,
    source: Arc<dyn Completion>,
}

impl Ticket {
    /// The job's index in the `Vec` returned by the next `gather`.
    pub fn seq(&self) -> usize {
        self.rel as usize
    }

    /// The job has an outcome (a result or an error). Never blocks on the job.
    pub fn is_done(&self) -> bool {
        self.source.is_done(self.epoch, self.rel)
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("seq", &self.rel)
            .finish_non_exhaustive()
    }
}
