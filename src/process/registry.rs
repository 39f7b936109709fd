//! The parent's registry of primitives shared with process workers.
//!
//! A sync handle or an announcement peer that is serialized (into a process
//! job's arguments, usually) is entered here under a numeric id and travels
//! as a [`Wire`]: this process's random `origin`, the id and the kind. Where
//! it is deserialized decides what it becomes:
//! - in this process (a result coming back, an inline job), the very same
//!   primitive: a clone of the registered handle;
//! - in a worker of this process, a *remote* handle whose requests travel to
//!   this registry over the worker's channel (see `super::client`, and
//!   `super::share` for the parent's side);
//! - anywhere else, a deserialization error that says so.
//!
//! An entry holds a handle, so the primitive outlives every handle of the
//! user while a job carrying it is queued or running: each encoded job
//! *pins* the entries it carries ([`collect_pins`]). An entry that nothing
//! but the registry holds any more (no handle, no guard, no waiter, no pin)
//! is dropped by the next sweep; sweeps run as entries are added, each after
//! the registry has doubled, so registering stays amortized O(1).

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::message::{Op, Query};

/// What a shared primitive is; checked when a handle is deserialized, so a
/// lock's id never turns into a semaphore.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Lock,
    QLock,
    RWLock,
    IndexSemaphore,
    LightSwitch,
    Announcement,
}

/// A shared handle as it travels.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Wire {
    /// The process whose registry holds it (see [`origin`]).
    pub(crate) origin: u64,
    pub(crate) id: u64,
    pub(crate) kind: Kind,
}

/// A primitive just registered: its wire and its entry.
pub(crate) type Registered = (Wire, Arc<dyn Served>);

/// A grant the parent holds on a worker's behalf: the real guard, released
/// when the worker releases, or when the worker dies.
pub(crate) type Held = Box<dyn Send>;

/// A primitive as the registry serves it to workers, type-erased. Every
/// method answers at once; waiting is done by the futures of `grant` and
/// `get`, which `super::share` runs on lox's runtime.
pub(crate) trait Served: Any + Send + Sync {
    fn kind(&self) -> Kind;
    /// Nothing but this entry holds the primitive: no handle, no guard, no
    /// waiter (pins are counted by the registry itself).
    fn unused(&self) -> bool;
    /// Grant now, or `Ok(None)` if it would have to wait.
    fn try_grant(&self, op: Op) -> Result<Option<(u64, Held)>, String> {
        Err(self.no_op(op))
    }
    /// A grant once available (dropping the future withdraws the waiter).
    fn grant(&self, op: Op) -> Result<BoxFuture<'static, (u64, Held)>, String> {
        Err(self.no_op(op))
    }
    fn query(&self, query: Query) -> Result<u64, String>;
    /// Announcement: put an encoded item.
    fn put(&self, _item: &[u8]) -> Result<(), String> {
        Err(format!("a {:?} has no put", self.kind()))
    }
    /// Announcement: the next item, encoded, now or `None`.
    fn try_get(&self) -> Result<Option<Vec<u8>>, String> {
        Err(format!("a {:?} has no get", self.kind()))
    }
    /// Announcement: the next item, encoded, once there is one.
    fn get(&self) -> Result<BoxFuture<'static, Vec<u8>>, String> {
        Err(format!("a {:?} has no get", self.kind()))
    }
    /// Announcement: put an item that a get took but could not deliver
    /// back at the front of the queue.
    fn unget(&self, _item: Vec<u8>) -> Result<(), String> {
        Err(format!("a {:?} has no get", self.kind()))
    }
    /// Announcement: a new peer, registered (its wire and the entry);
    /// `None` once finalized.
    fn subscribe(&self) -> Result<Option<Registered>, String> {
        Err(format!("a {:?} has no subscribe", self.kind()))
    }
    /// Announcement: finalize.
    fn finalize(&self) -> Result<(), String> {
        Err(format!("a {:?} has no finalize", self.kind()))
    }
    fn as_any(&self) -> &dyn Any;
    fn no_op(&self, op: Op) -> String {
        format!("a {:?} cannot be acquired with {op:?}", self.kind())
    }
}

/// This process's id in [`Wire`]s: random, so that handles of different
/// processes (or hosts) never pass for one another.
pub(crate) fn origin() -> u64 {
    static ORIGIN: OnceLock<u64> = OnceLock::new();
    *ORIGIN.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        h.finish()
    })
}

