//! Intake and planning routes: orders from CSV, locations and their stock
//! receipts, allocation, pick lists and routes.

use std::num::NonZeroUsize;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use chrono::{NaiveDate, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use waybill_shared::doc::DocId;
use waybill_shared::doc::location::{Balance, Bin, LocationHeader};
use waybill_shared::event::Payload;
use waybill_shared::event::quota::QuotaGranted;
use waybill_shared::event::stock::Received;
use waybill_shared::geo::Geo;
use waybill_shared::gs1::Gtin;
use waybill_shared::id::{BinId, DeviceId, LocationId, OrderId, RouteId, VanId};
use waybill_shared::plan::day::{Load, Van, Window};
use waybill_shared::role::Role;
use waybill_shared::seed::Seed;

use super::{ApiError, ApiResult, App, SignedIn, Written, body};
use crate::csv_orders;
use crate::office;
use crate::planning;
use crate::quota;

fn location_id(id: &str) -> Result<LocationId, ApiError> {
    id.parse().map_err(|e| ApiError::bad("location", format!("{e}")))
}

/// `POST /api/orders/import`: a CSV file (`text/csv`) of orders. Orders
/// already held are left alone, so sending a file again is harmless.
#[utoipa::path(post, path = "/orders/import", summary = "Import orders from CSV",
    description = "Content-Type text/csv. One row per order line; columns order_id, customer, name, line1, city, postcode, country, gtin, quantity (required) and line2, lat, lon, description, promised, slot_from, slot_to, location, signature, photo, age_check, payment, amount_minor, currency, email, tracking_photo. Errors name the row and column (`row 3.quantity`); a bad file takes nothing. Orders already held are left alone, so sending a file again is harmless.",
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, description = "Orders made and already held", body = Imported),
        (status = 400, description = "A row is invalid", body = super::openapi::Error),
        (status = 415, description = "Not text/csv", body = super::openapi::Error),
    )
)]
pub async fn import_csv(State(app): State<App>, headers: HeaderMap, text: String) -> ApiResult {
    let kind = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !kind.starts_with("text/csv") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the orders as Content-Type: text/csv",
            Some("Content-Type"),
        ));
    }
    let seed = csv_orders::parse(&text, Utc::now()).map_err(|e| ApiError::bad(&e.field, e.to_string()))?;
    let made = office::import(&app.shared, &seed).await?;
    let created: Vec<String> = made.iter().map(|d| d.to_string()).collect();
    let skipped: Vec<&str> = seed
        .orders
        .iter()
        .map(|o| o.header.id.as_str())
        .filter(|id| !created.contains(&format!("order/{id}")))
        .collect();
    Ok((StatusCode::OK, Json(Imported { created, already_held: skipped })).into_response())
}

/// What an import made.
#[derive(Serialize, ToSchema)]
pub struct Imported<'a> {
    /// The documents made (`order/SO-1`).
    created: Vec<String>,
    /// The orders left alone: held already.
    already_held: Vec<&'a str>,
}

/// A new location as the office describes it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLocation {
    id: LocationId,
    name: String,
    #[serde(default)]
    geo: Option<Geo>,
    bins: Vec<Bin>,
    #[serde(default)]
    opening: Vec<Balance>,
    /// Its time zone (IANA, such as Europe/Berlin): slots, shifts and
    /// planned times are its local time. UTC if left out.
    #[serde(default)]
    time_zone: Option<String>,
}

