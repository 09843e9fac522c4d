//! The server's storage: the one place that speaks SQL. Two backends sit
//! behind it: SQLite in the data directory (the embedded default) and
//! PostgreSQL (several nodes sharing one database). The statements are
//! written once, in the SQL both accept.
//!
//! Writes are described as data ([`WriteOp`]) and go to one writer per
//! node, which commits every batch waiting for it in one transaction (group
//! commit): many devices' changes share one fsync, and a caller hears back
//! only once its batch is durable. Reads go through [`Storage`].

pub(crate) mod audit;
mod blobs;
mod devices;
mod docs;
mod listings;
mod lock;
pub(crate) mod mail;
pub(crate) mod metrics;
pub(crate) mod office;
mod orders;
pub(crate) mod outbox;
mod planning;
mod postgres;
pub(crate) mod projection;
pub(crate) mod quota;
pub mod schema;
mod scope;
mod sqlite;
mod users;
mod value;

use std::path::PathBuf;
use std::sync::Arc;

use automerge::ChangeHash;
use tokio::sync::{mpsc, oneshot};
use waybill_shared::doc::DocId;

pub use listings::Listing;
pub use lock::{Guard, Lock};
pub(crate) use value::args;
pub use value::{FromValue, Row, Value};

/// Storage that failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sql(rusqlite::Error),
    /// PostgreSQL failed.
    #[error("database: {0}")]
    Postgres(String),
    /// The database is from a newer build.
    #[error(
        "the database has schema version {found}; this build reads up to {supported}: update waybill-server"
    )]
    NewerSchema {
        /// Found.
        found: usize,
        /// Newest readable.
        supported: usize,
    },
    /// Stored data does not read back.
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// The blob directory failed.
    #[error("blob storage: {0}")]
    Blobs(#[from] std::io::Error),
    /// A write's claim found nothing to claim (someone else took it first).
    #[error("already taken")]
    Conflict,
    /// Another node's transaction was in the way (PostgreSQL broke a
    /// deadlock); nothing of the batch was stored and it may be tried again.
    #[error("the database was busy with another node's writes: try again")]
    Busy,
    /// A write failed; nothing of its batch was stored.
    #[error("write failed: {0}")]
    Write(String),
    /// The writer is gone (the server is shutting down).
    #[error("storage is shut down")]
    Closed,
}

// By hand rather than `#[from]`: the message already holds the cause, so
// it is not reported again as the source (an error chain says it once).
impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

/// Where the data lives.
#[derive(Clone, Debug)]
pub enum Database {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, as a `postgres://` address.
    Postgres(String),
}

/// One write, as data.
///
/// A document is written only over the state it was read at: `PutDoc` and
/// `AppendChanges` name the heads stored when the writer's copy was loaded
/// (or last written), and the batch fails with [`StorageError::Conflict`]
/// if another node, or another process, stored the document since. The
/// writer then takes in what is stored and writes again
/// ([`crate::ingest::store`]), so no node's changes are ever overwritten.
#[derive(Clone, Debug)]
pub enum WriteOp {
    /// Stores a document whole, dropping its appended changes.
    PutDoc {
        /// The document.
        id: DocId,
        /// `AutoCommit::save()`.
        snapshot: Vec<u8>,
        /// Its heads.
        heads: Vec<ChangeHash>,
        /// The heads stored before; `None` for a document not stored yet.
        stored: Option<Vec<ChangeHash>>,
    },
    /// Appends accepted changes to a document.
    AppendChanges {
        /// The document.
        id: DocId,
        /// Each change's raw bytes.
        changes: Vec<Vec<u8>>,
        /// The heads after them.
        heads: Vec<ChangeHash>,
        /// The heads stored before.
        stored: Vec<ChangeHash>,
    },
    /// A device's persisted sync state for a document.
    SyncState {
        /// The device.
        device: String,
        /// The document.
        doc: DocId,
        /// `sync::State::encode()`.
        state: Vec<u8>,
    },
    /// A change the write policy refused, kept for the office.
    Quarantine {
        /// The device that sent it.
        device: String,
        /// The document.
        doc: DocId,
        /// The change's hash.
        change: ChangeHash,
        /// Why, as JSON.
        refusal: String,
        /// The change itself.
        bytes: Vec<u8>,
    },
    /// Makes the rows of a set (an order's locations, ...) those listed,
    /// writing only those that come or go.
    Set {
        /// Which set.
        set: projection::Set,
        /// Whose (the order or route).
        key: String,
        /// Its members now.
        members: Vec<String>,
    },
    /// A statement of the storage layer's own.
    Exec(Statement),
}

/// What a node hears of the other nodes' writes.
#[derive(Debug)]
pub enum Elsewhere {
    /// Another node stored this document.
    Stored(String),
    /// The link that hears them was down: anything may have changed.
    Missed,
}

