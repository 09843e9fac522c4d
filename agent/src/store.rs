//! The device's local store: one SQLite file, WAL, `synchronous=FULL`, one
//! writer.
//!
//! A document is a snapshot plus the changes appended since, each write one
//! row, so recording an event costs the size of the event, not the document.
//! Every write goes through one transaction ([`Store::write`]); when it
//! commits, the event is on disk (FULL syncs the WAL at each commit), and a
//! `kill -9` at any moment leaves either all of it or none of it. Loading
//! replays the snapshot and the changes; after [`COMPACT_AFTER`] changes the
//! document is saved whole again and its change rows dropped, in one
//! transaction.

pub mod schema;
mod wake;

use std::path::Path;

use automerge::{AutoCommit, ChangeHash};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use waybill_shared::blob::BlobHash;
use waybill_shared::doc::DocId;

use crate::error::AgentError;
use wake::Wake;

/// Change rows a document may gather before it is saved whole again.
pub const COMPACT_AFTER: i64 = 64;

/// The store.
pub struct Store {
    conn: Connection,
    wake: Wake,
}

/// One write transaction.
pub struct Write<'a> {
    tx: rusqlite::Transaction<'a>,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it forward.
    pub fn open(path: &Path) -> Result<Self, AgentError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Plans that do not depend on bound values: SQLite (built with
        // STAT4) would otherwise plan some statements again for every new
        // value, loading a document among them.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        migrate(&mut conn)?;
        Ok(Self { conn, wake: Wake::of(path) })
    }

    /// A setting, if set.
    pub fn meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, AgentError> {
        read_meta(&self.conn, key)
    }

    /// A number that changes whenever another connection to the file (another
    /// handle in this process, another process) commits: what was read before
    /// may be stale. Own commits leave it as it is.
    pub fn data_version(&self) -> Result<i64, AgentError> {
        data_version(&self.conn)
    }

    /// Tells whoever watches this store file in this process (a watching
    /// sync) that work was recorded.
    pub(crate) fn work_recorded(&self) {
        self.wake.ring();
    }

    /// Resolves `changed()` each time work is recorded through any handle on
    /// this store file in this process ([`Store::work_recorded`]).
    pub(crate) fn watch_work(&self) -> tokio::sync::watch::Receiver<u64> {
        self.wake.subscribe()
    }

    /// Starts the one write transaction.
    pub fn write(&mut self) -> Result<Write<'_>, AgentError> {
        Ok(Write { tx: self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)? })
    }

    /// Loads a document, if held.
    pub fn load_doc(&self, id: &DocId) -> Result<Option<AutoCommit>, AgentError> {
        load_doc(&self.conn, id)
    }

    /// Every document held, by id.
    pub fn doc_ids(&self) -> Result<Vec<DocId>, AgentError> {
        self.doc_ids_of("SELECT id FROM docs ORDER BY id")
    }

    /// The document ids a query's first column holds.
    fn doc_ids_of(&self, sql: &str) -> Result<Vec<DocId>, AgentError> {
        let mut stmt = self.conn.prepare(sql)?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        ids.into_iter()
            .map(|s| s.parse().map_err(|e| AgentError::Corrupt(format!("document id {s}: {e}"))))
            .collect()
    }

    /// Change rows appended to a document since its snapshot.
    pub fn change_rows(&self, id: &DocId) -> Result<i64, AgentError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM doc_changes WHERE doc = ?1", [id.to_string()], |r| r.get(0))?)
    }

    /// The device's own events not yet confirmed by the server.
    pub fn pending_events(&self) -> Result<i64, AgentError> {
        Ok(self.conn.query_row("SELECT count(DISTINCT event) FROM outbox", [], |r| r.get(0))?)
    }

    /// The documents holding own events not yet confirmed.
    pub fn pending_docs(&self) -> Result<Vec<DocId>, AgentError> {
        self.doc_ids_of("SELECT DISTINCT doc FROM outbox ORDER BY doc")
    }

    /// The documents holding one own event not yet confirmed.
    pub fn pending_docs_of(&self, event: &str) -> Result<Vec<DocId>, AgentError> {
        let mut stmt = self.conn.prepare("SELECT doc FROM outbox WHERE event = ?1 ORDER BY doc")?;
        let ids = stmt.query_map([event], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        ids.into_iter()
            .map(|s| s.parse().map_err(|e| AgentError::Corrupt(format!("document id {s}: {e}"))))
            .collect()
    }

    /// Whether a document has own events not yet confirmed.
    pub fn has_pending(&self, id: &DocId) -> Result<bool, AgentError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM outbox WHERE doc = ?1)",
            [id.to_string()],
            |r| r.get(0),
        )?)
    }

    /// The heads the server confirmed it holds of a document.
    pub fn server_heads(&self, id: &DocId) -> Result<Vec<ChangeHash>, AgentError> {
        let bytes: Option<Option<Vec<u8>>> = self
            .conn
            .query_row("SELECT server_heads FROM docs WHERE id = ?1", [id.to_string()], |r| r.get(0))
            .optional()?;
        waybill_shared::heads::decode(&bytes.flatten().unwrap_or_default())
            .map_err(|e| AgentError::Corrupt(e.to_string()))
    }

    /// A blob's bytes, if held.
    pub fn blob(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>, AgentError> {
        Ok(self
            .conn
            .query_row("SELECT bytes FROM blobs WHERE hash = ?1", [hash.to_string()], |r| r.get(0))
            .optional()?)
    }

    /// Whether a blob is held.
    pub fn has_blob(&self, hash: &BlobHash) -> Result<bool, AgentError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM blobs WHERE hash = ?1)",
            [hash.to_string()],
            |r| r.get(0),
        )?)
    }

    /// The persisted sync state of a document with a peer.
    pub fn sync_state(&self, id: &DocId, peer: &str) -> Result<Option<Vec<u8>>, AgentError> {
        Ok(self
            .conn
            .query_row(
                "SELECT state FROM sync_state WHERE doc = ?1 AND peer = ?2",
                params![id.to_string(), peer],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Blobs not yet uploaded, leaving out those that failed for good.
    pub fn blobs_to_upload(&self) -> Result<Vec<BlobHash>, AgentError> {
        let mut stmt = self
            .conn
            .prepare("SELECT hash FROM blobs WHERE uploaded = 0 AND failed IS NULL ORDER BY hash")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            let h = row?;
            out.push(h.parse().map_err(|e| AgentError::Corrupt(format!("blob hash {h}: {e}")))?);
        }
        Ok(out)
    }

    /// Blobs that will not be uploaded: hash and why.
    pub fn failed_blobs(&self) -> Result<Vec<(String, String)>, AgentError> {
        let mut stmt =
            self.conn.prepare("SELECT hash, failed FROM blobs WHERE failed IS NOT NULL ORDER BY hash")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Changes of the device's the server refused.
    pub fn quarantined(&self) -> Result<i64, AgentError> {
        Ok(self.conn.query_row("SELECT count(*) FROM quarantine", [], |r| r.get(0))?)
    }

    /// Bytes used by the store's tables (the SQLite page count times page size).
    pub fn size_bytes(&self) -> Result<i64, AgentError> {
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = self.conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok((pages - free) * size)
    }
}

impl Write<'_> {
    /// A setting, as this transaction sees it.
    pub fn meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, AgentError> {
        read_meta(&self.tx, key)
    }

    /// [`Store::data_version`], as this transaction sees it.
    pub fn data_version(&self) -> Result<i64, AgentError> {
        data_version(&self.tx)
    }

    /// A document as this transaction sees it, if held.
    pub fn load_doc(&self, id: &DocId) -> Result<Option<AutoCommit>, AgentError> {
        load_doc(&self.tx, id)
    }

    /// Sets a setting.
    pub fn set_meta<T: Serialize>(&self, key: &str, value: &T) -> Result<(), AgentError> {
        let text = serde_json::to_string(value).map_err(|e| AgentError::Corrupt(e.to_string()))?;
        self.tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![key, text])?;
        Ok(())
    }

    /// Stores a new document whole.
    pub fn insert_doc(&self, id: &DocId, doc: &mut AutoCommit) -> Result<(), AgentError> {
        self.tx.execute(
            "INSERT INTO docs (id, kind, snapshot) VALUES (?1, ?2, ?3)",
            params![id.to_string(), id.kind(), doc.save()],
        )?;
        Ok(())
    }

    /// Appends changes (an incremental save) to a document.
    pub fn append_changes(&self, id: &DocId, bytes: &[u8]) -> Result<(), AgentError> {
        self.tx.execute(
            "INSERT INTO doc_changes (doc, bytes) VALUES (?1, ?2)",
            params![id.to_string(), bytes],
        )?;
        Ok(())
    }

    /// Replaces a document's snapshot and drops its change rows.
    pub fn compact(&self, id: &DocId, doc: &mut AutoCommit) -> Result<(), AgentError> {
        let key = id.to_string();
        self.tx.execute("UPDATE docs SET snapshot = ?2 WHERE id = ?1", params![key, doc.save()])?;
        self.tx.execute("DELETE FROM doc_changes WHERE doc = ?1", [key])?;
        Ok(())
    }

    /// Replaces a document whole (after taking refused changes out of it);
    /// its sync state starts over.
    pub fn replace_doc(&self, id: &DocId, doc: &mut AutoCommit) -> Result<(), AgentError> {
        self.compact(id, doc)?;
        self.tx.execute("DELETE FROM sync_state WHERE doc = ?1", [id.to_string()])?;
        Ok(())
    }

    /// Removes a document and everything kept about it.
    pub fn delete_doc(&self, id: &DocId) -> Result<(), AgentError> {
        let key = id.to_string();
        self.tx.execute("DELETE FROM doc_changes WHERE doc = ?1", [&key])?;
        self.tx.execute("DELETE FROM sync_state WHERE doc = ?1", [&key])?;
        self.tx.execute("DELETE FROM docs WHERE id = ?1", [&key])?;
        Ok(())
    }

    /// Records an own event as not yet confirmed by the server.
    pub fn add_pending(&self, event: &str, doc: &DocId, at: &str) -> Result<(), AgentError> {
        self.tx.execute(
            "INSERT OR IGNORE INTO outbox (event, doc, at) VALUES (?1, ?2, ?3)",
            params![event, doc.to_string(), at],
        )?;
        Ok(())
    }

    /// Records that the server holds a document up to `heads`: its pending
    /// events those heads hold (`held` says which) stop being pending.
    /// Events recorded since (through another handle, while a sync ran)
    /// stay pending.
    pub fn confirm(
        &self,
        id: &DocId,
        heads: &[ChangeHash],
        held: impl Fn(&str) -> bool,
    ) -> Result<(), AgentError> {
        let key = id.to_string();
        self.tx.execute(
            "UPDATE docs SET server_heads = ?2 WHERE id = ?1",
            params![key, waybill_shared::heads::encode(heads)],
        )?;
        let pending: Vec<String> = self
            .tx
            .prepare_cached("SELECT event FROM outbox WHERE doc = ?1")?
            .query_map([&key], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut done = self.tx.prepare_cached("DELETE FROM outbox WHERE doc = ?1 AND event = ?2")?;
        for e in pending.iter().filter(|e| held(e)) {
            done.execute(params![key, e])?;
        }
        Ok(())
    }

    /// Stores a blob.
    pub fn put_blob(&self, hash: &BlobHash, bytes: &[u8]) -> Result<(), AgentError> {
        self.tx.execute(
            "INSERT OR IGNORE INTO blobs (hash, bytes) VALUES (?1, ?2)",
            params![hash.to_string(), bytes],
        )?;
        Ok(())
    }

    /// Persists the sync state of a document with a peer.
    pub fn set_sync_state(&self, id: &DocId, peer: &str, state: &[u8]) -> Result<(), AgentError> {
        self.tx.execute(
            "INSERT OR REPLACE INTO sync_state (doc, peer, state) VALUES (?1, ?2, ?3)",
            params![id.to_string(), peer, state],
        )?;
        Ok(())
    }

    /// Marks a blob as held by the server.
    pub fn blob_uploaded(&self, hash: &BlobHash) -> Result<(), AgentError> {
        self.tx.execute("UPDATE blobs SET uploaded = 1 WHERE hash = ?1", [hash.to_string()])?;
        Ok(())
    }

    /// Marks a blob as never to be uploaded, saying why.
    pub fn blob_failed(&self, hash: &BlobHash, why: &str) -> Result<(), AgentError> {
        self.tx.execute("UPDATE blobs SET failed = ?2 WHERE hash = ?1", params![hash.to_string(), why])?;
        Ok(())
    }

    /// Keeps a refused change's events visible; they are no longer pending.
    pub fn quarantine(
        &self,
        id: &DocId,
        change: &str,
        refusal: &str,
        events: &[String],
    ) -> Result<(), AgentError> {
        let at = chrono::Utc::now().to_rfc3339();
        self.tx.execute(
            "INSERT OR REPLACE INTO quarantine (doc, change, refusal, events, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id.to_string(), change, refusal, serde_json::to_string(events).unwrap_or_default(), at],
        )?;
        for e in events {
            self.tx
                .execute("DELETE FROM outbox WHERE event = ?1 AND doc = ?2", params![e, id.to_string()])?;
        }
        Ok(())
    }

    /// Makes the whole write durable.
    pub fn commit(self) -> Result<(), AgentError> {
        Ok(self.tx.commit()?)
    }
}

fn read_meta<T: DeserializeOwned>(conn: &Connection, key: &str) -> Result<Option<T>, AgentError> {
    let text: Option<String> =
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| AgentError::Corrupt(format!("setting {key}: {e}"))))
        .transpose()
}

