//! What the metrics are read from: each order's share of them, stored with
//! its projection (`order_metrics`, and `order_picks` per picker), summed
//! in one query; and the figures operators scrape (`GET /metrics`): queues,
//! orders by status, open exceptions.

use super::{Statement, Storage, StorageError, WriteOp, args};
use crate::metrics::{Contribution, Metrics, Totals};

/// The writes that store an order's share of the metrics, over what was
/// stored for it before.
pub(crate) fn order(id: &str, c: &Contribution) -> Vec<WriteOp> {
    let mut ops: Vec<WriteOp> = vec![
        Statement::new(
            "INSERT INTO order_metrics
                 (order_id, delivered, accurate, dated, on_time, returned, short, picked, failed, deliveries, rating)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (order_id) DO UPDATE SET delivered = ?2, accurate = ?3, dated = ?4, on_time = ?5,
                 returned = ?6, short = ?7, picked = ?8, failed = ?9, deliveries = ?10, rating = ?11",
            args![
                id,
                c.delivered,
                c.accurate,
                c.dated,
                c.on_time,
                c.returned,
                c.short,
                c.picked_units,
                c.failed,
                c.deliveries,
                c.rating,
            ],
        )
        .into(),
        Statement::new("DELETE FROM order_picks WHERE order_id = ?1", args![id]).into(),
    ];
    for (device, p) in &c.picks {
        ops.push(
            Statement::new(
                "INSERT INTO order_picks (order_id, device, picks, first_ms, last_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                args![id, device, p.count, p.first_ms, p.last_ms],
            )
            .into(),
        );
    }
    ops
}

/// The sums, in one query: every order's share added up, and per picker
/// the lines picked and the span from first to last pick in whole seconds
/// (at least a minute), added up over pickers. `CAST`, since PostgreSQL's
/// `SUM` of integers is a `numeric`.
const TOTALS: &str =
    "SELECT m.orders, m.delivered, m.accurate, m.dated, m.on_time, m.returned, m.short, m.picked,
        m.failed, m.deliveries, m.ratings, m.rating_sum, p.lines, p.seconds
 FROM (SELECT COUNT(*) AS orders,
              CAST(COALESCE(SUM(delivered), 0) AS BIGINT) AS delivered,
              CAST(COALESCE(SUM(accurate), 0) AS BIGINT) AS accurate,
              CAST(COALESCE(SUM(dated), 0) AS BIGINT) AS dated,
              CAST(COALESCE(SUM(on_time), 0) AS BIGINT) AS on_time,
              CAST(COALESCE(SUM(returned), 0) AS BIGINT) AS returned,
              CAST(COALESCE(SUM(short), 0) AS BIGINT) AS short,
              CAST(COALESCE(SUM(picked), 0) AS BIGINT) AS picked,
              CAST(COALESCE(SUM(failed), 0) AS BIGINT) AS failed,
              CAST(COALESCE(SUM(deliveries), 0) AS BIGINT) AS deliveries,
              COUNT(rating) AS ratings,
              CAST(COALESCE(SUM(rating), 0) AS BIGINT) AS rating_sum
       FROM order_metrics) AS m,
      (SELECT CAST(COALESCE(SUM(lines), 0) AS BIGINT) AS lines,
              CAST(COALESCE(SUM(seconds), 0) AS BIGINT) AS seconds
       FROM (SELECT SUM(picks) AS lines,
                    CASE WHEN MAX(last_ms) - MIN(first_ms) < 60000 THEN 60
                         ELSE (MAX(last_ms) - MIN(first_ms)) / 1000 END AS seconds
             FROM order_picks GROUP BY device) AS d) AS p";

/// What operators scrape from the database (`GET /metrics`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OperatorFigures {
    /// Orders per status.
    pub orders: Vec<(String, u64)>,
    /// Open exceptions per kind.
    pub exceptions: Vec<(String, u64)>,
    /// Webhook notifications waiting to be delivered, and given up on.
    pub webhooks: (u64, u64),
    /// Emails waiting to be sent, and given up on.
    pub emails: (u64, u64),
    /// Changes refused and kept in quarantine.
    pub quarantined: u64,
}

fn counts(rows: &[super::Row]) -> Result<Vec<(String, u64)>, StorageError> {
    rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect()
}

fn count(rows: &[super::Row]) -> Result<u64, StorageError> {
    rows.first().map_or(Ok(0), |r| r.get(0))
}

impl Storage {
    /// The metrics, from the stored shares, in one query.
    pub(crate) async fn metric_totals(&self) -> Result<Metrics, StorageError> {
        let rows = self.rows(TOTALS, args![]).await?;
        let r = rows.first().ok_or_else(|| StorageError::Corrupt("the metrics' sums read no row".into()))?;
        let mut t =
            Totals { orders: r.get(0)?, ratings: r.get(10)?, rating_sum: r.get(11)?, ..Totals::default() };
        let s = &mut t.sum;
        (s.delivered, s.accurate, s.dated, s.on_time, s.returned) =
            (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
        (s.short, s.picked_units, s.failed, s.deliveries) = (r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?);
        Ok(t.metrics((r.get(12)?, r.get(13)?)))
    }

    /// Up to `limit` orders with no stored share of the metrics: id and
    /// view (JSON text).
    pub(crate) async fn views_without_metrics(
        &self,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StorageError> {
        self.query(
            "SELECT id, view FROM orders WHERE NOT EXISTS (SELECT 1 FROM order_metrics WHERE order_id = orders.id)
             ORDER BY id LIMIT ?1",
            args![limit],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .await
    }

    /// What operators scrape, as one state of the database.
    pub(crate) async fn operator_figures(&self) -> Result<OperatorFigures, StorageError> {
        let reads = [
            ("SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY status", args![]),
            ("SELECT kind, COUNT(*) FROM exceptions WHERE open = 1 GROUP BY kind ORDER BY kind", args![]),
            ("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL", args![]),
            ("SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL", args![]),
            ("SELECT COUNT(*) FROM mail WHERE sent_at IS NULL AND failed_at IS NULL", args![]),
            ("SELECT COUNT(*) FROM mail WHERE failed_at IS NOT NULL", args![]),
            ("SELECT COUNT(*) FROM quarantine", args![]),
        ];
        let read = self.snapshot(&reads).await?;
        let at = |i: usize| read.get(i).map(Vec::as_slice).unwrap_or_default();
        Ok(OperatorFigures {
            orders: counts(at(0))?,
            exceptions: counts(at(1))?,
            webhooks: (count(at(2))?, count(at(3))?),
            emails: (count(at(4))?, count(at(5))?),
            quarantined: count(at(6))?,
        })
    }
}
