//! Events of money: a prepaid order's payment authorised and captured (the
//! office, from the payment provider), cash or card taken at the door (part
//! of a `delivered` event), and the cash a driver hands in at the depot.
//!
//! An authorisation or capture carries the provider's reference. The same
//! reference recorded twice (a retried request, two office nodes) counts
//! once in the fold: the first in fold order stands, the others are shown
//! as repeats.

use serde::{Deserialize, Serialize};

use crate::doc::payment::Currency;

/// How money was taken at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CollectionMethod {
    /// Notes and coins: the driver carries it back to the depot.
    Cash,
    /// A card payment at the door (a terminal or a phone): nothing to hand in.
    Card,
}

/// What a driver collected at the door for an order paid on delivery.
/// Part of the `delivered` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Collection {
    /// Amount taken, in minor units.
    pub amount_minor: u64,
    /// Its currency.
    pub currency: Currency,
    /// Cash or card.
    pub method: CollectionMethod,
}

/// The payment provider authorised a payment for the order: a prepaid order
/// may now be fulfilled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentAuthorised {
    /// The provider's reference for the payment: what makes recording it
    /// twice harmless.
    pub reference: String,
    /// Amount authorised, in minor units.
    pub amount_minor: u64,
    /// Its currency.
    pub currency: Currency,
}

/// An authorised payment was captured: the money is taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentCaptured {
    /// The provider's reference for the payment.
    pub reference: String,
    /// Amount captured, in minor units.
    pub amount_minor: u64,
    /// Its currency.
    pub currency: Currency,
}

/// Cash the driver of a route handed in at the depot, counted by the
/// office. Written to the route; several add up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CashHandedIn {
    /// Amount handed in, in minor units (0: the driver handed in nothing).
    pub amount_minor: u64,
    /// Its currency.
    pub currency: Currency,
    /// The office's note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}
