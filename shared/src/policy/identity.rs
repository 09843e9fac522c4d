//! Who is writing: an enrolled device's id, role and scope, and the
//! Automerge actor its changes must carry.

use std::collections::BTreeSet;

use automerge::ActorId;
use serde::{Deserialize, Serialize};

use crate::doc::DocId;
use crate::id::DeviceId;
use crate::role::Role;

/// The documents a device may hold and write. The server decides it; the
/// device never chooses its own scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every document (the office).
    All,
    /// These documents.
    Docs(BTreeSet<DocId>),
}

impl Scope {
    /// Whether `doc` is in scope.
    pub fn contains(&self, doc: &DocId) -> bool {
        match self {
            Scope::All => true,
            Scope::Docs(docs) => docs.contains(doc),
        }
    }
}

/// An enrolled device, as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIdentity {
    /// The device.
    pub device: DeviceId,
    /// Its role.
    pub role: Role,
    /// What it may hold and write.
    pub scope: Scope,
}

/// The Automerge actor of `device`'s changes: the id's bytes. A device that
/// is enrolled again gets a new device id, so an actor never restarts its
/// sequence.
pub fn actor_of(device: &DeviceId) -> ActorId {
    ActorId::from(device.as_str().as_bytes())
}
