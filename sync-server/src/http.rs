//! The office's HTTP API: JSON over HTTP (axum), described by the OpenAPI
//! document at `/openapi.json`.
//!
//! Reads come from the projections (`orders`, `exceptions`, `stock`,
//! `devices`); writes go through [`crate::office`], which stores each
//! request's document changes, projections and bookkeeping in one batch, so
//! a refused or failed request leaves nothing half-written.
//!
//! Sign-in: office users ([`crate::users`]) `POST /api/session` with their
//! name and password and get a session, as an `HttpOnly`, `SameSite=Strict`
//! cookie for the page and as a token in the answer for API clients
//! (`Authorization: Bearer <token>`). Scripts may instead use the service
//! token the server was started with (`WAYBILL_OFFICE_TOKEN`; none if
//! empty). Every other `/api` route refuses a request with neither (401),
//! and what the user's role may not do (403): one table says who may call
//! each route (`http/access.rs`), and what was done is in the audit log
//! (`GET /api/audit`).
//! Office events record who made them (`by`: the user, or `api`).
//! `/openapi.json` and the page at `/` are public; the page signs in.
//! `/metrics` (Prometheus text for operators, [`crate::telemetry`]) is
//! signed in like `/api`.
//!
//! `GET /api/events` streams server-sent events: `event: changed` with the
//! id of each document that changed (`order/SO-1`), and `event: lagged` when
//! the listener fell behind and should reload everything.
//!
//! Errors are `{"error": "...", "field": "..."}` with a 4xx status; `field`
//! is the request field at fault as a path (`lines[0].quantity`), the header
//! (`Idempotency-Key`), or `null`.

mod access;
mod audit;
mod exceptions;
mod map;
mod openapi;
mod payment;
mod reports;
mod returns;
#[cfg(test)]
mod tests;
mod tracking;
mod work;

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};
use waybill_shared::doc::DocId;
use waybill_shared::doc::order::{Address, OrderHeader, OrderLine, ProofRequired, Slot};
use waybill_shared::doc::payment::PaymentTerms;
use waybill_shared::event::Payload;
use waybill_shared::event::office::{AddressAmended, Cancelled, Decision, ExceptionResolved, Held, Released};
use waybill_shared::event_id::EventId;
use waybill_shared::id::{DeviceId, LocationId, OrderId};
use waybill_shared::role::Role;

use crate::devices::{self, DeviceError};
use crate::identity::sha256_hex;
use crate::office::{self, OfficeError};
use crate::outbox::{self, WebhookError};
use crate::server::Shared;
use crate::storage::{self, Row, StorageError};
use crate::users::{self, Access, UserError};

/// The office's web page: one self-contained file, no build step.
const PAGE: &str = include_str!("http/page.html");

pub use map::{MapSettings, MapSettingsError};

/// The header that makes order creation idempotent.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Statuses `GET /api/orders?status=` accepts (`OrderStatus` in snake case).
pub const STATUSES: &[&str] = &[
    "created",
    "held",
    "allocated",
    "picking",
    "picked",
    "packed",
    "shipped",
    "out_for_delivery",
    "delivered",
    "attempted",
    "returned",
    "cancelled",
    "completed",
];

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    /// SHA-256 of the office token; `None` when none was set.
    token: Option<Arc<str>>,
    /// The map's tiles and highlighting.
    map: Arc<MapSettings>,
}

/// The API, ready to serve: `router(server.shared(), token)`, with the
/// map on a plain background.
pub fn router(shared: Arc<Shared>, token: String) -> Router {
    router_with(shared, token, MapSettings::default())
}

