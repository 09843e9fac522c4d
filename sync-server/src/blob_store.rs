//! Where blob bytes live: files in the data directory beside SQLite (the
//! embedded default), or the database itself when several nodes share a
//! PostgreSQL, so an upload cut on one node resumes on another and every
//! node can serve every proof.
//!
//! A blob arrives as a partial upload, appended to durably in pieces, and
//! becomes stored, under its hash, once whole and checked.

use std::collections::HashSet;
use std::path::PathBuf;

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use waybill_shared::blob::BlobHash;

use crate::storage::{Storage, StorageError};

/// Blob bytes.
pub enum BlobStore {
    /// Files: `<dir>/<hex>` stored, `<dir>/partial/<hex>` arriving.
    Files(PathBuf),
    /// Rows of the database.
    Database(Storage),
}

impl BlobStore {
    /// Files under `dir`, which is made if missing.
    pub fn files(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.join("partial"))?;
        Ok(Self::Files(dir))
    }

    /// Which of `hashes` are stored.
    pub async fn stored(&self, hashes: &[BlobHash]) -> Result<HashSet<BlobHash>, StorageError> {
        let mut out = HashSet::new();
        for h in hashes {
            let held = match self {
                Self::Files(dir) => tokio::fs::try_exists(dir.join(h.hex())).await?,
                Self::Database(db) => db.blob_stored(&h.hex()).await?,
            };
            if held {
                out.insert(*h);
            }
        }
        Ok(out)
    }

    /// How many bytes of an upload cut short are held (0 if none).
    pub async fn partial_len(&self, hash: &BlobHash) -> Result<u64, StorageError> {
        Ok(match self {
            Self::Files(dir) => match tokio::fs::metadata(self.partial(dir, hash)).await {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(e.into()),
            },
            Self::Database(db) => db.blob_partial_len(&hash.hex()).await?,
        })
    }

    /// Keeps the first `len` bytes of a partial upload.
    pub async fn truncate(&self, hash: &BlobHash, len: u64) -> Result<(), StorageError> {
        match self {
            Self::Files(dir) => {
                let file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.partial(dir, hash))
                    .await?;
                file.set_len(len).await?;
            }
            Self::Database(db) => db.blob_truncate(&hash.hex(), len).await?,
        }
        Ok(())
    }

    /// Appends `bytes` at `at` (the partial's length) to a partial upload.
    /// In the database that is durable at once; a file is synced when the
    /// blob is complete (a process killed keeps what it wrote).
    pub async fn append(&self, hash: &BlobHash, at: u64, bytes: &[u8]) -> Result<(), StorageError> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self {
            Self::Files(dir) => {
                let mut file =
                    tokio::fs::OpenOptions::new().append(true).open(self.partial(dir, hash)).await?;
                file.write_all(bytes).await?;
                // tokio writes in the background: finished before this handle
                // goes, or the next piece's handle could append first.
                file.flush().await?;
            }
            Self::Database(db) => db.blob_append(&hash.hex(), at, bytes).await?,
        }
        Ok(())
    }

    /// A partial upload's bytes, whole.
    pub async fn partial_bytes(&self, hash: &BlobHash) -> Result<Vec<u8>, StorageError> {
        Ok(match self {
            Self::Files(dir) => tokio::fs::read(self.partial(dir, hash)).await?,
            Self::Database(db) => db.blob_partial_bytes(&hash.hex()).await?,
        })
    }

    /// Makes a whole, checked partial upload the stored blob.
    pub async fn complete(&self, hash: &BlobHash, bytes: Vec<u8>) -> Result<(), StorageError> {
        match self {
            Self::Files(dir) => {
                let partial = self.partial(dir, hash);
                tokio::fs::File::open(&partial).await?.sync_all().await?;
                tokio::fs::rename(partial, dir.join(hash.hex())).await?;
                if let Ok(d) = tokio::fs::File::open(dir).await {
                    let _ = d.sync_all().await;
                }
            }
            Self::Database(db) => db.blob_complete(&hash.hex(), bytes).await?,
        }
        Ok(())
    }

    /// Drops a partial upload (it did not hash to its name).
    pub async fn discard(&self, hash: &BlobHash) -> Result<(), StorageError> {
        match self {
            Self::Files(dir) => tokio::fs::remove_file(self.partial(dir, hash)).await?,
            Self::Database(db) => db.blob_truncate(&hash.hex(), 0).await?,
        }
        Ok(())
    }

    /// Up to `len` bytes of a stored blob from `at`; `None` if not stored.
    pub async fn read(&self, hash: &BlobHash, at: u64, len: usize) -> Result<Option<Vec<u8>>, StorageError> {
        match self {
            Self::Files(dir) => {
                let mut file = match tokio::fs::File::open(dir.join(hash.hex())).await {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                file.seek(std::io::SeekFrom::Start(at)).await?;
                let mut buf = Vec::new();
                file.take(len as u64).read_to_end(&mut buf).await?;
                Ok(Some(buf))
            }
            Self::Database(db) => Ok(db.blob_read(&hash.hex(), at, len).await?),
        }
    }

    fn partial(&self, dir: &std::path::Path, hash: &BlobHash) -> PathBuf {
        dir.join("partial").join(hash.hex())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Pieces appended one after another read back in their order, however
    /// tokio schedules the writes behind them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pieces_appended_to_a_file_stay_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::files(dir.path().join("blobs")).unwrap();
        let pieces: Vec<Vec<u8>> = (0..2000u32).map(|i| i.to_be_bytes().repeat(64)).collect();
        let whole = pieces.concat();
        let hash = BlobHash::of(&whole);
        store.truncate(&hash, 0).await.unwrap();
        let mut at = 0;
        for p in &pieces {
            store.append(&hash, at, p).await.unwrap();
            at += p.len() as u64;
        }
        assert_eq!(store.partial_len(&hash).await.unwrap(), whole.len() as u64);
        assert!(store.partial_bytes(&hash).await.unwrap() == whole, "the pieces came back out of order");
    }
}
