//! The projections' rows: the fold's views of orders, stock and routes as
//! the tables the office queries and the server scopes devices by, written
//! as [`WriteOp`]s in the same batch as the changes that moved them; and the
//! outbox rows an order's notifications queue.

use waybill_shared::doc::DocId;
use waybill_shared::fold::{Exception, OrderView, RouteView, StockView};

use super::{Statement, Storage, StorageError, Value, WriteOp, args};
use crate::outbox::Notification;

fn exec(sql: &'static str, args: Vec<Value>) -> WriteOp {
    Statement::new(sql, args).into()
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

fn exceptions(doc: &DocId, list: &[Exception], ops: &mut Vec<WriteOp>) {
    ops.push(exec("DELETE FROM exceptions WHERE doc = ?1", args![doc.to_string()]));
    for e in list {
        ops.push(exec(
            "INSERT INTO exceptions (doc, id, kind, open, events, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            args![
                doc.to_string(),
                &e.id,
                e.id.split(':').next().unwrap_or_default(),
                e.is_open(),
                json(&e.events),
                json(e),
            ],
        ));
    }
}

/// A set of rows of two columns, a key and a member: an order's
/// locations, its pickers, a route's orders. Written as the members that
/// left and those that came (two statements, whatever their number), so a
/// projection that leaves a set as it was writes nothing to it, or to its
/// indexes.
#[derive(Clone, Copy, Debug)]
pub enum Set {
    /// `order_locations`: an order's locations.
    OrderLocations,
    /// `pick_assignments`: an order's pickers.
    PickAssignments,
    /// `route_orders`: a route's orders.
    RouteOrders,
}

/// The two statements of a set, for SQLite and for PostgreSQL: delete the
/// members not listed, insert those listed (a JSON array) that are missing.
macro_rules! set_sql {
    ($table:literal, $key:literal, $member:literal) => {
        (
            [
                concat!("DELETE FROM ", $table, " WHERE ", $key, " = ?1 AND ", $member,
                        " NOT IN (SELECT value FROM json_each(?2))"),
                concat!("INSERT INTO ", $table, " (", $key, ", ", $member, ") SELECT ?1, value FROM json_each(?2)
                         WHERE true ON CONFLICT DO NOTHING"),
            ],
            [
                concat!("DELETE FROM ", $table, " WHERE ", $key, " = ?1 AND ", $member,
                        " NOT IN (SELECT json_array_elements_text(CAST(?2 AS JSON)) COLLATE \"C\")"),
                concat!("INSERT INTO ", $table, " (", $key, ", ", $member, ")
                         SELECT CAST(?1 AS TEXT), json_array_elements_text(CAST(?2 AS JSON)) ON CONFLICT DO NOTHING"),
            ],
        )
    };
}

impl Set {
    pub(crate) fn statements(self, key: &str, members: &[String], postgres: bool) -> Vec<Statement> {
        let (sqlite, pg) = match self {
            Self::OrderLocations => set_sql!("order_locations", "order_id", "location"),
            Self::PickAssignments => set_sql!("pick_assignments", "order_id", "device"),
            Self::RouteOrders => set_sql!("route_orders", "route", "order_id"),
        };
        let members = json(&members);
        let [delete, insert] = if postgres { pg } else { sqlite };
        vec![Statement::new(delete, args![key, &members]), Statement::new(insert, args![key, members])]
    }
}

/// The rows of an order (`view` its JSON), and when each of its events
/// first reached the server (the first projection that sees one).
pub(crate) fn order(v: &OrderView, view: String) -> Vec<WriteOp> {
    let id = v.header.id.to_string();
    let doc = DocId::Order(v.header.id.clone());
    let at = now();
    // The status as JSON is a string: its text, without the quotes.
    let status = json(&v.status).trim_matches('"').to_owned();
    let mut ops = vec![
        exec(
            "INSERT INTO orders (id, status, customer, open_exceptions, view, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET status = ?2, customer = ?3, open_exceptions = ?4, view = ?5, updated_at = ?6",
            args![&id, status, &v.header.customer, v.open_exceptions().count(), view, &at],
        ),
        exec("DELETE FROM order_lines WHERE order_id = ?1", args![&id]),
        exec("DELETE FROM packages WHERE order_id = ?1", args![&id]),
    ];
    for l in &v.lines {
        ops.push(exec(
            "INSERT INTO order_lines (order_id, line, gtin, ordered, allocated, picked, short, packed, delivered, returned)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            args![
                &id,
                l.line,
                l.gtin.as_ref().map(ToString::to_string),
                l.ordered,
                l.allocated,
                l.picked,
                l.short,
                l.packed,
                l.delivered,
                l.returned,
            ],
        ));
    }
    for p in &v.packages {
        ops.push(exec(
            "INSERT INTO packages (sscc, order_id, whereabouts, route) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (sscc) DO UPDATE SET order_id = ?2, whereabouts = ?3, route = ?4",
            args![
                p.sscc.to_string(),
                &id,
                json(&p.whereabouts),
                p.route.as_ref().map(|(r, _)| r.to_string())
            ],
        ));
    }
    let mut locations: Vec<String> =
        v.lines.iter().flat_map(|l| l.allocations.iter().map(|a| a.location.to_string())).collect();
    locations.extend(v.header.location.iter().map(ToString::to_string));
    ops.push(WriteOp::Set { set: Set::OrderLocations, key: id.clone(), members: locations });
    let pickers = v.pickers.iter().map(|p| p.device.to_string()).collect();
    ops.push(WriteOp::Set { set: Set::PickAssignments, key: id.clone(), members: pickers });
    exceptions(&doc, &v.exceptions, &mut ops);
    for e in &v.timeline {
        ops.push(exec(
            "INSERT INTO arrivals (doc, event, at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            args![doc.to_string(), e.id.to_string(), &at],
        ));
    }
    ops
}

/// The rows of a location's stock and quotas.
pub(crate) fn stock(doc: &DocId, v: &StockView) -> Vec<WriteOp> {
    let loc = v.location.to_string();
    let mut ops = vec![exec("DELETE FROM stock WHERE location = ?1", args![&loc])];
    for s in &v.stock {
        ops.push(exec(
            "INSERT INTO stock (location, bin, gtin, on_hand) VALUES (?1, ?2, ?3, ?4)",
            args![&loc, s.bin.to_string(), s.gtin.to_string(), s.on_hand],
        ));
    }
    ops.push(exec("DELETE FROM quotas WHERE location = ?1", args![&loc]));
    for q in &v.quotas {
        ops.push(exec(
            "INSERT INTO quotas (location, device, gtin, granted, released, sold, remaining)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            args![
                &loc,
                q.device.to_string(),
                q.gtin.to_string(),
                q.opening + q.granted,
                q.released,
                q.sold,
                q.remaining,
            ],
        ));
    }
    exceptions(doc, &v.exceptions, &mut ops);
    ops
}

