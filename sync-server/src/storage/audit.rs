//! The audit log's rows: who did what in the office and when, numbered in
//! the order they were written.

use super::{Statement, Storage, StorageError, WriteOp, args};
use crate::audit::Entry;

/// The write that adds one entry (its `id` is left to the database).
pub(crate) fn audit_entry(e: &Entry) -> WriteOp {
    Statement::new(
        "INSERT INTO audit (at, who, role, action, request, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![&e.at, &e.user, &e.role, &e.action, &e.request, e.status.map(i64::from)],
    )
    .into()
}

impl Storage {
    /// Up to `limit` entries numbered below `before`, newest first.
    pub(crate) async fn audit_rows(&self, before: i64, limit: i64) -> Result<Vec<Entry>, StorageError> {
        self.query(
            "SELECT id, at, who, role, action, request, status FROM audit WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
            args![before, limit],
            |r| {
                let status: Option<i64> = r.get(6)?;
                Ok(Entry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    user: r.get(2)?,
                    role: r.get(3)?,
                    action: r.get(4)?,
                    request: r.get(5)?,
                    status: status.and_then(|s| u16::try_from(s).ok()),
                })
            },
        )
        .await
    }
}
