//! The sync client: enrol once, then sync with the server over QUIC.
//!
//! A sync connects with the device's certificate, reads the manifest (the
//! documents the server says this device holds, with the server's heads),
//! then syncs every document whose heads differ, many at once on their own
//! streams, and beside them uploads the blobs the server lacks (resuming any
//! upload a broken link cut short). A blob never holds up documents: one
//! that cannot go (damaged here, or refused) is reported and the rest syncs.
//! What arrives is stored in one transaction, with the sync states, so a
//! reconnect sends only what is missing; events the
//! server now holds stop counting as pending. A change the server refuses is
//! taken out: its events are kept in the quarantine, shown in the status,
//! and the device's later work in that document is written again on top of
//! the server's state, so it is not lost with it.

pub mod background;
mod stream;
pub mod tls;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use automerge::sync::State;
use automerge::{AutoCommit, ChangeHash};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use waybill_shared::blob::BlobHash;
use waybill_shared::doc::{self, DocId};
use waybill_shared::policy::{Refusal, actor_of};
use waybill_shared::sync::handshake::{self, ClientHandshake, Enrolment, HandshakeError};
use waybill_shared::sync::session::{ClientOutcome, ClientSession, SessionError};
use waybill_shared::sync::upload::{CHUNK, ClientUpload, UploadError, UploadStep, chunk};
use waybill_shared::sync::{ManifestEntry, PROTOCOL_VERSION, RefuseReason, SERVER_NAME};

use crate::agent::{Agent, LAST_SYNC, Profile, RECORDER, stored_recorder};
use crate::error::AgentError;
use background::{SyncEvent, SyncState};
use stream::{Reader, send};

const CREDENTIALS: &str = "credentials";
const PEER: &str = "server";
/// Documents synced at once.
const PARALLEL: usize = 128;
/// How often a watching sync looks for work another process recorded in
/// its store (work recorded in this process wakes it at once).
const OTHER_PROCESSES: Duration = Duration::from_secs(5);

/// How long after a pushed change a watching device looks whether the
/// orders pushed meanwhile closed (one fold per order then, not one per
/// change while changes stream in).
const SETTLE: Duration = Duration::from_secs(1);
/// How long a sync waits for a silent server by default
/// ([`Agent::set_timeout`]).
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection to one server address gets before the next
/// address is tried beside it.
const NEXT_SERVER_AFTER: Duration = Duration::from_millis(300);

/// What enrolment gave the device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Credentials {
    server: String,
    /// More addresses of the same server (its other nodes), tried after
    /// `server` ([`Agent::set_servers`]).
    #[serde(default)]
    also: Vec<String>,
    certificate: Vec<u8>,
    key: Vec<u8>,
    ca: Vec<u8>,
}

/// What one sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    /// Documents in the device's scope.
    pub in_scope: usize,
    /// Documents that needed syncing.
    pub synced: usize,
    /// Documents received for the first time.
    pub new_documents: usize,
    /// Changes the server refused, with why.
    pub refused: Vec<(String, Refusal)>,
    /// Blobs uploaded.
    pub blobs_uploaded: usize,
    /// Blobs that could not be uploaded this time, with why.
    pub blobs_failed: Vec<(String, String)>,
    /// Own events the server does not hold yet.
    pub pending_events: i64,
    /// Documents that could not be synced this time, with why.
    pub failed: Vec<(String, String)>,
    /// Documents whose contents changed here: others' work arrived, or
    /// refused work was taken out. A UI shows these afresh.
    pub changed: Vec<DocId>,
    /// UDP bytes this device sent on the connection.
    pub bytes_sent: u64,
    /// UDP bytes it received.
    pub bytes_received: u64,
}

fn offline(e: impl std::fmt::Display) -> AgentError {
    AgentError::Offline(e.to_string())
}

fn endpoint() -> Result<quinn::Endpoint, AgentError> {
    quinn::Endpoint::client(SocketAddr::from(([0, 0, 0, 0], 0))).map_err(offline)
}

/// Connects to `server`: a certificate that is not the pinned one is
/// [`AgentError::UntrustedServer`], anything else offline.
async fn dial(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    server: SocketAddr,
) -> Result<quinn::Connection, AgentError> {
    match endpoint.connect_with(config, server, SERVER_NAME).map_err(offline)?.await {
        Ok(conn) => Ok(conn),
        // TLS alerts are QUIC's crypto errors, 0x100 to 0x1ff: ours is the
        // certificate our verifier refused.
        Err(quinn::ConnectionError::TransportError(e)) if (0x100..0x200).contains(&u64::from(e.code)) => {
            tracing::info!(error = %e, "the server's certificate is not the one pinned");
            Err(AgentError::UntrustedServer(server.to_string()))
        }
        Err(quinn::ConnectionError::TimedOut) => {
            Err(AgentError::Offline(format!("no answer from the server at {server}")))
        }
        Err(e) => Err(offline(e)),
    }
}

