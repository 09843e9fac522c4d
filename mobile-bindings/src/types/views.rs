//! What the merged documents say: an order with its lines, packages,
//! proofs and exceptions; a location's stock; a route's stops.

use std::time::SystemTime;

use waybill_shared::doc::order as order_doc;
use waybill_shared::fold::{self, order, payment, quota, route, stock};

use super::input::{FailReason, Gps, Relation};
use super::{all, mirror_enum, strings};

mirror_enum!(
    /// Where an order is in its life.
    OrderStatus = fold::OrderStatus {
        /// Taken in, nothing else yet.
        Created,
        /// On hold.
        Held,
        /// Stock allocated at one or more locations.
        Allocated,
        /// Picking has started or is assigned.
        Picking,
        /// Every line picked (or short-picked).
        Picked,
        /// Every picked unit packed.
        Packed,
        /// Loaded on a van.
        Shipped,
        /// Out for delivery.
        OutForDelivery,
        /// Every package delivered, something still open (an exception).
        Delivered,
        /// The last attempt failed; not delivered.
        Attempted,
        /// Goods came back from the customer.
        Returned,
        /// Cancelled before anything was delivered.
        Cancelled,
        /// Delivered (or returned and refunded) with nothing left open.
        Completed,
    }
);

mirror_enum!(
    /// Where a stop stands.
    StopState = route::StopState {
        /// Not reached yet.
        Pending,
        /// The driver is there, or has settled some packages but not all.
        Arrived,
        /// Every package delivered.
        Delivered,
        /// Every package settled: some delivered, some failed.
        Partial,
        /// Nothing delivered; the attempt failed.
        Failed,
    }
);

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Address {
    /// Addressee.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// Flat, floor, building.
    pub line2: String,
    /// Town or city.
    pub city: String,
    /// Postal code.
    pub postcode: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

impl From<order_doc::Address> for Address {
    fn from(a: order_doc::Address) -> Self {
        Self {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postcode: a.postcode,
            country: a.country,
        }
    }
}

/// One line of an order and how far it has got.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Line {
    /// Line number.
    pub line: u32,
    /// The item (GTIN).
    pub gtin: Option<String>,
    /// Units ordered.
    pub ordered: u32,
    /// Units allocated, over all locations.
    pub allocated: u32,
    /// Units picked (net of put-backs).
    pub picked: u32,
    /// Units reported short.
    pub short: u32,
    /// Units packed.
    pub packed: u32,
    /// Units delivered.
    pub delivered: u32,
    /// Units returned.
    pub returned: u32,
}

impl From<order::LineView> for Line {
    fn from(l: order::LineView) -> Self {
        Self {
            line: l.line,
            gtin: l.gtin.map(|g| g.to_string()),
            ordered: l.ordered,
            allocated: l.allocated,
            picked: l.picked,
            short: l.short,
            packed: l.packed,
            delivered: l.delivered,
            returned: l.returned,
        }
    }
}

/// Where a package is.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Whereabouts {
    /// Being packed.
    Packing,
    /// Sealed, at the pack station.
    Closed,
    /// In a staging lane.
    Staged {
        /// The lane.
        area: String,
    },
    /// On a van.
    OnVan {
        /// The van.
        van: String,
        /// The route.
        route: String,
    },
    /// With the customer.
    Delivered,
    /// Still on the van after a failed attempt.
    AttemptFailed {
        /// Why the attempt failed.
        reason: FailReason,
    },
    /// Back at the depot, off the van.
    AtDepot,
}

impl From<order::Whereabouts> for Whereabouts {
    fn from(w: order::Whereabouts) -> Self {
        use order::Whereabouts as W;
        match w {
            W::Packing => Self::Packing,
            W::Closed => Self::Closed,
            W::Staged { area } => Self::Staged { area },
            W::OnVan { van, route } => Self::OnVan { van: van.to_string(), route: route.to_string() },
            W::Delivered => Self::Delivered,
            W::AttemptFailed { reason } => Self::AttemptFailed { reason: reason.into() },
            W::AtDepot => Self::AtDepot,
        }
    }
}