/// The API with the operator's map settings (`serve --map-tiles`).
pub fn router_with(shared: Arc<Shared>, token: String, map: MapSettings) -> Router {
    let token = (!token.is_empty()).then(|| Arc::from(sha256_hex(token.as_bytes())));
    let app = App { shared, token, map: Arc::new(map) };
    let api = Router::new()
        .route("/orders", get(list_orders).post(create_order))
        .route("/orders/import", post(work::import_csv))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/epcis", get(reports::order_epcis))
        .route("/orders/{id}/hold", post(hold))
        .route("/orders/{id}/release", post(release))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/orders/{id}/address", post(amend_address))
        .route("/orders/{id}/payment", post(payment::record))
        .route("/orders/{id}/tracking/revoke", post(tracking::revoke))
        .route("/orders/{id}/returns", post(returns::authorise))
        .route("/orders/{id}/refund", post(returns::refund))
        .route("/routes/{id}/cash", post(payment::hand_in))
        .route("/routes/{id}/stops", post(work::insert_stop))
        .route("/cash", get(payment::reconciliation))
        .route("/exceptions", get(list_exceptions))
        .route("/exceptions/resolve", post(resolve))
        .route("/devices", get(list_devices).post(enrol_device))
        .route("/devices/{id}/revoke", post(revoke_device))
        .route("/stock", get(list_stock))
        .route("/locations", get(work::list_locations).post(work::create_location))
        .route("/locations/{id}/receipts", post(work::receive))
        .route("/locations/{id}/picklists", post(work::pick_lists))
        .route("/locations/{id}/routes", post(work::routes))
        .route("/locations/{id}/epcis", get(reports::location_epcis))
        .route("/locations/{id}/quotas", post(work::set_quota_target))
        .route("/locations/{id}/quotas/grant", post(work::grant_quota))
        .route("/quotas", get(work::list_quotas))
        .route("/allocate", post(work::allocate))
        .route("/routes", get(reports::list_routes))
        .route("/map", get(map::get_map))
        .route("/metrics", get(reports::get_metrics))
        .route("/blobs/{hash}", get(reports::get_blob))
        .route("/events", get(events))
        .route("/session", get(whoami).post(sign_in).delete(sign_out))
        .route("/audit", get(audit::list))
        .route("/webhooks", get(list_webhooks).post(add_webhook))
        .route("/webhooks/{id}", axum::routing::delete(remove_webhook))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "no such endpoint: /openapi.json lists them", None)
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this endpoint does not take that method: /openapi.json lists those it takes",
                None,
            )
        })
        // Who may call what: after routing (it knows the route) and after
        // sign-in (it knows the user).
        .route_layer(middleware::from_fn_with_state(app.clone(), access::check))
        .layer(middleware::from_fn_with_state(app.clone(), require_sign_in));
    Router::new()
        .nest("/api", api)
        .route("/", get(page))
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        // For operators' Prometheus: outside /api, but signed in the same way
        // (the service token as a bearer token, or an office session).
        .route(
            "/metrics",
            get(reports::prometheus).layer(middleware::from_fn_with_state(app.clone(), require_sign_in)),
        )
        .merge(tracking::routes())
        .with_state(app)
}

/// `GET /`: the page, with a Content-Security-Policy that lets it run its
/// own inline script and talk to this server only; images from here, and
/// the map's tiles from the operator's tile server if one is set.
async fn page(State(app): State<App>) -> Response {
    let tiles = app.map.tile_origin().map(|o| format!(" {o}")).unwrap_or_default();
    let csp = format!(
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:{tiles}; \
         connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    let mut response = Html(PAGE).into_response();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

/// A refused request: status, message, and the field at fault.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: String,
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>, field: Option<&str>) -> Self {
        Self { status, error: error.into(), field: field.map(str::to_owned) }
    }

    fn bad(field: &str, error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, Some(field))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, Json(json!({ "error": self.error, "field": self.field }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %e, "office API: storage failed");
        match e {
            StorageError::Closed => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down", None)
            }
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "storage failed; nothing was written", None),
        }
    }
}

impl From<OfficeError> for ApiError {
    fn from(e: OfficeError) -> Self {
        match e {
            OfficeError::Invalid { field, message } => Self::bad(&field, format!("{field}: {message}")),
            OfficeError::NotFound(id) => {
                Self::new(StatusCode::NOT_FOUND, format!("no document {id}"), Some("id"))
            }
            OfficeError::Exists(id) => Self::new(
                StatusCode::CONFLICT,
                format!("{id} already exists (created under another idempotency key)"),
                Some("id"),
            ),
            OfficeError::Storage(e) => e.into(),
        }
    }
}

