//! What the office's metrics are computed from: the stored order views.

use super::{Storage, StorageError, args};

impl Storage {
    /// Every order's stored view, as JSON text.
    pub(crate) async fn all_order_views(&self) -> Result<Vec<String>, StorageError> {
        self.query("SELECT view FROM orders", args![], |r| r.get(0)).await
    }
}
