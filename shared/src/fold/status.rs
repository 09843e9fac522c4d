//! Where an order is in its life.

use serde::Serialize;

/// An order's status, derived by the fold. Later stages win over earlier
/// ones; `held` and `cancelled` win over all but physical facts (a delivered
/// order stays delivered even if cancelled, with an exception).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
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

impl OrderStatus {
    /// Whether nothing more is expected to happen: a device may drop the
    /// order once the server holds all of it.
    pub fn is_closed(self) -> bool {
        matches!(self, OrderStatus::Completed | OrderStatus::Cancelled)
    }
}
