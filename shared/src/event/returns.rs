//! Events of customer returns: authorised by the office, received with a
//! disposition (restock or damaged), refunded.

use serde::{Deserialize, Serialize};

use crate::event_id::EventId;
use crate::gs1::Gtin;
use crate::id::{BinId, LocationId, OrderId};

/// Units of one line coming back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReturnLine {
    /// The order line.
    pub line: u32,
    /// The item.
    pub gtin: Gtin,
    /// Units.
    pub quantity: u32,
}

/// The office agreed to take goods back under an RMA number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReturnAuthorised {
    /// The return merchandise authorisation number.
    pub rma: String,
    /// What may come back.
    pub lines: Vec<ReturnLine>,
    /// The customer's `return_requested` event it answers, if any. Without
    /// it, it answers the oldest waiting request for exactly these lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<EventId>,
}

/// What becomes of returned goods (EPCIS dispositions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Sellable: back into a bin.
    Restock,
    /// Damaged: not sellable.
    Damaged,
}

/// Returned goods were received. With `restock` they go into `bin` at
/// `location`, and the event is also written to that location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReturnReceived {
    /// The order.
    pub order: OrderId,
    /// The RMA number, if the return was authorised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rma: Option<String>,
    /// What came back.
    pub lines: Vec<ReturnLine>,
    /// What becomes of it.
    pub disposition: Disposition,
    /// Where it was received.
    pub location: LocationId,
    /// The bin restocked goods go to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin: Option<BinId>,
}

/// Money went back to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefundRecorded {
    /// The RMA number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rma: Option<String>,
    /// Amount in minor units (cents).
    pub amount_minor: u64,
    /// ISO 4217 currency code.
    pub currency: String,
}
