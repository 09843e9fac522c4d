//! The office's planning on the server: allocation, batch pick lists and
//! routes. Each gathers what the server knows (the order projections, stock,
//! the location's header), asks the pure planner in `waybill_shared::plan`,
//! and writes the decision as the office would: `allocated` and
//! `pick_assigned` events on the orders, new route documents for drivers,
//! `stop_inserted` events on routes already out.
//! Devices in scope get the changes pushed.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use waybill_shared::doc::location::LocationHeader;
use waybill_shared::doc::order::{Address, OrderHeader};
use waybill_shared::doc::route::RouteHeader;
use waybill_shared::doc::{self, Contents, DocId};
use waybill_shared::event::Payload;
use waybill_shared::event::office::{Allocation, PickAssigned, StopInserted};
use waybill_shared::fold;
use waybill_shared::fold::route::{StopState, StopView};
use waybill_shared::gs1::Gtin;
use waybill_shared::id::{DeviceId, LocationId, OrderId, RouteId, VanId};
use waybill_shared::plan::allocate::{Available, Backorder, allocate_orders};
use waybill_shared::plan::day::{
    self, Delivery, Load, Running, Travel, Unassigned, Van, Window, clock, plan_day,
};
use waybill_shared::plan::picklist::{Batch, PickRequest, batches};
use waybill_shared::role::Role;
use waybill_shared::seed::Seed;

use crate::depot_clock;
use crate::office::{self, OfficeError};
use crate::server::Shared;
use crate::storage::StorageError;

/// The parts of a stored order view planning reads.
#[derive(Deserialize)]
struct Stored {
    header: OrderHeader,
    status: String,
    ship_to: Address,
    lines: Vec<StoredLine>,
    #[serde(default)]
    pickers: Vec<PickAssigned>,
    #[serde(default)]
    packages: Vec<StoredPackage>,
}

#[derive(Deserialize)]
struct StoredPackage {
    #[serde(default)]
    weight_g: Option<u32>,
    #[serde(default)]
    volume_cm3: Option<u32>,
}

#[derive(Deserialize)]
struct StoredLine {
    line: u32,
    gtin: Option<Gtin>,
    allocated: u32,
    picked: u32,
    short: u32,
    #[serde(default)]
    allocations: Vec<Allocation>,
}

/// Stored views of orders in `statuses`, by id.
async fn views(shared: &Shared, statuses: &[&str]) -> Result<Vec<Stored>, OfficeError> {
    let texts = shared.storage.order_views_in(statuses).await?;
    texts
        .iter()
        .map(|t| {
            serde_json::from_str(t).map_err(|e| StorageError::Corrupt(format!("an order view: {e}")).into())
        })
        .collect()
}

/// What allocation did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AllocationReport {
    /// Orders allocated, with where each line's units come from.
    pub allocated: BTreeMap<OrderId, Vec<Allocation>>,
    /// Units nobody has, per order.
    pub backordered: BTreeMap<OrderId, Vec<Backorder>>,
}

/// Allocates every order taken in and not allocated yet (or only `only`),
/// by promised date, against stock on hand less what open orders already
/// hold and have not picked.
pub async fn allocate(
    shared: &Arc<Shared>,
    only: Option<&[OrderId]>,
    by: Option<String>,
) -> Result<AllocationReport, OfficeError> {
    let waiting = views(shared, &["created"]).await?;
    if let Some(only) = only {
        for (i, id) in only.iter().enumerate() {
            if !waiting.iter().any(|v| &v.header.id == id) {
                return Err(OfficeError::Invalid {
                    field: format!("orders[{i}]"),
                    message: format!("{id} is not an order waiting for allocation"),
                });
            }
        }
    }
    let headers: Vec<OrderHeader> = waiting
        .into_iter()
        .filter(|v| only.is_none_or(|o| o.contains(&v.header.id)))
        .map(|v| v.header)
        .collect();
    let mut available = available(shared).await?;
    let mut report = AllocationReport { allocated: BTreeMap::new(), backordered: BTreeMap::new() };
    for (order, plan) in allocate_orders(&headers, &mut available) {
        if !plan.allocations.is_empty() {
            let payload = Payload::Allocated(plan.to_event());
            office::office_event(shared, &DocId::Order(order.clone()), payload, by.clone()).await?;
            report.allocated.insert(order.clone(), plan.allocations);
        }
        if !plan.backorders.is_empty() {
            report.backordered.insert(order, plan.backorders);
        }
    }
    Ok(report)
}

