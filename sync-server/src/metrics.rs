//! The office's metrics, computed from the merged order views:
//!
//! - **order accuracy**: of orders delivered, the share delivered in full
//!   with no pick error (over-pick, wrong item, unknown line) ever raised;
//! - **on-time delivery**: of orders delivered that had a promised date, the
//!   share whose first delivery was on or before that date (device time);
//! - **pick rate**: lines picked per hour per picker, over the span from
//!   each picker's first pick to its last;
//! - **short-pick rate**: units reported short over units picked or short;
//! - **failed-attempt rate**: failed attempts over all delivery attempts;
//! - **return rate**: of orders delivered, the share with units returned.
//!
//! A rate with nothing to count is `null`, not zero.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

/// The metrics, each with what it was computed from.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Orders looked at.
    pub orders: u64,
    /// Orders delivered (some units handed over).
    pub delivered: u64,
    /// Share of delivered orders complete and without pick errors.
    pub order_accuracy: Option<f64>,
    /// Share of delivered orders with a promised date delivered by it.
    pub on_time_delivery: Option<f64>,
    /// Lines picked per picker-hour.
    pub pick_rate_per_hour: Option<f64>,
    /// Units short over units picked or short.
    pub short_pick_rate: Option<f64>,
    /// Failed attempts over attempts.
    pub failed_attempt_rate: Option<f64>,
    /// Share of delivered orders with returns.
    pub return_rate: Option<f64>,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Computes the metrics over stored order views (the JSON of `OrderView`).
pub fn compute<'a>(views: impl IntoIterator<Item = &'a Value>) -> Metrics {
    let mut m = Metrics::default();
    let (mut accurate, mut dated, mut on_time, mut returned) = (0, 0, 0, 0);
    let (mut short, mut picked_units, mut failed, mut delivered_events) = (0, 0, 0, 0);
    let mut picks: BTreeMap<String, (u64, DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    for v in views {
        m.orders += 1;
        let lines = v["lines"].as_array().map(Vec::as_slice).unwrap_or_default();
        short += lines.iter().map(|l| n(&l["short"])).sum::<u64>();
        picked_units += lines.iter().map(|l| n(&l["picked"]) + n(&l["short"])).sum::<u64>();
        let timeline = v["timeline"].as_array().map(Vec::as_slice).unwrap_or_default();
        let live = timeline.iter().filter(|e| e.get("voided_by").is_none());
        let mut first_delivery: Option<DateTime<Utc>> = None;
        for e in live {
            let at = e["at"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok());
            match e["type"].as_str() {
                Some("picked") => {
                    let device = e["id"].as_str().unwrap_or("").split(':').next().unwrap_or("").to_owned();
                    if let Some(at) = at {
                        let p = picks.entry(device).or_insert((0, at, at));
                        p.0 += 1;
                        p.1 = p.1.min(at);
                        p.2 = p.2.max(at);
                    }
                }
                Some("attempt_failed") => failed += 1,
                Some("delivered") => {
                    delivered_events += 1;
                    first_delivery = match (first_delivery, at) {
                        (Some(f), Some(a)) => Some(f.min(a)),
                        (f, a) => f.or(a),
                    };
                }
                _ => {}
            }
        }
        let Some(delivered_at) = first_delivery else { continue };
        m.delivered += 1;
        let complete = lines.iter().all(|l| n(&l["delivered"]) >= n(&l["ordered"]));
        let pick_error = v["exceptions"].as_array().is_some_and(|xs| {
            xs.iter().any(|x| {
                let id = x["id"].as_str().unwrap_or("");
                ["over_pick", "wrong_item", "unknown_line"].iter().any(|k| id.starts_with(k))
            })
        });
        accurate += u64::from(complete && !pick_error);
        if let Some(promised) = v["header"]["promised"].as_str().and_then(|d| d.parse::<NaiveDate>().ok()) {
            dated += 1;
            on_time += u64::from(delivered_at.date_naive() <= promised);
        }
        returned += u64::from(lines.iter().any(|l| n(&l["returned"]) > 0));
    }
    m.order_accuracy = ratio(accurate, m.delivered);
    m.on_time_delivery = ratio(on_time, dated);
    m.short_pick_rate = ratio(short, picked_units);
    m.failed_attempt_rate = ratio(failed, failed + delivered_events);
    m.return_rate = ratio(returned, m.delivered);
    let lines: u64 = picks.values().map(|p| p.0).sum();
    // A picker's span counts at least a minute, so one pick is not infinitely fast.
    let hours: f64 = picks.values().map(|p| ((p.2 - p.1).num_seconds().max(60)) as f64 / 3600.0).sum();
    m.pick_rate_per_hour = (hours > 0.0).then(|| lines as f64 / hours);
    m
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn event(id: &str, kind: &str, at: &str) -> Value {
        json!({ "id": id, "type": kind, "at": at })
    }

    #[test]
    fn each_rate_counts_what_it_says() {
        let on_time = json!({
            "header": { "promised": "2026-11-24" },
            "lines": [{ "ordered": 2, "picked": 2, "short": 0, "delivered": 2, "returned": 0 }],
            "exceptions": [],
            "timeline": [
                event("hh-1:1", "picked", "2026-11-23T09:00:00Z"),
                event("hh-1:2", "picked", "2026-11-23T09:30:00Z"),
                event("drv-1:1", "attempt_failed", "2026-11-23T15:00:00Z"),
                event("drv-1:2", "delivered", "2026-11-24T10:00:00Z"),
            ]
        });
        let late_short_returned = json!({
            "header": { "promised": "2026-11-23" },
            "lines": [{ "ordered": 4, "picked": 3, "short": 1, "delivered": 3, "returned": 1 }],
            "exceptions": [{ "id": "short_pick:1" }],
            "timeline": [
                event("hh-1:3", "picked", "2026-11-23T10:00:00Z"),
                event("drv-1:3", "delivered", "2026-11-24T11:00:00Z"),
            ]
        });
        let voided_delivery = json!({
            "header": {},
            "lines": [{ "ordered": 1, "picked": 0, "short": 0, "delivered": 0, "returned": 0 }],
            "exceptions": [{ "id": "over_pick:1" }],
            "timeline": [{ "id": "drv-1:4", "type": "delivered", "at": "2026-11-24T12:00:00Z", "voided_by": "office:9" }]
        });
        let m = compute(&[on_time, late_short_returned, voided_delivery]);
        assert_eq!((m.orders, m.delivered), (3, 2));
        assert_eq!(m.order_accuracy, Some(0.5), "the second is incomplete");
        assert_eq!(m.on_time_delivery, Some(0.5));
        assert_eq!(m.short_pick_rate, Some(1.0 / 6.0));
        assert_eq!(m.failed_attempt_rate, Some(1.0 / 3.0));
        assert_eq!(m.return_rate, Some(0.5));
        assert_eq!(m.pick_rate_per_hour, Some(3.0), "3 lines over one hour");
    }

    #[test]
    fn nothing_to_count_is_null() {
        let m = compute(&[]);
        assert_eq!(m, Metrics::default());
        assert_eq!(serde_json::to_value(&m).unwrap()["order_accuracy"], Value::Null);
    }
}
