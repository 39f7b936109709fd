//! The parent's side of shared handles: one [`Peer`] per worker process.
//!
//! The worker's manager thread reads a `Request` off the worker's channel and
//! hands it to [`Peer::handle`], which never blocks: a request that must wait
//! (an acquire or a get) becomes a future on lox's runtime thread, the
//! broker's own async acquire, so the waiter sits in the broker's queue like
//! any thread's (FIFO, writer preference and timeouts behave the same).
//! A free primitive is granted at once, on the manager thread. Answers made
//! on the runtime thread go to a per-worker writer thread, so the runtime
//! thread never blocks on a worker's pipe (a stopped or distant worker stalls
//! no one else); both write under the writer lock the manager uses for jobs.
//!
//! The parent holds the real guard of every grant on the worker's behalf.
//! When the worker dies (its channel closes, it is killed for a timeout, the
//! pool is dropped) [`Peer::close`] withdraws its waiting requests and drops
//! every guard it held: a crashed worker never leaves a lock held.

use std::collections::HashMap;
use std::io::Write;
use std::process::ChildStdin;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{AbortHandle, Abortable};
use parking_lot::Mutex;

use super::frame;
use super::message::{Answer, Down, Op, Refusal, Request, Wait};
use super::registry::{self, Held, Served};

/// Requests waiting in the parent, and grants held, for one worker.
#[derive(Default)]
struct State {
    /// The worker is gone: nothing more is granted.
    closed: bool,
    /// Some request came.
    used: bool,
    /// req → how to withdraw it.
    waiting: HashMap<u64, AbortHandle>,
    /// (id, op, index) → guards held for the worker.
    held: HashMap<(u64, Op, u64), Vec<Held>>,
    /// Announcement peers the worker subscribed: kept registered until it
    /// drops them (or dies).
    owned: HashMap<u64, Arc<dyn Served>>,
    /// Peers the worker dropped: unregistered after the next job result,
    /// which may carry one of them back to the parent (a job that returns
    /// the peer it subscribed drops its own value before the result goes).
    dropped: Vec<(u64, Arc<dyn Served>)>,
}

/// One worker process's shared-handle traffic.
pub(crate) struct Peer {
    writer: Arc<Mutex<ChildStdin>>,
    max_frame: usize,
    state: Mutex<State>,
    /// Answers made on lox's runtime thread go through this queue to a
    /// writer thread: the runtime thread never blocks on a worker's pipe (a
    /// stopped worker, or one far away, must not stall every lock of the
    /// process). Started with the first such answer.
    outbox: Mutex<Option<crossbeam_channel::Sender<Vec<u8>>>>,
}

impl Peer {
    pub(crate) fn new(writer: Arc<Mutex<ChildStdin>>, max_frame: usize) -> Arc<Peer> {
        Arc::new(Peer {
            writer,
            max_frame,
            state: Mutex::new(State::default()),
            outbox: Mutex::new(None),
        })
    }

    /// A job carrying shared handles goes to this worker: watch its channel
    /// from now on, also while it has no job (a thread of the job may ask
    /// for a lock after the job returned).
    pub(crate) fn mark_used(&self) {
        self.state.lock().used = true;
    }

    /// A job result was read: the peers the worker dropped before it can go.
    pub(crate) fn after_result(&self) {
        let dropped = std::mem::take(&mut self.state.lock().dropped);
        for (id, entry) in dropped {
            drop(entry);
            registry::remove(id);
        }
    }

    /// The worker has sent shared-handle requests: its manager keeps
    /// reading its channel even while it has no job there.
    pub(crate) fn used(&self) -> bool {
        self.state.lock().used
    }

    /// The worker is gone: withdraw its waiting requests, release every grant
    /// it held.
    pub(crate) fn close(&self) {
        let (waiting, held, owned, dropped) = {
            let mut s = self.state.lock();
            s.closed = true;
            (
                std::mem::take(&mut s.waiting),
                std::mem::take(&mut s.held),
                std::mem::take(&mut s.owned),
                std::mem::take(&mut s.dropped),
            )
        };
        // Withdrawn now; each waiting task then drops its acquire (leaving
        // the broker's queue) and rechecks its entry (`wait_then`).
        for abort in waiting.into_values() {
            abort.abort();
        }
        let n: usize = held.values().map(Vec::len).sum();
        if n > 0 {
            log::warn!("lox: a worker died holding {n} grant(s) of shared locks; released them");
        }
        let ids: Vec<u64> = held.keys().map(|k| k.0).collect();
        drop(held); // releases, outside the state lock
        for id in ids {
            registry::recheck(id);
        }
        // Nobody else was given the ids of the peers it subscribed.
        for id in owned.into_keys() {
            registry::remove(id);
        }
        for (id, entry) in dropped {
            drop(entry);
            registry::remove(id);
        }
        *self.outbox.lock() = None; // its writer thread ends
    }

