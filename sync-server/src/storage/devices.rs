//! Devices and their enrolment: codes issued and used, certificates,
//! revocation, and when each device was last seen.

use super::{Statement, Storage, StorageError, args};
use crate::devices::DeviceRow;

/// A device as stored: id, role, location, and when it was revoked.
pub(crate) type StoredDevice = (String, String, Option<String>, Option<String>);

/// An unused enrolment code: the device, role and location it enrols, and
/// when it expires.
pub(crate) type StoredEnrolment = (String, String, Option<String>, String);

impl Storage {
    /// Stores an enrolment code (by its SHA-256) and the device it enrols,
    /// unless that device exists already (a code changes nothing until used).
    pub(crate) async fn add_enrolment(
        &self,
        code_sha256: &str,
        device: &str,
        role: &str,
        location: Option<&str>,
        created_at: &str,
        expires_at: &str,
    ) -> Result<(), StorageError> {
        self.write(vec![
            Statement::new(
                "INSERT INTO enrolments (code_sha256, device, role, location, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![code_sha256, device, role, location, created_at, expires_at],
            )
            .into(),
            Statement::new(
                "INSERT INTO devices (id, role, location) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING",
                args![device, role, location],
            )
            .into(),
        ])
        .await
    }

    /// The enrolment code with this SHA-256, if not used yet.
    pub(crate) async fn unused_enrolment(
        &self,
        code_sha256: &str,
    ) -> Result<Option<StoredEnrolment>, StorageError> {
        self.query_opt(
            "SELECT device, role, location, expires_at FROM enrolments WHERE code_sha256 = ?1 AND used_at IS NULL",
            args![code_sha256],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .await
    }

    /// Uses an enrolment code: marks it used and enrols its device with the
    /// certificate issued (lifting a revocation). Fails with
    /// [`StorageError::Conflict`] if the code was used meanwhile, by this
    /// node or another.
    pub(crate) async fn use_enrolment(
        &self,
        code_sha256: &str,
        device: &str,
        role: &str,
        location: Option<&str>,
        cert_sha256: &str,
        now: &str,
    ) -> Result<(), StorageError> {
        self.write(vec![
            Statement::claim(
                "UPDATE enrolments SET used_at = ?2 WHERE code_sha256 = ?1 AND used_at IS NULL",
                args![code_sha256, now],
            )
            .into(),
            Statement::new(
                "UPDATE devices SET role = ?2, location = ?3, cert_sha256 = ?4, enrolled_at = ?5, revoked_at = NULL
                 WHERE id = ?1",
                args![device, role, location, cert_sha256, now],
            )
            .into(),
        ])
        .await
    }

    /// The device holding the certificate with this SHA-256.
    pub(crate) async fn device_by_cert(
        &self,
        cert_sha256: &str,
    ) -> Result<Option<StoredDevice>, StorageError> {
        self.query_opt(
            "SELECT id, role, location, revoked_at FROM devices WHERE cert_sha256 = ?1",
            args![cert_sha256],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .await
    }

    /// The devices revoked.
    pub(crate) async fn revoked_devices(&self) -> Result<std::collections::HashSet<String>, StorageError> {
        let ids =
            self.query("SELECT id FROM devices WHERE revoked_at IS NOT NULL", args![], |r| r.get(0)).await?;
        Ok(ids.into_iter().collect())
    }

    /// A device not revoked: its role and location.
    pub(crate) async fn active_device(
        &self,
        device: &str,
    ) -> Result<Option<(String, Option<String>)>, StorageError> {
        self.query_opt(
            "SELECT role, location FROM devices WHERE id = ?1 AND revoked_at IS NULL",
            args![device],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .await
    }

    /// Revokes a device; [`StorageError::Conflict`] if there is no such
    /// device.
    pub(crate) async fn revoke_device(&self, device: &str, at: &str) -> Result<(), StorageError> {
        self.write(vec![
            Statement::claim("UPDATE devices SET revoked_at = ?2 WHERE id = ?1", args![device, at]).into(),
        ])
        .await
    }

    /// Records when a device was last connected.
    pub(crate) async fn device_seen(&self, device: &str, at: &str) -> Result<(), StorageError> {
        self.write(vec![
            Statement::new("UPDATE devices SET last_seen = ?2 WHERE id = ?1", args![device, at]).into(),
        ])
        .await
    }

    /// Every device's role, by id (revoked ones too: their events stay).
    pub(crate) async fn device_roles(&self) -> Result<Vec<(String, String)>, StorageError> {
        self.query("SELECT id, role FROM devices ORDER BY id", args![], |r| Ok((r.get(0)?, r.get(1)?))).await
    }

    /// Every device, by id, with the work waiting for it, by role: a
    /// picker's assigned orders not picked yet, a packer's picked orders at
    /// its location, a driver's stops not done.
    pub(crate) async fn device_rows(&self) -> Result<Vec<DeviceRow>, StorageError> {
        self.query(
            "SELECT d.id, d.role, d.location, d.enrolled_at, d.revoked_at, d.last_seen,
                    CASE d.role
                    WHEN 'picker' THEN (SELECT COUNT(*) FROM pick_assignments p JOIN orders o ON o.id = p.order_id
                                        WHERE p.device = d.id AND o.status IN ('allocated', 'picking'))
                    WHEN 'packer' THEN (SELECT COUNT(*) FROM order_locations l JOIN orders o ON o.id = l.order_id
                                        WHERE l.location = d.location AND o.status = 'picked')
                    WHEN 'driver' THEN (SELECT CAST(COALESCE(SUM(stops - done), 0) AS BIGINT) FROM routes
                                        WHERE driver = d.id)
                    ELSE 0 END
             FROM devices d ORDER BY d.id",
            args![],
            |r| {
                Ok(DeviceRow {
                    id: r.get(0)?,
                    role: r.get(1)?,
                    location: r.get(2)?,
                    enrolled_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                    last_seen: r.get(5)?,
                    open_tasks: r.get(6)?,
                })
            },
        )
        .await
    }
}
