//! The server's schema, as forward migrations: SQLite's counted by `PRAGMA
//! user_version`, PostgreSQL's by the table `waybill_schema`. The two lists
//! make the same tables, in each one's types (BLOB is BYTEA, INTEGER is
//! BIGINT, and text compares byte by byte, `COLLATE "C"`, as in SQLite, so
//! ids sort and RFC 3339 times compare the same on both); a database from a
//! newer build is refused.

/// SQLite: migration `i` takes the schema from version `i` to `i + 1`.
pub const SQLITE: &[&str] = &[
    // 1: devices and enrolment, documents (snapshot + appended changes),
    //    per-device sync state, quarantined changes, blobs, and the
    //    projections of the fold the office reads.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE devices (
         id          TEXT PRIMARY KEY,
         role        TEXT NOT NULL,
         location    TEXT,
         cert_sha256 BLOB UNIQUE,
         enrolled_at TEXT,
         revoked_at  TEXT,
         last_seen   TEXT,
         pending     INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE enrolments (
         code_sha256 BLOB PRIMARY KEY,
         device      TEXT NOT NULL,
         role        TEXT NOT NULL,
         location    TEXT,
         created_at  TEXT NOT NULL,
         expires_at  TEXT NOT NULL,
         used_at     TEXT
     );
     CREATE TABLE docs (
         id         TEXT PRIMARY KEY,
         kind       TEXT NOT NULL,
         snapshot   BLOB NOT NULL,
         heads      BLOB NOT NULL,
         changes    INTEGER NOT NULL DEFAULT 0,
         updated_at TEXT NOT NULL
     );
     CREATE TABLE doc_changes (
         seq   INTEGER PRIMARY KEY AUTOINCREMENT,
         doc   TEXT NOT NULL,
         bytes BLOB NOT NULL
     );
     CREATE INDEX doc_changes_doc ON doc_changes (doc, seq);
     CREATE TABLE sync_states (
         device TEXT NOT NULL,
         doc    TEXT NOT NULL,
         state  BLOB NOT NULL,
         PRIMARY KEY (device, doc)
     );
     CREATE TABLE quarantine (
         device  TEXT NOT NULL,
         doc     TEXT NOT NULL,
         change  TEXT NOT NULL,
         refusal TEXT NOT NULL,
         bytes   BLOB NOT NULL,
         at      TEXT NOT NULL,
         PRIMARY KEY (device, change)
     );
     CREATE TABLE blobs (
         hash   TEXT NOT NULL,
         size   INTEGER NOT NULL,
         device TEXT NOT NULL,
         at     TEXT NOT NULL,
         PRIMARY KEY (hash, device)
     );
     CREATE TABLE orders (
         id              TEXT PRIMARY KEY,
         status          TEXT NOT NULL,
         customer        TEXT NOT NULL,
         open_exceptions INTEGER NOT NULL,
         view            TEXT NOT NULL,
         updated_at      TEXT NOT NULL
     );
     CREATE TABLE order_lines (
         order_id TEXT NOT NULL, line INTEGER NOT NULL, gtin TEXT,
         ordered INTEGER, allocated INTEGER, picked INTEGER, short INTEGER,
         packed INTEGER, delivered INTEGER, returned INTEGER,
         PRIMARY KEY (order_id, line)
     );
     CREATE TABLE packages (
         sscc TEXT PRIMARY KEY, order_id TEXT NOT NULL, whereabouts TEXT NOT NULL, route TEXT
     );
     CREATE TABLE order_locations (order_id TEXT NOT NULL, location TEXT NOT NULL, PRIMARY KEY (order_id, location));
     CREATE TABLE pick_assignments (order_id TEXT NOT NULL, device TEXT NOT NULL, PRIMARY KEY (order_id, device));
     CREATE TABLE stock (
         location TEXT NOT NULL, bin TEXT NOT NULL, gtin TEXT NOT NULL, on_hand INTEGER NOT NULL,
         PRIMARY KEY (location, bin, gtin)
     );
     CREATE TABLE routes (
         id TEXT PRIMARY KEY, driver TEXT NOT NULL, van TEXT NOT NULL, done INTEGER NOT NULL,
         stops INTEGER NOT NULL, view TEXT NOT NULL
     );
     CREATE TABLE route_orders (route TEXT NOT NULL, order_id TEXT NOT NULL, PRIMARY KEY (route, order_id));
     CREATE TABLE exceptions (
         doc TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, open INTEGER NOT NULL,
         events TEXT NOT NULL, detail TEXT NOT NULL,
         PRIMARY KEY (doc, id)
     );",
    // 2: the office API's idempotency keys: the same key makes one order.
    "CREATE TABLE idempotency (key TEXT PRIMARY KEY, order_id TEXT NOT NULL);",
    // 3: office users and sessions; webhooks and their durable outbox (one
    //    row per receiver and notification, unique, so a notification is
    //    queued once however often its order is projected); when each
    //    order event first reached the server.
    "CREATE TABLE users (
         name TEXT PRIMARY KEY, salt BLOB NOT NULL, hash BLOB NOT NULL,
         iterations INTEGER NOT NULL, created_at TEXT NOT NULL
     );
     CREATE TABLE sessions (
         token_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL,
         created_at TEXT NOT NULL, expires_at TEXT NOT NULL
     );
     CREATE TABLE webhooks (
         id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL, secret TEXT NOT NULL,
         created_at TEXT NOT NULL
     );
     CREATE TABLE outbox (
         id           INTEGER PRIMARY KEY AUTOINCREMENT,
         webhook      INTEGER NOT NULL,
         key          TEXT NOT NULL,
         topic        TEXT NOT NULL,
         order_id     TEXT NOT NULL,
         payload      TEXT NOT NULL,
         created_at   TEXT NOT NULL,
         attempts     INTEGER NOT NULL DEFAULT 0,
         next_at      TEXT NOT NULL,
         delivered_at TEXT,
         failed_at    TEXT,
         last_error   TEXT,
         UNIQUE (webhook, key)
     );
     CREATE INDEX outbox_due ON outbox (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
     CREATE TABLE arrivals (doc TEXT NOT NULL, event TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (doc, event));",
    // 4: who holds a document, for pushes to devices that have not seen a
    //    closed order's closing (scope::audience).
    "CREATE INDEX sync_states_doc ON sync_states (doc);",
    // 5: escrow quotas: what each device holds per location and item (a
    //    projection of the stock fold), and the office's target per item
    //    for the devices of a role (drivers, pickers) enrolled there.
    "CREATE TABLE quotas (
         location TEXT NOT NULL, device TEXT NOT NULL, gtin TEXT NOT NULL,
         granted INTEGER NOT NULL, released INTEGER NOT NULL, sold INTEGER NOT NULL,
         remaining INTEGER NOT NULL,
         PRIMARY KEY (location, device, gtin)
     );
     CREATE TABLE quota_targets (
         location TEXT NOT NULL, gtin TEXT NOT NULL, role TEXT NOT NULL, target INTEGER NOT NULL,
         PRIMARY KEY (location, gtin, role)
     );",
    // 6: blob bytes in the database, for nodes sharing one (SQLite keeps
    //    them as files): stored blobs, and uploads under way in pieces.
    "CREATE TABLE blob_data (hash TEXT PRIMARY KEY, bytes BLOB NOT NULL);
     CREATE TABLE blob_parts (hash TEXT NOT NULL, at INTEGER NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY (hash, at));",
    // 7: office users' roles (users from before roles are admins, so an
    //    upgrade locks nobody out), the locations a warehouse lead works
    //    at, and the audit log of who did what in the office and when.
    "ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
     CREATE TABLE user_locations (name TEXT NOT NULL, location TEXT NOT NULL, PRIMARY KEY (name, location));
     CREATE TABLE audit (
         id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT NOT NULL, role TEXT NOT NULL,
         action TEXT NOT NULL, request TEXT NOT NULL, status INTEGER
     );",
    // 8: what the shipper said of each order's customer (their email
    //    address, whether the tracking page shows the delivery photo), kept
    //    here and never sent to devices, and
    //    the emails queued with the order's projection, one per
    //    notification key (crate::mail).
    "CREATE TABLE contacts (order_id TEXT PRIMARY KEY, email TEXT, tracking_photo INTEGER NOT NULL DEFAULT 0);
     CREATE TABLE mail (
         id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, topic TEXT NOT NULL,
         order_id TEXT NOT NULL, recipient TEXT NOT NULL, created_at TEXT NOT NULL, next_at TEXT NOT NULL,
         attempts INTEGER NOT NULL DEFAULT 0, sent_at TEXT, failed_at TEXT, last_error TEXT
     );
     CREATE INDEX mail_due ON mail (next_at) WHERE sent_at IS NULL AND failed_at IS NULL;
     CREATE INDEX mail_order ON mail (order_id);",
    // 9: the office's order list paged and searched on the server (by
    //    status; by a prefix of the customer's name in any case), and each
    //    order's share of the metrics, written with its projection
    //    (crate::metrics): the sums per order, and per picker its picks.
    "CREATE INDEX orders_status ON orders (status, id);
     CREATE INDEX orders_customer ON orders (LOWER(customer), id);
     CREATE TABLE order_metrics (
         order_id TEXT PRIMARY KEY, delivered INTEGER NOT NULL, accurate INTEGER NOT NULL,
         dated INTEGER NOT NULL, on_time INTEGER NOT NULL, returned INTEGER NOT NULL,
         short INTEGER NOT NULL, picked INTEGER NOT NULL, failed INTEGER NOT NULL,
         deliveries INTEGER NOT NULL, rating INTEGER
     );
     CREATE TABLE order_picks (
         order_id TEXT NOT NULL, device TEXT NOT NULL, picks INTEGER NOT NULL,
         first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL,
         PRIMARY KEY (order_id, device)
     );",
    // 2026-12-06: a device's scope is looked up by device, location and
    // driver, a document's audience by order and by role, and the revoked
    // devices four times a second; these read whole tables (pick
    // assignments, order locations, routes, route orders, devices) without
    // these indexes, at every connection, scope refresh and stored change.
    "CREATE INDEX pick_assignments_device ON pick_assignments (device, order_id);
     CREATE INDEX order_locations_location ON order_locations (location, order_id);
     CREATE INDEX routes_driver ON routes (driver);
     CREATE INDEX route_orders_order ON route_orders (order_id);
     CREATE INDEX devices_role ON devices (role, location);
     CREATE INDEX devices_revoked ON devices (id) WHERE revoked_at IS NOT NULL;",
];

