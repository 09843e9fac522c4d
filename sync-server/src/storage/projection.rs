//! The projections' rows: the fold's views of orders, stock and routes as
//! the tables the office queries and the server scopes devices by, written
//! as [`WriteOp`]s in the same batch as the changes that moved them; and the
//! outbox rows an order's notifications queue.

use std::collections::{HashMap, HashSet};

use waybill_shared::doc::DocId;
use waybill_shared::event_id::EventId;
use waybill_shared::fold::order::{LineView, PackageView};
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

/// What of `now` to write over `before`, rows keyed by `key`: those new or
/// changed, and the keys `before` had that `now` lacks. With nothing known
/// written (`before` is `None`) every row is new and nothing is gone: the
/// caller clears what may be stored first.
fn diff<'a, T: PartialEq, K: Eq + std::hash::Hash>(
    now: &'a [T],
    before: Option<&'a [T]>,
    key: impl Fn(&'a T) -> K,
) -> (Vec<&'a T>, Vec<K>) {
    let Some(before) = before else { return (now.iter().collect(), Vec::new()) };
    let was: HashMap<K, &T> = before.iter().map(|t| (key(t), t)).collect();
    let changed = now.iter().filter(|t| was.get(&key(t)) != Some(t)).collect();
    let kept: HashSet<K> = now.iter().map(&key).collect();
    let gone = before.iter().map(key).filter(|k| !kept.contains(k)).collect();
    (changed, gone)
}

