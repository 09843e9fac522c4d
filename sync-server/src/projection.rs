//! Projections: the fold's views written to SQL tables the office queries
//! (orders, lines, packages, stock and quotas, routes, exceptions, the
//! metrics' sums) and the server uses
//! to decide each device's scope. They are rewritten for a document in the
//! same transaction as the changes that moved it. The rows themselves are
//! the storage layer's (`storage/projection.rs`).

use waybill_shared::doc::DocId;
use waybill_shared::fold::{OrderView, RouteView, StockView};

use crate::metrics::{Contribution, Counted};
use crate::storage::projection::OrderRows;
use crate::storage::{self, WriteOp};

/// An order's rows as one copy of its document last wrote them: what its
/// next projection is written over, so that only what moved is written.
#[derive(Clone, Debug)]
pub struct Written {
    rows: OrderRows,
    metrics: Contribution,
}

/// The rows of an order, when each of its events first reached the server,
/// its share of the metrics ([`crate::metrics`]), and its customer's
/// notifications queued ([`crate::outbox::queue`]); and what they are.
///
/// With `before` (what is stored of the order's rows, if known) only what
/// moved since is written; otherwise everything.
pub fn order(v: &OrderView, before: Option<&Written>) -> (Vec<WriteOp>, Written) {
    // The view's JSON, made once: stored whole, and what the metrics read.
    let view = serde_json::to_string(v).unwrap_or_default();
    let metrics = crate::metrics::contribution(&Counted::of(&view));
    let (mut ops, rows) = storage::projection::order(v, view, before.map(|b| &b.rows));
    if before.is_none_or(|b| b.metrics != metrics) {
        ops.extend(storage::metrics::order(v.header.id.as_str(), &metrics));
    }
    ops.extend(crate::outbox::queue(v));
    (ops, Written { rows, metrics })
}

/// The rows of a location's stock.
pub fn stock(doc: &DocId, v: &StockView) -> Vec<WriteOp> {
    storage::projection::stock(doc, v)
}

/// The rows of a route.
pub fn route(v: &RouteView) -> Vec<WriteOp> {
    storage::projection::route(v)
}
