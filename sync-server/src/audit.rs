//! The audit log: who did what in the office, and when.
//!
//! Every office request that changes something (every method but `GET`)
//! is written down once it is answered, refused ones too: the user, their
//! role then, what the route does in words, the request (`POST
//! /api/orders/SO-1/hold`) and its HTTP status. So are signing in and, from
//! the command line, adding or removing users and changing roles (by `cli`,
//! with no status). Reads are not. An entry is written after the request it
//! records, in a write of its own: a crash in between loses that entry,
//! never the office's change (whose events still say who made them).
//!
//! Entries are numbered in the order written; the log is read newest first,
//! a page at a time (`before` the last number seen).

use chrono::Utc;
use serde::Serialize;

use crate::storage::{Storage, StorageError};
use crate::users::Access;

/// The most entries one page holds.
pub const MAX_PAGE: i64 = 500;

/// One thing done in the office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Entry {
    /// Its number: later entries have higher ones.
    pub id: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Who: a user, `api` (the service token) or `cli` (the server's
    /// command line).
    pub user: String,
    /// Their role then (`operator` for the command line).
    pub role: String,
    /// What, in words: `hold an order`.
    pub action: String,
    /// The request: `POST /api/orders/SO-1/hold`, or the command.
    pub request: String,
    /// The HTTP status it was answered with (none from the command line).
    pub status: Option<u16>,
}

/// Writes down what `who` did now.
pub async fn record(
    storage: &Storage,
    who: &Access,
    action: &str,
    request: &str,
    status: Option<u16>,
) -> Result<(), StorageError> {
    let entry = Entry {
        id: 0,
        at: Utc::now().to_rfc3339(),
        user: who.user.clone(),
        role: who.role.to_string(),
        action: action.to_owned(),
        request: request.to_owned(),
        status,
    };
    storage.write(vec![crate::storage::audit::audit_entry(&entry)]).await
}

/// Writes down what the operator did on the server's command line.
pub async fn record_cli(storage: &Storage, action: &str, command: &str) -> Result<(), StorageError> {
    let entry = Entry {
        id: 0,
        at: Utc::now().to_rfc3339(),
        user: "cli".to_owned(),
        role: "operator".to_owned(),
        action: action.to_owned(),
        request: command.to_owned(),
        status: None,
    };
    storage.write(vec![crate::storage::audit::audit_entry(&entry)]).await
}

/// Up to `limit` entries (at most [`MAX_PAGE`]) numbered below `before`
/// (all, if `None`), newest first.
pub async fn list(storage: &Storage, before: Option<i64>, limit: i64) -> Result<Vec<Entry>, StorageError> {
    storage.audit_rows(before.unwrap_or(i64::MAX), limit.clamp(1, MAX_PAGE)).await
}