/// The rows of a route.
pub(crate) fn route(v: &RouteView) -> Vec<WriteOp> {
    let id = v.id.to_string();
    let mut ops = vec![exec(
        "INSERT INTO routes (id, driver, van, done, stops, view) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET driver = ?2, van = ?3, done = ?4, stops = ?5, view = ?6",
        args![&id, v.driver.to_string(), v.van.to_string(), v.done, v.stops.len(), json(v)],
    )];
    let orders = v.stops.iter().flat_map(|s| s.orders.iter().map(ToString::to_string)).collect();
    ops.push(WriteOp::Set { set: Set::RouteOrders, key: id.clone(), members: orders });
    exceptions(&DocId::Route(v.id.clone()), &v.exceptions, &mut ops);
    ops
}

/// The writes that queue an order's notifications for every webhook
/// registered before the event behind each: once per webhook and key,
/// however often they are queued.
pub(crate) fn queue(order: &str, notifications: Vec<Notification>) -> Vec<WriteOp> {
    let at = now();
    notifications
        .into_iter()
        .map(|n| {
            exec(
                "INSERT INTO outbox (webhook, key, topic, order_id, payload, created_at, next_at)
                 SELECT id, CAST(?1 AS TEXT), CAST(?2 AS TEXT), CAST(?3 AS TEXT), CAST(?4 AS TEXT),
                        CAST(?5 AS TEXT), CAST(?5 AS TEXT)
                 FROM webhooks WHERE created_at <= ?6
                 ON CONFLICT DO NOTHING",
                args![n.key, n.topic, order, n.payload.to_string(), &at, n.at.to_rfc3339()],
            )
        })
        .collect()
}

impl Storage {
    /// The documents with an exception `id` (open or not).
    pub(crate) async fn docs_with_exception(&self, id: &str) -> Result<Vec<String>, StorageError> {
        self.query("SELECT DISTINCT doc FROM exceptions WHERE id = ?1", args![id], |r| r.get(0)).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn a_set_becomes_what_is_listed_and_only_its_own() {
        let (_dir, storage) = crate::storage::scratch().await;
        let set = |key: &str, members: &[&str]| WriteOp::Set {
            set: Set::OrderLocations,
            key: key.into(),
            members: members.iter().map(ToString::to_string).collect(),
        };
        let rows = || async {
            storage
                .query(
                    "SELECT order_id, location FROM order_locations ORDER BY order_id, location",
                    args![],
                    |r| Ok(format!("{}:{}", r.get::<String>(0)?, r.get::<String>(1)?)),
                )
                .await
                .unwrap()
        };
        storage.write(vec![set("SO-1", &["wh-1", "wh-2"]), set("SO-2", &["wh-1", "wh-1"])]).await.unwrap();
        assert_eq!(rows().await, ["SO-1:wh-1", "SO-1:wh-2", "SO-2:wh-1"]);
        storage.write(vec![set("SO-1", &["wh-2", "wh-3"])]).await.unwrap();
        assert_eq!(rows().await, ["SO-1:wh-2", "SO-1:wh-3", "SO-2:wh-1"], "the other order's untouched");
        storage.write(vec![set("SO-2", &[])]).await.unwrap();
        assert_eq!(rows().await, ["SO-1:wh-2", "SO-1:wh-3"]);
    }
}
