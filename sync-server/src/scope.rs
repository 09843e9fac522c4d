//! Which documents a device holds: decided by the server from the
//! projections, never by the device.
//!
//! - picker: its location's current stock epoch, and the open orders
//!   assigned to it for picking;
//! - packer: its location's current stock epoch, and the orders at its
//!   location being picked or packed;
//! - driver: its routes, and the open orders on them; and, if enrolled at a
//!   location (its van, or the depot it sells from), that location's current
//!   stock epoch, where its quota is;
//! - office: everything.
//!
//! Scope follows what the device knows, not only today's open work: an
//! order that closed (cancelled, completed) stays in the scope of every
//! device that has synced it before (the server keeps a sync state for it)
//! until that device has synced all of it, its closing included. A device
//! that was offline through a cancel, a hold or an address change so learns
//! of it on its next sync, and may drop the order after that (the agent
//! evicts closed orders the server holds in full). A change to the order
//! after that brings it back once, for the same reason. The cost is a sync
//! state decoded per closed order the device ever synced, at each scope
//! look-up: rows of long-evicted orders are never pruned yet.

use std::collections::BTreeSet;

use waybill_shared::doc::DocId;
use waybill_shared::role::Role;

use crate::storage::{Storage, StorageError};

/// A device as the server knows it.
#[derive(Debug, Clone)]
pub struct Device {
    /// Its id.
    pub id: String,
    /// Its role.
    pub role: Role,
    /// Its location, for warehouse roles.
    pub location: Option<String>,
}

/// The documents in `device`'s scope; `with_closed` adds the orders it was
/// given that have since closed (completed or cancelled), which it may still
/// sync its work into but need not hold.
pub async fn scope(
    storage: &Storage,
    device: &Device,
    with_closed: bool,
) -> Result<BTreeSet<DocId>, StorageError> {
    let location = device.location.clone().unwrap_or_default();
    let mut ids = match device.role {
        Role::Office => storage.all_doc_ids().await?,
        Role::Picker => storage.picker_orders(&device.id, with_closed).await?,
        Role::Packer => storage.packer_orders(&location, with_closed).await?,
        Role::Driver => {
            let mut ids = storage.driver_routes(&device.id).await?;
            ids.extend(storage.driver_orders(&device.id, with_closed).await?);
            ids
        }
    };
    if device.role != Role::Office {
        ids.extend(unsettled_orders(storage, &device.id).await?);
    }
    // A driver enrolled at a location (a van, a depot) sells from its stock.
    if matches!(device.role, Role::Picker | Role::Packer | Role::Driver) && device.location.is_some() {
        ids.extend(latest_location(storage, &location).await?);
    }
    Ok(ids.into_iter().filter_map(|s| s.parse().ok()).collect())
}

/// Closed orders (as `order/<id>`) with a sync state of `device`'s that does
/// not cover the order's heads: the device has held them but not seen all
/// of them, its closing included.
async fn unsettled_orders(storage: &Storage, device: &str) -> Result<Vec<String>, StorageError> {
    let rows = storage.closed_order_states(device).await?;
    Ok(rows.into_iter().filter(|(_, state, heads)| !covers(state, heads)).map(|(doc, _, _)| doc).collect())
}

/// The devices holding the closed order `order` without having seen all of
/// it: [`unsettled_orders`] asked the other way round.
async fn unsettled_holders(storage: &Storage, order: &str) -> Result<Vec<String>, StorageError> {
    let rows = storage.closed_order_holders(order).await?;
    Ok(rows
        .into_iter()
        .filter(|(_, state, heads)| !covers(state, heads))
        .map(|(device, _, _)| device)
        .collect())
}

/// Whether a persisted sync state's shared heads cover the stored `heads`
/// (both as stored). Unreadable ones do not: the device syncs again.
fn covers(state: &[u8], heads: &[u8]) -> bool {
    let (Ok(state), Ok(heads)) =
        (automerge::sync::State::decode(state), waybill_shared::heads::decode(heads))
    else {
        return false;
    };
    heads.iter().all(|h| state.shared_heads.contains(h))
}

/// The id of `location`'s newest stock epoch document, if any is stored.
pub async fn latest_location(storage: &Storage, location: &str) -> Result<Option<String>, StorageError> {
    storage.latest_location_doc(location).await
}

/// The devices whose scope holds `doc`: the same rules as [`scope`], asked
/// the other way round, so a change is pushed with two queries whatever
/// the number of devices connected.
pub async fn audience(storage: &Storage, doc: &DocId) -> Result<BTreeSet<String>, StorageError> {
    let mut out: BTreeSet<String> = storage.audience(doc).await?.into_iter().collect();
    if let DocId::Order(o) = doc {
        out.extend(unsettled_holders(storage, o.as_str()).await?);
    }
    Ok(out)
}
