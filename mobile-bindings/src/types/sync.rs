//! Sync as apps see it: where background sync stands, the status screen,
//! and what one sync did.

use std::time::{Duration, SystemTime};

use waybill_agent as agent;

use super::strings;

/// Where background sync stands.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncState {
    /// Connecting to the server: the first time, or again after a drop.
    Connecting,
    /// Connected and caught up; others' work arrives as it happens.
    Connected,
    /// The server could not be reached, the link dropped, or the server
    /// refused. Work goes on and is kept; the next try is after `retry_in`.
    Offline {
        /// Why.
        error: String,
        /// When the next try is.
        retry_in: Duration,
    },
    /// Background sync is not running.
    Stopped,
}

impl From<agent::SyncState> for SyncState {
    fn from(s: agent::SyncState) -> Self {
        match s {
            agent::SyncState::Connecting => Self::Connecting,
            agent::SyncState::Connected => Self::Connected,
            agent::SyncState::Offline { error, retry_in } => Self::Offline { error, retry_in },
            agent::SyncState::Stopped => Self::Stopped,
        }
    }
}

/// The sync status screen.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    /// Where background sync stands.
    pub state: SyncState,
    /// Own events the server has not confirmed yet.
    pub pending_events: i64,
    /// Own changes the server refused, kept aside for the office.
    pub quarantined: i64,
    /// Photos and signatures that will not reach the server (damaged on
    /// the device, or refused): their events still sync.
    pub failed_blobs: u64,
    /// When the last sync succeeded.
    pub last_sync: Option<SystemTime>,
    /// Documents held on the device.
    pub documents: u64,
    /// Bytes the store uses.
    pub store_bytes: i64,
}

impl SyncStatus {
    pub(crate) fn of(s: agent::Status, state: SyncState) -> Self {
        Self {
            state,
            pending_events: s.pending_events,
            quarantined: s.quarantined,
            failed_blobs: s.failed_blobs.len() as u64,
            last_sync: s.last_sync.map(SystemTime::from),
            documents: s.documents as u64,
            store_bytes: s.store_bytes,
        }
    }
}

/// A change of this device's the server refused.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefusedChange {
    /// The change's hash.
    pub change: String,
    /// Why.
    pub reason: String,
}

/// A document that could not be synced this time; it is tried again.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FailedDocument {
    /// The document.
    pub document: String,
    /// Why.
    pub error: String,
}

/// A photo or signature that could not be uploaded this time.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FailedBlob {
    /// Its content hash.
    pub hash: String,
    /// Why.
    pub error: String,
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Documents in the device's scope.
    pub in_scope: u64,
    /// Documents that needed syncing.
    pub synced: u64,
    /// Documents received for the first time.
    pub new_documents: u64,
    /// Documents whose contents changed here (the views to show afresh).
    pub changed: Vec<String>,
    /// Changes the server refused.
    pub refused: Vec<RefusedChange>,
    /// Documents that could not be synced this time.
    pub failed: Vec<FailedDocument>,
    /// Photos and signatures uploaded.
    pub blobs_uploaded: u64,
    /// Photos and signatures that could not be uploaded this time (their
    /// events synced all the same).
    pub blobs_failed: Vec<FailedBlob>,
    /// Own events the server does not hold yet.
    pub pending_events: i64,
}

impl From<agent::SyncReport> for SyncReport {
    fn from(r: agent::SyncReport) -> Self {
        Self {
            in_scope: r.in_scope as u64,
            synced: r.synced as u64,
            new_documents: r.new_documents as u64,
            changed: strings(r.changed),
            refused: r
                .refused
                .into_iter()
                .map(|(change, why)| RefusedChange { change, reason: why.to_string() })
                .collect(),
            failed: r
                .failed
                .into_iter()
                .map(|(document, error)| FailedDocument { document, error })
                .collect(),
            blobs_uploaded: r.blobs_uploaded as u64,
            blobs_failed: r
                .blobs_failed
                .into_iter()
                .map(|(hash, error)| FailedBlob { hash, error })
                .collect(),
            pending_events: r.pending_events,
        }
    }
}
