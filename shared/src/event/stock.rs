//! Stock moves at a location: receipts, put-away, adjustments, cycle counts
//! and transfers. Picks, put-backs and restocked returns move stock too; they
//! are in [`super::warehouse`] and [`super::returns`].

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::gs1::Gtin;
use crate::id::{BinId, LocationId};

/// Goods arrived into a bin (EPCIS receiving).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Received {
    /// The bin.
    pub bin: BinId,
    /// The item.
    pub gtin: Gtin,
    /// Units.
    pub quantity: u32,
    /// Batch or lot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    /// Expiry date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<NaiveDate>,
}

/// Goods moved from a receiving bin to a storage bin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PutAway {
    /// Where from.
    pub from_bin: BinId,
    /// Where to.
    pub to_bin: BinId,
    /// The item.
    pub gtin: Gtin,
    /// Units.
    pub quantity: u32,
}

/// Why stock was adjusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AdjustReason {
    /// Broken or spoiled.
    Damaged,
    /// Missing, reason unknown.
    Lost,
    /// Turned up.
    Found,
    /// Past its date.
    Expired,
    /// Fixes a booking error.
    Correction,
}

/// Stock in a bin changed by `delta` units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Adjusted {
    /// The bin.
    pub bin: BinId,
    /// The item.
    pub gtin: Gtin,
    /// Units added (negative: removed).
    pub delta: i64,
    /// Why.
    pub reason: AdjustReason,
}

/// A cycle count: what the device showed and what was on the shelf. It adds
/// `counted - expected`, so picks made at the same time still count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counted {
    /// The bin.
    pub bin: BinId,
    /// The item.
    pub gtin: Gtin,
    /// The balance the device showed when counting.
    pub expected: i64,
    /// Units on the shelf.
    pub counted: i64,
}

/// Stock moved between locations. Written to both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transferred {
    /// Location it left.
    pub from: LocationId,
    /// Bin it left.
    pub from_bin: BinId,
    /// Location it went to.
    pub to: LocationId,
    /// Bin it went to.
    pub to_bin: BinId,
    /// The item.
    pub gtin: Gtin,
    /// Units.
    pub quantity: u32,
}
