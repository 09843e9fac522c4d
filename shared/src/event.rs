//! Events: the only way a device changes shared state.
//!
//! An [`Event`] is an envelope (fleet-unique id, hybrid logical clock, the
//! device's wall time, who did it, a version) around a typed [`Payload`].
//! Events are immutable: a correction is a new [`Payload::Voided`] event that
//! names the earlier one. Words follow GS1 EPCIS business steps where they fit
//! (receiving, picking, packing, loading, departing, arriving, accepting,
//! returning, cycle counting).
//!
//! The JSON form is the stable wire and storage form: `{"v":1, "id":..,
//! "hlc":.., "at":.., "by":.., "payload":{"type":"picked", ..}}`. Fields are
//! only ever added, with defaults, within a version.

pub mod customer;
pub mod delivery;
pub mod office;
pub mod payment;
pub mod quota;
pub mod returns;
pub mod stock;
pub mod warehouse;
mod words;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::doc::DocId;
use crate::event_id::EventId;
use crate::hlc::Hlc;
use crate::role::Role;

use customer::*;
use delivery::*;
use office::*;
use payment::*;
use quota::*;
use returns::*;
use stock::*;
use warehouse::*;

/// The event format version this build writes and reads.
pub const EVENT_VERSION: u16 = 1;

/// One thing that happened, recorded by one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Format version, [`EVENT_VERSION`].
    pub v: u16,
    /// Fleet-unique id; its device is the device that wrote it.
    pub id: EventId,
    /// Hybrid logical clock value: the order the fold applies events in.
    pub hlc: Hlc,
    /// The device's wall-clock time when it happened.
    pub at: DateTime<Utc>,
    /// The person signed in on the device, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// What happened.
    pub payload: Payload,
}

/// Event text that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The event is from a newer format than this build reads.
    #[error("event format version {found} is newer than {EVENT_VERSION}, the newest this build reads")]
    UnsupportedVersion {
        /// The version found.
        found: u16,
    },
    /// The text is not a valid event.
    #[error("malformed event: {0}")]
    Malformed(String),
}

impl Event {
    /// An event of the current format version.
    pub fn new(id: EventId, hlc: Hlc, at: DateTime<Utc>, by: Option<String>, payload: Payload) -> Self {
        Self { v: EVENT_VERSION, id, hlc, at, by, payload }
    }

    /// The stable JSON form.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the JSON form. An event of a newer format gets a clear answer
    /// (its version) rather than a confusing field error; the version is
    /// read on its own only when the event does not read whole, so a good
    /// event is parsed once.
    pub fn from_json(text: &str) -> Result<Self, EventError> {
        #[derive(Deserialize)]
        struct Version {
            v: u16,
        }
        let newer = |v: u16| (v > EVENT_VERSION).then_some(EventError::UnsupportedVersion { found: v });
        match serde_json::from_str::<Self>(text) {
            Ok(event) => newer(event.v).map_or(Ok(event), Err),
            Err(e) => Err(match serde_json::from_str::<Version>(text) {
                Ok(Version { v }) => newer(v).unwrap_or_else(|| EventError::Malformed(e.to_string())),
                Err(_) => EventError::Malformed(e.to_string()),
            }),
        }
    }
}

/// What happened. The `type` tag is the stable name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(missing_docs)] // each variant's struct carries the docs
pub enum Payload {
    OrderCreated(OrderCreated),
    AddressAmended(AddressAmended),
    Held(Held),
    Released(Released),
    Cancelled(Cancelled),
    Allocated(Allocated),
    PickAssigned(PickAssigned),
    PackageAssigned(PackageAssigned),
    StopInserted(StopInserted),
    ExceptionResolved(ExceptionResolved),
    Voided(Voided),
    Picked(Picked),
    ShortPicked(ShortPicked),
    PutBack(PutBack),
    Packed(Packed),
    PackageClosed(PackageClosed),
    Staged(Staged),
    Loaded(Loaded),
    OutForDelivery(OutForDelivery),
    ArrivedAtStop(ArrivedAtStop),
    Delivered(Delivered),
    AttemptFailed(AttemptFailed),
    ReturnedToDepot(ReturnedToDepot),
    ReturnAuthorised(ReturnAuthorised),
    ReturnReceived(ReturnReceived),
    RefundRecorded(RefundRecorded),
    Received(Received),
    PutAway(PutAway),
    Adjusted(Adjusted),
    Counted(Counted),
    Transferred(Transferred),
    QuotaGranted(QuotaGranted),
    QuotaReleased(QuotaReleased),
    Sold(Sold),
    PaymentAuthorised(PaymentAuthorised),
    PaymentCaptured(PaymentCaptured),
    CashHandedIn(CashHandedIn),
    TrackingRevoked(TrackingRevoked),
    FeedbackGiven(FeedbackGiven),
    ReturnRequested(ReturnRequested),
}

