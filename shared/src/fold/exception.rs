//! Exceptions: where offline work collided or went wrong. Each has a stable
//! id (`<kind>:<subject>`), names the events involved, and stays in the view,
//! resolved or not.

mod decisions;

use serde::Serialize;

use crate::blob::BlobHash;
use crate::doc::payment::Currency;
use crate::event::office::Decision;
use crate::event_id::EventId;
use crate::gs1::{Gtin, Sscc};
use crate::id::{BinId, DeviceId, VanId};

pub use decisions::ExceptionType;

/// How far from its address, in metres, a delivery's GPS position may be
/// before the fold flags it ([`ExceptionKind::DeliveredFarFromAddress`]).
///
/// A constant, not a setting: the fold runs on every replica (the server and
/// each device) and must give them all the same exceptions, with the same
/// ids, for the office's resolutions to name. A per-server setting would have
/// to travel to every device, and a change to it would turn exceptions
/// already resolved into new ones. The operator's `--far-delivery-m` only
/// changes which proofs the office map highlights (docs/office.md).
pub const FAR_DELIVERY_M: u32 = 500;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExceptionKind {
    /// More units picked for a line than it ordered.
    OverPick {
        /// The line.
        line: u32,
        /// Units ordered.
        ordered: u32,
        /// Units picked.
        picked: u32,
    },
    /// More units packed for a line than were picked: two packers packed
    /// the same units, or units were put back after packing.
    OverPack {
        /// The line.
        line: u32,
        /// Units picked.
        picked: u32,
        /// Units packed.
        packed: u32,
    },
    /// More units of a line came back than were delivered.
    OverReturn {
        /// The line.
        line: u32,
        /// Units delivered.
        delivered: u32,
        /// Units returned.
        returned: u32,
    },
    /// A picker could not pick all of a line.
    ShortPick {
        /// The line.
        line: u32,
        /// Units missing.
        short: u32,
    },
    /// The item picked is not the line's item.
    WrongItem {
        /// The line.
        line: u32,
        /// The line's item.
        expected: Gtin,
        /// The item scanned.
        picked: Gtin,
    },
    /// An event names a line the order does not have.
    UnknownLine {
        /// The line number named.
        line: u32,
    },
    /// An event names a package the order never packed.
    UnknownPackage {
        /// The package.
        sscc: Sscc,
    },
    /// The order was cancelled and delivered, in either order.
    DeliveredAfterCancel,
    /// Fulfilment work (a pick, short pick, pack, package close, staging,
    /// load, dispatch or failed attempt) recorded after the order was
    /// cancelled. A delivery is [`ExceptionKind::DeliveredAfterCancel`].
    WorkAfterCancel,
    /// A delivery's proof was recorded more than [`FAR_DELIVERY_M`] metres
    /// from the order's address in force (its geocoded point): the driver
    /// may have handed it to the wrong door, or the address's point is wrong.
    DeliveredFarFromAddress {
        /// Great-circle distance from the address to the proof's GPS
        /// position, in whole metres.
        distance_m: u32,
        /// The distance above which a delivery is flagged, in metres.
        limit_m: u32,
    },
    /// A package was delivered more than once.
    DeliveredTwice {
        /// The package.
        sscc: Sscc,
    },
    /// A package was loaded on a second van without coming back first.
    LoadedOnTwoVans {
        /// The package.
        sscc: Sscc,
        /// The vans, in load order.
        vans: Vec<VanId>,
    },
    /// The address changed after the driver set out with the old one.
    AddressAmendedAfterDispatch,
    /// Two address amendments were made without either seeing the other;
    /// the one later in clock order is in force.
    ConcurrentAddressAmendments,
    /// A proof of delivery names a photo or signature this replica does not hold.
    ProofBlobMissing {
        /// The blob.
        blob: BlobHash,
    },
    /// A bin's balance is below zero.
    StockBelowZero {
        /// The bin.
        bin: BinId,
        /// The item.
        gtin: Gtin,
        /// The balance.
        on_hand: i64,
    },
    /// A device promised or handed back more of an item than its quota
    /// held. The write policy refuses such events, so this means a bug or
    /// a device that got round the server.
    QuotaExceeded {
        /// The device.
        device: DeviceId,
        /// The item.
        gtin: Gtin,
        /// Its quota now (below zero).
        remaining: i64,
    },
    /// Devices hold quotas for more units of an item than the location has:
    /// stock left by another way (a pick, an adjustment) while the office
    /// granted, or after. Promises within quota may then not be kept.
    QuotaUncovered {
        /// The item.
        gtin: Gtin,
        /// Units on hand, all bins.
        on_hand: i64,
        /// Units held in quotas.
        held: i64,
    },
    /// An order paid on delivery was handed over with less collected, in
    /// the currency due, than the amount due.
    ShortCollection {
        /// The amount due, in minor units.
        due_minor: u64,
        /// The amount collected over all its deliveries, in minor units.
        collected_minor: u64,
        /// The currency due.
        currency: Currency,
    },
    /// An order paid on delivery was collected for more than was due, over
    /// its deliveries: the customer is owed the difference.
    OverCollection {
        /// The amount due, in minor units.
        due_minor: u64,
        /// The amount collected over all its deliveries, in minor units.
        collected_minor: u64,
        /// The currency due.
        currency: Currency,
    },
    /// An order paid on delivery was handed over with no collection recorded
    /// at all: a device that predates collections, or work merged from one.
    CollectionMissing {
        /// The amount due, in minor units.
        due_minor: u64,
        /// The currency due.
        currency: Currency,
    },
    /// The cash a route's driver handed in at the depot is not the cash the
    /// route's deliveries say was collected.
    CashDifference {
        /// The currency.
        currency: Currency,
        /// Cash collected at the door, by the deliveries, in minor units.
        expected_minor: u64,
        /// Cash handed in, in minor units.
        handed_in_minor: u64,
    },
    /// The customer rated the delivery low: the office follows it up.
    LowRating {
        /// Their rating, 1 to 5.
        rating: u8,
    },
    /// The customer asked to send goods back: the office authorises the
    /// return (or settles it another way).
    ReturnRequested {
        /// What they would send back.
        lines: Vec<crate::event::returns::ReturnLine>,
    },
}

/// An office decision that settled an exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resolution {
    /// The `exception_resolved` event.
    pub event: EventId,
    /// What was decided.
    pub decision: Decision,
    /// The office's note.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// One exception in a view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Exception {
    /// Stable id, `<kind>:<subject>`: what a resolution names.
    pub id: String,
    /// What went wrong.
    #[serde(flatten)]
    pub kind: ExceptionKind,
    /// The events involved, sorted.
    pub events: Vec<EventId>,
    /// The decision that settled it; `None` while open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
}

impl Exception {
    /// Whether it still needs the office.
    pub fn is_open(&self) -> bool {
        self.resolution.is_none()
    }
}
