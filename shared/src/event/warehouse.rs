//! Events of picking and packing: a picker takes units of a line out of a
//! bin (or puts them back, or cannot find them); a packer puts picked units
//! into a package with an SSCC label, closes and stages it.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::gs1::{Gtin, Sscc};
use crate::id::{BinId, LocationId, OrderId};

/// Units of an order line taken from a bin. Written to the order and the
/// location (it moves stock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Picked {
    /// The order.
    pub order: OrderId,
    /// The order line.
    pub line: u32,
    /// The location picked from.
    pub location: LocationId,
    /// The bin picked from.
    pub bin: BinId,
    /// The item scanned.
    pub gtin: Gtin,
    /// Units picked.
    pub quantity: u32,
    /// Batch or lot, if scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    /// Serial number, if scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Expiry date, if scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<NaiveDate>,
    /// Set when a supervisor let the picker pick more than the line needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<String>,
}

/// Why a picker could not pick all of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ShortReason {
    /// The bin holds fewer units than needed.
    NotEnoughInBin,
    /// The item is not in the bin at all.
    NotFound,
    /// The units are damaged.
    Damaged,
    /// The units are past their expiry date.
    Expired,
}

/// Units of a line that could not be picked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShortPicked {
    /// The order line.
    pub line: u32,
    /// The location.
    pub location: LocationId,
    /// The bin that came up short.
    pub bin: BinId,
    /// Units missing.
    pub quantity: u32,
    /// Why.
    pub reason: ShortReason,
}

/// Picked units go back into a bin. Written to the order and the location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PutBack {
    /// The order.
    pub order: OrderId,
    /// The order line.
    pub line: u32,
    /// The location.
    pub location: LocationId,
    /// The bin the units go back to.
    pub bin: BinId,
    /// The item.
    pub gtin: Gtin,
    /// Units put back.
    pub quantity: u32,
}

/// Units of one line in a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineQuantity {
    /// The order line.
    pub line: u32,
    /// Units.
    pub quantity: u32,
}

/// Outer size of a package in millimetres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dimensions {
    /// Length.
    pub length_mm: u32,
    /// Width.
    pub width_mm: u32,
    /// Height.
    pub height_mm: u32,
}

impl Dimensions {
    /// Outer volume in cubic centimetres (saturating at `u32::MAX`).
    pub fn volume_cm3(&self) -> u32 {
        let mm3 = u64::from(self.length_mm) * u64::from(self.width_mm) * u64::from(self.height_mm);
        u32::try_from(mm3.div_ceil(1_000)).unwrap_or(u32::MAX)
    }
}

/// Picked lines go into a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Packed {
    /// The package's label.
    pub sscc: Sscc,
    /// What went in.
    pub lines: Vec<LineQuantity>,
    /// Weight so far, in grams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_g: Option<u32>,
    /// Outer dimensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<Dimensions>,
}

/// A package is sealed; nothing more goes in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PackageClosed {
    /// The package.
    pub sscc: Sscc,
    /// Final weight in grams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_g: Option<u32>,
}

/// A closed package waits in a staging lane for its van.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Staged {
    /// The package.
    pub sscc: Sscc,
    /// The staging lane or dock door.
    pub area: String,
}
