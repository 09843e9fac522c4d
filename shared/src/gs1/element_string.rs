//! GS1 element strings: application identifiers (AIs) and their data, as
//! carried by GS1-128, GS1 DataMatrix, GS1 QR Code and GS1 DataBar.
//!
//! Supported AIs: (00) SSCC, (01) GTIN, (10) batch/lot, (17) expiry date,
//! (21) serial number and (37) count of trade items. GS1's rules on which AIs
//! must or must not appear together are not checked.

use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Gs1Error, Gtin, Sscc, Yymmdd};

/// The ASCII group separator (0x1D) scanners emit for FNC1 to end a
/// variable-length field.
pub const GS: char = '\u{1d}';

/// Symbology identifiers announcing GS1 data: GS1-128, GS1 DataMatrix,
/// GS1 QR Code and GS1 DataBar.
const SYMBOLOGIES: [&str; 4] = ["]C1", "]d2", "]Q3", "]e0"];

/// The data of a GS1 element string, one optional field per supported AI.
///
/// Parse with [`str::parse`] from either form:
/// - human-readable, AIs in parentheses: `(01)09506000134352(17)201225(10)ABC123`.
///   A value cannot contain `(` in this form, as it would start the next AI.
/// - raw scanner data, optionally prefixed with a symbology identifier
///   (`]C1`, `]d2`, `]Q3` or `]e0`), variable-length fields ended by [`GS`]
///   or the end of data. An unsupported AI there is named by its first two
///   digits, since its length is unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementString {
    /// AI (00), the SSCC of a logistic unit.
    pub sscc: Option<Sscc>,
    /// AI (01), the GTIN of a trade item.
    pub gtin: Option<Gtin>,
    /// AI (10), batch or lot number: 1 to 20 characters of GS1 character set 82.
    pub lot: Option<String>,
    /// AI (17), expiry date, as encoded: its century depends on when it is
    /// read, see [`ElementString::expiry_in`].
    pub expiry: Option<Yymmdd>,
    /// AI (21), serial number: 1 to 20 characters of GS1 character set 82.
    pub serial: Option<String>,
    /// AI (37), count of trade items: 1 to 8 digits.
    pub count: Option<u32>,
}

impl ElementString {
    /// The expiry date (17) read in `current_year` (GS1's century window:
    /// about 49 years back to 50 ahead), if the code carries one.
    pub fn expiry_in(&self, current_year: i32) -> Result<Option<NaiveDate>, Gs1Error> {
        self.expiry.map(|d| d.resolve(current_year)).transpose()
    }

    /// The human-readable form, AIs in parentheses and ascending order,
    /// e.g. `(01)09506000134352(10)ABC123(17)201225`.
    pub fn to_human(&self) -> String {
        self.elements().map(|(ai, value)| format!("({}){value}", ai.code())).collect()
    }

    /// The raw form without symbology identifier, AIs in ascending order,
    /// with a [`GS`] after every variable-length field except the last.
    pub fn to_raw(&self) -> String {
        let mut raw = String::new();
        let mut separate = false;
        for (ai, value) in self.elements() {
            if separate {
                raw.push(GS);
            }
            raw.push_str(ai.code());
            raw.push_str(&value);
            separate = matches!(ai.length(), Length::Variable(_));
        }
        raw
    }

    /// The present AIs in ascending order with their encoded values.
    fn elements(&self) -> impl Iterator<Item = (Ai, String)> {
        [
            (Ai::Sscc, self.sscc.as_ref().map(Sscc::to_string)),
            (Ai::Gtin, self.gtin.as_ref().map(Gtin::to_string)),
            (Ai::Lot, self.lot.clone()),
            (Ai::Expiry, self.expiry.map(|d| d.to_string())),
            (Ai::Serial, self.serial.clone()),
            (Ai::Count, self.count.map(|n| n.to_string())),
        ]
        .into_iter()
        .filter_map(|(ai, value)| Some((ai, value?)))
    }

