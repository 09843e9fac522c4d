//! GS1 barcode data, following the GS1 General Specifications.
//!
//! - [`Gtin`] and [`Sscc`]: the two GS1 identification keys Waybill handles,
//!   validated with the GS1 mod-10 [`check_digit`].
//! - [`ElementString`]: the application identifier (AI) data carried by
//!   GS1-128, GS1 DataMatrix, GS1 QR Code and GS1 DataBar, in either the
//!   human-readable `(01)…(10)…` form or the raw scanner form with [`GS`]
//!   separators and an optional symbology identifier.
//! - [`Yymmdd`]: a date as a barcode carries it, resolved to a calendar date
//!   against the current year (GS1's century window), which the caller
//!   passes in.
//! - [`parse_code`]: classifies whatever a scanner emitted into a [`Code`],
//!   including Waybill's own [`Label`]s.
//!
//! Every failure is a [`Gs1Error`] whose message says exactly what is wrong.

mod check_digit;
mod date;
mod element_string;
mod gtin;
mod label;
mod scan;
mod sscc;

pub use check_digit::check_digit;
pub use date::Yymmdd;
pub use element_string::{ElementString, GS};
pub use gtin::Gtin;
pub use label::Label;
pub use scan::{Code, parse_code};
pub use sscc::Sscc;

/// Why a GS1 key, element string, Waybill label or scan was rejected.
///
/// `what` fields name the key or field, e.g. `"GTIN"` or `"lot (10)"`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Gs1Error {
    /// A key or fixed-length field has the wrong number of digits.
    #[error("{what} must be {expected} digits long, found {found}")]
    WrongLength {
        /// The key or field.
        what: &'static str,
        /// The allowed length(s), as text.
        expected: &'static str,
        /// The length found.
        found: usize,
    },
    /// A numeric key or field contains something other than an ASCII digit.
    #[error("{what} contains {found:?}, only digits are allowed")]
    NonDigit {
        /// The key or field.
        what: &'static str,
        /// The first offending character.
        found: char,
    },
    /// The check digit of a GTIN or SSCC does not match its other digits.
    #[error("{key} check digit is {found}, expected {expected} in {digits}")]
    CheckDigit {
        /// `"GTIN"` or `"SSCC"`.
        key: &'static str,
        /// The check digit found.
        found: u8,
        /// The check digit computed from the other digits.
        expected: u8,
        /// The key as given.
        digits: String,
    },
    /// An element string uses an application identifier that is not supported.
    #[error("unsupported application identifier ({0})")]
    UnsupportedAi(String),
    /// An application identifier occurs more than once in one element string.
    #[error("application identifier ({0}) occurs more than once")]
    DuplicateAi(&'static str),
    /// An element string field has an empty value.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// A variable-length field is longer than its maximum.
    #[error("{what} is {found} characters long, at most {max} allowed")]
    TooLong {
        /// The field.
        what: &'static str,
        /// The length found.
        found: usize,
        /// The maximum length.
        max: usize,
    },
    /// A variable-length field contains a character outside GS1 AI encodable character set 82.
    #[error("{what} contains {found:?}, which is not in GS1 character set 82")]
    InvalidCharacter {
        /// The field.
        what: &'static str,
        /// The first offending character.
        found: char,
    },
    /// The expiry date (17) is not a calendar date.
    #[error("expiry date (17) {0} is not a valid YYMMDD date")]
    InvalidDate(String),
    /// An element string is structurally broken.
    #[error("malformed element string: {0}")]
    Malformed(&'static str),
    /// The input starts with a symbology identifier that does not announce GS1 data.
    #[error("symbology identifier {0} is not one of the GS1 identifiers ]C1, ]d2, ]Q3, ]e0")]
    UnsupportedSymbology(String),
    /// A Waybill label does not have the shape its kind requires.
    #[error("Waybill label {label:?} must look like {expected}")]
    LabelFormat {
        /// The label as given.
        label: String,
        /// The required shape.
        expected: &'static str,
    },
    /// A Waybill label has a kind other than `BIN`, `ORD` or `RTE`.
    #[error("unknown Waybill label kind {0:?}, expected BIN, ORD or RTE")]
    UnknownLabelKind(String),
    /// A Waybill label's id is not a valid id.
    #[error("Waybill label: {0}")]
    LabelId(#[from] crate::id::InvalidId),
    /// Scanner output that is no GTIN, SSCC, element string or Waybill label.
    #[error("{0:?} is not a GTIN, SSCC, GS1 element string or Waybill label")]
    Unrecognised(String),
}
