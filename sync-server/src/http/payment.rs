//! Payment routes: a prepaid order's authorisation (or capture) from the
//! payment provider, cash a driver handed in at the depot, and the cash
//! reconciliation per route ([`crate::payment`]).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use waybill_shared::id::RouteId;

use super::{ApiError, ApiResult, App, SignedIn, body, order_id, view_response};
use crate::payment::{self, Handover, PaymentReport};

/// `POST /api/orders/{id}/payment`: records an authorisation or capture;
/// 201 with the order's view when written, 200 when the reference was
/// already recorded (nothing written).
pub async fn record(
    State(app): State<App>,
    axum::Extension(SignedIn(by)): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<PaymentReport>, JsonRejection>,
) -> ApiResult {
    let id = order_id(&id)?;
    let report = body(b)?;
    let written = payment::record(&app.shared, &id, report, Some(by)).await?;
    let mut response = view_response(&app.shared, &id).await?;
    if written {
        *response.status_mut() = StatusCode::CREATED;
    }
    Ok(response)
}

fn route_id(id: &str) -> Result<RouteId, ApiError> {
    id.parse().map_err(|e| ApiError::bad("id", format!("{e}")))
}

/// `POST /api/routes/{id}/cash`: cash the route's driver handed in; answers
/// with the route's reconciliation.
pub async fn hand_in(
    State(app): State<App>,
    axum::Extension(SignedIn(by)): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<Handover>, JsonRejection>,
) -> ApiResult {
    let route = route_id(&id)?;
    let handover = body(b)?;
    payment::hand_in(&app.shared, &route, handover, Some(by)).await?;
    let lines: Vec<_> = payment::reconciliation(&app.shared.storage)
        .await?
        .into_iter()
        .filter(|l| l.route == route.as_str())
        .collect();
    Ok((StatusCode::CREATED, Json(json!({ "route": route, "cash": lines }))).into_response())
}

/// `GET /api/cash`: per route and currency, cash collected against handed in.
pub async fn reconciliation(State(app): State<App>) -> ApiResult {
    Ok(Json(payment::reconciliation(&app.shared.storage).await?).into_response())
}