    /// Validates `value` for `ai` and stores it.
    fn set(&mut self, ai: Ai, value: &str) -> Result<(), Gs1Error> {
        let what = ai.name();
        if value.is_empty() {
            return Err(Gs1Error::Empty(what));
        }
        let found = value.chars().count();
        match ai.length() {
            Length::Fixed(len, expected) if found != len => {
                return Err(Gs1Error::WrongLength { what, expected, found });
            }
            Length::Variable(max) if found > max => {
                return Err(Gs1Error::TooLong { what, found, max });
            }
            _ => {}
        }
        let numeric = !matches!(ai, Ai::Lot | Ai::Serial);
        if numeric {
            if let Some(found) = value.chars().find(|c| !c.is_ascii_digit()) {
                return Err(Gs1Error::NonDigit { what, found });
            }
        } else if let Some(found) = value.chars().find(|&c| !is_cset82(c)) {
            return Err(Gs1Error::InvalidCharacter { what, found });
        }
        match ai {
            Ai::Sscc => store(&mut self.sscc, value.parse()?, ai),
            Ai::Gtin => store(&mut self.gtin, value.parse()?, ai),
            Ai::Lot => store(&mut self.lot, value.to_owned(), ai),
            Ai::Expiry => store(&mut self.expiry, value.parse()?, ai),
            Ai::Serial => store(&mut self.serial, value.to_owned(), ai),
            // At most 8 digits, so this cannot overflow.
            Ai::Count => {
                store(&mut self.count, value.bytes().fold(0, |n, b| n * 10 + u32::from(b - b'0')), ai)
            }
        }
    }
}

impl FromStr for ElementString {
    type Err = Gs1Error;

    fn from_str(input: &str) -> Result<Self, Gs1Error> {
        let parsed = if let Some(body) = input.strip_prefix('(') {
            parse_human(body)?
        } else if input.starts_with(']') {
            let (symbology, data) = split_chars(input, 3);
            if !SYMBOLOGIES.contains(&symbology) {
                return Err(Gs1Error::UnsupportedSymbology(symbology.to_owned()));
            }
            parse_raw(data)?
        } else {
            parse_raw(input)?
        };
        if parsed == Self::default() {
            return Err(Gs1Error::Malformed("no application identifiers"));
        }
        Ok(parsed)
    }
}

/// Parses the human-readable form after its first `(`.
fn parse_human(body: &str) -> Result<ElementString, Gs1Error> {
    let mut parsed = ElementString::default();
    for element in body.split('(') {
        let (code, value) = element.split_once(')').ok_or(Gs1Error::Malformed("'(' without matching ')'"))?;
        parsed.set(Ai::from_code(code)?, value)?;
    }
    Ok(parsed)
}

/// Parses the raw form, symbology identifier already removed.
fn parse_raw(mut data: &str) -> Result<ElementString, Gs1Error> {
    let mut parsed = ElementString::default();
    while !data.is_empty() {
        // A GS where an AI should start (after a fixed-length field) is redundant.
        if let Some(rest) = data.strip_prefix(GS) {
            data = rest;
            continue;
        }
        let (code, rest) = split_chars(data, 2);
        let ai = Ai::from_code(code)?;
        let field = rest.split_once(GS).map_or(rest, |(field, _)| field);
        let value = match ai.length() {
            Length::Fixed(len, _) => split_chars(field, len).0,
            Length::Variable(_) => field,
        };
        parsed.set(ai, value)?;
        data = &rest[value.len()..]; // `value` is a prefix of `rest`
    }
    Ok(parsed)
}

/// Splits `s` after its first `n` characters, or at its end if shorter.
fn split_chars(s: &str, n: usize) -> (&str, &str) {
    s.split_at(s.char_indices().nth(n).map_or(s.len(), |(i, _)| i))
}

/// Stores `value` in an empty `slot`.
fn store<T>(slot: &mut Option<T>, value: T, ai: Ai) -> Result<(), Gs1Error> {
    if slot.is_some() {
        return Err(Gs1Error::DuplicateAi(ai.code()));
    }
    *slot = Some(value);
    Ok(())
}