impl From<DeviceError> for ApiError {
    fn from(e: DeviceError) -> Self {
        match e {
            DeviceError::Unknown(d) => Self::new(
                StatusCode::NOT_FOUND,
                format!("no device {d}: GET /api/devices lists them"),
                Some("id"),
            ),
            DeviceError::BadCode => Self::bad("code", e.to_string()),
            DeviceError::NeedsLocation(_) | DeviceError::UnknownLocation(..) => {
                Self::bad("location", e.to_string().replace("--location", "\"location\""))
            }
            DeviceError::Storage(e) => e.into(),
            DeviceError::Identity(_) | DeviceError::Random => {
                tracing::error!(error = %e, "office API: device operation failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None)
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let text = r.body_text();
        let field = match &r {
            JsonRejection::JsonDataError(_) => rejected_field(&text),
            _ => None,
        };
        let status = match r {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self { status, error: text, field }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, r.body_text(), None)
    }
}

/// The field a serde error names, from axum's rejection text:
/// `Failed to deserialize the JSON body into the target type: <path>: <error>`,
/// where the path is `.` at the top level and the error may name a missing or
/// unknown field.
fn rejected_field(text: &str) -> Option<String> {
    let rest = text.split_once("target type: ").map_or(text, |(_, r)| r);
    let (path, error) = match rest.split_once(": ") {
        Some((p, e)) if !p.contains(' ') => (if p == "." { "" } else { p }, e),
        _ => ("", rest),
    };
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| error.strip_prefix(prefix))
        .and_then(|r| r.split('`').next());
    match (path, named) {
        ("", Some(f)) => Some(f.to_owned()),
        // An unknown field is already the last step of the path.
        (p, Some(f)) if p == f || p.ends_with(&format!(".{f}")) => Some(p.to_owned()),
        (p, Some(f)) => Some(format!("{p}.{f}")),
        ("", None) => None,
        (p, None) => Some(p.to_owned()),
    }
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "waybill_session";

/// Who made a request: an office user's name, or `api` for the service token.
#[derive(Debug, Clone)]
struct SignedIn(String);

/// The session token a request carries: the cookie, or a bearer token.
fn presented(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_owned());
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('=').map(str::to_owned));
    (bearer, cookie)
}

async fn require_sign_in(State(app): State<App>, mut request: Request, next: Next) -> Response {
    // Signing in is the one way in without a session.
    if request.method() == axum::http::Method::POST
        && matches!(request.uri().path(), "/session" | "/api/session")
    {
        return next.run(request).await;
    }
    let (bearer, cookie) = presented(request.headers());
    let now = Utc::now();
    let mut who = None;
    if let (Some(want), Some(given)) = (&app.token, &bearer) {
        // Compare digests, so the time taken says nothing about the token.
        if sha256_hex(given.as_bytes()) == **want {
            who = Some(Access::service());
        }
    }
    for token in [bearer, cookie].into_iter().flatten() {
        if who.is_some() {
            break;
        }
        match users::session_access(&app.shared.storage, &token, now).await {
            Ok(access) => who = access,
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    let Some(access) = who else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sign in: POST /api/session with your user name and password",
            Some("Authorization"),
        )
        .into_response();
    };
    request.extensions_mut().insert(SignedIn(access.user.clone()));
    request.extensions_mut().insert(access);
    next.run(request).await
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::WrongPassword => Self::new(StatusCode::UNAUTHORIZED, e.to_string(), Some("password")),
            UserError::BadName | UserError::Reserved(_) | UserError::Unknown(_) | UserError::Exists(_) => {
                Self::bad("user", e.to_string())
            }
            UserError::WeakPassword => Self::bad("password", e.to_string()),
            UserError::Storage(e) => e.into(),
            UserError::Random => Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None),
            UserError::NeedsLocation | UserError::NotScoped(_) | UserError::UnknownLocation(..) => {
                Self::bad("locations", e.to_string())
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    user: String,
    password: String,
}

fn session_cookie(value: &str, max_age: i64) -> HeaderValue {
    let cookie = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

async fn sign_in(State(app): State<App>, b: Result<Json<Credentials>, JsonRejection>) -> ApiResult {
    let Credentials { user, password } = body(b)?;
    let s = users::sign_in(&app.shared.storage, &user, &password, Utc::now()).await?;
    if let Some(access) = users::access_of(&app.shared.storage, &s.user).await? {
        let written =
            crate::audit::record(&app.shared.storage, &access, "sign in", "POST /api/session", Some(200));
        if let Err(e) = written.await {
            tracing::error!(error = %e, "the audit log could not be written");
        }
    }
    let mut response = Json(&s).into_response();
    let max_age = (s.expires_at - Utc::now()).num_seconds();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&s.token, max_age));
    Ok(response)
}

