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
//! - **return rate**: of orders delivered, the share with units returned;
//! - **average rating**: of the ratings customers gave on the tracking page
//!   (1 to 5), the mean, with how many there are.
//!
//! A rate with nothing to count is `null`, not zero.
//!
//! Every figure is a sum over orders (and, for the pick rate, a sum per
//! picker of first and last pick), so each order's share of it
//! ([`Contribution`]) is worked out once, when the order is projected, and
//! stored beside it (`order_metrics`, `order_picks`: [`rows`]). `GET
//! /api/metrics` then reads the sums in one aggregate query
//! ([`crate::storage::Storage::metric_totals`]) instead of folding every
//! stored view on each request. [`compute`] is the same arithmetic over
//! views in memory: the reference the stored figures are tested against.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::storage::{Storage, StorageError};

/// The metrics, each with what it was computed from.
#[derive(Debug, Default, Clone, PartialEq, Serialize, utoipa::ToSchema)]
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
    /// Mean of customers' ratings, 1 to 5.
    pub average_rating: Option<f64>,
    /// Orders rated.
    pub ratings: u64,
}

/// One picker's picks in one order: how many, and the first and last
/// (milliseconds since 1970, device time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Picks {
    /// Live `picked` events.
    pub count: u64,
    /// The first.
    pub first_ms: i64,
    /// The last.
    pub last_ms: i64,
}

/// One order's share of the metrics: what it adds to each sum.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// Delivered (some live delivery): 1 or 0.
    pub delivered: u64,
    /// Delivered complete and without pick errors.
    pub accurate: u64,
    /// Delivered, with a promised date.
    pub dated: u64,
    /// Delivered, first on or before the promised date.
    pub on_time: u64,
    /// Delivered, with units returned.
    pub returned: u64,
    /// Units reported short.
    pub short: u64,
    /// Units picked or short.
    pub picked_units: u64,
    /// Live failed attempts.
    pub failed: u64,
    /// Live deliveries.
    pub deliveries: u64,
    /// The customer's rating, if any.
    pub rating: Option<u64>,
    /// Picks per picker (device).
    pub picks: BTreeMap<String, Picks>,
}

/// The sums over all orders that the metrics are made of: what
/// [`compute`] adds up in memory and the stored projection adds up in SQL.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Orders.
    pub orders: u64,
    /// The orders' contributions, summed field by field (`picks` merged per
    /// picker: counts added, first and last the earliest and latest).
    pub sum: Contribution,
    /// Orders rated.
    pub ratings: u64,
    /// Their ratings added up.
    pub rating_sum: u64,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// What the metrics read of an order's view (the JSON of `OrderView`),
