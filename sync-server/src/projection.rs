//! Projections: the fold's views written to SQL tables the office queries
//! (orders, lines, packages, stock and quotas, routes, exceptions) and the server uses
//! to decide each device's scope. They are rewritten for a document in the
//! same transaction as the changes that moved it.

use rusqlite::types::Value;
use waybill_shared::doc::DocId;
use waybill_shared::fold::{Exception, OrderView, RouteView, StockView};

use crate::storage::WriteOp;

fn text(s: impl ToString) -> Value {
    Value::Text(s.to_string())
}

fn int(n: impl Into<i64>) -> Value {
    Value::Integer(n.into())
}

fn exec(sql: &'static str, params: Vec<Value>) -> WriteOp {
    WriteOp::Exec { sql, params }
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    Value::Text(serde_json::to_string(v).unwrap_or_default())
}

fn exceptions(doc: &DocId, list: &[Exception], ops: &mut Vec<WriteOp>) {
    ops.push(exec("DELETE FROM exceptions WHERE doc = ?1", vec![text(doc)]));
    for e in list {
        ops.push(exec(
            "INSERT INTO exceptions (doc, id, kind, open, events, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vec![
                text(doc),
                text(&e.id),
                text(e.id.split(':').next().unwrap_or_default()),
                int(i64::from(e.is_open())),
                json(&e.events),
                json(e),
            ],
        ));
    }
}

/// The rows of an order.
pub fn order(v: &OrderView) -> Vec<WriteOp> {
    let id = text(&v.header.id);
    let doc = DocId::Order(v.header.id.clone());
    let mut ops = vec![
        exec(
            "INSERT INTO orders (id, status, customer, open_exceptions, view, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET status = ?2, customer = ?3, open_exceptions = ?4, view = ?5, updated_at = ?6",
            vec![
                id.clone(),
                json(&v.status).to_plain(),
                text(&v.header.customer),
                int(v.open_exceptions().count() as i64),
                json(v),
                text(chrono::Utc::now().to_rfc3339()),
            ],
        ),
        exec("DELETE FROM order_lines WHERE order_id = ?1", vec![id.clone()]),
        exec("DELETE FROM packages WHERE order_id = ?1", vec![id.clone()]),
        exec("DELETE FROM order_locations WHERE order_id = ?1", vec![id.clone()]),
        exec("DELETE FROM pick_assignments WHERE order_id = ?1", vec![id.clone()]),
    ];
    for l in &v.lines {
        ops.push(exec(
            "INSERT INTO order_lines (order_id, line, gtin, ordered, allocated, picked, short, packed, delivered, returned)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            vec![
                id.clone(),
                int(l.line),
                l.gtin.as_ref().map_or(Value::Null, text),
                int(l.ordered),
                int(l.allocated),
                int(l.picked),
                int(l.short),
                int(l.packed),
                int(l.delivered),
                int(l.returned),
            ],
        ));
    }
    for p in &v.packages {
        ops.push(exec(
            "INSERT OR REPLACE INTO packages (sscc, order_id, whereabouts, route) VALUES (?1, ?2, ?3, ?4)",
            vec![
                text(&p.sscc),
                id.clone(),
                json(&p.whereabouts),
                p.route.as_ref().map_or(Value::Null, |(r, _)| text(r)),
            ],
        ));
    }
    let mut locations: Vec<String> =
        v.lines.iter().flat_map(|l| l.allocations.iter().map(|a| a.location.to_string())).collect();
    locations.extend(v.header.location.iter().map(ToString::to_string));
    locations.sort();
    locations.dedup();
    for l in locations {
        ops.push(exec(
            "INSERT INTO order_locations (order_id, location) VALUES (?1, ?2)",
            vec![id.clone(), text(l)],
        ));
    }
    for p in &v.pickers {
        ops.push(exec(
            "INSERT OR IGNORE INTO pick_assignments (order_id, device) VALUES (?1, ?2)",
            vec![id.clone(), text(&p.device)],
        ));
    }
    exceptions(&doc, &v.exceptions, &mut ops);
    // The first projection that sees an event is when it reached the server.
    let events: Vec<String> = v.timeline.iter().map(|e| e.id.to_string()).collect();
    ops.push(exec(
        "INSERT OR IGNORE INTO arrivals (doc, event, at) SELECT ?1, value, ?2 FROM json_each(?3)",
        vec![text(&doc), text(chrono::Utc::now().to_rfc3339()), json(&events)],
    ));
    ops.extend(crate::outbox::queue(v));
    ops
}

/// The rows of a location's stock.
pub fn stock(doc: &DocId, v: &StockView) -> Vec<WriteOp> {
    let loc = text(&v.location);
    let mut ops = vec![exec("DELETE FROM stock WHERE location = ?1", vec![loc.clone()])];
    for s in &v.stock {
        ops.push(exec(
            "INSERT INTO stock (location, bin, gtin, on_hand) VALUES (?1, ?2, ?3, ?4)",
            vec![loc.clone(), text(&s.bin), text(&s.gtin), int(s.on_hand)],
        ));
    }
    ops.push(exec("DELETE FROM quotas WHERE location = ?1", vec![loc.clone()]));
    for q in &v.quotas {
        ops.push(exec(
            "INSERT INTO quotas (location, device, gtin, granted, released, sold, remaining)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            vec![
                loc.clone(),
                text(&q.device),
                text(&q.gtin),
                int(q.opening + q.granted),
                int(q.released),
                int(q.sold),
                int(q.remaining),
            ],
        ));
    }
    exceptions(doc, &v.exceptions, &mut ops);
    ops
}

/// The rows of a route.
pub fn route(v: &RouteView) -> Vec<WriteOp> {
    let id = text(&v.id);
    let mut ops = vec![
        exec(
            "INSERT INTO routes (id, driver, van, done, stops, view) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET driver = ?2, van = ?3, done = ?4, stops = ?5, view = ?6",
            vec![
                id.clone(),
                text(&v.driver),
                text(&v.van),
                int(v.done as i64),
                int(v.stops.len() as i64),
                json(v),
            ],
        ),
        exec("DELETE FROM route_orders WHERE route = ?1", vec![id.clone()]),
    ];
    let mut orders: Vec<String> =
        v.stops.iter().flat_map(|s| s.orders.iter().map(ToString::to_string)).collect();
    orders.sort();
    orders.dedup();
    for o in orders {
        ops.push(exec(
            "INSERT INTO route_orders (route, order_id) VALUES (?1, ?2)",
            vec![id.clone(), text(o)],
        ));
    }
    ops
}

trait Plain {
    fn to_plain(self) -> Value;
}

impl Plain for Value {
    /// A JSON string value without its quotes (`"picked"` → `picked`).
    fn to_plain(self) -> Value {
        match self {
            Value::Text(t) => Value::Text(t.trim_matches('"').to_owned()),
            other => other,
        }
    }
}