/// One statement with its arguments.
#[derive(Clone, Debug)]
pub struct Statement {
    pub(crate) sql: &'static str,
    pub(crate) args: Vec<Value>,
    /// The batch fails with [`StorageError::Conflict`] if this changes no row.
    pub(crate) claim: bool,
}

impl Statement {
    pub(crate) fn new(sql: &'static str, args: Vec<Value>) -> Self {
        Self { sql, args, claim: false }
    }

    /// A statement that must change a row, or its batch fails.
    pub(crate) fn claim(sql: &'static str, args: Vec<Value>) -> Self {
        Self { sql, args, claim: true }
    }
}

impl From<Statement> for WriteOp {
    fn from(s: Statement) -> Self {
        Self::Exec(s)
    }
}

/// Why a batch was not stored.
#[derive(Clone, Debug)]
enum Failure {
    Conflict,
    Busy,
    Failed(String),
}

type Batch = (Vec<WriteOp>, oneshot::Sender<Result<(), Failure>>);

/// `first` and every batch waiting behind it: one group, one transaction.
fn group(first: Batch, rx: &mut mpsc::UnboundedReceiver<Batch>) -> Vec<Batch> {
    let mut group = vec![first];
    while let Ok(more) = rx.try_recv() {
        group.push(more);
    }
    group
}

/// Tells each batch of a group how it went: all failed if the transaction did.
fn answer(group: Vec<Batch>, results: Result<Vec<Result<(), Failure>>, impl std::fmt::Display>) {
    let results = results.unwrap_or_else(|e| {
        tracing::error!(error = %e, "write group failed; nothing of it was stored");
        vec![Err(Failure::Failed(e.to_string())); group.len()]
    });
    for ((_, done), result) in group.into_iter().zip(results) {
        let _ = done.send(result);
    }
}

/// On PostgreSQL, tells the other nodes that `doc` was stored, when the
/// transaction commits; a lone SQLite node has no one to tell.
fn announce(doc: &DocId, postgres: bool) -> Option<Statement> {
    postgres.then(|| {
        Statement::new(
            // pg_notify's arguments, typed for PostgreSQL.
            "SELECT pg_notify(CAST(?1 AS TEXT), CAST(?2 AS TEXT))",
            args![postgres::CHANNEL, format!("{} {doc}", node())],
        )
    })
}

impl WriteOp {
    /// The statements that make this write, on PostgreSQL or SQLite.
    fn statements(&self, postgres: bool) -> Vec<Statement> {
        let now = || Value::from(chrono::Utc::now().to_rfc3339());
        match self {
            Self::PutDoc { id, snapshot, heads, stored } => {
                let (key, heads) = (id.to_string(), waybill_shared::heads::encode(heads));
                let mut out = vec![match stored {
                    None => Statement::claim(
                        "INSERT INTO docs (id, kind, snapshot, heads, changes, updated_at)
                         VALUES (?1, ?2, ?3, ?4, 0, ?5) ON CONFLICT DO NOTHING",
                        args![&key, id.kind(), snapshot.clone(), heads, now()],
                    ),
                    Some(before) => Statement::claim(
                        "UPDATE docs SET snapshot = ?2, heads = ?3, changes = 0, updated_at = ?4
                         WHERE id = ?1 AND heads = ?5",
                        args![&key, snapshot.clone(), heads, now(), waybill_shared::heads::encode(before)],
                    ),
                }];
                out.push(Statement::new("DELETE FROM doc_changes WHERE doc = ?1", args![&key]));
                out.extend(announce(id, postgres));
                out
            }
            Self::AppendChanges { id, changes, heads, stored } => {
                let key = id.to_string();
                let mut out = vec![Statement::claim(
                    "UPDATE docs SET heads = ?2, changes = changes + ?3, updated_at = ?4 WHERE id = ?1 AND heads = ?5",
                    args![
                        &key,
                        waybill_shared::heads::encode(heads),
                        changes.len(),
                        now(),
                        waybill_shared::heads::encode(stored)
                    ],
                )];
                out.extend(changes.iter().map(|c| {
                    Statement::new("INSERT INTO doc_changes (doc, bytes) VALUES (?1, ?2)", args![&key, c.clone()])
                }));
                out.extend(announce(id, postgres));
                out
            }
            Self::SyncState { device, doc, state } => vec![Statement::new(
                "INSERT INTO sync_states (device, doc, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (device, doc) DO UPDATE SET state = ?3",
                args![device, doc.to_string(), state.clone()],
            )],
            Self::Quarantine { device, doc, change, refusal, bytes } => vec![Statement::new(
                "INSERT INTO quarantine (device, doc, change, refusal, bytes, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT DO NOTHING",
                args![device, doc.to_string(), change.to_string(), refusal, bytes.clone(), now()],
            )],
            Self::Set { set, key, members } => set.statements(key, members, postgres),
            Self::Exec(s) => vec![Statement { sql: s.sql, args: s.args.clone(), claim: s.claim }],
        }
    }
}

