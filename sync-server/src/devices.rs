//! Enrolled devices: one-time enrolment codes, the exchange of a code for a
//! certificate, lookup by certificate, revocation.
//!
//! A code is 128 random bits, shown once; the server stores only its
//! SHA-256, with the device id, role and location it enrols, and an expiry.
//! It works once.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use waybill_shared::id::{DeviceId, LocationId};
use waybill_shared::role::Role;

use crate::identity::{Identity, IdentityError, sha256_hex};
use crate::scope::Device;
use crate::storage::{Storage, StorageError};

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
    /// Storage failed.
    #[error("{0}")]
    Storage(StorageError),
    /// Issuing the certificate failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Randomness was not available.
    #[error("no randomness available")]
    Random,
}

// By hand rather than `#[from]`: the message already holds the cause, so it
// is not reported a second time as the source.
impl From<StorageError> for DeviceError {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

/// A device as listed for the office.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
pub(crate) async fn known_locations(storage: &Storage) -> Result<String, StorageError> {
    let ids = storage.location_doc_ids().await?;
    let mut names: Vec<&str> = ids.iter().filter_map(|id| id.split('/').nth(1)).collect();
    names.dedup();
    Ok(if names.is_empty() { "none yet".to_owned() } else { names.join(", ") })
}

/// Issues a one-time enrolment code for `device`. Returns the code.
pub async fn issue_code(
    storage: &Storage,
    device: &DeviceId,
    role: Role,
    location: Option<&LocationId>,
    now: DateTime<Utc>,
) -> Result<String, DeviceError> {
    if matches!(role, Role::Picker | Role::Packer) && location.is_none() {
        return Err(DeviceError::NeedsLocation(role));
    }
    if let Some(l) = location {
        if crate::scope::latest_location(storage, l.as_str()).await?.is_none() {
            return Err(DeviceError::UnknownLocation(l.to_string(), known_locations(storage).await?));
        }
    }
    let mut raw = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
        .map_err(|_| DeviceError::Random)?;
    let code = base32(&raw);
    storage
        .add_enrolment(
            &sha256_hex(code.as_bytes()),
            device.as_str(),
            role.as_str(),
            location.map(LocationId::as_str),
            &now.to_rfc3339(),
            &(now + Duration::hours(CODE_LIFETIME_HOURS)).to_rfc3339(),
        )
        .await?;
    Ok(code)
}

/// Exchanges a code for a client certificate over `public_key`. The code
/// works once, also with several server nodes: using it is claimed in the
/// same write that enrols the device.
pub async fn enrol(
    storage: &Storage,
    identity: &Identity,
    code: &str,
    public_key: &[u8],
    now: DateTime<Utc>,
) -> Result<(Device, Vec<u8>), DeviceError> {
    let code_sha256 = sha256_hex(code.trim().as_bytes());
    let row = storage.unused_enrolment(&code_sha256).await?;
    let (id, role, location, expires) = row.ok_or(DeviceError::BadCode)?;
    if expires < now.to_rfc3339() {
        return Err(DeviceError::BadCode);
    }
    let cert = identity.issue(&id, public_key)?;
    // The role and location are the code's: issuing a code changes nothing
    // until it is used; using it (a new decision of the office) lifts a
    // revocation.
    let used = storage
        .use_enrolment(&code_sha256, &id, &role, location.as_deref(), &sha256_hex(&cert), &now.to_rfc3339())
        .await;
    match used {
        Ok(()) => {}
        Err(StorageError::Conflict) => return Err(DeviceError::BadCode),
        Err(e) => return Err(e.into()),
    }
    let role = role.parse().map_err(|_| DeviceError::Unknown(id.clone()))?;
    Ok((Device { id, role, location }, cert))
}

/// The device a certificate was issued to: `Err(Revoked)`-like `Ok(None)`
/// for unknown, and the revocation time for revoked ones.
pub async fn by_certificate(
    storage: &Storage,
    cert: &[u8],
) -> Result<Option<(Device, Option<String>)>, StorageError> {
    let row = storage.device_by_cert(&sha256_hex(cert)).await?;
    Ok(row.and_then(|(id, role, location, revoked)| {
        role.parse().ok().map(|role| (Device { id, role, location }, revoked))
    }))
}

/// The devices revoked. A device's row is never deleted (a revoked device
/// keeps it), so these are every device cut off.
pub async fn revoked(storage: &Storage) -> Result<std::collections::HashSet<String>, StorageError> {
    storage.revoked_devices().await
}

/// A device not revoked: its role and location.
pub async fn active(
    storage: &Storage,
    device: &str,
) -> Result<Option<(String, Option<String>)>, StorageError> {
    storage.active_device(device).await
}

/// Revokes a device: refused at once, also mid-connection.
pub async fn revoke(storage: &Storage, device: &str, now: DateTime<Utc>) -> Result<(), DeviceError> {
    match storage.revoke_device(device, &now.to_rfc3339()).await {
        Ok(()) => Ok(()),
        Err(StorageError::Conflict) => Err(DeviceError::Unknown(device.into())),
        Err(e) => Err(e.into()),
    }
}

/// Every device, with the work waiting for it.
pub async fn list(storage: &Storage) -> Result<Vec<DeviceRow>, StorageError> {
    storage.device_rows().await
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