fn exceptions(doc: &DocId, now: &[Exception], before: Option<&[Exception]>, ops: &mut Vec<WriteOp>) {
    let doc = doc.to_string();
    if before.is_none() {
        ops.push(exec("DELETE FROM exceptions WHERE doc = ?1", args![&doc]));
    }
    let (changed, gone) = diff(now, before, |e| e.id.as_str());
    for id in gone {
        ops.push(exec("DELETE FROM exceptions WHERE doc = ?1 AND id = ?2", args![&doc, id]));
    }
    for e in changed {
        ops.push(exec(
            "INSERT INTO exceptions (doc, id, kind, open, events, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (doc, id) DO UPDATE SET kind = ?3, open = ?4, events = ?5, detail = ?6",
            args![
                &doc,
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

/// What an order's rows were written from: as much of its view as tells
/// what moved since.
#[derive(Clone, Debug)]
pub struct OrderRows {
    lines: Vec<LineView>,
    packages: Vec<PackageView>,
    locations: Vec<String>,
    pickers: Vec<String>,
    exceptions: Vec<Exception>,
    events: HashSet<EventId>,
}

/// The rows of an order (`view` its JSON), and when each of its events
/// first reached the server (the first projection that sees one); and what
/// they were written from.
///
/// With `before` (what the stored rows were written from, if known) only
/// what moved since is written: the lines, packages and exceptions that
/// changed or went, the sets if they changed, the events not seen before.
/// Otherwise the order's rows are written whole.
pub(crate) fn order(v: &OrderView, view: String, before: Option<&OrderRows>) -> (Vec<WriteOp>, OrderRows) {
    let id = v.header.id.to_string();
    let doc = DocId::Order(v.header.id.clone());
    let at = now();
    // The status as JSON is a string: its text, without the quotes.
    let status = json(&v.status).trim_matches('"').to_owned();
    let mut ops = vec![exec(
        "INSERT INTO orders (id, status, customer, open_exceptions, view, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET status = ?2, customer = ?3, open_exceptions = ?4, view = ?5, updated_at = ?6",
        args![&id, status, &v.header.customer, v.open_exceptions().count(), view, &at],
    )];
    if before.is_none() {
        ops.push(exec("DELETE FROM order_lines WHERE order_id = ?1", args![&id]));
        ops.push(exec("DELETE FROM packages WHERE order_id = ?1", args![&id]));
    }
    let (lines, gone) = diff(&v.lines, before.map(|b| &b.lines[..]), |l| l.line);
    for line in gone {
        ops.push(exec("DELETE FROM order_lines WHERE order_id = ?1 AND line = ?2", args![&id, line]));
    }
    for l in lines {
        ops.push(exec(
            "INSERT INTO order_lines (order_id, line, gtin, ordered, allocated, picked, short, packed, delivered, returned)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (order_id, line) DO UPDATE SET gtin = ?3, ordered = ?4, allocated = ?5, picked = ?6,
                 short = ?7, packed = ?8, delivered = ?9, returned = ?10",
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
    let (packages, gone) = diff(&v.packages, before.map(|b| &b.packages[..]), |p| &p.sscc);
    for sscc in gone {
        ops.push(exec(
            "DELETE FROM packages WHERE sscc = ?1 AND order_id = ?2",
            args![sscc.to_string(), &id],
        ));
    }
    for p in packages {
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
    let allocated = v.lines.iter().flat_map(|l| l.allocations.iter().map(|a| a.location.to_string()));
    let locations: Vec<String> = allocated.chain(v.header.location.iter().map(ToString::to_string)).collect();
    let pickers: Vec<String> = v.pickers.iter().map(|p| p.device.to_string()).collect();
    for (set, now, was) in [
        (Set::OrderLocations, &locations, before.map(|b| &b.locations)),
        (Set::PickAssignments, &pickers, before.map(|b| &b.pickers)),
    ] {
        if was != Some(now) {
            ops.push(WriteOp::Set { set, key: id.clone(), members: now.clone() });
        }
    }
    exceptions(&doc, &v.exceptions, before.map(|b| &b.exceptions[..]), &mut ops);
    for e in v.timeline.iter().filter(|e| before.is_none_or(|b| !b.events.contains(&e.id))) {
        ops.push(exec(
            "INSERT INTO arrivals (doc, event, at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            args![doc.to_string(), e.id.to_string(), &at],
        ));
    }
    let rows = OrderRows {
        lines: v.lines.clone(),
        packages: v.packages.clone(),
        locations,
        pickers,
        exceptions: v.exceptions.clone(),
        events: v.timeline.iter().map(|e| e.id.clone()).collect(),
    };
    (ops, rows)
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
    exceptions(doc, &v.exceptions, None, &mut ops);
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
    exceptions(&DocId::Route(v.id.clone()), &v.exceptions, None, &mut ops);
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

    use chrono::{TimeZone, Utc};
    use serde_json::json;
    use waybill_shared::doc;
    use waybill_shared::fold;
    use waybill_shared::id::DeviceId;
    use waybill_shared::recorder::Recorder;

    use super::*;

    /// An order of two lines, assigned to a picker, one line short and the
    /// other packed (more than was picked): both exceptions, a package.
    fn order_view() -> OrderView {
        let header: doc::order::OrderHeader = serde_json::from_value(json!({
            "id": "SO-1", "customer": "Ada", "location": "wh-1",
            "ship_to": { "name": "Ada", "line1": "1 High St", "city": "London", "postcode": "N1", "country": "GB" },
            "lines": [{ "line": 1, "gtin": "09506000134352", "description": "Gear", "quantity": 2 },
                      { "line": 2, "gtin": "09506000134352", "description": "Gear", "quantity": 1 }],
            "created_at": "2026-11-23T08:00:00Z"
        }))
        .unwrap();
        let id = DocId::Order(header.id.clone());
        let mut office = Recorder::new(DeviceId::new("office").unwrap());
        let mut picker = Recorder::new(DeviceId::new("hh-1").unwrap());
        let mut d = doc::create(waybill_shared::policy::actor_of(office.device()), &id, &header);
        let t = |m: u32| Utc.with_ymd_and_hms(2026, 11, 24, 9, m, 0).unwrap();
        let payload = |v| serde_json::from_value(v).unwrap();
        let events = [
            office.record(t(0), None, payload(json!({ "type": "order_created" }))),
            office.record(t(1), None, payload(json!({ "type": "pick_assigned", "device": "hh-1", "location": "wh-1" }))),
            picker.record(
                t(2),
                None,
                payload(json!({ "type": "short_picked", "line": 1, "location": "wh-1", "bin": "A-01",
                                "quantity": 1, "reason": "not_found" })),
            ),
            picker.record(
                t(3),
                None,
                payload(json!({ "type": "packed", "sscc": "095060001234567893", "lines": [{ "line": 2, "quantity": 1 }] })),
            ),
        ];
        for e in &events {
            doc::append(&mut d, e).unwrap();
        }
        fold::order::fold(&doc::order::read(d.document()).unwrap(), &|_| true)
    }

    /// Every row of the order's projection, arrivals apart.
    async fn rows(storage: &Storage) -> Vec<String> {
        let mut out = Vec::new();
        for sql in [
            "SELECT id || status || customer || open_exceptions || view FROM orders",
            "SELECT line || coalesce(gtin, '') || ordered || allocated || picked || short || packed || delivered
                    || returned FROM order_lines ORDER BY line",
            "SELECT sscc || order_id || whereabouts || coalesce(route, '') FROM packages ORDER BY sscc",
            "SELECT location FROM order_locations ORDER BY location",
            "SELECT device FROM pick_assignments ORDER BY device",
            "SELECT id || kind || open || events || detail FROM exceptions ORDER BY id",
            "SELECT short || picked || coalesce(rating, '') FROM order_metrics",
        ] {
            out.extend(storage.query(sql, args![], |r| r.get::<String>(0)).await.unwrap().into_iter().map(|r| format!("{sql}: {r}")));
        }
        out
    }

    async fn arrivals(storage: &Storage) -> Vec<String> {
        storage.query("SELECT event FROM arrivals ORDER BY event", args![], |r| r.get(0)).await.unwrap()
    }

    #[tokio::test]
    async fn an_order_written_over_what_it_was_has_the_rows_of_one_written_whole() {
        let full = order_view();
        assert_eq!(full.exceptions.len(), 2, "{:?}", full.exceptions);
        assert_eq!((full.packages.len(), full.pickers.len()), (1, 1));
        // The same order with less: a line's figure moved, a line, the
        // package, an exception, the picker and the last event not there.
        let mut less = full.clone();
        less.lines[0].short -= 1;
        less.lines.pop();
        less.packages.clear();
        less.exceptions.remove(0);
        less.pickers.clear();
        less.timeline.pop();
        for (a, b) in [(&less, &full), (&full, &less)] {
            let (over, _dir1) = {
                let (dir, storage) = crate::storage::scratch().await;
                let (ops, written) = crate::projection::order(a, None);
                storage.write(ops).await.unwrap();
                let (ops, _) = crate::projection::order(b, Some(&written));
                storage.write(ops).await.unwrap();
                (storage, dir)
            };
            let (whole, _dir2) = {
                let (dir, storage) = crate::storage::scratch().await;
                storage.write(crate::projection::order(b, None).0).await.unwrap();
                (storage, dir)
            };
            assert_eq!(rows(&over).await, rows(&whole).await);
            // Arrivals are never taken back.
            let mut seen: Vec<String> =
                a.timeline.iter().chain(&b.timeline).map(|e| e.id.to_string()).collect();
            seen.sort();
            seen.dedup();
            assert_eq!(arrivals(&over).await, seen);
        }
        // Written over itself, only the order's row (and the notifications,
        // queued once whatever their number) is written.
        let (_, written) = crate::projection::order(&full, None);
        let (ops, _) = crate::projection::order(&full, Some(&written));
        assert_eq!(ops.len(), 1 + crate::outbox::queue(&full).len());
    }

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
