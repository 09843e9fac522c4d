//! The roles a device is enrolled with. A role decides which events a device
//! may write (see [`crate::event::Payload::allowed_for`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a device is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Warehouse handheld working pick lists; also receives, moves and counts stock.
    Picker,
    /// Handheld or pack station packing picked lines into packages.
    Packer,
    /// A driver's phone: loads, delivers, records proof and returns.
    Driver,
    /// The office: takes orders in, allocates, assigns, resolves exceptions.
    Office,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 4] = [Role::Picker, Role::Packer, Role::Driver, Role::Office];

    /// The role's name as written in configuration and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Picker => "picker",
            Role::Packer => "packer",
            Role::Driver => "driver",
            Role::Office => "office",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: expected picker, packer, driver or office"))
    }
}