/// Units per location and item free to allocate: on hand, less what open
/// orders hold there and have not picked (a split line's picks count
/// against its locations in proportion).
async fn available(shared: &Arc<Shared>) -> Result<Available, OfficeError> {
    let mut free: BTreeMap<LocationId, BTreeMap<Gtin, i64>> = BTreeMap::new();
    for (location, gtin, units) in shared.storage.stock_totals().await? {
        let (Ok(location), Ok(gtin)) = (location.parse(), gtin.parse()) else { continue };
        *free.entry(location).or_default().entry(gtin).or_default() += units;
    }
    for v in views(shared, &["allocated", "picking"]).await? {
        for l in &v.lines {
            let Some(gtin) = &l.gtin else { continue };
            let done = u64::from(l.picked + l.short);
            for a in &l.allocations {
                let share = done * u64::from(a.quantity) / u64::from(l.allocated.max(1));
                let held = u64::from(a.quantity).saturating_sub(share);
                *free.entry(a.location.clone()).or_default().entry(gtin.clone()).or_default() -=
                    i64::try_from(held).unwrap_or(i64::MAX);
            }
        }
    }
    Ok(free
        .into_iter()
        .map(|(l, items)| {
            (l, items.into_iter().map(|(g, n)| (g, u32::try_from(n.max(0)).unwrap_or(u32::MAX))).collect())
        })
        .collect())
}

/// A batch and the picker it went to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssignedBatch {
    /// The picker's device.
    pub picker: DeviceId,
    /// The batch.
    #[serde(flatten)]
    pub batch: Batch,
}

/// Batches the allocated, unassigned orders of `location` into pick lists
/// of at most `batch_size` orders and gives them to `pickers` in turn.
pub async fn pick_lists(
    shared: &Arc<Shared>,
    location: &LocationId,
    pickers: &[DeviceId],
    batch_size: NonZeroUsize,
    by: Option<String>,
) -> Result<Vec<AssignedBatch>, OfficeError> {
    let invalid = |field: String, message: String| OfficeError::Invalid { field, message };
    if pickers.is_empty() {
        return Err(invalid("pickers".into(), "name at least one picker".into()));
    }
    for (i, p) in pickers.iter().enumerate() {
        let found = crate::devices::active(&shared.storage, p.as_str()).await?;
        if found != Some((Role::Picker.as_str().to_owned(), Some(location.to_string()))) {
            return Err(invalid(format!("pickers[{i}]"), format!("{p} is not a picker at {location}")));
        }
    }
    let (_, contents) = location_contents(shared, location).await?;
    let stock = fold::stock::fold(&contents);
    let mut requests = Vec::new();
    for v in views(shared, &["allocated", "picking"]).await? {
        if v.pickers.iter().any(|p| &p.location == location) {
            continue;
        }
        for l in &v.lines {
            let Some(gtin) = &l.gtin else { continue };
            let here: u32 =
                l.allocations.iter().filter(|a| &a.location == location).map(|a| a.quantity).sum();
            if here > 0 {
                requests.push(PickRequest {
                    order: v.header.id.clone(),
                    line: l.line,
                    gtin: gtin.clone(),
                    quantity: here,
                });
            }
        }
    }
    let planned = batches(&contents.header, &stock, &requests, batch_size, NonZeroUsize::new(pickers.len()))
        .map_err(|e| invalid("location".into(), e.to_string()))?;
    let mut out = Vec::new();
    for (k, batch) in planned.into_iter().enumerate() {
        let picker = pickers[k % pickers.len()].clone();
        for order in &batch.orders {
            let payload =
                Payload::PickAssigned(PickAssigned { device: picker.clone(), location: location.clone() });
            office::office_event(shared, &DocId::Order(order.clone()), payload, by.clone()).await?;
        }
        out.push(AssignedBatch { picker, batch });
    }
    Ok(out)
}

