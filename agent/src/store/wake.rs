//! Wakes a store's watching sync when work is recorded through any handle
//! on the same store file in this process (an app's handle, and the one its
//! background sync holds): handles on one file share one [`Wake`], found
//! by the file's canonical path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::watch;

/// Every store file open in this process, by canonical path, while a
/// handle on it lives.
static OPEN: Mutex<Option<HashMap<PathBuf, Weak<watch::Sender<u64>>>>> = Mutex::new(None);

/// The wake-up shared by the handles on one store file.
#[derive(Clone)]
pub(crate) struct Wake(Arc<watch::Sender<u64>>);

impl Wake {
    /// The wake-up of the store file at `path` (which exists).
    pub(crate) fn of(path: &Path) -> Self {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        let open = open.get_or_insert_with(HashMap::new);
        open.retain(|_, w| w.strong_count() > 0);
        if let Some(wake) = open.get(&key).and_then(Weak::upgrade) {
            return Self(wake);
        }
        let wake = Arc::new(watch::channel(0).0);
        open.insert(key, Arc::downgrade(&wake));
        Self(wake)
    }

    /// Says that work was recorded.
    pub(crate) fn ring(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Waits for work recorded from now on: `changed()` resolves after the
    /// next [`ring`](Self::ring), or at once if one came since it was last
    /// seen.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ring_through_one_handle_wakes_a_watcher_on_another_handle_of_the_same_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
        std::fs::write(&a, b"").unwrap();
        std::fs::write(&b, b"").unwrap();
        let (on_a, on_b) = (Wake::of(&a), Wake::of(&b));
        let mut watching = on_a.subscribe();
        let other = on_b.subscribe();
        let same_file = Wake::of(&dir.path().join(".").join("a.db"));
        same_file.ring();
        tokio::time::timeout(std::time::Duration::from_secs(1), watching.changed()).await.unwrap().unwrap();
        assert!(!other.has_changed().unwrap(), "another file's watcher was woken");
    }
}
