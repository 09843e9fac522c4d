//! One device connection: the handshake on the control stream (version,
//! identity, manifest), pushes, and a task per document or blob stream.
//!
//! Every incoming change goes through the shared write policy before it is
//! stored or relayed; a reply to a sync round is sent only once what that
//! round accepted is durable.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use automerge::sync;
use quinn::{Connection, SendStream, VarInt};
use waybill_shared::doc::DocId;
use waybill_shared::policy::{DeviceIdentity, Scope};
use waybill_shared::role::Role;
use waybill_shared::sync::handshake::{self, Enrolment};
use waybill_shared::sync::session::ServerSession;
use waybill_shared::sync::stream::{self, Opened};
use waybill_shared::sync::{ManifestEntry, Message, RefuseReason};

use crate::devices;
use crate::hub::{Live, Pending};
use crate::ingest;
use crate::scope::{self, Device};
use crate::server::Shared;
use crate::storage::WriteOp;
use crate::telemetry;
use crate::wire::{self, Budget, Reader, WireError};

/// Close code: the device is revoked.
pub const CLOSE_REVOKED: VarInt = VarInt::from_u32(0x10);
/// Close code: refused at the handshake (version, enrolment, limits).
pub const CLOSE_REFUSED: VarInt = VarInt::from_u32(0x11);
/// Close code: the device broke the protocol.
pub const CLOSE_PROTOCOL: VarInt = VarInt::from_u32(0x12);

/// How often a connected device's scope is looked at again.
const SCOPE_REFRESH: Duration = Duration::from_secs(5);
/// How long a peer has for its first frame.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Largest frame before the peer is known (Hello, Enrol): a stranger gets
/// no room to make the server allocate. Also the largest on the control
/// stream later, where a device has nothing to say.
const HANDSHAKE_FRAME: usize = 16 * 1024;
/// How long a document or blob stream may keep the server waiting for its
/// next bytes.
pub const STREAM_IDLE: Duration = Duration::from_secs(10);

/// Serves one incoming connection to its end. Never panics on bad input:
/// every failure closes the stream or the connection with a reason.
pub async fn handle(shared: Arc<Shared>, incoming: quinn::Incoming) {
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "handshake failed");
            return;
        }
    };
    if let Err(e) = serve(&shared, &conn).await {
        tracing::debug!(remote = %conn.remote_address(), error = %e, "connection ended");
        conn.close(CLOSE_PROTOCOL, e.to_string().as_bytes());
    }
}

/// Sends a handshake's refusal and closes the connection.
async fn refuse(send: &mut SendStream, conn: &Connection, refusal: Message) -> Result<(), WireError> {
    telemetry::add(&telemetry::HANDSHAKES_REFUSED, 1);
    wire::write(send, &refusal).await?;
    let _ = send.finish();
    // Give the frame a moment to leave before the connection goes.
    let _ = tokio::time::timeout(Duration::from_secs(1), send.stopped()).await;
    let why = match &refusal {
        Message::Refused { message, .. } => message.as_str(),
        _ => "refused",
    };
    conn.close(CLOSE_REFUSED, why.as_bytes());
    Ok(())
}

