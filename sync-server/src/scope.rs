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

use rusqlite::{Connection, OptionalExtension};
use waybill_shared::doc::DocId;
use waybill_shared::role::Role;

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

const CLOSED: &str = "'completed', 'cancelled'";

/// The documents in `device`'s scope; `with_closed` adds the orders it was
/// given that have since closed (completed or cancelled), which it may still
/// sync its work into but need not hold.
pub fn scope(c: &Connection, device: &Device, with_closed: bool) -> rusqlite::Result<BTreeSet<DocId>> {
    let closed = if with_closed { "''" } else { CLOSED };
    let mut ids: Vec<String> = Vec::new();
    let mut query = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<()> {
        let mut stmt = c.prepare_cached(sql)?;
        let rows = stmt.query_map(p, |r| r.get::<_, String>(0))?;
        for r in rows {
            ids.push(r?);
        }
        Ok(())
    };
    let location = device.location.clone().unwrap_or_default();
    match device.role {
        Role::Office => query("SELECT id FROM docs", &[])?,
        Role::Picker => {
            query(
                &format!(
                    "SELECT 'order/' || a.order_id FROM pick_assignments a JOIN orders o ON o.id = a.order_id
                     WHERE a.device = ?1 AND o.status NOT IN ({closed})"
                ),
                &[&device.id],
            )?;
        }
        Role::Packer => {
            query(
                &format!(
                    "SELECT 'order/' || l.order_id FROM order_locations l JOIN orders o ON o.id = l.order_id
                     WHERE l.location = ?1 AND ({all} OR o.status IN ('picking', 'picked', 'packed'))",
                    all = i32::from(with_closed)
                ),
                &[&location],
            )?;
        }
        Role::Driver => {
            query("SELECT 'route/' || id FROM routes WHERE driver = ?1", &[&device.id])?;
            query(
                &format!(
                    "SELECT 'order/' || ro.order_id FROM route_orders ro JOIN routes r ON r.id = ro.route
                     JOIN orders o ON o.id = ro.order_id WHERE r.driver = ?1 AND o.status NOT IN ({closed})"
                ),
                &[&device.id],
            )?;
        }
    }
    if device.role != Role::Office {
        ids.extend(unsettled_orders(c, &device.id)?);
    }
    // A driver enrolled at a location (a van, a depot) sells from its stock.
    if matches!(device.role, Role::Picker | Role::Packer | Role::Driver) && device.location.is_some() {
        ids.extend(latest_location(c, &location)?);
    }
    Ok(ids.into_iter().filter_map(|s| s.parse().ok()).collect())
}

/// Closed orders (as `order/<id>`) with a sync state of `device`'s that does
/// not cover the order's heads: the device has held them but not seen all
/// of them, its closing included.
fn unsettled_orders(c: &Connection, device: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT s.doc, s.state, d.heads FROM sync_states s JOIN orders o ON o.id = substr(s.doc, 7)
         JOIN docs d ON d.id = s.doc
         WHERE s.device = ?1 AND s.doc LIKE 'order/%' AND o.status IN ({CLOSED})"
    ))?;
    let rows = stmt.query_map([device], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (doc, state, heads): (String, Vec<u8>, Vec<u8>) = row?;
        if !covers(&state, &heads) {
            out.push(doc);
        }
    }
    Ok(out)
}

/// The devices holding the closed order `order` without having seen all of
/// it: [`unsettled_orders`] asked the other way round.
fn unsettled_holders(c: &Connection, order: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT s.device, s.state, d.heads FROM sync_states s JOIN docs d ON d.id = s.doc
         JOIN orders o ON o.id = ?2 WHERE s.doc = ?1 AND o.status IN ({CLOSED})"
    ))?;
    let rows = stmt.query_map([format!("order/{order}"), order.to_owned()], |r| {
        Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (device, state, heads): (String, Vec<u8>, Vec<u8>) = row?;
        if !covers(&state, &heads) {
            out.push(device);
        }
    }
    Ok(out)
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
pub fn latest_location(c: &Connection, location: &str) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT id FROM docs WHERE kind = 'location' AND substr(id, 1, length(?1)) = ?1
         ORDER BY CAST(substr(id, length(?1) + 1) AS INTEGER) DESC LIMIT 1",
        [format!("location/{location}/")],
        |r| r.get(0),
    )
    .optional()
}

/// The devices whose scope holds `doc`: the same rules as [`scope`], asked
/// the other way round, so a change is pushed with one query whatever the
/// number of devices connected.
pub fn audience(c: &Connection, doc: &DocId) -> rusqlite::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut query = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<()> {
        let mut stmt = c.prepare_cached(sql)?;
        for r in stmt.query_map(p, |r| r.get::<_, String>(0))? {
            out.insert(r?);
        }
        Ok(())
    };
    query("SELECT id FROM devices WHERE role = 'office' AND revoked_at IS NULL", &[])?;
    match doc {
        DocId::Order(o) => {
            let o = o.as_str();
            query(
                &format!(
                    "SELECT a.device FROM pick_assignments a JOIN orders o ON o.id = a.order_id
                     WHERE a.order_id = ?1 AND o.status NOT IN ({CLOSED})"
                ),
                &[&o],
            )?;
            query(
                "SELECT d.id FROM devices d JOIN order_locations l ON l.location = d.location
                 JOIN orders o ON o.id = l.order_id
                 WHERE d.role = 'packer' AND l.order_id = ?1 AND o.status IN ('picking', 'picked', 'packed')",
                &[&o],
            )?;
            query(
                &format!(
                    "SELECT r.driver FROM route_orders ro JOIN routes r ON r.id = ro.route JOIN orders o ON o.id = ro.order_id
                     WHERE ro.order_id = ?1 AND o.status NOT IN ({CLOSED})"
                ),
                &[&o],
            )?;
            out.extend(unsettled_holders(c, o)?);
        }
        DocId::Route(r) => query("SELECT driver FROM routes WHERE id = ?1", &[&r.as_str()])?,
        DocId::Location { id, .. } => {
            query(
                "SELECT id FROM devices WHERE role IN ('picker', 'packer', 'driver') AND location = ?1",
                &[&id.as_str()],
            )?;
        }
    }
    Ok(out)
}
