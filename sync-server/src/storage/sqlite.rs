//! The embedded backend: one SQLite file in the data directory, WAL,
//! `synchronous=FULL`; reads on one connection, writes on the writer
//! thread's own.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};
use tokio::sync::mpsc;

use super::value::{Row, Value};
use super::{Batch, Failure, Statement, StorageError, schema};

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(n) => ValueRef::Integer(*n),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// The read side.
pub(super) struct Sqlite {
    read: Mutex<Connection>,
}

/// Opens (creating and migrating) the database at `path` and starts the
/// writer thread.
pub(super) fn open(path: &Path) -> Result<(Sqlite, mpsc::UnboundedSender<Batch>), StorageError> {
    let mut conn = connect(path)?;
    migrate(&mut conn)?;
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("waybill-writer".into())
        .spawn(move || write_loop(conn, rx))
        .map_err(|e| StorageError::Corrupt(format!("cannot start the writer: {e}")))?;
    Ok((Sqlite { read: Mutex::new(connect(path)?) }, tx))
}

/// Prepared statements kept per connection: more than the server's
/// distinct statements.
const STATEMENT_CACHE: usize = 512;

/// A connection with the server's settings.
fn connect(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Temporary files (a write batch's savepoint journal among them) in
    // memory, not in files under /tmp.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Every statement the server runs stays prepared: rusqlite's default
    // cache (16) is smaller than one document's projection writes, so
    // statements were parsed again and again.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Plans that do not depend on the values bound. Otherwise SQLite (built
    // with STAT4, as rusqlite bundles it) plans some statements around their
    // values and plans them again whenever one changes: loading a document
    // (`doc = ?1 ORDER BY seq`) parsed its statement again on every load.
    // No `ANALYZE` runs here, so nothing was gained by it.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

impl Sqlite {
    pub(super) fn rows(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StorageError> {
        rows(&*self.lock()?, sql, args)
    }

    /// Reads that see one state of the database.
    pub(super) fn snapshot(&self, reads: &[(&str, Vec<Value>)]) -> Result<Vec<Vec<Row>>, StorageError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let out = reads.iter().map(|(sql, args)| rows(&tx, sql, args)).collect();
        tx.finish()?;
        out
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StorageError> {
        self.read.lock().map_err(|_| StorageError::Corrupt("read connection poisoned".into()))
    }
}

fn rows(conn: &Connection, sql: &str, args: &[Value]) -> Result<Vec<Row>, StorageError> {
    {
        let mut stmt = conn.prepare_cached(sql)?;
        let names: Arc<[String]> = stmt.column_names().map(str::to_owned).collect();
        let width = names.len();
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let values = (0..width).map(|i| r.get_ref(i).map(value)).collect::<Result<_, _>>()?;
            out.push(Row::new(names.clone(), values));
        }
        Ok(out)
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Integer(n),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn write_loop(mut conn: Connection, mut rx: mpsc::UnboundedReceiver<Batch>) {
    while let Some(first) = rx.blocking_recv() {
        let group = super::group(first, &mut rx);
        let results = apply(&mut conn, &group);
        super::answer(group, results);
    }
}

/// Writes a group in one transaction, each batch in a savepoint of its own
/// so a batch whose claim fails leaves the others whole.
fn apply(conn: &mut Connection, group: &[Batch]) -> Result<Vec<Result<(), Failure>>, rusqlite::Error> {
    let tx = conn.transaction()?;
    let mut results = Vec::with_capacity(group.len());
    for (ops, _) in group {
        tx.execute_batch("SAVEPOINT batch")?;
        let result = ops.iter().flat_map(|op| op.statements(false)).try_for_each(|s| run(&tx, &s));
        if result.is_err() {
            tx.execute_batch("ROLLBACK TO batch")?;
        }
        tx.execute_batch("RELEASE batch")?;
        results.push(result);
    }
    tx.commit()?;
    Ok(results)
}

fn run(tx: &rusqlite::Transaction<'_>, s: &Statement) -> Result<(), Failure> {
    let n = tx
        .prepare_cached(s.sql)
        .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(&s.args)))
        .map_err(|e| Failure::Failed(e.to_string()))?;
    if s.claim && n == 0 {
        return Err(Failure::Conflict);
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let found = usize::try_from(found).unwrap_or(usize::MAX);
    if found > schema::VERSION {
        return Err(StorageError::NewerSchema { found, supported: schema::VERSION });
    }
    for (i, sql) in schema::SQLITE.iter().enumerate().skip(found) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rusqlite::StatementStatus;

    use super::*;

    #[test]
    fn loading_documents_does_not_plan_the_statement_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = connect(&dir.path().join("db")).unwrap();
        migrate(&mut conn).unwrap();
        // The shape that STAT4 plans around its value: an equality and an
        // order.
        let sql = "SELECT bytes FROM doc_changes WHERE doc = ?1 ORDER BY seq";
        for doc in ["order/SO-1", "order/SO-2", "order/SO-3"] {
            rows(&conn, sql, &[Value::from(doc)]).unwrap();
        }
        let stmt = conn.prepare_cached(sql).unwrap();
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
    }
}
