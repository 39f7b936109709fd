//! [`Funnel`]: join items from several inputs by job id.
//!
//! One broker (a mutex over the inputs, the partly filled jobs and the
//! completed ones, plus a condvar and wakers for waiting `get`s).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::Timeout;

struct State<T, J> {
    /// Per input, in subscription order: still attached?
    alive: Vec<bool>,
    /// Jobs some but not all inputs have delivered; slot `i` = input `i`.
    pending: HashMap<J, Vec<Option<T>>>,
    ready: VecDeque<(J, Vec<T>)>,
    wakers: Vec<Waker>,
}

impl<T, J: Eq + Hash> State<T, J> {
    fn complete(alive: &[bool], slots: &[Option<T>]) -> bool {
        alive
            .iter()
            .enumerate()
            .all(|(i, &a)| !a || slots.get(i).is_some_and(Option::is_some))
    }

    fn finish(&mut self, jid: J, slots: Vec<Option<T>>) {
        self.ready
            .push_back((jid, slots.into_iter().flatten().collect()));
    }
}

struct Shared<T, J> {
    state: Mutex<State<T, J>>,
    cond: Condvar,
}

impl<T, J> Shared<T, J> {
    fn notify(&self, wakers: Vec<Waker>) {
        self.cond.notify_all();
        for w in wakers {
            w.wake();
        }
    }
}

/// Waits until every input has delivered its item for a job id, then
/// releases `(job id, items in subscription order)`.
///
/// Each [`subscribe`](Self::subscribe) adds one required input. An input
/// that subscribes while a job id is partly filled is required for that job
/// too.
///
/// **Dropped inputs.** When every clone of a [`FunnelInput`] has been dropped,
/// the funnel stops requiring that input: job ids it had not delivered are
/// released as soon as the remaining inputs have (jobs that become complete by
/// the drop itself are released at once, in no particular order), and the
/// items it did deliver are kept in their place. If an input puts twice for
/// the same job id before the job completes, the later item replaces the
/// earlier one.
///
/// ```
/// let funnel = lox::Funnel::new();
/// let resize = funnel.subscribe();
/// let blur = funnel.subscribe();
///
/// let t = std::thread::spawn(move || blur.put("blurred", 7));
/// resize.put("resized", 7);
/// t.join().unwrap();
///
/// let (job, items) = funnel.get();
/// assert_eq!(job, 7);
/// assert_eq!(items, vec!["resized", "blurred"]); // subscription order
/// ```
pub struct Funnel<T, J: Eq + Hash> {
    shared: Arc<Shared<T, J>>,
}

impl<T, J: Eq + Hash> Default for Funnel<T, J> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, J: Eq + Hash> fmt::Debug for Funnel<T, J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.shared.state.lock();
        f.debug_struct("Funnel")
            .field("inputs", &s.alive.iter().filter(|a| **a).count())
            .field("pending", &s.pending.len())
            .field("ready", &s.ready.len())
            .finish()
    }
}

impl<T, J: Eq + Hash> Funnel<T, J> {
    /// A funnel with no inputs yet.
    ///
    /// ```
    /// let f = lox::Funnel::<u8, u32>::new();
    /// assert!(f.get_timeout(std::time::Duration::from_millis(1)).is_err());
    /// ```
    pub fn new() -> Self {
        Funnel {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    alive: Vec::new(),
                    pending: HashMap::new(),
                    ready: VecDeque::new(),
                    wakers: Vec::new(),
                }),
                cond: Condvar::new(),
            }),
        }
    }

    /// One more required input; its items come after those of earlier inputs.
    ///
    /// ```
    /// let f = lox::Funnel::new();
    /// let a = f.subscribe();
    /// a.put(1, "job");
    /// assert_eq!(f.get(), ("job", vec![1]));
    /// ```
    pub fn subscribe(&self) -> FunnelInput<T, J> {
        let mut s = self.shared.state.lock();
        s.alive.push(true);
        FunnelInput {
            slot: Arc::new(Slot {
                shared: self.shared.clone(),
                index: s.alive.len() - 1,
            }),
        }
    }

    /// Block until some job id is complete; return it with its items in
    /// subscription order. Jobs come out in the order they completed.
    ///
    /// ```
    /// let f = lox::Funnel::new();
    /// let (a, b) = (f.subscribe(), f.subscribe());
    /// a.put('a', 1);
    /// a.put('a', 2);
    /// b.put('b', 2);
    /// b.put('b', 1);
    /// assert_eq!(f.get(), (2, vec!['a', 'b']));
    /// assert_eq!(f.get(), (1, vec!['a', 'b']));
    /// ```
    pub fn get(&self) -> (J, Vec<T>) {
        let mut s = self.shared.state.lock();
        loop {
            if let Some(job) = s.ready.pop_front() {
                return job;
            }
            self.shared.cond.wait(&mut s);
        }
    }

    /// Like [`get`](Self::get), but gives up with [`Timeout`] after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let f = lox::Funnel::new();
    /// let (a, _b) = (f.subscribe(), f.subscribe());
    /// a.put(1, 0); // b has not delivered job 0
    /// assert_eq!(f.get_timeout(Duration::from_millis(5)), Err(lox::Timeout));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<(J, Vec<T>), Timeout> {
        let deadline = match Instant::now().checked_add(timeout) {
            Some(d) => d,
            None => return Ok(self.get()),
        };
        let mut s = self.shared.state.lock();
        loop {
            if let Some(job) = s.ready.pop_front() {
                return Ok(job);
            }
            if self.shared.cond.wait_until(&mut s, deadline).timed_out() {
                return s.ready.pop_front().ok_or(Timeout);
            }
        }
    }

    /// A completed job if there is one; never blocks.
    ///
    /// ```
    /// let f = lox::Funnel::new();
    /// let a = f.subscribe();
    /// assert_eq!(f.try_get(), None);
    /// a.put(5, 0);
    /// assert_eq!(f.try_get(), Some((0, vec![5])));
    /// ```
    pub fn try_get(&self) -> Option<(J, Vec<T>)> {
        self.shared.state.lock().ready.pop_front()
    }

    /// Async twin of [`get`](Self::get): waits without blocking the executor.
    ///
    /// ```
    /// let f = lox::Funnel::new();
    /// let a = f.subscribe();
    /// a.put("x", 1u8);
    /// assert_eq!(futures::executor::block_on(f.get_async()), (1, vec!["x"]));
    /// ```
    pub fn get_async(&self) -> impl Future<Output = (J, Vec<T>)> + '_ {
        futures::future::poll_fn(move |cx| {
            let mut s = self.shared.state.lock();
            if let Some(job) = s.ready.pop_front() {
                return Poll::Ready(job);
            }
            if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                s.wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
    }
}