async fn serve(shared: &Arc<Shared>, conn: &Connection) -> Result<(), WireError> {
    let (mut send, recv) = tokio::time::timeout(HANDSHAKE, conn.accept_bi())
        .await
        .map_err(|_| WireError::Read("no control stream".into()))?
        .map_err(|e| WireError::Read(e.to_string()))?;
    let budget = Budget::new(shared.limits.connection_buffer);
    let mut recv = Reader::new(recv, budget.clone(), HANDSHAKE_FRAME, Some(HANDSHAKE));
    let hello = tokio::time::timeout(HANDSHAKE, recv.payload())
        .await
        .map_err(|_| WireError::Read("no hello".into()))??
        .ok_or_else(|| WireError::Read("no hello".into()))?;
    let protocol = match handshake::check_hello(&hello, shared.limits.protocol) {
        Ok(protocol) => protocol,
        Err(refusal) => return refuse(&mut send, conn, refusal).await,
    };
    let cert = conn
        .peer_identity()
        .and_then(|id| id.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>().ok())
        .and_then(|chain| chain.first().map(|c| c.to_vec()));
    let Some(cert) = cert else { return enrol(shared, conn, &mut send, &mut recv).await };
    let found =
        devices::by_certificate(&shared.storage, &cert).await.map_err(|e| WireError::Read(e.to_string()))?;
    let device = match found {
        None => return refuse(&mut send, conn, handshake::refusal(RefuseReason::NotEnrolled)).await,
        Some((_, Some(_))) => {
            return refuse(&mut send, conn, handshake::refusal(RefuseReason::Revoked)).await;
        }
        Some((d, None)) => d,
    };
    let pending = Arc::new(Pending::default());
    let live = Live { device: device.clone(), push: pending.clone(), conn: conn.clone() };
    let Some(id) = shared.hub.join(live, shared.limits.connections_per_device) else {
        return refuse(&mut send, conn, handshake::refusal(RefuseReason::TooManyConnections)).await;
    };
    let result = session(shared, conn, (id, protocol), device.clone(), pending, send, recv, budget).await;
    shared.hub.leave(id);
    seen(shared, &device.id).await;
    tracing::info!(device = %device.id, "disconnected");
    result
}

async fn enrol(
    shared: &Arc<Shared>,
    conn: &Connection,
    send: &mut SendStream,
    recv: &mut Reader,
) -> Result<(), WireError> {
    let msg = tokio::time::timeout(HANDSHAKE, recv.next())
        .await
        .map_err(|_| WireError::Read("no enrolment".into()))??;
    let (code, public_key) = match handshake::enrolment_request(msg) {
        Ok(request) => request,
        Err(refusal) => return refuse(send, conn, refusal).await,
    };
    let result =
        devices::enrol(&shared.storage, &shared.identity, &code, &public_key, chrono::Utc::now()).await;
    match result {
        Ok((device, cert)) => {
            tracing::info!(device = %device.id, role = %device.role, "enrolled");
            let enrolment = Enrolment {
                device: device.id.parse().map_err(|_| WireError::Read("stored device id".into()))?,
                role: device.role,
                location: device.location.as_deref().and_then(|l| l.parse().ok()),
                certificate_der: cert,
                ca_der: shared.identity.ca_der().to_vec(),
            };
            wire::write(send, &enrolment.message()).await?;
            let _ = send.finish();
            let _ = tokio::time::timeout(Duration::from_secs(2), send.stopped()).await;
            Ok(())
        }
        Err(e) => refuse(send, conn, handshake::enrolment_refused(&e.to_string())).await,
    }
}

async fn scope_of(shared: &Shared, device: &Device, with_closed: bool) -> Result<BTreeSet<DocId>, WireError> {
    scope::scope(&shared.storage, device, with_closed).await.map_err(|e| WireError::Read(e.to_string()))
}

