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
use waybill_shared::sync::download::ServerDownload;
use waybill_shared::sync::stream;
use waybill_shared::sync::upload::{Offer, ServerUpload};

use crate::scope::Device;
use crate::server::Shared;
use crate::storage::WriteOp;
use crate::wire::{self, Reader, WireError};

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

/// Receives a blob from a device, as the shared [`ServerUpload`] says.
pub async fn upload(
    shared: &Arc<Shared>,
    device: &Device,
    hash: BlobHash,
    size: u64,
    mut send: SendStream,
    mut recv: Reader,
) -> Result<(), WireError> {
    let done = shared.blob_dir.join(hash.hex());
    // Refused before any room is made for it.
    match ServerUpload::offer(hash, size, shared.limits.max_blob_bytes, done.exists()) {
        Offer::Refuse(refusal) => return wire::end_with(&mut send, &refusal).await,
        Offer::Stored(answer) => {
            // Recorded for this device too (and again if a crash came
            // between the rename and the record).
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
    let partial = shared.blob_dir.join("partial").join(hash.hex());
    let mut file =
        tokio::fs::OpenOptions::new().create(true).append(true).open(&partial).await.map_err(io)?;
    let held = file.metadata().await.map_err(io)?.len();
    let (mut upload, from, reply) = ServerUpload::resume(hash, size, held);
    file.set_len(from).await.map_err(io)?;
    wire::write(&mut send, &reply).await?;
    while !upload.is_complete() {
        match recv.next().await {
            Ok(Some(msg)) => match upload.handle(msg) {
                Ok(data) => file.write_all(&data).await.map_err(io)?,
                Err(refusal) => {
                    file.sync_all().await.map_err(io)?;
                    wire::write(&mut send, &refusal).await?;
                    let _ = send.finish();
                    return Ok(());
                }
            },
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
    let stored_answer = match upload.verify(&bytes) {
        Ok(answer) => answer,
        Err(refusal) => {
            tokio::fs::remove_file(&partial).await.map_err(io)?;
            wire::write(&mut send, &refusal).await?;
            let _ = send.finish();
            return Ok(());
        }
    };
    tokio::fs::rename(&partial, &done).await.map_err(io)?;
    if let Ok(dir) = tokio::fs::File::open(&shared.blob_dir).await {
        let _ = dir.sync_all().await;
    }
    stored(shared, device, &hash, size).await?;
    wire::write(&mut send, &stored_answer).await?;
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

/// Sends a blob to a device allowed to see it (the office, or the device
/// that uploaded it), as the shared [`ServerDownload`] says.
pub async fn download(
    shared: &Arc<Shared>,
    device: &Device,
    hash: BlobHash,
    offset: u64,
    mut send: SendStream,
) -> Result<(), WireError> {
    let uploaded: Option<(String, i64)> = shared
        .storage
        .read(|c| {
            use rusqlite::OptionalExtension;
            c.query_row("SELECT device, size FROM blobs WHERE hash = ?1", [hash.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .map_err(|e| WireError::Read(e.to_string()))?;
    let size = uploaded
        .filter(|(by, _)| device.role == Role::Office || *by == device.id)
        .map(|(_, size)| u64::try_from(size).unwrap_or(0));
    let mut download = match ServerDownload::new(hash, offset, size) {
        Ok(download) => download,
        Err(refusal) => return wire::end_with(&mut send, &refusal).await,
    };
    let mut file = tokio::fs::File::open(shared.blob_dir.join(hash.hex())).await.map_err(io)?;
    let mut buf = Vec::new();
    while let Some((at, len)) = download.next_read() {
        file.seek(std::io::SeekFrom::Start(at)).await.map_err(io)?;
        buf.resize(len, 0);
        let n = read_up_to(&mut file, &mut buf).await?;
        wire::write(&mut send, &download.handle_read(&buf[..n])).await?;
    }
    let _ = send.finish();
    Ok(())
}

/// Reads until `buf` is full or the file ends: the bytes read.
async fn read_up_to(file: &mut tokio::fs::File, buf: &mut [u8]) -> Result<usize, WireError> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]).await.map_err(io)? {
            0 => break,
            more => n += more,
        }
    }
    Ok(n)
}