fn data_version(conn: &Connection) -> Result<i64, AgentError> {
    // Asked before every read of a document: kept prepared.
    Ok(conn.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?)
}

fn load_doc(conn: &Connection, id: &DocId) -> Result<Option<AutoCommit>, AgentError> {
    let key = id.to_string();
    let snapshot: Option<Vec<u8>> =
        conn.query_row("SELECT snapshot FROM docs WHERE id = ?1", [&key], |r| r.get(0)).optional()?;
    let Some(snapshot) = snapshot else { return Ok(None) };
    let corrupt = |e: automerge::AutomergeError| AgentError::Corrupt(format!("document {id}: {e}"));
    let mut doc = AutoCommit::load(&snapshot).map_err(corrupt)?;
    let mut stmt = conn.prepare_cached("SELECT bytes FROM doc_changes WHERE doc = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([&key])?;
    while let Some(row) = rows.next()? {
        let bytes: Vec<u8> = row.get(0)?;
        doc.load_incremental(&bytes).map_err(corrupt)?;
    }
    Ok(Some(doc))
}

fn migrate(conn: &mut Connection) -> Result<(), AgentError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let found = usize::try_from(found).unwrap_or(usize::MAX);
    if found > schema::VERSION {
        return Err(AgentError::NewerStore { found, supported: schema::VERSION });
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_store_migrates_forward_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute("INSERT INTO blobs (hash, bytes) VALUES ('h', x'0102')", []).unwrap();
            conn.execute("INSERT INTO meta (key, value) VALUES ('role', '\"picker\"')", []).unwrap();
        }
        let store = Store::open(&path).unwrap();
        let v: i64 = store.conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, schema::VERSION as i64);
        assert_eq!(store.meta::<String>("role").unwrap().as_deref(), Some("picker"));
        let uploaded: i64 =
            store.conn.query_row("SELECT uploaded FROM blobs WHERE hash = 'h'", [], |r| r.get(0)).unwrap();
        assert_eq!(uploaded, 0);
        let n: i64 = store.conn.query_row("SELECT count(*) FROM sync_state", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn a_store_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        match Store::open(&path) {
            Err(AgentError::NewerStore { found: 99, supported }) => assert_eq!(supported, schema::VERSION),
            other => panic!("expected NewerStore, got {:?}", other.err()),
        }
    }

    #[test]
    fn settings_and_heads_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let id: DocId = "order/SO-1".parse().unwrap();
        let mut doc = AutoCommit::new();
        let heads = vec![ChangeHash([7; 32]), ChangeHash([9; 32])];
        let w = store.write().unwrap();
        w.set_meta("user", &"ana").unwrap();
        w.insert_doc(&id, &mut doc).unwrap();
        w.add_pending("hh-1:1", &id, "now").unwrap();
        w.add_pending("hh-1:2", &id, "now").unwrap();
        w.commit().unwrap();
        assert_eq!(store.pending_events().unwrap(), 2);
        let w = store.write().unwrap();
        w.confirm(&id, &heads, |e| e == "hh-1:1").unwrap();
        w.commit().unwrap();
        assert_eq!(store.server_heads(&id).unwrap(), heads);
        assert_eq!(store.pending_events().unwrap(), 1, "an event the heads do not hold stays pending");
        assert_eq!(store.meta::<String>("user").unwrap().as_deref(), Some("ana"));
    }
}