/// `POST /api/locations`: a location, its bins and opening stock.
#[utoipa::path(post, path = "/locations", summary = "Create a location with bins and opening stock",
    request_body = NewLocation,
    responses(
        (status = 201, description = "Its header", body = LocationHeader),
        (status = 400, description = "A field is invalid", body = super::openapi::Error),
        (status = 409, description = "It exists", body = super::openapi::Error),
    )
)]
pub async fn create_location(
    State(app): State<App>,
    b: Result<Json<NewLocation>, JsonRejection>,
) -> ApiResult {
    let n = body(b)?;
    if n.name.trim().is_empty() {
        return Err(ApiError::bad("name", "name: must not be empty"));
    }
    if let Some(zone) = &n.time_zone {
        crate::depot_clock::parse(zone).map_err(|e| ApiError::bad("time_zone", e))?;
    }
    for (i, o) in n.opening.iter().enumerate() {
        if !n.bins.iter().any(|b| b.id == o.bin) {
            return Err(ApiError::bad(&format!("opening[{i}].bin"), format!("no bin {} in bins", o.bin)));
        }
    }
    let id = n.id.clone();
    let header = LocationHeader {
        id: n.id,
        name: n.name,
        geo: n.geo,
        bins: n.bins,
        epoch: 0,
        opening: n.opening,
        cutoff: Default::default(),
        quotas: Vec::new(),
        time_zone: n.time_zone,
    };
    let made = office::import(&app.shared, &Seed { locations: vec![header], ..Seed::default() }).await?;
    if made.is_empty() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("location {id} exists already"), Some("id")));
    }
    let (_, contents) = planning::location_contents(&app.shared, &id).await?;
    Ok((StatusCode::CREATED, Json(contents.header)).into_response())
}

/// `GET /api/locations`: every location's current header.
#[utoipa::path(get, path = "/locations", summary = "Locations with their bins",
    responses((status = 200, description = "Locations, each its current stock epoch's document and header", body = Vec<LocationEntry>))
)]
pub async fn list_locations(State(app): State<App>) -> ApiResult {
    let ids = app.shared.storage.location_doc_ids().await?;
    let mut names: Vec<LocationId> = ids
        .iter()
        .filter_map(|s| match s.parse::<DocId>() {
            Ok(DocId::Location { id, .. }) => Some(id),
            _ => None,
        })
        .collect();
    // Sorted here, not by the database: its collation may not keep one
    // location's epochs together.
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for l in names {
        let (doc, contents) = planning::location_contents(&app.shared, &l).await?;
        out.push(LocationEntry { doc, header: contents.header });
    }
    Ok(Json(out).into_response())
}

/// A location: its current stock epoch's document, and its header.
#[derive(Serialize, ToSchema)]
pub struct LocationEntry {
    doc: DocId,
    header: LocationHeader,
}

/// A stock receipt.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    bin: BinId,
    gtin: Gtin,
    quantity: u32,
    #[serde(default)]
    lot: Option<String>,
    #[serde(default)]
    expiry: Option<NaiveDate>,
}

/// `POST /api/locations/{id}/receipts`: goods received into a bin.
#[utoipa::path(post, path = "/locations/{id}/receipts", summary = "Receive stock into a bin", params(("id" = String, Path, description = "The location id")),
    request_body = Receipt,
    responses(
        (status = 201, description = "The event", body = Written),
        (status = 400, description = "A field is invalid", body = super::openapi::Error),
    )
)]
pub async fn receive(
    State(app): State<App>,
    axum::Extension(SignedIn(by)): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<Receipt>, JsonRejection>,
) -> ApiResult {
    let location = location_id(&id)?;
    let r = body(b)?;
    if r.quantity == 0 {
        return Err(ApiError::bad("quantity", "quantity: must be at least 1"));
    }
    let (doc, contents) = planning::location_contents(&app.shared, &location).await?;
    if !contents.header.bins.iter().any(|b| b.id == r.bin) {
        return Err(ApiError::bad("bin", format!("bin: {location} has no bin {}", r.bin)));
    }
    let payload = Payload::Received(Received {
        bin: r.bin,
        gtin: r.gtin,
        quantity: r.quantity,
        lot: r.lot,
        expiry: r.expiry,
    });
    let event = office::office_event(&app.shared, &doc, payload, Some(by)).await?;
    // New stock is free stock: devices online short of a target get it.
    quota::top_up_connected(&app.shared, &location, None).await?;
    Ok((StatusCode::CREATED, Json(Written { doc, event })).into_response())
}

/// A quota target: units of an item each device of a role (driver by
/// default, or picker) enrolled at the location should hold (0 clears it).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaTarget {
    gtin: Gtin,
    target: u32,
    #[serde(default)]
    role: Option<String>,
}

