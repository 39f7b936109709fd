//! The worker's side of shared handles: requests to the parent's brokers.
//!
//! A worker that deserializes a shared handle (see `super::registry`) gets a
//! [`Remote`]: every acquire, release, query, put and get becomes a
//! [`Request`] frame on the worker's channel, written by whichever thread
//! asks (one writer lock shared with the job loop's results). The worker's
//! reader thread routes each [`Answer`] to the request waiting for it.
//!
//! Requests that expect an answer are numbered. A waiter that goes away
//! before its answer (a dropped async acquire or get) sends `Cancel`; an
//! answer that still arrives for it is not lost: a grant is released at
//! once, an announcement item goes back to the front of its peer's queue in
//! the parent (`Unget`). The reader thread never writes itself (it could
//! block on the writer lock while the parent waits for it to read): those
//! give-backs go, in order, through one give-back thread, and the job loop
//! sends a job's result only once they are out (`wait_settled`).

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use parking_lot::{Condvar, Mutex};

use super::frame;
use super::message::{Answer, Op, Query, Refusal, Request, Up, Wait};
use super::registry::Wire;

/// An answer and the payload that followed it (an announcement item).
pub(crate) type Reply = (Answer, Vec<u8>);

struct Waiting {
    /// Withdrawn by its `Pending` (counted in `unsettled`).
    withdrawn: bool,
    /// `None` once the waiter went away: the answer (every request gets
    /// exactly one, a `Cancel` still pending in the parent gets `Refused`)
    /// is then settled by the reader.
    tx: Option<oneshot::Sender<Reply>>,
    /// What the request was for: to release a grant nobody takes.
    id: u64,
    op: Option<Op>,
}

/// The worker's connection to its parent, for shared handles.
pub(crate) struct Client {
    writer: &'static Mutex<File>,
    max_frame: usize,
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, Waiting>>,
    /// Withdrawn requests whose answer has not been settled yet, and
    /// give-backs not yet sent: the job loop sends a job's result only once
    /// this is zero, so that everything a job gave back reaches the parent
    /// before its result does.
    unsettled: Mutex<usize>,
    settled: Condvar,
    /// Give-backs, sent in order by one thread (the reader must not write).
    givebacks: OnceLock<crossbeam_channel::Sender<GiveBack>>,
}

/// A give-back: the request and its payload.
type GiveBack = (Request, Vec<u8>);

static CLIENT: OnceLock<Client> = OnceLock::new();

/// The client, in a worker process that has completed its handshake.
pub(crate) fn get() -> Option<&'static Client> {
    CLIENT.get()
}

/// Set up the client (the worker, after the handshake).
pub(crate) fn install(writer: &'static Mutex<File>, max_frame: usize) {
    let _ = CLIENT.set(Client {
        writer,
        max_frame,
        next: AtomicU64::new(1),
        waiting: Mutex::new(HashMap::new()),
        unsettled: Mutex::new(0),
        settled: Condvar::new(),
        givebacks: OnceLock::new(),
    });
}

/// The parent is gone or refused to serve: a remote handle cannot go on.
#[cold]
fn fail(what: &str) -> ! {
    panic!("lox: {what}")
}

impl Client {
    fn send(&self, request: &Request, payload: &[u8]) {
        if let Err(e) = self.try_send(request, payload) {
            fail(&e);
        }
    }

    /// Send without panicking (from `Drop`s: a guard dropped while a panic
    /// unwinds must not panic again).
    fn try_send(&self, request: &Request, payload: &[u8]) -> Result<(), String> {
        super::worker::start_reader();
        let mut buf = Vec::with_capacity(32 + payload.len());
        frame::begin(&mut buf);
        frame::push(&mut buf, &Up::Share(request.clone()))
            .map_err(|e| format!("could not encode a request to the parent: {e}"))?;
        buf.extend_from_slice(payload);
        frame::finish(&mut buf, self.max_frame)
            .map_err(|e| format!("a request to the parent is too big: {e}"))?;
        // A failed write means the parent is gone: the watchdog ends this
        // process in a moment; a waiter would never be answered.
        self.writer
            .lock()
            .write_all(&buf)
            .map_err(|e| format!("the channel to the parent failed: {e}"))
    }

    /// Send a request that expects an answer.
    fn ask(&'static self, make: impl FnOnce(u64) -> Request, id: u64, op: Option<Op>) -> Pending {
        self.ask_with(make, id, op, &[])
    }

    fn ask_with(
        &'static self,
        make: impl FnOnce(u64) -> Request,
        id: u64,
        op: Option<Op>,
        payload: &[u8],
    ) -> Pending {
        let req = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().insert(
            req,
            Waiting {
                withdrawn: false,
                tx: Some(tx),
                id,
                op,
            },
        );
        self.send(&make(req), payload);
        Pending {
            client: self,
            req,
            id,
            op,
            rx: Some(rx),
        }
    }

