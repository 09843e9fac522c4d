//! What the server does with changes it accepted: store them, rewrite the
//! document's projections, in one durable batch, then push the document to
//! every connected device that holds it (or that it has just come to).

use std::sync::Arc;

use automerge::{AutoCommit, Change};
use waybill_shared::blob::BlobHash;
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::Payload;
use waybill_shared::fold::{self, OrderView};
use waybill_shared::id::LocationId;

use crate::blob_store::BlobStore;
use crate::docs::{Loaded, Stored};
use crate::projection::{self, Written};
use crate::server::Shared;
use crate::storage::{StorageError, WriteOp};

/// Changes appended to a stored document before it is saved whole again.
pub const COMPACT_AFTER: i64 = 256;

/// The merged view of an order document, its proofs' blobs looked up in
/// `blobs`.
pub async fn order_view(
    blobs: &BlobStore,
    id: &DocId,
    doc: &mut AutoCommit,
) -> Result<OrderView, StorageError> {
    let contents =
        doc::order::read(doc.document()).map_err(|e| StorageError::Corrupt(format!("{id}: {e}")))?;
    // The fold asks about the blobs its proofs name: learn which (most
    // orders name none, and that fold is the answer), then ask the store
    // about those only and fold again.
    let named = std::sync::Mutex::new(Vec::new());
    let view = fold::order::fold(&contents, &|h: &BlobHash| named.lock().map(|mut n| n.push(*h)).is_ok());
    let named = named.into_inner().unwrap_or_default();
    if named.is_empty() {
        return Ok(view);
    }
    let stored = blobs.stored(&named).await?;
    Ok(fold::order::fold(&contents, &|h: &BlobHash| stored.contains(h)))
}

/// The projection rows of a document as it is now.
pub async fn project(
    blobs: &BlobStore,
    id: &DocId,
    doc: &mut AutoCommit,
) -> Result<Vec<WriteOp>, StorageError> {
    Ok(projected(blobs, id, doc, None).await?.rows)
}

/// A document's projection.
struct Projected {
    /// The rows to write.
    rows: Vec<WriteOp>,
    /// The proof blobs found missing.
    missing: Vec<BlobHash>,
    /// An order's rows, once written.
    written: Option<Written>,
}

/// The rows of a document as it is now, written over `before` (an order's
/// rows as stored, if known).
async fn projected(
    blobs: &BlobStore,
    id: &DocId,
    doc: &mut AutoCommit,
    before: Option<&Written>,
) -> Result<Projected, StorageError> {
    let corrupt = |e: doc::DocError| StorageError::Corrupt(format!("{id}: {e}"));
    let rows = match id {
        DocId::Order(_) => {
            let view = order_view(blobs, id, doc).await?;
            let missing = view.proofs.iter().flat_map(|p| p.missing_blobs.iter().copied()).collect();
            let (rows, written) = projection::order(&view, before);
            return Ok(Projected { rows, missing, written: Some(written) });
        }
        DocId::Location { .. } => {
            projection::stock(id, &fold::stock::fold(&doc::location::read(doc.document()).map_err(corrupt)?))
        }
        DocId::Route(_) => {
            projection::route(&fold::route::fold(&doc::route::read(doc.document()).map_err(corrupt)?))
        }
    };
    Ok(Projected { rows, missing: Vec::new(), written: None })
}

/// How often a write is tried again over a document another node stored
/// meanwhile.
const RETRIES: usize = 8;