/// `GET /api/session`: who is signed in, their role and locations, and
/// the permissions the role has (`may`, for the page to offer only what
/// the server would allow).
async fn whoami(axum::Extension(a): axum::Extension<Access>) -> ApiResult {
    let may = access::names_for(a.role);
    Ok(Json(json!({ "user": a.user, "role": a.role, "locations": a.locations, "may": may })).into_response())
}

async fn sign_out(State(app): State<App>, headers: HeaderMap) -> ApiResult {
    let (bearer, cookie) = presented(&headers);
    for token in [bearer, cookie].into_iter().flatten() {
        users::sign_out(&app.shared.storage, &token).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie("", 0));
    Ok(response)
}

type ApiResult = Result<Response, ApiError>;

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(t)| t).map_err(ApiError::from)
}

fn order_id(id: &str) -> Result<OrderId, ApiError> {
    OrderId::new(id).map_err(|e| ApiError::bad("id", e.to_string()))
}

/// Rows as JSON objects, numbers and text as they are; columns named in
/// `json_columns` hold JSON text and are parsed.
fn json_rows(rows: &[Row], json_columns: &[&str]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let obj = r
                .columns()
                .map(|(name, v)| {
                    let v = match v {
                        storage::Value::Integer(n) => Value::from(*n),
                        storage::Value::Real(f) => Value::from(*f),
                        storage::Value::Text(t) if json_columns.contains(&name) => {
                            serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.clone()))
                        }
                        storage::Value::Text(t) => Value::String(t.clone()),
                        storage::Value::Null | storage::Value::Blob(_) => Value::Null,
                    };
                    (name.to_owned(), v)
                })
                .collect();
            Value::Object(obj)
        })
        .collect()
}

/// Orders on a page of `GET /api/orders` unless `limit` says otherwise.
pub const ORDERS_PAGE: usize = 100;
/// The most orders one page may hold.
pub const ORDERS_MAX_PAGE: usize = 1000;
/// The response header naming the `after` of the next page (absent on the
/// last page).
pub const NEXT_HEADER: &str = "Waybill-Next";
/// The response header with how many orders match, on every page.
pub const TOTAL_HEADER: &str = "Waybill-Total";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrdersQuery {
    status: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    after: Option<String>,
}

/// `GET /api/orders?status=&q=&limit=&after=`: a page of orders by id, as
/// an array of rows; the next page's `after` in `Waybill-Next` and how many
/// match in `Waybill-Total` ([`storage::Storage::order_page`] says how `q`
/// matches and why).
async fn list_orders(State(app): State<App>, q: Result<Query<OrdersQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) if STATUSES.contains(&s) => Some(s),
        Some(s) => {
            return Err(ApiError::bad(
                "status",
                format!("unknown status {s:?}: one of {}", STATUSES.join(", ")),
            ));
        }
    };
    let limit = q.limit.unwrap_or(ORDERS_PAGE);
    if !(1..=ORDERS_MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad(
            "limit",
            format!("limit: 1 to {ORDERS_MAX_PAGE}, {ORDERS_PAGE} if left out"),
        ));
    }
    let search = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let after = q.after.as_deref().filter(|a| !a.is_empty());
    // (PostgreSQL cannot hold a control character in text: refused the same
    // way on both databases.)
    for (field, text) in [("q", search), ("after", after)] {
        if text.is_some_and(|t| t.chars().any(char::is_control)) {
            return Err(ApiError::bad(field, format!("{field}: no control characters")));
        }
    }
    // One more than the page holds: whether there is a next page.
    let (mut rows, total) = app.shared.storage.order_page(status, search, after, limit + 1).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let list = json_rows(&rows, &[]);
    let next = list.last().and_then(|o| o["id"].as_str()).filter(|_| more).map(str::to_owned);
    let mut response = Json(list).into_response();
    let headers = response.headers_mut();
    headers.insert(TOTAL_HEADER, HeaderValue::from(total));
    if let Some(v) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        headers.insert(NEXT_HEADER, v);
    }
    Ok(response)
}

