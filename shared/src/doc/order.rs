//! The order document's header: customer, ship-to, lines, promised date and slot,
//! what proof a delivery needs and how the order is paid. Written once by the office when the order is
//! taken in; everything after is events.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::doc::payment::PaymentTerms;
use crate::doc::{Contents, DocError};
use crate::geo::Geo;
use crate::gs1::Gtin;
use crate::id::{LocationId, OrderId};

/// Kind word of order documents.
pub const KIND: &str = "order";

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Address {
    /// Addressee.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// Flat, floor, building.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub line2: String,
    /// Town or city.
    pub city: String,
    /// Postal code.
    pub postcode: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// Coordinates, if geocoded: route planning needs them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderLine {
    /// Line number, unique in the order.
    pub line: u32,
    /// The item.
    pub gtin: Gtin,
    /// What the customer sees.
    pub description: String,
    /// Units ordered.
    pub quantity: u32,
}

/// What a delivery of this order must be proven with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProofRequired {
    /// A signature.
    #[serde(default)]
    pub signature: bool,
    /// A photo.
    #[serde(default)]
    pub photo: bool,
    /// An age check (alcohol, medicine).
    #[serde(default)]
    pub age_check: bool,
}

/// The part of the promised day the customer was given, in the depot's
/// local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Slot {
    /// The first minute.
    pub from: NaiveTime,
    /// The last minute.
    pub to: NaiveTime,
}

/// The order header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderHeader {
    /// The order.
    pub id: OrderId,
    /// Customer name or account.
    pub customer: String,
    /// Where it goes, as taken in.
    pub ship_to: Address,
    /// The lines.
    pub lines: Vec<OrderLine>,
    /// Promised delivery date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised: Option<NaiveDate>,
    /// The slot promised on that day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<Slot>,
    /// The location expected to fulfil it, before allocation decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationId>,
    /// Proof a delivery needs.
    #[serde(default)]
    pub proof: ProofRequired,
    /// How it is paid; `on_account` in headers written before terms
    /// existed.
    #[serde(default, skip_serializing_if = "PaymentTerms::is_on_account")]
    pub payment: PaymentTerms,
    /// When the office took it in.
    pub created_at: DateTime<Utc>,
}

/// Reads an order document.
pub fn read(doc: &automerge::Automerge) -> Result<Contents<OrderHeader>, DocError> {
    super::read(doc, KIND)
}