struct Slot<T, J: Eq + Hash> {
    shared: Arc<Shared<T, J>>,
    index: usize,
}

impl<T, J: Eq + Hash> Drop for Slot<T, J> {
    fn drop(&mut self) {
        // The last clone of this input is gone: stop requiring it.
        let wakers = {
            let mut s = self.shared.state.lock();
            let s = &mut *s;
            s.alive[self.index] = false;
            let mut finished = Vec::new();
            let pending = std::mem::take(&mut s.pending);
            for (jid, slots) in pending {
                if State::<T, J>::complete(&s.alive, &slots) {
                    finished.push((jid, slots));
                } else {
                    s.pending.insert(jid, slots);
                }
            }
            if finished.is_empty() {
                return;
            }
            for (jid, slots) in finished {
                s.finish(jid, slots);
            }
            std::mem::take(&mut s.wakers)
        };
        self.shared.notify(wakers);
    }
}

/// One input of a [`Funnel`]; `Clone` (clones fill the same input slot).
///
/// ```
/// let f = lox::Funnel::new();
/// let input = f.subscribe();
/// let clone = input.clone();
/// clone.put(1, "a"); // the same input: job "a" is complete
/// assert_eq!(f.get(), ("a", vec![1]));
/// ```
pub struct FunnelInput<T, J: Eq + Hash> {
    slot: Arc<Slot<T, J>>,
}

impl<T, J: Eq + Hash> Clone for FunnelInput<T, J> {
    fn clone(&self) -> Self {
        FunnelInput {
            slot: self.slot.clone(),
        }
    }
}

impl<T, J: Eq + Hash> fmt::Debug for FunnelInput<T, J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunnelInput")
            .field("index", &self.slot.index)
            .finish()
    }
}

impl<T, J: Eq + Hash> FunnelInput<T, J> {
    /// Deliver this input's item for job `jid`; completes the job once every
    /// input has delivered.
    ///
    /// ```
    /// let f = lox::Funnel::new();
    /// let (a, b) = (f.subscribe(), f.subscribe());
    /// b.put(20, 'j');
    /// assert_eq!(f.try_get(), None);
    /// a.put(10, 'j');
    /// assert_eq!(f.get(), ('j', vec![10, 20]));
    /// ```
    pub fn put(&self, item: T, jid: J) {
        let shared = &self.slot.shared;
        let wakers = {
            let mut s = shared.state.lock();
            let s = &mut *s;
            let n = s.alive.len();
            let index = self.slot.index;
            let alive = &s.alive;
            let completed = match s.pending.entry(jid) {
                Entry::Occupied(mut e) => {
                    let slots = e.get_mut();
                    if slots.len() < n {
                        slots.resize_with(n, || None);
                    }
                    slots[index] = Some(item);
                    if State::<T, J>::complete(alive, slots) {
                        Some(e.remove_entry())
                    } else {
                        None
                    }
                }
                Entry::Vacant(e) => {
                    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
                    slots[index] = Some(item);
                    if State::<T, J>::complete(alive, &slots) {
                        Some((e.into_key(), slots))
                    } else {
                        e.insert(slots);
                        None
                    }
                }
            };
            let Some((jid, slots)) = completed else {
                return;
            };
            s.finish(jid, slots);
            std::mem::take(&mut s.wakers)
        };
        shared.notify(wakers);
    }
}
