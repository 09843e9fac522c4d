//! The Global Trade Item Number (GTIN), normalised to 14 digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Gs1Error;
use super::check_digit::validate_key;

/// A GTIN-8, GTIN-12, GTIN-13 or GTIN-14 with a valid check digit, stored as
/// 14 digits (shorter GTINs left-padded with zeros, as in AI (01)).
///
/// Parse with [`str::parse`]; serialises as the 14-digit string and validates
/// when deserialised.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String")]
pub struct Gtin(String);

impl Gtin {
    /// The 14 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Gtin {
    type Err = Gs1Error;

    fn from_str(digits: &str) -> Result<Self, Gs1Error> {
        validate_key("GTIN", digits, &[8, 12, 13, 14], "8, 12, 13 or 14")?;
        Ok(Self(format!("{digits:0>14}")))
    }
}

impl TryFrom<String> for Gtin {
    type Error = Gs1Error;

    fn try_from(digits: String) -> Result<Self, Gs1Error> {
        digits.parse()
    }
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::check_digit;
    use super::*;

    fn gtin(digits: &str) -> Result<Gtin, Gs1Error> {
        digits.parse()
    }

    #[test]
    fn published_examples_normalise_to_14_digits() {
        for (given, normalised) in [
            ("9506000134352", "09506000134352"),  // GTIN-13, GS1 example company
            ("036000291452", "00036000291452"),   // GTIN-12, UPC-A
            ("96385074", "00000096385074"),       // GTIN-8
            ("10614141000415", "10614141000415"), // GTIN-14
        ] {
            let gtin = gtin(given).expect(given);
            assert_eq!(gtin.as_str(), normalised);
            assert_eq!(gtin.to_string(), normalised);
        }
    }

    #[test]
    fn check_digit_error_names_both_digits() {
        let error = gtin("09506000134353").expect_err("bad check digit");
        assert_eq!(
            error,
            Gs1Error::CheckDigit { key: "GTIN", found: 3, expected: 2, digits: "09506000134353".into() }
        );
        assert_eq!(error.to_string(), "GTIN check digit is 3, expected 2 in 09506000134353");
    }

    #[test]
    fn wrong_length() {
        let error = gtin("95060001343").expect_err("11 digits");
        assert_eq!(error.to_string(), "GTIN must be 8, 12, 13 or 14 digits long, found 11");
        assert!(matches!(gtin(""), Err(Gs1Error::WrongLength { found: 0, .. })));
    }

    #[test]
    fn non_digit() {
        let error = gtin("950600O134352").expect_err("letter O");
        assert_eq!(error.to_string(), "GTIN contains 'O', only digits are allowed");
    }

    #[test]
    fn serde_uses_the_14_digit_string_and_validates() {
        let gtin = gtin("9506000134352").expect("valid");
        let json = serde_json::to_string(&gtin).expect("serialise");
        assert_eq!(json, r#""09506000134352""#);
        assert_eq!(serde_json::from_str::<Gtin>(&json).expect("valid"), gtin);
        assert!(serde_json::from_str::<Gtin>(r#""09506000134353""#).is_err());
    }

    proptest! {
        #[test]
        fn any_gtin_with_computed_check_digit_parses(data in "[0-9]{7}|[0-9]{11,13}") {
            let digit = check_digit(&data).expect("digits only");
            let digits = format!("{data}{digit}");
            let gtin = gtin(&digits).expect("valid GTIN");
            prop_assert_eq!(gtin.as_str().len(), 14);
            prop_assert!(gtin.as_str().ends_with(&digits));
            prop_assert_eq!(gtin.as_str().parse::<Gtin>(), Ok(gtin.clone()));
        }
    }
}
