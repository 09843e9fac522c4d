//! Enrolled devices: one-time enrolment codes, the exchange of a code for a
//! certificate, lookup by certificate, revocation.
//!
//! A code is 128 random bits, shown once; the server stores only its
//! SHA-256, with the device id, role and location it enrols, and an expiry.
//! It works once.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use waybill_shared::id::{DeviceId, LocationId};
use waybill_shared::role::Role;

use crate::identity::{Identity, IdentityError, sha256_hex};
use crate::scope::Device;

/// How long an enrolment code stays valid.
pub const CODE_LIFETIME_HOURS: i64 = 72;

/// What can go wrong with devices.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The code is unknown, used or expired.
    #[error("the enrolment code is unknown, already used, or expired")]
    BadCode,
    /// No such device.
    #[error("no device {0}")]
    Unknown(String),
    /// A picker or packer enrolled with no location.
    #[error("a {0} works at a location: name it with --location")]
    NeedsLocation(Role),
    /// The location named is not one the server holds.
    #[error("there is no location {0}: import it first, or name one the server holds ({1})")]
    UnknownLocation(String, String),
    /// The database failed.
    #[error("database: {0}")]
    Sql(rusqlite::Error),
    /// Issuing the certificate failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Randomness was not available.
    #[error("no randomness available")]
    Random,
}

// By hand rather than `#[from]`: the message already holds the cause, so it
// is not reported a second time as the source.
impl From<rusqlite::Error> for DeviceError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

/// A device as listed for the office.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceRow {
    /// Its id.
    pub id: String,
    /// Its role.
    pub role: String,
    /// Its location.
    pub location: Option<String>,
    /// When it enrolled (None: code issued, not yet used).
    pub enrolled_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
    /// When it was last connected.
    pub last_seen: Option<String>,
    /// Work waiting for it: orders to pick or pack, or stops to make.
    pub open_tasks: i64,
}

/// The locations the server holds, for a message: "wh-1, wh-2" or "none yet".
fn known_locations(c: &Connection) -> rusqlite::Result<String> {
    let mut stmt = c.prepare("SELECT DISTINCT id FROM docs WHERE kind = 'location' ORDER BY id")?;
    let ids = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    let mut names: Vec<&str> = ids.iter().filter_map(|id| id.split('/').nth(1)).collect();
    names.dedup();
    Ok(if names.is_empty() { "none yet".to_owned() } else { names.join(", ") })
}

/// Issues a one-time enrolment code for `device`. Returns the code.
pub fn issue_code(
    c: &Connection,
    device: &DeviceId,
    role: Role,
    location: Option<&LocationId>,
    now: DateTime<Utc>,
) -> Result<String, DeviceError> {
    if matches!(role, Role::Picker | Role::Packer) && location.is_none() {
        return Err(DeviceError::NeedsLocation(role));
    }
    if let Some(l) = location {
        if crate::scope::latest_location(c, l.as_str())?.is_none() {
            return Err(DeviceError::UnknownLocation(l.to_string(), known_locations(c)?));
        }
    }
    let mut raw = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
        .map_err(|_| DeviceError::Random)?;
    let code = base32(&raw);
    c.execute(
        "INSERT INTO enrolments (code_sha256, device, role, location, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            sha256_hex(code.as_bytes()),
            device.as_str(),
            role.as_str(),
            location.map(LocationId::as_str),
            now.to_rfc3339(),
            (now + Duration::hours(CODE_LIFETIME_HOURS)).to_rfc3339()
        ],
    )?;
    c.execute(
        "INSERT INTO devices (id, role, location) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING",
        params![device.as_str(), role.as_str(), location.map(LocationId::as_str)],
    )?;
    Ok(code)
}

