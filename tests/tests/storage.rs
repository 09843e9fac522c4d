//! The storage layer on both databases: the schema migrates forward from
//! nothing and from every earlier version, nodes starting together migrate
//! once, a database from a newer build is refused, and SQLite and
//! PostgreSQL end with the same tables and columns.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use waybill_sync_server::storage::{self, Database, StorageError, schema};
use waybill_tests::block_on;
use waybill_tests::postgres::Database as Postgres;

/// Each table's columns, in order.
type Tables = BTreeMap<String, Vec<String>>;

fn open(database: &Database) -> Result<(), StorageError> {
    let database = database.clone();
    block_on(async move { storage::open(&database).await.map(drop) })
}

fn sqlite_tables(path: &std::path::Path) -> Tables {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut stmt = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap();
    let names: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    names
        .into_iter()
        .map(|t| {
            let mut cols = c.prepare(&format!("SELECT name FROM pragma_table_info('{t}')")).unwrap();
            let cols = cols.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
            (t, cols)
        })
        .collect()
}

fn postgres(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    block_on(async move {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client.query(&sql, &[]).await.unwrap()
    })
}

fn postgres_tables(url: &str) -> Tables {
    let rows = postgres(
        url,
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> 'waybill_schema' ORDER BY table_name, ordinal_position",
    );
    let mut out = Tables::new();
    for r in rows {
        out.entry(r.get(0)).or_default().push(r.get(1));
    }
    out
}

#[test]
fn sqlite_and_postgresql_migrate_to_the_same_tables_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("waybill.db");
    open(&Database::Sqlite(file.clone())).unwrap();
    let pg = Postgres::create();
    open(&Database::Postgres(pg.url.clone())).unwrap();
    let (sqlite, postgres) = (sqlite_tables(&file), postgres_tables(&pg.url));
    assert!(sqlite.contains_key("docs") && sqlite.contains_key("blob_parts"), "{sqlite:?}");
    assert_eq!(sqlite, postgres);
}

#[test]
fn sqlite_migrates_forward_from_every_earlier_version() {
    for from in 0..schema::VERSION {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("waybill.db");
        let c = rusqlite::Connection::open(&file).unwrap();
        for sql in &schema::SQLITE[..from] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", from as i64).unwrap();
        drop(c);
        open(&Database::Sqlite(file.clone())).unwrap_or_else(|e| panic!("from version {from}: {e}"));
        let c = rusqlite::Connection::open(&file).unwrap();
        let version: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version as usize, schema::VERSION, "from version {from}");
    }
}

#[test]
fn postgresql_migrates_forward_from_every_earlier_version_and_nodes_starting_together_migrate_once() {
    for from in 0..schema::VERSION {
        let pg = Postgres::create();
        let mut setup = String::from("CREATE TABLE waybill_schema (version BIGINT NOT NULL);");
        for (i, sql) in schema::POSTGRES[..from].iter().enumerate() {
            setup.push_str(sql);
            setup.push_str(&format!(";INSERT INTO waybill_schema VALUES ({});", i + 1));
        }
        postgres(&pg.url, "SELECT 1");
        let url = pg.url.clone();
        block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client.batch_execute(&setup).await.unwrap();
        });
        // Three nodes start at once.
        let url = pg.url.clone();
        block_on(async move {
            let db = Database::Postgres(url);
            let (a, b, c) = tokio::join!(storage::open(&db), storage::open(&db), storage::open(&db));
            for opened in [a, b, c] {
                opened.unwrap_or_else(|e| panic!("from version {from}: {e}"));
            }
        });
        let versions: Vec<i64> = postgres(&pg.url, "SELECT version FROM waybill_schema ORDER BY version")
            .iter()
            .map(|r| r.get(0))
            .collect();
        let want: Vec<i64> = (1..=schema::VERSION as i64).collect();
        assert_eq!(versions, want, "from version {from}: each migration once");
    }
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let newer = schema::VERSION as i64 + 1;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("waybill.db");
    let sqlite = Database::Sqlite(file.clone());
    open(&sqlite).unwrap();
    rusqlite::Connection::open(&file).unwrap().pragma_update(None, "user_version", newer).unwrap();
    let refused = open(&sqlite).unwrap_err().to_string();
    assert!(refused.contains("update waybill-server"), "{refused}");

    let pg = Postgres::create();
    let database = Database::Postgres(pg.url.clone());
    open(&database).unwrap();
    postgres(&pg.url, &format!("INSERT INTO waybill_schema VALUES ({newer}) RETURNING version"));
    let refused = open(&database).unwrap_err().to_string();
    assert!(refused.contains("update waybill-server"), "{refused}");
}