/// Whether `c` is in GS1 AI encodable character set 82.
fn is_cset82(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!\"%&'()*+,-./:;<=>?_".contains(c)
}

/// A supported application identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ai {
    Sscc,
    Gtin,
    Lot,
    Expiry,
    Serial,
    Count,
}

/// How long an AI's data is.
enum Length {
    /// Exactly this many digits, also as text for messages.
    Fixed(usize, &'static str),
    /// At most this many characters.
    Variable(usize),
}

impl Ai {
    fn from_code(code: &str) -> Result<Self, Gs1Error> {
        Ok(match code {
            "00" => Self::Sscc,
            "01" => Self::Gtin,
            "10" => Self::Lot,
            "17" => Self::Expiry,
            "21" => Self::Serial,
            "37" => Self::Count,
            _ => return Err(Gs1Error::UnsupportedAi(code.to_owned())),
        })
    }

    fn code(self) -> &'static str {
        match self {
            Self::Sscc => "00",
            Self::Gtin => "01",
            Self::Lot => "10",
            Self::Expiry => "17",
            Self::Serial => "21",
            Self::Count => "37",
        }
    }

    /// The field's name in messages.
    fn name(self) -> &'static str {
        match self {
            Self::Sscc => "SSCC (00)",
            Self::Gtin => "GTIN (01)",
            Self::Lot => "lot (10)",
            Self::Expiry => "expiry date (17)",
            Self::Serial => "serial (21)",
            Self::Count => "count (37)",
        }
    }

    fn length(self) -> Length {
        match self {
            Self::Sscc => Length::Fixed(18, "18"),
            Self::Gtin => Length::Fixed(14, "14"),
            Self::Expiry => Length::Fixed(6, "6"),
            Self::Lot | Self::Serial => Length::Variable(20),
            Self::Count => Length::Variable(8),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::option;
    use proptest::prelude::*;

    use super::super::check_digit;
    use super::*;

    fn parse(input: &str) -> Result<ElementString, Gs1Error> {
        input.parse()
    }

    fn error(input: &str) -> String {
        parse(input).expect_err(input).to_string()
    }

    fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    fn gtin_example() -> ElementString {
        ElementString {
            gtin: "09506000134352".parse().ok(),
            expiry: "201225".parse().ok(),
            lot: Some("ABC123".into()),
            ..ElementString::default()
        }
    }

    #[test]
    fn human_form() {
        assert_eq!(parse("(01)09506000134352(17)201225(10)ABC123"), Ok(gtin_example()));
    }

    #[test]
    fn raw_forms() {
        for raw in [
            "]d201095060001343521720122510ABC123",
            "]d2010950600013435210ABC123\u{1d}17201225",
            "]C1\u{1d}01095060001343521720122510ABC123\u{1d}",
            "010950600013435210ABC123\u{1d}17201225",
        ] {
            assert_eq!(parse(raw), Ok(gtin_example()), "{raw:?}");
        }
    }

    #[test]
    fn sscc_serial_and_count() {
        let expected = ElementString {
            sscc: "106141411234567897".parse().ok(),
            serial: Some("SN-4/7".into()),
            count: Some(24),
            ..ElementString::default()
        };
        assert_eq!(parse("(00)106141411234567897(21)SN-4/7(37)24"), Ok(expected.clone()));
        assert_eq!(parse("]Q300106141411234567897\u{1d}3724\u{1d}21SN-4/7"), Ok(expected.clone()));
        assert_eq!(expected.to_raw(), "0010614141123456789721SN-4/7\u{1d}3724");
        assert_eq!(expected.to_human(), "(00)106141411234567897(21)SN-4/7(37)24");
    }

    #[test]
    fn formats_in_ai_order() {
        assert_eq!(gtin_example().to_human(), "(01)09506000134352(10)ABC123(17)201225");
        assert_eq!(gtin_example().to_raw(), "010950600013435210ABC123\u{1d}17201225");
    }

    #[test]
    fn expiry_day_00_is_end_of_month() {
        let read = |code: &str| parse(code).and_then(|e| e.expiry_in(2026));
        assert_eq!(read("(17)240200"), Ok(date(2024, 2, 29)));
        assert_eq!(read("(17)231200"), Ok(date(2023, 12, 31)));
        // and it re-encodes as it came, not as the date it stands for
        assert_eq!(parse("(17)240200").map(|e| e.to_human()), Ok("(17)240200".into()));
    }

    #[test]
    fn expiry_years_follow_the_century_window() {
        // GS1 General Specifications 7.12, read in 2026: 77..99 are 19YY.
        let read = |code: &str, year| parse(code).and_then(|e| e.expiry_in(year));
        assert_eq!(read("(01)09506000134352(17)991231", 2026), Ok(date(1999, 12, 31)));
        assert_eq!(read("(01)09506000134352(17)770101", 2026), Ok(date(1977, 1, 1)));
        assert_eq!(read("(01)09506000134352(17)761231", 2026), Ok(date(2076, 12, 31)));
        assert_eq!(read("(01)09506000134352(17)991231", 2060), Ok(date(2099, 12, 31)));
        assert_eq!(read("(01)09506000134352", 2026), Ok(None));
    }

    #[test]
    fn a_case_label_carries_its_count_and_a_unit_label_both_keys() {
        // A case of 12: (01) with a count of trade items (37).
        let case = parse("(01)09506000134352(37)12").expect("valid");
        assert_eq!((case.gtin.as_ref().map(Gtin::as_str), case.count), (Some("09506000134352"), Some(12)));
        assert_eq!(parse("]C101095060001343523712"), Ok(case));
        // A logistic unit labelled with its SSCC and its content's GTIN and count.
        let both = parse("]C10010614141123456789701095060001343523712").expect("valid");
        assert_eq!(both.sscc.as_ref().map(Sscc::as_str), Some("106141411234567897"));
        assert_eq!(both.gtin.as_ref().map(Gtin::as_str), Some("09506000134352"));
        assert_eq!(both.count, Some(12));
    }

    #[test]
    fn serde_round_trip() {
        let json = serde_json::to_string(&gtin_example()).expect("serialise");
        assert_eq!(serde_json::from_str::<ElementString>(&json).expect("deserialise"), gtin_example());
    }

    #[test]
    fn unsupported_ai() {
        assert_eq!(error("(99)ABC"), "unsupported application identifier (99)");
        assert_eq!(error("(3103)000123"), "unsupported application identifier (3103)");
        assert_eq!(error("]d23103000123"), "unsupported application identifier (31)");
    }

    #[test]
    fn duplicate_ai() {
        assert_eq!(error("(10)A(21)1(10)B"), "application identifier (10) occurs more than once");
    }

    #[test]
    fn fixed_field_too_short() {
        assert_eq!(error("(01)0950600013435(10)A"), "GTIN (01) must be 14 digits long, found 13");
        assert_eq!(error("]d20109506000134"), "GTIN (01) must be 14 digits long, found 11");
        assert_eq!(error("]d2001061414\u{1d}10A"), "SSCC (00) must be 18 digits long, found 7");
        assert_eq!(error("(17)2012251"), "expiry date (17) must be 6 digits long, found 7");
    }

    #[test]
    fn variable_field_too_long() {
        assert_eq!(
            error("(10)ABCDEFGHIJKLMNOPQRSTUVW"),
            "lot (10) is 23 characters long, at most 20 allowed"
        );
        assert_eq!(error("]d237123456789"), "count (37) is 9 characters long, at most 8 allowed");
    }

    #[test]
    fn empty_value() {
        assert_eq!(error("(10)(17)201225"), "lot (10) is empty");
        assert_eq!(error("]d221\u{1d}17201225"), "serial (21) is empty");
        assert_eq!(error("(01)"), "GTIN (01) is empty");
    }

    #[test]
    fn non_digit_in_numeric_field() {
        assert_eq!(error("(37)1O"), "count (37) contains 'O', only digits are allowed");
        assert_eq!(error("(01)0950600013435X"), "GTIN (01) contains 'X', only digits are allowed");
    }

    #[test]
    fn invalid_character() {
        assert_eq!(error("(10)AB#1"), "lot (10) contains '#', which is not in GS1 character set 82");
        assert_eq!(error("(21)café"), "serial (21) contains 'é', which is not in GS1 character set 82");
    }

    #[test]
    fn bad_check_digits() {
        assert_eq!(error("(01)09506000134353"), "GTIN check digit is 3, expected 2 in 09506000134353");
        assert_eq!(
            error("]C100106141411234567890"),
            "SSCC check digit is 0, expected 7 in 106141411234567890"
        );
    }

    #[test]
    fn invalid_date() {
        for bad in ["201345", "201300", "200132", "200230"] {
            assert_eq!(
                error(&format!("(17){bad}")),
                format!("expiry date (17) {bad} is not a valid YYMMDD date")
            );
        }
    }

    #[test]
    fn a_leap_day_is_checked_in_its_resolved_year() {
        let e = parse("(17)210229").expect("29 February exists in some years");
        assert_eq!(
            e.expiry_in(2026).map_err(|e| e.to_string()),
            Err("expiry date (17) 210229 (in 2021) is not a valid YYMMDD date".into())
        );
        assert_eq!(parse("(17)240229").and_then(|e| e.expiry_in(2026)), Ok(date(2024, 2, 29)));
    }

    #[test]
    fn malformed() {
        assert_eq!(error("(01"), "malformed element string: '(' without matching ')'");
        for empty in ["", "]d2", "\u{1d}"] {
            assert_eq!(error(empty), "malformed element string: no application identifiers");
        }
    }

    #[test]
    fn unsupported_symbology() {
        assert_eq!(
            error("]E09506000134352"),
            "symbology identifier ]E0 is not one of the GS1 identifiers ]C1, ]d2, ]Q3, ]e0"
        );
    }

    /// A valid key of `len` digits, check digit included.
    fn key(len: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[0-9]{{{}}}", len - 1)).expect("valid regex").prop_map(
            |data| {
                let digit = check_digit(&data).expect("digits only");
                format!("{data}{digit}")
            },
        )
    }

    /// Any element string whose lot and serial are drawn from `chars`.
    fn element_string(chars: &str) -> impl Strategy<Value = ElementString> {
        let pattern = format!("[{chars}]{{1,20}}");
        let text = || proptest::string::string_regex(&pattern).expect("valid regex");
        let expiry = (0..100u32, 1..=12u32, 0..=31u32)
            .prop_filter_map("no such day", |(y, m, d)| format!("{y:02}{m:02}{d:02}").parse::<Yymmdd>().ok());
        (
            option::of(key(18)),
            option::of(key(14)),
            option::of(text()),
            option::of(expiry),
            option::of(text()),
            option::of(0..=99_999_999u32),
        )
            .prop_map(|(sscc, gtin, lot, expiry, serial, count)| ElementString {
                sscc: sscc.and_then(|s| s.parse().ok()),
                gtin: gtin.and_then(|g| g.parse().ok()),
                lot,
                expiry,
                serial,
                count,
            })
            .prop_filter("no AIs", |e| *e != ElementString::default())
    }

    /// Character set 82 as a regex character class.
    const CSET82: &str = r#"A-Za-z0-9!"%&'()*+,\-./:;<=>?_"#;
    /// Character set 82 without `(`, which the human-readable form cannot carry.
    const CSET82_NO_PAREN: &str = r#"A-Za-z0-9!"%&')*+,\-./:;<=>?_"#;

    proptest! {
        #[test]
        fn raw_round_trip(element in element_string(CSET82)) {
            prop_assert_eq!(parse(&element.to_raw()), Ok(element.clone()));
            prop_assert_eq!(parse(&format!("]d2{}", element.to_raw())), Ok(element));
        }

        #[test]
        fn human_round_trip(element in element_string(CSET82_NO_PAREN)) {
            prop_assert_eq!(parse(&element.to_human()), Ok(element));
        }
    }
}
