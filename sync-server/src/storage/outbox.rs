//! Webhooks and their outbox: registering and listing receivers, reading
//! the deliveries due; and for webhook deliveries and emails alike
//! ([`Queue`]), claiming one for this node and writing down how it went.

use super::{Statement, Storage, StorageError, args};

/// A webhook with its delivery counts: id, url, created at, pending,
/// delivered, failed.
pub(crate) type WebhookRow = (i64, String, String, i64, i64, i64);

/// A durable queue of notifications to customers, sent and written down
/// the same way: webhook deliveries (`outbox`) and emails (`mail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queue {
    /// Webhook deliveries.
    Webhooks,
    /// Emails.
    Mail,
}

/// A delivery due.
pub(crate) struct DueRow {
    /// The outbox row.
    pub id: i64,
    /// Where it goes.
    pub url: String,
    /// The webhook's secret.
    pub secret: String,
    /// The notification's key.
    pub key: String,
    /// Its topic.
    pub topic: String,
    /// The body.
    pub payload: String,
    /// Attempts made.
    pub attempts: i64,
    /// When it became due, as stored: what a claim compares.
    pub next_at: String,
}

impl Storage {
    /// Registers a webhook and returns its id, read back by its secret
    /// (unique: 32 random bytes).
    pub(crate) async fn add_webhook(
        &self,
        url: &str,
        secret: &str,
        created_at: &str,
    ) -> Result<i64, StorageError> {
        self.write(vec![
            Statement::new(
                "INSERT INTO webhooks (url, secret, created_at) VALUES (?1, ?2, ?3)",
                args![url, secret, created_at],
            )
            .into(),
        ])
        .await?;
        self.query_opt("SELECT id FROM webhooks WHERE secret = ?1", args![secret], |r| r.get(0))
            .await?
            .ok_or_else(|| StorageError::Corrupt("the webhook just stored does not read back".into()))
    }

    /// Removes a webhook and what is still queued for it; fails with
    /// [`StorageError::Conflict`] if there is no such webhook.
    pub(crate) async fn remove_webhook(&self, id: i64) -> Result<(), StorageError> {
        self.write(vec![
            Statement::new("DELETE FROM outbox WHERE webhook = ?1 AND delivered_at IS NULL", args![id])
                .into(),
            Statement::claim("DELETE FROM webhooks WHERE id = ?1", args![id]).into(),
        ])
        .await
    }

    /// Webhooks with their delivery counts, by id.
    pub(crate) async fn webhooks(&self) -> Result<Vec<WebhookRow>, StorageError> {
        self.query(
            "SELECT w.id, w.url, w.created_at,
                    COUNT(o.id) FILTER (WHERE o.delivered_at IS NULL AND o.failed_at IS NULL),
                    COUNT(o.id) FILTER (WHERE o.delivered_at IS NOT NULL),
                    COUNT(o.id) FILTER (WHERE o.failed_at IS NOT NULL)
             FROM webhooks w LEFT JOIN outbox o ON o.webhook = w.id
             GROUP BY w.id, w.url, w.created_at ORDER BY w.id",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .await
    }

    /// Up to `limit` deliveries due at `now`, oldest first.
    pub(crate) async fn due_deliveries(&self, now: &str, limit: i64) -> Result<Vec<DueRow>, StorageError> {
        self.query(
            "SELECT o.id, w.url, w.secret, o.key, o.topic, o.payload, o.attempts, o.next_at
             FROM outbox o JOIN webhooks w ON w.id = o.webhook
             WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.next_at <= ?1
             ORDER BY o.id LIMIT ?2",
            args![now, limit],
            |r| {
                Ok(DueRow {
                    id: r.get(0)?,
                    url: r.get(1)?,
                    secret: r.get(2)?,
                    key: r.get(3)?,
                    topic: r.get(4)?,
                    payload: r.get(5)?,
                    attempts: r.get(6)?,
                    next_at: r.get(7)?,
                })
            },
        )
        .await
    }

    /// Takes a due notification of `queue` (row `id`, read with `attempts`
    /// made and due at `next_at`) for this node until `until`: only if the
    /// row is still as it was read (not sent, given up, tried or taken
    /// meanwhile by another node). Fails with [`StorageError::Conflict`]
    /// when someone else has it.
    pub(crate) async fn claim(
        &self,
        queue: Queue,
        id: i64,
        attempts: i64,
        next_at: &str,
        until: &str,
    ) -> Result<(), StorageError> {
        let sql = match queue {
            Queue::Webhooks => {
                "UPDATE outbox SET next_at = ?2
                 WHERE id = ?1 AND attempts = ?3 AND next_at = ?4 AND delivered_at IS NULL AND failed_at IS NULL"
            }
            Queue::Mail => {
                "UPDATE mail SET next_at = ?2
                 WHERE id = ?1 AND attempts = ?3 AND next_at = ?4 AND sent_at IS NULL AND failed_at IS NULL"
            }
        };
        self.write(vec![Statement::claim(sql, args![id, until, attempts, next_at]).into()]).await
    }

    /// Writes down a notification the receiver (webhook or SMTP server)
    /// accepted.
    pub(crate) async fn sent(&self, queue: Queue, id: i64, at: &str) -> Result<(), StorageError> {
        let sql = match queue {
            Queue::Webhooks => {
                "UPDATE outbox SET delivered_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1"
            }
            Queue::Mail => {
                "UPDATE mail SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1"
            }
        };
        self.write(vec![Statement::new(sql, args![id, at]).into()]).await
    }

    /// Writes down a failed attempt: the next is at `next_at`, or none if
    /// `failed_at` gives it up.
    pub(crate) async fn not_sent(
        &self,
        queue: Queue,
        id: i64,
        attempts: i64,
        next_at: &str,
        error: &str,
        failed_at: Option<&str>,
    ) -> Result<(), StorageError> {
        let sql = match queue {
            Queue::Webhooks => {
                "UPDATE outbox SET attempts = ?2, next_at = ?3, last_error = ?4, failed_at = ?5 WHERE id = ?1"
            }
            Queue::Mail => {
                "UPDATE mail SET attempts = ?2, next_at = ?3, last_error = ?4, failed_at = ?5 WHERE id = ?1"
            }
        };
        self.write(vec![Statement::new(sql, args![id, attempts, next_at, error, failed_at]).into()]).await
    }
}
