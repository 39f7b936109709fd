//! [`Announcement`]: broadcast to every peer of a group, with an optional
//! backlog replayed to late subscribers.
//!
//! The group is one broker: a mutex over every peer's receive queue and the
//! backlog, a condvar for blocked `get`s and per-peer wakers for `get_async`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use futures::future::{BoxFuture, Either};

use crate::sync::foreign::{Query, Wait};
use crate::Timeout;

/// [`Announcement::subscribe`] was called after [`Announcement::finalize`].
///
/// ```
/// let a = lox::Announcement::<u32>::new();
/// a.finalize();
/// let err = a.subscribe().unwrap_err();
/// assert_eq!(err, lox::SubscribeFinalizedError);
/// let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
/// assert!(boxed.to_string().contains("finalized"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscribeFinalizedError;

impl fmt::Display for SubscribeFinalizedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot subscribe: the announcement has been finalized")
    }
}

impl std::error::Error for SubscribeFinalizedError {}

struct PeerQueue<T> {
    items: VecDeque<T>,
    wakers: Vec<Waker>,
    /// `Announcement` values standing for this peer: the user's, and the
    /// registry's while the peer is shared with process workers.
    refs: usize,
}

struct Group<T> {
    peers: HashMap<u64, PeerQueue<T>>,
    next_peer: u64,
    /// Kept for late subscribers; `None` without backlog or after finalize.
    backlog: Option<VecDeque<T>>,
    /// Most items the backlog keeps; `None` = unbounded.
    limit: Option<usize>,
    finalized: bool,
}

struct Shared<T> {
    group: Mutex<Group<T>>,
    cond: Condvar,
}

/// One peer of a broadcast group: every [`put`](Self::put) reaches every
/// other peer's receive queue; [`get`](Self::get) reads this peer's own.
///
/// Not `Clone`: [`subscribe`](Self::subscribe) makes a new peer, which first
/// receives the backlog (if the group keeps one) and then every later put of
/// the other peers. [`finalize`](Self::finalize), through any peer, refuses
/// further subscribers and frees the backlog. A dropped peer leaves the group.
///
/// ```
/// let news = lox::Announcement::with_backlog(None); // keep everything for late subscribers
/// let early = news.subscribe().unwrap();
/// news.put("first");
/// let late = news.subscribe().unwrap(); // gets the backlog
/// news.put("second");
/// news.finalize();
///
/// assert_eq!(early.get(), "first");
/// assert_eq!(early.get(), "second");
/// assert_eq!(late.get(), "first");
/// assert_eq!(late.get(), "second");
/// assert_eq!(news.try_get(), None); // a peer does not hear itself
/// assert!(news.subscribe().is_err());
/// ```
pub struct Announcement<T: Clone + Send + 'static> {
    shared: Arc<Shared<T>>,
    id: u64,
    /// A peer that stands for one elsewhere (see `crate::sync::foreign`):
    /// every call forwards to it, and `shared` is an unused empty group.
    far: Option<Box<dyn FarPeer<T>>>,
}

/// The far side of a peer that stands for one elsewhere (a peer of the
/// parent's group, in a process worker). Dropping it leaves the group if
/// it was subscribed here.
pub(crate) trait FarPeer<T>: Send + Sync {
    fn put(&self, item: &T);
    /// The next item, or `None` once `wait` ran out.
    fn get(&self, wait: Wait) -> Option<T>;
    fn get_async(&self) -> BoxFuture<'static, T>;
    /// A new peer of the group; `None` once finalized.
    fn subscribe(&self) -> Option<Box<dyn FarPeer<T>>>;
    fn finalize(&self);
    fn query(&self, query: Query) -> usize;
    /// For the implementor's own downcasts (serializing the peer).
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<T: Clone + Send + 'static> Default for Announcement<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Send + 'static> fmt::Debug for Announcement<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Announcement")
            .field("peer", &self.id)
            .field("subscribers", &self.subscribers())
            .field("qsize", &self.qsize())
            .finish()
    }
}