/// PostgreSQL: the same migrations.
pub const POSTGRES: &[&str] = &[
    "CREATE TABLE meta (key TEXT COLLATE \"C\" PRIMARY KEY, value TEXT COLLATE \"C\" NOT NULL);
     CREATE TABLE devices (
         id          TEXT COLLATE \"C\" PRIMARY KEY,
         role        TEXT COLLATE \"C\" NOT NULL,
         location    TEXT COLLATE \"C\",
         cert_sha256 TEXT COLLATE \"C\" UNIQUE,
         enrolled_at TEXT COLLATE \"C\",
         revoked_at  TEXT COLLATE \"C\",
         last_seen   TEXT COLLATE \"C\",
         pending     BIGINT NOT NULL DEFAULT 0
     );
     CREATE TABLE enrolments (
         code_sha256 TEXT COLLATE \"C\" PRIMARY KEY,
         device      TEXT COLLATE \"C\" NOT NULL,
         role        TEXT COLLATE \"C\" NOT NULL,
         location    TEXT COLLATE \"C\",
         created_at  TEXT COLLATE \"C\" NOT NULL,
         expires_at  TEXT COLLATE \"C\" NOT NULL,
         used_at     TEXT COLLATE \"C\"
     );
     CREATE TABLE docs (
         id         TEXT COLLATE \"C\" PRIMARY KEY,
         kind       TEXT COLLATE \"C\" NOT NULL,
         snapshot   BYTEA NOT NULL,
         heads      BYTEA NOT NULL,
         changes    BIGINT NOT NULL DEFAULT 0,
         updated_at TEXT COLLATE \"C\" NOT NULL
     );
     CREATE TABLE doc_changes (
         seq   BIGSERIAL PRIMARY KEY,
         doc   TEXT COLLATE \"C\" NOT NULL,
         bytes BYTEA NOT NULL
     );
     CREATE INDEX doc_changes_doc ON doc_changes (doc, seq);
     CREATE TABLE sync_states (
         device TEXT COLLATE \"C\" NOT NULL,
         doc    TEXT COLLATE \"C\" NOT NULL,
         state  BYTEA NOT NULL,
         PRIMARY KEY (device, doc)
     );
     CREATE TABLE quarantine (
         device  TEXT COLLATE \"C\" NOT NULL,
         doc     TEXT COLLATE \"C\" NOT NULL,
         change  TEXT COLLATE \"C\" NOT NULL,
         refusal TEXT COLLATE \"C\" NOT NULL,
         bytes   BYTEA NOT NULL,
         at      TEXT COLLATE \"C\" NOT NULL,
         PRIMARY KEY (device, change)
     );
     CREATE TABLE blobs (
         hash   TEXT COLLATE \"C\" NOT NULL,
         size   BIGINT NOT NULL,
         device TEXT COLLATE \"C\" NOT NULL,
         at     TEXT COLLATE \"C\" NOT NULL,
         PRIMARY KEY (hash, device)
     );
     CREATE TABLE orders (
         id              TEXT COLLATE \"C\" PRIMARY KEY,
         status          TEXT COLLATE \"C\" NOT NULL,
         customer        TEXT COLLATE \"C\" NOT NULL,
         open_exceptions BIGINT NOT NULL,
         view            TEXT COLLATE \"C\" NOT NULL,
         updated_at      TEXT COLLATE \"C\" NOT NULL
     );
     CREATE TABLE order_lines (
         order_id TEXT COLLATE \"C\" NOT NULL, line BIGINT NOT NULL, gtin TEXT COLLATE \"C\",
         ordered BIGINT, allocated BIGINT, picked BIGINT, short BIGINT,
         packed BIGINT, delivered BIGINT, returned BIGINT,
         PRIMARY KEY (order_id, line)
     );
     CREATE TABLE packages (
         sscc TEXT COLLATE \"C\" PRIMARY KEY, order_id TEXT COLLATE \"C\" NOT NULL, whereabouts TEXT COLLATE \"C\" NOT NULL, route TEXT COLLATE \"C\"
     );
     CREATE TABLE order_locations (order_id TEXT COLLATE \"C\" NOT NULL, location TEXT COLLATE \"C\" NOT NULL, PRIMARY KEY (order_id, location));
     CREATE TABLE pick_assignments (order_id TEXT COLLATE \"C\" NOT NULL, device TEXT COLLATE \"C\" NOT NULL, PRIMARY KEY (order_id, device));
     CREATE TABLE stock (
         location TEXT COLLATE \"C\" NOT NULL, bin TEXT COLLATE \"C\" NOT NULL, gtin TEXT COLLATE \"C\" NOT NULL, on_hand BIGINT NOT NULL,
         PRIMARY KEY (location, bin, gtin)
     );
     CREATE TABLE routes (
         id TEXT COLLATE \"C\" PRIMARY KEY, driver TEXT COLLATE \"C\" NOT NULL, van TEXT COLLATE \"C\" NOT NULL, done BIGINT NOT NULL,
         stops BIGINT NOT NULL, view TEXT COLLATE \"C\" NOT NULL
     );
     CREATE TABLE route_orders (route TEXT COLLATE \"C\" NOT NULL, order_id TEXT COLLATE \"C\" NOT NULL, PRIMARY KEY (route, order_id));
     CREATE TABLE exceptions (
         doc TEXT COLLATE \"C\" NOT NULL, id TEXT COLLATE \"C\" NOT NULL, kind TEXT COLLATE \"C\" NOT NULL, open BIGINT NOT NULL,
         events TEXT COLLATE \"C\" NOT NULL, detail TEXT COLLATE \"C\" NOT NULL,
         PRIMARY KEY (doc, id)
     );",
    "CREATE TABLE idempotency (key TEXT COLLATE \"C\" PRIMARY KEY, order_id TEXT COLLATE \"C\" NOT NULL);",
    "CREATE TABLE users (
         name TEXT COLLATE \"C\" PRIMARY KEY, salt BYTEA NOT NULL, hash BYTEA NOT NULL,
         iterations BIGINT NOT NULL, created_at TEXT COLLATE \"C\" NOT NULL
     );
     CREATE TABLE sessions (
         token_sha256 TEXT COLLATE \"C\" PRIMARY KEY, \"user\" TEXT COLLATE \"C\" NOT NULL,
         created_at TEXT COLLATE \"C\" NOT NULL, expires_at TEXT COLLATE \"C\" NOT NULL
     );
     CREATE TABLE webhooks (
         id BIGSERIAL PRIMARY KEY, url TEXT COLLATE \"C\" NOT NULL, secret TEXT COLLATE \"C\" NOT NULL,
         created_at TEXT COLLATE \"C\" NOT NULL
     );
     CREATE TABLE outbox (
         id           BIGSERIAL PRIMARY KEY,
         webhook      BIGINT NOT NULL,
         key          TEXT COLLATE \"C\" NOT NULL,
         topic        TEXT COLLATE \"C\" NOT NULL,
         order_id     TEXT COLLATE \"C\" NOT NULL,
         payload      TEXT COLLATE \"C\" NOT NULL,
         created_at   TEXT COLLATE \"C\" NOT NULL,
         attempts     BIGINT NOT NULL DEFAULT 0,
         next_at      TEXT COLLATE \"C\" NOT NULL,
         delivered_at TEXT COLLATE \"C\",
         failed_at    TEXT COLLATE \"C\",
         last_error   TEXT COLLATE \"C\",
         UNIQUE (webhook, key)
     );
     CREATE INDEX outbox_due ON outbox (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
     CREATE TABLE arrivals (doc TEXT COLLATE \"C\" NOT NULL, event TEXT COLLATE \"C\" NOT NULL, at TEXT COLLATE \"C\" NOT NULL, PRIMARY KEY (doc, event));",
    "CREATE INDEX sync_states_doc ON sync_states (doc);",
    "CREATE TABLE quotas (
         location TEXT COLLATE \"C\" NOT NULL, device TEXT COLLATE \"C\" NOT NULL, gtin TEXT COLLATE \"C\" NOT NULL,
         granted BIGINT NOT NULL, released BIGINT NOT NULL, sold BIGINT NOT NULL,
         remaining BIGINT NOT NULL,
         PRIMARY KEY (location, device, gtin)
     );
     CREATE TABLE quota_targets (
         location TEXT COLLATE \"C\" NOT NULL, gtin TEXT COLLATE \"C\" NOT NULL, role TEXT COLLATE \"C\" NOT NULL, target BIGINT NOT NULL,
         PRIMARY KEY (location, gtin, role)
     );",
    "CREATE TABLE blob_data (hash TEXT COLLATE \"C\" PRIMARY KEY, bytes BYTEA NOT NULL);
     CREATE TABLE blob_parts (
         hash TEXT COLLATE \"C\" NOT NULL, at BIGINT NOT NULL, bytes BYTEA NOT NULL, PRIMARY KEY (hash, at)
     );",
    "ALTER TABLE users ADD COLUMN role TEXT COLLATE \"C\" NOT NULL DEFAULT 'admin';
     CREATE TABLE user_locations (
         name TEXT COLLATE \"C\" NOT NULL, location TEXT COLLATE \"C\" NOT NULL, PRIMARY KEY (name, location)
     );
     CREATE TABLE audit (
         id BIGSERIAL PRIMARY KEY, at TEXT COLLATE \"C\" NOT NULL, who TEXT COLLATE \"C\" NOT NULL,
         role TEXT COLLATE \"C\" NOT NULL, action TEXT COLLATE \"C\" NOT NULL,
         request TEXT COLLATE \"C\" NOT NULL, status BIGINT
     );",
    "CREATE TABLE contacts (
         order_id TEXT COLLATE \"C\" PRIMARY KEY, email TEXT COLLATE \"C\", tracking_photo BIGINT NOT NULL DEFAULT 0
     );
     CREATE TABLE mail (
         id BIGSERIAL PRIMARY KEY, key TEXT COLLATE \"C\" NOT NULL UNIQUE, topic TEXT COLLATE \"C\" NOT NULL,
         order_id TEXT COLLATE \"C\" NOT NULL, recipient TEXT COLLATE \"C\" NOT NULL,
         created_at TEXT COLLATE \"C\" NOT NULL, next_at TEXT COLLATE \"C\" NOT NULL,
         attempts BIGINT NOT NULL DEFAULT 0, sent_at TEXT COLLATE \"C\", failed_at TEXT COLLATE \"C\",
         last_error TEXT COLLATE \"C\"
     );
     CREATE INDEX mail_due ON mail (next_at) WHERE sent_at IS NULL AND failed_at IS NULL;
     CREATE INDEX mail_order ON mail (order_id);",
    "CREATE INDEX orders_status ON orders (status, id);
     CREATE INDEX orders_customer ON orders (LOWER(customer), id);
     CREATE TABLE order_metrics (
         order_id TEXT COLLATE \"C\" PRIMARY KEY, delivered BIGINT NOT NULL, accurate BIGINT NOT NULL,
         dated BIGINT NOT NULL, on_time BIGINT NOT NULL, returned BIGINT NOT NULL,
         short BIGINT NOT NULL, picked BIGINT NOT NULL, failed BIGINT NOT NULL,
         deliveries BIGINT NOT NULL, rating BIGINT
     );
     CREATE TABLE order_picks (
         order_id TEXT COLLATE \"C\" NOT NULL, device TEXT COLLATE \"C\" NOT NULL, picks BIGINT NOT NULL,
         first_ms BIGINT NOT NULL, last_ms BIGINT NOT NULL,
         PRIMARY KEY (order_id, device)
     );",
    "CREATE INDEX pick_assignments_device ON pick_assignments (device, order_id);
     CREATE INDEX order_locations_location ON order_locations (location, order_id);
     CREATE INDEX routes_driver ON routes (driver);
     CREATE INDEX route_orders_order ON route_orders (order_id);
     CREATE INDEX devices_role ON devices (role, location);
     CREATE INDEX devices_revoked ON devices (id) WHERE revoked_at IS NOT NULL;",
];

/// The schema version this build writes.
pub const VERSION: usize = SQLITE.len();

#[cfg(test)]
mod tests {
    #[test]
    fn both_databases_have_every_migration() {
        assert_eq!(super::SQLITE.len(), super::POSTGRES.len());
    }
}
