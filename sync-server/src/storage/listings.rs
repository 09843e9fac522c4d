//! What the command line lists and the demo counts: the projections read
//! whole, in a fixed order.

use std::collections::BTreeMap;

use super::{Row, Storage, StorageError, args};

/// A table the command line prints.
#[derive(Clone, Copy, Debug)]
pub enum Listing {
    /// Orders with status and open exceptions.
    Orders,
    /// Open exceptions.
    Exceptions,
    /// Stock per location, bin and item.
    Stock,
    /// Changes the write policy refused.
    Quarantine,
    /// Each device's quota per location and item.
    Quotas,
}

impl Listing {
    fn sql(self) -> &'static str {
        match self {
            Self::Orders => "SELECT id, status, customer, open_exceptions FROM orders ORDER BY id",
            Self::Exceptions => {
                "SELECT doc, id, kind, events FROM exceptions WHERE open = 1 ORDER BY doc, id"
            }
            Self::Stock => "SELECT location, bin, gtin, on_hand FROM stock ORDER BY location, bin, gtin",
            Self::Quarantine => "SELECT device, doc, change, refusal, at FROM quarantine ORDER BY at",
            Self::Quotas => {
                "SELECT location, device, gtin, granted, sold, released, remaining FROM quotas
                 ORDER BY location, device, gtin"
            }
        }
    }
}

impl Storage {
    /// Every row of a listing.
    pub async fn listing(&self, listing: Listing) -> Result<Vec<Row>, StorageError> {
        self.rows(listing.sql(), Vec::new()).await
    }

    /// An order's merged view, as JSON text.
    pub async fn order_view(&self, id: &str) -> Result<Option<String>, StorageError> {
        self.query_opt("SELECT view FROM orders WHERE id = ?1", args![id], |r| r.get(0)).await
    }

    /// The ids of the orders in `status`.
    pub async fn orders_in(&self, status: &str) -> Result<Vec<String>, StorageError> {
        self.query("SELECT id FROM orders WHERE status = ?1 ORDER BY id", args![status], |r| r.get(0)).await
    }

    /// How many orders are in each status.
    pub async fn orders_by_status(&self) -> Result<BTreeMap<String, i64>, StorageError> {
        let rows = self
            .query("SELECT status, COUNT(*) FROM orders GROUP BY status", args![], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// How many exceptions of each kind are open.
    pub async fn open_exceptions_by_kind(&self) -> Result<BTreeMap<String, i64>, StorageError> {
        let rows = self
            .query("SELECT kind, COUNT(*) FROM exceptions WHERE open = 1 GROUP BY kind", args![], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// How many proof images (blobs) were received.
    pub async fn blobs_received(&self) -> Result<i64, StorageError> {
        Ok(self.query_opt("SELECT COUNT(*) FROM blobs", args![], |r| r.get(0)).await?.unwrap_or(0))
    }
}
