//! Payments and cash on the server: the office records a prepaid order's
//! payment authorisation (or capture) from the payment provider, and the
//! cash a driver hands in at the depot; and the cash reconciliation per
//! route, read from the route projections.
//!
//! Recording a payment is idempotent by the provider's reference: when the
//! order already holds an authorisation (or capture) with that reference,
//! nothing is written and the answer says so. Two requests racing with one
//! reference on two nodes may both write; the fold still counts the
//! reference once (`waybill_shared::fold::payment`), so the race costs an
//! extra timeline entry, never money.
//!
//! A cash handover is not idempotent: handovers add up, as cash counted in
//! twice does. A retried request shows as a difference in the
//! reconciliation, an exception the office resolves.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use waybill_shared::doc::payment::{Currency, PaymentTerms};
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::Payload;
use waybill_shared::event::payment::{CashHandedIn, PaymentAuthorised, PaymentCaptured};
use waybill_shared::id::{OrderId, RouteId};

use crate::office::{self, OfficeError};
use crate::server::Shared;
use crate::storage::{Storage, StorageError, Value as SqlValue};

/// Longest payment reference accepted.
pub const MAX_REFERENCE_LEN: usize = 255;

/// Which step of a card payment the provider reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The payment is authorised: the order may be fulfilled.
    #[default]
    Authorised,
    /// The authorised payment is captured: the money is taken.
    Captured,
}

/// A payment as the provider reported it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentReport {
    /// Authorised (default) or captured.
    #[serde(default)]
    pub step: Step,
    /// The provider's reference.
    pub reference: String,
    /// Amount, in minor units.
    pub amount_minor: u64,
    /// Its currency.
    pub currency: Currency,
}

fn invalid(field: &str, message: impl Into<String>) -> OfficeError {
    OfficeError::Invalid { field: field.to_owned(), message: message.into() }
}

/// Records `report` on `order`, made by the signed-in user `by`. Returns
/// whether an event was written (`false`: the reference was already
/// recorded for this step, and nothing changed).
pub async fn record(
    shared: &Arc<Shared>,
    order: &OrderId,
    report: PaymentReport,
    by: Option<String>,
) -> Result<bool, OfficeError> {
    let reference = report.reference.trim().to_owned();
    if reference.is_empty() || reference.len() > MAX_REFERENCE_LEN {
        return Err(invalid("reference", format!("must be 1 to {MAX_REFERENCE_LEN} characters")));
    }
    if report.amount_minor == 0 {
        return Err(invalid("amount_minor", "must be at least 1 (minor units, such as cents)"));
    }
    let id = DocId::Order(order.clone());
    let contents = {
        let entry =
            shared.docs.get(&shared.storage, &id).await?.ok_or_else(|| OfficeError::NotFound(id.clone()))?;
        let mut loaded = entry.lock().await;
        doc::order::read(loaded.doc.document()).map_err(|e| StorageError::Corrupt(format!("{id}: {e}")))?
    };
    if contents.header.payment != PaymentTerms::Prepaid {
        return Err(invalid(
            "id",
            format!(
                "order {order} is not prepaid ({}): only a prepaid order takes a payment authorisation",
                contents.header.payment.name().replace('_', " ")
            ),
        ));
    }
    let mut authorised = false;
    for e in &contents.events {
        match (&e.payload, report.step) {
            (Payload::PaymentAuthorised(p), Step::Authorised) if p.reference == reference => {
                return Ok(false);
            }
            (Payload::PaymentCaptured(p), Step::Captured) if p.reference == reference => return Ok(false),
            (Payload::PaymentAuthorised(p), _) if p.reference == reference => authorised = true,
            _ => {}
        }
    }
    let (amount_minor, currency) = (report.amount_minor, report.currency);
    let payload = match report.step {
        Step::Authorised => {
            Payload::PaymentAuthorised(PaymentAuthorised { reference, amount_minor, currency })
        }
        Step::Captured if !authorised => {
            return Err(invalid(
                "reference",
                format!("no authorisation {reference} on order {order}: record the authorisation first"),
            ));
        }
        Step::Captured => Payload::PaymentCaptured(PaymentCaptured { reference, amount_minor, currency }),
    };
    office::office_event(shared, &id, payload, by).await?;
    Ok(true)
}

/// Cash handed in at the depot, as the office counted it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Handover {
    /// Amount, in minor units (0: the driver handed in nothing).
    pub amount_minor: u64,
    /// Its currency.
    pub currency: Currency,
    /// The office's note.
    #[serde(default)]
    pub note: String,
}

/// Records cash the driver of `route` handed in, made by `by`.
pub async fn hand_in(
    shared: &Arc<Shared>,
    route: &RouteId,
    handover: Handover,
    by: Option<String>,
) -> Result<(), OfficeError> {
    let payload = Payload::CashHandedIn(CashHandedIn {
        amount_minor: handover.amount_minor,
        currency: handover.currency,
        note: handover.note.trim().to_owned(),
    });
    office::office_event(shared, &DocId::Route(route.clone()), payload, by).await?;
    Ok(())
}

/// One route's cash in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CashLine {
    /// The route.
    pub route: String,
    /// The driver's device.
    pub driver: String,
    /// The van.
    pub van: String,
    /// The currency.
    pub currency: String,
    /// Cash the route's deliveries collected, in minor units.
    pub expected_minor: u64,
    /// Cash handed in, in minor units.
    pub handed_in_minor: u64,
    /// Handed in less expected.
    pub difference_minor: i64,
    /// Whether the office recorded a handover for the route yet.
    pub handed_in: bool,
    /// The exception open on the difference, if any.
    pub open_exception: Option<String>,
}

/// The cash of every route that collected or was handed any, per currency,
/// from the route projections.
pub async fn reconciliation(storage: &Storage) -> Result<Vec<CashLine>, StorageError> {
    let mut out = Vec::new();
    for row in storage.route_rows().await? {
        let text = |name: &str| match row.columns().find(|(n, _)| *n == name) {
            Some((_, SqlValue::Text(t))) => t.clone(),
            _ => String::new(),
        };
        let (route, driver, van) = (text("id"), text("driver"), text("van"));
        let view: Value = serde_json::from_str(&text("view"))
            .map_err(|e| StorageError::Corrupt(format!("the view of route {route}: {e}")))?;
        let handed_in = view["cash_handed_in"].as_bool().unwrap_or(false);
        for c in view["cash"].as_array().into_iter().flatten() {
            let currency = c["currency"].as_str().unwrap_or_default().to_owned();
            let exception = format!("cash_difference:{currency}");
            let open = view["exceptions"].as_array().into_iter().flatten().any(|e| {
                e["id"].as_str() == Some(exception.as_str()) && e.get("resolution").is_none_or(Value::is_null)
            });
            out.push(CashLine {
                route: route.clone(),
                driver: driver.clone(),
                van: van.clone(),
                expected_minor: c["expected_minor"].as_u64().unwrap_or(0),
                handed_in_minor: c["handed_in_minor"].as_u64().unwrap_or(0),
                difference_minor: c["difference_minor"].as_i64().unwrap_or(0),
                currency,
                handed_in,
                open_exception: open.then_some(exception),
            });
        }
    }
    Ok(out)
}
