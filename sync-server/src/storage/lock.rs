//! Locks held across every node on the database, for what must happen one
//! at a time however many nodes run: the office's recorder hands out event
//! ids in sequence. Within a process a mutex; on PostgreSQL also an
//! advisory lock, which the database drops by itself if the node dies.

use std::sync::{Arc, LazyLock};

use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{Backend, Storage, StorageError};

/// What is locked.
#[derive(Clone, Copy, Debug)]
pub enum Lock {
    /// The office's recorder (its event ids and clock).
    Office,
}

impl Lock {
    /// The advisory lock's key (the bytes of "waybill" and a number).
    fn key(self) -> i64 {
        match self {
            Self::Office => 0x7761_7962_696c_6c01,
        }
    }

    fn local(self) -> Arc<Mutex<()>> {
        static OFFICE: LazyLock<Arc<Mutex<()>>> = LazyLock::new(Arc::default);
        match self {
            Self::Office => OFFICE.clone(),
        }
    }
}

/// A held lock, released when dropped.
pub struct Guard {
    _local: OwnedMutexGuard<()>,
    shared: Option<super::postgres::Advisory>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(advisory) = self.shared.take() {
            advisory.release();
        }
    }
}

impl Storage {
    /// Waits for `lock`, on every node.
    pub async fn lock(&self, lock: Lock) -> Result<Guard, StorageError> {
        let local = lock.local().lock_owned().await;
        let shared = match &*self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(p) => Some(p.advisory(lock.key()).await?),
        };
        Ok(Guard { _local: local, shared })
    }
}
