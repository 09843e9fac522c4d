//! The store's schema, as forward migrations. `PRAGMA user_version` records
//! how many have run; opening a store runs the rest, each in its own
//! transaction. A store from a newer build is refused, never guessed at.

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: documents (snapshot plus appended changes), the device's own events
    //    not yet confirmed by the server, blobs by hash, device settings.
    "CREATE TABLE meta (
         key   TEXT PRIMARY KEY,
         value TEXT NOT NULL
     );
     CREATE TABLE docs (
         id       TEXT PRIMARY KEY,
         kind     TEXT NOT NULL,
         snapshot BLOB NOT NULL
     );
     CREATE TABLE doc_changes (
         seq   INTEGER PRIMARY KEY AUTOINCREMENT,
         doc   TEXT NOT NULL REFERENCES docs(id) ON DELETE CASCADE,
         bytes BLOB NOT NULL
     );
     CREATE INDEX doc_changes_doc ON doc_changes(doc, seq);
     CREATE TABLE outbox (
         event TEXT NOT NULL,
         doc   TEXT NOT NULL,
         at    TEXT NOT NULL,
         PRIMARY KEY (event, doc)
     );
     CREATE TABLE blobs (
         hash  TEXT PRIMARY KEY,
         bytes BLOB NOT NULL
     );",
    // 2: sync bookkeeping: per-peer Automerge sync state, what the server
    //    confirmed it holds (the heads), and blob uploads.
    "CREATE TABLE sync_state (
         doc   TEXT NOT NULL,
         peer  TEXT NOT NULL,
         state BLOB NOT NULL,
         PRIMARY KEY (doc, peer)
     );
     ALTER TABLE docs ADD COLUMN server_heads BLOB;
     ALTER TABLE blobs ADD COLUMN uploaded INTEGER NOT NULL DEFAULT 0;",
    // 3: the device's own changes the server refused, kept visible.
    "CREATE TABLE quarantine (
         doc     TEXT NOT NULL,
         change  TEXT NOT NULL,
         refusal TEXT NOT NULL,
         events  TEXT NOT NULL,
         at      TEXT NOT NULL,
         PRIMARY KEY (doc, change)
     );",
    // 4: why a blob will not be uploaded (its bytes no longer hash to its
    //    name, or the server refused it for good), shown in the status.
    "ALTER TABLE blobs ADD COLUMN failed TEXT;",
    // 5: the outbox by document, which a sync's confirmation reads per
    //    document (without it, every document's confirmation scanned every
    //    pending event).
    "CREATE INDEX outbox_doc ON outbox(doc);",
];

/// The schema version this build writes.
pub const VERSION: usize = MIGRATIONS.len();
