//! Escrow quotas: stock a device may promise while offline (a driver's van
//! sale at the door, a store handheld's walk-in order).
//!
//! A location's free stock of an item is split, bounded-counter style
//! (Balegas et al., SRDS 2015), into shares held by devices. Only the office
//! (the server) grants a share, and only out of free stock as it sees it;
//! only the device holding a share spends it (a [`Sold`]) or hands it back
//! (a [`QuotaReleased`]). So no two devices ever spend the same unit, and a
//! device's own view of what it holds is never more than what it holds:
//! no set of disconnected devices can sell more than the stock. All three
//! are written to the location's document and merge like any other event;
//! `fold::stock` computes what each device holds.

use serde::{Deserialize, Serialize};

use crate::gs1::Gtin;
use crate::id::{BinId, DeviceId};

/// The office gives `device` the right to promise `quantity` more units of
/// `gtin` from this location's free stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaGranted {
    /// The device that may spend it.
    pub device: DeviceId,
    /// The item.
    pub gtin: Gtin,
    /// Units granted.
    pub quantity: u32,
}

/// The writing device hands back `quantity` units of its unspent quota of
/// `gtin`: they are free stock again, for the office to grant elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaReleased {
    /// The item.
    pub gtin: Gtin,
    /// Units handed back.
    pub quantity: u32,
}

/// The writing device sold (promised and handed over) `quantity` units of
/// `gtin` from `bin`, out of its own quota (EPCIS `retail_selling`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sold {
    /// The bin (a van's shelf, a store's shelf) the units left.
    pub bin: BinId,
    /// The item.
    pub gtin: Gtin,
    /// Units sold.
    pub quantity: u32,
    /// Who bought, as the driver wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
}