impl Payload {
    /// The stable type name, as in the JSON `type` tag.
    pub fn name(&self) -> &'static str {
        use Payload::*;
        match self {
            OrderCreated(_) => "order_created",
            AddressAmended(_) => "address_amended",
            Held(_) => "held",
            Released(_) => "released",
            Cancelled(_) => "cancelled",
            Allocated(_) => "allocated",
            PickAssigned(_) => "pick_assigned",
            PackageAssigned(_) => "package_assigned",
            StopInserted(_) => "stop_inserted",
            ExceptionResolved(_) => "exception_resolved",
            Voided(_) => "voided",
            Picked(_) => "picked",
            ShortPicked(_) => "short_picked",
            PutBack(_) => "put_back",
            Packed(_) => "packed",
            PackageClosed(_) => "package_closed",
            Staged(_) => "staged",
            Loaded(_) => "loaded",
            OutForDelivery(_) => "out_for_delivery",
            ArrivedAtStop(_) => "arrived_at_stop",
            Delivered(_) => "delivered",
            AttemptFailed(_) => "attempt_failed",
            ReturnedToDepot(_) => "returned_to_depot",
            ReturnAuthorised(_) => "return_authorised",
            ReturnReceived(_) => "return_received",
            RefundRecorded(_) => "refund_recorded",
            Received(_) => "received",
            PutAway(_) => "put_away",
            Adjusted(_) => "adjusted",
            Counted(_) => "counted",
            Transferred(_) => "transferred",
            QuotaGranted(_) => "quota_granted",
            QuotaReleased(_) => "quota_released",
            Sold(_) => "sold",
            PaymentAuthorised(_) => "payment_authorised",
            PaymentCaptured(_) => "payment_captured",
            CashHandedIn(_) => "cash_handed_in",
            TrackingRevoked(_) => "tracking_revoked",
            FeedbackGiven(_) => "feedback_given",
            ReturnRequested(_) => "return_requested",
        }
    }

    /// Whether a device of `role` may write this event.
    pub fn allowed_for(&self, role: Role) -> bool {
        use Payload::*;
        use Role::*;
        let warehouse = matches!(role, Picker | Packer | Office);
        match self {
            // Anyone may void their own events; the policy checks whose.
            Voided(_) => true,
            OrderCreated(_) | AddressAmended(_) | Held(_) | Released(_) | Cancelled(_) | Allocated(_)
            | PickAssigned(_) | PackageAssigned(_) | StopInserted(_) | ExceptionResolved(_)
            | ReturnAuthorised(_) | RefundRecorded(_) | PaymentAuthorised(_) | PaymentCaptured(_)
            | CashHandedIn(_) | TrackingRevoked(_) | FeedbackGiven(_) | ReturnRequested(_) => role == Office,
            Picked(_) | ShortPicked(_) | PutBack(_) => role == Picker,
            Packed(_) | PackageClosed(_) | Staged(_) => role == Packer,
            Loaded(_) | OutForDelivery(_) | ArrivedAtStop(_) | Delivered(_) | AttemptFailed(_)
            | ReturnedToDepot(_) => role == Driver,
            ReturnReceived(_) => true,
            Received(_) | PutAway(_) | Adjusted(_) | Counted(_) | Transferred(_) => warehouse,
            QuotaGranted(_) => role == Office,
            // The devices that promise stock offline: a driver selling from
            // the van, a store handheld taking a walk-in order.
            QuotaReleased(_) | Sold(_) => matches!(role, Driver | Picker),
        }
    }

    /// Whether this event is written to document `doc`. Events that concern
    /// two documents (a pick moves stock and progresses an order) are written,
    /// identical, to both.
    pub fn belongs_in(&self, doc: &DocId) -> bool {
        use Payload::*;
        match (doc, self) {
            (_, ExceptionResolved(_) | Voided(_)) => true,
            (DocId::Order(o), Picked(p)) => &p.order == o,
            (DocId::Order(o), PutBack(p)) => &p.order == o,
            (DocId::Order(o), PackageAssigned(p)) => &p.order == o,
            (DocId::Order(o), Delivered(d)) => &d.order == o,
            (DocId::Order(o), AttemptFailed(a)) => &a.order == o,
            (DocId::Order(o), ReturnReceived(r)) => &r.order == o,
            (DocId::Order(_), p) => !matches!(
                p,
                ArrivedAtStop(_)
                    | StopInserted(_)
                    | Received(_)
                    | PutAway(_)
                    | Adjusted(_)
                    | Counted(_)
                    | Transferred(_)
                    | QuotaGranted(_)
                    | QuotaReleased(_)
                    | Sold(_)
                    | CashHandedIn(_)
            ),
            (DocId::Location { id, .. }, p) => match p {
                Received(_) | PutAway(_) | Adjusted(_) | Counted(_) => true,
                QuotaGranted(_) | QuotaReleased(_) | Sold(_) => true,
                Transferred(t) => &t.from == id || &t.to == id,
                Picked(p) => &p.location == id,
                PutBack(p) => &p.location == id,
                ReturnReceived(r) => &r.location == id && r.disposition == Disposition::Restock,
                _ => false,
            },
            (DocId::Route(r), p) => match p {
                ArrivedAtStop(a) => &a.route == r,
                Delivered(d) => &d.route == r,
                AttemptFailed(a) => &a.route == r,
                PackageAssigned(p) => &p.route == r,
                StopInserted(s) => &s.route == r,
                CashHandedIn(_) => true,
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{DeviceId, LocationId, OrderId};

    fn sample() -> Event {
        Event::new(
            EventId::new(DeviceId::new("hh-1").unwrap(), 3),
            Hlc { ms: 1_700_000_000_000, n: 2 },
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            Some("ana".into()),
            Payload::Held(Held { reason: "fraud check".into() }),
        )
    }

    #[test]
    fn json_form_is_stable() {
        let e = sample();
        let json = e.to_json();
        assert_eq!(
            json,
            r#"{"v":1,"id":"hh-1:3","hlc":{"ms":1700000000000,"n":2},"at":"2023-11-14T22:13:20Z","by":"ana","payload":{"type":"held","reason":"fraud check"}}"#
        );
        assert_eq!(Event::from_json(&json).unwrap(), e);
    }

    #[test]
    fn payload_name_matches_the_json_tag() {
        let e = sample();
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["payload"]["type"], e.payload.name());
    }

    #[test]
    fn newer_versions_and_garbage_get_clear_errors() {
        let newer = sample().to_json().replace("\"v\":1", "\"v\":9");
        assert_eq!(Event::from_json(&newer), Err(EventError::UnsupportedVersion { found: 9 }));
        // A newer event that does not read as any we know still says so.
        let newer_kind = newer.replace("\"held\"", "\"teleported\"");
        assert_eq!(Event::from_json(&newer_kind), Err(EventError::UnsupportedVersion { found: 9 }));
        assert!(matches!(Event::from_json("{}"), Err(EventError::Malformed(_))));
        let unknown = sample().to_json().replace("\"held\"", "\"teleported\"");
        assert!(
            matches!(Event::from_json(&unknown), Err(EventError::Malformed(m)) if m.contains("teleported"))
        );
    }

    #[test]
    fn roles_and_documents() {
        let order = OrderId::new("o1").unwrap();
        let loc = LocationId::new("wh1").unwrap();
        let held = sample().payload;
        assert!(held.allowed_for(Role::Office));
        assert!(!held.allowed_for(Role::Driver));
        assert!(held.belongs_in(&DocId::Order(order.clone())));
        assert!(!held.belongs_in(&DocId::Location { id: loc.clone(), epoch: 0 }));
        let count = Payload::Counted(Counted {
            bin: "A-1".parse().unwrap(),
            gtin: "09506000134352".parse().unwrap(),
            expected: 4,
            counted: 3,
        });
        assert!(count.allowed_for(Role::Picker) && !count.allowed_for(Role::Driver));
        assert!(count.belongs_in(&DocId::Location { id: loc, epoch: 2 }));
        assert!(!count.belongs_in(&DocId::Order(order)));
    }
}
