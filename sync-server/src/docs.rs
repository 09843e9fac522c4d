//! Documents in memory: loaded from storage on first use, kept while in use,
//! and dropped least-recently-used beyond a cap, so the server does not hold
//! every document it stores.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use automerge::AutoCommit;
use waybill_shared::doc::DocId;

use crate::storage::{Storage, StorageError};

/// A document in memory and what is stored of it.
pub struct Loaded {
    /// The document.
    pub doc: AutoCommit,
    /// Change rows stored since the snapshot; `None` while nothing is stored
    /// (a document the office is creating).
    pub appended: Option<i64>,
    /// Bytes stored: the snapshot and the changes since.
    pub bytes: usize,
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
    pub fn get(&self, storage: &Storage, id: &DocId) -> Result<Option<Entry>, StorageError> {
        let now = self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some((e, used)) = self.lock()?.get_mut(id) {
            *used = now;
            return Ok(Some(e.clone()));
        }
        let Some((snapshot, changes)) = storage.load_doc(id)? else { return Ok(None) };
        let corrupt = |e: automerge::AutomergeError| StorageError::Corrupt(format!("{id}: {e}"));
        let mut doc = AutoCommit::load(&snapshot).map_err(corrupt)?;
        for c in &changes {
            doc.load_incremental(c).map_err(corrupt)?;
        }
        let bytes = snapshot.len() + changes.iter().map(Vec::len).sum::<usize>();
        let loaded = Loaded { doc, appended: Some(changes.len() as i64), bytes };
        let entry = Arc::new(tokio::sync::Mutex::new(loaded));
        Ok(Some(self.insert(id.clone(), entry, now)?))
    }

    /// Adds a document being created, not stored yet.
    pub fn put(&self, id: DocId, doc: AutoCommit) -> Result<Entry, StorageError> {
        let now = self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.insert(id, Arc::new(tokio::sync::Mutex::new(Loaded { doc, appended: None, bytes: 0 })), now)
    }

    /// Drops a document from memory, so its next use reloads what is stored
    /// (after a write failed, memory must not keep what storage lacks).
    pub fn forget(&self, id: &DocId) {
        if let Ok(mut map) = self.lock() {
            map.remove(id);
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
            let excess = map.len() - self.cap;
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
