//! Customers' email addresses and their email outbox: queued with the
//! order's projection (one row per notification key, so each is queued
//! once) and read when due; claimed and written down as webhook deliveries
//! are ([`super::outbox::Queue::Mail`]).

use super::{Statement, Storage, StorageError, WriteOp, args};
use crate::office::Contact;
use crate::outbox::Notification;

/// An email due.
pub(crate) struct DueMail {
    /// The row.
    pub id: i64,
    /// The notification's key.
    pub key: String,
    /// Its topic.
    pub topic: String,
    /// The order.
    pub order: String,
    /// The customer's address.
    pub recipient: String,
    /// When it was queued.
    pub created_at: String,
    /// Attempts made.
    pub attempts: i64,
    /// When it became due, as stored: what a claim compares.
    pub next_at: String,
}

/// One email as listed: key, topic, recipient, sent at, failed at, last
/// error.
pub(crate) type MailRow = (String, String, String, Option<String>, Option<String>, Option<String>);

/// The write that keeps what the shipper said of `order`'s customer, if
/// anything: on the server only (devices never see it).
pub(crate) fn contact(order: &str, contact: &Contact) -> Option<WriteOp> {
    (*contact != Contact::default()).then(|| {
        Statement::new(
            "INSERT INTO contacts (order_id, email, tracking_photo) VALUES (?1, ?2, ?3)",
            args![order, contact.email.as_deref(), i64::from(contact.tracking_photo)],
        )
        .into()
    })
}

/// The writes that queue each notification about `order` to its customer's
/// email address, if it has one, unless queued before.
pub(crate) fn queue(order: &str, notifications: &[Notification]) -> Vec<WriteOp> {
    let at = chrono::Utc::now().to_rfc3339();
    notifications
        .iter()
        .map(|n| {
            Statement::new(
                "INSERT INTO mail (key, topic, order_id, recipient, created_at, next_at)
                 SELECT CAST(?1 AS TEXT), CAST(?2 AS TEXT), order_id, email, CAST(?4 AS TEXT), CAST(?4 AS TEXT)
                 FROM contacts WHERE order_id = ?3 AND email IS NOT NULL
                 ON CONFLICT DO NOTHING",
                args![&n.key, n.topic, order, &at],
            )
            .into()
        })
        .collect()
}

impl Storage {
    /// Whether the shipper lets `order`'s tracking page show the delivery
    /// photo.
    pub(crate) async fn tracking_photo(&self, order: &str) -> Result<bool, StorageError> {
        let shown: Option<i64> = self
            .query_opt("SELECT tracking_photo FROM contacts WHERE order_id = ?1", args![order], |r| r.get(0))
            .await?;
        Ok(shown.unwrap_or(0) != 0)
    }

    /// Up to `limit` emails due at `now`, oldest first; one order's emails
    /// one at a time, in the order queued (a later one waits while an
    /// earlier one is being retried).
    pub(crate) async fn due_mail(&self, now: &str, limit: i64) -> Result<Vec<DueMail>, StorageError> {
        self.query(
            "SELECT id, key, topic, order_id, recipient, created_at, attempts, next_at FROM mail
             WHERE sent_at IS NULL AND failed_at IS NULL AND next_at <= ?1
               AND NOT EXISTS (SELECT 1 FROM mail earlier WHERE earlier.order_id = mail.order_id
                               AND earlier.id < mail.id AND earlier.sent_at IS NULL AND earlier.failed_at IS NULL)
             ORDER BY id LIMIT ?2",
            args![now, limit],
            |r| {
                Ok(DueMail {
                    id: r.get(0)?,
                    key: r.get(1)?,
                    topic: r.get(2)?,
                    order: r.get(3)?,
                    recipient: r.get(4)?,
                    created_at: r.get(5)?,
                    attempts: r.get(6)?,
                    next_at: r.get(7)?,
                })
            },
        )
        .await
    }

    /// The emails about `order`, in the order queued.
    pub(crate) async fn mail_of(&self, order: &str) -> Result<Vec<MailRow>, StorageError> {
        self.query(
            "SELECT key, topic, recipient, sent_at, failed_at, last_error FROM mail WHERE order_id = ?1 ORDER BY id",
            args![order],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .await
    }
}
