//! The shared backend for several nodes: one PostgreSQL database, through
//! `tokio-postgres` (the asynchronous client the `postgres` crate is built
//! on: pipelined queries, LISTEN/NOTIFY) and a `deadpool-postgres` pool
//! (small, maintained alongside it, statement caching per connection).
//!
//! The statements are the same as SQLite's: `?N` parameters become `$N`.
//! Writes go through one task per node with the same group commit; nodes
//! serialise on the database's own locks.

use std::sync::Arc;

use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::future::join_all;
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{AsyncMessage, NoTls};

use super::value::{Row, Value};
use super::{Batch, Elsewhere, Failure, Statement, StorageError, schema};

/// Connections a node keeps at most (reads; the writer holds one of them).
const POOL_SIZE: usize = 16;

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(n) => match *ty {
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                Type::FLOAT8 => (*n as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => n.to_string().to_sql(ty, out),
                _ => n.to_sql(ty, out),
            },
            Value::Real(f) => f.to_sql(ty, out),
            Value::Text(s) => s.as_str().to_sql(ty, out),
            Value::Blob(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// An error with its causes, each said once: the client's own words
/// ("db error") say little without the server's.
fn described(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let said = c.to_string();
        if !out.contains(&said) {
            out = format!("{out}: {said}");
        }
        cause = c.source();
    }
    out
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Postgres(described(&e))
    }
}

impl From<deadpool_postgres::PoolError> for StorageError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Postgres(described(&e))
    }
}

/// The read side: a pool.
pub(super) struct Postgres {
    pool: Pool,
}

/// The channel nodes announce stored documents on.
pub(super) const CHANNEL: &str = "waybill_docs";

/// Connects to `url`, migrates the schema (one node at a time) and starts
/// the writer task and the listener for other nodes' writes.
pub(super) async fn open(
    url: &str,
    node: &str,
) -> Result<(Postgres, mpsc::UnboundedSender<Batch>, mpsc::UnboundedReceiver<Elsewhere>), StorageError> {
    let mut config: tokio_postgres::Config =
        url.parse().map_err(|e| StorageError::Postgres(format!("{url} is not a PostgreSQL address: {e}")))?;
    // As libpq does: no user named is the user running this.
    if config.get_user().is_none()
        && let Ok(user) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"))
    {
        config.user(user);
    }
    let manager = Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig { recycling_method: RecyclingMethod::Fast },
    );
    let pool = Pool::builder(manager)
        .max_size(POOL_SIZE)
        .build()
        .map_err(|e| StorageError::Postgres(e.to_string()))?;
    migrate(&pool).await?;
    let others = listen(config, node.to_owned());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(write_loop(pool.clone(), rx));
    Ok((Postgres { pool }, tx, others))
}

