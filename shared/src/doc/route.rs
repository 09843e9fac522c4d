//! The route document's header: a driver's run, its van and its stops in
//! sequence. Packages are put on stops by `package_assigned` events; the
//! driver's arrivals, deliveries and failed attempts are events too.

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::doc::order::Address;
use crate::doc::{Contents, DocError};
use crate::id::{DeviceId, OrderId, RouteId, VanId};
use crate::plan::day::Van;

/// Kind word of route documents.
pub const KIND: &str = "route";

/// One stop of a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stop {
    /// Sequence number: the order the driver works stops in.
    pub seq: u32,
    /// Orders delivered at this stop.
    pub orders: Vec<OrderId>,
    /// Where the stop is.
    pub address: Address,
    /// When work should start there as planned, on the depot's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<NaiveTime>,
}

/// The route header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RouteHeader {
    /// The route.
    pub id: RouteId,
    /// The driver's device.
    pub driver: DeviceId,
    /// The van.
    pub van: VanId,
    /// The day it runs.
    pub date: NaiveDate,
    /// The stops, in sequence.
    pub stops: Vec<Stop>,
    /// The van's capacity and the driver's shift it was planned within, so
    /// stops added on the road keep to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Van>,
}

/// Reads a route document.
pub fn read(doc: &automerge::Automerge) -> Result<Contents<RouteHeader>, DocError> {
    super::read(doc, KIND)
}
