//! Live connections: who is connected, with what scope, so a change can be
//! pushed at once to every device that holds the document, and a revoked
//! device can be cut off mid-connection.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// Documents waiting to be announced to one connection, each with the
/// changes to push with it while they stay small: at most one entry per
/// document and [`PUSH_BYTES`] of changes in all, so a device that reads
/// slowly costs at most its scope and that, however many changes come in
/// meanwhile. Past it, documents are announced without their changes (the
/// device syncs them).
#[derive(Default)]
pub struct Pending {
    docs: Mutex<Queued>,
    notify: Notify,
}

/// Change bytes one connection may have waiting to be pushed.
pub const PUSH_BYTES: usize = 1 << 20;

#[derive(Default)]
struct Queued {
    /// Each document, with its changes (`None`: announce it only).
    docs: BTreeMap<DocId, Option<Vec<Vec<u8>>>>,
    /// Bytes of the changes held.
    bytes: usize,
}

impl Pending {
    /// Queues `doc`, with `changes` (encoded) if there is room and every
    /// change since it was last taken is there (none: announce it only),
    /// and wakes the writer.
    pub fn add(&self, doc: &DocId, changes: &[Vec<u8>]) {
        if let Ok(mut q) = self.docs.lock() {
            let size: usize = changes.iter().map(Vec::len).sum();
            let room = q.bytes + size <= PUSH_BYTES;
            let Queued { docs, bytes } = &mut *q;
            let held = docs.entry(doc.clone()).or_insert_with(|| Some(Vec::new()));
            match held {
                Some(list) if room && !changes.is_empty() => {
                    list.extend(changes.iter().cloned());
                    *bytes += size;
                }
                _ => *bytes -= held.take().iter().flatten().map(Vec::len).sum::<usize>(),
            }
        }
        self.notify.notify_one();
    }

    /// Waits for documents to announce and takes them all, with their
    /// changes (`None`: announce only).
    pub async fn take(&self) -> BTreeMap<DocId, Option<Vec<Vec<u8>>>> {
        loop {
            let docs = self.docs.lock().map(|mut q| std::mem::take(&mut *q).docs).unwrap_or_default();
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

    /// Pushes `doc` with its new `changes` (encoded; none: announce it
    /// only) to every connection but `from` that holds it. Those that do
    /// not hold it are returned, for the caller to check whether it has
    /// just come into their scope.
    pub fn notify(&self, doc: &DocId, changes: &[Vec<u8>], from: u64) -> Vec<(u64, Device)> {
        let Ok(map) = self.live.lock() else { return Vec::new() };
        let mut others = Vec::new();
        for (id, l) in map.iter().filter(|(id, _)| **id != from) {
            if l.scope.contains(doc) {
                l.push.add(doc, changes);
            } else {
                others.push((*id, l.device.clone()));
            }
        }
        others
    }

    /// Adds `doc` to connection `id`'s scope and announces it (the device
    /// does not hold it yet: it syncs it whole).
    pub fn grant(&self, id: u64, doc: &DocId) {
        if let Ok(mut map) = self.live.lock()
            && let Some(l) = map.get_mut(&id)
        {
            l.scope.insert(doc.clone());
            l.push.add(doc, &[]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn changes_go_with_their_document_until_one_is_missing_or_they_outgrow_the_room() {
        let pending = Pending::default();
        let (a, b, c): (DocId, DocId, DocId) =
            ("order/SO-1".parse().unwrap(), "order/SO-2".parse().unwrap(), "order/SO-3".parse().unwrap());
        pending.add(&a, &[vec![1]]);
        pending.add(&a, &[vec![2]]);
        // announced with none: the device must sync it, whatever comes after
        pending.add(&b, &[]);
        pending.add(&b, &[vec![3]]);
        // more than the room: announced only, and its bytes not held
        pending.add(&c, &[vec![0; PUSH_BYTES + 1]]);
        assert_eq!(pending.docs.lock().unwrap().bytes, 2, "only the changes queued count");
        let taken = pending.take().await;
        assert_eq!(taken[&a], Some(vec![vec![1], vec![2]]));
        assert_eq!(taken[&b], None);
        assert_eq!(taken[&c], None);
        assert_eq!(pending.docs.lock().unwrap().bytes, 0);
        // a fresh start once taken
        pending.add(&b, &[vec![4]]);
        assert_eq!(pending.take().await[&b], Some(vec![vec![4]]));
    }
}
