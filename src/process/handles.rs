//! Sync handles in process jobs: serde for `Lock<()>`, `QLock<()>`,
//! `RWLock<()>`, `IndexSemaphore` and `LightSwitch`, and how the parent's
//! registry serves each of them to workers (see `super::registry`).
//!
//! A handle serializes as a small [`Wire`] (origin, id, kind). Deserialized
//! in the process that made it, it is the same primitive again; in one of
//! its process workers, a foreign handle whose far side is a [`Proxy`] to
//! the parent's broker; anywhere else, a deserialization error.
//!
//! Serializing a handle registers it (the entry keeps it alive while a job
//! carrying it is queued; see `registry::collect_pins`): the side effect
//! lives here, with the process code, and the sync types know nothing of it.

use std::any::Any;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::message::{Op, Query};
use super::proxy::Proxy;
use super::registry::{self, Held, Kind, Resolved, Served, Wire};
use crate::sync::foreign::Foreign;
use crate::{IndexSemaphore, LightSwitch, Lock, QLock, RWLock};

/// Serialize a handle: the wire of its proxy in a worker, else its
/// registration.
pub(crate) fn to_wire<S: Serializer, E: Served>(
    s: S,
    far: Option<Arc<dyn Foreign>>,
    addr: (usize, u64),
    kind: Kind,
    entry: impl FnOnce() -> E,
) -> Result<S::Ok, S::Error> {
    let wire = match far.as_deref().and_then(Proxy::wire_of) {
        Some(wire) => wire,
        None => registry::register(addr, kind, || Arc::new(entry())),
    };
    wire.serialize(s)
}

/// Deserialize a handle of `kind`: the registered primitive (`local` picks
/// the handle out of its entry) or, in a worker, one that forwards to the
/// parent's (`far` makes it from the wire).
pub(crate) fn from_wire<'de, D: Deserializer<'de>, E: Served, H>(
    d: D,
    kind: Kind,
    local: impl FnOnce(&E) -> H,
    far: impl FnOnce(Wire) -> H,
) -> Result<H, D::Error> {
    let wire = Wire::deserialize(d)?;
    match registry::resolve(wire, kind).map_err(D::Error::custom)? {
        Resolved::Remote(w) => Ok(far(w)),
        Resolved::Local(entry) => match entry.as_any().downcast_ref::<E>() {
            Some(e) => Ok(local(e)),
            None => Err(D::Error::custom(format!(
                "the registered primitive {} is not a {kind:?}",
                wire.id
            ))),
        },
    }
}

fn held<G: Send + 'static>(g: G) -> Held {
    Box::new(g)
}

fn no_query(kind: Kind, q: Query) -> String {
    format!("a {kind:?} has no {q:?}")
}

// ---- Lock and QLock ----

/// A `Lock<()>` (or the FIFO lock inside a `QLock<()>`) served to workers.
struct ServedLock {
    lock: Lock<()>,
    kind: Kind,
}

impl Served for ServedLock {
    fn kind(&self) -> Kind {
        self.kind
    }
    fn unused(&self) -> bool {
        self.lock.unused()
    }
    fn try_grant(&self, op: Op) -> Result<Option<(u64, Held)>, String> {
        match op {
            Op::Lock => Ok(self.lock.try_acquire().map(|g| (0, held(g)))),
            _ => Err(self.no_op(op)),
        }
    }
    fn grant(&self, op: Op) -> Result<BoxFuture<'static, (u64, Held)>, String> {
        match op {
            Op::Lock => Ok(self.lock.acquire_async().map(|g| (0, held(g))).boxed()),
            _ => Err(self.no_op(op)),
        }
    }
    fn query(&self, q: Query) -> Result<u64, String> {
        match q {
            Query::Available => Ok(!self.lock.is_locked() as u64),
            Query::Waiting => Ok(self.lock.waiting() as u64),
            _ => Err(no_query(self.kind, q)),
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Travels in process jobs: inside a worker, every acquire is granted by
/// the one broker in the parent (see the module docs of [`crate::Lock`] and
/// the book's chapter on sharing locks with process workers). Only
/// `Lock<()>`: a lock carrying data stays in its process.
impl Serialize for Lock<()> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        to_wire(s, self.far(), (self.addr(), 0), Kind::Lock, || ServedLock {
            lock: self.clone(),
            kind: Kind::Lock,
        })
    }
}

impl<'de> Deserialize<'de> for Lock<()> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_wire(
            d,
            Kind::Lock,
            |e: &ServedLock| e.lock.clone(),
            |w| Lock::foreign((), Proxy::far(w)),
        )
    }
}

/// Travels in process jobs like [`Lock<()>`](crate::Lock): waiters in every
/// process are served in the order the parent's broker receives them.
impl Serialize for QLock<()> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let lock = self.lock();
        to_wire(s, lock.far(), (lock.addr(), 0), Kind::QLock, || {
            ServedLock {
                lock: lock.clone(),
                kind: Kind::QLock,
            }
        })
    }
}

impl<'de> Deserialize<'de> for QLock<()> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_wire(
            d,
            Kind::QLock,
            |e: &ServedLock| QLock::from_lock(e.lock.clone()),
            |w| QLock::from_lock(Lock::foreign((), Proxy::far(w))),
        )
    }
}