/// The newest stock epoch of `location` and what it holds; `location` is
/// the field at fault when there is none.
pub async fn location_contents(
    shared: &Shared,
    location: &LocationId,
) -> Result<(DocId, Contents<LocationHeader>), OfficeError> {
    let doc_id = current_location(shared, location).await?.ok_or_else(|| OfficeError::Invalid {
        field: "location".into(),
        message: format!("no location {location}"),
    })?;
    let entry =
        shared.docs.get(&shared.storage, &doc_id).await?.ok_or(OfficeError::NotFound(doc_id.clone()))?;
    let mut loaded = entry.lock().await;
    let contents = doc::location::read(loaded.doc.document())
        .map_err(|e| StorageError::Corrupt(format!("{doc_id}: {e}")))?;
    Ok((doc_id, contents))
}

/// The header of `location`'s newest stock epoch (its events unread), or
/// `None` when it is not held here.
pub async fn location_header(
    shared: &Shared,
    location: &LocationId,
) -> Result<Option<LocationHeader>, StorageError> {
    let Some(doc_id) = current_location(shared, location).await? else { return Ok(None) };
    let Some(entry) = shared.docs.get(&shared.storage, &doc_id).await? else { return Ok(None) };
    let header = doc::location::read_header(entry.lock().await.doc.document());
    header.map(Some).map_err(|e| StorageError::Corrupt(format!("{doc_id}: {e}")))
}

/// The newest stock epoch of `location`.
async fn current_location(shared: &Shared, location: &LocationId) -> Result<Option<DocId>, StorageError> {
    let id = crate::scope::latest_location(&shared.storage, location.as_str()).await?;
    id.map(|s| s.parse().map_err(|e| StorageError::Corrupt(format!("document id {s}: {e}")))).transpose()
}

/// A driver, the van they drive, and what bounds their day.
#[derive(Debug, Clone)]
pub struct Crew {
    /// The driver's device.
    pub device: DeviceId,
    /// The van.
    pub van: VanId,
    /// The van's capacity and most stops, and the driver's shift.
    pub limits: Van,
}

/// A route made, with its length and timings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlannedRoute {
    /// The route document's header.
    #[serde(flatten)]
    pub header: RouteHeader,
    /// Road metres from the depot round every stop and back, as planned.
    pub distance_m: f64,
    /// When the van leaves the depot.
    pub leave: NaiveTime,
    /// When work starts at each stop, beside `stops`.
    pub arrivals: Vec<NaiveTime>,
    /// Seconds after promised slots, over every stop.
    pub late_s: u64,
    /// When the van is back at the depot.
    pub back: NaiveTime,
    /// What the van carries out.
    pub load: Load,
}

/// Routes made, and the orders they leave for another day or van.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoutePlan {
    /// The routes, one per crew with work.
    pub routes: Vec<PlannedRoute>,
    /// Packed orders on no route, with why.
    pub unassigned: Vec<Unassigned>,
}

