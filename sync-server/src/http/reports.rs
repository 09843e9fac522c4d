//! Read-only reports: metrics (the office's, and operators' Prometheus
//! text), routes, EPCIS 2.0 exports and the proof images devices uploaded.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::Utc;
use waybill_shared::blob::BlobHash;
use waybill_shared::doc::{self, DocId};
use waybill_shared::epcis;

use super::{ApiError, ApiResult, App, json_rows, order_id};
use crate::planning;
use crate::storage::StorageError;
use crate::telemetry::Exposition;

/// `GET /api/metrics`: from each order's share, stored with its
/// projection, summed in one query ([`crate::metrics`]).
#[utoipa::path(get, path = "/metrics", summary = "Order accuracy, on-time delivery, pick rate, short-pick, failed-attempt and return rates",
    description = "Summed in one query from each order's share, stored with the order's projection as its events arrive. A rate is null when there is nothing to count.",
    responses((status = 200, description = "Metrics", body = crate::metrics::Metrics))
)]
pub async fn get_metrics(State(app): State<App>) -> ApiResult {
    Ok(Json(app.shared.storage.metric_totals().await?).into_response())
}

/// The media type of Prometheus's text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: this node's counters and the database's queues, orders
/// and open exceptions, in Prometheus's text format
/// ([`crate::telemetry`]).
#[utoipa::path(get, path = "/metrics", summary = "For operators: Prometheus text (sync sessions, changes stored, refusals, push latency, outbox depth, orders by status, open exceptions)",
    description = "Outside /api, signed in the same way: the service token as a bearer token (what a Prometheus scrape config sends), or an office session. docs/operations.md lists the series.",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"))
)]
pub async fn prometheus(State(app): State<App>) -> ApiResult {
    let stored = app.shared.storage.operator_figures().await?;
    let body = Exposition::default().node(app.shared.hub.connected().len()).stored(&stored).finish();
    Ok(([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], body).into_response())
}

/// A row of `GET /api/routes` (read as JSON by the storage).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RouteRow {
    id: waybill_shared::id::RouteId,
    driver: String,
    van: String,
    /// Stops finished.
    done: u32,
    stops: u32,
    view: waybill_shared::fold::route::RouteView,
}

/// `GET /api/routes`.
#[utoipa::path(get, path = "/routes", summary = "Routes with progress",
    responses((status = 200, description = "Routes", body = Vec<RouteRow>))
)]
pub async fn list_routes(State(app): State<App>) -> ApiResult {
    let list = json_rows(&app.shared.storage.route_rows().await?, &["view"]);
    Ok(Json(list).into_response())
}

const JSON_LD: &str = "application/ld+json";

/// `GET /api/orders/{id}/epcis`: the order's events as an EPCIS 2.0 document.
#[utoipa::path(get, path = "/orders/{id}/epcis", summary = "EPCIS 2.0 document (JSON-LD) of an order's events", params(("id" = String, Path, description = "The order id")),
    responses(
        (status = 200, description = "EPCISDocument", content_type = "application/ld+json"),
        (status = 400, description = "Not an order id", body = super::openapi::Error),
        (status = 404, description = "No such document", body = super::openapi::Error),
    )
)]
pub async fn order_epcis(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    let id = DocId::Order(order_id(&id)?);
    let entry = app
        .shared
        .docs
        .get(&app.shared.storage, &id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no {id}"), Some("id")))?;
    let contents = {
        let mut loaded = entry.lock().await;
        doc::order::read(loaded.doc.document()).map_err(|e| StorageError::Corrupt(format!("{id}: {e}")))?
    };
    let body = epcis::order_document(&contents, Utc::now());
    Ok(([(header::CONTENT_TYPE, JSON_LD)], body.to_string()).into_response())
}

/// `GET /api/locations/{id}/epcis`: the current stock epoch's events.
#[utoipa::path(get, path = "/locations/{id}/epcis", summary = "EPCIS 2.0 document (JSON-LD) of a location's current stock epoch's events",
    params(("id" = String, Path, description = "The location id")),
    responses(
        (status = 200, description = "EPCISDocument", content_type = "application/ld+json"),
        (status = 400, description = "Not a location id", body = super::openapi::Error),
        (status = 404, description = "No such document", body = super::openapi::Error),
    )
)]
pub async fn location_epcis(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    let location = id.parse().map_err(|e| ApiError::bad("id", format!("{e}")))?;
    let (_, contents) = planning::location_contents(&app.shared, &location).await.map_err(|e| match e {
        crate::office::OfficeError::Invalid { message, .. } => {
            ApiError::new(StatusCode::NOT_FOUND, message, Some("id"))
        }
        other => other.into(),
    })?;
    let body = epcis::location_document(&contents, Utc::now());
    Ok(([(header::CONTENT_TYPE, JSON_LD)], body.to_string()).into_response())
}

/// The media type of an image, from its first bytes.
/// An image's media type, from its first bytes.
pub(super) fn sniff(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        "image/webp"
    } else if bytes.starts_with(b"<svg") || bytes.starts_with(b"<?xml") {
        "image/svg+xml"
    } else {
        "application/octet-stream"
    }
}

/// `GET /api/blobs/{hash}`: a proof photo or signature. Served so it can
/// only be shown, never run: no scripts, no sniffing.
#[utoipa::path(get, path = "/blobs/{hash}", summary = "A proof photo or signature",
    params(("hash" = String, Path, description = "sha256:<64 hex digits>")),
    responses(
        (status = 200, description = "The image: PNG, JPEG, WebP or SVG, as its first bytes say", content_type = "image/*"),
        (status = 400, description = "Not a blob hash", body = super::openapi::Error),
        (status = 404, description = "Not held (yet)", body = super::openapi::Error),
    )
)]
pub async fn get_blob(State(app): State<App>, Path(hash): Path<String>) -> ApiResult {
    let hash: BlobHash = hash.parse().map_err(|e| ApiError::bad("hash", format!("hash: {e}")))?;
    let Some(bytes) = app.shared.blobs.read(&hash, 0, usize::MAX).await? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no blob {hash} (yet)"), Some("hash")));
    };
    Ok((
        [
            (header::CONTENT_TYPE, sniff(&bytes)),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; sandbox"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "private, max-age=31536000, immutable"),
        ],
        bytes,
    )
        .into_response())
}
