//! Blobs (photos, signatures) as recorded: which device uploaded which
//! blob, and its size; and, where nodes share a database, the bytes
//! themselves ([`crate::blob_store::BlobStore::Database`]): stored blobs in
//! `blob_data`, uploads under way in pieces in `blob_parts`.

use super::{Statement, Storage, StorageError, args};

impl Storage {
    /// Records blob `hash` as stored, uploaded by `device` (once per device).
    pub(crate) async fn record_blob(
        &self,
        hash: &str,
        size: u64,
        device: &str,
        at: &str,
    ) -> Result<(), StorageError> {
        self.write(vec![
            Statement::new(
                "INSERT INTO blobs (hash, size, device, at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                args![hash, size, device, at],
            )
            .into(),
        ])
        .await
    }

    /// Who uploaded blob `hash`, each with the size recorded.
    pub(crate) async fn blob_uploads(&self, hash: &str) -> Result<Vec<(String, u64)>, StorageError> {
        self.query("SELECT device, size FROM blobs WHERE hash = ?1", args![hash], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .await
    }

    /// Whether blob `hash`'s bytes are stored.
    pub(crate) async fn blob_stored(&self, hash: &str) -> Result<bool, StorageError> {
        Ok(self
            .query_opt("SELECT 1 FROM blob_data WHERE hash = ?1", args![hash], |_| Ok(()))
            .await?
            .is_some())
    }

    /// How many bytes of an upload of `hash` are held.
    pub(crate) async fn blob_partial_len(&self, hash: &str) -> Result<u64, StorageError> {
        let sql = "SELECT CAST(COALESCE(SUM(length(bytes)), 0) AS BIGINT) FROM blob_parts WHERE hash = ?1";
        Ok(self.query_opt(sql, args![hash], |r| r.get(0)).await?.unwrap_or(0))
    }

    /// Drops the pieces of an upload from `len` on (pieces start where the
    /// last ended, so `len` is 0 or the length held).
    pub(crate) async fn blob_truncate(&self, hash: &str, len: u64) -> Result<(), StorageError> {
        let sql = "DELETE FROM blob_parts WHERE hash = ?1 AND at >= ?2";
        self.write(vec![Statement::new(sql, args![hash, len]).into()]).await
    }

    /// Appends a piece at `at` to an upload.
    pub(crate) async fn blob_append(&self, hash: &str, at: u64, bytes: &[u8]) -> Result<(), StorageError> {
        // Two nodes taking the same upload at once may write the same piece:
        // it holds the same bytes (the blob is named by its hash), and a
        // mix-up fails the hash check and starts again.
        let sql = "INSERT INTO blob_parts (hash, at, bytes) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
        self.write(vec![Statement::new(sql, args![hash, at, bytes]).into()]).await
    }

    /// The pieces of an upload, joined.
    pub(crate) async fn blob_partial_bytes(&self, hash: &str) -> Result<Vec<u8>, StorageError> {
        let sql = "SELECT bytes FROM blob_parts WHERE hash = ?1 ORDER BY at";
        let pieces: Vec<Vec<u8>> = self.query(sql, args![hash], |r| r.get(0)).await?;
        Ok(pieces.concat())
    }

    /// Stores a whole, checked blob and drops its pieces.
    pub(crate) async fn blob_complete(&self, hash: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.write(vec![
            Statement::new(
                "INSERT INTO blob_data (hash, bytes) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                args![hash, bytes],
            )
            .into(),
            Statement::new("DELETE FROM blob_parts WHERE hash = ?1", args![hash]).into(),
        ])
        .await
    }

    /// Up to `len` bytes of stored blob `hash` from `at`, if stored.
    pub(crate) async fn blob_read(
        &self,
        hash: &str,
        at: u64,
        len: usize,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let sql =
            "SELECT substr(bytes, CAST(?2 AS INTEGER), CAST(?3 AS INTEGER)) FROM blob_data WHERE hash = ?1";
        // substr counts from 1, in 32-bit integers on PostgreSQL (blobs are
        // far smaller).
        let len = len.min(i32::MAX as usize);
        self.query_opt(sql, args![hash, at + 1, len], |r| r.get(0)).await
    }
}
