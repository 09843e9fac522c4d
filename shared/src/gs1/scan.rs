//! Classifying what a barcode scanner emitted.

use super::{ElementString, GS, Gs1Error, Gtin, Label, Sscc};

/// A classified scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Code {
    /// A bare GTIN-8, -12, -13 or -14, e.g. from an EAN/UPC barcode.
    Gtin(Gtin),
    /// A bare 18-digit SSCC.
    Sscc(Sscc),
    /// A GS1 element string.
    Element(ElementString),
    /// A Waybill label.
    Label(Label),
}

/// Classifies and parses scanner output, after trimming surrounding whitespace:
///
/// - `WB:…` is a Waybill [`Label`];
/// - input starting with a symbology identifier (`]`) or `(`, or containing
///   [`GS`], is an [`ElementString`];
/// - 8, 12, 13 or 14 digits are a [`Gtin`], 18 digits an [`Sscc`];
/// - `00` and 18 digits, or `01` and 14 digits, followed by anything (or
///   nothing, for `01`), is an unbracketed raw [`ElementString`].
///
/// Anything else is [`Gs1Error::Unrecognised`]; input of a recognised kind
/// that fails to parse gives that kind's error.
pub fn parse_code(input: &str) -> Result<Code, Gs1Error> {
    // GS (U+001D) is not Unicode White_Space, so trimming keeps it.
    let code = input.trim();
    if code.starts_with("WB:") {
        return code.parse().map(Code::Label);
    }
    if code.starts_with(['(', ']']) || code.contains(GS) {
        return code.parse().map(Code::Element);
    }
    if code.bytes().all(|b| b.is_ascii_digit()) {
        match code.len() {
            8 | 12 | 13 | 14 => return code.parse().map(Code::Gtin),
            18 => return code.parse().map(Code::Sscc),
            _ => {}
        }
    }
    if starts_with_key(code, "00", 18) || starts_with_key(code, "01", 14) {
        return code.parse().map(Code::Element);
    }
    Err(Gs1Error::Unrecognised(code.to_owned()))
}

/// Whether `code` starts with `ai` followed by `digits` digits.
fn starts_with_key(code: &str, ai: &str, digits: usize) -> bool {
    code.strip_prefix(ai)
        .and_then(|rest| rest.as_bytes().get(..digits))
        .is_some_and(|key| key.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(input: &str) -> Code {
        Code::Element(input.parse().expect(input))
    }

    #[test]
    fn bare_keys() {
        for gtin in ["96385074", "036000291452", "9506000134352", "10614141000415"] {
            assert_eq!(parse_code(gtin), Ok(Code::Gtin(gtin.parse().expect(gtin))));
        }
        assert_eq!(
            parse_code(" 106141411234567897\r\n"),
            Ok(Code::Sscc("106141411234567897".parse().expect("valid")))
        );
    }

    #[test]
    fn element_strings() {
        let human = "(01)09506000134352(17)201225(10)ABC123";
        assert_eq!(parse_code(human), Ok(element(human)));
        assert_eq!(parse_code("  ]d2010950600013435210ABC123\u{1d}17201225\n"), Ok(element(human)));
        assert_eq!(parse_code("010950600013435210ABC123\u{1d}17201225"), Ok(element(human)));
        assert_eq!(parse_code("0109506000134352"), Ok(element("(01)09506000134352")));
        assert_eq!(parse_code("01095060001343521720122510ABC123"), Ok(element(human)));
        assert_eq!(parse_code("00106141411234567897"), Ok(element("(00)106141411234567897")));
    }

    #[test]
    fn a_code_with_an_sscc_and_a_gtin_keeps_both() {
        let both = "(00)106141411234567897(01)09506000134352(37)12";
        for code in
            [both, "]C10010614141123456789701095060001343523712", "0010614141123456789701095060001343523712"]
        {
            let Ok(Code::Element(e)) = parse_code(code) else { panic!("{code} is no element string") };
            assert_eq!(
                (e.sscc.map(|s| s.to_string()), e.gtin.map(|g| g.to_string()), e.count),
                (Some("106141411234567897".into()), Some("09506000134352".into()), Some(12)),
                "{code}"
            );
        }
    }

    #[test]
    fn labels() {
        assert_eq!(parse_code("WB:ORD:SO-1001\n"), Ok(Code::Label(Label::Order("SO-1001".parse().unwrap()))));
        assert!(matches!(parse_code("WB:ORD:"), Err(Gs1Error::LabelId(_))));
    }

    #[test]
    fn kind_errors_come_through() {
        assert!(matches!(parse_code("9506000134353"), Err(Gs1Error::CheckDigit { key: "GTIN", .. })));
        assert!(matches!(parse_code("]d2(99)1"), Err(Gs1Error::UnsupportedAi(_))));
    }

    #[test]
    fn unrecognised() {
        for other in ["", "   ", "hello", "12345", "1234567890123456", "02095060001343521"] {
            assert_eq!(
                parse_code(other).map_err(|e| e.to_string()),
                Err(format!("{:?} is not a GTIN, SSCC, GS1 element string or Waybill label", other.trim()))
            );
        }
    }
}