/// Stores accepted changes and the new projections, durably; then pushes.
///
/// If another node (or process) stored the document since `loaded` was
/// read, what is stored now is read back, the changes are applied to it
/// again and the write is tried again: nobody's changes are overwritten.
pub async fn store(
    shared: &Arc<Shared>,
    id: &DocId,
    loaded: &mut Loaded,
    accepted: &[Change],
    extra: Vec<WriteOp>,
    from: u64,
) -> Result<(), StorageError> {
    let added: usize = accepted.iter().map(|c| c.raw_bytes().len()).sum();
    let started = std::time::Instant::now();
    let mut retries = 0;
    let mut missing;
    loop {
        let heads = loaded.doc.get_heads();
        let (op, appended, bytes) = match &loaded.stored {
            Some(s) if s.appended + (accepted.len() as i64) < COMPACT_AFTER => {
                let changes = accepted.iter().map(|c| c.raw_bytes().to_vec()).collect();
                let stored = s.heads.clone();
                let op = WriteOp::AppendChanges { id: id.clone(), changes, heads: heads.clone(), stored };
                (op, s.appended + accepted.len() as i64, loaded.bytes + added)
            }
            // Not stored yet, or enough changes gathered: store it whole.
            stored => {
                let snapshot = loaded.doc.save();
                let bytes = snapshot.len();
                let stored = stored.as_ref().map(|s| s.heads.clone());
                (WriteOp::PutDoc { id: id.clone(), snapshot, heads: heads.clone(), stored }, 0, bytes)
            }
        };
        let mut ops = vec![op];
        let projected = projected(&shared.blobs, id, &mut loaded.doc, loaded.projected.as_ref()).await?;
        ops.extend(projected.rows);
        missing = projected.missing;
        ops.extend(extra.iter().cloned());
        match shared.writer.write(ops).await {
            Ok(()) => {
                (loaded.stored, loaded.bytes) = (Some(Stored { heads, appended }), bytes);
                loaded.projected = projected.written;
                break;
            }
            Err(StorageError::Conflict | StorageError::Busy) if retries < RETRIES => {
                retries += 1;
                tracing::debug!(doc = %id, retries, "stored meanwhile elsewhere: merging and writing again");
                // Its rows too may have been written meanwhile.
                loaded.projected = None;
                if let Some(now) = Loaded::read(&shared.storage, id).await? {
                    *loaded = now;
                }
                let corrupt = |e: automerge::AutomergeError| StorageError::Corrupt(format!("{id}: {e}"));
                loaded.doc.apply_changes(accepted.iter().cloned()).map_err(corrupt)?;
            }
            Err(e) => {
                shared.docs.forget(id);
                return Err(e);
            }
        }
    }
    // A proof's blob that arrived while this projection was being made
    // found no missing-blob row to clear yet (`blob_arrived` looks for
    // them): it is projected again now that the rows are written.
    if !missing.is_empty() {
        for hash in shared.blobs.stored(&missing).await? {
            blob_arrived(shared, &hash).await?;
        }
    }
    let pushed: Vec<Vec<u8>> = accepted.iter().map(|c| c.raw_bytes().to_vec()).collect();
    push(shared, id, &pushed, from).await;
    if from != u64::MAX {
        // A device's changes (not the office's own writes, `from` MAX).
        crate::telemetry::add(&crate::telemetry::CHANGES_STORED, accepted.len());
        crate::telemetry::PUSH.observe(started.elapsed());
    }
    // A device's work on a location may have spent its quota or handed it
    // back: devices connected there short of their target get some now,
    // the uploader too unless it handed quota back (its own release is not
    // handed straight back to it). On a task of its own, since this document
    // stays locked until the caller is done.
    if from != u64::MAX
        && let DocId::Location { id: location, .. } = id
    {
        let except = accepted.iter().any(releases_quota).then_some(from);
        top_up_later(shared.clone(), location.clone(), except);
    }
    Ok(())
}

/// Whether a change holds a `quota_released` event.
fn releases_quota(change: &Change) -> bool {
    doc::events_put(change).any(|e| matches!(e.payload, Payload::QuotaReleased(_)))
}

/// Spawns [`crate::quota::top_up_connected`]. Its future writes through
/// [`store`] again, so it is boxed here: the compiler cannot see through
/// that cycle that it is `Send`.
fn top_up_later(shared: Arc<Shared>, location: LocationId, except: Option<u64>) {
    let task: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = Box::pin(async move {
        if let Err(e) = crate::quota::top_up_connected(&shared, &location, except).await {
            tracing::warn!(%location, error = %e, "quota top-up failed");
        }
    });
    tokio::spawn(task);
}

/// Tells connected devices holding `id` (or newly entitled to it) to sync
/// it; those holding it get its new `changes` (encoded) with it, when
/// given.
pub async fn push(shared: &Arc<Shared>, id: &DocId, changes: &[Vec<u8>], from: u64) {
    // Nobody listening is fine.
    let _ = shared.changes.send(id.to_string());
    let Some(pushed) = shared.hub.notify(id, changes, from) else { return };
    // One query for who should hold it, however many are connected.
    let Ok(audience) = crate::scope::audience(&shared.storage, id).await else { return };
    shared.hub.grant(id, &audience, from, &pushed);
}

/// A blob arrived: documents whose proof of delivery was missing it are
/// projected again (their `proof_blob_missing` exception goes).
pub async fn blob_arrived(shared: &Arc<Shared>, hash: &BlobHash) -> Result<(), StorageError> {
    let docs = shared.storage.docs_with_exception(&format!("proof_blob_missing:{hash}")).await?;
    for doc in docs {
        let Ok(id) = doc.parse::<DocId>() else { continue };
        // As stored now, not as a copy in memory may still have it. That
        // copy's record of its rows (`Loaded::projected`) is left as it was:
        // what a blob's arrival moves (its proof's exception closing) never
        // moves back, so the copy's next projection writes it the same way.
        let Some(mut loaded) = Loaded::read(&shared.storage, &id).await? else { continue };
        let ops = project(&shared.blobs, &id, &mut loaded.doc).await?;
        shared.writer.write(ops).await?;
        push(shared, &id, &[], u64::MAX).await;
    }
    Ok(())
}
