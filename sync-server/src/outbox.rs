//! Customer notifications as outgoing webhooks, from a durable outbox.
//!
//! What to tell a customer is read off the order's merged view
//! ([`notifications`]): the order was confirmed (taken in), shipped (a
//! package was loaded), out for delivery, delivered, a delivery attempt
//! failed (once per attempt), a return was received, a refund made (once
//! each). The same notifications go to the customer by email
//! ([`crate::mail`]). Each has a stable key (`SO-1:delivered`,
//! `SO-1:attempt_failed:drv-1:12`). The projection of an order queues every
//! notification for every webhook in the same transaction as the changes
//! that caused it, ignoring one queued already for the same `(webhook, key)`:
//! a notification is queued once, however often the order is projected, and
//! a queued one survives any crash.
//!
//! A webhook hears about what happened after it was registered: events
//! whose device time is older than the webhook are not queued for it.
//!
//! [`run`] delivers the queue: a `POST` of the JSON payload with headers
//! `Waybill-Delivery` (the key: receivers deduplicate by it), `Waybill-Topic`
//! and `Waybill-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" under the webhook's secret>`. A 2xx answer is written down
//! (durably) before the next send; anything else is retried after 1, 2, 4 …
//! seconds, at most an hour apart, and given up after [`MAX_ATTEMPTS`]. A
//! delivery acknowledged and written down is never sent again, across
//! restarts. The one gap is a crash between the receiver's answer and that
//! write, which sends it once more: that is what `Waybill-Delivery` is for.
//!
//! Several nodes may run [`run`] against one database: before sending, a
//! node claims the delivery, moving its `next_at` [`LEASE_SECS`] on only if
//! the row is still as it read it (not delivered, tried or taken meanwhile).
//! The claim is one write that changes the row or fails, so one node sends
//! it; if that node dies before writing down the outcome, the delivery is
//! due again when the lease runs out.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast::{self, error::TryRecvError};
use waybill_shared::fold::OrderView;

use crate::server::Shared;
use crate::storage::outbox::{DueRow, Queue};
use crate::storage::{Storage, StorageError, WriteOp};

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 20;

/// Longest wait between attempts.
const MAX_BACKOFF_SECS: i64 = 3600;

/// Deliveries tried at once per pass.
const BATCH: i64 = 32;

/// How long a node holds a delivery it claimed before another may take it:
/// beyond a request's timeout (10 s), and short, as a node that crashed
/// mid-send leaves its deliveries to wait this long.
const LEASE_SECS: i64 = 15;

/// Topics, as sent in `Waybill-Topic` and the payload.
pub const TOPICS: &[&str] = &[
    "order.confirmed",
    "order.shipped",
    "order.out_for_delivery",
    "order.delivered",
    "order.attempt_failed",
    "order.return_received",
    "order.refunded",
];

/// One thing to tell the customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// Stable key: the same fact always has the same key.
    pub key: String,
    /// `order.confirmed`, `order.shipped`, …
    pub topic: &'static str,
    /// Device time of the event behind it.
    pub at: DateTime<Utc>,
    /// The body sent.
    pub payload: serde_json::Value,
}

/// What the order's view has to tell its customer, in timeline order.
/// Voided events tell nothing.
pub fn notifications(v: &OrderView) -> Vec<Notification> {
    let order = v.header.id.as_str();
    let mut out: Vec<Notification> = Vec::new();
    for e in v.timeline.iter().filter(|e| e.voided_by.is_none()) {
        let (topic, key) = match e.kind {
            "order_created" => ("order.confirmed", format!("{order}:confirmed")),
            "loaded" => ("order.shipped", format!("{order}:shipped")),
            "out_for_delivery" => ("order.out_for_delivery", format!("{order}:out_for_delivery")),
            "delivered" => ("order.delivered", format!("{order}:delivered")),
            "attempt_failed" => ("order.attempt_failed", format!("{order}:attempt_failed:{}", e.id)),
            "return_received" => ("order.return_received", format!("{order}:return_received:{}", e.id)),
            "refund_recorded" => ("order.refunded", format!("{order}:refunded:{}", e.id)),
            _ => continue,
        };
        if out.iter().any(|n| n.key == key) {
            continue;
        }
        let mut payload = json!({
            "id": key,
            "topic": topic,
            "order": order,
            "customer": v.header.customer,
            "at": e.at,
            "event": e.id,
        });
        if topic == "order.delivered" {
            if let Some(p) = v.proofs.iter().find(|p| p.event == e.id) {
                payload["recipient"] = json!(p.proof.recipient_name);
                payload["packages"] = json!(p.packages);
            }
        }
        if topic == "order.attempt_failed" {
            payload["next"] = json!("the carrier will try again or return the goods");
        }
        out.push(Notification { key, topic, at: e.at, payload });
    }
    out
}

