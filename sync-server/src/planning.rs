//! The office's planning on the server: allocation, batch pick lists and
//! routes. Each gathers what the server knows (the order projections, stock,
//! the location's header), asks the pure planner in `waybill_shared::plan`,
//! and writes the decision as the office would: `allocated` and
//! `pick_assigned` events on the orders, new route documents for drivers.
//! Devices in scope get the changes pushed.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use waybill_shared::doc::location::LocationHeader;
use waybill_shared::doc::order::{Address, OrderHeader};
use waybill_shared::doc::route::RouteHeader;
use waybill_shared::doc::{self, Contents, DocId};
use waybill_shared::event::Payload;
use waybill_shared::event::office::{Allocation, PickAssigned};
use waybill_shared::fold;
use waybill_shared::gs1::Gtin;
use waybill_shared::id::{DeviceId, LocationId, OrderId, RouteId, VanId};
use waybill_shared::plan::allocate::{Available, Backorder, allocate_orders};
use waybill_shared::plan::picklist::{Batch, PickRequest, batches};
use waybill_shared::plan::route::plan_routes;
use waybill_shared::role::Role;
use waybill_shared::seed::Seed;

use crate::office::{self, OfficeError};
use crate::server::Shared;
use crate::storage::StorageError;

/// The parts of a stored order view planning reads.
#[derive(Deserialize)]
struct Stored {
    header: OrderHeader,
    ship_to: Address,
    lines: Vec<StoredLine>,
    #[serde(default)]
    pickers: Vec<PickAssigned>,
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
#[derive(Debug, Serialize)]
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
#[derive(Debug, Serialize)]
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

/// The newest stock epoch of `location`.
async fn current_location(shared: &Shared, location: &LocationId) -> Result<Option<DocId>, StorageError> {
    let id = crate::scope::latest_location(&shared.storage, location.as_str()).await?;
    id.map(|s| s.parse().map_err(|e| StorageError::Corrupt(format!("document id {s}: {e}")))).transpose()
}

/// A route made, with its length.
#[derive(Debug, Serialize)]
pub struct PlannedRoute {
    /// The route document's header.
    #[serde(flatten)]
    pub header: RouteHeader,
    /// Metres from the depot round every stop and back (great-circle).
    pub distance_m: f64,
}

/// Routes from `location` for its packed orders not on a route yet: at most
/// `max_stops` stops each, one per driver (with their van), sequenced by the
/// planner. Orders beyond what the drivers can take wait for the next call.
pub async fn routes(
    shared: &Arc<Shared>,
    location: &LocationId,
    drivers: &[(DeviceId, VanId)],
    date: NaiveDate,
    max_stops: NonZeroUsize,
) -> Result<Vec<PlannedRoute>, OfficeError> {
    let invalid = |field: String, message: String| OfficeError::Invalid { field, message };
    if drivers.is_empty() {
        return Err(invalid("drivers".into(), "name at least one driver".into()));
    }
    for (i, (d, _)) in drivers.iter().enumerate() {
        let found = crate::devices::active(&shared.storage, d.as_str()).await?;
        if found.is_none_or(|(role, _)| role != Role::Driver.as_str()) {
            return Err(invalid(format!("drivers[{i}].device"), format!("{d} is not an enrolled driver")));
        }
    }
    let depot = location_contents(shared, location).await?.1.header.geo.ok_or_else(|| {
        invalid("location".into(), format!("{location} has no coordinates (geo) to start routes from"))
    })?;
    let routed = shared.storage.routed_orders().await?;
    let deliveries: Vec<(OrderId, Address)> = views(shared, &["packed"])
        .await?
        .into_iter()
        .filter(|v| !routed.contains(&v.header.id.to_string()))
        .filter(|v| {
            v.header.location.as_ref() == Some(location)
                || v.lines.iter().any(|l| l.allocations.iter().any(|a| &a.location == location))
        })
        .map(|v| (v.header.id, v.ship_to))
        .collect();
    let taken = shared.storage.route_ids().await?;
    let mut made = Vec::new();
    let mut n = 0;
    for (planned, (driver, van)) in plan_routes(depot, &deliveries, max_stops).into_iter().zip(drivers) {
        let id = loop {
            n += 1;
            let candidate = format!("R-{location}-{}-{n}", date.format("%Y%m%d"));
            if !taken.contains(&candidate) {
                break candidate;
            }
        };
        let id: RouteId = id.parse().map_err(|e| invalid("location".into(), format!("{e}")))?;
        let header = RouteHeader { id, driver: driver.clone(), van: van.clone(), date, stops: planned.stops };
        made.push(PlannedRoute { header, distance_m: planned.distance_m });
    }
    let seed = Seed { routes: made.iter().map(|r| r.header.clone()).collect(), ..Seed::default() };
    office::import(shared, &seed).await?;
    Ok(made)
}