/// Follows what other nodes store: `LISTEN` on a connection of its own,
/// reconnecting after a second when it drops (and then saying that
/// announcements may have been missed).
fn listen(config: tokio_postgres::Config, node: String) -> mpsc::UnboundedReceiver<Elsewhere> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut first = true;
        while !tx.is_closed() {
            match config.connect(NoTls).await {
                Ok((client, mut connection)) => {
                    let sql = format!("LISTEN {CHANNEL}");
                    let listening = client.batch_execute(&sql);
                    tokio::pin!(listening);
                    let mut listened = false;
                    loop {
                        tokio::select! {
                            r = &mut listening, if !listened => {
                                if let Err(e) = r {
                                    tracing::warn!(error = %described(&e), "cannot listen for other nodes' writes");
                                    break;
                                }
                                listened = true;
                                if !std::mem::take(&mut first) && tx.send(Elsewhere::Missed).is_err() {
                                    return;
                                }
                            }
                            m = std::future::poll_fn(|cx| connection.poll_message(cx)) => match m {
                                Some(Ok(AsyncMessage::Notification(n))) => {
                                    let Some((from, doc)) = n.payload().split_once(' ') else { continue };
                                    if from != node && tx.send(Elsewhere::Stored(doc.to_owned())).is_err() {
                                        return;
                                    }
                                }
                                Some(Ok(_)) => {}
                                Some(Err(e)) => {
                                    tracing::warn!(error = %described(&e), "lost the connection that follows other nodes' writes");
                                    break;
                                }
                                None => break,
                            },
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %described(&e), "cannot connect to follow other nodes' writes")
                }
            }
            first = false;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
    rx
}

/// `?N` parameters as PostgreSQL writes them, `$N`.
pub(super) fn dollars(sql: &str) -> String {
    let mut quoted = false;
    sql.chars()
        .map(|c| {
            if c == '\'' {
                quoted = !quoted;
            }
            if c == '?' && !quoted { '$' } else { c }
        })
        .collect()
}

fn params(args: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

impl Postgres {
    pub(super) async fn rows(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StorageError> {
        rows(&self.pool.get().await?, sql, args).await
    }

    /// Reads that see one state of the database (a repeatable-read
    /// transaction).
    pub(super) async fn snapshot(&self, reads: &[(&str, Vec<Value>)]) -> Result<Vec<Vec<Row>>, StorageError> {
        let mut client = self.pool.get().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let mut out = Vec::with_capacity(reads.len());
        for (sql, args) in reads {
            out.push(rows(&tx, sql, args).await?);
        }
        tx.commit().await?;
        Ok(out)
    }
}

/// An advisory lock held on a connection of the pool.
pub(super) struct Advisory {
    client: deadpool_postgres::Object,
    key: i64,
}

impl Postgres {
    /// Waits for advisory lock `key`. The wait runs on a task of its own,
    /// so a caller that gives up does not leave the lock to be granted to a
    /// connection back in the pool: the task releases what it was granted.
    pub(super) async fn advisory(&self, key: i64) -> Result<Advisory, StorageError> {
        let pool = self.pool.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let taken = async {
                let client = pool.get().await?;
                client.execute("SELECT pg_advisory_lock($1)", &[&key]).await?;
                Ok::<_, StorageError>(Advisory { client, key })
            }
            .await;
            if let Err(Ok(unwanted)) = tx.send(taken) {
                unwanted.release();
            }
        });
        rx.await.map_err(|_| StorageError::Closed)?
    }
}

impl Advisory {
    /// Unlocks and gives the connection back; if that cannot be done, the
    /// connection is closed, which unlocks too.
    pub(super) fn release(self) {
        let Self { client, key } = self;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            drop(deadpool_postgres::Object::take(client));
            return;
        };
        runtime.spawn(async move {
            if client.execute("SELECT pg_advisory_unlock($1)", &[&key]).await.is_err() {
                drop(deadpool_postgres::Object::take(client));
            }
        });
    }
}

async fn rows(
    client: &impl deadpool_postgres::GenericClient,
    sql: &str,
    args: &[Value],
) -> Result<Vec<Row>, StorageError> {
    let stmt = client.prepare_cached(&dollars(sql)).await?;
    let names: Arc<[String]> = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
    let rows = client.query(&stmt, &params(args)).await?;
    rows.iter()
        .map(|r| {
            let values = (0..names.len()).map(|i| value(r, i)).collect::<Result<_, _>>()?;
            Ok(Row::new(names.clone(), values))
        })
        .collect()
}

fn value(row: &tokio_postgres::Row, i: usize) -> Result<Value, StorageError> {
    let column = &row.columns()[i];
    let v = match *column.type_() {
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Integer),
        Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(|n| Value::Integer(n.into())),
        Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map(|n| Value::Integer(n.into())),
        Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(|b| Value::Integer(b.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(i)?.map(|f| Value::Real(f.into())),
        Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
            row.try_get::<_, Option<String>>(i)?.map(Value::Text)
        }
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
        ref other => {
            return Err(StorageError::Postgres(format!(
                "column {} has type {other}, which the storage layer does not read: cast it in the query",
                column.name()
            )));
        }
    };
    Ok(v.unwrap_or(Value::Null))
}