/// Routes from `location` on `date` for its packed orders not on a route
/// yet, one per crew with work, planned within promised slots, van
/// capacities and shifts (`plan::day`), `service_s` at the door per order.
/// What no crew can take waits for the next call.
pub async fn routes(
    shared: &Arc<Shared>,
    location: &LocationId,
    crews: &[Crew],
    date: NaiveDate,
    service_s: u32,
) -> Result<RoutePlan, OfficeError> {
    let invalid = |field: String, message: String| OfficeError::Invalid { field, message };
    if crews.is_empty() {
        return Err(invalid("drivers".into(), "name at least one driver".into()));
    }
    for (i, c) in crews.iter().enumerate() {
        let found = crate::devices::active(&shared.storage, c.device.as_str()).await?;
        if found.is_none_or(|(role, _)| role != Role::Driver.as_str()) {
            return Err(invalid(
                format!("drivers[{i}].device"),
                format!("{} is not an enrolled driver", c.device),
            ));
        }
    }
    let depot = location_contents(shared, location).await?.1.header.geo.ok_or_else(|| {
        invalid("location".into(), format!("{location} has no coordinates (geo) to start routes from"))
    })?;
    let routed = shared.storage.routed_orders().await?;
    let deliveries: Vec<Delivery> = views(shared, &["packed"])
        .await?
        .into_iter()
        .filter(|v| !routed.contains(&v.header.id.to_string()))
        .filter(|v| {
            v.header.location.as_ref() == Some(location)
                || v.lines.iter().any(|l| l.allocations.iter().any(|a| &a.location == location))
        })
        .map(|v| delivery(v, date, service_s))
        .collect();
    let vans: Vec<Van> = crews.iter().map(|c| c.limits).collect();
    // A few seconds for a big depot's day: off the async workers.
    let plan = tokio::task::spawn_blocking(move || plan_day(depot, &vans, &deliveries, &Travel::default()))
        .await
        .map_err(|e| StorageError::Corrupt(format!("the route planner stopped: {e}")))?;
    let taken = shared.storage.route_ids().await?;
    let mut made = Vec::new();
    let mut n = 0;
    for planned in plan.routes {
        let crew = &crews[planned.van];
        let id = loop {
            n += 1;
            let candidate = format!("R-{location}-{}-{n}", date.format("%Y%m%d"));
            if !taken.contains(&candidate) {
                break candidate;
            }
        };
        let id: RouteId = id.parse().map_err(|e| invalid("location".into(), format!("{e}")))?;
        let header = RouteHeader {
            id,
            driver: crew.device.clone(),
            van: crew.van.clone(),
            date,
            stops: planned.stops,
            limits: Some(crew.limits),
        };
        made.push(PlannedRoute {
            header,
            distance_m: planned.distance_m,
            leave: clock(planned.leave_s),
            arrivals: planned.times.iter().map(|t| clock(t.start_s)).collect(),
            late_s: planned.late_s,
            back: clock(planned.back_s),
            load: planned.load,
        });
    }
    let seed = Seed { routes: made.iter().map(|r| r.header.clone()).collect(), ..Seed::default() };
    office::import(shared, &seed).await?;
    Ok(RoutePlan { routes: made, unassigned: plan.unassigned })
}

/// A stop added to a route on the road.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InsertedStop {
    /// The route.
    pub route: RouteId,
    /// The new stop's sequence number.
    pub seq: u32,
    /// The order delivered there.
    pub order: OrderId,
    /// The stop it comes before; `None` when last.
    pub before: Option<u32>,
    /// When the van should start work there.
    pub arrival: NaiveTime,
    /// Seconds after promised slots, over the rest of the route.
    pub late_s: u64,
    /// When the van should be back at the depot.
    pub back: NaiveTime,
}