/// read straight from its text: the rest is skipped, not built.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Counted {
    header: CountedHeader,
    lines: Vec<CountedLine>,
    timeline: Vec<CountedEvent>,
    exceptions: Vec<CountedException>,
    feedback: Option<CountedFeedback>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CountedHeader {
    promised: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CountedLine {
    ordered: u64,
    picked: u64,
    short: u64,
    delivered: u64,
    returned: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CountedEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    at: Option<String>,
    voided_by: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CountedException {
    id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CountedFeedback {
    rating: Option<u64>,
}

impl Counted {
    /// What the metrics read of a view's JSON text; a view that does not
    /// read counts as nothing.
    pub fn of(view: &str) -> Self {
        serde_json::from_str(view).unwrap_or_default()
    }

    /// The same, of a view as a JSON value.
    pub fn of_value(view: &Value) -> Self {
        Self::deserialize(view).unwrap_or_default()
    }
}

/// One order's share of the metrics, from its view.
pub fn contribution(v: &Counted) -> Contribution {
    let mut c =
        Contribution { rating: v.feedback.as_ref().and_then(|f| f.rating), ..Contribution::default() };
    c.short = v.lines.iter().map(|l| l.short).sum::<u64>();
    c.picked_units = v.lines.iter().map(|l| l.picked + l.short).sum::<u64>();
    let live = v.timeline.iter().filter(|e| e.voided_by.is_none());
    let mut first_delivery: Option<DateTime<Utc>> = None;
    for e in live {
        let at = e.at.as_deref().and_then(|t| t.parse::<DateTime<Utc>>().ok());
        match e.kind.as_str() {
            "picked" => {
                let device = e.id.split(':').next().unwrap_or("").to_owned();
                if let Some(at) = at {
                    let ms = at.timestamp_millis();
                    let p = c.picks.entry(device).or_insert(Picks { count: 0, first_ms: ms, last_ms: ms });
                    p.count += 1;
                    p.first_ms = p.first_ms.min(ms);
                    p.last_ms = p.last_ms.max(ms);
                }
            }
            "attempt_failed" => c.failed += 1,
            "delivered" => {
                c.deliveries += 1;
                first_delivery = match (first_delivery, at) {
                    (Some(f), Some(a)) => Some(f.min(a)),
                    (f, a) => f.or(a),
                };
            }
            _ => {}
        }
    }
    let Some(delivered_at) = first_delivery else { return c };
    c.delivered = 1;
    let complete = v.lines.iter().all(|l| l.delivered >= l.ordered);
    let pick_error = v
        .exceptions
        .iter()
        .any(|x| ["over_pick", "wrong_item", "unknown_line"].iter().any(|k| x.id.starts_with(k)));
    c.accurate = u64::from(complete && !pick_error);
    if let Some(promised) = v.header.promised.as_deref().and_then(|d| d.parse::<NaiveDate>().ok()) {
        c.dated = 1;
        c.on_time = u64::from(delivered_at.date_naive() <= promised);
    }
    c.returned = u64::from(v.lines.iter().any(|l| l.returned > 0));
    c
}

impl Totals {
    /// Adds one order.
    pub fn add(&mut self, c: &Contribution) {
        self.orders += 1;
        let s = &mut self.sum;
        s.delivered += c.delivered;
        s.accurate += c.accurate;
        s.dated += c.dated;
        s.on_time += c.on_time;
        s.returned += c.returned;
        s.short += c.short;
        s.picked_units += c.picked_units;
        s.failed += c.failed;
        s.deliveries += c.deliveries;
        if let Some(r) = c.rating {
            self.ratings += 1;
            self.rating_sum += r;
        }
        for (device, p) in &c.picks {
            match s.picks.get_mut(device) {
                Some(t) => {
                    t.count += p.count;
                    t.first_ms = t.first_ms.min(p.first_ms);
                    t.last_ms = t.last_ms.max(p.last_ms);
                }
                None => {
                    s.picks.insert(device.clone(), *p);
                }
            }
        }
    }

    /// The metrics these sums make. The pick rate needs only, per picker,
    /// the lines picked and the span from first to last pick; `picking`
    /// gives them already added up (lines, and picker-seconds, each span
    /// counting at least a minute, so one pick is not infinitely fast).
    pub fn metrics(&self, picking: (u64, u64)) -> Metrics {
        let s = &self.sum;
        let (lines, seconds) = picking;
        Metrics {
            orders: self.orders,
            delivered: s.delivered,
            order_accuracy: ratio(s.accurate, s.delivered),
            on_time_delivery: ratio(s.on_time, s.dated),
            short_pick_rate: ratio(s.short, s.picked_units),
            failed_attempt_rate: ratio(s.failed, s.failed + s.deliveries),
            return_rate: ratio(s.returned, s.delivered),
            average_rating: ratio(self.rating_sum, self.ratings),
            ratings: self.ratings,
            pick_rate_per_hour: (seconds > 0).then(|| lines as f64 / (seconds as f64 / 3600.0)),
        }
    }

    /// Lines picked and picker-seconds, from the merged picks per picker.
    fn picking(&self) -> (u64, u64) {
        let lines = self.sum.picks.values().map(|p| p.count).sum();
        let seconds = self.sum.picks.values().map(|p| span_seconds(p.first_ms, p.last_ms)).sum();
        (lines, seconds)
    }
}

/// A picker's span in whole seconds, at least a minute (the SQL of
/// [`crate::storage::Storage::metric_totals`] says the same).
fn span_seconds(first_ms: i64, last_ms: i64) -> u64 {
    u64::try_from((last_ms - first_ms) / 1000).unwrap_or(0).max(60)
}

/// Computes the metrics over order views in memory (the JSON of
/// `OrderView`): the reference for what the projection stores.
pub fn compute<'a>(views: impl IntoIterator<Item = &'a Value>) -> Metrics {
    let mut t = Totals::default();
    for v in views {
        t.add(&contribution(&Counted::of_value(v)));
    }
    t.metrics(t.picking())
}

/// Orders stored before the metrics were projected (a database from an
/// older build) get their rows now, from their stored views, a thousand at
/// a time. Quick when there are none.
pub async fn backfill(storage: &Storage) -> Result<u64, StorageError> {
    let mut done = 0;
    loop {
        let missing = storage.views_without_metrics(1000).await?;
        if missing.is_empty() {
            return Ok(done);
        }
        let mut ops = Vec::new();
        for (id, view) in &missing {
            ops.extend(crate::storage::metrics::order(id, &contribution(&Counted::of(view))));
        }
        storage.write(ops).await?;
        done += missing.len() as u64;
    }
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
        // On time with a failed attempt first; late, short and returned; a
        // voided delivery.
        let three = &views()[..3];
        let m = compute(three);
        assert_eq!((m.orders, m.delivered), (3, 2));
        assert_eq!(m.order_accuracy, Some(0.5), "the second is incomplete");
        assert_eq!(m.on_time_delivery, Some(0.5));
        assert_eq!(m.short_pick_rate, Some(1.0 / 6.0));
        assert_eq!(m.failed_attempt_rate, Some(1.0 / 3.0));
        assert_eq!(m.return_rate, Some(0.5));
        assert_eq!(m.pick_rate_per_hour, Some(3.0), "3 lines over one hour");
        assert_eq!((m.average_rating, m.ratings), (Some(3.5), 2), "the third was not rated");
    }

    /// Views of every kind the metrics count: the three the rates test
    /// reads first, a second
    /// picker, the first picker again in another order (its span runs
    /// across orders), a delivery without a promised date, an unrated
    /// failed attempt, and an order not yet picked.
    fn views() -> Vec<Value> {
        let mut all = vec![
            json!({
                "header": { "promised": "2026-11-24" },
                "feedback": { "rating": 5 },
                "lines": [{ "ordered": 2, "picked": 2, "short": 0, "delivered": 2, "returned": 0 }],
                "exceptions": [],
                "timeline": [
                    event("hh-1:1", "picked", "2026-11-23T09:00:00Z"),
                    event("hh-1:2", "picked", "2026-11-23T09:30:00Z"),
                    event("drv-1:1", "attempt_failed", "2026-11-23T15:00:00Z"),
                    event("drv-1:2", "delivered", "2026-11-24T10:00:00Z"),
                ]
            }),
            json!({
                "header": { "promised": "2026-11-23" },
                "feedback": { "rating": 2 },
                "lines": [{ "ordered": 4, "picked": 3, "short": 1, "delivered": 3, "returned": 1 }],
                "exceptions": [{ "id": "short_pick:1" }],
                "timeline": [
                    event("hh-1:3", "picked", "2026-11-23T10:00:00Z"),
                    event("drv-1:3", "delivered", "2026-11-24T11:00:00Z"),
                ]
            }),
            json!({
                "header": {},
                "lines": [{ "ordered": 1, "picked": 0, "short": 0, "delivered": 0, "returned": 0 }],
                "exceptions": [{ "id": "over_pick:1" }],
                "timeline": [{ "id": "drv-1:4", "type": "delivered", "at": "2026-11-24T12:00:00Z", "voided_by": "office:9" }]
            }),
        ];
        all.push(json!({
            "header": { "promised": "2026-11-30" },
            "lines": [
                { "ordered": 5, "picked": 5, "short": 0, "delivered": 5, "returned": 0 },
                { "ordered": 1, "picked": 1, "short": 0, "delivered": 1, "returned": 0 }
            ],
            "exceptions": [{ "id": "wrong_item:3" }],
            "timeline": [
                event("hh-2:1", "picked", "2026-11-23T08:00:00.400Z"),
                event("hh-2:2", "picked", "2026-11-23T08:00:30Z"),
                event("hh-1:4", "picked", "2026-11-23T11:15:00Z"),
                event("drv-2:1", "delivered", "2026-11-29T17:00:00Z"),
                event("drv-2:2", "delivered", "2026-11-28T09:00:00Z"),
            ]
        }));
        all.push(json!({
            "header": {},
            "feedback": { "rating": 4 },
            "lines": [{ "ordered": 1, "picked": 1, "short": 0, "delivered": 1, "returned": 0 }],
            "exceptions": [],
            "timeline": [event("hh-2:3", "picked", "2026-11-23T12:00:59.999Z"), event("drv-2:3", "delivered", "2026-11-24T09:00:00Z")]
        }));
        all.push(json!({
            "header": { "promised": "2026-11-25" },
            "lines": [{ "ordered": 3, "picked": 0, "short": 3, "delivered": 0, "returned": 0 }],
            "exceptions": [{ "id": "short_pick:2" }],
            "timeline": [event("drv-3:1", "attempt_failed", "2026-11-24T13:00:00Z")]
        }));
        all.push(
            json!({ "header": { "promised": "2026-12-01" }, "lines": [{ "ordered": 2 }], "timeline": [] }),
        );
        all
    }

    #[tokio::test]
    async fn the_projection_summed_in_sql_agrees_with_the_fold() {
        let (_dir, storage) = crate::storage::scratch().await;
        assert_eq!(storage.metric_totals().await.unwrap(), compute(&[]), "nothing stored");

        let mut views = views();
        for (i, v) in views.iter().enumerate() {
            storage
                .write(crate::storage::metrics::order(
                    &format!("SO-{i}"),
                    &contribution(&Counted::of_value(v)),
                ))
                .await
                .unwrap();
        }
        let stored = storage.metric_totals().await.unwrap();
        assert_eq!(stored, compute(&views));
        // Figures that would differ if any share were lost or counted twice.
        assert_eq!((stored.orders, stored.delivered, stored.ratings), (7, 4, 3));
        assert_eq!(stored.failed_attempt_rate, Some(2.0 / 7.0));

        // An order projected again (a new event) replaces its share: the
        // first order's delivery is voided, its picks too.
        views[0]["timeline"] = json!([
            { "id": "hh-1:1", "type": "picked", "at": "2026-11-23T09:00:00Z", "voided_by": "office:1" },
            event("hh-1:2", "picked", "2026-11-23T09:30:00Z"),
        ]);
        storage
            .write(crate::storage::metrics::order("SO-0", &contribution(&Counted::of_value(&views[0]))))
            .await
            .unwrap();
        let again = storage.metric_totals().await.unwrap();
        assert_eq!(again, compute(&views));
        assert_eq!((again.orders, again.delivered), (7, 3));
    }

    /// What the metrics read is found, by name, in a view the fold made.
    #[test]
    fn a_folded_view_is_read_by_its_field_names() {
        use waybill_shared::{doc::Contents, event::Event, fold};
        let header = serde_json::from_value(json!({
            "id": "SO-1", "customer": "c", "promised": "2026-12-01",
            "ship_to": {"name": "n", "line1": "l", "city": "c", "postcode": "p", "country": "GB"},
            "lines": [{"line": 1, "gtin": "09506000134352", "description": "d", "quantity": 5}],
            "created_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        let event = |n: u64, payload: Value| {
            let at = format!("2026-11-23T09:0{n}:00Z");
            let e = json!({ "v": 1, "id": format!("hh-1:{n}"), "hlc": { "ms": n, "n": 0 }, "at": at, "payload": payload });
            Event::from_json(&e.to_string()).unwrap()
        };
        let events = vec![
            event(
                1,
                json!({ "type": "picked", "order": "SO-1", "line": 1, "location": "wh-1", "bin": "A-01",
                             "gtin": "09506000134352", "quantity": 2 }),
            ),
            event(
                2,
                json!({ "type": "short_picked", "line": 1, "location": "wh-1", "bin": "A-01",
                             "quantity": 3, "reason": "not_found" }),
            ),
        ];
        let view = fold::order::fold(&Contents { header, events, unreadable: Vec::new() }, &|_| true);
        let text = serde_json::to_string(&view).unwrap();
        let c = contribution(&Counted::of(&text));
        assert_eq!((c.short, c.picked_units), (3, 5), "{text}");
        assert_eq!(
            c.picks["hh-1"],
            Picks { count: 1, first_ms: 1_795_424_460_000, last_ms: 1_795_424_460_000 }
        );
        assert_eq!(c, contribution(&Counted::of_value(&serde_json::to_value(&view).unwrap())));
    }

    #[test]
    fn nothing_to_count_is_null() {
        let m = compute(&[]);
        assert_eq!(m, Metrics::default());
        assert_eq!(serde_json::to_value(&m).unwrap()["order_accuracy"], Value::Null);
    }
}
