//! Blobs (photos, signatures) on their own streams: uploads resume where a
//! broken link left them, are checked against their hash, and are stored
//! by hash; downloads go only to devices allowed to see them.
//!
//! A blob being received is a file under `blobs/partial/`; its length is
//! the offset to resume from. Once whole and hashing to its name it is synced
//! and renamed to `blobs/<hex>`, and recorded.

use std::sync::Arc;

use quinn::SendStream;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use waybill_shared::blob::BlobHash;
use waybill_shared::role::Role;
use waybill_shared::sync::{Message, RefuseReason};

use crate::scope::Device;
use crate::server::Shared;
use crate::storage::WriteOp;
use crate::wire::{self, Reader, WireError};

/// Bytes per chunk sent.
pub const CHUNK: usize = 64 * 1024;

fn io(e: std::io::Error) -> WireError {
    WireError::Write(format!("blob storage: {e}"))
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

/// Receives a blob from a device.
pub async fn upload(
    shared: &Arc<Shared>,
    device: &Device,
    hash: BlobHash,
    size: u64,
    mut send: SendStream,
    mut recv: Reader,
) -> Result<(), WireError> {
    if size > shared.limits.max_blob_bytes {
        let limit = shared.limits.max_blob_bytes;
        return wire::refuse(
            &mut send,
            RefuseReason::TooLarge,
            format!("blob of {size} bytes is over the {limit}-byte limit"),
        )
        .await;
    }
    let done = shared.blob_dir.join(hash.hex());
    if done.exists() {
        // Recorded for this device too (and again, if a crash came between
        // the rename and the record).
        stored(shared, device, &hash, size).await?;
        wire::write(&mut send, &Message::BlobStored { hash }).await?;
        let _ = send.finish();
        return Ok(());
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
        return wire::refuse(
            &mut send,
            RefuseReason::Malformed,
            format!("{hash} is being uploaded already; retry"),
        )
        .await;
    };
    let partial = shared.blob_dir.join("partial").join(hash.hex());
    let mut file =
        tokio::fs::OpenOptions::new().create(true).append(true).open(&partial).await.map_err(io)?;
    let mut offset = file.metadata().await.map_err(io)?.len();
    if offset > size {
        file.set_len(0).await.map_err(io)?;
        offset = 0;
    }
    wire::write(&mut send, &Message::BlobResume { offset }).await?;
    while offset < size {
        match recv.next().await {
            Ok(Some(Message::BlobChunk { data })) => {
                if offset + data.len() as u64 > size {
                    return wire::refuse(
                        &mut send,
                        RefuseReason::Malformed,
                        "more bytes than the blob's size".into(),
                    )
                    .await;
                }
                file.write_all(&data).await.map_err(io)?;
                offset += data.len() as u64;
            }
            Ok(Some(_)) => {
                return wire::refuse(&mut send, RefuseReason::Malformed, "expected BlobChunk".into()).await;
            }
            // A broken link: keep what arrived, durably, for the resume.
            Ok(None) | Err(_) => {
                file.sync_all().await.map_err(io)?;
                return Ok(());
            }
        }
    }
    file.sync_all().await.map_err(io)?;
    drop(file);
    let bytes = tokio::fs::read(&partial).await.map_err(io)?;
    if BlobHash::of(&bytes) != hash {
        tokio::fs::remove_file(&partial).await.map_err(io)?;
        return wire::refuse(&mut send, RefuseReason::Malformed, format!("the bytes do not hash to {hash}"))
            .await;
    }
    tokio::fs::rename(&partial, &done).await.map_err(io)?;
    if let Ok(dir) = tokio::fs::File::open(&shared.blob_dir).await {
        let _ = dir.sync_all().await;
    }
    stored(shared, device, &hash, size).await?;
    wire::write(&mut send, &Message::BlobStored { hash }).await?;
    let _ = send.finish();
    Ok(())
}

/// Records a stored blob as uploaded by `device`, and refreshes the
/// proofs that were waiting for it.
async fn stored(shared: &Arc<Shared>, device: &Device, hash: &BlobHash, size: u64) -> Result<(), WireError> {
    let op = WriteOp::Exec {
        sql: "INSERT OR IGNORE INTO blobs (hash, size, device, at) VALUES (?1, ?2, ?3, ?4)",
        params: vec![
            hash.to_string().into(),
            (size as i64).into(),
            device.id.clone().into(),
            chrono::Utc::now().to_rfc3339().into(),
        ],
    };
    shared.writer.write(vec![op]).await.map_err(|e| WireError::Write(e.to_string()))?;
    crate::ingest::blob_arrived(shared, hash).await.map_err(|e| WireError::Write(e.to_string()))
}

/// Sends a blob to a device allowed to see it: the office, or the device
/// that uploaded it.
pub async fn download(
    shared: &Arc<Shared>,
    device: &Device,
    hash: BlobHash,
    offset: u64,
    mut send: SendStream,
) -> Result<(), WireError> {
    let uploader: Option<String> = shared
        .storage
        .read(|c| {
            use rusqlite::OptionalExtension;
            c.query_row("SELECT device FROM blobs WHERE hash = ?1", [hash.to_string()], |r| r.get(0))
                .optional()
        })
        .map_err(|e| WireError::Read(e.to_string()))?;
    let allowed = uploader.is_some_and(|u| device.role == Role::Office || u == device.id);
    if !allowed {
        return wire::refuse(
            &mut send,
            RefuseReason::OutOfScope,
            format!("{hash} is not available to this device"),
        )
        .await;
    }
    let mut file = tokio::fs::File::open(shared.blob_dir.join(hash.hex())).await.map_err(io)?;
    file.seek(std::io::SeekFrom::Start(offset)).await.map_err(io)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        wire::write(&mut send, &Message::BlobChunk { data: buf[..n].to_vec() }).await?;
    }
    let _ = send.finish();
    Ok(())
}
