//! What an office user may do: a role, and for a warehouse lead the
//! locations they work at. The routes each role may call are the HTTP
//! API's permission table (`http/access.rs`); this is who the user is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An office user's role.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    /// Everything: devices, users, webhooks, locations, and all the others do.
    Admin,
    /// Orders (create, hold, release, cancel, amend, import), allocation,
    /// routes, exceptions and payments.
    Dispatcher,
    /// Receipts, pick lists, quotas and exceptions at their locations only.
    WarehouseLead,
    /// Reads everything (and the audit log), changes nothing.
    Viewer,
}

impl UserRole {
    /// Every role, most powerful first.
    pub const ALL: [Self; 4] = [Self::Admin, Self::Dispatcher, Self::WarehouseLead, Self::Viewer];

    /// The role's name, as stored and as the API and command line spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Dispatcher => "dispatcher",
            Self::WarehouseLead => "warehouse_lead",
            Self::Viewer => "viewer",
        }
    }

    /// Whether the role is bound to locations.
    pub fn is_scoped(self) -> bool {
        self == Self::WarehouseLead
    }
}

impl fmt::Display for UserRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UserRole {
    type Err = String;

    /// A role by name; `warehouse-lead` is taken for `warehouse_lead`.
    fn from_str(s: &str) -> Result<Self, String> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL.into_iter().find(|r| r.as_str() == wanted).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown role {s:?}: one of {}", names.join(", "))
        })
    }
}

/// Who made a request and what they may touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Access {
    /// The user's name (`api` for the service token).
    pub user: String,
    /// Their role.
    pub role: UserRole,
    /// The locations a warehouse lead works at, sorted (empty for the
    /// other roles, who work everywhere).
    pub locations: Vec<String>,
}

impl Access {
    /// The service token's access: scripts act as `api`, an admin.
    pub fn service() -> Self {
        Self { user: "api".to_owned(), role: UserRole::Admin, locations: Vec::new() }
    }

    /// Whether the user works at `location`: a warehouse lead at theirs,
    /// everyone else everywhere.
    pub fn covers(&self, location: &str) -> bool {
        !self.role.is_scoped() || self.locations.iter().any(|l| l == location)
    }

    /// The role as a person reads it: `warehouse_lead at wh-1, wh-2`.
    pub fn describe(&self) -> String {
        if self.role.is_scoped() {
            format!("{} at {}", self.role, self.locations.join(", "))
        } else {
            self.role.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn roles_read_back_and_unknown_ones_are_named() {
        for r in UserRole::ALL {
            assert_eq!(r.as_str().parse::<UserRole>(), Ok(r));
        }
        assert_eq!("Warehouse-Lead".parse::<UserRole>(), Ok(UserRole::WarehouseLead));
        let err = "boss".parse::<UserRole>().unwrap_err();
        assert_eq!(err, "unknown role \"boss\": one of admin, dispatcher, warehouse_lead, viewer");
    }

    #[test]
    fn only_a_warehouse_lead_is_bound_to_locations() {
        let lead =
            Access { user: "lee".into(), role: UserRole::WarehouseLead, locations: vec!["wh-1".into()] };
        assert!(lead.covers("wh-1") && !lead.covers("wh-2"));
        assert_eq!(lead.describe(), "warehouse_lead at wh-1");
        let dispatcher = Access { role: UserRole::Dispatcher, locations: vec![], ..lead };
        assert!(dispatcher.covers("wh-2"));
        assert_eq!(Access::service().role, UserRole::Admin);
    }
}
