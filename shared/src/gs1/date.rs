//! GS1 dates as barcodes carry them (YYMMDD, e.g. the expiry date (17)),
//! and the century they fall in.
//!
//! A two-digit year means nothing until it is read at some time: GS1 General
//! Specifications 7.12 puts it within a window around the current year
//! (about 49 years back to 50 ahead). So a scanned [`Yymmdd`] stays as
//! encoded, and whoever has a clock resolves it with [`Yymmdd::resolve`],
//! passing the current year in: this crate has no clock.

use std::fmt;
use std::str::FromStr;

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Gs1Error;

/// A date as encoded in a GS1 element string: two-digit year, month, and
/// day, where day 00 means the last day of the month.
///
/// Parsing checks a month of 01 to 12 and a day the month can have in some
/// year (00 to 31; 29 February is left to [`Yymmdd::resolve`], which knows
/// the year).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Yymmdd {
    yy: u8,
    mm: u8,
    dd: u8,
}

impl Yymmdd {
    /// The full year of `YY` read in `current_year` (GS1 General
    /// Specifications 7.12): with `d = YY - (current_year mod 100)`, the
    /// previous century if `d >= 51`, the next one if `d <= -50`, else the
    /// current one.
    pub fn year(self, current_year: i32) -> i32 {
        let century = current_year.div_euclid(100) * 100;
        let difference = i32::from(self.yy) - current_year.rem_euclid(100);
        let shift = if difference >= 51 {
            -100
        } else if difference <= -50 {
            100
        } else {
            0
        };
        century + shift + i32::from(self.yy)
    }

    /// The calendar date, its year read in `current_year`; day 00 is the
    /// month's last day.
    pub fn resolve(self, current_year: i32) -> Result<NaiveDate, Gs1Error> {
        let year = self.year(current_year);
        let (month, day) = (u32::from(self.mm), u32::from(self.dd));
        let date = if day == 0 {
            NaiveDate::from_ymd_opt(year, month, 1)
                .and_then(|first| first.checked_add_months(Months::new(1)))
                .and_then(|next| next.pred_opt())
        } else {
            NaiveDate::from_ymd_opt(year, month, day)
        };
        date.ok_or_else(|| Gs1Error::InvalidDate(format!("{self} (in {year})")))
    }
}

impl FromStr for Yymmdd {
    type Err = Gs1Error;

    /// Six digits YYMMDD.
    fn from_str(value: &str) -> Result<Self, Gs1Error> {
        let invalid = || Gs1Error::InvalidDate(value.to_owned());
        let digits = value.as_bytes();
        if digits.len() != 6 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(invalid());
        }
        let two = |i: usize| (digits[i] - b'0') * 10 + (digits[i + 1] - b'0');
        let (yy, mm, dd) = (two(0), two(2), two(4));
        // The longest each month can be, in a leap year.
        const DAYS: [u8; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        match DAYS.get(usize::from(mm).wrapping_sub(1)) {
            Some(&max) if dd <= max => Ok(Self { yy, mm, dd }),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for Yymmdd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}{:02}{:02}", self.yy, self.mm, self.dd)
    }
}

impl Serialize for Yymmdd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Yymmdd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn read(yymmdd: &str, current_year: i32) -> Result<NaiveDate, Gs1Error> {
        yymmdd.parse::<Yymmdd>()?.resolve(current_year)
    }

    #[test]
    fn the_century_window_of_7_12() {
        // d = YY - current two-digit year: >= 51 previous century, <= -50
        // next, else this one. In 2026: 77 - 26 = 51, 76 - 26 = 50.
        for (yy, current, year) in [
            (77, 2026, 1977),
            (99, 2026, 1999),
            (76, 2026, 2076),
            (26, 2026, 2026),
            (0, 2026, 2000),
            // 2070: 20 - 70 = -50 is next century, 21 - 70 = -49 is not.
            (20, 2070, 2120),
            (21, 2070, 2021),
            (0, 2099, 2100),
            (49, 2099, 2149),
            (50, 2099, 2050),
            (51, 2000, 1951),
            (50, 2000, 2050),
            (99, 2000, 1999),
        ] {
            let code = format!("{yy:02}0101");
            assert_eq!(code.parse::<Yymmdd>().map(|d| d.year(current)), Ok(year), "{code} in {current}");
        }
    }

    #[test]
    fn an_expired_product_of_the_last_century_reads_as_expired() {
        // The case: (17)991231 scanned in 2026 is 31 December 1999,
        // not 2099.
        assert_eq!(read("991231", 2026), Ok(date(1999, 12, 31)));
        assert_eq!(read("261231", 2026), Ok(date(2026, 12, 31)));
    }

    #[test]
    fn day_00_is_the_last_day_of_the_month_in_the_resolved_year() {
        assert_eq!(read("240200", 2026), Ok(date(2024, 2, 29)));
        assert_eq!(read("230200", 2026), Ok(date(2023, 2, 28)));
        assert_eq!(read("001200", 2026), Ok(date(2000, 12, 31)));
    }

    #[test]
    fn leap_days_need_the_year() {
        // 29 February 2000 exists, 2100 is no leap year.
        assert_eq!(read("000229", 2026), Ok(date(2000, 2, 29)));
        assert_eq!(
            read("000229", 2099).map_err(|e| e.to_string()),
            Err("expiry date (17) 000229 (in 2100) is not a valid YYMMDD date".into())
        );
    }

    #[test]
    fn impossible_months_and_days_are_refused_at_parse() {
        for bad in ["261301", "260001", "260132", "260230", "260431", "2612", "26123a", "2612311"] {
            assert_eq!(bad.parse::<Yymmdd>(), Err(Gs1Error::InvalidDate(bad.into())), "{bad}");
        }
    }

    #[test]
    fn it_keeps_its_encoding() {
        let d: Yymmdd = "240200".parse().expect("valid");
        assert_eq!(d.to_string(), "240200");
        let json = serde_json::to_string(&d).expect("serialises");
        assert_eq!(json, "\"240200\"");
        assert_eq!(serde_json::from_str::<Yymmdd>(&json).ok(), Some(d));
    }
}
