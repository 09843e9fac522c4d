//! The server: a QUIC endpoint, the shared state every connection uses, and
//! the watch that cuts off revoked devices.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::blob_store::BlobStore;
use crate::docs::DocCache;
use crate::hub::Hub;
use crate::identity::{Identity, IdentityError};
use crate::storage::{self, Elsewhere, Storage, StorageError, Writer};

/// Limits on what a device may send and hold open.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest frame a device may send, in bytes.
    pub max_frame: usize,
    /// Bytes one connection may hold in frames being read or handled,
    /// across all its streams (at least `max_frame`).
    pub connection_buffer: usize,
    /// Largest document, in bytes of its saved form.
    pub max_doc_bytes: usize,
    /// Largest blob, in bytes.
    pub max_blob_bytes: u64,
    /// Connections one device may have open at once.
    pub connections_per_device: usize,
    /// Streams one connection may have open at once.
    pub streams_per_connection: u32,
    /// Idle documents kept in memory.
    pub cached_docs: usize,
    /// The newest sync protocol version spoken (at most this build's).
    pub protocol: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame: waybill_shared::sync::MAX_DEVICE_FRAME,
            connection_buffer: 2 * waybill_shared::sync::MAX_DEVICE_FRAME,
            max_doc_bytes: 16 * 1024 * 1024,
            max_blob_bytes: 16 * 1024 * 1024,
            connections_per_device: 4,
            streams_per_connection: 256,
            cached_docs: 256,
            protocol: waybill_shared::sync::PROTOCOL_VERSION,
        }
    }
}

/// Bytes quinn buffers for one connection, unread, across its streams.
pub const RECEIVE_WINDOW: u32 = 4 * 1024 * 1024;
/// Bytes quinn buffers for one stream, unread.
const STREAM_RECEIVE_WINDOW: u32 = 1024 * 1024;

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data directory: keys, blobs, and the SQLite database unless
    /// `database` names another.
    pub data_dir: PathBuf,
    /// Where documents and everything else is stored.
    pub database: storage::Database,
    /// The UDP address to listen on.
    pub listen: SocketAddr,
    /// Limits.
    pub limits: Limits,
}

/// A server that failed to start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory could not be made.
    #[error("cannot create the data directory {path}: {error}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why (in the message, so not a source).
        error: std::io::Error,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The TLS identity failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// This node's keys are not those of the nodes sharing its database.
    #[error(
        "the keys in {dir} (device CA {here}) are not those of the other nodes on this database (device CA \
         {shared}): copy ca.der, ca.key.der, server.der and server.key.der from a node (docs/operations.md)"
    )]
    OtherKeys {
        /// The data directory.
        dir: PathBuf,
        /// This node's CA fingerprint.
        here: String,
        /// The database's.
        shared: String,
    },
    /// The socket could not be bound.
    #[error("cannot listen on {addr}: {error}. Is another server on it? Pass --listen with another port")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why (in the message, so not a source).
        error: std::io::Error,
    },
}

/// What every connection shares.
pub struct Shared {
    /// Reads.
    pub storage: Storage,
    /// Writes.
    pub writer: Writer,
    /// Keys and certificates.
    pub identity: Identity,
    /// Documents in memory.
    pub docs: DocCache,
    /// Live connections.
    pub hub: Hub,
    /// Limits.
    pub limits: Limits,
    /// Blob bytes.
    pub blobs: BlobStore,
    /// Blobs being received now: one upload per blob at a time.
    pub uploads: std::sync::Mutex<std::collections::HashSet<waybill_shared::blob::BlobHash>>,
    /// The id of every document that changed and was stored, for the
    /// office's live page (`GET /api/events`).
    pub changes: tokio::sync::broadcast::Sender<String>,
}

/// A running server.
pub struct Server {
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
}

/// Checks that `identity` is the one every node on `storage` uses (the
/// first to start records its CA's fingerprint): a node with keys of its own
/// would enrol devices the others refuse, and serve a certificate devices
/// enrolled elsewhere do not trust.
pub async fn same_keys(
    storage: &Storage,
    identity: &Identity,
    dir: &std::path::Path,
) -> Result<(), ServerError> {
    const KEY: &str = "ca_fingerprint";
    let here = identity.ca_fingerprint();
    let shared = match storage.meta_text(KEY).await? {
        Some(shared) => shared,
        None => match storage.write(vec![storage::office::put_meta(KEY, None, here.clone())]).await {
            Ok(()) => return Ok(()),
            // Another node recorded its own at the same moment.
            Err(StorageError::Conflict) => storage.meta_text(KEY).await?.unwrap_or_default(),
            Err(e) => return Err(e.into()),
        },
    };
    if shared == here { Ok(()) } else { Err(ServerError::OtherKeys { dir: dir.to_path_buf(), here, shared }) }
}

