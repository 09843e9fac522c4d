//! What this node counts as it runs, for operators (`GET /metrics`): sync
//! sessions, changes stored, refusals, and how long a device's changes
//! take from accepted to durable and announced. Plain atomics, counted
//! since the process started (Prometheus's counters reset on a restart and
//! its `rate()` allows for it), and the Prometheus text format they are
//! served in, with what the database says beside them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sync sessions opened (a device past the handshake).
pub static SESSIONS: AtomicU64 = AtomicU64::new(0);
/// Document streams served (one per document a device syncs; a pushed
/// change a device applies needs none).
pub static DOC_STREAMS: AtomicU64 = AtomicU64::new(0);
/// Changes accepted from devices and stored.
pub static CHANGES_STORED: AtomicU64 = AtomicU64::new(0);
/// Changes the write policy refused (quarantined).
pub static CHANGES_REFUSED: AtomicU64 = AtomicU64::new(0);
/// Connections refused at the handshake (version, enrolment, revoked,
/// too many connections).
pub static HANDSHAKES_REFUSED: AtomicU64 = AtomicU64::new(0);

/// Upper bounds of the push-latency buckets, in seconds.
pub const BUCKETS: [f64; 11] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// How long accepted changes took to be stored durably, with their
/// projections, and announced to the devices holding the document: a
/// histogram over [`BUCKETS`] (and one more for the rest).
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

/// Push latency ([`Histogram`]).
pub static PUSH: Histogram =
    Histogram { counts: [const { AtomicU64::new(0) }; BUCKETS.len() + 1], sum_micros: AtomicU64::new(0) };

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket (the last is every observation), and
    /// the sum in seconds.
    fn read(&self) -> (Vec<u64>, f64) {
        let mut running = 0;
        let cumulative = self
            .counts
            .iter()
            .map(|c| {
                running += c.load(Ordering::Relaxed);
                running
            })
            .collect();
        (cumulative, self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6)
    }
}

/// Adds `n` to `counter`.
pub fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// Prometheus text exposition (format 0.0.4), written family by family.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

/// A label value with `\`, `"` and line breaks escaped.
fn escaped(v: &str) -> String {
    v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

impl Exposition {
    /// Starts a family: its help line and type.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample: `name{labels} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escaped(v))).collect();
        let labels = if labels.is_empty() { String::new() } else { format!("{{{}}}", labels.join(",")) };
        let _ = writeln!(self.text, "{name}{labels} {value}");
        self
    }

    /// This node's counters and the push-latency histogram; `open` is the
    /// sync sessions open now.
    pub fn node(&mut self, open: usize) -> &mut Self {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        self.family("waybill_sync_sessions_total", "counter", "Sync sessions opened on this node.")
            .sample("waybill_sync_sessions_total", &[], load(&SESSIONS))
            .family("waybill_sync_sessions_open", "gauge", "Sync sessions open on this node now.")
            .sample("waybill_sync_sessions_open", &[], open as f64)
            .family("waybill_document_streams_total", "counter", "Document streams served on this node.")
            .sample("waybill_document_streams_total", &[], load(&DOC_STREAMS))
            .family("waybill_changes_stored_total", "counter", "Changes from devices accepted and stored.")
            .sample("waybill_changes_stored_total", &[], load(&CHANGES_STORED))
            .family(
                "waybill_refusals_total",
                "counter",
                "Refusals: changes the write policy refused, connections refused at the handshake.",
            )
            .sample("waybill_refusals_total", &[("kind", "change")], load(&CHANGES_REFUSED))
            .sample("waybill_refusals_total", &[("kind", "handshake")], load(&HANDSHAKES_REFUSED));
        let (cumulative, sum) = PUSH.read();
        let name = "waybill_push_seconds";
        self.family(
            name,
            "histogram",
            "Time from a device's changes accepted to stored durably and announced to the devices holding the document.",
        );
        for (bound, count) in BUCKETS.iter().zip(&cumulative) {
            self.sample(&format!("{name}_bucket"), &[("le", &bound.to_string())], *count as f64);
        }
        let all = cumulative.last().copied().unwrap_or(0) as f64;
        self.sample(&format!("{name}_bucket"), &[("le", "+Inf")], all)
            .sample(&format!("{name}_sum"), &[], sum)
            .sample(&format!("{name}_count"), &[], all)
    }

    /// What the database holds: orders by status, open exceptions by kind,
    /// the webhook and email queues, quarantined changes.
    pub fn stored(&mut self, f: &crate::storage::metrics::OperatorFigures) -> &mut Self {
        self.family("waybill_orders", "gauge", "Orders by status.");
        for (status, n) in &f.orders {
            self.sample("waybill_orders", &[("status", status)], *n as f64);
        }
        self.family("waybill_open_exceptions", "gauge", "Open exceptions by kind.");
        for (kind, n) in &f.exceptions {
            self.sample("waybill_open_exceptions", &[("kind", kind)], *n as f64);
        }
        self.family("waybill_outbox_depth", "gauge", "Notifications waiting to go out: webhooks and emails.")
            .sample("waybill_outbox_depth", &[("queue", "webhooks")], f.webhooks.0 as f64)
            .sample("waybill_outbox_depth", &[("queue", "emails")], f.emails.0 as f64)
            .family("waybill_outbox_failed", "gauge", "Notifications given up on after every retry.")
            .sample("waybill_outbox_failed", &[("queue", "webhooks")], f.webhooks.1 as f64)
            .sample("waybill_outbox_failed", &[("queue", "emails")], f.emails.1 as f64)
            .family(
                "waybill_quarantined_changes",
                "gauge",
                "Refused changes kept in quarantine for the office.",
            )
            .sample("waybill_quarantined_changes", &[], f.quarantined as f64)
    }

    /// The text.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_cumulatively_and_labels_are_escaped() {
        let h = Histogram {
            counts: [const { AtomicU64::new(0) }; BUCKETS.len() + 1],
            sum_micros: AtomicU64::new(0),
        };
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(20));
        h.observe(Duration::from_secs(9));
        let (cumulative, sum) = h.read();
        assert_eq!(cumulative[0], 1, "0.5 ms is under 1 ms");
        assert_eq!(cumulative[4], 2, "20 ms is under 25 ms");
        assert_eq!(cumulative[BUCKETS.len() - 1], 2, "9 s is over every bound");
        assert_eq!(cumulative[BUCKETS.len()], 3);
        assert!((sum - 9.0205).abs() < 1e-9, "{sum}");
        let text = Exposition::default().sample("x", &[("k", "a\"b\\c")], 1.5).finish();
        assert_eq!(text, "x{k=\"a\\\"b\\\\c\"} 1.5\n");
    }
}