/// The order's view, each timeline entry with `received_at`: when the
/// event first reached the server.
async fn view_response(shared: &Shared, id: &OrderId) -> ApiResult {
    let text = shared.storage.order_view(id.as_str()).await?.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("no order {id}: GET /api/orders lists them"), Some("id"))
    })?;
    let mut view: Value =
        serde_json::from_str(&text).map_err(|e| StorageError::Corrupt(format!("the view of {id}: {e}")))?;
    let arrivals: std::collections::HashMap<String, String> =
        shared.storage.arrival_times(&DocId::Order(id.clone())).await?.into_iter().collect();
    if let Some(timeline) = view["timeline"].as_array_mut() {
        for e in timeline {
            let at = e["id"].as_str().and_then(|i| arrivals.get(i)).cloned();
            e["received_at"] = at.map_or(Value::Null, Value::String);
        }
    }
    // The customer's tracking link (a path on this server), and the emails
    // they were sent or are due.
    view["tracking"] = crate::tracking::link(shared, id).await?.map_or(Value::Null, Value::String);
    view["emails"] = shared
        .storage
        .mail_of(id.as_str())
        .await?
        .into_iter()
        .map(|(key, topic, to, sent_at, failed_at, error)| {
            json!({ "key": key, "topic": topic, "to": to, "sent_at": sent_at, "failed_at": failed_at, "last_error": error })
        })
        .collect();
    Ok(Json(view).into_response())
}

async fn get_order(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    view_response(&app.shared, &order_id(&id)?).await
}

/// An order as the office hands it in: the header, with `created_at`
/// optional (now, if left out).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrder {
    id: OrderId,
    customer: String,
    ship_to: Address,
    lines: Vec<OrderLine>,
    #[serde(default)]
    promised: Option<NaiveDate>,
    #[serde(default)]
    slot: Option<Slot>,
    #[serde(default)]
    location: Option<LocationId>,
    #[serde(default)]
    proof: ProofRequired,
    #[serde(default)]
    payment: PaymentTerms,
    /// The customer's email address, for notifications: kept on the
    /// server, never in the order document devices hold.
    #[serde(default)]
    email: Option<String>,
    /// Whether the tracking page may show the delivery photo.
    #[serde(default)]
    tracking_photo: bool,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
}

