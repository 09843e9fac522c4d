//! The route view: the driver's stops in sequence, how far the run has got,
//! and the cash the driver should hand in at the depot against what they did
//! ([`crate::fold::cash`]).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::doc::Contents;
use crate::doc::order::Address;
use crate::doc::route::RouteHeader;
use crate::event::Payload;
use crate::event::delivery::Gps;
use crate::event_id::EventId;
use crate::fold::cash::{Cash, CashView};
use crate::fold::{Exception, order_events, resolve};
use crate::geo::Geo;
use crate::gs1::Sscc;
use crate::id::{DeviceId, OrderId, RouteId, VanId};

/// Where a stop stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StopState {
    /// Not reached yet.
    Pending,
    /// The driver is there, or has settled some packages but not all.
    Arrived,
    /// Every package delivered.
    Delivered,
    /// Every package settled: some delivered, some failed.
    Partial,
    /// Nothing delivered; the attempt failed.
    Failed,
}

/// One stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StopView {
    /// Sequence number.
    pub seq: u32,
    /// Orders delivered here.
    pub orders: Vec<OrderId>,
    /// Where.
    pub address: Address,
    /// Packages for this stop.
    pub packages: BTreeSet<Sscc>,
    /// Packages handed over.
    pub delivered: BTreeSet<Sscc>,
    /// Packages whose last attempt failed.
    pub failed: BTreeSet<Sscc>,
    /// Where the stop stands.
    pub state: StopState,
    /// When work should start there as planned (none for a stop the office
    /// added on the road).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned: Option<chrono::NaiveTime>,
}

impl StopView {
    /// A stop not reached yet, with nothing on it.
    fn pending(seq: u32, orders: &[OrderId], address: &Address, planned: Option<chrono::NaiveTime>) -> Self {
        StopView {
            planned,
            seq,
            orders: orders.to_vec(),
            address: address.clone(),
            packages: BTreeSet::new(),
            delivered: BTreeSet::new(),
            failed: BTreeSet::new(),
            state: StopState::Pending,
        }
    }
}

/// Where the van was last seen: the GPS of the route's latest event, in
/// fold order, that carries one (an arrival at a stop, a delivery's proof,
/// a failed attempt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VanPosition {
    /// Where the device was.
    pub geo: Geo,
    /// The device's wall time of that event.
    pub at: DateTime<Utc>,
    /// The event.
    pub event: EventId,
    /// The stop the event was at.
    pub stop: u32,
}

/// The merged state of a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RouteView {
    /// The route.
    pub id: RouteId,
    /// The driver's device.
    pub driver: DeviceId,
    /// The van.
    pub van: VanId,
    /// Stops in driving order: the header's by sequence number, with the
    /// stops the office inserted since where it put them.
    pub stops: Vec<StopView>,
    /// Stops finished (delivered, partial or failed).
    pub done: usize,
    /// The first stop not finished.
    pub next_stop: Option<u32>,
    /// Cash per currency: collected at the door against handed in.
    pub cash: Vec<CashView>,
    /// Whether the office recorded a cash handover for the route.
    pub cash_handed_in: bool,
    /// Every exception, open or resolved: cash differences.
    pub exceptions: Vec<Exception>,
    /// Where the van was last seen, if any event carried GPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_position: Option<VanPosition>,
}

/// Folds a route document into its view.
pub fn fold(contents: &Contents<RouteHeader>) -> RouteView {
    let header = &contents.header;
    let mut stops: Vec<StopView> =
        header.stops.iter().map(|s| StopView::pending(s.seq, &s.orders, &s.address, s.planned)).collect();
    stops.sort_by_key(|s| s.seq);
    let mut arrived = BTreeSet::new();
    let mut cash = Cash::default();
    let ordered = order_events(&contents.events);
    let mut last_position = None;
    for e in &ordered.live {
        if let Some((gps, stop)) = gps_of(&e.payload)
            && let Ok(geo) = Geo::new(gps.lat, gps.lon)
        {
            last_position = Some(VanPosition { geo, at: e.at, event: e.id.clone(), stop });
        }
        let stop_of = |seq: u32, stops: &[StopView]| stops.iter().position(|s| s.seq == seq);
        match &e.payload {
            // The latest assignment wins, as in the order view: a package
            // moved to another stop leaves the stop it was on, unless it was
            // already delivered or attempted there (that stays on record).
            Payload::PackageAssigned(p) => {
                if let Some(i) = stop_of(p.stop, &stops) {
                    for s in &mut stops {
                        if !s.delivered.contains(&p.sscc) && !s.failed.contains(&p.sscc) {
                            s.packages.remove(&p.sscc);
                        }
                    }
                    stops[i].packages.insert(p.sscc.clone());
                }
            }
            Payload::StopInserted(s) if stop_of(s.seq, &stops).is_none() => {
                let at = s.before.and_then(|b| stop_of(b, &stops)).unwrap_or(stops.len());
                stops.insert(at, StopView::pending(s.seq, &s.orders, &s.address, None));
            }
            Payload::ArrivedAtStop(a) => {
                arrived.insert(a.stop);
            }
            Payload::Delivered(d) => {
                if let Some(c) = &d.collection {
                    cash.collected(&e.id, c);
                }
                if let Some(i) = stop_of(d.stop, &stops) {
                    for p in &d.packages {
                        stops[i].failed.remove(p);
                        stops[i].delivered.insert(p.clone());
                        stops[i].packages.insert(p.clone());
                    }
                }
            }
            Payload::AttemptFailed(a) => {
                if let Some(i) = stop_of(a.stop, &stops) {
                    for p in &a.packages {
                        if !stops[i].delivered.contains(p) {
                            stops[i].failed.insert(p.clone());
                        }
                        stops[i].packages.insert(p.clone());
                    }
                }
            }
            Payload::CashHandedIn(h) => cash.handed_in(&e.id, h),
            _ => {}
        }
    }
    let mut found = Vec::new();
    let cash_handed_in = cash.handed_in_any();
    let cash = cash.finish(&mut found);
    let exceptions = resolve(found, &ordered.live);
    for s in &mut stops {
        // A stop is finished when every package on it was delivered or
        // attempted; until then it is in progress (arrived) or pending.
        let settled = s.delivered.len() + s.failed.len() == s.packages.len();
        s.state = match (s.delivered.is_empty(), s.failed.is_empty()) {
            _ if s.packages.is_empty() || !settled => {
                let started = arrived.contains(&s.seq) || !s.delivered.is_empty() || !s.failed.is_empty();
                if started { StopState::Arrived } else { StopState::Pending }
            }
            (false, true) => StopState::Delivered,
            (false, false) => StopState::Partial,
            (true, _) => StopState::Failed,
        };
    }
    let finished =
        |s: &StopView| matches!(s.state, StopState::Delivered | StopState::Partial | StopState::Failed);
    RouteView {
        id: header.id.clone(),
        driver: header.driver.clone(),
        van: header.van.clone(),
        done: stops.iter().filter(|s| finished(s)).count(),
        next_stop: stops.iter().find(|s| !finished(s)).map(|s| s.seq),
        stops,
        cash,
        cash_handed_in,
        exceptions,
        last_position,
    }
}

/// The GPS position an event of the run carries, and its stop.
fn gps_of(payload: &Payload) -> Option<(Gps, u32)> {
    match payload {
        Payload::ArrivedAtStop(a) => a.gps.map(|g| (g, a.stop)),
        Payload::Delivered(d) => d.proof.gps.map(|g| (g, d.stop)),
        Payload::AttemptFailed(a) => a.gps.map(|g| (g, a.stop)),
        _ => None,
    }
}