/// The database file in a data directory.
pub fn db_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("waybill.db")
}

impl Server {
    /// Opens the data directory (making keys on first start) and binds the
    /// socket. Call inside a tokio runtime.
    pub async fn start(config: Config) -> Result<Self, ServerError> {
        let dir = &config.data_dir;
        let identity = Identity::load_or_create(dir)?;
        let (storage, writer) = storage::open(&config.database).await?;
        same_keys(&storage, &identity, dir).await?;
        // Orders stored by a build from before the metrics were projected.
        let backfilled = crate::metrics::backfill(&storage).await?;
        if backfilled > 0 {
            tracing::info!(orders = backfilled, "metrics projected for orders stored before they were");
        }
        let blobs = match config.database {
            storage::Database::Sqlite(_) => BlobStore::files(dir.join("blobs"))
                .map_err(|error| ServerError::DataDir { path: dir.clone(), error })?,
            storage::Database::Postgres(_) => BlobStore::Database(storage.clone()),
        };
        let mut server_config = identity.quic_server_config()?;
        let mut transport = quinn::TransportConfig::default();
        transport.max_concurrent_bidi_streams(config.limits.streams_per_connection.into());
        transport.max_concurrent_uni_streams(0u32.into());
        // What quinn itself may buffer of a connection's unread bytes: with
        // the frames being read (`connection_buffer`), all a connection holds.
        transport.receive_window(quinn::VarInt::from_u32(RECEIVE_WINDOW));
        transport.stream_receive_window(quinn::VarInt::from_u32(STREAM_RECEIVE_WINDOW));
        transport.keep_alive_interval(Some(Duration::from_secs(5)));
        // A device that vanished (crash, lost link) stops counting against its
        // connection limit after this long.
        transport.max_idle_timeout(Some(quinn::VarInt::from_u32(15_000).into()));
        server_config.transport_config(Arc::new(transport));
        let bind = |error| ServerError::Bind { addr: config.listen, error };
        let socket = crate::udp::bind(config.listen).map_err(bind)?;
        let runtime = Arc::new(quinn::TokioRuntime);
        let endpoint =
            quinn::Endpoint::new(quinn::EndpointConfig::default(), Some(server_config), socket, runtime)
                .map_err(bind)?;
        let shared = Arc::new(Shared {
            storage,
            writer,
            identity,
            docs: DocCache::new(config.limits.cached_docs),
            hub: Hub::default(),
            limits: config.limits,
            blobs,
            uploads: Default::default(),
            changes: tokio::sync::broadcast::channel(1024).0,
        });
        Ok(Self { endpoint, shared })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// What every connection shares (the office API serves from it too).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// The fingerprint devices pin.
    pub fn ca_fingerprint(&self) -> String {
        self.shared.identity.ca_fingerprint()
    }

    /// Serves until the endpoint is closed.
    pub async fn run(self) {
        tokio::spawn(watch_revocations(self.shared.clone()));
        tokio::spawn(follow_others(self.shared.clone()));
        tokio::spawn(crate::outbox::run(self.shared.clone()));
        while let Some(incoming) = self.endpoint.accept().await {
            tokio::spawn(crate::connection::handle(self.shared.clone(), incoming));
        }
    }
}

/// On a database several nodes share: a document another node stored is
/// dropped from memory here (the next use reads what is stored) and pushed
/// to the devices connected here and the office page served here.
async fn follow_others(shared: Arc<Shared>) {
    let Some(mut others) = shared.storage.others() else { return };
    while let Some(heard) = others.recv().await {
        match heard {
            Elsewhere::Stored(doc) => {
                let Ok(id) = doc.parse::<waybill_shared::doc::DocId>() else { continue };
                shared.docs.forget(&id);
                crate::ingest::push(&shared, &id, &[], u64::MAX).await;
            }
            Elsewhere::Missed => {
                tracing::warn!("other nodes' writes may have been missed: reading every document afresh");
                shared.docs.clear();
            }
        }
    }
}

/// Closes the connections of devices revoked while connected. Polls, so a
/// revocation made by another process (the CLI) takes effect within the
/// period.
async fn watch_revocations(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let connected = shared.hub.connected();
        if connected.is_empty() {
            continue;
        }
        // One read for every connection.
        let Ok(revoked) = crate::devices::revoked(&shared.storage).await else { continue };
        for (id, device, conn) in connected {
            if revoked.contains(&device) {
                tracing::info!(%device, "revoked: closing its connection");
                conn.close(crate::connection::CLOSE_REVOKED, b"revoked");
                shared.hub.leave(id);
            }
        }
    }
}
