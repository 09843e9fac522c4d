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
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use waybill_shared::doc::DocId;
use waybill_shared::doc::order::{Address, OrderHeader, OrderLine, ProofRequired, Slot};
use waybill_shared::doc::payment::PaymentTerms;
use waybill_shared::event::Payload;
use waybill_shared::event::office::{AddressAmended, Cancelled, Decision, ExceptionResolved, Held, Released};
use waybill_shared::event_id::EventId;
use waybill_shared::fold::order::OrderView;
use waybill_shared::fold::status::OrderStatus;
use waybill_shared::gs1::Gtin;
use waybill_shared::id::{BinId, DeviceId, LocationId, OrderId};
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

/// Serves `router` on `listener` until that fails. Its routes are made
/// ready once: axum's `serve` of a plain `Router` builds its route table
/// again for every connection, and a client that does not keep its
/// connection (a script, a webhook's caller) opens one per request.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router.with_state(()).into_make_service()).await
}

/// The API with the operator's map settings (`serve --map-tiles`).
pub fn router_with(shared: Arc<Shared>, token: String, map: MapSettings) -> Router {
    let token = (!token.is_empty()).then(|| Arc::from(sha256_hex(token.as_bytes())));
    let app = App { shared, token, map: Arc::new(map) };
    let (api, described) = api().split_for_parts();
    let description = Arc::new(openapi::document(described, outside()));
    let api = api
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
        .route("/openapi.json", get(move || async move { Json(description.as_ref().clone()) }))
        // For operators' Prometheus: outside /api, but signed in the same way
        // (the service token as a bearer token, or an office session).
        .route(
            "/metrics",
            get(reports::prometheus).layer(middleware::from_fn_with_state(app.clone(), require_sign_in)),
        )
        .merge(tracking::routes())
        .with_state(app)
}

/// The `/api` routes, each mounted through its OpenAPI description
/// ([`openapi`]).
fn api() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_orders, create_order))
        .routes(routes!(work::import_csv))
        .routes(routes!(get_order))
        .routes(routes!(reports::order_epcis))
        .routes(routes!(hold))
        .routes(routes!(release))
        .routes(routes!(cancel))
        .routes(routes!(amend_address))
        .routes(routes!(payment::record))
        .routes(routes!(tracking::revoke))
        .routes(routes!(returns::authorise))
        .routes(routes!(returns::refund))
        .routes(routes!(payment::hand_in))
        .routes(routes!(work::insert_stop))
        .routes(routes!(payment::reconciliation))
        .routes(routes!(list_exceptions))
        .routes(routes!(resolve))
        .routes(routes!(list_devices, enrol_device))
        .routes(routes!(revoke_device))
        .routes(routes!(list_stock))
        .routes(routes!(work::list_locations, work::create_location))
        .routes(routes!(work::receive))
        .routes(routes!(work::pick_lists))
        .routes(routes!(work::routes))
        .routes(routes!(reports::location_epcis))
        .routes(routes!(work::set_quota_target))
        .routes(routes!(work::grant_quota))
        .routes(routes!(work::list_quotas))
        .routes(routes!(work::allocate))
        .routes(routes!(reports::list_routes))
        .routes(routes!(map::get_map))
        .routes(routes!(reports::get_metrics))
        .routes(routes!(reports::get_blob))
        .routes(routes!(events))
        .routes(routes!(whoami, sign_in, sign_out))
        .routes(routes!(audit::list))
        .routes(routes!(list_webhooks, add_webhook))
        .routes(routes!(remove_webhook))
}

/// The description of the operations outside `/api`: operators'
/// Prometheus text (mounted in [`router_with`], signed in like `/api`).
fn outside() -> utoipa::openapi::OpenApi {
    OpenApiRouter::<App>::new().routes(routes!(reports::prometheus)).into_openapi()
}

/// The OpenAPI description the server serves, for tests.
#[cfg(test)]
fn description() -> Value {
    openapi::document(api().into_openapi(), outside())
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
            (self.status, Json(openapi::Error { error: self.error, field: self.field })).into_response();
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Credentials {
    user: String,
    password: String,
}

fn session_cookie(value: &str, max_age: i64) -> HeaderValue {
    let cookie = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

#[utoipa::path(post, path = "/session", summary = "Sign in",
    description = "Sets the session cookie (HttpOnly, SameSite=Strict) and returns the session token for API clients.",
    security(()), request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = users::Session),
        (status = 400, description = "A field is missing", body = openapi::Error),
        (status = 401, description = "Wrong user name or password", body = openapi::Error),
    )
)]
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
#[utoipa::path(get, path = "/session",
    summary = "Who is signed in: their role, a warehouse lead's locations, and the permissions the role has",
    responses((status = 200, description = "The user", body = Me))
)]
async fn whoami(axum::Extension(a): axum::Extension<Access>) -> ApiResult {
    let may = access::names_for(a.role);
    Ok(Json(Me { access: a, may }).into_response())
}

