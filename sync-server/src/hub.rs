//! Live connections: who is connected, with what scope, so a change can be
//! pushed at once to every device that holds the document, and a revoked
//! device can be cut off mid-connection.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use tokio::sync::Notify;
use waybill_shared::doc::DocId;
use waybill_shared::role::Role;

use crate::scope::Device;

/// One live connection.
pub struct Live {
    /// The device.
    pub device: Device,
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
    live: Mutex<Registry>,
    next: AtomicU64,
}

#[derive(Default)]
struct Registry {
    conns: HashMap<u64, Live>,
    index: Index,
}

/// Who holds what, indexed both ways, so that a stored change finds the
/// connections holding its document, and those of the devices newly
/// entitled to it, without looking at every connection: with 200 devices
/// connected, that look per stored document was a tenth of the server's
/// work.
#[derive(Default)]
struct Index {
    /// Each connection's documents (none listed for office connections).
    scopes: HashMap<u64, BTreeSet<DocId>>,
    /// The connections holding each document (office connections, which
    /// hold everything, are in `office` instead).
    holders: HashMap<DocId, BTreeSet<u64>>,
    /// Office connections.
    office: BTreeSet<u64>,
    /// Each device's connections.
    by_device: HashMap<String, BTreeSet<u64>>,
}

impl Index {
    fn join(&mut self, id: u64, device: &Device) {
        self.by_device.entry(device.id.clone()).or_default().insert(id);
        if device.role == Role::Office {
            self.office.insert(id);
        }
        self.scopes.insert(id, BTreeSet::new());
    }

    fn leave(&mut self, id: u64, device: &str) {
        for doc in self.scopes.remove(&id).unwrap_or_default() {
            self.drop_hold(id, &doc);
        }
        self.office.remove(&id);
        if let Some(conns) = self.by_device.get_mut(device) {
            conns.remove(&id);
            if conns.is_empty() {
                self.by_device.remove(device);
            }
        }
    }

    fn connections_of(&self, device: &str) -> usize {
        self.by_device.get(device).map_or(0, BTreeSet::len)
    }

    fn holds(&self, id: u64, doc: &DocId) -> bool {
        self.office.contains(&id) || self.holders.get(doc).is_some_and(|h| h.contains(&id))
    }

    /// Replaces `id`'s scope; an office connection holds everything
    /// whatever its scope says.
    fn set_scope(&mut self, id: u64, scope: BTreeSet<DocId>) {
        if self.office.contains(&id) {
            return;
        }
        let Some(slot) = self.scopes.get_mut(&id) else { return };
        let old = std::mem::replace(slot, scope);
        let now = &self.scopes[&id];
        let gone: Vec<DocId> = old.difference(now).cloned().collect();
        let new: Vec<DocId> = now.difference(&old).cloned().collect();
        for doc in &gone {
            self.drop_hold(id, doc);
        }
        for doc in new {
            self.holders.entry(doc).or_default().insert(id);
        }
    }

    /// Adds `doc` to `id`'s scope (an office connection's has everything).
    fn hold(&mut self, id: u64, doc: &DocId) {
        if self.office.contains(&id) {
            return;
        }
        if let Some(scope) = self.scopes.get_mut(&id) {
            scope.insert(doc.clone());
            self.holders.entry(doc.clone()).or_default().insert(id);
        }
    }

    fn drop_hold(&mut self, id: u64, doc: &DocId) {
        if let Some(h) = self.holders.get_mut(doc) {
            h.remove(&id);
            if h.is_empty() {
                self.holders.remove(doc);
            }
        }
    }

    /// The connections holding `doc`, but `from`.
    fn holding(&self, doc: &DocId, from: u64) -> impl Iterator<Item = u64> + '_ {
        let holders = self.holders.get(doc).into_iter().flatten();
        self.office.iter().chain(holders).copied().filter(move |id| *id != from)
    }

    /// The connections of the devices in `audience`, but `from` and those
    /// in `pushed`.
    fn entitled(&self, audience: &BTreeSet<String>, from: u64, pushed: &BTreeSet<u64>) -> Vec<u64> {
        audience
            .iter()
            .filter_map(|device| self.by_device.get(device))
            .flatten()
            .copied()
            .filter(|id| *id != from && !pushed.contains(id))
            .collect()
    }
}