    /// The frame of an answer (an item over the frame cap becomes a
    /// refusal that says so).
    fn frame_of(&self, answer: &Answer, payload: &[u8]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(32 + payload.len());
        frame::begin(&mut buf);
        frame::push(&mut buf, &Down::Share(answer.clone())).expect("a short header always encodes");
        buf.extend_from_slice(payload);
        if let Err(e) = frame::finish(&mut buf, self.max_frame) {
            let why = Refusal::Invalid(format!("the announcement item could not be sent: {e}"));
            let refused = Answer::Refused {
                req: answer.req(),
                why,
            };
            return self.frame_of(&refused, &[]);
        }
        buf
    }

    /// Answer from the manager thread (which may block on the pipe).
    fn answer(&self, answer: &Answer, payload: &[u8]) {
        let buf = self.frame_of(answer, payload);
        // A failed write: the worker is gone, its manager sees it and closes us.
        let _ = self.writer.lock().write_all(&buf);
    }

    /// Answer from lox's runtime thread: queued for the writer thread.
    fn answer_later(&self, answer: &Answer, payload: &[u8]) {
        let buf = self.frame_of(answer, payload);
        let mut outbox = self.outbox.lock();
        if outbox.is_none() {
            if self.state.lock().closed {
                return;
            }
            let (tx, rx) = crossbeam_channel::unbounded::<Vec<u8>>();
            let writer = self.writer.clone();
            let spawned = std::thread::Builder::new()
                .name("lox-answers".into())
                .spawn(move || {
                    for buf in rx {
                        if writer.lock().write_all(&buf).is_err() {
                            break; // the worker is gone
                        }
                    }
                });
            if let Err(e) = spawned {
                log::error!("lox: no writer thread for a worker's answers ({e}); writing inline");
                drop(outbox);
                let _ = self.writer.lock().write_all(&buf);
                return;
            }
            *outbox = Some(tx);
        }
        if let Some(tx) = outbox.as_ref() {
            let _ = tx.send(buf);
        }
    }

    fn refuse(&self, req: u64, why: String) {
        log::warn!("lox: refused a worker's request: {why}");
        self.answer(
            &Answer::Refused {
                req,
                why: Refusal::Invalid(why),
            },
            &[],
        );
    }

    /// Serve one request of the worker; never blocks on a broker.
    pub(crate) fn handle(self: &Arc<Self>, request: Request, payload: &[u8]) {
        self.state.lock().used = true;
        match request {
            Request::Acquire { req, id, op, wait } => self.acquire(req, id, op, wait),
            Request::Release { id, op, index } => {
                let guard = {
                    let mut s = self.state.lock();
                    let key = (id, op, index);
                    let guard = s.held.get_mut(&key).and_then(Vec::pop);
                    if s.held.get(&key).is_some_and(Vec::is_empty) {
                        s.held.remove(&key);
                    }
                    guard
                };
                match guard {
                    Some(g) => {
                        drop(g);
                        registry::recheck(id);
                    }
                    None => log::warn!("lox: a worker released {op:?} of {id} it did not hold"),
                }
            }
            Request::Cancel { req } => {
                let abort = self.state.lock().waiting.remove(&req);
                // Still waiting: withdrawn, and answered so the worker can
                // forget it. Otherwise its answer is already on its way.
                if let Some(abort) = abort {
                    abort.abort();
                    self.answer(
                        &Answer::Refused {
                            req,
                            why: Refusal::Timeout,
                        },
                        &[],
                    );
                }
            }
            Request::Query { req, id, query } => match lookup(id).and_then(|e| e.query(query)) {
                Ok(value) => self.answer(&Answer::Value { req, value }, &[]),
                Err(why) => self.refuse(req, why),
            },
            Request::Put { id } => {
                if let Err(why) = lookup(id).and_then(|e| e.put(payload)) {
                    log::warn!("lox: a worker's put was dropped: {why}");
                }
            }
            Request::Get { req, id, wait } => self.get(req, id, wait),
            Request::Subscribe { req, id } => match lookup(id).and_then(|e| e.subscribe()) {
                Ok(Some((wire, entry))) => {
                    self.state.lock().owned.insert(wire.id, entry);
                    self.answer(
                        &Answer::Value {
                            req,
                            value: wire.id,
                        },
                        &[],
                    )
                }
                Ok(None) => self.answer(
                    &Answer::Refused {
                        req,
                        why: Refusal::Finalized,
                    },
                    &[],
                ),
                Err(why) => self.refuse(req, why),
            },
            Request::Unsubscribe { id } => {
                // Kept (held here) until the next result is decoded.
                let mut s = self.state.lock();
                if let Some(entry) = s.owned.remove(&id) {
                    s.dropped.push((id, entry));
                }
            }
            Request::Unget { id } => self.requeue(id, payload.to_vec()),
            Request::Finalize { id } => {
                if let Err(why) = lookup(id).and_then(|e| e.finalize()) {
                    log::warn!("lox: a worker's finalize was dropped: {why}");
                }
            }
        }
    }

