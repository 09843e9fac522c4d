//! Waybill's own barcode labels: `WB:<kind>:<id>`.

use std::fmt;
use std::str::FromStr;

use super::Gs1Error;
use crate::id::{BinId, LocationId, OrderId, RouteId};

/// A Waybill label. Ids follow [`crate::id`]'s grammar.
///
/// Parse with [`str::parse`]; [`Display`](fmt::Display) gives the label text back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    /// A storage bin: `WB:BIN:<location>:<bin>`.
    Bin {
        /// The location holding the bin.
        location: LocationId,
        /// The bin within the location.
        bin: BinId,
    },
    /// An order: `WB:ORD:<id>`.
    Order(OrderId),
    /// A route: `WB:RTE:<id>`.
    Route(RouteId),
}

impl FromStr for Label {
    type Err = Gs1Error;

    fn from_str(label: &str) -> Result<Self, Gs1Error> {
        let format_error = |expected| Gs1Error::LabelFormat { label: label.to_owned(), expected };
        let rest = label.strip_prefix("WB:").ok_or_else(|| format_error("WB:<kind>:<id>"))?;
        let (kind, body) = rest.split_once(':').unwrap_or((rest, ""));
        match kind {
            "BIN" => {
                let (location, bin) =
                    body.split_once(':').ok_or_else(|| format_error("WB:BIN:<location>:<bin>"))?;
                Ok(Self::Bin { location: location.parse()?, bin: bin.parse()? })
            }
            "ORD" => Ok(Self::Order(body.parse()?)),
            "RTE" => Ok(Self::Route(body.parse()?)),
            _ => Err(Gs1Error::UnknownLabelKind(kind.to_owned())),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bin { location, bin } => write!(f, "WB:BIN:{location}:{bin}"),
            Self::Order(id) => write!(f, "WB:ORD:{id}"),
            Self::Route(id) => write!(f, "WB:RTE:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(label: &str) -> Result<Label, String> {
        label.parse().map_err(|e: Gs1Error| e.to_string())
    }

    #[test]
    fn kinds_parse_and_display_back() {
        for (text, label) in [
            (
                "WB:BIN:DC-1:A.01_2",
                Label::Bin { location: "DC-1".parse().unwrap(), bin: "A.01_2".parse().unwrap() },
            ),
            ("WB:ORD:SO-1001", Label::Order("SO-1001".parse().unwrap())),
            ("WB:RTE:north.3", Label::Route("north.3".parse().unwrap())),
        ] {
            assert_eq!(parse(text), Ok(label.clone()));
            assert_eq!(label.to_string(), text);
        }
    }

    #[test]
    fn bad_format() {
        assert_eq!(
            parse("WB:BIN:DC-1"),
            Err(r#"Waybill label "WB:BIN:DC-1" must look like WB:BIN:<location>:<bin>"#.into())
        );
        assert_eq!(
            parse("XB:ORD:1"),
            Err(r#"Waybill label "XB:ORD:1" must look like WB:<kind>:<id>"#.into())
        );
    }

    #[test]
    fn unknown_kind() {
        assert_eq!(
            parse("WB:PAL:7"),
            Err(r#"unknown Waybill label kind "PAL", expected BIN, ORD or RTE"#.into())
        );
    }

    #[test]
    fn bad_ids() {
        assert_eq!(parse("WB:ORD:"), Err("Waybill label: invalid order id \"\": it is empty".into()));
        assert_eq!(parse("WB:BIN::A1"), Err("Waybill label: invalid location id \"\": it is empty".into()));
        assert_eq!(
            parse("WB:ORD:SO 1"),
            Err("Waybill label: invalid order id \"SO 1\": only letters, digits, '.', '_' and '-' are allowed".into())
        );
        assert!(parse("WB:BIN:DC-1:A:2").unwrap_err().contains("invalid bin id \"A:2\""));
    }
}