/// Connects to the first of `servers` that answers: each address is
/// tried [`NEXT_SERVER_AFTER`] after the one before it, so a device stays
/// with its first node while it answers and moves on when it does not.
async fn dial_any(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    servers: &[SocketAddr],
) -> Result<quinn::Connection, AgentError> {
    let mut tries = tokio::task::JoinSet::new();
    for (i, &server) in servers.iter().enumerate() {
        let (endpoint, config) = (endpoint.clone(), config.clone());
        let wait = NEXT_SERVER_AFTER * u32::try_from(i).unwrap_or(u32::MAX);
        tries.spawn(async move {
            tokio::time::sleep(wait).await;
            dial(&endpoint, config, server).await
        });
    }
    let mut failed = AgentError::Offline("no server address".into());
    while let Some(tried) = tries.join_next().await {
        match tried {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(e)) => failed = e,
            Err(e) => failed = offline(e),
        }
    }
    Err(failed)
}

/// Opens the control stream and says `Hello` in `protocol`.
async fn hello(conn: &quinn::Connection, protocol: u16) -> Result<(quinn::SendStream, Reader), AgentError> {
    let (mut tx, rx) = conn.open_bi().await.map_err(offline)?;
    let agent = format!("waybill-agent/{}", env!("CARGO_PKG_VERSION"));
    send(&mut tx, &handshake::hello_in(protocol, agent)).await?;
    Ok((tx, Reader::new(rx)))
}

/// The version to say `Hello` in again after `said` was refused with
/// `error`, if the server is older and this build still speaks its newest.
fn fallback(said: u16, error: &AgentError) -> Option<u16> {
    match error {
        AgentError::Refused { reason, .. } => handshake::fallback(said, reason),
        _ => None,
    }
}

/// A connection through the handshake: what a sync runs on.
struct Link {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    /// The control stream's sending half, kept open while connected.
    _control: quinn::SendStream,
    /// The control stream's receiving half: pushes arrive on it.
    rx: Reader,
    manifest: Vec<ManifestEntry>,
    /// The version the connection speaks.
    protocol: u16,
}

fn addresses(c: &Credentials) -> Result<Vec<SocketAddr>, AgentError> {
    std::iter::once(&c.server)
        .chain(&c.also)
        .map(|a| a.parse().map_err(|_| AgentError::Corrupt(format!("server address {a}"))))
        .collect()
}

fn handshake_error(e: HandshakeError) -> AgentError {
    match e {
        HandshakeError::Refused { reason, message } => AgentError::Refused { reason, message },
        HandshakeError::Closed => AgentError::Offline(e.to_string()),
        HandshakeError::Unexpected(_) => AgentError::Protocol(e.to_string()),
    }
}