    fn acquire(self: &Arc<Self>, req: u64, id: u64, op: Op, wait: Wait) {
        let entry = match lookup(id) {
            Ok(e) => e,
            Err(why) => return self.refuse(req, why),
        };
        // Free (and, for the FIFO brokers, nobody waiting): granted here, no
        // trip through the runtime thread. A `try_` refuses on the spot.
        match entry.try_grant(op) {
            Ok(Some((index, guard))) => return self.granted(req, id, op, index, guard, false),
            Ok(None) if wait == Wait::Try => {
                return self.answer(
                    &Answer::Refused {
                        req,
                        why: Refusal::Timeout,
                    },
                    &[],
                )
            }
            Ok(None) => {}
            Err(why) => return self.refuse(req, why),
        }
        let fut = match entry.grant(op) {
            Ok(f) => f,
            Err(why) => return self.refuse(req, why),
        };
        drop(entry);
        let peer = self.clone();
        self.wait_then(req, id, wait, fut, move |grant| match grant {
            Some((index, guard)) => peer.granted(req, id, op, index, guard, true),
            None => peer.timed_out(req),
        });
    }

    fn get(self: &Arc<Self>, req: u64, id: u64, wait: Wait) {
        let entry = match lookup(id) {
            Ok(e) => e,
            Err(why) => return self.refuse(req, why),
        };
        if wait == Wait::Try {
            return match entry.try_get() {
                Ok(Some(item)) => self.answer(&Answer::Item { req }, &item),
                Ok(None) => self.answer(
                    &Answer::Refused {
                        req,
                        why: Refusal::Timeout,
                    },
                    &[],
                ),
                Err(why) => self.refuse(req, why),
            };
        }
        let fut = match entry.get() {
            Ok(f) => f,
            Err(why) => return self.refuse(req, why),
        };
        drop(entry);
        let peer = self.clone();
        self.wait_then(req, id, wait, fut, move |item| match item {
            Some(item) => {
                if peer.finish(req) {
                    peer.answer_later(&Answer::Item { req }, &item);
                } else {
                    // Withdrawn, or the worker is gone: not lost, back to
                    // the front of the peer's queue.
                    peer.requeue(id, item);
                }
            }
            None => peer.timed_out(req),
        });
    }

    /// Run `fut` on lox's runtime, withdrawable with `Cancel` or `close`,
    /// bounded by `wait`; `done` gets its output, or `None` on timeout.
    fn wait_then<T: Send + 'static>(
        self: &Arc<Self>,
        req: u64,
        id: u64,
        wait: Wait,
        fut: futures::future::BoxFuture<'static, T>,
        done: impl FnOnce(Option<T>) + Send + 'static,
    ) {
        let (abort, registration) = AbortHandle::new_pair();
        {
            let mut s = self.state.lock();
            if s.closed {
                return;
            }
            s.waiting.insert(req, abort);
        }
        let fut = Abortable::new(fut, registration);
        let task = async move {
            let out = match wait {
                Wait::Nanos(ns) => {
                    match actix_rt::time::timeout(Duration::from_nanos(ns), fut).await {
                        Ok(r) => r.map(Some),
                        Err(_) => Ok(None), // timed out: the acquire was dropped
                    }
                }
                _ => fut.await.map(Some),
            };
            // Aborted: withdrawn, nothing to answer.
            if let Ok(out) = out {
                done(out);
            }
            // The acquire (and its handle) is gone: maybe the last use.
            registry::recheck(id);
        };
        crate::runtime::arbiter().spawn(task);
    }

    /// The request is no longer waiting; true if it still wanted an answer.
    fn finish(&self, req: u64) -> bool {
        let mut s = self.state.lock();
        !s.closed && s.waiting.remove(&req).is_some()
    }

    fn timed_out(&self, req: u64) {
        if self.finish(req) {
            self.answer_later(
                &Answer::Refused {
                    req,
                    why: Refusal::Timeout,
                },
                &[],
            );
        }
    }

    fn granted(&self, req: u64, id: u64, op: Op, index: u64, guard: Held, waited: bool) {
        {
            let mut s = self.state.lock();
            let wanted = !s.closed && (!waited || s.waiting.remove(&req).is_some());
            if !wanted {
                drop(s);
                drop(guard); // withdrawn meanwhile, or the worker is gone
                return;
            }
            s.held.entry((id, op, index)).or_default().push(guard);
        }
        let answer = Answer::Granted { req, index };
        if waited {
            self.answer_later(&answer, &[]); // on the runtime thread
        } else {
            self.answer(&answer, &[]);
        }
    }

    /// An announcement item popped for a get that went away: give it back
    /// to the front of that peer's queue so nothing is lost.
    fn requeue(&self, id: u64, item: Vec<u8>) {
        match lookup(id).and_then(|entry| entry.unget(item)) {
            Ok(()) => {}
            Err(why) => log::warn!("lox: an announcement item given back was dropped: {why}"),
        }
    }
}

fn lookup(id: u64) -> Result<Arc<dyn Served>, String> {
    registry::lookup(id).ok_or_else(|| {
        format!(
            "no shared primitive with id {id} in the parent: every handle of it and every job \
             carrying it are gone"
        )
    })
}
