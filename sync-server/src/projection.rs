//! Projections: the fold's views written to SQL tables the office queries
//! (orders, lines, packages, stock and quotas, routes, exceptions, the
//! metrics' sums) and the server uses
//! to decide each device's scope. They are rewritten for a document in the
//! same transaction as the changes that moved it. The rows themselves are
//! the storage layer's (`storage/projection.rs`).

use waybill_shared::doc::DocId;
use waybill_shared::fold::{OrderView, RouteView, StockView};

use crate::storage::{self, WriteOp};

/// The rows of an order, when each of its events first reached the server,
/// its share of the metrics ([`crate::metrics::rows`]), and its customer's
/// notifications queued ([`crate::outbox::queue`]).
pub fn order(v: &OrderView) -> Vec<WriteOp> {
    // The view's JSON, made once: stored whole, and what the metrics read.
    let view = serde_json::to_string(v).unwrap_or_default();
    let metrics = crate::metrics::rows(v.header.id.as_str(), &view);
    let mut ops = storage::projection::order(v, view);
    ops.extend(metrics);
    ops.extend(crate::outbox::queue(v));
    ops
}

/// The rows of a location's stock.
pub fn stock(doc: &DocId, v: &StockView) -> Vec<WriteOp> {
    storage::projection::stock(doc, v)
}

/// The rows of a route.
pub fn route(v: &RouteView) -> Vec<WriteOp> {
    storage::projection::route(v)
}
