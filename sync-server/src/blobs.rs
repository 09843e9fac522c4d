//! Blobs (photos, signatures) on their own streams: uploads resume where a
//! broken link left them, are checked against their hash, and are stored
//! by hash; downloads go only to devices allowed to see them.
//!
//! A blob being received is a partial upload in the [`BlobStore`], appended
//! to durably a piece at a time; its length is the offset to resume from.
//! Once whole and hashing to its name it becomes the stored blob, and is
//! recorded.
//!
//! [`BlobStore`]: crate::blob_store::BlobStore

use std::sync::Arc;

use quinn::SendStream;
use waybill_shared::blob::BlobHash;
use waybill_shared::role::Role;
use waybill_shared::sync::download::ServerDownload;
use waybill_shared::sync::stream;
use waybill_shared::sync::upload::{Offer, ServerUpload};

use crate::scope::Device;
use crate::server::Shared;
use crate::wire::{self, Reader, WireError};

fn io(e: crate::storage::StorageError) -> WireError {
    WireError::Write(e.to_string())
}

/// Marks a blob as being received, for as long as it lives.
struct Receiving<'a> {
    shared: &'a Shared,
    hash: BlobHash,
}

impl<'a> Receiving<'a> {
    fn start(shared: &'a Shared, hash: BlobHash) -> Option<Self> {
        let fresh = shared.uploads.lock().map(|mut u| u.insert(hash)).unwrap_or(false);
        fresh.then_some(Self { shared, hash })
    }
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        if let Ok(mut u) = self.shared.uploads.lock() {
            u.remove(&self.hash);
        }
    }
}

/// Receives a blob from a device, as the shared [`ServerUpload`] says.
pub async fn upload(
    shared: &Arc<Shared>,
    device: &Device,
    hash: BlobHash,
    size: u64,
    mut send: SendStream,
    mut recv: Reader,
) -> Result<(), WireError> {
    let whole = shared.blobs.stored(&[hash]).await.map_err(io)?.contains(&hash);
    // Refused before any room is made for it.
    match ServerUpload::offer(hash, size, shared.limits.max_blob_bytes, whole) {
        Offer::Refuse(refusal) => return wire::end_with(&mut send, &refusal).await,
        Offer::Stored(answer) => {
            // Recorded for this device too (and again if a crash came
            // between storing and recording).
            stored(shared, device, &hash, size).await?;
            return wire::end_with(&mut send, &answer).await;
        }
        Offer::Receive => {}
    }
    // Another upload of the same blob (a link that dropped and came back
    // before the server noticed) gets a moment to end first.
    let mut receiving = Receiving::start(shared, hash);
    for _ in 0..30 {
        if receiving.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        receiving = Receiving::start(shared, hash);
    }
    let Some(_receiving) = receiving else {
        return wire::end_with(&mut send, &stream::busy(&hash)).await;
    };
    let held = shared.blobs.partial_len(&hash).await.map_err(io)?;
    let (mut upload, from, reply) = ServerUpload::resume(hash, size, held);
    shared.blobs.truncate(&hash, from).await.map_err(io)?;
    wire::write(&mut send, &reply).await?;
    // What arrived is kept as it arrives, for a resume after a broken link.
    let mut at = from;
    while !upload.is_complete() {
        match recv.next().await {
            Ok(Some(msg)) => match upload.handle(msg) {
                Ok(data) => {
                    shared.blobs.append(&hash, at, &data).await.map_err(io)?;
                    at += data.len() as u64;
                }
                Err(refusal) => {
                    wire::write(&mut send, &refusal).await?;
                    let _ = send.finish();
                    return Ok(());
                }
            },
            Ok(None) | Err(_) => return Ok(()),
        }
    }
    let bytes = shared.blobs.partial_bytes(&hash).await.map_err(io)?;
    let stored_answer = match upload.verify(&bytes) {
        Ok(answer) => answer,
        Err(refusal) => {
            shared.blobs.discard(&hash).await.map_err(io)?;
            wire::write(&mut send, &refusal).await?;
            let _ = send.finish();
            return Ok(());
        }
    };
    shared.blobs.complete(&hash, bytes).await.map_err(io)?;
    stored(shared, device, &hash, size).await?;
    wire::write(&mut send, &stored_answer).await?;
    let _ = send.finish();
    Ok(())
}

/// Records a stored blob as uploaded by `device`, and refreshes the
/// proofs that were waiting for it.
async fn stored(shared: &Arc<Shared>, device: &Device, hash: &BlobHash, size: u64) -> Result<(), WireError> {
    shared
        .storage
        .record_blob(&hash.to_string(), size, &device.id, &chrono::Utc::now().to_rfc3339())
        .await
        .map_err(|e| WireError::Write(e.to_string()))?;
    crate::ingest::blob_arrived(shared, hash).await.map_err(|e| WireError::Write(e.to_string()))
}

/// Sends a blob to a device allowed to see it (the office, or the device
/// that uploaded it), as the shared [`ServerDownload`] says.
pub async fn download(
    shared: &Arc<Shared>,
    device: &Device,
    hash: BlobHash,
    offset: u64,
    mut send: SendStream,
) -> Result<(), WireError> {
    let uploads =
        shared.storage.blob_uploads(&hash.to_string()).await.map_err(|e| WireError::Read(e.to_string()))?;
    let size = uploads
        .into_iter()
        .find(|(by, _)| device.role == Role::Office || *by == device.id)
        .map(|(_, size)| size);
    let mut download = match ServerDownload::new(hash, offset, size) {
        Ok(download) => download,
        Err(refusal) => return wire::end_with(&mut send, &refusal).await,
    };
    while let Some((at, len)) = download.next_read() {
        let bytes = shared.blobs.read(&hash, at, len).await.map_err(io)?.unwrap_or_default();
        wire::write(&mut send, &download.handle_read(&bytes)).await?;
    }
    let _ = send.finish();
    Ok(())
}