/// The user signed in.
#[derive(Serialize, ToSchema)]
struct Me {
    #[serde(flatten)]
    access: Access,
    /// The permissions of their role, for the page to offer only what
    /// the server would allow.
    #[schema(value_type = Vec<String>)]
    may: Vec<&'static str>,
}

#[utoipa::path(delete, path = "/session", summary = "Sign out (ends the session)",
    responses((status = 204, description = "Signed out"))
)]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct OrdersQuery {
    /// Only orders with this status.
    #[param(value_type = Option<OrderStatus>)]
    status: Option<String>,
    /// A prefix of the order id or of the customer's name.
    #[serde(default)]
    q: Option<String>,
    /// Orders on the page: 1 to 1000, 100 if left out.
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The last id of the previous page (its `Waybill-Next`).
    #[serde(default)]
    after: Option<String>,
}

/// A row of `GET /api/orders`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // The shape of the order rows the storage reads.
struct OrderSummary {
    id: OrderId,
    status: OrderStatus,
    customer: String,
    open_exceptions: u32,
    updated_at: DateTime<Utc>,
}

/// An order as the API answers: the fold of its header and events
/// (each timeline entry with `received_at`, when the event first reached
/// the server), the customer's tracking link, and the emails they were
/// sent or are due.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // Built as JSON by `view_response`.
struct OrderAnswer {
    #[serde(flatten)]
    view: OrderView,
    /// The tracking page's path on this server; null once revoked.
    tracking: Option<String>,
    emails: Vec<Email>,
}

/// A customer email, sent or due.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // Built as JSON by `view_response`.
struct Email {
    key: String,
    topic: String,
    to: String,
    sent_at: Option<String>,
    failed_at: Option<String>,
    last_error: Option<String>,
}

/// `GET /api/orders?status=&q=&limit=&after=`: a page of orders by id, as
/// an array of rows; the next page's `after` in `Waybill-Next` and how many
/// match in `Waybill-Total` ([`storage::Storage::order_page`] says how `q`
/// matches and why).
#[utoipa::path(get, path = "/orders", summary = "List orders, a page at a time",
    description = "Orders by id, `limit` to a page (100 unless said, at most 1000), those after the id `after` (keyset paging: pass the `Waybill-Next` header of the previous page). `q` matches a prefix of the order id (as typed, or in capitals) or a prefix of the customer's name in any case: prefixes, so a search reads an index range, not every order. `status` and `q` together match both.",
    params(OrdersQuery),
    responses(
        (status = 200, description = "A page of orders", body = Vec<OrderSummary>, headers(
            ("Waybill-Next" = String, description = "`after` for the next page; absent on the last page"),
            ("Waybill-Total" = u64, description = "How many orders match, on every page"),
        )),
        (status = 400, description = "Unknown status, or a limit out of range", body = openapi::Error),
    )
)]
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

#[utoipa::path(get, path = "/orders/{id}",
    summary = "An order's merged view: status, lines, packages, proofs, exceptions, timeline", params(("id" = String, Path, description = "The order id")),
    responses(
        (status = 200, description = "The view", body = OrderAnswer),
        (status = 400, description = "Invalid id", body = openapi::Error),
        (status = 404, description = "No such order", body = openapi::Error),
    )
)]
async fn get_order(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    view_response(&app.shared, &order_id(&id)?).await
}

/// An order as the office hands it in: the header, with `created_at`
/// optional (now, if left out).
#[derive(Deserialize, ToSchema)]
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

#[utoipa::path(post, path = "/orders", summary = "Create an order",
    description = "The same Idempotency-Key again returns the order it made (200), without making another.",
    params(("Idempotency-Key" = String, Header, description = "Any visible ASCII, at most 255 characters: the same key again makes nothing new")),
    request_body = NewOrder,
    responses(
        (status = 201, description = "Created: its view", body = OrderView),
        (status = 200, description = "Made earlier with this key: its view", body = OrderView),
        (status = 400, description = "Missing key or an invalid field", body = openapi::Error),
        (status = 409, description = "An order with this id exists, made under another key", body = openapi::Error),
        (status = 415, description = "The body is not application/json", body = openapi::Error),
    )
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: String,
}

