//! Documents in memory: loaded from storage on first use, kept while in use,
//! and dropped least-recently-used beyond a cap, so the server does not hold
//! every document it stores.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use automerge::{AutoCommit, ChangeHash};
use waybill_shared::doc::DocId;

use crate::projection::Written;
use crate::storage::{Storage, StorageError};

/// A document in memory and what is stored of it.
pub struct Loaded {
    /// The document.
    pub doc: AutoCommit,
    /// What is stored of it; `None` while nothing is (a document the office
    /// is creating).
    pub stored: Option<Stored>,
    /// Bytes stored: the snapshot and the changes since.
    pub bytes: usize,
    /// An order's rows as this copy last wrote them; `None` when unknown
    /// (the next projection is written whole).
    pub projected: Option<Written>,
}

/// What storage holds of a document in memory.
pub struct Stored {
    /// The heads stored: a write goes over these or not at all.
    pub heads: Vec<ChangeHash>,
    /// Change rows stored since the snapshot.
    pub appended: i64,
}

impl Loaded {
    /// The document as `storage` holds it now, if it does.
    pub async fn read(storage: &Storage, id: &DocId) -> Result<Option<Self>, StorageError> {
        let Some(stored) = storage.load_doc(id).await? else { return Ok(None) };
        let corrupt = |e: automerge::AutomergeError| StorageError::Corrupt(format!("{id}: {e}"));
        let mut doc = AutoCommit::load(&stored.snapshot).map_err(corrupt)?;
        for c in &stored.changes {
            doc.load_incremental(c).map_err(corrupt)?;
        }
        let bytes = stored.snapshot.len() + stored.changes.iter().map(Vec::len).sum::<usize>();
        let appended = stored.changes.len() as i64;
        Ok(Some(Self { doc, stored: Some(Stored { heads: stored.heads, appended }), bytes, projected: None }))
    }
}

/// A shared, lockable document.
pub type Entry = Arc<tokio::sync::Mutex<Loaded>>;

/// Entries with when they were last used.
type Entries = HashMap<DocId, (Entry, u64)>;

/// The cache.
pub struct DocCache {
    entries: Mutex<Entries>,
    tick: std::sync::atomic::AtomicU64,
    cap: usize,
}

impl DocCache {
    /// A cache holding at most `cap` idle documents.
    pub fn new(cap: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), tick: Default::default(), cap }
    }

    /// The document, loading it from `storage` if needed; `None` if not stored.
    pub async fn get(&self, storage: &Storage, id: &DocId) -> Result<Option<Entry>, StorageError> {
        let now = self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cached = self.lock()?.get_mut(id).map(|(e, used)| {
            *used = now;
            e.clone()
        });
        if cached.is_some() {
            return Ok(cached);
        }
        let Some(loaded) = Loaded::read(storage, id).await? else { return Ok(None) };
        let entry = Arc::new(tokio::sync::Mutex::new(loaded));
        Ok(Some(self.insert(id.clone(), entry, now)?))
    }

    /// Adds a document being created, not stored yet.
    pub fn put(&self, id: DocId, doc: AutoCommit) -> Result<Entry, StorageError> {
        let now = self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.insert(
            id,
            Arc::new(tokio::sync::Mutex::new(Loaded { doc, stored: None, bytes: 0, projected: None })),
            now,
        )
    }

    /// Drops a document from memory, so its next use reloads what is stored
    /// (after a write failed, memory must not keep what storage lacks).
    pub fn forget(&self, id: &DocId) {
        if let Ok(mut map) = self.lock() {
            map.remove(id);
        }
    }

    /// Drops every document from memory (another node may have changed
    /// any of them).
    pub fn clear(&self) {
        if let Ok(mut map) = self.lock() {
            map.clear();
        }
    }

    fn insert(&self, id: DocId, entry: Entry, now: u64) -> Result<Entry, StorageError> {
        let mut map = self.lock()?;
        // Another task may have loaded it meanwhile: keep the first.
        let entry = map.entry(id).or_insert((entry, now)).0.clone();
        if map.len() > self.cap {
            let mut idle: Vec<(u64, DocId)> = map
                .iter()
                .filter(|(_, (e, _))| Arc::strong_count(e) == 1)
                .map(|(k, (_, used))| (*used, k.clone()))
                .collect();
            idle.sort();
            // An eighth more than needed: the scan above is over every
            // entry, so it runs once per so many loads, not on each.
            let excess = map.len() - self.cap + self.cap / 8;
            for (_, k) in idle.into_iter().take(excess) {
                map.remove(&k);
            }
        }
        Ok(entry)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Entries>, StorageError> {
        self.entries.lock().map_err(|_| StorageError::Corrupt("document cache poisoned".into()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use waybill_shared::id::OrderId;

    use super::*;

    fn order(i: usize) -> DocId {
        DocId::Order(OrderId::new(format!("SO-{i}")).unwrap())
    }

    #[test]
    fn idle_documents_go_least_recently_used_first_and_in_use_ones_stay() {
        let cache = DocCache::new(16);
        let in_use = cache.put(order(0), AutoCommit::new()).unwrap();
        for i in 1..=16 {
            cache.put(order(i), AutoCommit::new()).unwrap();
        }
        // Over the cap: the oldest idle go, an eighth more than needed.
        let map = cache.lock().unwrap();
        assert_eq!(map.len(), 16 + 1 - 3);
        assert!(map.contains_key(&order(0)), "a document in use stays");
        assert!(!map.contains_key(&order(1)) && !map.contains_key(&order(3)));
        assert!(map.contains_key(&order(4)) && map.contains_key(&order(16)));
        drop(map);
        drop(in_use);
    }
}
