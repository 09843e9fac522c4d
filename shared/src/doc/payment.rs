//! How an order is paid, as the office takes it in: its payment terms on the
//! order header, and the money words they use (an ISO 4217 currency, amounts
//! in minor units).
//!
//! Terms are part of the header, written once: `prepaid` (the order waits
//! for an authorisation before any work), `on_delivery` (cash or card at the
//! door, with the amount due) or `on_account` (invoiced later: nothing for
//! the device or the depot to do). A header written before terms existed has
//! none and reads as `on_account`, so old documents, and headers written by
//! other Automerge clients that do not know the field, read as they did.
//! `on_account` is also left out when written, for the same reason.
//!
//! Amounts are whole minor units (cents) in a `u64`: no floating point ever
//! touches money.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An ISO 4217 alphabetic currency code: three capital letters, such as
/// `EUR` or `GBP`. Only the form is checked: a code the world has not
/// issued reads, as a new one would.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

/// Text that is not a currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("currency {0:?} is not an ISO 4217 code: three capital letters, such as EUR or GBP")]
pub struct InvalidCurrency(pub String);

impl Currency {
    /// Parses and checks a code.
    pub fn new(code: impl Into<String>) -> Result<Self, InvalidCurrency> {
        let code = code.into();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(code))
        } else {
            Err(InvalidCurrency(code))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point in the currency's minor unit: 0 for
    /// the yen and its like, 3 for the dinars that have fils, 2 otherwise
    /// (ISO 4217's table, for the codes in use).
    pub fn exponent(&self) -> u32 {
        match self.0.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI"
            | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }

    /// `amount_minor` as people read it: `12.50 EUR`, `1200 JPY`.
    pub fn format(&self, amount_minor: u64) -> String {
        let exp = self.exponent();
        if exp == 0 {
            return format!("{amount_minor} {self}");
        }
        let unit = 10u64.pow(exp);
        let (major, minor) = (amount_minor / unit, amount_minor % unit);
        format!("{major}.{minor:0width$} {self}", width = exp as usize)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Currency {
    type Err = InvalidCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.0
    }
}

/// How the order is paid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "terms", rename_all = "snake_case")]
pub enum PaymentTerms {
    /// Invoiced to the customer's account: nothing to take or wait for.
    #[default]
    OnAccount,
    /// Paid before it is fulfilled: held, and not allocated, until a
    /// `payment_authorised` event records the authorisation.
    Prepaid,
    /// Paid at the door, in cash or by card: the driver's device records
    /// what was collected with the delivery.
    OnDelivery {
        /// The amount due, in minor units (cents).
        amount_minor: u64,
        /// Its currency.
        currency: Currency,
    },
}

impl PaymentTerms {
    /// Whether these are the default terms, left out when written.
    pub fn is_on_account(&self) -> bool {
        matches!(self, PaymentTerms::OnAccount)
    }

    /// The amount due at the door, for cash or card on delivery.
    pub fn due_on_delivery(&self) -> Option<(u64, &Currency)> {
        match self {
            PaymentTerms::OnDelivery { amount_minor, currency } => Some((*amount_minor, currency)),
            _ => None,
        }
    }

    /// The terms' word, as in the JSON `terms` tag.
    pub fn name(&self) -> &'static str {
        match self {
            PaymentTerms::OnAccount => "on_account",
            PaymentTerms::Prepaid => "prepaid",
            PaymentTerms::OnDelivery { .. } => "on_delivery",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn currencies_are_three_capital_letters_and_amounts_print_in_their_unit() {
        for bad in ["eur", "EURO", "E1R", "", "€"] {
            assert!(Currency::new(bad).is_err(), "{bad}");
        }
        let eur: Currency = "EUR".parse().unwrap();
        assert_eq!(eur.format(1250), "12.50 EUR");
        assert_eq!(eur.format(7), "0.07 EUR");
        assert_eq!(Currency::new("JPY").unwrap().format(1200), "1200 JPY");
        assert_eq!(Currency::new("KWD").unwrap().format(1005), "1.005 KWD");
        let e = serde_json::from_str::<Currency>("\"usd\"").unwrap_err().to_string();
        assert!(e.contains("ISO 4217"), "{e}");
    }

    #[test]
    fn terms_read_and_write_with_on_account_as_the_default() {
        let cod: PaymentTerms =
            serde_json::from_str(r#"{"terms":"on_delivery","amount_minor":1250,"currency":"EUR"}"#).unwrap();
        assert_eq!(cod.due_on_delivery(), Some((1250, &Currency::new("EUR").unwrap())));
        assert_eq!(
            serde_json::to_string(&cod).unwrap(),
            r#"{"terms":"on_delivery","amount_minor":1250,"currency":"EUR"}"#
        );
        let prepaid: PaymentTerms = serde_json::from_str(r#"{"terms":"prepaid"}"#).unwrap();
        assert_eq!(prepaid, PaymentTerms::Prepaid);
        let e = serde_json::from_str::<PaymentTerms>(r#"{"terms":"barter"}"#).unwrap_err().to_string();
        assert!(e.contains("barter") && e.contains("on_delivery"), "{e}");
        let e = serde_json::from_str::<PaymentTerms>(
            r#"{"terms":"on_delivery","amount_minor":-5,"currency":"EUR"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("-5"), "{e}");
        assert!(PaymentTerms::default().is_on_account());
    }
}
