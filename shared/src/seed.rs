//! A seed file: orders, locations and routes as the office hands them in,
//! in one JSON file (demos, tests, a first load). [`build`] turns it into
//! documents written as the office would: the header, then `order_created`,
//! `allocated` and `pick_assigned` events from the office's recorder.

use automerge::AutoCommit;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::doc::location::LocationHeader;
use crate::doc::order::OrderHeader;
use crate::doc::route::RouteHeader;
use crate::doc::{self, DocError, DocId};
use crate::event::Payload;
use crate::event::office::{Allocated, Allocation, OrderCreated, PickAssigned};
use crate::id::DeviceId;
use crate::policy::actor_of;
use crate::recorder::Recorder;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Locations, with their bins and opening stock.
    #[serde(default)]
    pub locations: Vec<LocationHeader>,
    /// Orders.
    #[serde(default)]
    pub orders: Vec<SeedOrder>,
    /// Routes.
    #[serde(default)]
    pub routes: Vec<RouteHeader>,
}

/// An order and what the office already decided about it.
#[derive(Debug, Clone, Deserialize)]
pub struct SeedOrder {
    /// The header.
    #[serde(flatten)]
    pub header: OrderHeader,
    /// Stock allocated per line.
    #[serde(default)]
    pub allocations: Vec<Allocation>,
    /// The picker's device it is assigned to.
    #[serde(default)]
    pub pick_device: Option<DeviceId>,
}

/// A seed that cannot be turned into documents.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// An order is assigned for picking but names no location.
    #[error("order {0} is assigned for picking but has no location")]
    NoPickLocation(String),
    /// Writing a document failed.
    #[error(transparent)]
    Doc(#[from] DocError),
}

/// The seed's documents, written by `office` at `now`, except those `skip`
/// says are already held.
pub fn build(
    seed: &Seed,
    office: &mut Recorder,
    now: DateTime<Utc>,
    skip: impl Fn(&DocId) -> bool,
) -> Result<Vec<(DocId, AutoCommit)>, SeedError> {
    let actor = actor_of(office.device());
    let mut out: Vec<(DocId, AutoCommit)> = Vec::new();
    let fresh = |id: &DocId, out: &Vec<(DocId, AutoCommit)>| !skip(id) && !out.iter().any(|(d, _)| d == id);
    for l in &seed.locations {
        let id = DocId::Location { id: l.id.clone(), epoch: l.epoch };
        if fresh(&id, &out) {
            out.push((id.clone(), doc::create(actor.clone(), &id, l)));
        }
    }
    for r in &seed.routes {
        let id = DocId::Route(r.id.clone());
        if fresh(&id, &out) {
            out.push((id.clone(), doc::create(actor.clone(), &id, r)));
        }
    }
    for o in &seed.orders {
        let id = DocId::Order(o.header.id.clone());
        if !fresh(&id, &out) {
            continue;
        }
        let mut d = doc::create(actor.clone(), &id, &o.header);
        let mut payloads = vec![Payload::OrderCreated(OrderCreated {})];
        if !o.allocations.is_empty() {
            payloads.push(Payload::Allocated(Allocated { allocations: o.allocations.clone() }));
        }
        if let Some(device) = &o.pick_device {
            let location = o.allocations.first().map(|a| a.location.clone()).or(o.header.location.clone());
            let location = location.ok_or_else(|| SeedError::NoPickLocation(o.header.id.to_string()))?;
            payloads.push(Payload::PickAssigned(PickAssigned { device: device.clone(), location }));
        }
        for p in payloads {
            doc::append(&mut d, &office.record(now, None, p))?;
        }
        out.push((id, d));
    }
    Ok(out)
}