/// Exchanges a code for a client certificate over `public_key`.
pub fn enrol(
    c: &mut Connection,
    identity: &Identity,
    code: &str,
    public_key: &[u8],
    now: DateTime<Utc>,
) -> Result<(Device, Vec<u8>), DeviceError> {
    let tx = c.transaction()?;
    let row: Option<(String, String, Option<String>, String)> = tx
        .query_row(
            "SELECT device, role, location, expires_at FROM enrolments WHERE code_sha256 = ?1 AND used_at IS NULL",
            [sha256_hex(code.trim().as_bytes())],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let (id, role, location, expires) = row.ok_or(DeviceError::BadCode)?;
    if expires < now.to_rfc3339() {
        return Err(DeviceError::BadCode);
    }
    let cert = identity.issue(&id, public_key)?;
    tx.execute(
        "UPDATE enrolments SET used_at = ?2 WHERE code_sha256 = ?1",
        params![sha256_hex(code.trim().as_bytes()), now.to_rfc3339()],
    )?;
    // The role and location are the code's: issuing a code changes nothing
    // until it is used; using it (a new decision of the office) lifts a
    // revocation.
    tx.execute(
        "UPDATE devices SET role = ?2, location = ?3, cert_sha256 = ?4, enrolled_at = ?5, revoked_at = NULL WHERE id = ?1",
        params![id, role, location, sha256_hex(&cert), now.to_rfc3339()],
    )?;
    tx.commit()?;
    let role = role.parse().map_err(|_| DeviceError::Unknown(id.clone()))?;
    Ok((Device { id, role, location }, cert))
}

/// The device a certificate was issued to: `Err(Revoked)`-like `Ok(None)`
/// for unknown, and the revocation time for revoked ones.
pub fn by_certificate(c: &Connection, cert: &[u8]) -> rusqlite::Result<Option<(Device, Option<String>)>> {
    c.query_row(
        "SELECT id, role, location, revoked_at FROM devices WHERE cert_sha256 = ?1",
        [sha256_hex(cert)],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?)),
    )
    .optional()
    .map(|row| {
        row.and_then(|(id, role, location, revoked)| {
            role.parse().ok().map(|role| (Device { id, role, location }, revoked))
        })
    })
}

/// Whether a device is revoked (or gone).
pub fn is_revoked(c: &Connection, device: &str) -> rusqlite::Result<bool> {
    let revoked: Option<Option<String>> =
        c.query_row("SELECT revoked_at FROM devices WHERE id = ?1", [device], |r| r.get(0)).optional()?;
    Ok(!matches!(revoked, Some(None)))
}

/// A device not revoked: its role and location.
pub fn active(c: &Connection, device: &str) -> rusqlite::Result<Option<(String, Option<String>)>> {
    c.query_row("SELECT role, location FROM devices WHERE id = ?1 AND revoked_at IS NULL", [device], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .optional()
}

/// Revokes a device: refused at once, also mid-connection.
pub fn revoke(c: &Connection, device: &str, now: DateTime<Utc>) -> Result<(), DeviceError> {
    let n =
        c.execute("UPDATE devices SET revoked_at = ?2 WHERE id = ?1", params![device, now.to_rfc3339()])?;
    if n == 0 {
        return Err(DeviceError::Unknown(device.into()));
    }
    Ok(())
}

/// Every device.
pub fn list(c: &Connection) -> rusqlite::Result<Vec<DeviceRow>> {
    // Work waiting for the device, by role: a picker's assigned orders not
    // picked yet, a packer's picked orders at its location, a driver's
    // stops not done.
    let mut stmt = c.prepare(
        "SELECT d.id, d.role, d.location, d.enrolled_at, d.revoked_at, d.last_seen,
                CASE d.role
                WHEN 'picker' THEN (SELECT COUNT(*) FROM pick_assignments p JOIN orders o ON o.id = p.order_id
                                    WHERE p.device = d.id AND o.status IN ('allocated', 'picking'))
                WHEN 'packer' THEN (SELECT COUNT(*) FROM order_locations l JOIN orders o ON o.id = l.order_id
                                    WHERE l.location = d.location AND o.status = 'picked')
                WHEN 'driver' THEN (SELECT COALESCE(SUM(stops - done), 0) FROM routes WHERE driver = d.id)
                ELSE 0 END
         FROM devices d ORDER BY d.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(DeviceRow {
            id: r.get(0)?,
            role: r.get(1)?,
            location: r.get(2)?,
            enrolled_at: r.get(3)?,
            revoked_at: r.get(4)?,
            last_seen: r.get(5)?,
            open_tasks: r.get(6)?,
        })
    })?;
    rows.collect()
}

/// RFC 4648 base32 without padding: codes people can read out and type.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}