async fn create_order(
    State(app): State<App>,
    axum::Extension(SignedIn(by)): axum::Extension<SignedIn>,
    headers: HeaderMap,
    new: Result<Json<NewOrder>, JsonRejection>,
) -> ApiResult {
    let key = match headers.get(IDEMPOTENCY_KEY).map(|v| v.to_str()) {
        None => {
            return Err(ApiError::bad(IDEMPOTENCY_KEY, format!("the {IDEMPOTENCY_KEY} header is required")));
        }
        Some(Err(_)) => return Err(ApiError::bad(IDEMPOTENCY_KEY, "must be visible ASCII")),
        Some(Ok(k)) => k.to_owned(),
    };
    let n = body(new)?;
    let header = OrderHeader {
        id: n.id,
        customer: n.customer,
        ship_to: n.ship_to,
        lines: n.lines,
        promised: n.promised,
        slot: n.slot,
        location: n.location,
        proof: n.proof,
        payment: n.payment,
        created_at: n.created_at.unwrap_or_else(Utc::now),
    };
    let contact = office::Contact { email: n.email, tracking_photo: n.tracking_photo };
    let (view, created) = office::create_order(&app.shared, header, &contact, &key, Some(by)).await?;
    let location = format!("/api/orders/{}", view.header.id);
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let mut response = (status, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// Writes an office event to an order and answers with its view.
async fn order_event(app: &App, by: SignedIn, id: &str, payload: Payload) -> ApiResult {
    let id = order_id(id)?;
    office::office_event(&app.shared, &DocId::Order(id.clone()), payload, Some(by.0)).await?;
    view_response(&app.shared, &id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: String,
}

async fn hold(
    State(app): State<App>,
    axum::Extension(by): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<Reason>, JsonRejection>,
) -> ApiResult {
    let Reason { reason } = body(b)?;
    order_event(&app, by, &id, Payload::Held(Held { reason })).await
}

async fn release(
    State(app): State<App>,
    axum::Extension(by): axum::Extension<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult {
    order_event(&app, by, &id, Payload::Released(Released {})).await
}

async fn cancel(
    State(app): State<App>,
    axum::Extension(by): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<Reason>, JsonRejection>,
) -> ApiResult {
    let Reason { reason } = body(b)?;
    order_event(&app, by, &id, Payload::Cancelled(Cancelled { reason })).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAddress {
    ship_to: Address,
}

async fn amend_address(
    State(app): State<App>,
    axum::Extension(by): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<NewAddress>, JsonRejection>,
) -> ApiResult {
    let NewAddress { ship_to } = body(b)?;
    order_event(&app, by, &id, Payload::AddressAmended(AddressAmended { ship_to, replaces: None })).await
}

async fn list_exceptions(State(app): State<App>, axum::Extension(a): axum::Extension<Access>) -> ApiResult {
    let mut list = json_rows(&app.shared.storage.open_exception_rows().await?, &["events", "detail"]);
    if let Some(scope) = access::Scope::of(&app.shared, &a).await? {
        list.retain(|x| scope.has_doc(x["doc"].as_str().unwrap_or_default()));
    }
    Ok(Json(exceptions::in_words(&app.shared, list).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resolve {
    doc: DocId,
    exception: String,
    events: Vec<EventId>,
    decision: Decision,
    #[serde(default)]
    note: String,
}

async fn resolve(
    State(app): State<App>,
    axum::Extension(by): axum::Extension<SignedIn>,
    axum::Extension(a): axum::Extension<Access>,
    b: Result<Json<Resolve>, JsonRejection>,
) -> ApiResult {
    let r = body(b)?;
    access::may_touch(&app.shared, &a, &r.doc).await?;
    exceptions::check_fits(&r.exception, r.decision)?;
    let payload = Payload::ExceptionResolved(ExceptionResolved {
        exception: r.exception,
        events: r.events,
        decision: r.decision,
        note: r.note,
    });
    let event = office::office_event(&app.shared, &r.doc, payload, Some(by.0)).await?;
    Ok(Json(json!({ "doc": r.doc, "event": event })).into_response())
}

async fn list_devices(State(app): State<App>) -> ApiResult {
    let list = devices::list(&app.shared.storage).await?;
    Ok(Json(list).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Enrol {
    device: DeviceId,
    role: String,
    #[serde(default)]
    location: Option<LocationId>,
}

async fn enrol_device(State(app): State<App>, b: Result<Json<Enrol>, JsonRejection>) -> ApiResult {
    let Enrol { device, role, location } = body(b)?;
    let role: Role = role.parse().map_err(|e: String| ApiError::bad("role", e))?;
    let code = devices::issue_code(&app.shared.storage, &device, role, location.as_ref(), Utc::now()).await?;
    let body = json!({
        "device": device,
        "role": role,
        "location": location,
        "code": code,
        "fingerprint": app.shared.identity.ca_fingerprint(),
        "expires_in_hours": devices::CODE_LIFETIME_HOURS,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn revoke_device(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    let now = Utc::now();
    devices::revoke(&app.shared.storage, &id, now).await?;
    Ok(Json(json!({ "device": id, "revoked_at": now.to_rfc3339() })).into_response())
}

async fn list_stock(State(app): State<App>, axum::Extension(a): axum::Extension<Access>) -> ApiResult {
    let mut list = json_rows(&app.shared.storage.stock_rows().await?, &[]);
    list.retain(|row| a.covers(row["location"].as_str().unwrap_or_default()));
    Ok(Json(list).into_response())
}

/// Server-sent events: `changed` with a document id for every stored change;
/// `lagged` (with how many were missed) when this listener fell behind.
async fn events(State(app): State<App>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = BroadcastStream::new(app.shared.changes.subscribe()).map(|change| {
        Ok(match change {
            Ok(id) => Event::default().event("changed").data(id),
            Err(BroadcastStreamRecvError::Lagged(n)) => Event::default().event("lagged").data(n.to_string()),
        })
    });
    Sse::new(changes).keep_alive(KeepAlive::default())
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::BadUrl(_) => Self::bad("url", e.to_string()),
            WebhookError::Unknown(_) => Self::new(StatusCode::NOT_FOUND, e.to_string(), Some("id")),
            WebhookError::Storage(e) => e.into(),
            WebhookError::Random => Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None),
        }
    }
}

async fn list_webhooks(State(app): State<App>) -> ApiResult {
    Ok(Json(outbox::list(&app.shared.storage).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
}

async fn add_webhook(State(app): State<App>, b: Result<Json<NewWebhook>, JsonRejection>) -> ApiResult {
    let NewWebhook { url } = body(b)?;
    let (hook, secret) = outbox::add(&app.shared.storage, &url, Utc::now()).await?;
    let body = json!({ "webhook": hook, "secret": secret, "topics": outbox::TOPICS });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn remove_webhook(State(app): State<App>, Path(id): Path<i64>) -> ApiResult {
    outbox::remove(&app.shared.storage, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
