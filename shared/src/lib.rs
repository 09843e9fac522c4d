//! Waybill's shared core: the domain model and the rules every replica
//! applies, with no IO (no clock, no socket, no database).
//!
//! What flows through it:
//! - a device records what happened as an [`event::Event`] (fleet-unique
//!   [`event_id::EventId`], [`hlc::Hlc`] clock, typed payload) and appends it
//!   to an Automerge document ([`doc`]): an order, a location's stock epoch,
//!   or a route;
//! - any replica reads a document back and [`fold`]s it into a view (order
//!   status and quantities, stock per bin, route progress) with typed
//!   exceptions where offline work collided;
//! - the server runs every incoming change through the write [`policy`]
//!   before storing or relaying it;
//! - scanners' barcodes are read by [`gs1`];
//! - the office [`plan`]s work (allocation, routes, pick batches) and
//!   exports what happened as GS1 [`epcis`] events.
//!
//! The agent (handheld) and the sync server drive this crate; they own time,
//! storage and the network.

pub mod blob;
pub mod doc;
pub mod epcis;
pub mod event;
pub mod event_id;
pub mod fold;
pub mod geo;
pub mod gs1;
pub mod heads;
pub mod hlc;
pub mod id;
#[cfg(feature = "openapi")]
mod openapi;
pub mod plan;
pub mod policy;
pub mod recorder;
pub mod role;
pub mod seed;
pub mod sync;
