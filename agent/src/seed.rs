//! A seed file: orders, locations and routes as the office would hand them
//! down, for a device that has no sync server to get them from (demos,
//! tests, a depot without a link). Importing writes them as the office
//! would: the header, then `order_created`, `allocated` and `pick_assigned`
//! events under an `office` identity.

use serde::Deserialize;
use waybill_shared::doc::location::LocationHeader;
use waybill_shared::doc::order::OrderHeader;
use waybill_shared::doc::route::RouteHeader;
use waybill_shared::event::office::Allocation;
use waybill_shared::id::DeviceId;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Locations, with their bins and opening stock.
    #[serde(default)]
    pub locations: Vec<LocationHeader>,
    /// Orders.
    #[serde(default)]
    pub orders: Vec<SeedOrder>,
    /// Routes.
    #[serde(default)]
    pub routes: Vec<RouteHeader>,
}

/// An order and what the office already decided about it.
#[derive(Debug, Clone, Deserialize)]
pub struct SeedOrder {
    /// The header.
    #[serde(flatten)]
    pub header: OrderHeader,
    /// Stock allocated per line.
    #[serde(default)]
    pub allocations: Vec<Allocation>,
    /// The picker's device it is assigned to.
    #[serde(default)]
    pub pick_device: Option<DeviceId>,
}

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Imported {
    /// Documents created.
    pub created: Vec<String>,
    /// Documents already held, left as they were.
    pub skipped: Vec<String>,
}