struct Registry {
    entries: HashMap<u64, Arc<dyn Served>>,
    /// ((address of the primitive, sub-id), kind) → id: the same primitive
    /// keeps its id while it is registered. The sub-id tells apart the peers
    /// of one announcement group; it is 0 for the others.
    by_addr: HashMap<((usize, u64), Kind), u64>,
    /// id → its key in `by_addr`.
    addr_of: HashMap<u64, ((usize, u64), Kind)>,
    next: u64,
    /// Sweep when `entries` reaches this size.
    sweep_at: usize,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        Mutex::new(Registry {
            entries: HashMap::new(),
            by_addr: HashMap::new(),
            addr_of: HashMap::new(),
            // Ids of different processes do not meet: a handle forwarded by
            // a worker to its own workers names nothing in the worker's
            // registry (refused), rather than another primitive there.
            next: (origin() & !0xffff_ffff) | 1,
            sweep_at: 64,
        })
    })
}

impl Registry {
    fn removable(entry: &Arc<dyn Served>) -> bool {
        Arc::strong_count(entry) == 1 && entry.unused()
    }

    fn insert(&mut self, key: Option<((usize, u64), Kind)>, entry: Arc<dyn Served>) -> u64 {
        if self.entries.len() >= self.sweep_at {
            self.sweep();
        }
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        self.entries.insert(id, entry);
        if let Some(key) = key {
            self.by_addr.insert(key, id);
            self.addr_of.insert(id, key);
        }
        id
    }

    /// Take `id` out; the caller drops the entry (after the lock, or under
    /// it: dropping a primitive's handle never calls back into here).
    fn remove(&mut self, id: u64) -> Option<Arc<dyn Served>> {
        if let Some(key) = self.addr_of.remove(&id) {
            self.by_addr.remove(&key);
        }
        self.entries.remove(&id)
    }

    /// Remove `id` if nothing but the registry uses it.
    fn remove_if_unused(&mut self, id: u64) -> Option<Arc<dyn Served>> {
        if self.entries.get(&id).is_some_and(Self::removable) {
            self.remove(id)
        } else {
            None
        }
    }

    fn sweep(&mut self) {
        let gone: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| Self::removable(e))
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            drop(self.remove(id));
        }
        self.sweep_at = (self.entries.len() * 2).max(64);
    }
}

thread_local! {
    /// Pins taken while a job's arguments are being encoded.
    static PINS: RefCell<Option<Vec<Pin>>> = const { RefCell::new(None) };
}

/// Keeps a registry entry alive while a job that carries it is queued or
/// running.
pub(crate) struct Pin {
    entry: Option<Arc<dyn Served>>,
    id: u64,
}

impl Drop for Pin {
    fn drop(&mut self) {
        // Pins let go one at a time, under the lock: the last one out sees
        // nothing but the registry's reference left.
        let mut reg = registry().lock();
        drop(self.entry.take());
        let gone = reg.remove_if_unused(self.id);
        drop(reg);
        drop(gone);
    }
}

/// Something that kept `id` in use (a waiter, a grant) is gone: drop the
/// entry now if nothing else uses it.
pub(crate) fn recheck(id: u64) {
    let gone = registry().lock().remove_if_unused(id);
    drop(gone);
}

/// Drop the entry `id` whatever uses it (a peer its worker subscribed and
/// let go of, or whose worker died: no one else was given its id).
pub(crate) fn remove(id: u64) {
    let gone = registry().lock().remove(id);
    drop(gone);
}

/// Run `f` (which encodes a job's arguments) and return the pins of every
/// shared primitive it registered.
pub(crate) fn collect_pins<T>(f: impl FnOnce() -> T) -> (T, Vec<Pin>) {
    let outer = PINS.with(|p| p.borrow_mut().replace(Vec::new()));
    let out = f();
    let pins = PINS.with(|p| std::mem::replace(&mut *p.borrow_mut(), outer));
    (out, pins.unwrap_or_default())
}

/// The id of the primitive at `addr` of `kind`, registering it (with the
/// entry `make` builds) if it is not registered yet.
pub(crate) fn register(
    addr: (usize, u64),
    kind: Kind,
    make: impl FnOnce() -> Arc<dyn Served>,
) -> Wire {
    let mut reg = registry().lock();
    let id = match reg.by_addr.get(&(addr, kind)) {
        Some(&id) => id,
        None => reg.insert(Some((addr, kind)), make()),
    };
    let entry = reg.entries[&id].clone();
    drop(reg);
    PINS.with(|p| {
        if let Some(pins) = p.borrow_mut().as_mut() {
            pins.push(Pin {
                entry: Some(entry),
                id,
            });
        }
    });
    Wire {
        origin: origin(),
        id,
        kind,
    }
}