/// One package of an order.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Package {
    /// Its label (SSCC).
    pub sscc: String,
    /// Units per line inside.
    pub lines: Vec<super::LineQuantity>,
    /// Weight in grams.
    pub weight_g: Option<u32>,
    /// Where it is.
    pub whereabouts: Whereabouts,
    /// The route it is assigned to.
    pub route: Option<String>,
    /// The stop of that route.
    pub stop: Option<u32>,
}

impl From<order::PackageView> for Package {
    fn from(p: order::PackageView) -> Self {
        Self {
            sscc: p.sscc.to_string(),
            lines: all(p.lines),
            weight_g: p.weight_g,
            whereabouts: p.whereabouts.into(),
            route: p.route.as_ref().map(|(r, _)| r.to_string()),
            stop: p.route.map(|(_, s)| s),
        }
    }
}

/// A proof of delivery.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DeliveryProof {
    /// The `delivered` event.
    pub event: String,
    /// The driver's device.
    pub device: String,
    /// When, by the device's clock.
    pub at: SystemTime,
    /// The packages handed over.
    pub packages: Vec<String>,
    /// Name of the person who took it, as given.
    pub recipient_name: Option<String>,
    /// Who took it.
    pub relation: Relation,
    /// Where it was left.
    pub left_at: Option<String>,
    /// The photo's SHA-256, if one was taken.
    pub photo: Option<String>,
    /// The signature's SHA-256, if one was given.
    pub signature: Option<String>,
    /// Where the device was.
    pub gps: Option<Gps>,
    /// The driver's note.
    pub note: String,
    /// Whether an age check was done and passed.
    pub age_check_passed: Option<bool>,
    /// Photos or signatures named but not on this device (yet).
    pub missing: Vec<String>,
}

impl From<order::ProofView> for DeliveryProof {
    fn from(p: order::ProofView) -> Self {
        Self {
            event: p.event.to_string(),
            device: p.device.to_string(),
            at: p.at.into(),
            packages: strings(p.packages),
            recipient_name: p.proof.recipient_name,
            relation: p.proof.relation.into(),
            left_at: p.proof.left_at,
            photo: p.proof.photo.map(|h| h.to_string()),
            signature: p.proof.signature.map(|h| h.to_string()),
            gps: p.proof.gps.map(Gps::from),
            note: p.proof.note,
            age_check_passed: p.proof.age_check_passed,
            missing: strings(p.missing_blobs),
        }
    }
}