/// Adds `order` to `route` as a new stop, where it costs least from the
/// van's last known position (or the depot) at `now`, the stops done and the
/// order of the rest untouched, within the van's capacity and the driver's
/// shift as planned. The order is packed and on no route yet, or its attempt
/// on this route failed: then it is tried again an hour from now at the
/// earliest (the re-plan after a failed attempt). The driver's device shows
/// the stop when it next syncs.
pub async fn insert_stop(
    shared: &Arc<Shared>,
    route: &RouteId,
    order: &OrderId,
    now: DateTime<Utc>,
    by: Option<String>,
) -> Result<InsertedStop, OfficeError> {
    let invalid = |message: String| OfficeError::Invalid { field: "order".into(), message };
    let doc_id = DocId::Route(route.clone());
    let entry =
        shared.docs.get(&shared.storage, &doc_id).await?.ok_or(OfficeError::NotFound(doc_id.clone()))?;
    let contents = doc::route::read(entry.lock().await.doc.document())
        .map_err(|e| StorageError::Corrupt(format!("{doc_id}: {e}")))?;
    let view = fold::route::fold(&contents);
    let stored = order_view(shared, order).await?.ok_or_else(|| invalid(format!("no order {order}")))?;
    if let Some(stop) = view.stops.iter().find(|s| open(s) && s.orders.contains(order)) {
        return Err(invalid(format!("{order} is on stop {} of route {route} already", stop.seq)));
    }
    let routed = !shared.storage.routes_of(order.as_str()).await?.is_empty();
    let retry = match stored.status.as_str() {
        "packed" if !routed => false,
        "packed" => return Err(invalid(format!("{order} is on a route already"))),
        "attempted" if view.stops.iter().any(|s| s.orders.contains(order)) => true,
        status => {
            return Err(invalid(format!(
                "{order} is {status}: a route takes a packed order, or one whose attempt on it failed (to try again)"
            )));
        }
    };
    let location = stored
        .header
        .location
        .clone()
        .or_else(|| stored.lines.iter().flat_map(|l| &l.allocations).map(|a| a.location.clone()).next())
        .ok_or_else(|| invalid(format!("{order} has no location to ship from")))?;
    let depot_header = location_contents(shared, &location).await?.1.header;
    let depot = depot_header
        .geo
        .ok_or_else(|| invalid(format!("{location}, where {order} ships from, has no coordinates (geo)")))?;
    // The day and the time of day on the depot's clock.
    let (today, time_of_day) = depot_clock::local(now, depot_clock::of(&depot_header));
    let date = contents.header.date;
    let service_s = DEFAULT_SERVICE_S;
    // The stops still to come; the one the van is at (arrived) stays next,
    // and a stop without coordinates cannot be timed: both are left out.
    let left: Vec<&StopView> =
        view.stops.iter().filter(|s| s.state == StopState::Pending && s.address.geo.is_some()).collect();
    let made = view.stops.iter().filter(|s| !open(s)).count();
    let mut deliveries = Vec::with_capacity(left.len());
    for stop in &left {
        let mut d = Delivery {
            order: stop.orders.first().cloned().unwrap_or_else(|| order.clone()),
            address: stop.address.clone(),
            load: Load::default(),
            slot: None,
            service_s: 0,
        };
        for o in &stop.orders {
            if let Some(v) = order_view(shared, o).await? {
                let one = delivery(v, date, service_s);
                d.load = d.load.plus(one.load);
                d.slot = d.slot.or(one.slot);
                d.service_s += one.service_s;
            }
        }
        deliveries.push(d);
    }
    let mut limits = contents.header.limits.unwrap_or(Van {
        capacity: Load { weight_g: u32::MAX, volume_cm3: u32::MAX, packages: u32::MAX },
        shift: Window { from_s: 0, to_s: 86_399 },
        max_stops: u32::MAX,
    });
    limits.max_stops = limits.max_stops.saturating_sub(u32::try_from(made).unwrap_or(u32::MAX));
    // A route of a day to come starts at the depot when the shift does.
    let (at, now_s) = match date.cmp(&today) {
        Ordering::Less => return Err(invalid(format!("route {route} ran on {date}"))),
        Ordering::Equal => (view.last_position.as_ref().map_or(depot, |p| p.geo), time_of_day),
        Ordering::Greater => (depot, limits.shift.from_s),
    };
    let running = Running { van: &limits, at, now_s, left: &deliveries };
    let mut new = delivery(stored, date, service_s);
    if retry {
        // Another try, not straight away: from an hour on, within the shift.
        let from_s = running.now_s.saturating_add(RETRY_AFTER_S);
        new.slot = Some(Window { from_s, to_s: limits.shift.to_s.max(from_s) });
    }
    let address = new.address.clone();
    let sequence = day::insert(depot, &running, &Travel::default(), &new)
        .map_err(|why| invalid(format!("{order} does not fit route {route}: {why}")))?;
    let at = sequence.order.iter().position(|&i| i == deliveries.len()).unwrap_or(0);
    let before = sequence.order.get(at + 1).map(|&i| left[i].seq);
    let arrival = clock(sequence.times[at].start_s);
    let payload = Payload::StopInserted(StopInserted {
        route: route.clone(),
        seq: 0, // numbered under the office's lock, on the route as stored
        orders: vec![order.clone()],
        address,
        before,
    });
    let event = office::office_event(shared, &doc_id, payload, by).await?;
    let Payload::StopInserted(written) = event.payload else {
        return Err(StorageError::Corrupt("the office wrote another event".into()).into());
    };
    Ok(InsertedStop {
        route: route.clone(),
        seq: written.seq,
        order: order.clone(),
        before: written.before,
        arrival,
        late_s: sequence.late_s,
        back: clock(sequence.back_s),
    })
}

