//! The Serial Shipping Container Code (SSCC), 18 digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Gs1Error;
use super::check_digit::validate_key;

/// An 18-digit SSCC with a valid check digit, identifying a logistic unit.
///
/// Parse with [`str::parse`]; serialises as the 18-digit string and validates
/// when deserialised.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String")]
pub struct Sscc(String);

impl Sscc {
    /// The 18 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Sscc {
    type Err = Gs1Error;

    fn from_str(digits: &str) -> Result<Self, Gs1Error> {
        validate_key("SSCC", digits, &[18], "18")?;
        Ok(Self(digits.to_owned()))
    }
}

impl TryFrom<String> for Sscc {
    type Error = Gs1Error;

    fn try_from(digits: String) -> Result<Self, Gs1Error> {
        digits.parse()
    }
}

impl fmt::Display for Sscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sscc(digits: &str) -> Result<Sscc, Gs1Error> {
        digits.parse()
    }

    #[test]
    fn published_example() {
        let sscc = sscc("106141411234567897").expect("GS1 example SSCC");
        assert_eq!(sscc.as_str(), "106141411234567897");
        assert_eq!(sscc.to_string(), "106141411234567897");
    }

    #[test]
    fn check_digit_error() {
        assert_eq!(
            sscc("106141411234567890").map_err(|e| e.to_string()),
            Err("SSCC check digit is 0, expected 7 in 106141411234567890".into())
        );
    }

    #[test]
    fn wrong_length_and_non_digit() {
        assert_eq!(
            sscc("10614141123456789").map_err(|e| e.to_string()),
            Err("SSCC must be 18 digits long, found 17".into())
        );
        assert_eq!(
            sscc("10614141123456789X").map_err(|e| e.to_string()),
            Err("SSCC contains 'X', only digits are allowed".into())
        );
    }

    #[test]
    fn serde_uses_the_string_and_validates() {
        let sscc = sscc("106141411234567897").expect("valid");
        let json = serde_json::to_string(&sscc).expect("serialise");
        assert_eq!(json, r#""106141411234567897""#);
        assert_eq!(serde_json::from_str::<Sscc>(&json).expect("valid"), sscc);
        assert!(serde_json::from_str::<Sscc>(r#""106141411234567890""#).is_err());
    }
}