/// Where offline work collided or went wrong.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
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
    /// More units packed for a line than were picked.
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
        expected: String,
        /// The item scanned.
        picked: String,
    },
    /// An event names a line the order does not have.
    UnknownLine {
        /// The line number named.
        line: u32,
    },
    /// An event names a package the order never packed.
    UnknownPackage {
        /// The package.
        sscc: String,
    },
    /// The order was cancelled and delivered, in either order.
    DeliveredAfterCancel,
    /// Fulfilment work recorded after the order was cancelled.
    WorkAfterCancel,
    /// A delivery's proof was recorded far from the order's address.
    DeliveredFarFromAddress {
        /// Distance from the address to the proof's GPS position, in metres.
        distance_m: u32,
        /// The distance above which a delivery is flagged, in metres.
        limit_m: u32,
    },
    /// A package was delivered more than once.
    DeliveredTwice {
        /// The package.
        sscc: String,
    },
    /// A package was loaded on a second van without coming back first.
    LoadedOnTwoVans {
        /// The package.
        sscc: String,
        /// The vans, in load order.
        vans: Vec<String>,
    },
    /// The address changed after the driver set out with the old one.
    AddressAmendedAfterDispatch,
    /// Two address amendments were made without either seeing the other.
    ConcurrentAddressAmendments,
    /// A proof of delivery names a photo or signature not on this device.
    ProofBlobMissing {
        /// The photo's or signature's SHA-256.
        blob: String,
    },
    /// A bin's balance is below zero.
    StockBelowZero {
        /// The bin.
        bin: String,
        /// The item.
        gtin: String,
        /// The balance.
        on_hand: i64,
    },
    /// A device promised more of an item than its quota held.
    QuotaExceeded {
        /// The device.
        device: String,
        /// The item.
        gtin: String,
        /// Its quota now (below zero).
        remaining: i64,
    },
    /// Devices hold quotas for more of an item than the location has.
    QuotaUncovered {
        /// The item.
        gtin: String,
        /// Units on hand, all bins.
        on_hand: i64,
        /// Units held in quotas.
        held: i64,
    },
    /// An order paid on delivery was handed over with less collected than due.
    ShortCollection {
        /// The amount due, in minor units.
        due_minor: u64,
        /// The amount collected, in minor units.
        collected_minor: u64,
        /// The currency due.
        currency: String,
    },
    /// An order paid on delivery was collected for more than was due.
    OverCollection {
        /// The amount due, in minor units.
        due_minor: u64,
        /// The amount collected, in minor units.
        collected_minor: u64,
        /// The currency due.
        currency: String,
    },
    /// An order paid on delivery was handed over with no collection recorded.
    CollectionMissing {
        /// The amount due, in minor units.
        due_minor: u64,
        /// The currency due.
        currency: String,
    },
    /// The cash a driver handed in is not what their deliveries collected.
    CashDifference {
        /// The currency.
        currency: String,
        /// Cash collected at the door, in minor units.
        expected_minor: u64,
        /// Cash handed in, in minor units.
        handed_in_minor: u64,
    },
    /// The customer rated the delivery low: the office follows it up.
    LowRating {
        /// Their rating, 1 to 5.
        rating: u8,
    },
    /// The customer asked to send goods back; the office authorises it.
    ReturnRequested {
        /// Units per line they would send back.
        lines: Vec<crate::types::input::LineQuantity>,
    },
}

impl From<fold::ExceptionKind> for ExceptionKind {
    fn from(k: fold::ExceptionKind) -> Self {
        use fold::ExceptionKind as K;
        match k {
            K::OverPick { line, ordered, picked } => Self::OverPick { line, ordered, picked },
            K::OverPack { line, picked, packed } => Self::OverPack { line, picked, packed },
            K::OverReturn { line, delivered, returned } => Self::OverReturn { line, delivered, returned },
            K::ShortPick { line, short } => Self::ShortPick { line, short },
            K::WrongItem { line, expected, picked } => {
                Self::WrongItem { line, expected: expected.to_string(), picked: picked.to_string() }
            }
            K::UnknownLine { line } => Self::UnknownLine { line },
            K::UnknownPackage { sscc } => Self::UnknownPackage { sscc: sscc.to_string() },
            K::DeliveredAfterCancel => Self::DeliveredAfterCancel,
            K::WorkAfterCancel => Self::WorkAfterCancel,
            K::DeliveredFarFromAddress { distance_m, limit_m } => {
                Self::DeliveredFarFromAddress { distance_m, limit_m }
            }
            K::DeliveredTwice { sscc } => Self::DeliveredTwice { sscc: sscc.to_string() },
            K::LoadedOnTwoVans { sscc, vans } => {
                Self::LoadedOnTwoVans { sscc: sscc.to_string(), vans: strings(vans) }
            }
            K::AddressAmendedAfterDispatch => Self::AddressAmendedAfterDispatch,
            K::ConcurrentAddressAmendments => Self::ConcurrentAddressAmendments,
            K::ProofBlobMissing { blob } => Self::ProofBlobMissing { blob: blob.to_string() },
            K::StockBelowZero { bin, gtin, on_hand } => {
                Self::StockBelowZero { bin: bin.to_string(), gtin: gtin.to_string(), on_hand }
            }
            K::QuotaExceeded { device, gtin, remaining } => {
                Self::QuotaExceeded { device: device.to_string(), gtin: gtin.to_string(), remaining }
            }
            K::QuotaUncovered { gtin, on_hand, held } => {
                Self::QuotaUncovered { gtin: gtin.to_string(), on_hand, held }
            }
            K::ShortCollection { due_minor, collected_minor, currency } => {
                Self::ShortCollection { due_minor, collected_minor, currency: currency.to_string() }
            }
            K::OverCollection { due_minor, collected_minor, currency } => {
                Self::OverCollection { due_minor, collected_minor, currency: currency.to_string() }
            }
            K::CollectionMissing { due_minor, currency } => {
                Self::CollectionMissing { due_minor, currency: currency.to_string() }
            }
            K::CashDifference { currency, expected_minor, handed_in_minor } => {
                Self::CashDifference { currency: currency.to_string(), expected_minor, handed_in_minor }
            }
            K::LowRating { rating } => Self::LowRating { rating },
            K::ReturnRequested { lines } => {
                Self::ReturnRequested { lines: lines.iter().map(|l| (l.line, l.quantity).into()).collect() }
            }
        }
    }
}

