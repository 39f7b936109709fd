//! The in-worker proxy of a sync primitive: the far side of a foreign broker
//! (`crate::sync::foreign`) that forwards over the worker's channel to the
//! one broker in the parent. One implementation for every kind: sync's
//! foreign paths do acquire, try, timeout, async and the guards' releases
//! alike for `Lock`, `QLock`, `RWLock`, `IndexSemaphore` and `LightSwitch`.

use std::any::Any;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};

use super::client::Remote;
use super::message::{Op, Query, Wait};
use super::registry::{Kind, Wire};
use crate::sync::foreign::{Access, Foreign};

/// The parent's primitive `remote.wire` names, in a worker.
pub(crate) struct Proxy {
    remote: Remote,
}

impl Proxy {
    pub(crate) fn far(wire: Wire) -> Arc<dyn Foreign> {
        Arc::new(Proxy {
            remote: Remote::new(wire),
        })
    }

    /// The wire of a handle that forwards to a proxy (`None`: it forwards
    /// elsewhere, which nothing does today).
    pub(crate) fn wire_of(far: &dyn Foreign) -> Option<Wire> {
        far.as_any().downcast_ref::<Proxy>().map(|p| p.remote.wire)
    }

    fn op(&self, access: Access) -> Op {
        match (self.remote.wire.kind, access) {
            (Kind::RWLock, Access::Shared) => Op::Read,
            (Kind::RWLock, Access::Exclusive) => Op::Write,
            (Kind::IndexSemaphore, _) => Op::Index,
            (Kind::LightSwitch, _) => Op::Switch,
            (Kind::Lock | Kind::QLock | Kind::Announcement, _) => Op::Lock,
        }
    }
}

impl Foreign for Proxy {
    fn acquire(&self, access: Access, wait: Wait) -> Option<usize> {
        let index = self.remote.acquire(self.op(access), wait)?;
        Some(index as usize)
    }

    fn acquire_async(&self, access: Access) -> BoxFuture<'static, usize> {
        self.remote
            .acquire_async(self.op(access))
            .map(|index| index as usize)
            .boxed()
    }

    fn release(&self, access: Access, index: usize) {
        self.remote.release(self.op(access), index as u64)
    }

    fn query(&self, query: Query) -> usize {
        self.remote.query(query) as usize
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