/// `POST /api/locations/{id}/quotas`: sets a quota target; connected
/// devices at the location are topped up at once, the others when they
/// next connect.
#[utoipa::path(post, path = "/locations/{id}/quotas", summary = "Set the quota target of an item at a location",
    description = "Units of the item each device of the role (drivers by default, or pickers: store handhelds) enrolled at the location should hold to promise offline (0 clears it). Connected devices are topped up out of free stock at once, the others when they next connect.",
    params(("id" = String, Path, description = "The location id")), request_body = QuotaTarget,
    responses(
        (status = 200, description = "The target, and the grants made to connected devices", body = TargetSet),
        (status = 400, description = "A field is invalid", body = super::openapi::Error),
    )
)]
pub async fn set_quota_target(
    State(app): State<App>,
    Path(id): Path<String>,
    b: Result<Json<QuotaTarget>, JsonRejection>,
) -> ApiResult {
    let location = location_id(&id)?;
    let t = body(b)?;
    let role = match t.role.as_deref() {
        None => Role::Driver,
        Some(r) => r.parse().map_err(|e: String| ApiError::bad("role", format!("role: {e}")))?,
    };
    quota::check_role(role)?;
    // The location must exist.
    planning::location_contents(&app.shared, &location).await?;
    app.shared.writer.write(vec![quota::set_target(&location, &t.gtin, role, t.target)]).await?;
    let granted = quota::top_up_connected(&app.shared, &location, None).await?;
    let granted = granted
        .into_iter()
        .map(|(device, g)| DeviceGrant {
            device,
            granted: g.into_iter().map(|(gtin, quantity)| Units { gtin, quantity }).collect(),
        })
        .collect();
    Ok(Json(TargetSet { location, gtin: t.gtin, role, target: t.target, granted }).into_response())
}

/// A quota target set, and what connected devices were granted for it.
#[derive(Serialize, ToSchema)]
pub struct TargetSet {
    location: LocationId,
    gtin: Gtin,
    role: Role,
    target: u32,
    granted: Vec<DeviceGrant>,
}

/// What one device was granted.
#[derive(Serialize, ToSchema)]
pub struct DeviceGrant {
    device: String,
    granted: Vec<Units>,
}

/// Units of an item.
#[derive(Serialize, ToSchema)]
pub struct Units {
    gtin: Gtin,
    quantity: u32,
}

/// A row of `GET /api/quotas` (read as JSON by the storage).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct QuotaRow {
    location: LocationId,
    device: DeviceId,
    gtin: Gtin,
    /// The role's target at the location; null when none is set.
    target: Option<u32>,
    granted: u32,
    sold: u32,
    released: u32,
    remaining: i64,
}

/// A grant by hand.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    device: DeviceId,
    gtin: Gtin,
    quantity: u32,
}

/// `POST /api/locations/{id}/quotas/grant`: grants a device units of an
/// item out of free stock (refused beyond it).
#[utoipa::path(post, path = "/locations/{id}/quotas/grant", summary = "Grant a device a quota of an item, out of free stock",
    params(("id" = String, Path, description = "The location id")), request_body = Grant,
    responses(
        (status = 201, description = "The quota_granted event", body = Written),
        (status = 400, description = "A field is invalid, or not that much stock is free", body = super::openapi::Error),
    )
)]
pub async fn grant_quota(
    State(app): State<App>,
    axum::Extension(SignedIn(by)): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<Grant>, JsonRejection>,
) -> ApiResult {
    let location = location_id(&id)?;
    let g = body(b)?;
    let role = crate::devices::active(&app.shared.storage, g.device.as_str()).await?;
    match role.and_then(|(r, _)| r.parse().ok()) {
        Some(r) if quota::holds_quota(r) => {}
        Some(r) => {
            return Err(ApiError::bad("device", format!("device: a {r} does not promise stock offline")));
        }
        None => return Err(ApiError::bad("device", format!("device: no enrolled device {}", g.device))),
    }
    let (doc, _) = planning::location_contents(&app.shared, &location).await?;
    let payload =
        Payload::QuotaGranted(QuotaGranted { device: g.device, gtin: g.gtin, quantity: g.quantity });
    let event = office::office_event(&app.shared, &doc, payload, Some(by)).await?;
    Ok((StatusCode::CREATED, Json(Written { doc, event })).into_response())
}

