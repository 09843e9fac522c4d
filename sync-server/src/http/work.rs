//! Intake and planning routes: orders from CSV, locations and their stock
//! receipts, allocation, pick lists and routes.

use std::num::NonZeroUsize;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use chrono::{NaiveDate, NaiveTime, Timelike, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
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

use super::{ApiError, ApiResult, App, SignedIn, body};
use crate::csv_orders;
use crate::office;
use crate::planning;
use crate::quota;

fn location_id(id: &str) -> Result<LocationId, ApiError> {
    id.parse().map_err(|e| ApiError::bad("location", format!("{e}")))
}

/// `POST /api/orders/import`: a CSV file (`text/csv`) of orders. Orders
/// already held are left alone, so sending a file again is harmless.
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
    Ok((StatusCode::OK, Json(json!({ "created": created, "already_held": skipped }))).into_response())
}

/// A new location as the office describes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLocation {
    id: LocationId,
    name: String,
    #[serde(default)]
    geo: Option<Geo>,
    bins: Vec<Bin>,
    #[serde(default)]
    opening: Vec<Balance>,
}

/// `POST /api/locations`: a location, its bins and opening stock.
pub async fn create_location(
    State(app): State<App>,
    b: Result<Json<NewLocation>, JsonRejection>,
) -> ApiResult {
    let n = body(b)?;
    if n.name.trim().is_empty() {
        return Err(ApiError::bad("name", "name: must not be empty"));
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
    };
    let made = office::import(&app.shared, &Seed { locations: vec![header], ..Seed::default() }).await?;
    if made.is_empty() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("location {id} exists already"), Some("id")));
    }
    let (_, contents) = planning::location_contents(&app.shared, &id).await?;
    Ok((StatusCode::CREATED, Json(contents.header)).into_response())
}

/// `GET /api/locations`: every location's current header.
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
        out.push(json!({ "doc": doc, "header": contents.header }));
    }
    Ok(Json(out).into_response())
}

/// A stock receipt.
#[derive(Deserialize)]
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
    Ok((StatusCode::CREATED, Json(json!({ "doc": doc, "event": event }))).into_response())
}

/// A quota target: units of an item each device of a role (driver by
/// default, or picker) enrolled at the location should hold (0 clears it).
#[derive(Deserialize)]
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
    let each = |(gtin, quantity): (Gtin, u32)| json!({ "gtin": gtin, "quantity": quantity });
    let granted: Vec<Value> = granted
        .into_iter()
        .map(
            |(device, g)| json!({ "device": device, "granted": g.into_iter().map(each).collect::<Vec<_>>() }),
        )
        .collect();
    let body =
        json!({ "location": location, "gtin": t.gtin, "role": role, "target": t.target, "granted": granted });
    Ok(Json(body).into_response())
}

/// A grant by hand.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    device: DeviceId,
    gtin: Gtin,
    quantity: u32,
}

/// `POST /api/locations/{id}/quotas/grant`: grants a device units of an
/// item out of free stock (refused beyond it).
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
    Ok((StatusCode::CREATED, Json(json!({ "doc": doc, "event": event }))).into_response())
}

/// `GET /api/quotas`: each device's quota per location and item (a
/// warehouse lead's locations only).
pub async fn list_quotas(
    State(app): State<App>,
    axum::Extension(a): axum::Extension<crate::users::Access>,
) -> ApiResult {
    let mut list = quota::list(&app.shared.storage).await?;
    list.retain(|row| a.covers(row["location"].as_str().unwrap_or_default()));
    Ok(Json(list).into_response())
}

/// Which orders to allocate (all waiting, if none are named).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AllocateRequest {
    #[serde(default)]
    orders: Option<Vec<OrderId>>,
}

/// `POST /api/allocate`.
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickListRequest {
    pickers: Vec<DeviceId>,
    #[serde(default = "default_batch")]
    batch_size: usize,
}

fn default_batch() -> usize {
    10
}

fn positive(field: &str, n: usize) -> Result<NonZeroUsize, ApiError> {
    NonZeroUsize::new(n).ok_or_else(|| ApiError::bad(field, format!("{field}: must be at least 1")))
}

/// `POST /api/locations/{id}/picklists`.
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
#[derive(Deserialize)]
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    start: NaiveTime,
    end: NaiveTime,
}

/// What a van holds.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    weight_kg: Option<u32>,
    volume_l: Option<u32>,
    packages: Option<u32>,
}

/// Routes from a location.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRequest {
    drivers: Vec<DriverVan>,
    date: NaiveDate,
    #[serde(default = "default_stops")]
    max_stops: usize,
    /// Minutes at the door per order.
    #[serde(default = "default_service")]
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStop {
    order: OrderId,
}

/// `POST /api/routes/{id}/stops`.
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
