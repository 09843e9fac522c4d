//! What the office may decide about each kind of exception, and the words a
//! clerk reads for it: a title and a one-line explanation.
//!
//! [`ExceptionType`] is an exception's kind without its figures, named as in
//! its id (`stock_below_zero:<bin>:<gtin>` is a `stock_below_zero`). Every
//! question here is an exhaustive `match`, so a new kind does not build
//! until it says which decisions fit it and how it reads.

use serde::Serialize;

use super::ExceptionKind;
use crate::event::office::Decision;

/// Declares [`ExceptionType`] and its list of every type from one list, so
/// the list cannot miss one.
macro_rules! exception_types {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)*) => {
        /// An exception's kind without its figures: what decides which
        /// decisions fit it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ExceptionType {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ExceptionType {
            /// Every type, in the order declared.
            pub const ALL: &'static [ExceptionType] = &[$(ExceptionType::$variant,)*];

            /// Its name, as the first part of an exception's id.
            pub fn name(self) -> &'static str {
                match self {
                    $(ExceptionType::$variant => $name,)*
                }
            }
        }
    };
}

exception_types! {
    /// [`ExceptionKind::OverPick`].
    OverPick => "over_pick",
    /// [`ExceptionKind::OverPack`].
    OverPack => "over_pack",
    /// [`ExceptionKind::OverReturn`].
    OverReturn => "over_return",
    /// [`ExceptionKind::ShortPick`].
    ShortPick => "short_pick",
    /// [`ExceptionKind::WrongItem`].
    WrongItem => "wrong_item",
    /// [`ExceptionKind::UnknownLine`].
    UnknownLine => "unknown_line",
    /// [`ExceptionKind::UnknownPackage`].
    UnknownPackage => "unknown_package",
    /// [`ExceptionKind::DeliveredAfterCancel`].
    DeliveredAfterCancel => "delivered_after_cancel",
    /// [`ExceptionKind::WorkAfterCancel`].
    WorkAfterCancel => "work_after_cancel",
    /// [`ExceptionKind::DeliveredFarFromAddress`].
    DeliveredFarFromAddress => "delivered_far_from_address",
    /// [`ExceptionKind::DeliveredTwice`].
    DeliveredTwice => "delivered_twice",
    /// [`ExceptionKind::LoadedOnTwoVans`].
    LoadedOnTwoVans => "loaded_on_two_vans",
    /// [`ExceptionKind::AddressAmendedAfterDispatch`].
    AddressAmendedAfterDispatch => "address_amended_after_dispatch",
    /// [`ExceptionKind::ConcurrentAddressAmendments`].
    ConcurrentAddressAmendments => "concurrent_address_amendments",
    /// [`ExceptionKind::ProofBlobMissing`].
    ProofBlobMissing => "proof_blob_missing",
    /// [`ExceptionKind::StockBelowZero`].
    StockBelowZero => "stock_below_zero",
    /// [`ExceptionKind::QuotaExceeded`].
    QuotaExceeded => "quota_exceeded",
    /// [`ExceptionKind::QuotaUncovered`].
    QuotaUncovered => "quota_uncovered",
    /// [`ExceptionKind::ShortCollection`].
    ShortCollection => "short_collection",
    /// [`ExceptionKind::OverCollection`].
    OverCollection => "over_collection",
    /// [`ExceptionKind::CollectionMissing`].
    CollectionMissing => "collection_missing",
    /// [`ExceptionKind::CashDifference`].
    CashDifference => "cash_difference",
    /// [`ExceptionKind::LowRating`].
    LowRating => "low_rating",
    /// [`ExceptionKind::ReturnRequested`].
    ReturnRequested => "return_requested",
}

