//! Payment routes: a prepaid order's authorisation (or capture) from the
//! payment provider, cash a driver handed in at the depot, and the cash
//! reconciliation per route ([`crate::payment`]).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use waybill_shared::id::RouteId;

use super::{ApiError, ApiResult, App, SignedIn, body, order_id, view_response};
use crate::payment::{self, CashLine, Handover, PaymentReport};

/// `POST /api/orders/{id}/payment`: records an authorisation or capture;
/// 201 with the order's view when written, 200 when the reference was
/// already recorded (nothing written).
#[utoipa::path(post, path = "/orders/{id}/payment", summary = "Record a prepaid order's payment authorisation (or capture)",
    description = "An office event. The authorisation lifts the hold on a prepaid order, which can then be allocated. Idempotent by reference: the same reference (and step) again writes nothing and answers 200. A capture needs the authorisation of its reference first. Only prepaid orders take payments.",
    params(("id" = String, Path, description = "The order id")), request_body = PaymentReport,
    responses(
        (status = 201, description = "Recorded: the order's view", body = super::OrderAnswer),
        (status = 200, description = "Already recorded: the order's view, unchanged", body = super::OrderAnswer),
        (status = 400, description = "A field is invalid, or the order is not prepaid", body = super::openapi::Error),
        (status = 404, description = "No such order", body = super::openapi::Error),
    )
)]
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
#[utoipa::path(post, path = "/routes/{id}/cash", summary = "Record cash a route's driver handed in at the depot",
    description = "An office event on the route; handovers add up. Once one is recorded, a currency whose cash handed in differs from what the route's deliveries collected in cash is an exception, cash_difference:<currency>.",
    params(("id" = String, Path, description = "The route id")), request_body = Handover,
    responses(
        (status = 201, description = "The route's reconciliation", body = RouteCash),
        (status = 400, description = "A field is invalid", body = super::openapi::Error),
        (status = 404, description = "No such route", body = super::openapi::Error),
    )
)]
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
    Ok((StatusCode::CREATED, Json(RouteCash { route, cash: lines })).into_response())
}

/// A route's cash reconciliation.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RouteCash {
    route: RouteId,
    cash: Vec<CashLine>,
}

/// `GET /api/cash`: per route and currency, cash collected against handed in.
#[utoipa::path(get, path = "/cash", summary = "Cash reconciliation: per route and currency, cash collected at the door against cash handed in",
    responses((status = 200, description = "One line per route and currency", body = Vec<CashLine>))
)]
pub async fn reconciliation(State(app): State<App>) -> ApiResult {
    Ok(Json(payment::reconciliation(&app.shared.storage).await?).into_response())
}