    /// The reader thread got an answer: hand it to its waiter.
    pub(crate) fn deliver(&'static self, answer: Answer, payload: Vec<u8>) {
        let req = answer.req();
        // The answer is handed over under the lock: a `Pending` dropped at
        // the same moment either finds its entry (and withdraws it) or finds
        // the answer in its channel, never neither.
        let mut waiting = self.waiting.lock();
        let Some(w) = waiting.remove(&req) else {
            drop(waiting);
            log::warn!("lox worker: an answer to no request ({answer:?})");
            return;
        };
        let (id, op) = (w.id, w.op);
        let unclaimed = match w.tx {
            Some(tx) => tx.send((answer, payload)).err(),
            None => Some((answer, payload)),
        };
        drop(waiting);
        if let Some((answer, payload)) = unclaimed {
            self.unclaimed(id, op, answer, payload);
        }
        if w.withdrawn {
            self.settle(1);
        }
    }

    fn settle(&self, n: usize) {
        let mut u = self.unsettled.lock();
        *u -= n;
        if *u == 0 {
            self.settled.notify_all();
        }
    }

    /// Block until every withdrawal and give-back is settled (see
    /// `unsettled`); bounded by a round trip to the parent.
    pub(crate) fn wait_settled(&self) {
        let mut u = self.unsettled.lock();
        while *u > 0 {
            self.settled.wait(&mut u);
        }
    }

    /// An answer nobody waits for: give a grant back, an item too.
    fn unclaimed(&'static self, id: u64, op: Option<Op>, answer: Answer, payload: Vec<u8>) {
        let request = match answer {
            Answer::Granted { index, .. } => match op {
                Some(op) => Request::Release { id, op, index },
                None => return,
            },
            Answer::Item { .. } => Request::Unget { id },
            Answer::Refused { .. } | Answer::Value { .. } => return,
        };
        // Not on the caller's thread: it may be the reader (see the module
        // docs). Rare: only answers that crossed a withdrawal get here.
        *self.unsettled.lock() += 1;
        let tx = self.givebacks.get_or_init(|| {
            let (tx, rx) = crossbeam_channel::unbounded::<GiveBack>();
            let spawned = std::thread::Builder::new()
                .name("lox-give-back".into())
                .spawn(move || {
                    for (request, payload) in rx {
                        let _ = self.try_send(&request, &payload);
                        self.settle(1);
                    }
                });
            if let Err(e) = spawned {
                // Without it a give-back would never be sent: nothing to do
                // but stop (the parent then frees what this worker held).
                eprintln!("lox worker: no give-back thread ({e}); exiting");
                std::process::exit(2);
            }
            tx
        });
        let _ = tx.send((request, payload));
    }

    /// Every waiter learns that the parent is gone (the channel closed);
    /// nothing is left to settle.
    pub(crate) fn disconnect(&self) {
        self.waiting.lock().clear();
        *self.unsettled.lock() = 0;
        self.settled.notify_all();
    }
}

/// A request waiting for its answer; a future, or [`Pending::wait`] blocks.
pub(crate) struct Pending {
    client: &'static Client,
    req: u64,
    /// What it asks for: to settle an answer that arrives for nobody.
    id: u64,
    op: Option<Op>,
    rx: Option<oneshot::Receiver<Reply>>,
}

impl Pending {
    /// Block the calling thread until the answer arrives.
    pub(crate) fn wait(self) -> Reply {
        futures::executor::block_on(self)
    }
}

impl Future for Pending {
    type Output = Reply;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        let rx = self
            .rx
            .as_mut()
            .expect("lox: request polled after completion");
        match Pin::new(rx).poll(cx) {
            Poll::Ready(Ok(reply)) => {
                self.rx = None;
                Poll::Ready(reply)
            }
            Poll::Ready(Err(_)) => {
                self.rx = None;
                fail("the parent process closed the channel before answering a request of a shared handle")
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else { return };
        let c = self.client;
        let withdrawn = match c.waiting.lock().get_mut(&self.req) {
            Some(w) => {
                let taken = w.tx.take().is_some();
                if taken {
                    // Settled when its answer comes (see `deliver`).
                    *c.unsettled.lock() += 1;
                    w.withdrawn = true;
                }
                taken
            }
            None => false,
        };
        match withdrawn {
            // Not answered yet: withdraw it in the parent; its one answer
            // is settled by the reader when it comes.
            true => {
                let _ = c.try_send(&Request::Cancel { req: self.req }, &[]);
            }
            // Answered (or being answered): whatever arrived must not be lost.
            false => {
                // `deliver` put the answer in the channel before it let go
                // of the entry: it is there.
                if let Ok(Some((answer, payload))) = rx.try_recv() {
                    c.unclaimed(self.id, self.op, answer, payload);
                }
            }
        }
    }
}

/// A handle of the parent's primitive, in a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Remote {
    pub(crate) wire: Wire,
}

