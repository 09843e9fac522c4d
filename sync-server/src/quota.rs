//! Escrow quotas on the server: how much of a location's free stock each
//! device that promises offline (a driver selling from the van, a store
//! handheld) holds (see `waybill_shared::event::quota`).
//!
//! The office sets a **target** per location, item and role
//! (`quota_targets`): the units each driver (or picker: a store handheld
//! taking walk-in orders) enrolled at that location should hold. Per role,
//! so a warehouse's pickers hold nothing unless the office says so. When such a device connects, before its manifest
//! is sent, [`top_up`] grants it what it lacks of each target, out of free
//! stock, as `quota_granted` events from the office; so the device leaves
//! with its grant from the same sync. Rebalancing is the bounded counter's:
//! a device hands unused units back (`quota_released`, from the device,
//! never taken from it, because it may have spent them offline), they are
//! free stock again, and the next device to connect short of its target
//! gets them. Free stock is checked again under the office lock when the
//! grant is written ([`crate::office::office_event`]), so two devices
//! connecting at once never get the same units.

use std::sync::Arc;

use waybill_shared::doc;
use waybill_shared::event::Payload;
use waybill_shared::event::quota::QuotaGranted;
use waybill_shared::fold;
use waybill_shared::gs1::Gtin;
use waybill_shared::id::{DeviceId, LocationId};
use waybill_shared::role::Role;

use crate::office::{self, OfficeError};
use crate::scope::Device;
use crate::server::Shared;
use crate::storage::{self, Storage, StorageError, WriteOp};

/// Serialises [`top_up`].
static TOP_UP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether `role` promises stock offline, and so may hold a quota.
pub fn holds_quota(role: Role) -> bool {
    matches!(role, Role::Driver | Role::Picker)
}

/// The targets set at `location` for devices of `role`: item and units per device.
pub async fn targets(
    storage: &Storage,
    location: &str,
    role: Role,
) -> Result<Vec<(String, u32)>, StorageError> {
    storage.quota_targets(location, role.as_str()).await
}

/// The write that sets (or, with 0, clears) the target of `gtin` at
/// `location` for devices of `role`.
pub fn set_target(location: &LocationId, gtin: &Gtin, role: Role, target: u32) -> WriteOp {
    storage::quota::set_target(location.as_str(), &gtin.to_string(), role.as_str(), target)
}

/// Fails unless devices of `role` may hold quotas.
pub fn check_role(role: Role) -> Result<(), OfficeError> {
    if holds_quota(role) {
        return Ok(());
    }
    Err(OfficeError::Invalid {
        field: "role".into(),
        message: format!("a {role} does not promise stock offline: drivers and pickers do"),
    })
}

/// Sets a target at once through `storage` (the `waybill-server` command
/// line, beside a running server: it reads targets at each connection).
pub async fn store_target(
    storage: &Storage,
    location: &LocationId,
    gtin: &Gtin,
    role: Role,
    target: u32,
) -> Result<(), OfficeError> {
    check_role(role)?;
    if crate::scope::latest_location(storage, location.as_str()).await?.is_none() {
        return Err(OfficeError::Invalid {
            field: "location".into(),
            message: format!("no location {location}"),
        });
    }
    storage.write(vec![set_target(location, gtin, role, target)]).await?;
    Ok(())
}

/// Grants `device` what it lacks of each target at its location, as far as
/// free stock goes. Returns the units granted per item. A device that does
/// not hold quotas, or has no location, or whose location has no targets,
/// gets nothing and costs one query at most.
pub async fn top_up(shared: &Arc<Shared>, device: &Device) -> Result<Vec<(Gtin, u32)>, OfficeError> {
    let Some(location) = device.location.as_deref().filter(|_| holds_quota(device.role)) else {
        return Ok(Vec::new());
    };
    let targets = targets(&shared.storage, location, device.role).await?;
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let location: LocationId = location
        .parse()
        .map_err(|e| StorageError::Corrupt(format!("device {}'s location: {e}", device.id)))?;
    let who: DeviceId =
        device.id.parse().map_err(|e| StorageError::Corrupt(format!("device id {}: {e}", device.id)))?;
    // One top-up at a time: what a device lacks is read and granted before
    // the next looks, so two (its connection, another's upload) never both
    // fill the same gap.
    let _one = TOP_UP.lock().await;
    let (doc_id, contents) = crate::planning::location_contents(shared, &location).await?;
    let view = fold::stock::fold(&contents);
    let mut granted = Vec::new();
    for (gtin, target) in targets {
        let Ok(gtin) = gtin.parse::<Gtin>() else { continue };
        let held = u32::try_from(view.quota(&who, &gtin)).unwrap_or(u32::MAX);
        let free = u32::try_from(view.free(&gtin)).unwrap_or(0);
        let quantity = target.saturating_sub(held).min(free);
        if quantity == 0 {
            continue;
        }
        let payload =
            Payload::QuotaGranted(QuotaGranted { device: who.clone(), gtin: gtin.clone(), quantity });
        match office::office_event(shared, &doc_id, payload, Some("quota top-up".into())).await {
            Ok(_) => granted.push((gtin, quantity)),
            // Free stock went meanwhile (another device's grant): the next
            // connection tries again.
            Err(OfficeError::Invalid { message, .. }) => {
                tracing::debug!(device = %who, %gtin, message, "no quota granted");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(granted)
}

/// Checks a grant against the location's free stock as stored now: called
/// under the office lock, so grants never overlap.
pub fn check_grant(doc: &automerge::Automerge, g: &QuotaGranted) -> Result<(), OfficeError> {
    let contents = doc::location::read(doc).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let view = fold::stock::fold(&contents);
    let free = view.free(&g.gtin);
    if i64::from(g.quantity) > free {
        return Err(OfficeError::Invalid {
            field: "quantity".into(),
            message: format!(
                "only {free} unit(s) of {} are free at {} (on hand {}, held in quotas {})",
                g.gtin,
                view.location,
                view.total(&g.gtin),
                view.held(&g.gtin)
            ),
        });
    }
    Ok(())
}

/// Rows for the office: each device's quota per location and item.
pub async fn list(storage: &Storage) -> Result<Vec<serde_json::Value>, StorageError> {
    storage.quota_rows().await
}

/// Tops up every connected device enrolled at `location` but the one on
/// connection `except`: after the office sets a target or receives stock,
/// or a device's upload spent or handed back quota, the devices online get
/// their grant pushed at once (a phone on background sync is refilled
/// while it works). A device that handed quota back is left out of the
/// top-up its upload causes: its own release is not handed straight back
/// to it (it is topped up when it next connects). Returns the grants made,
/// per device.
pub async fn top_up_connected(
    shared: &Arc<Shared>,
    location: &LocationId,
    except: Option<u64>,
) -> Result<Vec<(String, Vec<(Gtin, u32)>)>, OfficeError> {
    let here = shared.storage.quota_devices(location.as_str()).await?;
    if here.is_empty() {
        return Ok(Vec::new());
    }
    let mut online: Vec<String> = shared
        .hub
        .connected()
        .into_iter()
        .filter(|(conn, ..)| Some(*conn) != except)
        .map(|(_, id, _)| id)
        .collect();
    online.sort();
    online.dedup();
    let mut out = Vec::new();
    for (id, role) in here {
        let Ok(role) = role.parse::<Role>() else { continue };
        if online.binary_search(&id).is_err() {
            continue;
        }
        let device = Device { id: id.clone(), role, location: Some(location.to_string()) };
        let granted = top_up(shared, &device).await?;
        if !granted.is_empty() {
            out.push((id, granted));
        }
    }
    Ok(out)
}