impl Hub {
    /// Registers a connection unless its device already has `limit` open;
    /// returns its id. Counting and joining are one step, so connections
    /// opened together cannot slip past the limit.
    pub fn join(&self, live: Live, limit: usize) -> Option<u64> {
        let mut reg = self.live.lock().ok()?;
        if reg.index.connections_of(&live.device.id) >= limit {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        reg.index.join(id, &live.device);
        reg.conns.insert(id, live);
        Some(id)
    }

    /// Removes a connection.
    pub fn leave(&self, id: u64) {
        let Ok(mut reg) = self.live.lock() else { return };
        if let Some(live) = reg.conns.remove(&id) {
            reg.index.leave(id, &live.device.id);
        }
    }

    /// Whether connection `id` holds `doc`.
    pub fn holds(&self, id: u64, doc: &DocId) -> bool {
        self.live.lock().map(|r| r.index.holds(id, doc)).unwrap_or(false)
    }

    /// Replaces a connection's scope.
    pub fn set_scope(&self, id: u64, scope: BTreeSet<DocId>) {
        if let Ok(mut reg) = self.live.lock()
            && reg.conns.contains_key(&id)
        {
            reg.index.set_scope(id, scope);
        }
    }

    /// Pushes `doc` with its new `changes` (encoded; none: announce it
    /// only) to every connection but `from` that holds it. Returns the
    /// connections it pushed to, or `None` if every connection but `from`
    /// holds it; otherwise the caller looks up who should hold it and
    /// [`grant`](Self::grant)s it to them.
    pub fn notify(&self, doc: &DocId, changes: &[Vec<u8>], from: u64) -> Option<BTreeSet<u64>> {
        let reg = self.live.lock().ok()?;
        let mut pushed = BTreeSet::new();
        for id in reg.index.holding(doc, from) {
            if let Some(l) = reg.conns.get(&id) {
                l.push.add(doc, changes);
                pushed.insert(id);
            }
        }
        let others = reg.conns.len() - usize::from(reg.conns.contains_key(&from));
        (others > pushed.len()).then_some(pushed)
    }

    /// Adds `doc` to the scope of the connections of the devices in
    /// `audience`, but `from` and those [`notify`](Self::notify) `pushed`
    /// it to, and announces it to them (they sync it). Whether they hold it
    /// by now does not matter: one that came to hold it since `notify` (a
    /// scope set meanwhile) has not heard of this change either.
    pub fn grant(&self, doc: &DocId, audience: &BTreeSet<String>, from: u64, pushed: &BTreeSet<u64>) {
        let Ok(mut reg) = self.live.lock() else { return };
        for id in reg.index.entitled(audience, from, pushed) {
            reg.index.hold(id, doc);
            if let Some(l) = reg.conns.get(&id) {
                l.push.add(doc, &[]);
            }
        }
    }

    /// Every connected device, with its connection id and connection.
    pub fn connected(&self) -> Vec<(u64, String, quinn::Connection)> {
        self.live
            .lock()
            .map(|r| r.conns.iter().map(|(id, l)| (*id, l.device.id.clone(), l.conn.clone())).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str, role: Role) -> Device {
        Device { id: id.into(), role, location: None }
    }

    fn docs(ids: &[&str]) -> BTreeSet<DocId> {
        ids.iter().map(|d| format!("order/{d}").parse().unwrap()).collect()
    }

    #[test]
    fn the_index_finds_holders_and_the_newly_entitled_both_ways() {
        let mut index = Index::default();
        let (a, b) = (device("hh-1", Role::Picker), device("hh-2", Role::Picker));
        index.join(1, &a);
        index.join(2, &a); // the same device twice
        index.join(3, &b);
        index.join(4, &device("office-1", Role::Office));
        index.set_scope(1, docs(&["SO-1", "SO-2"]));
        index.set_scope(3, docs(&["SO-2"]));
        index.set_scope(4, docs(&["SO-9"])); // the office holds everything anyway
        let so = |d: &str| docs(&[d]).into_iter().next().unwrap();
        let holding = |index: &Index, d: &str, from| index.holding(&so(d), from).collect::<BTreeSet<_>>();
        assert_eq!(holding(&index, "SO-2", 0), [1, 3, 4].into());
        assert_eq!(holding(&index, "SO-2", 3), [1, 4].into(), "not the one it came from");
        assert_eq!(holding(&index, "SO-7", 0), [4].into());

        // SO-7 is hh-1's now: its connections are entitled, not the one it
        // came from, nor those it was pushed to (the office's).
        let audience: BTreeSet<String> = ["hh-1".into(), "office-1".into()].into();
        assert_eq!(index.entitled(&audience, 2, &[4].into()), vec![1]);
        assert_eq!(index.entitled(&audience, 2, &BTreeSet::new()), vec![1, 4]);
        index.hold(1, &so("SO-7"));
        index.hold(4, &so("SO-7")); // the office's scope lists nothing
        assert!(index.holds(1, &so("SO-7")) && !index.holds(2, &so("SO-7")));
        assert!(!index.holders[&so("SO-7")].contains(&4));

        // A new scope drops what it no longer lists, from the index too.
        index.set_scope(1, docs(&["SO-2"]));
        assert_eq!(holding(&index, "SO-1", 0), [4].into());
        assert_eq!(holding(&index, "SO-7", 0), [4].into());
        // Leaving takes a connection out of everything.
        index.leave(3, "hh-2");
        index.leave(4, "office-1");
        assert_eq!(holding(&index, "SO-2", 0), [1].into());
        assert_eq!(index.connections_of("hh-1"), 2);
        assert_eq!(index.connections_of("hh-2"), 0);
        index.leave(1, "hh-1");
        index.leave(2, "hh-1");
        assert!(index.holders.is_empty() && index.by_device.is_empty() && index.scopes.is_empty());
    }

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
