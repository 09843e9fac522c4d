//! A depot's clock: its location's time zone (IANA, such as
//! `Europe/Berlin`), on which delivery slots, drivers' shifts and planned
//! times of day are read, and in which customers are told when the van
//! comes. UTC for a location that names none.

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use waybill_shared::doc::location::LocationHeader;

/// The zone named `name`, or what is wrong with it.
pub fn parse(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!("time_zone: {name:?} is no time zone: an IANA name such as Europe/Berlin or UTC")
    })
}

/// The zone of the location `header` describes: UTC when it names none
/// (or one this build does not know, which its creation refused).
pub fn of(header: &LocationHeader) -> Tz {
    header.time_zone.as_deref().and_then(|n| parse(n).ok()).unwrap_or(Tz::UTC)
}

/// `now` on the depot's clock: the day, and seconds after its midnight.
pub fn local(now: DateTime<Utc>, zone: Tz) -> (NaiveDate, u32) {
    let here = now.with_timezone(&zone);
    (here.date_naive(), here.time().num_seconds_from_midnight())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_same_instant_is_another_time_of_day_and_day_in_another_zone() {
        let now: DateTime<Utc> = "2026-07-01T22:30:00Z".parse().unwrap();
        assert_eq!(local(now, Tz::UTC), ("2026-07-01".parse().unwrap(), 22 * 3_600 + 1_800));
        // Berlin keeps summer time: two hours ahead, past midnight.
        assert_eq!(local(now, parse("Europe/Berlin").unwrap()), ("2026-07-02".parse().unwrap(), 1_800));
        assert_eq!(local(now, parse("America/New_York").unwrap()).1, 18 * 3_600 + 1_800);
        assert!(parse("Mars/Olympus").unwrap_err().contains("IANA"));
    }
}