#[utoipa::path(post, path = "/orders/{id}/hold", summary = "Hold an order", params(("id" = String, Path, description = "The order id")),
    request_body = Reason,
    responses(
        (status = 200, description = "The order's view after the event", body = OrderAnswer),
        (status = 400, description = "A field is invalid", body = openapi::Error),
        (status = 404, description = "No such order", body = openapi::Error),
    )
)]
async fn hold(
    State(app): State<App>,
    axum::Extension(by): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<Reason>, JsonRejection>,
) -> ApiResult {
    let Reason { reason } = body(b)?;
    order_event(&app, by, &id, Payload::Held(Held { reason })).await
}

#[utoipa::path(post, path = "/orders/{id}/release", summary = "Release a hold", params(("id" = String, Path, description = "The order id")),
    responses(
        (status = 200, description = "The order's view after the event", body = OrderAnswer),
        (status = 400, description = "A field is invalid", body = openapi::Error),
        (status = 404, description = "No such order", body = openapi::Error),
    )
)]
async fn release(
    State(app): State<App>,
    axum::Extension(by): axum::Extension<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult {
    order_event(&app, by, &id, Payload::Released(Released {})).await
}

#[utoipa::path(post, path = "/orders/{id}/cancel", summary = "Cancel an order", params(("id" = String, Path, description = "The order id")),
    request_body = Reason,
    responses(
        (status = 200, description = "The order's view after the event", body = OrderAnswer),
        (status = 400, description = "A field is invalid", body = openapi::Error),
        (status = 404, description = "No such order", body = openapi::Error),
    )
)]
async fn cancel(
    State(app): State<App>,
    axum::Extension(by): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<Reason>, JsonRejection>,
) -> ApiResult {
    let Reason { reason } = body(b)?;
    order_event(&app, by, &id, Payload::Cancelled(Cancelled { reason })).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAddress {
    ship_to: Address,
}

#[utoipa::path(post, path = "/orders/{id}/address", summary = "Amend the ship-to address", params(("id" = String, Path, description = "The order id")),
    request_body = NewAddress,
    responses(
        (status = 200, description = "The order's view after the event", body = OrderAnswer),
        (status = 400, description = "A field is invalid", body = openapi::Error),
        (status = 404, description = "No such order", body = openapi::Error),
    )
)]
async fn amend_address(
    State(app): State<App>,
    axum::Extension(by): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<NewAddress>, JsonRejection>,
) -> ApiResult {
    let NewAddress { ship_to } = body(b)?;
    order_event(&app, by, &id, Payload::AddressAmended(AddressAmended { ship_to, replaces: None })).await
}

#[utoipa::path(get, path = "/exceptions",
    summary = "Open exceptions, in words",
    description = "Each with its title and explanation, the decisions that fit its kind, the document named, and each event as device, role, time and what happened. A warehouse lead sees their locations' only.",
    responses((status = 200, description = "Exceptions", body = Vec<exceptions::InWords>))
)]
async fn list_exceptions(State(app): State<App>, axum::Extension(a): axum::Extension<Access>) -> ApiResult {
    let mut list = json_rows(&app.shared.storage.open_exception_rows().await?, &["events", "detail"]);
    if let Some(scope) = access::Scope::of(&app.shared, &a).await? {
        list.retain(|x| scope.has_doc(x["doc"].as_str().unwrap_or_default()));
    }
    Ok(Json(exceptions::in_words(&app.shared, list).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Resolve {
    doc: DocId,
    exception: String,
    #[schema(min_items = 1)]
    events: Vec<EventId>,
    decision: Decision,
    #[serde(default)]
    note: String,
}

#[utoipa::path(post, path = "/exceptions/resolve",
    summary = "Resolve an exception: an exception_resolved event from the office",
    request_body = Resolve,
    responses(
        (status = 200, description = "The event written", body = Written),
        (status = 400, description = "A field is invalid, the exception names no kind, or the decision does not fit its kind (the error names those that do)", body = openapi::Error),
        (status = 404, description = "No such document", body = openapi::Error),
    )
)]
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
    Ok(Json(Written { doc: r.doc, event }).into_response())
}

/// An office event written to a document.
#[derive(Serialize, ToSchema)]
struct Written {
    doc: DocId,
    event: waybill_shared::event::Event,
}

