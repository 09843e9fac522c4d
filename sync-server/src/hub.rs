//! Live connections: who is connected, with what scope, so a change can be
//! pushed at once to every device that holds the document, and a revoked
//! device can be cut off mid-connection.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use tokio::sync::Notify;
use waybill_shared::doc::DocId;

use crate::scope::Device;

/// One live connection.
pub struct Live {
    /// The device.
    pub device: Device,
    /// The documents it holds.
    pub scope: BTreeSet<DocId>,
    /// Documents to announce on the connection's control stream.
    pub push: Arc<Pending>,
    /// The connection, to close it.
    pub conn: quinn::Connection,
}

/// Documents waiting to be announced to one connection: a set, so a
/// device that reads slowly costs at most its scope, however many changes
/// come in meanwhile.
#[derive(Default)]
pub struct Pending {
    docs: Mutex<BTreeSet<DocId>>,
    notify: Notify,
}

impl Pending {
    /// Queues `doc` and wakes the writer.
    pub fn add(&self, doc: &DocId) {
        if let Ok(mut docs) = self.docs.lock() {
            docs.insert(doc.clone());
        }
        self.notify.notify_one();
    }

    /// Waits for documents to announce and takes them all.
    pub async fn take(&self) -> BTreeSet<DocId> {
        loop {
            let docs = self.docs.lock().map(|mut d| std::mem::take(&mut *d)).unwrap_or_default();
            if !docs.is_empty() {
                return docs;
            }
            self.notify.notified().await;
        }
    }
}

/// The registry.
#[derive(Default)]
pub struct Hub {
    live: Mutex<HashMap<u64, Live>>,
    next: AtomicU64,
}

impl Hub {
    /// Registers a connection unless its device already has `limit` open;
    /// returns its id. Counting and joining are one step, so connections
    /// opened together cannot slip past the limit.
    pub fn join(&self, live: Live, limit: usize) -> Option<u64> {
        let mut map = self.live.lock().ok()?;
        if map.values().filter(|l| l.device.id == live.device.id).count() >= limit {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        map.insert(id, live);
        Some(id)
    }

    /// Removes a connection.
    pub fn leave(&self, id: u64) {
        if let Ok(mut map) = self.live.lock() {
            map.remove(&id);
        }
    }

    /// Whether connection `id` holds `doc`.
    pub fn holds(&self, id: u64, doc: &DocId) -> bool {
        self.live.lock().map(|m| m.get(&id).is_some_and(|l| l.scope.contains(doc))).unwrap_or(false)
    }

    /// Replaces a connection's scope.
    pub fn set_scope(&self, id: u64, scope: BTreeSet<DocId>) {
        if let Ok(mut map) = self.live.lock()
            && let Some(l) = map.get_mut(&id)
        {
            l.scope = scope;
        }
    }

    /// Pushes `doc` to every connection but `from` that holds it. Those that
    /// do not hold it are returned, for the caller to check whether it has
    /// just come into their scope.
    pub fn notify(&self, doc: &DocId, from: u64) -> Vec<(u64, Device)> {
        let Ok(map) = self.live.lock() else { return Vec::new() };
        let mut others = Vec::new();
        for (id, l) in map.iter().filter(|(id, _)| **id != from) {
            if l.scope.contains(doc) {
                l.push.add(doc);
            } else {
                others.push((*id, l.device.clone()));
            }
        }
        others
    }

    /// Adds `doc` to connection `id`'s scope and pushes it.
    pub fn grant(&self, id: u64, doc: &DocId) {
        if let Ok(mut map) = self.live.lock()
            && let Some(l) = map.get_mut(&id)
        {
            l.scope.insert(doc.clone());
            l.push.add(doc);
        }
    }

    /// Every connected device, with its connection id and connection.
    pub fn connected(&self) -> Vec<(u64, String, quinn::Connection)> {
        self.live
            .lock()
            .map(|m| m.iter().map(|(id, l)| (*id, l.device.id.clone(), l.conn.clone())).collect())
            .unwrap_or_default()
    }
}