impl Agent {
    /// Enrols a new device with the server at `server`, using the one-time
    /// `code` and the `fingerprint` the office gave, and creates its store at
    /// `path`. The server decides the device's id, role and location.
    pub async fn enrol(
        path: &Path,
        server: SocketAddr,
        code: &str,
        fingerprint: &str,
    ) -> Result<Self, AgentError> {
        if path.exists() {
            if let Ok(existing) = Agent::open(path) {
                return Err(AgentError::AlreadyInitialised(existing.profile().device.clone()));
            }
        }
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| AgentError::Protocol(format!("cannot make a key: {e}")))?;
        let config = tls::enrolment(fingerprint).map_err(|e| AgentError::Protocol(e.to_string()))?;
        let endpoint = endpoint()?;
        let mut protocol = PROTOCOL_VERSION;
        let enrolment = loop {
            let conn = dial(&endpoint, config.clone(), server).await?;
            let (mut tx, mut rx) = hello(&conn, protocol).await?;
            send(&mut tx, &handshake::enrol(code, key.public_key_raw().to_vec())).await?;
            let answer = rx.next().await?;
            close(&endpoint, &conn, b"enrolled").await;
            match handshake::enrolled(answer).map_err(handshake_error) {
                Ok(enrolment) => break enrolment,
                Err(e) => protocol = fallback(protocol, &e).ok_or(e)?,
            }
        };
        let Enrolment { device, role, location, certificate_der, ca_der } = enrolment;
        let credentials = Credentials {
            server: server.to_string(),
            also: Vec::new(),
            certificate: certificate_der,
            key: key.serialize_der(),
            ca: ca_der,
        };
        let profile = Profile { device, role, location, user: None };
        Agent::init_with(path, profile, |w| w.set_meta(CREDENTIALS, &credentials))
    }

    /// Connects and goes through the handshake in the newest version both
    /// sides speak: a server older than this build refuses its version
    /// naming its own, and the device connects again speaking that.
    async fn link(&mut self) -> Result<Link, AgentError> {
        let mut protocol = PROTOCOL_VERSION;
        loop {
            let (endpoint, conn) = self.connect().await?;
            let (control, mut rx) = hello(&conn, protocol).await?;
            match handshake(&mut rx).await {
                Ok((manifest, protocol)) => {
                    return Ok(Link { endpoint, conn, _control: control, rx, manifest, protocol });
                }
                Err(e) => {
                    close(&endpoint, &conn, b"refused").await;
                    protocol = fallback(protocol, &e).ok_or(e)?;
                }
            }
        }
    }

    async fn connect(&mut self) -> Result<(quinn::Endpoint, quinn::Connection), AgentError> {
        let c: Credentials = self.store.meta(CREDENTIALS)?.ok_or(AgentError::NotEnrolled)?;
        let servers = addresses(&c)?;
        let mut config =
            tls::device(&c.ca, &c.certificate, &c.key).map_err(|e| AgentError::Corrupt(e.to_string()))?;
        tls::set_timeout(&mut config, self.timeout);
        let endpoint = endpoint()?;
        let conn = dial_any(&endpoint, config, &servers).await?;
        Ok((endpoint, conn))
    }

    /// The addresses this device syncs with, in the order it tries them:
    /// the one it enrolled with first, unless [`set_servers`](Self::set_servers) said otherwise.
    pub fn servers(&self) -> Result<Vec<SocketAddr>, AgentError> {
        addresses(&self.store.meta(CREDENTIALS)?.ok_or(AgentError::NotEnrolled)?)
    }

    /// Sets the addresses of the server's nodes this device may sync with
    /// (at least one), in the order to try them: a device whose node is
    /// down finishes its sync on the next.
    pub fn set_servers(&mut self, servers: &[SocketAddr]) -> Result<(), AgentError> {
        let (first, rest) =
            servers.split_first().ok_or_else(|| AgentError::Invalid("no server address".into()))?;
        let mut c: Credentials = self.store.meta(CREDENTIALS)?.ok_or(AgentError::NotEnrolled)?;
        c.server = first.to_string();
        c.also = rest.iter().map(ToString::to_string).collect();
        let w = self.store.write()?;
        w.set_meta(CREDENTIALS, &c)?;
        w.commit()
    }

    /// How long a sync waits for a server that says nothing (at connecting
    /// or later) before it reports the device offline; 10 s unless set.
    /// At least a second.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout.max(Duration::from_secs(1));
    }

    /// Connects, syncs everything that differs, uploads blobs, disconnects.
    pub async fn sync_once(&mut self) -> Result<SyncReport, AgentError> {
        let link = self.link().await?;
        let mut report = self.sync_manifest(&link.conn, link.protocol, &link.manifest, true).await;
        if let Ok(r) = &mut report {
            let stats = link.conn.stats();
            (r.bytes_sent, r.bytes_received) = (stats.udp_tx.bytes, stats.udp_rx.bytes);
        }
        close(&link.endpoint, &link.conn, b"done").await;
        report
    }

    /// Stays connected and syncs each document the server announces, until
    /// `stop` resolves or the link drops. Syncs everything first. Work
    /// recorded meanwhile through any handle on the store in this process
    /// (the app's) goes up at once; work another process records in it,
    /// within 5 s. Calls `synced` with each
    /// document the sync brought up to date (so a UI can refresh): those the
    /// first full sync changed, then each one a push announced.
    pub async fn sync_watch_with(
        &mut self,
        stop: impl std::future::Future<Output = ()>,
        mut synced: impl FnMut(&DocId),
    ) -> Result<(), AgentError> {
        self.watch(stop, &mut |event| {
            if let SyncEvent::Changed(docs) = event {
                docs.iter().for_each(&mut synced);
            }
        })
        .await
    }

    async fn watch(
        &mut self,
        stop: impl std::future::Future<Output = ()>,
        on: &mut impl FnMut(SyncEvent),
    ) -> Result<(), AgentError> {
        // Subscribed first: work recorded while connecting goes up after.
        let mut work = self.store.watch_work();
        let Link { endpoint, conn, _control, mut rx, manifest, protocol } = self.link().await?;
        let report = self.sync_manifest(&conn, protocol, &manifest, true).await?;
        // A round that left work behind (a document failed: the server
        // refused it for now, or a stream broke; or own events are still
        // unconfirmed: the server's copy moved on while they went up) is
        // followed by another after a pause that doubles while it recurs.
        let mut retry = Retry::default();
        retry.after(&report);
        if !report.changed.is_empty() {
            on(SyncEvent::Changed(report.changed));
        }
        on(SyncEvent::State(SyncState::Connected));
        tokio::pin!(stop);
        let mut look = tokio::time::interval(OTHER_PROCESSES);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen = self.store.data_version()?;
        let (mut settling, mut settle_at) = (BTreeSet::new(), None);
        loop {
            let woken = tokio::select! {
                () = &mut stop => break,
                // Work recorded through a handle in this process: at once.
                Ok(()) = work.changed() => true,
                // Work another process recorded: seen in the store's data
                // version, which this process's other handles move too.
                _ = look.tick() => self.store.data_version()? != seen,
                () = retry.due() => true,
                msg = rx.next() => {
                    let (doc, changes) = handshake::announced(msg?).map_err(handshake_error)?;
                    // Pushed with its changes: taken in here when they apply
                    // to what is held, else synced.
                    let taken = self.take_pushed(&doc, &changes)?;
                    if !taken {
                        let entry = ManifestEntry { doc: doc.clone(), heads: Vec::new() };
                        let report = self.sync_manifest(&conn, protocol, &[entry], false).await?;
                        retry.after(&report);
                    }
                    on(SyncEvent::Changed(vec![doc.clone()]));
                    if taken && matches!(doc, DocId::Order(_)) {
                        settle_at.get_or_insert_with(|| tokio::time::Instant::now() + SETTLE);
                        settling.insert(doc);
                    }
                    false
                }
                // Orders pushed changes may have closed are synced as well:
                // the server keeps a closed order in the device's scope
                // until a sync shows it the device holds the closing.
                () = until(settle_at) => {
                    settle_at = None;
                    let report = self.settle(&conn, protocol, std::mem::take(&mut settling)).await?;
                    retry.after(&report);
                    false
                }
            };
            if woken {
                seen = self.store.data_version()?;
                let mut entries: Vec<ManifestEntry> = self
                    .store
                    .pending_docs()?
                    .into_iter()
                    .map(|doc| ManifestEntry { doc, heads: Vec::new() })
                    .collect();
                for doc in retry.take() {
                    if !entries.iter().any(|e| e.doc == doc) {
                        entries.push(ManifestEntry { doc, heads: Vec::new() });
                    }
                }
                if !entries.is_empty() {
                    let report = self.sync_manifest(&conn, protocol, &entries, false).await?;
                    retry.after(&report);
                    if !report.changed.is_empty() {
                        on(SyncEvent::Changed(report.changed));
                    }
                }
            }
        }
        close(&endpoint, &conn, b"bye").await;
        Ok(())
    }

    /// Syncs those of `orders` that have closed here: the server keeps a
    /// closed order in the device's scope until a sync shows it the device
    /// holds the closing.
    async fn settle(
        &mut self,
        conn: &quinn::Connection,
        protocol: u16,
        orders: BTreeSet<DocId>,
    ) -> Result<SyncReport, AgentError> {
        let mut closed = Vec::new();
        for doc in orders {
            if matches!(self.closed_order(&doc), Ok(true)) {
                closed.push(ManifestEntry { doc, heads: Vec::new() });
            }
        }
        if closed.is_empty() {
            return Ok(SyncReport::default());
        }
        self.sync_manifest(conn, protocol, &closed, false).await
    }

    /// Syncs in the background until `stop`, reconnecting with backoff
    /// (1 s doubling to 60 s) while the server cannot be reached.
    pub async fn sync_forever(&mut self, stop: impl std::future::Future<Output = ()>) {
        self.sync_forever_with(stop, |_| {}).await;
    }

    /// As [`Agent::sync_forever`], telling `on` what it is doing: connecting,
    /// connected, documents changed, offline until the next try. The backoff
    /// starts again at 1 s once a connection got through.
    pub async fn sync_forever_with(
        &mut self,
        stop: impl std::future::Future<Output = ()>,
        mut on: impl FnMut(SyncEvent),
    ) {
        tokio::pin!(stop);
        let mut backoff = Duration::from_secs(1);
        loop {
            on(SyncEvent::State(SyncState::Connecting));
            let mut connected = false;
            let mut tell = |event: SyncEvent| {
                connected |= event == SyncEvent::State(SyncState::Connected);
                on(event);
            };
            tokio::select! {
                () = &mut stop => return,
                result = self.watch(std::future::pending(), &mut tell) => {
                    if let Err(e) = result {
                        tracing::info!(error = %e, retry_in = ?backoff, "sync failed");
                        if connected {
                            backoff = Duration::from_secs(1);
                        }
                        on(SyncEvent::State(SyncState::Offline { error: e.to_string(), retry_in: backoff }));
                    }
                }
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(backoff) => backoff = (backoff * 2).min(Duration::from_secs(60)),
            }
        }
    }

    /// Syncs the documents of `manifest` (with `full`, also those held here
    /// that it leaves out) on `conn`, which speaks `protocol`.
    async fn sync_manifest(
        &mut self,
        conn: &quinn::Connection,
        protocol: u16,
        manifest: &[ManifestEntry],
        full: bool,
    ) -> Result<SyncReport, AgentError> {
        let held: BTreeSet<DocId> = self.documents()?.into_iter().collect();
        let mut report = SyncReport { in_scope: manifest.len(), ..SyncReport::default() };
        let mut work = Vec::new();
        for entry in manifest {
            let server: Vec<ChangeHash> = entry.heads.iter().map(|h| ChangeHash(*h)).collect();
            let doc = if held.contains(&entry.doc) {
                let mut doc = self.doc(&entry.doc)?.clone();
                // (An order that closed here is synced all the same when
                // listed: the server lists a closed order only until a sync
                // shows it the device holds the closing, and a device can
                // stop or lose its link between taking a push in and that.)
                if !server.is_empty()
                    && same(&doc.get_heads(), &server)
                    && !(full && matches!(self.closed_order(&entry.doc), Ok(true)))
                {
                    // The server holds all of it: nothing pending is left.
                    let w = self.store.write()?;
                    let held = doc.document();
                    w.confirm(&entry.doc, &server, |e| doc::has_event(held, e))?;
                    w.commit()?;
                    continue;
                }
                doc
            } else {
                report.new_documents += 1;
                AutoCommit::new().with_actor(actor_of(&self.profile.device))
            };
            let state = self.sync_state(&entry.doc)?;
            work.push(ClientSession::new(entry.doc.clone(), doc, state, &server).speaking(protocol));
        }
        // Held documents the server no longer lists, synced once more: the
        // server answers with what the device lacks, or refuses one that
        // is out of its scope (not a failure: it is not the device's).
        let mut unlisted = BTreeSet::new();
        if full {
            let listed: BTreeSet<&DocId> = manifest.iter().map(|e| &e.doc).collect();
            for id in held.iter().filter(|id| !listed.contains(id)) {
                if self.needs_unlisted(id)? {
                    let doc = self.doc(id)?.clone();
                    let state = self.sync_state(id)?;
                    work.push(ClientSession::new(id.clone(), doc, state, &[]).speaking(protocol));
                    unlisted.insert(id.clone());
                }
            }
        }
        report.synced = work.len();
        // Documents sync on their own task while blobs go up beside them.
        let documents = tokio::spawn(sync_docs(conn.clone(), work));
        self.upload_blobs(conn, &mut report).await?;
        let results = documents.await.map_err(|e| AgentError::Protocol(e.to_string()))??;
        if let Some(reason) = conn.close_reason() {
            return Err(offline(reason));
        }
        let mut outcomes = Vec::new();
        for result in results {
            // One document refused (out of scope, too large) does not hold up
            // the others; it is reported and tried again next time.
            let outcome = match result {
                Ok(o) => o,
                Err((id, AgentError::Refused { reason: RefuseReason::OutOfScope, .. }))
                    if unlisted.contains(&id) =>
                {
                    continue;
                }
                Err((id, e)) => {
                    report.failed.push((id.to_string(), e.to_string()));
                    continue;
                }
            };
            for (hash, refusal) in &outcome.rejected {
                report.refused.push((hash.to_string(), refusal.clone()));
            }
            if outcome.rejected.is_empty() {
                outcomes.push(outcome);
            } else {
                report.changed.push(outcome.id.clone());
                self.quarantine(outcome)?;
            }
        }
        report.changed.extend(self.take_in(outcomes, &held)?);
        report.pending_events = self.store.pending_events()?;
        Ok(report)
    }

    /// Whether a held document the server's manifest leaves out is synced
    /// anyway: one holding own work the server lacks (an order that closed
    /// meanwhile: the work must still reach it), and an order still open
    /// here. The server lists a closed order until the device has synced
    /// its closing, going by what the device last said it holds; a device
    /// killed before it stored what it had said would otherwise never
    /// learn of the closing.
    fn needs_unlisted(&mut self, id: &DocId) -> Result<bool, AgentError> {
        if self.store.has_pending(id)? {
            return Ok(true);
        }
        Ok(matches!(id, DocId::Order(_)) && !self.closed_order(id)?)
    }

    /// Stores what the sessions brought, all in one transaction (one sync
    /// to disk however many documents), and notes the sync. Returns the
    /// documents that changed.
    fn take_in(
        &mut self,
        outcomes: Vec<ClientOutcome>,
        held: &BTreeSet<DocId>,
    ) -> Result<Vec<DocId>, AgentError> {
        let now = chrono::Utc::now();
        let mut taken = Vec::with_capacity(outcomes.len());
        let mut changed = Vec::new();
        let w = self.store.write()?;
        let mut recorder = stored_recorder(&w)?;
        for ClientOutcome { id, mut doc, state, before, .. } in outcomes {
            if doc.get_heads() != before {
                for e in doc::events(&id, doc.document()).unwrap_or_default() {
                    recorder.observe(e.hlc, now);
                }
                changed.push(id.clone());
            }
            let heads = doc.get_heads();
            if held.contains(&id) {
                let changes = doc.save_after(&before);
                if !changes.is_empty() {
                    w.append_changes(&id, &changes)?;
                }
            } else {
                w.insert_doc(&id, &mut doc)?;
            }
            w.set_sync_state(&id, PEER, &state.encode())?;
            if state.their_heads.as_ref().is_some_and(|theirs| same(theirs, &heads)) {
                let held = doc.document();
                w.confirm(&id, &heads, |e| doc::has_event(held, e))?;
            }
            taken.push((id, doc));
        }
        w.set_meta(RECORDER, &recorder)?;
        w.set_meta(LAST_SYNC, &now)?;
        w.commit()?;
        self.docs.extend(taken);
        Ok(changed)
    }

    /// Takes in changes the server pushed for `id` and stores them, when
    /// the device holds the document and everything they build on. Returns
    /// whether it did; if not (none pushed, not held, a change missing
    /// between, one that does not read or apply), the document is left to a
    /// sync.
    fn take_pushed(&mut self, id: &DocId, pushed: &[Vec<u8>]) -> Result<bool, AgentError> {
        if pushed.is_empty() {
            return Ok(false);
        }
        let Ok(changes) =
            pushed.iter().map(|b| automerge::Change::from_bytes(b.clone())).collect::<Result<Vec<_>, _>>()
        else {
            return Ok(false);
        };
        // (A store that fails here fails the sync that follows, saying so.)
        let Ok(doc) = self.doc(id) else { return Ok(false) };
        // Usually each builds on the document's heads or on one before it.
        let heads = doc.get_heads();
        let arriving: BTreeSet<ChangeHash> = changes.iter().map(automerge::Change::hash).collect();
        let complete = changes
            .iter()
            .flat_map(automerge::Change::deps)
            .all(|d| arriving.contains(d) || heads.contains(d) || doc.get_change_by_hash(d).is_some());
        if !complete {
            return Ok(false);
        }
        // What each change's events say of the clock, read from the changes
        // (the document's other events were seen when they came).
        let clocks: Vec<_> = changes.iter().flat_map(doc::events_put).map(|e| e.hlc).collect();
        // Applied to the copy held in memory, which is forgotten unless
        // the store takes the same.
        if doc.apply_changes(changes).is_err() {
            self.docs.remove(id);
            return Ok(false);
        }
        let added = doc.save_after(&heads);
        if added.is_empty() {
            return Ok(true);
        }
        let stored = (|| {
            let now = chrono::Utc::now();
            let w = self.store.write()?;
            let mut recorder = stored_recorder(&w)?;
            for hlc in clocks {
                recorder.observe(hlc, now);
            }
            w.append_changes(id, &added)?;
            w.set_meta(RECORDER, &recorder)?;
            w.commit()
        })();
        if stored.is_err() {
            self.docs.remove(id);
        }
        stored?;
        Ok(true)
    }

    /// Whether `id` is an order that has closed here.
    fn closed_order(&mut self, id: &DocId) -> Result<bool, AgentError> {
        match id {
            DocId::Order(order) => Ok(self.order_view(order)?.status.is_closed()),
            _ => Ok(false),
        }
    }

    /// Takes refused changes out of a document (rebuilt on the server's
    /// state with the device's later work written again) and keeps the
    /// events of the changes refused for themselves in the quarantine.
    fn quarantine(&mut self, mut outcome: ClientOutcome) -> Result<(), AgentError> {
        // What was recorded meanwhile (through another handle) is written
        // again too.
        if let Some(mut current) = self.store.load_doc(&outcome.id)? {
            outcome
                .doc
                .merge(&mut current)
                .map_err(|e| AgentError::Corrupt(format!("{}: {e}", outcome.id)))?;
        }
        let quarantined = outcome.take_out_refused(&self.profile.device).map_err(session_error)?;
        let w = self.store.write()?;
        for (hash, refusal, keys) in quarantined {
            let reason = serde_json::to_string(&refusal).unwrap_or_default();
            w.quarantine(&outcome.id, &hash.to_string(), &reason, &keys)?;
        }
        w.replace_doc(&outcome.id, &mut outcome.doc)?;
        w.commit()?;
        self.docs.insert(outcome.id, outcome.doc);
        Ok(())
    }

    /// The persisted sync state with the server (a fresh one if none, or if
    /// it does not read: the sync then starts from scratch, no harm done).
    fn sync_state(&self, id: &DocId) -> Result<State, AgentError> {
        Ok(self.store.sync_state(id, PEER)?.and_then(|b| State::decode(&b).ok()).unwrap_or_default())
    }

    /// Uploads the blobs the server lacks, one at a time, noting each in
    /// `report`. A blob whose bytes no longer hash to its name (damaged
    /// storage) is marked failed and never sent; one the server refuses is
    /// reported and tried again next time; a lost link ends the uploads and
    /// leaves the documents to say so. Only the store failing is an error.
    async fn upload_blobs(
        &mut self,
        conn: &quinn::Connection,
        report: &mut SyncReport,
    ) -> Result<(), AgentError> {
        for hash in self.store.blobs_to_upload()? {
            let Some(bytes) = self.store.blob(&hash)? else { continue };
            let w = self.store.write()?;
            if BlobHash::of(&bytes) != hash {
                let why = "its bytes on this device no longer hash to its name (damaged storage)";
                w.blob_failed(&hash, why)?;
                w.commit()?;
                report.blobs_failed.push((hash.to_string(), why.into()));
                continue;
            }
            drop(w);
            match upload(conn, &hash, &bytes).await {
                Ok(()) => {
                    let w = self.store.write()?;
                    w.blob_uploaded(&hash)?;
                    w.commit()?;
                    report.blobs_uploaded += 1;
                }
                Err(e @ AgentError::Refused { .. }) => {
                    report.blobs_failed.push((hash.to_string(), e.to_string()))
                }
                Err(e) => {
                    report.blobs_failed.push((hash.to_string(), e.to_string()));
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Resolves at `at`, or never when there is none.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Closes the connection: returns once the close has gone out (briefly at
/// most), so the server does not hold a dead connection against the
/// device's limit. QUIC's closing period after it (three probe timeouts,
/// about 100 ms even on loopback, answering the server with the close
/// again if it did not hear it) runs on in the background.
async fn close(endpoint: &quinn::Endpoint, conn: &quinn::Connection, why: &[u8]) {
    let datagrams = conn.stats().udp_tx.datagrams;
    conn.close(0u32.into(), why);
    // (The next datagram out is the one that carries the close.)
    let sent = async {
        while conn.stats().udp_tx.datagrams == datagrams {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let _ = tokio::time::timeout(CLOSING, sent).await;
    let endpoint = endpoint.clone();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(CLOSING, endpoint.wait_idle()).await;
    });
}

/// The longest a closing connection is waited for.
const CLOSING: Duration = Duration::from_millis(500);

/// The manifest, and the protocol version the connection speaks.
async fn handshake(rx: &mut Reader) -> Result<(Vec<ManifestEntry>, u16), AgentError> {
    let mut greeting = ClientHandshake::default();
    loop {
        if let Some(manifest) = greeting.handle(rx.next().await?).map_err(handshake_error)? {
            return Ok((manifest, greeting.protocol()));
        }
    }
}

/// When a watching sync tries again, and which documents besides those
/// holding pending work.
#[derive(Default)]
struct Retry {
    docs: Vec<DocId>,
    at: Option<tokio::time::Instant>,
    pause: Duration,
}

impl Retry {
    /// Notes what `report`'s round left behind (the pause doubles, 1 s to
    /// 60 s, while rounds keep leaving work; a round that leaves none resets
    /// it).
    fn after(&mut self, report: &SyncReport) {
        if report.failed.is_empty() && report.pending_events == 0 {
            // (A clean round of other documents leaves a retry waiting.)
            if self.docs.is_empty() {
                self.pause = Duration::ZERO;
            }
            return;
        }
        self.pause = (self.pause * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
        self.at = Some(tokio::time::Instant::now() + self.pause);
        for (id, _) in &report.failed {
            if let Ok(doc) = id.parse::<DocId>()
                && !self.docs.contains(&doc)
            {
                self.docs.push(doc);
            }
        }
    }

    /// Resolves when the documents are due (never if none are).
    async fn due(&self) {
        match self.at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }

    /// The documents to try again now.
    fn take(&mut self) -> Vec<DocId> {
        self.at = None;
        std::mem::take(&mut self.docs)
    }
}

fn same(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

/// A document's session result, or the document and why it failed.
type DocResult = Result<ClientOutcome, (DocId, AgentError)>;

/// Runs the documents' sessions, [`PARALLEL`] at a time.
async fn sync_docs(conn: quinn::Connection, work: Vec<ClientSession>) -> Result<Vec<DocResult>, AgentError> {
    let mut tasks = JoinSet::new();
    let mut results = Vec::with_capacity(work.len());
    for session in work {
        if tasks.len() >= PARALLEL
            && let Some(done) = tasks.join_next().await
        {
            results.push(done.map_err(|e| AgentError::Protocol(e.to_string()))?);
        }
        tasks.spawn(sync_doc(conn.clone(), session));
    }
    while let Some(done) = tasks.join_next().await {
        results.push(done.map_err(|e| AgentError::Protocol(e.to_string()))?);
    }
    Ok(results)
}

/// Runs one document's sync session on its own stream, naming the document
/// if it fails.
async fn sync_doc(conn: quinn::Connection, session: ClientSession) -> DocResult {
    let id = session.id().clone();
    drive(conn, session).await.map_err(|e| (id, e))
}

/// Drives a document's session over a new stream: sends what it says, feeds
/// it what the server answers, until it is done.
async fn drive(conn: quinn::Connection, mut session: ClientSession) -> Result<ClientOutcome, AgentError> {
    let (mut tx, rx) = conn.open_bi().await.map_err(offline)?;
    let mut rx = Reader::new(rx);
    let mut out = session.start().map_err(session_error)?;
    loop {
        for msg in out {
            send(&mut tx, &msg).await?;
        }
        if session.is_done() {
            break;
        }
        let Some(msg) = rx.next().await? else {
            return Err(AgentError::Offline("the server closed the connection".into()));
        };
        out = session.handle(msg).map_err(session_error)?;
    }
    let _ = tx.finish();
    Ok(session.finish())
}

fn session_error(e: SessionError) -> AgentError {
    match e {
        SessionError::Refused { reason, message } => AgentError::Refused { reason, message },
        other => AgentError::Protocol(other.to_string()),
    }
}

/// Uploads one blob, resuming from what the server already holds.
async fn upload(conn: &quinn::Connection, hash: &BlobHash, bytes: &[u8]) -> Result<(), AgentError> {
    let (mut tx, rx) = conn.open_bi().await.map_err(offline)?;
    let mut rx = Reader::new(rx);
    let (mut upload, put) = ClientUpload::new(*hash, bytes.len() as u64);
    send(&mut tx, &put).await?;
    while let UploadStep::SendFrom(offset) = upload.handle(rx.next().await?).map_err(upload_error)? {
        let from = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        for piece in bytes[from..].chunks(CHUNK) {
            send(&mut tx, &chunk(piece)).await?;
        }
    }
    Ok(())
}

fn upload_error(e: UploadError) -> AgentError {
    match e {
        UploadError::Refused { reason, message } => AgentError::Refused { reason, message },
        UploadError::Closed => AgentError::Offline(e.to_string()),
        UploadError::Unexpected => AgentError::Protocol(e.to_string()),
    }
}
