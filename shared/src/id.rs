//! Identifiers of the things Waybill talks about: devices, orders, locations,
//! bins, routes and vans.
//!
//! Every id is a short string of `[A-Za-z0-9._-]`, 1 to 64 characters, so it
//! can stand in a document key (`order/<id>`), an event id (`<device>:<seq>`),
//! a file name and a label barcode without escaping. Parsing checks that once;
//! holding an id means it is valid.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// An id string that is empty, too long or holds a character outside
/// `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {why}")]
pub struct InvalidId {
    /// Which kind of id was being parsed ("order id", "device id", ...).
    pub kind: &'static str,
    /// The rejected input.
    pub value: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Checks `value` against the id grammar.
pub fn validate_id(kind: &'static str, value: &str) -> Result<(), InvalidId> {
    let why = if value.is_empty() {
        Some("it is empty")
    } else if value.len() > MAX_ID_LEN {
        Some("it is longer than 64 bytes")
    } else if !value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        Some("only letters, digits, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match why {
        Some(why) => Err(InvalidId { kind, value: value.to_owned(), why }),
        None => Ok(()),
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses and validates an id.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                validate_id($kind, &value)?;
                Ok(Self(value))
            }

            /// The id as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// An enrolled device: a handheld scanner, a phone, or an office seat.
    DeviceId,
    "device id"
);
string_id!(
    /// A customer order.
    OrderId,
    "order id"
);
string_id!(
    /// A stock-holding location: a warehouse, a store, a depot.
    LocationId,
    "location id"
);
string_id!(
    /// A bin (storage slot) inside a location.
    BinId,
    "bin id"
);
string_id!(
    /// A driver's run.
    RouteId,
    "route id"
);
string_id!(
    /// A delivery vehicle.
    VanId,
    "van id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_id_grammar() {
        assert_eq!(OrderId::new("SO-1001.a_b").unwrap().as_str(), "SO-1001.a_b");
        assert!(OrderId::new("x".repeat(64)).is_ok());
    }

    #[test]
    fn rejects_bad_ids_with_the_reason() {
        let e = OrderId::new("").unwrap_err();
        assert_eq!(e.to_string(), "invalid order id \"\": it is empty");
        assert!(DeviceId::new("a:b").unwrap_err().why.contains("only letters"));
        assert!(DeviceId::new("a/b").is_err());
        assert!(BinId::new("x".repeat(65)).unwrap_err().why.contains("64"));
    }

    #[test]
    fn serde_validates() {
        let id: RouteId = serde_json::from_str("\"R-7\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"R-7\"");
        assert!(serde_json::from_str::<RouteId>("\"R 7\"").is_err());
    }
}
