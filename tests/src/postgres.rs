//! PostgreSQL for the tests: each data directory a server runs on gets a
//! database of its own with a unique name, dropped when the last `Server`
//! on that directory is dropped (a restart keeps it).
//!
//! The server address is `WAYBILL_TEST_POSTGRES` (scripts/test.sh sets it
//! and starts PostgreSQL where none runs), by default the trust setup on
//! 127.0.0.1:5432. `WAYBILL_TEST_BACKEND=postgres` runs every harness
//! server on it instead of SQLite.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

/// The maintenance database tests create theirs from.
pub fn admin_url() -> String {
    std::env::var("WAYBILL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether the harness's servers run on PostgreSQL.
pub fn everywhere() -> bool {
    std::env::var("WAYBILL_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// A database of a test's own.
#[derive(Debug)]
pub struct Database {
    name: String,
    admin: String,
    /// Its address, for `--database`.
    pub url: String,
}

impl Database {
    /// Creates a database with a unique name on the test server.
    pub fn create() -> Arc<Self> {
        Self::create_on(&admin_url())
    }

    /// Creates a database with a unique name on the server whose
    /// maintenance database is at `admin`.
    pub fn create_on(admin: &str) -> Arc<Self> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros();
        let name = format!("waybill_test_{}_{stamp}_{n}", std::process::id());
        run(admin, &format!("CREATE DATABASE {name}"));
        let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        Arc::new(Self { url: format!("{base}/{name}"), name, admin: admin.to_owned() })
    }

    /// The database of the servers on `data`: made on first use, kept while
    /// any holds it.
    pub fn of(data: &Path) -> Arc<Self> {
        static BY_DIR: Mutex<Option<HashMap<PathBuf, Weak<Database>>>> = Mutex::new(None);
        let mut map = BY_DIR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let map = map.get_or_insert_with(HashMap::new);
        if let Some(db) = map.get(data).and_then(Weak::upgrade) {
            return db;
        }
        let db = Self::create();
        map.insert(data.to_path_buf(), Arc::downgrade(&db));
        db
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        run(&self.admin, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

/// Runs one statement on the maintenance database at `url`.
fn run(url: &str, sql: &str) {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    crate::block_on(async move {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {url} (scripts/test.sh starts one): {e}"));
        tokio::spawn(connection);
        client.batch_execute(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    });
}