/// Enter a primitive that has no handle of the user yet (a peer subscribed
/// by a worker); returns its wire and a reference taken under the lock (so
/// that no sweep can drop it before the caller holds it).
pub(crate) fn register_new(kind: Kind, entry: Arc<dyn Served>) -> Registered {
    let mut reg = registry().lock();
    let id = reg.insert(None, entry.clone());
    drop(reg);
    (
        Wire {
            origin: origin(),
            id,
            kind,
        },
        entry,
    )
}

/// The entry under `id`.
pub(crate) fn lookup(id: u64) -> Option<Arc<dyn Served>> {
    registry().lock().entries.get(&id).cloned()
}

/// What a deserialized wire names, as seen from this process.
pub(crate) enum Resolved {
    /// One of ours: the registered entry (downcast it to get a handle).
    Local(Arc<dyn Served>),
    /// Our parent's (we are a worker): talk to it over the channel.
    Remote(Wire),
}

/// Resolve a wire of `kind` (the type being deserialized).
pub(crate) fn resolve(wire: Wire, kind: Kind) -> Result<Resolved, String> {
    if wire.kind != kind {
        return Err(format!(
            "a shared {:?} cannot be deserialized as a {kind:?}",
            wire.kind
        ));
    }
    if wire.origin == origin() {
        return match lookup(wire.id) {
            Some(e) => Ok(Resolved::Local(e)),
            None => Err(format!(
                "this {kind:?} (id {}) is no longer registered: every handle of it and every job \
                 carrying it are gone",
                wire.id
            )),
        };
    }
    if super::client::get().is_some() {
        return Ok(Resolved::Remote(wire));
    }
    Err(format!(
        "a {kind:?} handle can only be deserialized in the process that created it or in one \
         of its lox process workers (this one is neither)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IndexSemaphore, Lock};

    fn id_of(bytes: &[u8]) -> Wire {
        rmp_serde::from_slice(bytes).unwrap()
    }

    #[test]
    fn same_primitive_same_id_and_back_to_itself() {
        let lock = Lock::new(());
        let a = rmp_serde::to_vec(&lock).unwrap();
        let b = rmp_serde::to_vec(&lock.clone()).unwrap();
        assert_eq!(a, b, "one lock, one id");
        let other = rmp_serde::to_vec(&Lock::new(())).unwrap();
        assert_ne!(id_of(&a).id, id_of(&other).id);
        let back: Lock = rmp_serde::from_slice(&a).unwrap();
        let _g = back.acquire();
        assert!(lock.is_locked(), "deserialized here, it is the same lock");
    }

    #[test]
    fn wrong_kind_and_foreign_origin_are_errors() {
        let sem = IndexSemaphore::new(2);
        let bytes = rmp_serde::to_vec(&sem).unwrap();
        let err = rmp_serde::from_slice::<Lock>(&bytes)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("IndexSemaphore") && err.contains("Lock"),
            "{err}"
        );
        // A handle of another process, here (not a worker of it).
        let mut wire = id_of(&bytes);
        wire.origin = wire.origin.wrapping_add(1);
        let foreign = rmp_serde::to_vec(&wire).unwrap();
        let err = rmp_serde::from_slice::<IndexSemaphore>(&foreign)
            .unwrap_err()
            .to_string();
        assert!(err.contains("only be deserialized"), "{err}");
    }

    #[test]
    fn a_job_pins_its_primitives_until_it_is_dropped() {
        let lock = Lock::new(());
        let (bytes, pins) = collect_pins(|| rmp_serde::to_vec(&(lock.clone(), 7u32)).unwrap());
        assert_eq!(pins.len(), 1);
        let wire: (Wire, u32) = rmp_serde::from_slice(&bytes).unwrap();
        drop(lock);
        // The user's handles are gone; the queued job keeps it registered.
        assert!(lookup(wire.0.id).is_some());
        drop(pins);
        assert!(
            lookup(wire.0.id).is_none(),
            "unregistered with its last job"
        );
        let err = rmp_serde::from_slice::<(Lock, u32)>(&bytes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no longer registered"), "{err}");
    }

    #[test]
    fn sweeps_drop_what_nobody_holds() {
        let ids: Vec<u64> = (0..200)
            .map(|_| id_of(&rmp_serde::to_vec(&Lock::new(())).unwrap()).id)
            .collect();
        let kept = Lock::new(());
        let kept_id = id_of(&rmp_serde::to_vec(&kept).unwrap()).id;
        // Registering more sweeps: the early, dropped locks are gone.
        for _ in 0..200 {
            let _ = rmp_serde::to_vec(&Lock::new(())).unwrap();
        }
        assert!(lookup(ids[0]).is_none());
        assert!(
            lookup(kept_id).is_some(),
            "a lock still held by the user stays"
        );
    }
}
