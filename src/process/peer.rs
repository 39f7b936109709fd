//! Announcement peers in process jobs: serde for [`Announcement`], how the
//! parent's registry serves a peer to a worker (see `super::registry`), and
//! the worker's proxy of such a peer ([`PeerProxy`]).
//!
//! A peer passed in a job's arguments stays one peer: the worker's `get`
//! reads that peer's receive queue in the parent, its `put` reaches every
//! other peer of the group. A peer the worker subscribes is a new member of
//! the parent's group, for as long as the worker keeps it.

use std::any::Any;
use std::marker::PhantomData;

use futures::future::{BoxFuture, FutureExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::client::Remote;
use super::handles::{from_wire, to_wire};
use super::message::{Query, Wait};
use super::registry::{self, Kind, Registered, Served, Wire};
use crate::queue::FarPeer;
use crate::Announcement;

fn encode<T: Serialize>(item: &T) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec(item).map_err(|e| e.to_string())
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    rmp_serde::from_slice(bytes).map_err(|e| e.to_string())
}

/// The parent's peer, in a worker: every call is a request to the parent.
struct PeerProxy<T> {
    remote: Remote,
    /// Subscribed by this worker: it leaves the group when dropped.
    owned: bool,
    _items: PhantomData<fn(T) -> T>,
}

impl<T: DeserializeOwned> PeerProxy<T> {
    fn boxed(wire: Wire, owned: bool) -> Box<Self> {
        Box::new(PeerProxy {
            remote: Remote::new(wire),
            owned,
            _items: PhantomData,
        })
    }

    fn decode(item: &[u8]) -> T {
        decode(item).unwrap_or_else(|e| {
            panic!("lox: an announcement item from the parent could not be decoded: {e}")
        })
    }
}

impl<T> FarPeer<T> for PeerProxy<T>
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    fn put(&self, item: &T) {
        let bytes = encode(item).unwrap_or_else(|e| {
            panic!("lox: an announcement item could not be encoded for the parent: {e}")
        });
        self.remote.put(&bytes)
    }
    fn get(&self, wait: Wait) -> Option<T> {
        self.remote.get(wait).map(|item| Self::decode(&item))
    }
    fn get_async(&self) -> BoxFuture<'static, T> {
        self.remote
            .get_async()
            .map(|item| Self::decode(&item))
            .boxed()
    }
    fn subscribe(&self) -> Option<Box<dyn FarPeer<T>>> {
        let wire = self.remote.subscribe()?;
        Some(Self::boxed(wire, true))
    }
    fn finalize(&self) {
        self.remote.finalize()
    }
    fn query(&self, query: Query) -> usize {
        self.remote.query(query) as usize
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<T> Drop for PeerProxy<T> {
    fn drop(&mut self) {
        if self.owned {
            self.remote.unsubscribe();
        }
    }
}

/// One peer of a group, served to workers.
struct ServedPeer<T: Clone + Send + 'static>(Announcement<T>);

impl<T> Served for ServedPeer<T>
where
    T: Serialize + DeserializeOwned + Clone + Send + 'static,
{
    fn kind(&self) -> Kind {
        Kind::Announcement
    }
    fn unused(&self) -> bool {
        self.0.sole()
    }
    fn query(&self, q: Query) -> Result<u64, String> {
        match q {
            Query::Subscribers => Ok(self.0.subscribers() as u64),
            Query::QSize => Ok(self.0.qsize() as u64),
            _ => Err(format!("an Announcement has no {q:?}")),
        }
    }
    fn put(&self, item: &[u8]) -> Result<(), String> {
        let item = decode::<T>(item).map_err(|e| format!("an undecodable item: {e}"))?;
        self.0.put(item);
        Ok(())
    }
    fn try_get(&self) -> Result<Option<Vec<u8>>, String> {
        self.0.try_get().map(|item| encode(&item)).transpose()
    }
    fn get(&self) -> Result<BoxFuture<'static, Vec<u8>>, String> {
        let peer = self.0.share();
        Ok(async move {
            loop {
                let item = peer.get_async().await;
                match encode(&item) {
                    Ok(bytes) => return bytes,
                    // Cannot happen for items that came from a put (they
                    // encoded or decoded once already); never lose it silently.
                    Err(e) => log::error!("lox: an announcement item could not be encoded for a worker and was dropped: {e}"),
                }
            }
        }
        .boxed())
    }
    fn unget(&self, item: Vec<u8>) -> Result<(), String> {
        self.0.unget(decode::<T>(&item)?);
        Ok(())
    }
    fn subscribe(&self) -> Result<Option<Registered>, String> {
        let Ok(peer) = self.0.subscribe() else {
            return Ok(None);
        };
        Ok(Some(registry::register_new(
            Kind::Announcement,
            std::sync::Arc::new(ServedPeer(peer)),
        )))
    }
    fn finalize(&self) -> Result<(), String> {
        self.0.finalize();
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Travels in process jobs: the worker gets a handle of this very peer of
/// the parent's group (its receive queue stays in the parent). The parent's
/// value may be dropped after the scatter: the peer stays in the group while
/// a job carrying it is queued or running.
impl<T> Serialize for Announcement<T>
where
    T: Serialize + DeserializeOwned + Clone + Send + 'static,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let proxy = self
            .far()
            .and_then(|p| p.as_any().downcast_ref::<PeerProxy<T>>());
        match proxy {
            Some(p) => p.remote.wire.serialize(s),
            None => to_wire(s, None, self.addr(), Kind::Announcement, || {
                ServedPeer(self.share())
            }),
        }
    }
}

impl<'de, T> Deserialize<'de> for Announcement<T>
where
    T: Serialize + DeserializeOwned + Clone + Send + 'static,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_wire(
            d,
            Kind::Announcement,
            |e: &ServedPeer<T>| e.0.share(),
            |w| Announcement::foreign(PeerProxy::boxed(w, false)),
        )
    }
}