/// `GET /api/quotas`: each device's quota per location and item (a
/// warehouse lead's locations only).
#[utoipa::path(get, path = "/quotas", summary = "Each device's quota per location and item",
    responses((status = 200, description = "Quotas", body = Vec<QuotaRow>))
)]
pub async fn list_quotas(
    State(app): State<App>,
    axum::Extension(a): axum::Extension<crate::users::Access>,
) -> ApiResult {
    let mut list = quota::list(&app.shared.storage).await?;
    list.retain(|row| a.covers(row["location"].as_str().unwrap_or_default()));
    Ok(Json(list).into_response())
}

/// Which orders to allocate (all waiting, if none are named).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocateRequest {
    #[serde(default)]
    orders: Option<Vec<OrderId>>,
}

/// `POST /api/allocate`.
#[utoipa::path(post, path = "/allocate", summary = "Allocate orders waiting for stock",
    description = "By promised date, each line to the location that fills most of the order, split across locations when one cannot, backordering what nobody has. Stock is on hand less what open orders hold.",
    request_body = AllocateRequest,
    responses(
        (status = 200, description = "Allocated and backordered, per order", body = planning::AllocationReport),
        (status = 400, description = "An order is not waiting", body = super::openapi::Error),
    )
)]
pub async fn allocate(
    State(app): State<App>,
    axum::Extension(SignedIn(by)): axum::Extension<SignedIn>,
    b: Result<Json<AllocateRequest>, JsonRejection>,
) -> ApiResult {
    let r = body(b)?;
    let report = planning::allocate(&app.shared, r.orders.as_deref(), Some(by)).await?;
    Ok(Json(report).into_response())
}

/// Pick lists for a location's pickers.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PickListRequest {
    pickers: Vec<DeviceId>,
    #[serde(default = "default_batch")]
    #[schema(default = 10)]
    batch_size: usize,
}

fn default_batch() -> usize {
    10
}

fn positive(field: &str, n: usize) -> Result<NonZeroUsize, ApiError> {
    NonZeroUsize::new(n).ok_or_else(|| ApiError::bad(field, format!("{field}: must be at least 1")))
}

/// `POST /api/locations/{id}/picklists`.
#[utoipa::path(post, path = "/locations/{id}/picklists", summary = "Batch the location's allocated orders into pick lists for its pickers",
    params(("id" = String, Path, description = "The location id")), request_body = PickListRequest,
    responses(
        (status = 200, description = "Batches: picker, orders, picks in walk order, shortfalls", body = Vec<planning::AssignedBatch>),
        (status = 400, description = "A field is invalid", body = super::openapi::Error),
    )
)]
pub async fn pick_lists(
    State(app): State<App>,
    axum::Extension(SignedIn(by)): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<PickListRequest>, JsonRejection>,
) -> ApiResult {
    let location = location_id(&id)?;
    let r = body(b)?;
    let size = positive("batch_size", r.batch_size)?;
    let lists = planning::pick_lists(&app.shared, &location, &r.pickers, size, Some(by)).await?;
    Ok(Json(lists).into_response())
}

/// A driver, the van they drive, and what bounds their day.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DriverVan {
    device: DeviceId,
    van: VanId,
    /// 08:00 to 18:00 when left out.
    #[serde(default)]
    shift: Option<Shift>,
    /// No bound on a measure left out.
    #[serde(default)]
    capacity: Capacity,
}

/// A driver's working day, depot time.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    start: NaiveTime,
    end: NaiveTime,
}

/// What a van holds.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    weight_kg: Option<u32>,
    volume_l: Option<u32>,
    packages: Option<u32>,
}

/// Routes from a location.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRequest {
    drivers: Vec<DriverVan>,
    date: NaiveDate,
    #[serde(default = "default_stops")]
    #[schema(default = 20)]
    max_stops: usize,
    /// Minutes at the door per order.
    #[serde(default = "default_service")]
    #[schema(default = 3)]
    service_min: u32,
}

fn default_stops() -> usize {
    20
}

fn default_service() -> u32 {
    3
}

