//! What apps hand in: reasons, GPS, package sizes, photos and signatures,
//! a delivery and the money taken at the door.

use std::path::PathBuf;

use waybill_agent::BlobInput;
use waybill_shared::doc::payment::Currency;
use waybill_shared::event::{delivery, payment, returns, stock, warehouse};

use crate::error::WaybillError;

use super::mirror_enum;

mirror_enum!(
    /// Why units of a line could not be picked.
    ShortReason = warehouse::ShortReason {
        /// The bin holds fewer units than needed.
        NotEnoughInBin,
        /// The item is not in the bin at all.
        NotFound,
        /// The units are damaged.
        Damaged,
        /// The units are past their expiry date.
        Expired,
    }
);

mirror_enum!(
    /// Why a delivery attempt failed.
    FailReason = delivery::FailReason {
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
);

mirror_enum!(
    /// Who took a delivery.
    Relation = delivery::Relation {
        /// The addressee.
        Recipient,
        /// A neighbour.
        Neighbour,
        /// Left in a safe place.
        SafePlace,
        /// Put in the mailbox.
        Mailbox,
    }
);

mirror_enum!(
    /// Why stock was adjusted.
    AdjustReason = stock::AdjustReason {
        /// Broken or spoiled (units removed).
        Damaged,
        /// Missing, reason unknown (units removed).
        Lost,
        /// Turned up (units added).
        Found,
        /// Past its date (units removed).
        Expired,
        /// Fixes a booking error (either way).
        Correction,
    }
);

mirror_enum!(
    /// What becomes of returned goods.
    Disposition = returns::Disposition {
        /// Sellable: back into a bin.
        Restock,
        /// Damaged: not sellable.
        Damaged,
    }
);

mirror_enum!(
    /// How money was taken at the door.
    CollectionMethod = payment::CollectionMethod {
        /// Notes and coins: handed in at the depot.
        Cash,
        /// A card payment at the door.
        Card,
    }
);

/// Money taken at the door for an order paid on delivery.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Collection {
    /// Amount taken, in minor units (cents).
    pub amount_minor: u64,
    /// ISO 4217 currency code, such as EUR.
    pub currency: String,
    /// Cash or card.
    pub method: CollectionMethod,
}

impl TryFrom<Collection> for payment::Collection {
    type Error = WaybillError;
    fn try_from(c: Collection) -> Result<Self, WaybillError> {
        let currency = Currency::new(c.currency).map_err(|e| WaybillError::Invalid(e.to_string()))?;
        Ok(Self { amount_minor: c.amount_minor, currency, method: c.method.into() })
    }
}

/// Where the device was.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct Gps {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Horizontal accuracy in metres, if known.
    #[uniffi(default = None)]
    pub accuracy_m: Option<f32>,
}

impl From<Gps> for delivery::Gps {
    fn from(g: Gps) -> Self {
        Self { lat: g.lat, lon: g.lon, accuracy_m: g.accuracy_m }
    }
}

impl From<delivery::Gps> for Gps {
    fn from(g: delivery::Gps) -> Self {
        Self { lat: g.lat, lon: g.lon, accuracy_m: g.accuracy_m }
    }
}

/// A package's outer size in millimetres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Dimensions {
    /// Length.
    pub length_mm: u32,
    /// Width.
    pub width_mm: u32,
    /// Height.
    pub height_mm: u32,
}

impl From<Dimensions> for warehouse::Dimensions {
    fn from(d: Dimensions) -> Self {
        Self { length_mm: d.length_mm, width_mm: d.width_mm, height_mm: d.height_mm }
    }
}

/// Units of an order line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct LineQuantity {
    /// The line.
    pub line: u32,
    /// Units.
    pub quantity: u32,
}

impl From<LineQuantity> for (u32, u32) {
    fn from(l: LineQuantity) -> Self {
        (l.line, l.quantity)
    }
}

impl From<(u32, u32)> for LineQuantity {
    fn from((line, quantity): (u32, u32)) -> Self {
        Self { line, quantity }
    }
}

/// A photo or signature image: the bytes from the camera or signature
/// pad, or a file holding them (at most 16 MiB).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Image {
    /// The bytes themselves.
    Bytes {
        /// The image.
        bytes: Vec<u8>,
    },
    /// A file to read them from.
    File {
        /// Its path.
        path: String,
    },
}

impl From<Image> for BlobInput {
    fn from(i: Image) -> Self {
        match i {
            Image::Bytes { bytes } => Self::Bytes(bytes),
            Image::File { path } => Self::File(PathBuf::from(path)),
        }
    }
}

/// A delivery, as the driver confirms it at the door.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Delivery {
    /// The route.
    pub route: String,
    /// The stop's sequence number.
    pub stop: u32,
    /// The package labels scanned. Empty: every package of the stop's order
    /// that is on the van (the stop must then have only one such order).
    #[uniffi(default)]
    pub packages: Vec<String>,
    /// Name of the person who took it, as given.
    #[uniffi(default = None)]
    pub recipient_name: Option<String>,
    /// Who took it.
    pub relation: Relation,
    /// Where it was left (a safe place, a neighbour's address).
    #[uniffi(default = None)]
    pub left_at: Option<String>,
    /// A photo of the package where it was left.
    #[uniffi(default = None)]
    pub photo: Option<Image>,
    /// The recipient's signature.
    #[uniffi(default = None)]
    pub signature: Option<Image>,
    /// Where the device was.
    #[uniffi(default = None)]
    pub gps: Option<Gps>,
    /// The driver's note.
    #[uniffi(default = "")]
    pub note: String,
    /// Whether an age check was done and passed.
    #[uniffi(default = None)]
    pub age_check_passed: Option<bool>,
    /// Money taken at the door: required while an order paid on delivery
    /// has money due (the order's `payment` says how much).
    #[uniffi(default = None)]
    pub collection: Option<Collection>,
}