#[utoipa::path(get, path = "/devices", summary = "Devices",
    responses((status = 200, description = "Devices", body = Vec<devices::DeviceRow>))
)]
async fn list_devices(State(app): State<App>) -> ApiResult {
    let list = devices::list(&app.shared.storage).await?;
    Ok(Json(list).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Enrol {
    device: DeviceId,
    #[schema(value_type = Role)]
    role: String,
    #[serde(default)]
    location: Option<LocationId>,
}

#[utoipa::path(post, path = "/devices",
    summary = "Enrol a device: returns its one-time code (shown once) and the fingerprint to pin",
    request_body = Enrol,
    responses(
        (status = 201, description = "The code", body = Enrolment),
        (status = 400, description = "A field is invalid", body = openapi::Error),
    )
)]
async fn enrol_device(State(app): State<App>, b: Result<Json<Enrol>, JsonRejection>) -> ApiResult {
    let Enrol { device, role, location } = body(b)?;
    let role: Role = role.parse().map_err(|e: String| ApiError::bad("role", e))?;
    let code = devices::issue_code(&app.shared.storage, &device, role, location.as_ref(), Utc::now()).await?;
    let fingerprint = app.shared.identity.ca_fingerprint();
    let body = Enrolment {
        device,
        role,
        location,
        code,
        fingerprint,
        expires_in_hours: devices::CODE_LIFETIME_HOURS,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A device's one-time enrolment code.
#[derive(Serialize, ToSchema)]
struct Enrolment {
    device: DeviceId,
    role: Role,
    location: Option<LocationId>,
    /// Typed on the device once; shown only here.
    code: String,
    /// The server's certificate fingerprint, for the device to pin.
    fingerprint: String,
    expires_in_hours: i64,
}

#[utoipa::path(post, path = "/devices/{id}/revoke", summary = "Revoke a device at once (also mid-connection)",
    params(("id" = String, Path, description = "The device id")),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 404, description = "No such device", body = openapi::Error),
    )
)]
async fn revoke_device(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    let now = Utc::now();
    devices::revoke(&app.shared.storage, &id, now).await?;
    Ok(Json(Revoked { device: id, revoked_at: now.to_rfc3339() }).into_response())
}

/// A device revoked.
#[derive(Serialize, ToSchema)]
struct Revoked {
    device: String,
    #[schema(format = DateTime)]
    revoked_at: String,
}

/// A row of `GET /api/stock`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // The shape of the stock rows the storage reads.
struct StockRow {
    location: LocationId,
    bin: BinId,
    gtin: Gtin,
    on_hand: i64,
}

#[utoipa::path(get, path = "/stock", summary = "Stock on hand per location, bin and item",
    responses((status = 200, description = "Stock", body = Vec<StockRow>))
)]
async fn list_stock(State(app): State<App>, axum::Extension(a): axum::Extension<Access>) -> ApiResult {
    let mut list = json_rows(&app.shared.storage.stock_rows().await?, &[]);
    list.retain(|row| a.covers(row["location"].as_str().unwrap_or_default()));
    Ok(Json(list).into_response())
}

/// Server-sent events: `changed` with a document id for every stored change;
/// `lagged` (with how many were missed) when this listener fell behind.
#[utoipa::path(get, path = "/events",
    summary = "Server-sent events: `changed` with a document id whenever a document changes",
    description = "`lagged`, with how many were missed, when the listener fell behind and should read everything again. The page's EventSource signs in with the session cookie.",
    responses((status = 200, description = "An event stream", content_type = "text/event-stream"))
)]
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

#[utoipa::path(get, path = "/webhooks", summary = "Webhooks with their delivery counts",
    responses((status = 200, description = "Webhooks", body = Vec<outbox::Webhook>))
)]
async fn list_webhooks(State(app): State<App>) -> ApiResult {
    Ok(Json(outbox::list(&app.shared.storage).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
}

#[utoipa::path(post, path = "/webhooks", summary = "Register a webhook",
    description = "Customer notifications (order.confirmed, order.shipped, order.out_for_delivery, order.delivered, order.attempt_failed) are POSTed to it from a durable outbox, with retries and backoff. Headers: Waybill-Delivery (deduplicate by it), Waybill-Topic, Waybill-Signature (t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" under the secret). The secret is shown once.",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Registered", body = Registered),
        (status = 400, description = "Not an http(s) URL", body = openapi::Error),
    )
)]
async fn add_webhook(State(app): State<App>, b: Result<Json<NewWebhook>, JsonRejection>) -> ApiResult {
    let NewWebhook { url } = body(b)?;
    let (hook, secret) = outbox::add(&app.shared.storage, &url, Utc::now()).await?;
    let body = Registered { webhook: hook, secret, topics: outbox::TOPICS };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A webhook registered.
#[derive(Serialize, ToSchema)]
struct Registered {
    webhook: outbox::Webhook,
    /// The secret the deliveries are signed with: shown only here.
    secret: String,
    /// What is posted to it.
    #[schema(value_type = Vec<String>)]
    topics: &'static [&'static str],
}

#[utoipa::path(delete, path = "/webhooks/{id}", summary = "Remove a webhook and what is still queued for it",
    params(("id" = i64, Path, description = "The webhook id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such webhook", body = openapi::Error),
    )
)]
async fn remove_webhook(State(app): State<App>, Path(id): Path<i64>) -> ApiResult {
    outbox::remove(&app.shared.storage, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