/// The writes that queue the view's notifications for every webhook
/// registered before the event, and for the customer's email address.
pub fn queue(v: &OrderView) -> Vec<WriteOp> {
    let (order, notifications) = (v.header.id.as_str(), notifications(v));
    let mut ops = crate::storage::mail::queue(order, &notifications);
    ops.extend(crate::storage::projection::queue(order, notifications));
    ops
}

/// A webhook as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    /// Its id.
    pub id: i64,
    /// Where deliveries go.
    pub url: String,
    /// When it was registered.
    pub created_at: String,
    /// Deliveries waiting (including retries).
    pub pending: i64,
    /// Deliveries acknowledged.
    pub delivered: i64,
    /// Deliveries given up.
    pub failed: i64,
}

/// Registers a webhook; returns it and the secret it signs with.
pub async fn add(
    storage: &Storage,
    url: &str,
    now: DateTime<Utc>,
) -> Result<(Webhook, String), WebhookError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| WebhookError::BadUrl(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(WebhookError::BadUrl("use an http:// or https:// address with a host".into()));
    }
    let mut raw = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
        .map_err(|_| WebhookError::Random)?;
    let secret = format!("whsec_{}", waybill_shared::blob::BlobHash::of(&raw).hex());
    let created_at = now.to_rfc3339();
    let id = storage.add_webhook(parsed.as_str(), &secret, &created_at).await?;
    let hook = Webhook { id, url: parsed.to_string(), created_at, pending: 0, delivered: 0, failed: 0 };
    Ok((hook, secret))
}

/// Removes a webhook and what is still queued for it.
pub async fn remove(storage: &Storage, id: i64) -> Result<(), WebhookError> {
    storage.remove_webhook(id).await.map_err(|e| match e {
        StorageError::Conflict => WebhookError::Unknown(id),
        e => e.into(),
    })
}

/// Webhooks with their delivery counts.
pub async fn list(storage: &Storage) -> Result<Vec<Webhook>, WebhookError> {
    Ok(storage
        .webhooks()
        .await?
        .into_iter()
        .map(|(id, url, created_at, pending, delivered, failed)| Webhook {
            id,
            url,
            created_at,
            pending,
            delivered,
            failed,
        })
        .collect())
}

/// A webhook request that cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The address is not an http(s) URL.
    #[error("url: {0}")]
    BadUrl(String),
    /// No such webhook.
    #[error("no webhook {0}")]
    Unknown(i64),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Randomness was not available.
    #[error("no randomness available")]
    Random,
}

/// Delivers the outbox until the server stops: wakes on every stored change
/// and at least once a second.
pub async fn run(shared: Arc<Shared>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("waybill-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: no HTTP client; notifications stay queued");
            return;
        }
    };
    let mut changes = shared.changes.subscribe();
    loop {
        let round = tokio::time::Instant::now();
        match shared.storage.due_deliveries(&Utc::now().to_rfc3339(), BATCH).await {
            Ok(list) => {
                let full = list.len() as i64 >= BATCH;
                let mut sends = tokio::task::JoinSet::new();
                for d in list {
                    sends.spawn(deliver(shared.clone(), client.clone(), d));
                }
                while sends.join_next().await.is_some() {}
                if full {
                    continue;
                }
            }
            Err(e) => tracing::error!(error = %e, "webhooks: reading the outbox failed"),
        }
        next_round(&mut changes, round).await;
    }
}