impl ExceptionType {
    /// The type of the exception with this id (`<type>:<subject>`, or the
    /// bare type); `None` if it names no type.
    pub fn of_id(id: &str) -> Option<Self> {
        let name = id.split(':').next().unwrap_or_default();
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// The decisions that fit, the usual one first. Every type has at least
    /// one; `accept` (what happened stands, after whatever the office did
    /// outside Waybill) fits every type.
    pub fn decisions(self) -> &'static [Decision] {
        use Decision::*;
        use ExceptionType::*;
        match self {
            // Units left the shelf that the order does not take: back to stock.
            OverPick => &[Restock, Accept, Voided],
            // One of the packs was a double count: void it.
            OverPack => &[Voided, Accept],
            // More came back than went out: take them in, or the count was wrong.
            OverReturn => &[Restock, Voided, Accept],
            // Ship short and refund, send the rest later, or let it stand.
            ShortPick => &[Redeliver, Refund, Accept],
            // The wrong item does not count; it goes back to the shelf.
            WrongItem => &[Restock, Voided, Accept],
            UnknownLine | UnknownPackage => &[Voided, Accept],
            // The goods are with the customer: refund, write off, or they pay.
            DeliveredAfterCancel => &[Refund, WriteOff, Accept],
            // Undo the work: goods back to stock.
            WorkAfterCancel => &[Restock, Voided, Accept],
            // Checked with the driver (or the address's point was wrong), or
            // it went to the wrong door and goes again.
            DeliveredFarFromAddress => &[Accept, Redeliver],
            DeliveredTwice | LoadedOnTwoVans => &[Voided, Accept],
            // Take it to the new address, or the old one was right.
            AddressAmendedAfterDispatch => &[Redeliver, Accept],
            // The later amendment stands, or void the wrong one.
            ConcurrentAddressAmendments => &[Accept, Voided],
            // The delivery stands without its photo or signature.
            ProofBlobMissing => &[Accept, Redeliver],
            // Counted again and adjusted (the count is its own event), or the
            // goods are gone, or a decrement was wrong.
            StockBelowZero => &[Accept, WriteOff, Voided],
            QuotaExceeded | QuotaUncovered => &[Accept, Voided],
            // The customer pays later (accept), or the rest is written off.
            ShortCollection | CollectionMissing => &[Accept, WriteOff],
            // The customer is owed the difference.
            OverCollection => &[Refund, Accept],
            // The driver pays later (accept), or the difference is written off.
            CashDifference => &[Accept, WriteOff],
            // Followed up with the customer, perhaps with a refund or a new delivery.
            LowRating => &[Accept, Refund, Redeliver],
            // Authorising goes through the returns API; here the office
            // refuses (accept) or refunds without the goods coming back.
            ReturnRequested => &[Accept, Refund],
        }
    }

    /// Whether `decision` fits this type.
    pub fn fits(self, decision: Decision) -> bool {
        self.decisions().contains(&decision)
    }

    /// A short title in plain words.
    pub fn title(self) -> &'static str {
        use ExceptionType::*;
        match self {
            OverPick => "Picked more than ordered",
            OverPack => "Packed more than picked",
            OverReturn => "More returned than delivered",
            ShortPick => "Could not pick everything",
            WrongItem => "Wrong item picked",
            UnknownLine => "Work on a line the order does not have",
            UnknownPackage => "A package the order never packed",
            DeliveredAfterCancel => "Delivered although cancelled",
            WorkAfterCancel => "Worked on after it was cancelled",
            DeliveredFarFromAddress => "Delivered far from the address",
            DeliveredTwice => "Package delivered twice",
            LoadedOnTwoVans => "Package loaded on two vans",
            AddressAmendedAfterDispatch => "Address changed after the driver set out",
            ConcurrentAddressAmendments => "Two address changes at once",
            ProofBlobMissing => "Proof photo or signature missing",
            StockBelowZero => "Stock below zero",
            QuotaExceeded => "Sold more than the device's quota",
            QuotaUncovered => "Quotas promise more than is on hand",
            ShortCollection => "Collected less than due",
            OverCollection => "Collected more than due",
            CollectionMissing => "No payment recorded at the door",
            CashDifference => "Cash handed in differs from cash collected",
            LowRating => "Customer rated the delivery low",
            ReturnRequested => "Customer asks to send goods back",
        }
    }

    /// One line saying what happened and what the office usually does.
    pub fn describe(self) -> &'static str {
        use ExceptionType::*;
        match self {
            OverPick => "A picker took more units of a line than the order asks for; put the extra back.",
            OverPack => {
                "Two packers packed the same units, or units were put back after packing; void the double pack."
            }
            OverReturn => {
                "More units of a line came back than were delivered; take them into stock or correct the count."
            }
            ShortPick => "A picker could not find all units of a line; deliver the rest later or refund it.",
            WrongItem => {
                "The item scanned is not the line's item; the pick does not count and the item goes back."
            }
            UnknownLine => "A device recorded work on a line number this order does not have.",
            UnknownPackage => "A device loaded or delivered a package this order never packed.",
            DeliveredAfterCancel => {
                "The order was cancelled and also delivered; refund, write off, or let the customer pay."
            }
            WorkAfterCancel => {
                "Someone picked, packed or shipped the order after it was cancelled; undo the work."
            }
            DeliveredFarFromAddress => {
                "The proof of delivery was recorded far from the address; check with the driver, or deliver again."
            }
            DeliveredTwice => {
                "Two deliveries were recorded for one package; one of them is likely a mistake."
            }
            LoadedOnTwoVans => {
                "A package was loaded on a van while it was on another; find out which van has it."
            }
            AddressAmendedAfterDispatch => {
                "The driver set out with the old address; deliver again to the new one, or keep the delivery."
            }
            ConcurrentAddressAmendments => {
                "Two people changed the address without seeing each other's change; the later one is in force."
            }
            ProofBlobMissing => {
                "A proof of delivery names a photo or signature this server has not received yet."
            }
            StockBelowZero => {
                "A bin shows fewer than zero units; count it again and adjust, or write the units off."
            }
            QuotaExceeded => {
                "A device sold or handed back more than its quota allowed; the server should have refused it."
            }
            QuotaUncovered => {
                "Devices hold quotas for more units than the location has; a promise may not be kept."
            }
            ShortCollection => {
                "The driver collected less than the amount due; the customer pays later or it is written off."
            }
            OverCollection => {
                "The driver collected more than the amount due; the customer is owed the difference."
            }
            CollectionMissing => "The order was handed over with no payment recorded at the door.",
            CashDifference => "The cash the driver handed in is not what the deliveries collected.",
            LowRating => "The customer gave the delivery a low rating; follow it up with them.",
            ReturnRequested => {
                "The customer asked to send goods back; authorise the return, or refuse it or refund without it."
            }
        }
    }
}

