//! What the office's planning reads from the projections: order views by
//! status, stock per location and item, and what routes exist.

use super::{Storage, StorageError, args};

impl Storage {
    /// The stored views (JSON text) of the orders in any of `statuses`, by
    /// order id.
    pub(crate) async fn order_views_in(&self, statuses: &[&str]) -> Result<Vec<String>, StorageError> {
        let mut rows: Vec<(String, String)> = Vec::new();
        for status in statuses {
            rows.extend(
                self.query("SELECT id, view FROM orders WHERE status = ?1", args![*status], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .await?,
            );
        }
        // Sorted here: byte order, whatever the database's collation.
        rows.sort();
        Ok(rows.into_iter().map(|(_, view)| view).collect())
    }

    /// Units on hand per location and item, over all bins.
    pub(crate) async fn stock_totals(&self) -> Result<Vec<(String, String, i64)>, StorageError> {
        self.query(
            "SELECT location, gtin, CAST(SUM(on_hand) AS BIGINT) FROM stock GROUP BY location, gtin",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .await
    }

    /// The orders on a route.
    pub(crate) async fn routed_orders(&self) -> Result<Vec<String>, StorageError> {
        self.query("SELECT order_id FROM route_orders", args![], |r| r.get(0)).await
    }

    /// The routes `order` is on.
    pub(crate) async fn routes_of(&self, order: &str) -> Result<Vec<String>, StorageError> {
        self.query("SELECT route FROM route_orders WHERE order_id = ?1", args![order], |r| r.get(0)).await
    }

    /// The ids of every route.
    pub(crate) async fn route_ids(&self) -> Result<Vec<String>, StorageError> {
        self.query("SELECT id FROM routes", args![], |r| r.get(0)).await
    }
}
