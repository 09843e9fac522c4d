//! The fold: a pure, deterministic function from a document's header and
//! events to the view the office and the devices see.
//!
//! Events are applied in one total order, `(hlc, event id)`, after removing
//! duplicates by id and the events a `voided` event names. So the same set of
//! events gives the same view on every replica, whatever order they arrived
//! in, however often. Where offline work collided the fold does not pick a
//! winner: it reports a typed [`Exception`] that names the events involved,
//! until an office `exception_resolved` event covers them.

pub mod address;
pub mod cash;
pub mod customer;
pub mod exception;
pub mod order;
pub mod payment;
pub mod quota;
pub mod route;
pub mod status;
pub mod stock;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::event::{Event, Payload};
use crate::event_id::EventId;
use crate::hlc::Hlc;

pub use exception::{Exception, ExceptionKind, ExceptionType, Resolution};
pub use order::OrderView;
pub use route::RouteView;
pub use status::OrderStatus;
pub use stock::StockView;

/// One event as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimelineEntry {
    /// The event.
    pub id: EventId,
    /// Its type name.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its clock value.
    pub hlc: Hlc,
    /// The device's wall time.
    pub at: DateTime<Utc>,
    /// Who was signed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The event that voided it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voided_by: Option<EventId>,
}

/// Events in fold order, split into those that count and the timeline.
pub(crate) struct Ordered<'a> {
    /// Events that count, in `(hlc, id)` order.
    pub live: Vec<&'a Event>,
    /// Every event in the same order, voided ones marked.
    pub timeline: Vec<TimelineEntry>,
}

/// Sorts, removes duplicates and applies voids.
pub(crate) fn order_events(events: &[Event]) -> Ordered<'_> {
    let mut all: Vec<&Event> = events.iter().collect();
    all.sort_by(|a, b| (a.hlc, &a.id).cmp(&(b.hlc, &b.id)));
    all.dedup_by(|a, b| a.id == b.id);
    // A void names its target; voids themselves cannot be voided, so the
    // result does not depend on the order voids are seen in.
    let voided: BTreeMap<&EventId, &EventId> = all
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Voided(v) => Some((&v.target, &e.id)),
            _ => None,
        })
        .collect();
    let is_void = |e: &Event| matches!(e.payload, Payload::Voided(_));
    let voided_by = |e: &Event| voided.get(&e.id).filter(|_| !is_void(e)).map(|v| (*v).clone());
    let timeline = all
        .iter()
        .map(|e| TimelineEntry {
            id: e.id.clone(),
            kind: e.payload.name(),
            hlc: e.hlc,
            at: e.at,
            by: e.by.clone(),
            voided_by: voided_by(e),
        })
        .collect();
    let live = all.into_iter().filter(|e| voided_by(e).is_none()).collect();
    Ordered { live, timeline }
}

/// Builds exceptions with their resolutions applied: an exception is
/// resolved when `exception_resolved` events for its id cover all its events.
pub(crate) fn resolve(found: Vec<(String, ExceptionKind, Vec<EventId>)>, live: &[&Event]) -> Vec<Exception> {
    let mut covered: BTreeMap<&str, (BTreeSet<&EventId>, Option<Resolution>)> = BTreeMap::new();
    for e in live {
        if let Payload::ExceptionResolved(r) = &e.payload {
            let entry = covered.entry(r.exception.as_str()).or_default();
            entry.0.extend(r.events.iter());
            entry.1 = Some(Resolution { event: e.id.clone(), decision: r.decision, note: r.note.clone() });
        }
    }
    let mut out: Vec<Exception> = found
        .into_iter()
        .map(|(id, kind, mut events)| {
            events.sort();
            events.dedup();
            let resolution = covered
                .get(id.as_str())
                .filter(|(seen, _)| events.iter().all(|e| seen.contains(e)))
                .and_then(|(_, r)| r.clone());
            Exception { id, kind, events, resolution }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}