/// A cloneable handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Batch>,
}

impl Writer {
    /// Writes `ops` in one transaction (shared with whatever else is waiting)
    /// and returns once it is durable.
    pub async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        self.submit(ops)?.await
    }

    /// Hands `ops` to the writer now, as [`write`](Self::write) does; the
    /// returned future resolves once they are durable. What is submitted
    /// is written in the order submitted.
    pub fn submit(
        &self,
        ops: Vec<WriteOp>,
    ) -> Result<impl Future<Output = Result<(), StorageError>> + use<>, StorageError> {
        let (done, wait) = oneshot::channel();
        self.tx.send((ops, done)).map_err(|_| StorageError::Closed)?;
        Ok(async move {
            wait.await.map_err(|_| StorageError::Closed)?.map_err(|f| match f {
                Failure::Conflict => StorageError::Conflict,
                Failure::Busy => StorageError::Busy,
                Failure::Failed(e) => StorageError::Write(e),
            })
        })
    }
}

/// A stored document as one state of the database holds it.
#[derive(Debug)]
pub struct StoredDoc {
    /// `AutoCommit::save()` as last compacted.
    pub snapshot: Vec<u8>,
    /// Each change appended since, in order.
    pub changes: Vec<Vec<u8>>,
    /// The heads stored with them.
    pub heads: Vec<ChangeHash>,
}

impl StoredDoc {
    /// The document's bytes: the snapshot, then the changes (what
    /// `AutoCommit::load` takes).
    pub fn bytes(&self) -> Vec<u8> {
        let mut bytes = self.snapshot.clone();
        for change in &self.changes {
            bytes.extend(change);
        }
        bytes
    }
}

/// Read access, cloneable.
#[derive(Clone)]
pub struct Storage {
    backend: Arc<Backend>,
    writer: Writer,
    others: Arc<std::sync::Mutex<Option<mpsc::UnboundedReceiver<Elsewhere>>>>,
}

/// This process's name among the nodes: random, so its own announcements
/// are told from others'.
fn node() -> &'static str {
    static NODE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NODE.get_or_init(|| {
        let mut raw = [0u8; 8];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw);
        raw.iter().map(|b| format!("{b:02x}")).collect()
    })
}

enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// For tests: a storage on a new SQLite file in a directory of its own,
/// which goes when the returned directory is dropped.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) async fn scratch() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let (storage, _writer) = open(&Database::Sqlite(dir.path().join("waybill.db"))).await.unwrap();
    (dir, storage)
}

/// Opens (creating and migrating) the database, and starts the writer.
pub async fn open(database: &Database) -> Result<(Storage, Writer), StorageError> {
    let (backend, tx, others) = match database {
        Database::Sqlite(path) => {
            let (s, tx) = sqlite::open(path)?;
            (Backend::Sqlite(s), tx, None)
        }
        Database::Postgres(url) => {
            let (p, tx, others) = postgres::open(url, node()).await?;
            (Backend::Postgres(p), tx, Some(others))
        }
    };
    let writer = Writer { tx };
    let others = Arc::new(std::sync::Mutex::new(others));
    Ok((Storage { backend: Arc::new(backend), writer: writer.clone(), others }, writer))
}

impl Storage {
    /// Writes `ops` in one transaction and returns once it is durable
    /// ([`Writer::write`]).
    pub async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        self.writer.write(ops).await
    }

    /// The writer.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// What the other nodes on this database store, as they commit; once
    /// (the first caller takes it), and `None` on SQLite (no other nodes).
    pub fn others(&self) -> Option<mpsc::UnboundedReceiver<Elsewhere>> {
        self.others.lock().ok()?.take()
    }

    /// The rows `sql` reads.
    pub(crate) async fn rows(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StorageError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.rows(sql, &args),
            Backend::Postgres(p) => p.rows(sql, &args).await,
        }
    }

    /// Several reads that see one state of the database, even while
    /// others write.
    pub(crate) async fn snapshot(&self, reads: &[(&str, Vec<Value>)]) -> Result<Vec<Vec<Row>>, StorageError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.snapshot(reads),
            Backend::Postgres(p) => p.snapshot(reads).await,
        }
    }

    /// Each row `sql` reads, mapped.
    pub(crate) async fn query<T>(
        &self,
        sql: &str,
        args: Vec<Value>,
        map: impl Fn(&Row) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        self.rows(sql, args).await?.iter().map(map).collect()
    }

    /// The first row `sql` reads, mapped, if any.
    pub(crate) async fn query_opt<T>(
        &self,
        sql: &str,
        args: Vec<Value>,
        map: impl Fn(&Row) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        self.rows(sql, args).await?.first().map(map).transpose()
    }
}
