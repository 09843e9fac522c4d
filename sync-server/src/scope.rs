//! Which documents a device holds: decided by the server from the
//! projections, never by the device.
//!
//! - picker: its location's current stock epoch, and the open orders
//!   assigned to it for picking;
//! - packer: its location's current stock epoch, and the orders at its
//!   location being picked or packed;
//! - driver: its routes, and the open orders on them;
//! - office: everything.

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
    if matches!(device.role, Role::Picker | Role::Packer) && device.location.is_some() {
        ids.extend(latest_location(c, &location)?);
    }
    Ok(ids.into_iter().filter_map(|s| s.parse().ok()).collect())
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
        }
        DocId::Route(r) => query("SELECT driver FROM routes WHERE id = ?1", &[&r.as_str()])?,
        DocId::Location { id, .. } => {
            query(
                "SELECT id FROM devices WHERE role IN ('picker', 'packer') AND location = ?1",
                &[&id.as_str()],
            )?;
        }
    }
    Ok(out)
}
