//! Escrow quotas: the office's targets per location, item and role, the
//! devices they apply to, and each device's quota as projected.

use super::{Statement, Storage, StorageError, WriteOp, args};

/// The write that sets (or, with 0, clears) the target of `gtin` at
/// `location` for devices of `role`.
pub(crate) fn set_target(location: &str, gtin: &str, role: &str, target: u32) -> WriteOp {
    if target == 0 {
        return Statement::new(
            "DELETE FROM quota_targets WHERE location = ?1 AND gtin = ?2 AND role = ?3",
            args![location, gtin, role],
        )
        .into();
    }
    Statement::new(
        "INSERT INTO quota_targets (location, gtin, role, target) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (location, gtin, role) DO UPDATE SET target = ?4",
        args![location, gtin, role, target],
    )
    .into()
}

impl Storage {
    /// The targets set at `location` for devices of `role`: item and units
    /// per device, by item.
    pub(crate) async fn quota_targets(
        &self,
        location: &str,
        role: &str,
    ) -> Result<Vec<(String, u32)>, StorageError> {
        let mut rows = self
            .query(
                "SELECT gtin, target FROM quota_targets WHERE location = ?1 AND role = ?2",
                args![location, role],
                |r| Ok((r.get::<String>(0)?, r.get(1)?)),
            )
            .await?;
        // Sorted here: the same order whatever the database's collation.
        rows.sort();
        Ok(rows)
    }

    /// The active devices enrolled at `location` whose role has a target
    /// there: id and role.
    pub(crate) async fn quota_devices(&self, location: &str) -> Result<Vec<(String, String)>, StorageError> {
        self.query(
            "SELECT d.id, d.role FROM devices d WHERE d.location = ?1 AND d.revoked_at IS NULL
             AND EXISTS (SELECT 1 FROM quota_targets t WHERE t.location = d.location AND t.role = d.role)",
            args![location],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .await
    }

    /// Each device's quota per location and item, with its target (if any),
    /// as JSON objects, by location, device and item.
    pub(crate) async fn quota_rows(&self) -> Result<Vec<serde_json::Value>, StorageError> {
        self.query(
            "SELECT q.location, q.device, q.gtin, q.granted, q.released, q.sold, q.remaining,
                    (SELECT t.target FROM quota_targets t JOIN devices d ON d.role = t.role
                     WHERE t.location = q.location AND t.gtin = q.gtin AND d.id = q.device)
             FROM quotas q ORDER BY q.location, q.device, q.gtin",
            args![],
            |r| {
                Ok(serde_json::json!({
                    "location": r.get::<String>(0)?,
                    "device": r.get::<String>(1)?,
                    "gtin": r.get::<String>(2)?,
                    "granted": r.get::<i64>(3)?,
                    "released": r.get::<i64>(4)?,
                    "sold": r.get::<i64>(5)?,
                    "remaining": r.get::<i64>(6)?,
                    "target": r.get::<Option<i64>>(7)?,
                }))
            },
        )
        .await
    }
}