impl<T: Clone + Send + 'static> Announcement<T> {
    /// A group with this one peer and no backlog: a peer that subscribes
    /// later receives only what is put after it joined.
    ///
    /// ```
    /// let a = lox::Announcement::new();
    /// a.put(1); // nobody else yet: lost
    /// let b = a.subscribe().unwrap();
    /// a.put(2);
    /// assert_eq!(b.try_get(), Some(2));
    /// assert_eq!(b.try_get(), None);
    /// ```
    pub fn new() -> Self {
        Self::build(None, None)
    }

    /// A group with this one peer that keeps a backlog for late subscribers:
    /// `None` keeps every item (until [`finalize`](Self::finalize)),
    /// `Some(n)` the last `n`.
    ///
    /// # Panics
    ///
    /// On `Some(0)`: use [`new`](Self::new) for no backlog.
    ///
    /// ```
    /// let a = lox::Announcement::with_backlog(Some(2));
    /// for i in 0..5 {
    ///     a.put(i);
    /// }
    /// let late = a.subscribe().unwrap();
    /// assert_eq!(late.qsize(), 2);
    /// assert_eq!((late.get(), late.get()), (3, 4));
    /// ```
    ///
    /// ```should_panic
    /// let _ = lox::Announcement::<u8>::with_backlog(Some(0)); // panics
    /// ```
    pub fn with_backlog(limit: Option<usize>) -> Self {
        assert!(
            limit != Some(0),
            "lox::Announcement::with_backlog(Some(0)): a backlog must keep at least one item; \
             use Announcement::new() for none"
        );
        Self::build(Some(VecDeque::new()), limit)
    }

    fn build(backlog: Option<VecDeque<T>>, limit: Option<usize>) -> Self {
        let mut peers = HashMap::new();
        peers.insert(
            0,
            PeerQueue {
                items: VecDeque::new(),
                wakers: Vec::new(),
                refs: 1,
            },
        );
        Announcement {
            shared: Arc::new(Shared {
                group: Mutex::new(Group {
                    peers,
                    next_peer: 1,
                    backlog,
                    limit,
                    finalized: false,
                }),
                cond: Condvar::new(),
            }),
            id: 0,
            far: None,
        }
    }

    /// A peer that forwards to `far`.
    pub(crate) fn foreign(far: Box<dyn FarPeer<T>>) -> Self {
        let mut a = Self::build(None, None);
        a.far = Some(far);
        a
    }

    /// The far side, if this peer forwards to one.
    pub(crate) fn far(&self) -> Option<&dyn FarPeer<T>> {
        self.far.as_deref()
    }

    /// Names this peer in the registry: the group's address and the peer.
    pub(crate) fn addr(&self) -> (usize, u64) {
        (Arc::as_ptr(&self.shared) as usize, self.id)
    }

    /// Another value standing for this same peer (not a new subscriber).
    pub(crate) fn share(&self) -> Self {
        if let Some(p) = self.shared.group.lock().peers.get_mut(&self.id) {
            p.refs += 1;
        }
        Announcement {
            shared: self.shared.clone(),
            id: self.id,
            far: None,
        }
    }

    /// Only this value stands for the peer.
    pub(crate) fn sole(&self) -> bool {
        self.shared
            .group
            .lock()
            .peers
            .get(&self.id)
            .map_or(true, |p| p.refs <= 1)
    }

    /// Give back an item that a get took but could not deliver: it is this
    /// peer's next item again.
    pub(crate) fn unget(&self, item: T) {
        let wakers = {
            let mut g = self.shared.group.lock();
            match g.peers.get_mut(&self.id) {
                Some(p) => {
                    p.items.push_front(item);
                    std::mem::take(&mut p.wakers)
                }
                None => return,
            }
        };
        self.shared.cond.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    /// A new peer in this group: it receives the backlog, then every later
    /// put of every other peer. `Err` after [`finalize`](Self::finalize).
    ///
    /// ```
    /// let a = lox::Announcement::new();
    /// let b = a.subscribe().unwrap();
    /// assert_eq!(a.subscribers(), 2);
    /// b.put('x');
    /// assert_eq!(a.get(), 'x');
    /// ```
    pub fn subscribe(&self) -> Result<Announcement<T>, SubscribeFinalizedError> {
        if let Some(far) = &self.far {
            let peer = far.subscribe().ok_or(SubscribeFinalizedError)?;
            return Ok(Announcement::foreign(peer));
        }
        let mut g = self.shared.group.lock();
        if g.finalized {
            return Err(SubscribeFinalizedError);
        }
        let id = g.next_peer;
        g.next_peer += 1;
        let items = g.backlog.clone().unwrap_or_default();
        g.peers.insert(
            id,
            PeerQueue {
                items,
                wakers: Vec::new(),
                refs: 1,
            },
        );
        Ok(Announcement {
            shared: self.shared.clone(),
            id,
            far: None,
        })
    }

    /// Send `item` to every other peer (and to the backlog, if kept).
    ///
    /// ```
    /// let a = lox::Announcement::new();
    /// let (b, c) = (a.subscribe().unwrap(), a.subscribe().unwrap());
    /// a.put(7);
    /// assert_eq!((b.get(), c.get()), (7, 7));
    /// assert_eq!(a.qsize(), 0);
    /// ```
    pub fn put(&self, item: T) {
        if let Some(far) = &self.far {
            return far.put(&item);
        }
        let mut wakers = Vec::new();
        {
            let mut g = self.shared.group.lock();
            let g = &mut *g;
            for (&id, peer) in g.peers.iter_mut() {
                if id != self.id {
                    peer.items.push_back(item.clone());
                    wakers.append(&mut peer.wakers);
                }
            }
            if let Some(backlog) = g.backlog.as_mut() {
                backlog.push_back(item);
                if let Some(limit) = g.limit {
                    while backlog.len() > limit {
                        backlog.pop_front();
                    }
                }
            }
        }
        self.shared.cond.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    /// Block until this peer's queue has an item; return the oldest.
    ///
    /// ```
    /// let a = lox::Announcement::new();
    /// let b = a.subscribe().unwrap();
    /// std::thread::spawn(move || a.put(42));
    /// assert_eq!(b.get(), 42);
    /// ```
    pub fn get(&self) -> T {
        if let Some(far) = &self.far {
            return far
                .get(Wait::Forever)
                .expect("lox: a get without deadline was refused");
        }
        let mut g = self.shared.group.lock();
        loop {
            if let Some(item) = self.pop(&mut g) {
                return item;
            }
            self.shared.cond.wait(&mut g);
        }
    }

    /// Like [`get`](Self::get), but gives up with [`Timeout`] after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let a = lox::Announcement::<u8>::new();
    /// assert_eq!(a.get_timeout(Duration::from_millis(5)), Err(lox::Timeout));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Timeout> {
        if let Some(far) = &self.far {
            return far.get(Wait::at_most(timeout)).ok_or(Timeout);
        }
        let deadline = match Instant::now().checked_add(timeout) {
            Some(d) => d,
            None => return Ok(self.get()),
        };
        let mut g = self.shared.group.lock();
        loop {
            if let Some(item) = self.pop(&mut g) {
                return Ok(item);
            }
            if self.shared.cond.wait_until(&mut g, deadline).timed_out() {
                return self.pop(&mut g).ok_or(Timeout);
            }
        }
    }

    /// The oldest item of this peer's queue, if any; never blocks.
    ///
    /// ```
    /// let a = lox::Announcement::new();
    /// let b = a.subscribe().unwrap();
    /// assert_eq!(b.try_get(), None);
    /// a.put(1);
    /// assert_eq!(b.try_get(), Some(1));
    /// ```
    pub fn try_get(&self) -> Option<T> {
        if let Some(far) = &self.far {
            return far.get(Wait::Try);
        }
        self.pop(&mut self.shared.group.lock())
    }

    /// Async twin of [`get`](Self::get): waits without blocking the executor.
    ///
    /// ```
    /// let a = lox::Announcement::new();
    /// let b = a.subscribe().unwrap();
    /// a.put("hi");
    /// assert_eq!(futures::executor::block_on(b.get_async()), "hi");
    /// ```
    pub fn get_async(&self) -> impl Future<Output = T> + Send + '_ {
        if let Some(far) = &self.far {
            return Either::Right(far.get_async());
        }
        Either::Left(futures::future::poll_fn(move |cx| {
            let mut g = self.shared.group.lock();
            if let Some(item) = self.pop(&mut g) {
                return Poll::Ready(item);
            }
            if let Some(peer) = g.peers.get_mut(&self.id) {
                if !peer.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    peer.wakers.push(cx.waker().clone());
                }
            }
            Poll::Pending
        }))
    }

    /// Close the group to new subscribers and free the backlog. Peers keep
    /// exchanging items.
    ///
    /// ```
    /// let a = lox::Announcement::with_backlog(None);
    /// let b = a.subscribe().unwrap();
    /// b.finalize(); // through any peer
    /// assert!(a.subscribe().is_err());
    /// a.put(1);
    /// assert_eq!(b.get(), 1);
    /// ```
    pub fn finalize(&self) {
        if let Some(far) = &self.far {
            return far.finalize();
        }
        let mut g = self.shared.group.lock();
        g.finalized = true;
        g.backlog = None;
    }

    /// Peers in the group right now, this one included.
    ///
    /// ```
    /// let a = lox::Announcement::<u8>::new();
    /// let b = a.subscribe().unwrap();
    /// assert_eq!(a.subscribers(), 2);
    /// drop(b);
    /// assert_eq!(a.subscribers(), 1);
    /// ```
    pub fn subscribers(&self) -> usize {
        if let Some(far) = &self.far {
            return far.query(Query::Subscribers);
        }
        self.shared.group.lock().peers.len()
    }

    /// Items waiting in this peer's receive queue.
    ///
    /// ```
    /// let a = lox::Announcement::new();
    /// let b = a.subscribe().unwrap();
    /// a.put(1);
    /// a.put(2);
    /// assert_eq!(b.qsize(), 2);
    /// ```
    pub fn qsize(&self) -> usize {
        if let Some(far) = &self.far {
            return far.query(Query::QSize);
        }
        self.shared
            .group
            .lock()
            .peers
            .get(&self.id)
            .map_or(0, |p| p.items.len())
    }

    fn pop(&self, g: &mut Group<T>) -> Option<T> {
        g.peers.get_mut(&self.id)?.items.pop_front()
    }
}

impl<T: Clone + Send + 'static> Drop for Announcement<T> {
    fn drop(&mut self) {
        if self.far.is_some() {
            return; // the far side leaves the group as it drops, if it must
        }
        let mut g = self.shared.group.lock();
        if let Some(p) = g.peers.get_mut(&self.id) {
            p.refs -= 1;
            if p.refs == 0 {
                g.peers.remove(&self.id);
            }
        }
    }
}