async fn write_loop(pool: Pool, mut rx: mpsc::UnboundedReceiver<Batch>) {
    while let Some(first) = rx.recv().await {
        let group = super::group(first, &mut rx);
        let results = apply(&pool, &group).await;
        super::answer(group, results);
    }
}

/// Writes a group in one transaction, each batch in a savepoint of its own.
async fn apply(pool: &Pool, group: &[Batch]) -> Result<Vec<Result<(), Failure>>, StorageError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let mut results = Vec::with_capacity(group.len());
    for (ops, _) in group {
        let statements: Vec<Statement> = ops.iter().flat_map(|op| op.statements(true)).collect();
        let result = run(&tx, &statements).await;
        if result.is_err() {
            tx.batch_execute("ROLLBACK TO SAVEPOINT batch").await?;
        }
        tx.batch_execute("RELEASE SAVEPOINT batch").await?;
        results.push(result);
    }
    tx.commit().await?;
    Ok(results)
}

/// Runs one batch's statements after `SAVEPOINT batch`, pipelined: each
/// is sent without waiting for the one before (PostgreSQL still runs them
/// in order, and after a failure refuses the rest).
async fn run(tx: &deadpool_postgres::Transaction<'_>, statements: &[Statement]) -> Result<(), Failure> {
    // Another node's transaction in the way (a deadlock PostgreSQL broke by
    // failing a statement): the batch may simply be tried again.
    let failed = |e: tokio_postgres::Error| match e.code() {
        Some(&SqlState::T_R_DEADLOCK_DETECTED | &SqlState::T_R_SERIALIZATION_FAILURE) => Failure::Busy,
        _ => Failure::Failed(StorageError::from(e).to_string()),
    };
    // Prepared first (once per connection), so the executions below are
    // sent in order on their first poll.
    let sql: Vec<String> = statements.iter().map(|s| dollars(s.sql)).collect();
    let prepared = join_all(sql.iter().map(|q| tx.prepare_cached(q))).await;
    let prepared = prepared.into_iter().collect::<Result<Vec<_>, _>>().map_err(failed)?;
    // Prepared too: a statement given as text is parsed on a round trip of
    // its own first, and the others would overtake it.
    let begin = tx.prepare_cached("SAVEPOINT batch").await.map_err(failed)?;
    let savepoint = std::iter::once(Box::pin(async move { tx.execute(&begin, &[]).await })
        as std::pin::Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + '_>>);
    let executions = statements.iter().zip(&prepared).map(|(s, stmt)| {
        Box::pin(async move { tx.execute(stmt, &params(&s.args)).await })
            as std::pin::Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + '_>>
    });
    let mut done = join_all(savepoint.chain(executions)).await.into_iter();
    done.next().unwrap_or(Ok(0)).map_err(failed)?;
    for (s, n) in statements.iter().zip(done) {
        let n = n.map_err(failed)?;
        if s.claim && n == 0 {
            return Err(Failure::Conflict);
        }
    }
    Ok(())
}

/// Brings the schema up to this build's, under an advisory lock so nodes
/// starting together migrate once.
async fn migrate(pool: &Pool) -> Result<(), StorageError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.batch_execute(
        "SET LOCAL client_min_messages = warning;
         SELECT pg_advisory_xact_lock(7270616);
         CREATE TABLE IF NOT EXISTS waybill_schema (version BIGINT NOT NULL)",
    )
    .await?;
    let found: i64 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM waybill_schema", &[]).await?.get(0);
    let found = usize::try_from(found).unwrap_or(usize::MAX);
    if found > schema::VERSION {
        return Err(StorageError::NewerSchema { found, supported: schema::VERSION });
    }
    for (i, sql) in schema::POSTGRES.iter().enumerate().skip(found) {
        tx.batch_execute(sql).await?;
        tx.execute("INSERT INTO waybill_schema (version) VALUES ($1)", &[&(i as i64 + 1)]).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::dollars;

    #[test]
    fn parameters_are_numbered_with_dollars_outside_quotes() {
        assert_eq!(
            dollars("SELECT a FROM t WHERE b = ?1 AND c = '?x' OR d = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?x' OR d = $12"
        );
    }
}
