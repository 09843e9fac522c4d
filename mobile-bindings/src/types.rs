//! The records and enums apps see, each converted from the agent's own
//! type as it is (no logic): ids, barcodes and hashes as strings, times as
//! timestamps, dates as ISO 8601 text (`2026-11-25`).

mod input;
mod sync;
mod views;
mod work;

pub use input::{AdjustReason, Dimensions, Disposition, FailReason, Gps, Image, LineQuantity, Relation};
pub use input::{Collection, CollectionMethod, Delivery, ShortReason};
pub use sync::{FailedBlob, FailedDocument, RefusedChange, SyncReport, SyncState, SyncStatus};
pub use views::{Address, DeliveryProof, ExceptionKind, Line, Order, OrderException, OrderStatus};
pub use views::{
    Package, Payment, PaymentState, Quota, Route, StockLine, StockView, Stop, StopState, Whereabouts,
};
pub use work::{DeviceProfile, ItemScan, PackTask, PickTask, Recorded, Role, RouteTask, Scanned};
pub use work::{StopTask, Tasks};

/// Strings of anything printable.
pub(crate) fn strings<T: ToString>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    items.into_iter().map(|i| i.to_string()).collect()
}

/// Converts every item.
pub(crate) fn all<T, U: From<T>>(items: impl IntoIterator<Item = T>) -> Vec<U> {
    items.into_iter().map(U::from).collect()
}

/// Mirrors an agent enum of unit variants as a uniffi enum of the same
/// variants, converting both ways.
macro_rules! mirror_enum {
    ($(#[$doc:meta])* $name:ident = $from:path { $($(#[$vdoc:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl From<$from> for $name {
            fn from(v: $from) -> Self {
                match v {
                    $(<$from>::$variant => Self::$variant),+
                }
            }
        }

        impl From<$name> for $from {
            fn from(v: $name) -> Self {
                match v {
                    $($name::$variant => Self::$variant),+
                }
            }
        }
    };
}
pub(crate) use mirror_enum;
