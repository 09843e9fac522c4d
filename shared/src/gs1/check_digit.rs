//! The GS1 mod-10 check digit shared by all GS1 identification keys.

use super::Gs1Error;

/// Computes the GS1 check digit for `data`, the digits of a key without its
/// check digit: weights 3 and 1 alternate, starting with 3 at the rightmost
/// data digit, and the check digit brings the weighted sum to a multiple of 10.
///
/// Returns `None` if `data` contains anything but ASCII digits.
pub fn check_digit(data: &str) -> Option<u8> {
    data.bytes().all(|b| b.is_ascii_digit()).then(|| weighted(data.as_bytes()))
}

/// The check digit for ASCII digits `data`.
fn weighted(data: &[u8]) -> u8 {
    let sum = data.iter().rev().enumerate().fold(0, |sum, (i, b)| {
        let digit = b - b'0';
        let weight = if i % 2 == 0 { 3 } else { 1 };
        (sum + weight * digit) % 10
    });
    (10 - sum) % 10
}

/// Validates `digits` as the GS1 key `key`: ASCII digits only, one of
/// `lengths` long (described by `expected`), and a correct check digit.
pub(super) fn validate_key(
    key: &'static str,
    digits: &str,
    lengths: &[usize],
    expected: &'static str,
) -> Result<(), Gs1Error> {
    if let Some(found) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err(Gs1Error::NonDigit { what: key, found });
    }
    let bytes = digits.as_bytes();
    let Some((last, data)) = bytes.split_last().filter(|_| lengths.contains(&bytes.len())) else {
        return Err(Gs1Error::WrongLength { what: key, expected, found: bytes.len() });
    };
    let (found, expected) = (last - b'0', weighted(data));
    if found != expected {
        return Err(Gs1Error::CheckDigit { key, found, expected, digits: digits.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_examples() {
        // Each pair: data digits and the check digit GS1 publishes for them.
        assert_eq!(check_digit("950600013435"), Some(2)); // GTIN-13 9506000134352
        assert_eq!(check_digit("03600029145"), Some(2)); // UPC-A 036000291452
        assert_eq!(check_digit("9638507"), Some(4)); // GTIN-8 96385074
        assert_eq!(check_digit("1061414100041"), Some(5)); // GTIN-14 10614141000415
        assert_eq!(check_digit("10614141123456789"), Some(7)); // SSCC 106141411234567897
    }

    #[test]
    fn empty_data_and_non_digits() {
        assert_eq!(check_digit(""), Some(0));
        assert_eq!(check_digit("12a"), None);
    }
}