/// A document is written only over the heads it was read at: a write from
/// a copy another node has moved past fails whole, on both databases.
#[test]
fn a_document_write_over_heads_no_longer_stored_fails_whole() {
    use automerge::transaction::Transactable;
    use waybill_sync_server::storage::WriteOp;

    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::create();
    for database in [Database::Sqlite(dir.path().join("waybill.db")), Database::Postgres(pg.url.clone())] {
        let label = format!("{database:?}");
        let outcome = block_on(async move {
            let (storage, writer) = storage::open(&database).await.unwrap();
            let id: waybill_shared::doc::DocId = "order/SO-1".parse().unwrap();
            let mut doc = automerge::AutoCommit::new();
            doc.put(automerge::ROOT, "n", 0).unwrap();
            let (first, snapshot) = (doc.get_heads(), doc.save());
            let put = |stored| WriteOp::PutDoc {
                id: id.clone(),
                snapshot: snapshot.clone(),
                heads: first.clone(),
                stored,
            };
            writer.write(vec![put(None)]).await.unwrap();
            // Made again as new: taken already.
            let again = writer.write(vec![put(None)]).await;
            // One node appends over the heads it read...
            let mut a = doc.fork();
            a.put(automerge::ROOT, "n", 1).unwrap();
            let change = a.get_last_local_change().unwrap().raw_bytes().to_vec();
            let append = |changes: Vec<Vec<u8>>, heads, stored| WriteOp::AppendChanges {
                id: id.clone(),
                changes,
                heads,
                stored,
            };
            writer.write(vec![append(vec![change], a.get_heads(), first.clone())]).await.unwrap();
            // ...and another, from the same old heads, cannot append or compact.
            let mut b = doc.fork();
            b.put(automerge::ROOT, "n", 2).unwrap();
            let change = b.get_last_local_change().unwrap().raw_bytes().to_vec();
            let stale_append = writer.write(vec![append(vec![change], b.get_heads(), first.clone())]).await;
            let stale_put = writer
                .write(vec![WriteOp::PutDoc {
                    id: id.clone(),
                    snapshot: b.save(),
                    heads: b.get_heads(),
                    stored: Some(first.clone()),
                }])
                .await;
            let stored = storage.load_doc(&id).await.unwrap().unwrap();
            (again, stale_append, stale_put, stored.changes.len(), stored.heads == a.get_heads())
        });
        let (again, stale_append, stale_put, changes, heads_are_a) = outcome;
        assert!(matches!(again, Err(StorageError::Conflict)), "{again:?}");
        assert!(matches!(stale_append, Err(StorageError::Conflict)), "{stale_append:?}");
        assert!(matches!(stale_put, Err(StorageError::Conflict)), "{stale_put:?}");
        assert_eq!(changes, 1, "only the first node's change is stored ({label})");
        assert!(heads_are_a);
    }
}

/// Office users from before roles existed are admins after the upgrade, so
/// nobody is locked out, and the audit log is there; on both databases.
#[test]
fn users_from_before_roles_are_admins_after_the_upgrade() {
    use waybill_sync_server::audit;
    use waybill_sync_server::users::{self, UserRole};

    // The schema just before the migration that added roles.
    let before = schema::SQLITE.iter().position(|m| m.contains("user_locations")).unwrap();
    let insert = "INSERT INTO users (name, salt, hash, iterations, created_at)
                  VALUES ('ana', 'salt', 'hash', 1, '2024-01-01T00:00:00Z')";
    let roles = |database: Database| {
        block_on(async move {
            let (storage, _writer) = storage::open(&database).await.unwrap();
            let all = users::list(&storage).await.unwrap();
            // A lead may be made of them now: the new table is there.
            let lead = users::set_role(&storage, "ana", UserRole::WarehouseLead, &["wh-9".into()]).await;
            // And the audit log takes entries, with and without a status.
            let ana = users::access_of(&storage, "ana").await.unwrap().unwrap();
            audit::record(&storage, &ana, "hold an order", "POST /api/orders/SO-1/hold", Some(200))
                .await
                .unwrap();
            audit::record_cli(&storage, "remove a user", "user remove bo").await.unwrap();
            let log = audit::list(&storage, None, 10).await.unwrap();
            let said: Vec<(&str, &str, Option<u16>)> =
                log.iter().map(|e| (e.user.as_str(), e.role.as_str(), e.status)).collect();
            assert_eq!(said, [("cli", "operator", None), ("ana", "admin", Some(200))]);
            assert_eq!(audit::list(&storage, Some(log[0].id), 10).await.unwrap(), log[1..]);
            (all, lead.unwrap_err().to_string())
        })
    };

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("waybill.db");
    let c = rusqlite::Connection::open(&file).unwrap();
    for sql in &schema::SQLITE[..before] {
        c.execute_batch(sql).unwrap();
    }
    c.execute_batch(insert).unwrap();
    c.pragma_update(None, "user_version", before as i64).unwrap();
    drop(c);
    let (all, refused) = roles(Database::Sqlite(file));
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].user.as_str(), all[0].role, all[0].locations.len()), ("ana", UserRole::Admin, 0));
    assert!(refused.contains("there is no location wh-9"), "{refused}");

    let pg = Postgres::create();
    let mut setup = String::from("CREATE TABLE waybill_schema (version BIGINT NOT NULL);");
    for (i, sql) in schema::POSTGRES[..before].iter().enumerate() {
        setup.push_str(sql);
        setup.push_str(&format!(";INSERT INTO waybill_schema VALUES ({});", i + 1));
    }
    setup.push_str(&insert.replace("'salt', 'hash'", "'\\x00', '\\x00'"));
    postgres(&pg.url, "SELECT 1");
    let url = pg.url.clone();
    block_on(async move {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client.batch_execute(&setup).await.unwrap();
    });
    let (all, refused) = roles(Database::Postgres(pg.url.clone()));
    assert_eq!((all[0].user.as_str(), all[0].role, all[0].locations.len()), ("ana", UserRole::Admin, 0));
    assert!(refused.contains("there is no location wh-9"), "{refused}");
}
