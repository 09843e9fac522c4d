//! What a device may hold, read from the projections, and the devices
//! that hold a document (its audience): the look-ups behind
//! [`crate::scope`]. Closed orders are those completed or cancelled.

use waybill_shared::doc::DocId;

use super::{Storage, StorageError, args};

/// A sync state of a device's for a document, and the document's stored
/// heads: (device or document id, state, heads).
pub(crate) type HeldState = (String, Vec<u8>, Vec<u8>);

impl Storage {
    /// Every stored document's id.
    pub(crate) async fn all_doc_ids(&self) -> Result<Vec<String>, StorageError> {
        self.query("SELECT id FROM docs", args![], |r| r.get(0)).await
    }

    /// The orders assigned to picker `device` (as `order/<id>`): the open
    /// ones, and the closed ones too if `with_closed`.
    pub(crate) async fn picker_orders(
        &self,
        device: &str,
        with_closed: bool,
    ) -> Result<Vec<String>, StorageError> {
        self.query(
            "SELECT 'order/' || a.order_id FROM pick_assignments a JOIN orders o ON o.id = a.order_id
             WHERE a.device = ?1 AND (CAST(?2 AS BIGINT) = 1 OR o.status NOT IN ('completed', 'cancelled'))",
            args![device, with_closed],
            |r| r.get(0),
        )
        .await
    }

    /// The orders at `location` (as `order/<id>`) being picked or packed,
    /// or all of them if `with_closed`.
    pub(crate) async fn packer_orders(
        &self,
        location: &str,
        with_closed: bool,
    ) -> Result<Vec<String>, StorageError> {
        self.query(
            "SELECT 'order/' || l.order_id FROM order_locations l JOIN orders o ON o.id = l.order_id
             WHERE l.location = ?1 AND (CAST(?2 AS BIGINT) = 1 OR o.status IN ('picking', 'picked', 'packed'))",
            args![location, with_closed],
            |r| r.get(0),
        )
        .await
    }

    /// Driver `device`'s routes (as `route/<id>`).
    pub(crate) async fn driver_routes(&self, device: &str) -> Result<Vec<String>, StorageError> {
        self.query("SELECT 'route/' || id FROM routes WHERE driver = ?1", args![device], |r| r.get(0)).await
    }

    /// The orders on driver `device`'s routes (as `order/<id>`): the open
    /// ones, and the closed ones too if `with_closed`.
    pub(crate) async fn driver_orders(
        &self,
        device: &str,
        with_closed: bool,
    ) -> Result<Vec<String>, StorageError> {
        self.query(
            "SELECT 'order/' || ro.order_id FROM route_orders ro JOIN routes r ON r.id = ro.route
             JOIN orders o ON o.id = ro.order_id
             WHERE r.driver = ?1 AND (CAST(?2 AS BIGINT) = 1 OR o.status NOT IN ('completed', 'cancelled'))",
            args![device, with_closed],
            |r| r.get(0),
        )
        .await
    }

    /// `device`'s sync states of closed orders: (`order/<id>`, state, the
    /// order's heads).
    pub(crate) async fn closed_order_states(&self, device: &str) -> Result<Vec<HeldState>, StorageError> {
        self.query(
            "SELECT s.doc, s.state, d.heads FROM sync_states s JOIN orders o ON o.id = substr(s.doc, 7)
             JOIN docs d ON d.id = s.doc
             WHERE s.device = ?1 AND s.doc LIKE 'order/%' AND o.status IN ('completed', 'cancelled')",
            args![device],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .await
    }

    /// The sync states of `order` if it is closed: (device, state, the
    /// order's heads).
    pub(crate) async fn closed_order_holders(&self, order: &str) -> Result<Vec<HeldState>, StorageError> {
        self.query(
            "SELECT s.device, s.state, d.heads FROM sync_states s JOIN docs d ON d.id = s.doc
             JOIN orders o ON o.id = ?2 WHERE s.doc = ?1 AND o.status IN ('completed', 'cancelled')",
            args![format!("order/{order}"), order],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .await
    }

    /// The id of `location`'s newest stock epoch document, if any is stored.
    pub(crate) async fn latest_location_doc(&self, location: &str) -> Result<Option<String>, StorageError> {
        // The ids from `location/<location>/` up to `location/<location>0`
        // (`0` follows `/`): a range of the primary key, not a scan.
        self.query_opt(
            "SELECT id FROM docs WHERE id >= ?1 AND id < ?2 AND kind = 'location'
             ORDER BY CAST(substr(id, length(CAST(?1 AS TEXT)) + 1) AS BIGINT) DESC LIMIT 1",
            args![format!("location/{location}/"), format!("location/{location}0")],
            |r| r.get(0),
        )
        .await
    }

    /// The devices whose work holds `doc`, and the office devices not
    /// revoked, in one query: an order's picker while it is open, its
    /// locations' packers while it is picked or packed, its drivers while it
    /// is open; a route's driver; a location's pickers, packers and drivers.
    pub(crate) async fn audience(&self, doc: &DocId) -> Result<Vec<String>, StorageError> {
        macro_rules! with_office {
            ($sql:literal) => {
                concat!("SELECT id FROM devices WHERE role = 'office' AND revoked_at IS NULL UNION ", $sql)
            };
        }
        let (sql, key) = match doc {
            DocId::Order(o) => (
                with_office!(
                    "SELECT a.device FROM pick_assignments a JOIN orders o ON o.id = a.order_id
                     WHERE a.order_id = ?1 AND o.status NOT IN ('completed', 'cancelled')
                     UNION
                     SELECT d.id FROM devices d JOIN order_locations l ON l.location = d.location
                     JOIN orders o ON o.id = l.order_id
                     WHERE d.role = 'packer' AND l.order_id = ?1 AND o.status IN ('picking', 'picked', 'packed')
                     UNION
                     SELECT r.driver FROM route_orders ro JOIN routes r ON r.id = ro.route
                     JOIN orders o ON o.id = ro.order_id
                     WHERE ro.order_id = ?1 AND o.status NOT IN ('completed', 'cancelled')"
                ),
                o.as_str(),
            ),
            DocId::Route(r) => (with_office!("SELECT driver FROM routes WHERE id = ?1"), r.as_str()),
            DocId::Location { id, .. } => (
                with_office!(
                    "SELECT id FROM devices WHERE role IN ('picker', 'packer', 'driver') AND location = ?1"
                ),
                id.as_str(),
            ),
        };
        self.query(sql, args![key], |r| r.get(0)).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::{Statement, WriteOp};
    use super::*;

    #[tokio::test]
    async fn a_locations_newest_epoch_is_found_among_similar_names() {
        let (_dir, storage) = crate::storage::scratch().await;
        let ops: Vec<WriteOp> = ["location/wh-1/2", "location/wh-1/10", "location/wh-10/50", "location/wh-1-x/90"]
            .into_iter()
            .map(|id| {
                Statement::new(
                    "INSERT INTO docs (id, kind, snapshot, heads, updated_at) VALUES (?1, 'location', x'', x'', '')",
                    args![id],
                )
                .into()
            })
            .collect();
        storage.write(ops).await.unwrap();
        // Numbered, not sorted as text; not another location's.
        assert_eq!(storage.latest_location_doc("wh-1").await.unwrap().as_deref(), Some("location/wh-1/10"));
        assert_eq!(storage.latest_location_doc("wh-10").await.unwrap().as_deref(), Some("location/wh-10/50"));
        assert_eq!(storage.latest_location_doc("wh-2").await.unwrap(), None);
    }
}