/// The planner's bounds of the `i`th driver's van and day.
fn limits(i: usize, d: &DriverVan, max_stops: usize) -> Result<Van, ApiError> {
    let field = |f: &str| format!("drivers[{i}].{f}");
    let shift = match &d.shift {
        None => Window { from_s: 8 * 3_600, to_s: 18 * 3_600 },
        Some(s) if s.end <= s.start => {
            let message = format!("must be after the start ({})", s.start);
            return Err(ApiError::bad(&field("shift.end"), message));
        }
        Some(s) => {
            Window { from_s: s.start.num_seconds_from_midnight(), to_s: s.end.num_seconds_from_midnight() }
        }
    };
    let bound = |name: &str, value: Option<u32>, scale: u32| match value {
        None => Ok(u32::MAX),
        Some(0) => Err(ApiError::bad(&field(&format!("capacity.{name}")), "must be at least 1")),
        Some(v) => Ok(v.saturating_mul(scale)),
    };
    let c = &d.capacity;
    let capacity = Load {
        weight_g: bound("weight_kg", c.weight_kg, 1_000)?,
        volume_cm3: bound("volume_l", c.volume_l, 1_000)?,
        packages: bound("packages", c.packages, 1)?,
    };
    Ok(Van { capacity, shift, max_stops: u32::try_from(max_stops).unwrap_or(u32::MAX) })
}

/// An order to add to a route.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStop {
    order: OrderId,
}

/// `POST /api/routes/{id}/stops`.
#[utoipa::path(post, path = "/routes/{id}/stops", summary = "Add a packed order to a route, on the road or not",
    description = "The order becomes a new stop where it costs least from the van's last known position (or the depot) now: stops done and the order of the rest stay as they are, and the van's capacity and the driver's shift as planned are kept. An office event stop_inserted on the route; the driver's device shows the stop when it next syncs. After a failed attempt, the same call tries the order again on its route, an hour later at the earliest.",
    params(("id" = String, Path, description = "The route id")), request_body = NewStop,
    responses(
        (status = 201, description = "The new stop", body = planning::InsertedStop),
        (status = 400, description = "The order is not packed, is on a route, or does not fit the van or shift", body = super::openapi::Error),
        (status = 404, description = "No such route", body = super::openapi::Error),
    )
)]
pub async fn insert_stop(
    State(app): State<App>,
    axum::Extension(SignedIn(by)): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<NewStop>, JsonRejection>,
) -> ApiResult {
    let route: RouteId = id.parse().map_err(|e| ApiError::bad("id", format!("{e}")))?;
    let r = body(b)?;
    let stop = planning::insert_stop(&app.shared, &route, &r.order, Utc::now(), Some(by)).await?;
    Ok((StatusCode::CREATED, Json(stop)).into_response())
}

/// `POST /api/locations/{id}/routes`.
#[utoipa::path(post, path = "/locations/{id}/routes", summary = "Routes for the location's packed orders within promised slots, van capacities and shifts",
    description = "One route per driver with work (regret insertion, ruin and recreate, then 2-opt and moves between routes; docs/planning.md). Capacity, shift and max_stops are never exceeded; a slot may be missed where keeping it costs much more, and lateness is reported. Packed orders no van can take are listed in unassigned with why (no_coordinates, too_big, no_room) and wait for the next call.",
    params(("id" = String, Path, description = "The location id")), request_body = RouteRequest,
    responses(
        (status = 201, description = "Routes made and orders left unassigned", body = planning::RoutePlan),
        (status = 400, description = "A field is invalid", body = super::openapi::Error),
    )
)]
pub async fn routes(
    State(app): State<App>,
    Path(id): Path<String>,
    b: Result<Json<RouteRequest>, JsonRejection>,
) -> ApiResult {
    let location = location_id(&id)?;
    let r = body(b)?;
    let max = positive("max_stops", r.max_stops)?;
    let crews = r
        .drivers
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let limits = limits(i, d, max.get())?;
            Ok(planning::Crew { device: d.device.clone(), van: d.van.clone(), limits })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let service_s = r.service_min.saturating_mul(60);
    let made = planning::routes(&app.shared, &location, &crews, r.date, service_s).await?;
    Ok((StatusCode::CREATED, Json(made)).into_response())
}
