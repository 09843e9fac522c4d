//! Events the office writes: intake, address changes, holds, cancellation,
//! allocation, work assignment (stops added to running routes too),
//! decisions on exceptions, and revoking a
//! customer's tracking link.

use serde::{Deserialize, Serialize};

use crate::doc::order::Address;
use crate::event_id::EventId;
use crate::gs1::Sscc;
use crate::id::{DeviceId, LocationId, RouteId};

/// The order was taken in; its header holds the details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderCreated {}

/// The ship-to address changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddressAmended {
    /// The new address.
    pub ship_to: Address,
    /// The address this amendment replaces, as its writer saw it, so that two
    /// amendments made without seeing each other show as an exception.
    /// Absent in amendments written before it existed: those are taken to
    /// follow each other in clock order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Replaces>,
}

/// The address an amendment replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Replaces {
    /// The header's address: the writer knew of no amendment.
    Header,
    /// The amendment in force when it was written.
    Amendment(EventId),
}

/// Work on the order stops until released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Held {
    /// Why it is held.
    pub reason: String,
}

/// A hold is lifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Released {}

/// The order is cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cancelled {
    /// Why it is cancelled.
    pub reason: String,
}

/// Stock at one location set aside for part of one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Allocation {
    /// The order line.
    pub line: u32,
    /// Where the stock is.
    pub location: LocationId,
    /// How many units.
    pub quantity: u32,
}

/// Lines allocated to locations, possibly split across several. A later
/// allocation of the same line replaces the earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Allocated {
    /// Per line and location.
    pub allocations: Vec<Allocation>,
}

/// The order's picking at `location` is given to a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PickAssigned {
    /// The picker's device.
    pub device: DeviceId,
    /// The location to pick from.
    pub location: LocationId,
}

/// A package goes out on a route, at a stop. Written to the order and the route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PackageAssigned {
    /// The order the package belongs to.
    pub order: crate::id::OrderId,
    /// The package.
    pub sscc: Sscc,
    /// The route.
    pub route: RouteId,
    /// The stop on the route, by its sequence number.
    pub stop: u32,
}

/// A stop added to a route already planned, perhaps already on the road:
/// it goes before stop `before` (by sequence number), or last. Stops
/// already done keep their place; the driver's device shows the new stop
/// in the route once it syncs. Written to the route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StopInserted {
    /// The route.
    pub route: RouteId,
    /// The new stop's sequence number, unused on the route so far.
    pub seq: u32,
    /// Orders delivered there.
    pub orders: Vec<crate::id::OrderId>,
    /// Where.
    pub address: Address,
    /// The stop it goes before; last when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u32>,
}

/// What the office decided about an exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// What happened stands as it is.
    Accept,
    /// The offending events were voided by separate `voided` events.
    Voided,
    /// Goods go back to stock.
    Restock,
    /// The customer is refunded.
    Refund,
    /// The order is delivered again.
    Redeliver,
    /// The goods are written off.
    WriteOff,
}

impl Decision {
    /// Its name on the wire, as in the API.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Accept => "accept",
            Decision::Voided => "voided",
            Decision::Restock => "restock",
            Decision::Refund => "refund",
            Decision::Redeliver => "redeliver",
            Decision::WriteOff => "write_off",
        }
    }

    /// What it means, in a few plain words for a clerk.
    pub fn words(self) -> &'static str {
        match self {
            Decision::Accept => "accept: it stands as it is",
            Decision::Voided => "the wrong events were voided",
            Decision::Restock => "put the goods back in stock",
            Decision::Refund => "refund the customer",
            Decision::Redeliver => "deliver again",
            Decision::WriteOff => "write it off",
        }
    }
}

/// An exception is settled. It covers the events listed; an event that joins
/// the same exception later opens it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExceptionResolved {
    /// The exception, by its id in the view.
    pub exception: String,
    /// The events the decision covers.
    pub events: Vec<EventId>,
    /// The decision.
    pub decision: Decision,
    /// Free text for the record.
    #[serde(default)]
    pub note: String,
}

/// A correction: the target event no longer counts. It stays in the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Voided {
    /// The event voided.
    pub target: EventId,
    /// Why.
    pub reason: String,
}

/// The customer's tracking link is revoked (it was sent to the wrong
/// person, say): the link stops working and a new one is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrackingRevoked {
    /// Why.
    #[serde(default)]
    pub reason: String,
}