/// Rounds of an outbox started while changes stream in are at least this
/// far apart: a catch-up of 2,000 documents is not 2,000 reads of it.
const ROUND_GAP: Duration = Duration::from_millis(100);

/// Waits until an outbox (webhooks, email) may hold more to send: a change
/// was stored (here or, through the database, on another node) or a second
/// passed since. A round after one that started at `last` waits out
/// [`ROUND_GAP`] and takes in every change told meanwhile.
pub(crate) async fn next_round(changes: &mut broadcast::Receiver<String>, last: tokio::time::Instant) {
    tokio::select! {
        _ = changes.recv() => {}
        () = tokio::time::sleep(Duration::from_secs(1)) => return,
    }
    tokio::time::sleep_until(last + ROUND_GAP).await;
    // Bounded: what is told while this drains waits for the next round.
    for _ in 0..changes.len() + 1 {
        if matches!(changes.try_recv(), Err(TryRecvError::Empty | TryRecvError::Closed)) {
            break;
        }
    }
}

/// After `attempts` failed tries of a notification (webhook or email), at
/// `now`: when the next is (1, 2, 4 … seconds on, at most an hour), and
/// whether it is given up instead ([`MAX_ATTEMPTS`]).
pub(crate) fn next_try(attempts: i64, now: DateTime<Utc>) -> (String, bool) {
    let wait = 1i64.checked_shl(u32::try_from(attempts - 1).unwrap_or(31)).unwrap_or(i64::MAX);
    let next = now + chrono::Duration::seconds(wait.min(MAX_BACKOFF_SECS));
    (next.to_rfc3339(), attempts >= MAX_ATTEMPTS)
}

/// `t=<unix>,v1=<hex HMAC-SHA256("<t>.<body>")>`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{t}.{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

