//! The server's storage: one SQLite database in the data directory, WAL,
//! `synchronous=FULL`.
//!
//! Writes are described as data ([`WriteOp`]) and go to one writer thread,
//! which commits every batch waiting for it in one transaction (group
//! commit): many devices' changes share one fsync, and a caller hears back
//! only once its batch is durable. Reads use their own connection.

pub mod schema;

use std::path::Path;
use std::sync::Mutex;

use automerge::ChangeHash;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};
use waybill_shared::doc::DocId;

/// Storage that failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sql(rusqlite::Error),
    /// The data directory is from a newer build.
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
    /// The writer thread is gone (the server is shutting down).
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

/// One write, as data.
#[derive(Debug)]
pub enum WriteOp {
    /// Stores a document whole, dropping its appended changes.
    PutDoc {
        /// The document.
        id: DocId,
        /// `AutoCommit::save()`.
        snapshot: Vec<u8>,
        /// Its heads.
        heads: Vec<ChangeHash>,
    },
    /// Appends accepted changes to a document.
    AppendChanges {
        /// The document.
        id: DocId,
        /// Each change's raw bytes.
        changes: Vec<Vec<u8>>,
        /// The heads after them.
        heads: Vec<ChangeHash>,
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
    /// Raw SQL with text parameters, for projections.
    Exec {
        /// The statement.
        sql: &'static str,
        /// Its parameters.
        params: Vec<rusqlite::types::Value>,
    },
}

type Batch = (Vec<WriteOp>, oneshot::Sender<Result<(), String>>);

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
        Ok(async move { wait.await.map_err(|_| StorageError::Closed)?.map_err(StorageError::Corrupt) })
    }
}

/// A stored document: its snapshot and the changes appended since.
pub type StoredDoc = (Vec<u8>, Vec<Vec<u8>>);

/// Read access.
pub struct Storage {
    read: Mutex<Connection>,
}

/// Opens (creating and migrating) the database at `path`, and starts the
/// writer thread.
pub fn open(path: &Path) -> Result<(Storage, Writer), StorageError> {
    let conn = prepare(path)?;
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("waybill-writer".into())
        .spawn(move || write_loop(conn, rx))
        .map_err(|e| StorageError::Corrupt(format!("cannot start the writer: {e}")))?;
    Ok((Storage { read: Mutex::new(connect(path)?) }, Writer { tx }))
}

/// A connection to a migrated database (for the command line).
pub fn prepare(path: &Path) -> Result<Connection, StorageError> {
    let mut conn = connect(path)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// A connection with the server's settings.
pub fn connect(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

fn write_loop(mut conn: Connection, mut rx: mpsc::UnboundedReceiver<Batch>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let result = apply(&mut conn, &batch).map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, "write batch failed; nothing of it was stored");
        }
        for (_, done) in batch {
            let _ = done.send(result.clone());
        }
    }
}

fn apply(conn: &mut Connection, batch: &[Batch]) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    let now = chrono::Utc::now().to_rfc3339();
    for (ops, _) in batch {
        for op in ops {
            match op {
                WriteOp::PutDoc { id, snapshot, heads } => {
                    let key = id.to_string();
                    tx.execute(
                        "INSERT INTO docs (id, kind, snapshot, heads, changes, updated_at) VALUES (?1, ?2, ?3, ?4, 0, ?5)
                         ON CONFLICT (id) DO UPDATE SET snapshot = ?3, heads = ?4, changes = 0, updated_at = ?5",
                        params![key, id.kind(), snapshot, waybill_shared::heads::encode(heads), now],
                    )?;
                    tx.execute("DELETE FROM doc_changes WHERE doc = ?1", [&key])?;
                }
                WriteOp::AppendChanges { id, changes, heads } => {
                    let key = id.to_string();
                    let mut stmt =
                        tx.prepare_cached("INSERT INTO doc_changes (doc, bytes) VALUES (?1, ?2)")?;
                    for c in changes {
                        stmt.execute(params![key, c])?;
                    }
                    tx.execute(
                        "UPDATE docs SET heads = ?2, changes = changes + ?3, updated_at = ?4 WHERE id = ?1",
                        params![key, waybill_shared::heads::encode(heads), changes.len() as i64, now],
                    )?;
                }
                WriteOp::SyncState { device, doc, state } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO sync_states (device, doc, state) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![device, doc.to_string(), state])?;
                }
                WriteOp::Quarantine { device, doc, change, refusal, bytes } => {
                    tx.execute(
                        "INSERT OR IGNORE INTO quarantine (device, doc, change, refusal, bytes, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![device, doc.to_string(), change.to_string(), refusal, bytes, now],
                    )?;
                }
                WriteOp::Exec { sql, params } => {
                    tx.prepare_cached(sql)?.execute(rusqlite::params_from_iter(params.iter()))?;
                }
            }
        }
    }
    tx.commit()
}

impl Storage {
    /// Runs a read.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StorageError> {
        let conn = self.read.lock().map_err(|_| StorageError::Corrupt("read connection poisoned".into()))?;
        Ok(f(&conn)?)
    }

    /// A document's snapshot and appended changes, if stored.
    pub fn load_doc(&self, id: &DocId) -> Result<Option<StoredDoc>, StorageError> {
        let key = id.to_string();
        self.read(|c| {
            let Some(snapshot) = c
                .query_row("SELECT snapshot FROM docs WHERE id = ?1", [&key], |r| r.get::<_, Vec<u8>>(0))
                .optional()?
            else {
                return Ok(None);
            };
            let mut stmt = c.prepare_cached("SELECT bytes FROM doc_changes WHERE doc = ?1 ORDER BY seq")?;
            let changes = stmt.query_map([&key], |r| r.get(0))?.collect::<Result<Vec<Vec<u8>>, _>>()?;
            Ok(Some((snapshot, changes)))
        })
    }

    /// A document's stored heads and the number of changes appended since
    /// its snapshot.
    pub fn doc_heads(&self, id: &DocId) -> Result<Option<(Vec<ChangeHash>, i64)>, StorageError> {
        let row = self.read(|c| {
            c.query_row("SELECT heads, changes FROM docs WHERE id = ?1", [id.to_string()], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()
        })?;
        row.map(|(h, n)| {
            Ok((waybill_shared::heads::decode(&h).map_err(|e| StorageError::Corrupt(e.to_string()))?, n))
        })
        .transpose()
    }

    /// A device's persisted sync state for a document.
    pub fn sync_state(&self, device: &str, doc: &DocId) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(|c| {
            c.query_row(
                "SELECT state FROM sync_states WHERE device = ?1 AND doc = ?2",
                params![device, doc.to_string()],
                |r| r.get(0),
            )
            .optional()
        })
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let found = usize::try_from(found).unwrap_or(usize::MAX);
    if found > schema::VERSION {
        return Err(StorageError::NewerSchema { found, supported: schema::VERSION });
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