impl ExceptionKind {
    /// Its type: the kind without its figures.
    pub fn exception_type(&self) -> ExceptionType {
        use ExceptionKind as K;
        use ExceptionType as T;
        match self {
            K::OverPick { .. } => T::OverPick,
            K::OverPack { .. } => T::OverPack,
            K::OverReturn { .. } => T::OverReturn,
            K::ShortPick { .. } => T::ShortPick,
            K::WrongItem { .. } => T::WrongItem,
            K::UnknownLine { .. } => T::UnknownLine,
            K::UnknownPackage { .. } => T::UnknownPackage,
            K::DeliveredAfterCancel => T::DeliveredAfterCancel,
            K::WorkAfterCancel => T::WorkAfterCancel,
            K::DeliveredFarFromAddress { .. } => T::DeliveredFarFromAddress,
            K::DeliveredTwice { .. } => T::DeliveredTwice,
            K::LoadedOnTwoVans { .. } => T::LoadedOnTwoVans,
            K::AddressAmendedAfterDispatch => T::AddressAmendedAfterDispatch,
            K::ConcurrentAddressAmendments => T::ConcurrentAddressAmendments,
            K::ProofBlobMissing { .. } => T::ProofBlobMissing,
            K::StockBelowZero { .. } => T::StockBelowZero,
            K::QuotaExceeded { .. } => T::QuotaExceeded,
            K::QuotaUncovered { .. } => T::QuotaUncovered,
            K::ShortCollection { .. } => T::ShortCollection,
            K::OverCollection { .. } => T::OverCollection,
            K::CollectionMissing { .. } => T::CollectionMissing,
            K::CashDifference { .. } => T::CashDifference,
            K::LowRating { .. } => T::LowRating,
            K::ReturnRequested { .. } => T::ReturnRequested,
        }
    }

    /// The decisions that fit it: [`ExceptionType::decisions`].
    pub fn decisions(&self) -> &'static [Decision] {
        self.exception_type().decisions()
    }

    /// Its title: [`ExceptionType::title`].
    pub fn title(&self) -> &'static str {
        self.exception_type().title()
    }

    /// Its explanation: [`ExceptionType::describe`].
    pub fn describe(&self) -> &'static str {
        self.exception_type().describe()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::gs1::Gtin;

    #[test]
    fn every_type_has_decisions_a_title_and_an_explanation() {
        assert!(ExceptionType::ALL.len() >= 24, "the list lost types: {:?}", ExceptionType::ALL);
        for t in ExceptionType::ALL {
            let decisions = t.decisions();
            assert!(!decisions.is_empty(), "{t:?} offers no decision");
            assert!(t.fits(Decision::Accept), "{t:?}: accept fits every type");
            let mut unique = decisions.to_vec();
            unique.dedup();
            assert_eq!(unique.len(), decisions.len(), "{t:?} lists a decision twice");
            assert!(!t.title().is_empty() && !t.describe().is_empty(), "{t:?} has no words");
            assert!(t.describe().ends_with('.'), "{t:?}: a sentence");
            assert_eq!(ExceptionType::of_id(&format!("{}:x:1", t.name())), Some(*t));
            // The name is the one serde gives it, so ids and this agree.
            assert_eq!(serde_json::to_value(t).unwrap(), t.name());
        }
    }

    #[test]
    fn a_kinds_type_has_the_name_its_id_starts_with() {
        let gtin: Gtin = "09506000134352".parse().unwrap();
        let kinds = [
            ExceptionKind::OverPick { line: 1, ordered: 1, picked: 2 },
            ExceptionKind::DeliveredAfterCancel,
            ExceptionKind::StockBelowZero { bin: "A-1".parse().unwrap(), gtin: gtin.clone(), on_hand: -1 },
            ExceptionKind::DeliveredFarFromAddress { distance_m: 900, limit_m: 500 },
            ExceptionKind::LowRating { rating: 1 },
        ];
        for k in kinds {
            let tag = serde_json::to_value(&k).unwrap()["kind"].clone();
            assert_eq!(tag, k.exception_type().name(), "{k:?}");
        }
        let stock = ExceptionKind::StockBelowZero { bin: "A-1".parse().unwrap(), gtin, on_hand: -1 };
        assert!(!stock.decisions().contains(&Decision::Redeliver), "nothing to redeliver for stock");
        assert!(!stock.decisions().contains(&Decision::Refund));
        assert_eq!(ExceptionType::of_id("shrug:1"), None);
        assert_eq!(ExceptionType::of_id("low_rating"), Some(ExceptionType::LowRating));
    }
}