/// A stop not finished: still to come, or the van is there.
fn open(stop: &StopView) -> bool {
    matches!(stop.state, StopState::Pending | StopState::Arrived)
}

/// Places a new stop on the route as stored, under the office's lock: its
/// number is the next free one (two stops added at once, on two nodes, never
/// share one); it goes before the first stop still to come from the one the
/// planner chose (a stop finished meanwhile is passed); and an order on
/// another route, or on a stop of this one not finished, is refused (a
/// double click adds it once).
pub(crate) async fn place_stop(
    shared: &Shared,
    route: &automerge::Automerge,
    s: &mut StopInserted,
) -> Result<(), OfficeError> {
    let invalid = |field: &str, message: String| OfficeError::Invalid { field: field.into(), message };
    let contents =
        doc::route::read(route).map_err(|e| StorageError::Corrupt(format!("route {}: {e}", s.route)))?;
    let view = fold::route::fold(&contents);
    for order in &s.orders {
        let on = shared.storage.routes_of(order.as_str()).await?;
        if let Some(other) = on.iter().find(|r| *r != s.route.as_str()) {
            return Err(invalid("order", format!("{order} is on route {other} already")));
        }
        if let Some(stop) = view.stops.iter().find(|st| open(st) && st.orders.contains(order)) {
            return Err(invalid(
                "order",
                format!("{order} is on stop {} of route {} already", stop.seq, s.route),
            ));
        }
    }
    if let Some(before) = s.before {
        let from = view.stops.iter().position(|st| st.seq == before).unwrap_or(view.stops.len());
        s.before = view.stops[from..].iter().find(|st| st.state == StopState::Pending).map(|st| st.seq);
    }
    let last = view.stops.iter().map(|st| st.seq).max().unwrap_or(0);
    s.seq = last
        .checked_add(1)
        .ok_or_else(|| invalid("id", format!("route {} has no stop numbers left", s.route)))?;
    Ok(())
}

/// How long after now a failed delivery is tried again, at the earliest.
const RETRY_AFTER_S: u32 = 3_600;

/// Minutes at the door per order where no one said: 3.
pub const DEFAULT_SERVICE_S: u32 = 180;

/// The stored view of `order`, if there is one.
async fn order_view(shared: &Shared, order: &OrderId) -> Result<Option<Stored>, OfficeError> {
    let Some(text) = shared.storage.order_view(order.as_str()).await? else { return Ok(None) };
    let view = serde_json::from_str(&text)
        .map_err(|e| StorageError::Corrupt(format!("the view of order {order}: {e}")))?;
    Ok(Some(view))
}

/// A packed order as a delivery to plan: its packages' load, and its slot
/// when it is promised for `date`.
fn delivery(v: Stored, date: NaiveDate, service_s: u32) -> Delivery {
    let load = v.packages.iter().fold(Load::default(), |sum, p| Load {
        weight_g: sum.weight_g.saturating_add(p.weight_g.unwrap_or(0)),
        volume_cm3: sum.volume_cm3.saturating_add(p.volume_cm3.unwrap_or(0)),
        packages: sum.packages + 1,
    });
    let slot = v.header.slot.filter(|_| v.header.promised == Some(date)).map(|s| Window {
        from_s: s.from.num_seconds_from_midnight(),
        to_s: s.to.num_seconds_from_midnight(),
    });
    Delivery { order: v.header.id, address: v.ship_to, load, slot, service_s }
}
