//! What the server does with changes it accepted: store them, rewrite the
//! document's projections, in one durable batch, then push the document to
//! every connected device that holds it (or that it has just come to).

use std::path::Path;
use std::sync::Arc;

use automerge::legacy::OpType;
use automerge::{AutoCommit, Change, ScalarValue};
use waybill_shared::blob::BlobHash;
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::{Event, Payload};
use waybill_shared::fold::{self, OrderView};
use waybill_shared::id::LocationId;

use crate::docs::Loaded;
use crate::projection;
use crate::server::Shared;
use crate::storage::{StorageError, WriteOp};

/// Changes appended to a stored document before it is saved whole again.
pub const COMPACT_AFTER: i64 = 256;

/// The merged view of an order document, proof blobs looked up in `blob_dir`.
pub fn order_view(blob_dir: &Path, id: &DocId, doc: &mut AutoCommit) -> Result<OrderView, StorageError> {
    let contents =
        doc::order::read(doc.document()).map_err(|e| StorageError::Corrupt(format!("{id}: {e}")))?;
    let has_blob = |h: &BlobHash| blob_dir.join(h.hex()).exists();
    Ok(fold::order::fold(&contents, &has_blob))
}

/// The projection rows of a document as it is now.
pub fn project(blob_dir: &Path, id: &DocId, doc: &mut AutoCommit) -> Result<Vec<WriteOp>, StorageError> {
    let corrupt = |e: doc::DocError| StorageError::Corrupt(format!("{id}: {e}"));
    let d = doc.document();
    Ok(match id {
        DocId::Order(_) => projection::order(&order_view(blob_dir, id, doc)?),
        DocId::Location { .. } => {
            projection::stock(id, &fold::stock::fold(&doc::location::read(d).map_err(corrupt)?))
        }
        DocId::Route(_) => projection::route(&fold::route::fold(&doc::route::read(d).map_err(corrupt)?)),
    })
}

/// Stores accepted changes and the new projections, durably; then pushes.
pub async fn store(
    shared: &Arc<Shared>,
    id: &DocId,
    loaded: &mut Loaded,
    accepted: &[Change],
    mut extra: Vec<WriteOp>,
    from: u64,
) -> Result<(), StorageError> {
    let heads = loaded.doc.get_heads();
    let mut ops = Vec::with_capacity(accepted.len() + 16);
    let added: usize = accepted.iter().map(|c| c.raw_bytes().len()).sum();
    let appended = match loaded.appended {
        Some(n) if n + (accepted.len() as i64) < COMPACT_AFTER => {
            let changes = accepted.iter().map(|c| c.raw_bytes().to_vec()).collect();
            ops.push(WriteOp::AppendChanges { id: id.clone(), changes, heads });
            loaded.bytes += added;
            n + accepted.len() as i64
        }
        // Not stored yet, or enough changes gathered: store it whole.
        _ => {
            let snapshot = loaded.doc.save();
            loaded.bytes = snapshot.len();
            ops.push(WriteOp::PutDoc { id: id.clone(), snapshot, heads });
            0
        }
    };
    ops.extend(project(&shared.blob_dir, id, &mut loaded.doc)?);
    ops.append(&mut extra);
    if let Err(e) = shared.writer.write(ops).await {
        shared.docs.forget(id);
        return Err(e);
    }
    loaded.appended = Some(appended);
    push(shared, id, from);
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
    change.decode().operations.iter().any(|op| match &op.action {
        OpType::Put(ScalarValue::Str(text)) => {
            Event::from_json(text).is_ok_and(|e| matches!(e.payload, Payload::QuotaReleased(_)))
        }
        _ => false,
    })
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

/// Tells connected devices holding `id` (or newly entitled to it) to sync it.
pub fn push(shared: &Arc<Shared>, id: &DocId, from: u64) {
    // Nobody listening is fine.
    let _ = shared.changes.send(id.to_string());
    let others = shared.hub.notify(id, from);
    if others.is_empty() {
        return;
    }
    // One query for who should hold it, however many are connected.
    let Ok(audience) = shared.storage.read(|c| crate::scope::audience(c, id)) else { return };
    for (conn, device) in others {
        if audience.contains(&device.id) {
            shared.hub.grant(conn, id);
        }
    }
}

/// A blob arrived: documents whose proof of delivery was missing it are
/// projected again (their `proof_blob_missing` exception goes).
pub async fn blob_arrived(shared: &Arc<Shared>, hash: &BlobHash) -> Result<(), StorageError> {
    let docs: Vec<String> = shared.storage.read(|c| {
        let mut stmt = c.prepare("SELECT DISTINCT doc FROM exceptions WHERE id = ?1")?;
        let rows = stmt.query_map([format!("proof_blob_missing:{hash}")], |r| r.get(0))?;
        rows.collect()
    })?;
    for doc in docs {
        let Ok(id) = doc.parse::<DocId>() else { continue };
        let Some(entry) = shared.docs.get(&shared.storage, &id)? else { continue };
        let mut loaded = entry.lock().await;
        let ops = project(&shared.blob_dir, &id, &mut loaded.doc)?;
        shared.writer.write(ops).await?;
        push(shared, &id, u64::MAX);
    }
    Ok(())
}