mirror_enum!(
    /// Where an order's payment stands.
    PaymentState = payment::PaymentState {
        /// Invoiced to the customer's account.
        OnAccount,
        /// Prepaid, not yet authorised: the order is held.
        AwaitingPayment,
        /// Prepaid and authorised.
        Authorised,
        /// Prepaid and captured.
        Captured,
        /// Paid on delivery, not delivered yet.
        Due,
        /// Paid on delivery and collected in full.
        Collected,
        /// Paid on delivery and delivered with less collected than due.
        Short,
    }
);

/// How an order is paid and where payment stands.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Payment {
    /// The terms: `on_account`, `prepaid` or `on_delivery`.
    pub terms: String,
    /// Where payment stands.
    pub state: PaymentState,
    /// For payment on delivery: the amount due, in minor units.
    pub due_minor: Option<u64>,
    /// For payment on delivery: what is still to collect, in minor units.
    pub outstanding_minor: Option<u64>,
    /// For payment on delivery: the currency due.
    pub currency: Option<String>,
}

impl From<payment::PaymentView> for Payment {
    fn from(p: payment::PaymentView) -> Self {
        let due = p.terms.due_on_delivery();
        Self {
            terms: p.terms.name().to_owned(),
            state: p.state.into(),
            due_minor: due.map(|(amount, _)| amount),
            currency: due.map(|(_, c)| c.to_string()),
            outstanding_minor: p.outstanding_minor,
        }
    }
}

/// An exception in a view: open until the office resolves it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OrderException {
    /// Stable id, `<kind>:<subject>`.
    pub id: String,
    /// What went wrong.
    pub kind: ExceptionKind,
    /// The events involved.
    pub events: Vec<String>,
    /// Whether it still needs the office.
    pub open: bool,
}

impl From<fold::Exception> for OrderException {
    fn from(e: fold::Exception) -> Self {
        Self { open: e.is_open(), id: e.id, kind: e.kind.into(), events: strings(e.events) }
    }
}

/// The merged state of one order, with its exceptions.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Order {
    /// The order.
    pub id: String,
    /// Customer name or account.
    pub customer: String,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// The address in force (the latest amendment, or the order's).
    pub ship_to: Address,
    /// Promised delivery date (ISO 8601).
    pub promised: Option<String>,
    /// Whether a hold is in force.
    pub held: bool,
    /// Whether it was cancelled.
    pub cancelled: bool,
    /// The lines and how far each has got.
    pub lines: Vec<Line>,
    /// Packages.
    pub packages: Vec<Package>,
    /// Proofs of delivery.
    pub proofs: Vec<DeliveryProof>,
    /// How it is paid and where payment stands.
    pub payment: Payment,
    /// Every exception, open or resolved.
    pub exceptions: Vec<OrderException>,
}