#[allow(clippy::too_many_arguments)] // one connection's parts, each passed once
async fn session(
    shared: &Arc<Shared>,
    conn: &Connection,
    (id, protocol): (u64, u16),
    device: Device,
    pending: Arc<Pending>,
    mut send: SendStream,
    mut recv: Reader,
    budget: Budget,
) -> Result<(), WireError> {
    // The control stream stays open, silent, for as long as the device is
    // connected: the connection's own idle timeout watches it.
    recv.set_idle(None);
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let id_of = device.id.parse().map_err(|_| WireError::Read("stored device id".into()))?;
    wire::write(&mut send, &handshake::welcome(protocol, id_of, device.role, now_ms)).await?;
    telemetry::add(&telemetry::SESSIONS, 1);
    // Quotas first, so the device leaves this sync with its grant.
    if let Err(e) = crate::quota::top_up(shared, &device).await {
        tracing::warn!(device = %device.id, error = %e, "quota top-up failed");
    }
    let scope = scope_of(shared, &device, false).await?;
    let ids: Vec<DocId> = scope.iter().cloned().collect();
    let mut stored = shared.storage.heads_of(&ids).await.map_err(|e| WireError::Read(e.to_string()))?;
    let docs: Vec<ManifestEntry> = ids
        .into_iter()
        .map(|doc| {
            let heads = stored.remove(&doc).unwrap_or_default().iter().map(|h| h.0).collect();
            ManifestEntry { doc, heads }
        })
        .collect();
    shared.hub.set_scope(id, scope);
    wire::write(&mut send, &handshake::manifest(docs)).await?;
    seen(shared, &device.id).await;
    tracing::info!(device = %device.id, "connected");
    // Pushes go out on their own task: a device slow to read its control
    // stream holds up nothing but its own announcements.
    let announcer = tokio::spawn(async move {
        loop {
            for (doc, changes) in pending.take().await {
                if wire::write(&mut send, &handshake::changed(protocol, doc, changes)).await.is_err() {
                    return;
                }
            }
        }
    });
    // The scope is looked at again from time to time, so a document taken
    // away from the device stops being its own within this period.
    let mut refresh = tokio::time::interval(SCOPE_REFRESH);
    refresh.tick().await;
    let result = loop {
        tokio::select! {
            // An office device holds everything: nothing to look up.
            _ = refresh.tick(), if device.role != Role::Office => {
                shared.hub.set_scope(id, scope_of(shared, &device, false).await?);
            }
            stream = conn.accept_bi() => match stream {
                Ok((s, r)) => {
                    let (shared, device) = (shared.clone(), device.clone());
                    let r = Reader::new(r, budget.clone(), shared.limits.max_frame, Some(STREAM_IDLE));
                    tokio::spawn(async move {
                        if let Err(e) = stream_task(&shared, (id, protocol), &device, s, r).await {
                            tracing::debug!(device = %device.id, error = %e, "stream ended");
                        }
                    });
                }
                Err(_) => break Ok(()),
            },
            control = recv.next() => match control {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break Ok(()),
            },
        }
    };
    announcer.abort();
    result
}

async fn seen(shared: &Shared, device: &str) {
    if let Err(e) = shared.storage.device_seen(device, &chrono::Utc::now().to_rfc3339()).await {
        tracing::warn!(error = %e, "cannot record last seen");
    }
}

/// One stream of the connection `conn_id`, which speaks `protocol`.
async fn stream_task(
    shared: &Arc<Shared>,
    (conn_id, protocol): (u64, u16),
    device: &Device,
    mut send: SendStream,
    mut recv: Reader,
) -> Result<(), WireError> {
    let first = match recv.next().await {
        Err(WireError::Frame(e)) => Err(e),
        other => Ok(other?),
    };
    match stream::opened(first) {
        Ok(Some(Opened::Doc(doc))) => doc_stream(shared, (conn_id, protocol), device, doc, send, recv).await,
        Ok(Some(Opened::Upload { hash, size })) => {
            crate::blobs::upload(shared, device, hash, size, send, recv).await
        }
        Ok(Some(Opened::Download { hash, offset })) => {
            crate::blobs::download(shared, device, hash, offset, send).await
        }
        Ok(None) => Ok(()),
        Err(refusal) => wire::end_with(&mut send, &refusal).await,
    }
}

/// Whether `device` may sync `doc`: in its scope, or an order that closed
/// while the device held it (its offline work there must still arrive, and
/// collide visibly if it must).
async fn entitled(shared: &Shared, conn_id: u64, device: &Device, doc: &DocId) -> Result<bool, WireError> {
    if device.role == Role::Office || shared.hub.holds(conn_id, doc) {
        return Ok(true);
    }
    Ok(scope_of(shared, device, true).await?.contains(doc))
}

