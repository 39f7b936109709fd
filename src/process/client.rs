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
//! once, an announcement item is kept for that peer's next get.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use parking_lot::Mutex;

use super::frame;
use super::message::{Answer, Op, Query, Refusal, Request, Up, Wait};
use super::registry::Wire;

/// An answer and the payload that followed it (an announcement item).
pub(crate) type Reply = (Answer, Vec<u8>);

struct Waiting {
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
    /// Announcement items that arrived for a get that had gone: per peer id.
    leftovers: Mutex<HashMap<u64, VecDeque<Vec<u8>>>>,
}

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
        leftovers: Mutex::new(HashMap::new()),
    });
}

/// The parent is gone or refused to serve: a remote handle cannot go on.
#[cold]
fn fail(what: &str) -> ! {
    panic!("lox: {what}")
}

impl Client {
    fn send(&self, request: &Request, payload: &[u8]) {
        super::worker::start_reader();
        let mut buf = Vec::with_capacity(32 + payload.len());
        frame::begin(&mut buf);
        if let Err(e) = frame::push(&mut buf, &Up::Share(request.clone())) {
            fail(&format!("could not encode a request to the parent: {e}"));
        }
        buf.extend_from_slice(payload);
        if let Err(e) = frame::finish(&mut buf, self.max_frame) {
            fail(&format!("a request to the parent is too big: {e}"));
        }
        // A failed write means the parent is gone: the watchdog ends this
        // process in a moment; a waiter would never be answered.
        if let Err(e) = self.writer.lock().write_all(&buf) {
            fail(&format!("the channel to the parent failed: {e}"));
        }
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
    pub(crate) fn deliver(&self, answer: Answer, payload: Vec<u8>) {
        let req = answer.req();
        let Some(w) = self.waiting.lock().remove(&req) else {
            log::warn!("lox worker: an answer to no request ({answer:?})");
            return;
        };
        let (id, op) = (w.id, w.op);
        match w.tx {
            Some(tx) => {
                if let Err((answer, payload)) = tx.send((answer, payload)) {
                    self.unclaimed(id, op, answer, payload);
                }
            }
            None => self.unclaimed(id, op, answer, payload),
        }
    }

    /// An answer nobody waits for: give a grant back, keep an item.
    fn unclaimed(&self, id: u64, op: Option<Op>, answer: Answer, payload: Vec<u8>) {
        match answer {
            Answer::Granted { index, .. } => {
                if let Some(op) = op {
                    self.send(&Request::Release { id, op, index }, &[]);
                }
            }
            Answer::Item { .. } => self
                .leftovers
                .lock()
                .entry(id)
                .or_default()
                .push_back(payload),
            Answer::Refused { .. } | Answer::Value { .. } => {}
        }
    }

    fn leftover(&self, id: u64) -> Option<Vec<u8>> {
        let mut l = self.leftovers.lock();
        let q = l.get_mut(&id)?;
        let item = q.pop_front();
        if q.is_empty() {
            l.remove(&id);
        }
        item
    }

    /// Every waiter learns that the parent is gone (the channel closed).
    pub(crate) fn disconnect(&self) {
        self.waiting.lock().clear();
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
            Some(w) => w.tx.take().is_some(),
            None => false,
        };
        match withdrawn {
            // Not answered yet: withdraw it in the parent; its one answer
            // is settled by the reader when it comes.
            true => c.send(&Request::Cancel { req: self.req }, &[]),
            // Answered (or being answered): whatever arrived must not be lost.
            false => {
                if let Ok(Some((answer, payload))) = rx.try_recv() {
                    c.unclaimed(self.id, self.op, answer, payload);
                }
                // Otherwise the reader's `send` fails once `rx` is dropped
                // here, and it settles the answer itself.
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
    pub(crate) fn acquire_async(&self, op: Op) -> impl Future<Output = u64> + Send + 'static {
        let pending = self.acquire_request(op, Wait::Forever);
        async move {
            match Self::granted(pending.await) {
                Some(index) => index,
                None => fail("an acquire without deadline was refused"),
            }
        }
    }

    pub(crate) fn release(&self, op: Op, index: u64) {
        // No client (the process is exiting): nothing to tell.
        if let Some(c) = get() {
            let id = self.id();
            c.send(&Request::Release { id, op, index }, &[]);
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
        if let Some(item) = client().leftover(self.id()) {
            return Some(item);
        }
        Self::item(self.get_request(wait).wait())
    }

    pub(crate) fn get_async(&self) -> impl Future<Output = Vec<u8>> + Send + 'static {
        let this = *self;
        async move {
            if let Some(item) = client().leftover(this.id()) {
                return item;
            }
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
            c.send(&Request::Unsubscribe { id: self.id() }, &[]);
        }
    }

    pub(crate) fn finalize(&self) {
        client().send(&Request::Finalize { id: self.id() }, &[]);
    }
}
