//! Events in words a clerk reads: what happened, without type names or ids.

use super::Payload;

impl Payload {
    /// What happened, in a few plain words ("picked", "delivered with
    /// proof"): how the office page names an event.
    pub fn words(&self) -> &'static str {
        use Payload::*;
        match self {
            OrderCreated(_) => "order taken in",
            AddressAmended(_) => "address changed",
            Held(_) => "put on hold",
            Released(_) => "released from hold",
            Cancelled(_) => "cancelled",
            Allocated(_) => "allocated to a warehouse",
            PickAssigned(_) => "pick assigned",
            PackageAssigned(_) => "package put on a route",
            StopInserted(_) => "stop added to a route",
            ExceptionResolved(_) => "exception resolved",
            Voided(_) => "event voided",
            Picked(_) => "picked",
            ShortPicked(_) => "could not pick all",
            PutBack(_) => "put back on the shelf",
            Packed(_) => "packed",
            PackageClosed(_) => "package closed",
            Staged(_) => "staged for loading",
            Loaded(_) => "loaded on a van",
            OutForDelivery(_) => "out for delivery",
            ArrivedAtStop(_) => "arrived at the stop",
            Delivered(_) => "delivered (proof)",
            AttemptFailed(_) => "delivery attempt failed",
            ReturnedToDepot(_) => "brought back to the depot",
            ReturnAuthorised(_) => "return authorised",
            ReturnReceived(_) => "return received",
            RefundRecorded(_) => "refund recorded",
            Received(_) => "stock received",
            PutAway(_) => "put away",
            Adjusted(_) => "stock adjusted",
            Counted(_) => "stock counted",
            Transferred(_) => "stock moved",
            QuotaGranted(_) => "quota granted",
            QuotaReleased(_) => "quota handed back",
            Sold(_) => "sold",
            PaymentAuthorised(_) => "payment authorised",
            PaymentCaptured(_) => "payment taken",
            CashHandedIn(_) => "cash handed in",
            TrackingRevoked(_) => "tracking link revoked",
            FeedbackGiven(_) => "customer rated the delivery",
            ReturnRequested(_) => "customer asked to return goods",
        }
    }
}
