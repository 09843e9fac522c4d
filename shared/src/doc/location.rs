//! The location document's header: the bins, and the balance an epoch opens
//! with.
//!
//! A location's stock history would grow without bound, so it is cut into
//! epochs, each its own document (`location/<id>/<epoch>`). The office rolls
//! an epoch over with [`next_epoch`]: the new header carries the closing
//! balance of the old one forward, and a `cutoff` saying which events that
//! balance already includes: for each device, its events up to a sequence
//! number. A device that was offline across the rollover and wrote into the old
//! epoch is not lost: its late events are copied into the new epoch
//! (same ids), and since the cutoff does not cover them they count once there.
//! A void written after the rollover of an event the cutoff covers goes into
//! the new epoch together with a copy of its target: the stock fold then takes
//! the target's move back out of the opening balance (once, however many
//! voids name it). Quotas devices hold (see [`crate::event::quota`]) carry
//! forward the same way, in `quotas`. Old epochs can then be dropped from
//! devices.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::doc::{Contents, DocError};
use crate::event::Event;
use crate::geo::Geo;
use crate::gs1::Gtin;
use crate::id::{BinId, DeviceId, LocationId};

/// Kind word of location documents.
pub const KIND: &str = "location";

/// A bin and where it falls on the picker's walk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bin {
    /// The bin.
    pub id: BinId,
    /// Position on the pick walk: pick lists are sorted by it.
    pub walk: u32,
}

/// Units of an item in a bin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Balance {
    /// The bin.
    pub bin: BinId,
    /// The item.
    pub gtin: Gtin,
    /// Units on hand; may be negative, which the fold reports.
    pub quantity: i64,
}

/// Units of an item's quota a device still held when the epoch opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaBalance {
    /// The device holding it.
    pub device: DeviceId,
    /// The item.
    pub gtin: Gtin,
    /// Units it may still promise; negative only if it promised more than
    /// it held, which the fold reports.
    pub quantity: i64,
}

/// The location header of one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocationHeader {
    /// The location.
    pub id: LocationId,
    /// Its name.
    pub name: String,
    /// Where it is: the depot vans leave from and come back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
    /// Its bins.
    pub bins: Vec<Bin>,
    /// The epoch, from 0.
    pub epoch: u32,
    /// Balances carried forward from the previous epoch.
    #[serde(default)]
    pub opening: Vec<Balance>,
    /// Events already counted in `opening`: per device, all its events up to
    /// this sequence number.
    #[serde(default)]
    pub cutoff: BTreeMap<DeviceId, u64>,
    /// Quotas carried forward from the previous epoch (see
    /// [`crate::event::quota`]), counted like `opening` up to `cutoff`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quotas: Vec<QuotaBalance>,
    /// Its time zone (IANA, such as `Europe/Berlin`): the clock its
    /// delivery slots, drivers' shifts and planned times are read on. UTC
    /// when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl LocationHeader {
    /// Whether `opening` already counts this event.
    pub fn covers(&self, event: &Event) -> bool {
        self.cutoff.get(&event.id.device).is_some_and(|&seq| event.id.seq <= seq)
    }
}

/// The header of the epoch after `contents`: its closing balance carried
/// forward, with a cutoff covering every event it holds.
pub fn next_epoch(contents: &Contents<LocationHeader>) -> LocationHeader {
    let view = crate::fold::stock::fold(contents);
    let mut cutoff = contents.header.cutoff.clone();
    for e in &contents.events {
        let seq = cutoff.entry(e.id.device.clone()).or_default();
        *seq = (*seq).max(e.id.seq);
    }
    LocationHeader {
        epoch: contents.header.epoch + 1,
        opening: view
            .stock
            .into_iter()
            .map(|s| Balance { bin: s.bin, gtin: s.gtin, quantity: s.on_hand })
            .collect(),
        cutoff,
        quotas: view
            .quotas
            .into_iter()
            .filter(|q| q.remaining != 0)
            .map(|q| QuotaBalance { device: q.device, gtin: q.gtin, quantity: q.remaining })
            .collect(),
        ..contents.header.clone()
    }
}

/// Reads a location document.
pub fn read(doc: &automerge::Automerge) -> Result<Contents<LocationHeader>, DocError> {
    super::read(doc, KIND)
}

/// Reads a location document's header only.
pub fn read_header(doc: &automerge::Automerge) -> Result<LocationHeader, DocError> {
    super::read_header(doc, KIND)
}