async fn doc_stream(
    shared: &Arc<Shared>,
    (conn_id, protocol): (u64, u16),
    device: &Device,
    id: DocId,
    mut send: SendStream,
    mut recv: Reader,
) -> Result<(), WireError> {
    let storage_err = |e: crate::storage::StorageError| WireError::Read(e.to_string());
    if !entitled(shared, conn_id, device, &id).await? {
        return wire::end_with(&mut send, &stream::out_of_scope(&id)).await;
    }
    let who = DeviceIdentity {
        device: device.id.parse().map_err(|_| WireError::Read("stored device id".into()))?,
        role: device.role,
        scope: if device.role == Role::Office { Scope::All } else { Scope::Docs([id.clone()].into()) },
    };
    let mut saved =
        shared.storage.sync_state(&device.id, &id).await.map_err(storage_err)?.unwrap_or_default();
    let state = sync::State::decode(&saved).unwrap_or_default();
    let mut session = ServerSession::new(who, id.clone(), state).speaking(protocol);
    let state_op = |state: &sync::State| WriteOp::SyncState {
        device: device.id.clone(),
        doc: id.clone(),
        state: state.encode(),
    };
    let Some(first) = recv.next().await? else { return Ok(()) };
    // A device holding none of the document gets it as stored, not loaded.
    if matches!(first, Message::Fetch)
        && let Some(stored) = shared.storage.load_doc(&id).await.map_err(storage_err)?
        && let Some(whole) = session.whole(stored.bytes(), &stored.heads)
    {
        telemetry::add(&telemetry::DOC_STREAMS, 1);
        shared.writer.write(vec![state_op(session.state())]).await.map_err(storage_err)?;
        wire::write(&mut send, &whole).await?;
        let _ = send.finish();
        return Ok(());
    }
    let entry = match shared.docs.get(&shared.storage, &id).await.map_err(storage_err)? {
        Some(e) => e,
        // The office may create documents.
        None if device.role == Role::Office => {
            shared.docs.put(id.clone(), automerge::AutoCommit::new()).map_err(storage_err)?
        }
        None => return wire::end_with(&mut send, &stream::out_of_scope(&id)).await,
    };
    telemetry::add(&telemetry::DOC_STREAMS, 1);
    let mut next = Some(first);
    while let Some(msg) = next {
        let mut loaded = entry.lock().await;
        let answer = match session.handle(&mut loaded.doc, msg) {
            Ok(a) => a,
            Err(e) => {
                // Whatever Automerge took in before failing is not stored.
                shared.docs.forget(&id);
                wire::end_with(&mut send, &stream::malformed(e)).await?;
                break;
            }
        };
        let added: usize = answer.accepted.iter().map(|c| c.raw_bytes().len()).sum();
        if loaded.bytes + added > shared.limits.max_doc_bytes {
            shared.docs.forget(&id);
            wire::end_with(&mut send, &stream::too_large(&id, shared.limits.max_doc_bytes)).await?;
            break;
        }
        let mut quarantine = Vec::new();
        telemetry::add(&telemetry::CHANGES_REFUSED, answer.refused.len());
        for (change, refusal) in &answer.refused {
            tracing::warn!(device = %device.id, doc = %id, change = %change.hash(), %refusal, "change refused");
            quarantine.push(WriteOp::Quarantine {
                device: device.id.clone(),
                doc: id.clone(),
                change: change.hash(),
                refusal: serde_json::to_string(refusal).unwrap_or_default(),
                bytes: change.raw_bytes().to_vec(),
            });
        }
        if !answer.accepted.is_empty() {
            // The sync state goes in the same write as the changes.
            let mut extra = quarantine;
            extra.push(state_op(session.state()));
            ingest::store(shared, &id, &mut loaded, &answer.accepted, extra, conn_id)
                .await
                .map_err(storage_err)?;
            saved = session.state().encode();
        } else if !quarantine.is_empty() {
            shared.writer.write(quarantine).await.map_err(storage_err)?;
        }
        drop(loaded);
        for msg in &answer.reply {
            wire::write(&mut send, msg).await?;
        }
        if answer.done {
            break;
        }
        next = recv.next().await?;
    }
    // Written again only if it moved since (it keeps the shared heads).
    if session.state().encode() != saved {
        shared.writer.write(vec![state_op(session.state())]).await.map_err(storage_err)?;
    }
    let _ = send.finish();
    Ok(())
}