// ---- RWLock ----

struct ServedRw(RWLock<()>);

impl Served for ServedRw {
    fn kind(&self) -> Kind {
        Kind::RWLock
    }
    fn unused(&self) -> bool {
        self.0.unused()
    }
    fn try_grant(&self, op: Op) -> Result<Option<(u64, Held)>, String> {
        match op {
            Op::Read => Ok(self.0.try_read().map(|g| (0, held(g)))),
            Op::Write => Ok(self.0.try_write().map(|g| (0, held(g)))),
            _ => Err(self.no_op(op)),
        }
    }
    fn grant(&self, op: Op) -> Result<BoxFuture<'static, (u64, Held)>, String> {
        match op {
            Op::Read => Ok(self.0.read_async().map(|g| (0, held(g))).boxed()),
            Op::Write => Ok(self.0.write_async().map(|g| (0, held(g))).boxed()),
            _ => Err(self.no_op(op)),
        }
    }
    fn query(&self, q: Query) -> Result<u64, String> {
        match q {
            Query::WriteLocked => Ok(self.0.is_write_locked() as u64),
            Query::Readers => Ok(self.0.readers() as u64),
            Query::Waiting => Ok(self.0.waiting() as u64),
            _ => Err(no_query(Kind::RWLock, q)),
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Travels in process jobs: readers and writers in every process share the
/// parent's broker, writer preference included. Only `RWLock<()>`.
impl Serialize for RWLock<()> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        to_wire(s, self.far(), (self.addr(), 0), Kind::RWLock, || {
            ServedRw(self.clone())
        })
    }
}

impl<'de> Deserialize<'de> for RWLock<()> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_wire(
            d,
            Kind::RWLock,
            |e: &ServedRw| e.0.clone(),
            |w| RWLock::foreign((), Proxy::far(w)),
        )
    }
}

// ---- IndexSemaphore ----

struct ServedSemaphore(IndexSemaphore);

impl Served for ServedSemaphore {
    fn kind(&self) -> Kind {
        Kind::IndexSemaphore
    }
    fn unused(&self) -> bool {
        self.0.unused()
    }
    fn try_grant(&self, op: Op) -> Result<Option<(u64, Held)>, String> {
        match op {
            Op::Index => Ok(self.0.try_acquire().map(|g| (g.index() as u64, held(g)))),
            _ => Err(self.no_op(op)),
        }
    }
    fn grant(&self, op: Op) -> Result<BoxFuture<'static, (u64, Held)>, String> {
        match op {
            Op::Index => Ok(self
                .0
                .acquire_async()
                .map(|g| (g.index() as u64, held(g)))
                .boxed()),
            _ => Err(self.no_op(op)),
        }
    }
    fn query(&self, q: Query) -> Result<u64, String> {
        match q {
            Query::Available => Ok(self.0.available() as u64),
            _ => Err(no_query(Kind::IndexSemaphore, q)),
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Travels in process jobs: every process draws its indices from the one
/// semaphore in the parent (the GPU pool with worker processes).
impl Serialize for IndexSemaphore {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        to_wire(
            s,
            self.far(),
            (self.addr(), 0),
            Kind::IndexSemaphore,
            || ServedSemaphore(self.clone()),
        )
    }
}

impl<'de> Deserialize<'de> for IndexSemaphore {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_wire(
            d,
            Kind::IndexSemaphore,
            |e: &ServedSemaphore| e.0.clone(),
            |w| IndexSemaphore::foreign(Proxy::far(w)),
        )
    }
}

// ---- LightSwitch ----

struct ServedSwitch(LightSwitch);

impl Served for ServedSwitch {
    fn kind(&self) -> Kind {
        Kind::LightSwitch
    }
    fn unused(&self) -> bool {
        self.0.unused()
    }
    fn try_grant(&self, op: Op) -> Result<Option<(u64, Held)>, String> {
        match op {
            Op::Switch => Ok(self.0.try_acquire().map(|g| (0, held(g)))),
            _ => Err(self.no_op(op)),
        }
    }
    fn grant(&self, op: Op) -> Result<BoxFuture<'static, (u64, Held)>, String> {
        match op {
            Op::Switch => Ok(self.0.acquire_async().map(|g| (0, held(g))).boxed()),
            _ => Err(self.no_op(op)),
        }
    }
    fn query(&self, q: Query) -> Result<u64, String> {
        match q {
            Query::Count => Ok(self.0.count() as u64),
            _ => Err(no_query(Kind::LightSwitch, q)),
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Travels in process jobs: the count of holders is kept by the parent's
/// switch, whichever process enters or leaves.
impl Serialize for LightSwitch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        to_wire(s, self.far(), (self.addr(), 0), Kind::LightSwitch, || {
            ServedSwitch(self.clone())
        })
    }
}

impl<'de> Deserialize<'de> for LightSwitch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_wire(
            d,
            Kind::LightSwitch,
            |e: &ServedSwitch| e.0.clone(),
            |w| LightSwitch::foreign(Proxy::far(w)),
        )
    }
}