async fn deliver(shared: Arc<Shared>, client: reqwest::Client, d: DueRow) {
    let now = Utc::now();
    // Another node may have read it too: the one whose claim lands sends it.
    let until = (now + chrono::Duration::seconds(LEASE_SECS)).to_rfc3339();
    match shared.storage.claim(Queue::Webhooks, d.id, d.attempts, &d.next_at, &until).await {
        Ok(()) => {}
        Err(StorageError::Conflict) => return,
        Err(e) => {
            tracing::error!(error = %e, key = %d.key, "webhooks: claiming a delivery failed");
            return;
        }
    }
    let result = client
        .post(&d.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Waybill-Delivery", &d.key)
        .header("Waybill-Topic", &d.topic)
        .header("Waybill-Signature", signature(&d.secret, now.timestamp(), &d.payload))
        .body(d.payload.clone())
        .send()
        .await;
    let error = match result {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => Some(format!("answered {}", r.status())),
        Err(e) => Some(format!("could not send: {e}")),
    };
    let written = match error {
        None => shared.storage.sent(Queue::Webhooks, d.id, &now.to_rfc3339()).await,
        Some(error) => {
            let attempts = d.attempts + 1;
            tracing::warn!(key = %d.key, url = %d.url, attempts, %error, "webhook delivery failed");
            let (next, gave_up) = next_try(attempts, now);
            let failed = gave_up.then(|| now.to_rfc3339());
            shared.storage.not_sent(Queue::Webhooks, d.id, attempts, &next, &error, failed.as_deref()).await
        }
    };
    if let Err(e) = written {
        tracing::error!(error = %e, key = %d.key, "webhooks: recording a delivery failed");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use waybill_shared::doc::{self, DocId};
    use waybill_shared::event::Payload;
    use waybill_shared::fold;
    use waybill_shared::id::DeviceId;
    use waybill_shared::recorder::Recorder;

    use super::*;

    #[tokio::test]
    async fn a_stream_of_changes_is_one_round_at_most_every_gap() {
        let (tx, mut changes) = broadcast::channel(16);
        let last = tokio::time::Instant::now();
        // More than the channel holds: the lagged ones count too.
        for i in 0..40 {
            tx.send(format!("order/SO-{i}")).unwrap();
        }
        next_round(&mut changes, last).await;
        assert!(last.elapsed() >= ROUND_GAP, "a round {:?} after the last", last.elapsed());
        assert!(matches!(changes.try_recv(), Err(TryRecvError::Empty)), "every change told is taken in");
        // Quiet: the next round is a second on.
        let quiet = tokio::time::Instant::now();
        next_round(&mut changes, quiet).await;
        assert!(quiet.elapsed() >= Duration::from_secs(1));
    }

    fn payload(v: serde_json::Value) -> Payload {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_customer_hears_each_step_once_and_every_failed_attempt() {
        let header: waybill_shared::doc::order::OrderHeader = serde_json::from_value(json!({
            "id": "SO-1", "customer": "Ada",
            "ship_to": { "name": "Ada", "line1": "1 High St", "city": "London", "postcode": "N1", "country": "GB" },
            "lines": [{ "line": 1, "gtin": "09506000134352", "description": "Gear", "quantity": 1 }],
            "created_at": "2026-11-23T08:00:00Z"
        }))
        .unwrap();
        let id = DocId::Order(header.id.clone());
        let mut office = Recorder::new(DeviceId::new("office").unwrap());
        let mut driver = Recorder::new(DeviceId::new("drv-1").unwrap());
        let mut d = doc::create(waybill_shared::policy::actor_of(office.device()), &id, &header);
        let t = |m: u32| Utc.with_ymd_and_hms(2026, 11, 24, 9, m, 0).unwrap();
        let sscc = "095060001234567893";
        let stop = json!({ "order": "SO-1", "route": "R-1", "stop": 1, "packages": [sscc] });
        let mut events = vec![office.record(t(0), None, payload(json!({ "type": "order_created" })))];
        for (m, mut p) in [
            (1, json!({ "type": "loaded", "sscc": sscc, "route": "R-1", "van": "V-1" })),
            (2, json!({ "type": "out_for_delivery", "route": "R-1" })),
            (3, json!({ "type": "attempt_failed", "reason": "not_home" })),
            (4, json!({ "type": "attempt_failed", "reason": "not_home" })),
            (
                5,
                json!({ "type": "delivered", "proof": { "recipient_name": "Ada", "relation": "recipient" } }),
            ),
            (
                6,
                json!({ "type": "delivered", "proof": { "recipient_name": "Ada", "relation": "recipient" } }),
            ),
        ] {
            if p["type"] != "loaded" && p["type"] != "out_for_delivery" {
                for (k, v) in stop.as_object().unwrap() {
                    p[k] = v.clone();
                }
            }
            events.push(driver.record(t(m), None, payload(p)));
        }
        for e in &events {
            doc::append(&mut d, e).unwrap();
        }
        let view = fold::order::fold(&doc::order::read(d.document()).unwrap(), &|_| true);
        let got: Vec<(String, &str)> = notifications(&view).into_iter().map(|n| (n.key, n.topic)).collect();
        let want = [
            ("SO-1:confirmed".to_owned(), "order.confirmed"),
            ("SO-1:shipped".to_owned(), "order.shipped"),
            ("SO-1:out_for_delivery".to_owned(), "order.out_for_delivery"),
            ("SO-1:attempt_failed:drv-1:3".to_owned(), "order.attempt_failed"),
            ("SO-1:attempt_failed:drv-1:4".to_owned(), "order.attempt_failed"),
            ("SO-1:delivered".to_owned(), "order.delivered"),
        ];
        assert_eq!(got, want);
        let delivered = notifications(&view).into_iter().find(|n| n.topic == "order.delivered").unwrap();
        assert_eq!(delivered.payload["recipient"], "Ada");
        assert_eq!(delivered.at, t(5));
    }

    #[test]
    fn signatures_are_hmac_sha256_of_time_and_body() {
        // The expected value is Python's
        // hmac.new(b"whsec_x", b"1700000000.{}", hashlib.sha256).hexdigest().
        let s = signature("whsec_x", 1_700_000_000, "{}");
        assert_eq!(s, "t=1700000000,v1=be8cb8325f2202445260a855532f967e30ad2a9394ce28da66ee02880ddcb661");
        assert_ne!(s, signature("whsec_x", 1_700_000_000, "{ }"));
        assert_ne!(s, signature("whsec_y", 1_700_000_000, "{}"));
    }
}
