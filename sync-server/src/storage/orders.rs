//! What the office API lists from the projections: orders, when an
//! order's events arrived, open exceptions, stock, routes, and the
//! location documents. (An order's view is [`Storage::order_view`].)

use waybill_shared::doc::DocId;

use super::{Row, Storage, StorageError, args};

impl Storage {
    /// Orders, by id, with their status, customer, open exceptions and last
    /// change; only those of `status` if given.
    pub(crate) async fn order_rows(&self, status: Option<&str>) -> Result<Vec<Row>, StorageError> {
        match status {
            None => {
                self.rows(
                    "SELECT id, status, customer, open_exceptions, updated_at FROM orders ORDER BY id",
                    args![],
                )
                .await
            }
            Some(s) => {
                self.rows(
                    "SELECT id, status, customer, open_exceptions, updated_at FROM orders
                     WHERE status = ?1 ORDER BY id",
                    args![s],
                )
                .await
            }
        }
    }

    /// When each event of a document first reached the server: (event id,
    /// RFC 3339 time).
    pub(crate) async fn arrival_times(&self, doc: &DocId) -> Result<Vec<(String, String)>, StorageError> {
        self.query("SELECT event, at FROM arrivals WHERE doc = ?1", args![doc.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .await
    }

    /// Open exceptions, by document and id; `events` and `detail` are JSON
    /// text.
    pub(crate) async fn open_exception_rows(&self) -> Result<Vec<Row>, StorageError> {
        self.rows(
            "SELECT doc, id, kind, events, detail FROM exceptions WHERE open = 1 ORDER BY doc, id",
            args![],
        )
        .await
    }

    /// Stock on hand per location, bin and item.
    pub(crate) async fn stock_rows(&self) -> Result<Vec<Row>, StorageError> {
        self.rows("SELECT location, bin, gtin, on_hand FROM stock ORDER BY location, bin, gtin", args![])
            .await
    }

    /// Routes, by id; `view` is JSON text.
    pub(crate) async fn route_rows(&self) -> Result<Vec<Row>, StorageError> {
        self.rows("SELECT id, driver, van, done, stops, view FROM routes ORDER BY id", args![]).await
    }

    /// The ids of the stored location documents (`location/<id>/<epoch>`),
    /// in order.
    pub(crate) async fn location_doc_ids(&self) -> Result<Vec<String>, StorageError> {
        self.query("SELECT id FROM docs WHERE kind = 'location' ORDER BY id", args![], |r| r.get(0)).await
    }
}