fn client() -> &'static Client {
    get().unwrap_or_else(|| fail("a remote handle was used outside of a lox worker"))
}

fn refused(why: Refusal) -> ! {
    match why {
        Refusal::Invalid(m) => fail(&m),
        other => fail(&format!("unexpected refusal {other:?}")),
    }
}

impl Remote {
    pub(crate) fn new(wire: Wire) -> Self {
        Remote { wire }
    }

    fn id(&self) -> u64 {
        self.wire.id
    }

    fn acquire_request(&self, op: Op, wait: Wait) -> Pending {
        let id = self.id();
        client().ask(|req| Request::Acquire { req, id, op, wait }, id, Some(op))
    }

    fn granted(reply: Reply) -> Option<u64> {
        match reply.0 {
            Answer::Granted { index, .. } => Some(index),
            Answer::Refused {
                why: Refusal::Timeout,
                ..
            } => None,
            Answer::Refused { why, .. } => refused(why),
            other => fail(&format!("unexpected answer {other:?} to an acquire")),
        }
    }

    /// Blocking acquire; `None` when `wait` ran out (or `Wait::Try` found it
    /// taken).
    pub(crate) fn acquire(&self, op: Op, wait: Wait) -> Option<u64> {
        Self::granted(self.acquire_request(op, wait).wait())
    }

    /// Async acquire: resolves with the grant's index.
    /// The request goes out at the first poll, as futures do.
    pub(crate) fn acquire_async(&self, op: Op) -> impl Future<Output = u64> + Send + 'static {
        let this = *self;
        async move {
            match Self::granted(this.acquire_request(op, Wait::Forever).await) {
                Some(index) => index,
                None => fail("an acquire without deadline was refused"),
            }
        }
    }

    /// From a guard's `Drop`: never panics (a parent that is gone has
    /// released everything anyway).
    pub(crate) fn release(&self, op: Op, index: u64) {
        if let Some(c) = get() {
            let id = self.id();
            let _ = c.try_send(&Request::Release { id, op, index }, &[]);
        }
    }

    pub(crate) fn query(&self, query: Query) -> u64 {
        let id = self.id();
        let reply = client()
            .ask(|req| Request::Query { req, id, query }, id, None)
            .wait();
        match reply.0 {
            Answer::Value { value, .. } => value,
            Answer::Refused { why, .. } => refused(why),
            other => fail(&format!("unexpected answer {other:?} to a query")),
        }
    }

    pub(crate) fn put(&self, item: &[u8]) {
        client().send(&Request::Put { id: self.id() }, item);
    }

    fn get_request(&self, wait: Wait) -> Pending {
        let id = self.id();
        client().ask(|req| Request::Get { req, id, wait }, id, None)
    }

    fn item(reply: Reply) -> Option<Vec<u8>> {
        match reply.0 {
            Answer::Item { .. } => Some(reply.1),
            Answer::Refused {
                why: Refusal::Timeout,
                ..
            } => None,
            Answer::Refused { why, .. } => refused(why),
            other => fail(&format!("unexpected answer {other:?} to a get")),
        }
    }

    /// Announcement get: the encoded item, or `None` when `wait` ran out.
    pub(crate) fn get(&self, wait: Wait) -> Option<Vec<u8>> {
        Self::item(self.get_request(wait).wait())
    }

    pub(crate) fn get_async(&self) -> impl Future<Output = Vec<u8>> + Send + 'static {
        let this = *self;
        async move {
            match Self::item(this.get_request(Wait::Forever).await) {
                Some(item) => item,
                None => fail("a get without deadline was refused"),
            }
        }
    }

    /// Announcement subscribe: the new peer's wire, `None` once finalized.
    pub(crate) fn subscribe(&self) -> Option<Wire> {
        let id = self.id();
        let reply = client()
            .ask(|req| Request::Subscribe { req, id }, id, None)
            .wait();
        match reply.0 {
            Answer::Value { value, .. } => Some(Wire {
                id: value,
                ..self.wire
            }),
            Answer::Refused {
                why: Refusal::Finalized,
                ..
            } => None,
            Answer::Refused { why, .. } => refused(why),
            other => fail(&format!("unexpected answer {other:?} to a subscribe")),
        }
    }

    /// A peer this worker subscribed is dropped.
    pub(crate) fn unsubscribe(&self) {
        if let Some(c) = get() {
            let _ = c.try_send(&Request::Unsubscribe { id: self.id() }, &[]);
        }
    }

    pub(crate) fn finalize(&self) {
        client().send(&Request::Finalize { id: self.id() }, &[]);
    }
}
