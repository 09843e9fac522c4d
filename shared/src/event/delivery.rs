//! Events of the driver's run: loading packages on a van, going out,
//! arriving at a stop, delivering with proof or failing an attempt, and
//! bringing undelivered packages back to the depot.

use serde::{Deserialize, Serialize};

use crate::blob::BlobHash;
use crate::event::payment::Collection;
use crate::event_id::EventId;
use crate::gs1::Sscc;
use crate::id::{OrderId, RouteId, VanId};

/// A position from the device's GNSS receiver.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Gps {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Horizontal accuracy in metres, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f32>,
}

/// A package goes on a van.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Loaded {
    /// The package.
    pub sscc: Sscc,
    /// The route it goes out on.
    pub route: RouteId,
    /// The van.
    pub van: VanId,
}

/// The order's packages leave the depot. `address_seen` is the last address
/// amendment the device knew of (`None`: the header's address), so an
/// amendment the driver never saw shows as an exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutForDelivery {
    /// The route.
    pub route: RouteId,
    /// The address amendment the driver is working from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_seen: Option<EventId>,
}

/// The driver reached a stop. Written to the route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArrivedAtStop {
    /// The route.
    pub route: RouteId,
    /// The stop's sequence number.
    pub stop: u32,
    /// Where the device was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps: Option<Gps>,
}

/// Who took the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The addressee.
    Recipient,
    /// A neighbour.
    Neighbour,
    /// Left in a safe place.
    SafePlace,
    /// Put in the mailbox.
    Mailbox,
}

/// Proof of delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Proof {
    /// Name of the person who took it, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_name: Option<String>,
    /// Who took it.
    pub relation: Relation,
    /// Where it was left (a safe place, a neighbour's address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_at: Option<String>,
    /// Photo, by blob hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<BlobHash>,
    /// Signature image, by blob hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<BlobHash>,
    /// Where the device was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps: Option<Gps>,
    /// The driver's note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Whether an age check was done and passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_check_passed: Option<bool>,
}

impl Proof {
    /// The blobs this proof names.
    pub fn blobs(&self) -> impl Iterator<Item = &BlobHash> {
        self.photo.iter().chain(self.signature.iter())
    }
}

/// Packages handed over. Written to the order and the route. The device's
/// wall time is the event's `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivered {
    /// The order.
    pub order: OrderId,
    /// The route.
    pub route: RouteId,
    /// The stop's sequence number.
    pub stop: u32,
    /// The packages handed over.
    pub packages: Vec<Sscc>,
    /// Proof of delivery.
    pub proof: Proof,
    /// Money taken at the door, for an order paid on delivery. Absent in
    /// deliveries of other orders, and in those written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<Collection>,
}

/// Why a delivery attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// Nobody answered and there is no safe place.
    NotHome,
    /// The recipient refused the package.
    Refused,
    /// The address could not be found.
    AddressNotFound,
    /// The driver could not get in.
    NoAccess,
    /// The recipient failed the age check.
    AgeCheckFailed,
    /// The package is damaged.
    Damaged,
}

/// A delivery attempt failed. Written to the order and the route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptFailed {
    /// The order.
    pub order: OrderId,
    /// The route.
    pub route: RouteId,
    /// The stop's sequence number.
    pub stop: u32,
    /// The packages not delivered.
    pub packages: Vec<Sscc>,
    /// Why.
    pub reason: FailReason,
    /// Where the device was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps: Option<Gps>,
    /// The driver's note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// An undelivered package came back to the depot and off the van.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReturnedToDepot {
    /// The package.
    pub sscc: Sscc,
    /// The route it came back from.
    pub route: RouteId,
}
