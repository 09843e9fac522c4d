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

use rusqlite::{Connection, params};
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

/// The documents in `device`'s scope.
pub fn scope(c: &Connection, device: &Device) -> rusqlite::Result<BTreeSet<DocId>> {
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
                     WHERE a.device = ?1 AND o.status NOT IN ({CLOSED})"
                ),
                &[&device.id],
            )?;
        }
        Role::Packer => {
            query(
                "SELECT 'order/' || l.order_id FROM order_locations l JOIN orders o ON o.id = l.order_id
                 WHERE l.location = ?1 AND o.status IN ('picking', 'picked', 'packed')",
                &[&location],
            )?;
        }
        Role::Driver => {
            query("SELECT 'route/' || id FROM routes WHERE driver = ?1", &[&device.id])?;
            query(
                &format!(
                    "SELECT 'order/' || ro.order_id FROM route_orders ro JOIN routes r ON r.id = ro.route
                     JOIN orders o ON o.id = ro.order_id WHERE r.driver = ?1 AND o.status NOT IN ({CLOSED})"
                ),
                &[&device.id],
            )?;
        }
    }
    if matches!(device.role, Role::Picker | Role::Packer) && device.location.is_some() {
        let latest: Option<String> = c
            .query_row(
                "SELECT id FROM docs WHERE kind = 'location' AND id LIKE ?1
                 ORDER BY CAST(substr(id, length(?2) + 1) AS INTEGER) DESC LIMIT 1",
                params![format!("location/{location}/%"), format!("location/{location}/")],
                |r| r.get(0),
            )
            .ok();
        ids.extend(latest);
    }
    Ok(ids.into_iter().filter_map(|s| s.parse().ok()).collect())
}
