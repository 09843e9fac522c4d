//! Returns from the office: authorising a return (one the customer asked
//! for on the tracking page, or one taken on the phone) under an RMA
//! number, and recording the refund. Receiving the goods is a device's
//! `return_received`, with its disposition.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use serde::Deserialize;
use waybill_shared::event::Payload;
use waybill_shared::event::returns::{RefundRecorded, ReturnAuthorised, ReturnLine};
use waybill_shared::event_id::EventId;

use super::{ApiResult, App, SignedIn, body, order_event};

/// A return the office agrees to.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Authorise {
    rma: String,
    lines: Vec<ReturnLine>,
    /// The customer's request it answers (its `return_requested` event).
    #[serde(default)]
    request: Option<EventId>,
}

/// `POST /api/orders/{id}/returns`: authorises a return; the customer's
/// request it names (or the oldest waiting for exactly these lines) is
/// settled by it.
#[utoipa::path(post, path = "/orders/{id}/returns", summary = "Authorise a return under an RMA number",
    description = "An office event (return_authorised). It settles the return the customer asked for on the tracking page that it names, or the oldest waiting for exactly these lines (its return_requested exception goes); the goods are then received by a device (return_received, with a disposition) and refunded (POST /api/orders/{id}/refund).",
    params(("id" = String, Path, description = "The order id")), request_body = Authorise,
    responses(
        (status = 200, description = "The order's view", body = super::OrderAnswer),
        (status = 400, description = "A field is invalid", body = super::openapi::Error),
        (status = 404, description = "No such order", body = super::openapi::Error),
    )
)]
pub async fn authorise(
    State(app): State<App>,
    axum::Extension(by): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<Authorise>, JsonRejection>,
) -> ApiResult {
    let Authorise { rma, lines, request } = body(b)?;
    order_event(&app, by, &id, Payload::ReturnAuthorised(ReturnAuthorised { rma, lines, request })).await
}

/// Money going back to the customer.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refund {
    #[serde(default)]
    rma: Option<String>,
    amount_minor: u64,
    currency: String,
}

/// `POST /api/orders/{id}/refund`: records a refund.
#[utoipa::path(post, path = "/orders/{id}/refund", summary = "Record a refund to the customer",
    description = "An office event (refund_recorded); the customer is told by email.",
    params(("id" = String, Path, description = "The order id")), request_body = Refund,
    responses(
        (status = 200, description = "The order's view", body = super::OrderAnswer),
        (status = 400, description = "A field is invalid", body = super::openapi::Error),
        (status = 404, description = "No such order", body = super::openapi::Error),
    )
)]
pub async fn refund(
    State(app): State<App>,
    axum::Extension(by): axum::Extension<SignedIn>,
    Path(id): Path<String>,
    b: Result<Json<Refund>, JsonRejection>,
) -> ApiResult {
    let Refund { rma, amount_minor, currency } = body(b)?;
    order_event(&app, by, &id, Payload::RefundRecorded(RefundRecorded { rma, amount_minor, currency })).await
}
