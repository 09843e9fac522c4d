//! The office's write path: its recorder in `meta`, the idempotency keys
//! of the orders it made, and which documents are held already.

use waybill_shared::doc::DocId;

use super::{Statement, Storage, StorageError, WriteOp, args};

/// The write that stores `value` under `key` in `meta` over `before` (what
/// was read there; `None`: nothing): its batch fails with
/// [`StorageError::Conflict`] if the value moved meanwhile.
pub(crate) fn put_meta(key: &str, before: Option<&str>, value: String) -> WriteOp {
    match before {
        None => Statement::claim(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            args![key, value],
        ),
        Some(before) => Statement::claim(
            "UPDATE meta SET value = ?2 WHERE key = ?1 AND value = ?3",
            args![key, value, before],
        ),
    }
    .into()
}

/// The write that takes idempotency key `key` for `order`: its batch fails
/// with [`StorageError::Conflict`] if the key was taken (by another node).
pub(crate) fn claim_idempotency_key(key: &str, order: &str) -> WriteOp {
    Statement::claim(
        "INSERT INTO idempotency (key, order_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        args![key, order],
    )
    .into()
}

impl Storage {
    /// The value stored under `key` in `meta`.
    pub(crate) async fn meta_text(&self, key: &str) -> Result<Option<String>, StorageError> {
        self.query_opt("SELECT value FROM meta WHERE key = ?1", args![key], |r| r.get(0)).await
    }

    /// The order made under idempotency key `key`, if any.
    pub(crate) async fn idempotent_order(&self, key: &str) -> Result<Option<String>, StorageError> {
        self.query_opt("SELECT order_id FROM idempotency WHERE key = ?1", args![key], |r| r.get(0)).await
    }

    /// The ids of every document held.
    pub(crate) async fn held_doc_ids(&self) -> Result<Vec<String>, StorageError> {
        self.query("SELECT id FROM docs", args![], |r| r.get(0)).await
    }

    /// Whether document `id` is held.
    pub(crate) async fn holds_doc(&self, id: &DocId) -> Result<bool, StorageError> {
        Ok(self
            .query_opt("SELECT 1 FROM docs WHERE id = ?1", args![id.to_string()], |_| Ok(()))
            .await?
            .is_some())
    }
}