impl From<fold::OrderView> for Order {
    fn from(v: fold::OrderView) -> Self {
        Self {
            id: v.header.id.to_string(),
            customer: v.header.customer,
            status: v.status.into(),
            ship_to: v.ship_to.into(),
            promised: v.header.promised.map(|d| d.to_string()),
            held: v.held,
            cancelled: v.cancelled,
            lines: all(v.lines),
            packages: all(v.packages),
            proofs: all(v.proofs),
            payment: v.payment.into(),
            exceptions: all(v.exceptions),
        }
    }
}

/// Units of an item in a bin.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StockLine {
    /// The bin.
    pub bin: String,
    /// The item (GTIN).
    pub gtin: String,
    /// Units on hand.
    pub on_hand: i64,
}

/// What one device may still promise of one item at a location.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Quota {
    /// The device.
    pub device: String,
    /// The item (GTIN).
    pub gtin: String,
    /// Units granted (carried over included).
    pub granted: i64,
    /// Units sold.
    pub sold: i64,
    /// Units handed back.
    pub released: i64,
    /// Units it may still promise.
    pub remaining: i64,
}

impl From<quota::Quota> for Quota {
    fn from(q: quota::Quota) -> Self {
        Self {
            device: q.device.to_string(),
            gtin: q.gtin.to_string(),
            granted: q.opening + q.granted,
            sold: q.sold,
            released: q.released,
            remaining: q.remaining,
        }
    }
}

/// The merged stock of a location.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StockView {
    /// The location.
    pub location: String,
    /// Units per bin and item.
    pub stock: Vec<StockLine>,
    /// What each device may still promise here, per item.
    pub quotas: Vec<Quota>,
    /// Every exception, open or resolved.
    pub exceptions: Vec<OrderException>,
}

impl From<stock::StockView> for StockView {
    fn from(v: stock::StockView) -> Self {
        let line = |s: stock::StockLine| StockLine {
            bin: s.bin.to_string(),
            gtin: s.gtin.to_string(),
            on_hand: s.on_hand,
        };
        Self {
            location: v.location.to_string(),
            stock: v.stock.into_iter().map(line).collect(),
            quotas: all(v.quotas),
            exceptions: all(v.exceptions),
        }
    }
}

/// One stop of a route.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Stop {
    /// Sequence number.
    pub seq: u32,
    /// Orders delivered here.
    pub orders: Vec<String>,
    /// Where.
    pub address: Address,
    /// Packages for this stop.
    pub packages: Vec<String>,
    /// Packages handed over.
    pub delivered: Vec<String>,
    /// Packages whose last attempt failed.
    pub failed: Vec<String>,
    /// Where the stop stands.
    pub state: StopState,
}

impl From<route::StopView> for Stop {
    fn from(s: route::StopView) -> Self {
        Self {
            seq: s.seq,
            orders: strings(s.orders),
            address: s.address.into(),
            packages: strings(s.packages),
            delivered: strings(s.delivered),
            failed: strings(s.failed),
            state: s.state.into(),
        }
    }
}

/// The merged state of a route.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Route {
    /// The route.
    pub id: String,
    /// The driver's device.
    pub driver: String,
    /// The van.
    pub van: String,
    /// Stops in sequence.
    pub stops: Vec<Stop>,
    /// The first stop not finished.
    pub next_stop: Option<u32>,
}

impl From<fold::RouteView> for Route {
    fn from(v: fold::RouteView) -> Self {
        Self {
            id: v.id.to_string(),
            driver: v.driver.to_string(),
            van: v.van.to_string(),
            stops: all(v.stops),
            next_stop: v.next_stop,
        }
    }
}
