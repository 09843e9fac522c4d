//! The Waybill handheld agent: what runs on a warehouse scanner or a driver's
//! phone, fully useful with no network.
//!
//! - [`Agent`] holds one device's identity, its documents and its local
//!   [`store`] (SQLite), and is the only writer of both;
//! - each role's operations (`ops`) validate input against the merged views
//!   and record one event each, durably, before returning;
//! - [`Agent::tasks`] gives each role its work list, [`Agent::scan`] says what
//!   a scanned code is here;
//! - the `waybill-agent` binary is a handheld simulator over this same library.
//!
//! The model (events, documents, the fold) is `waybill_shared`; this crate
//! owns time, storage and files.

mod agent;
mod error;
mod ops;
mod scan;
pub mod store;
pub mod sync;
mod tasks;

pub use agent::{Agent, Imported, Profile, Status};
pub use error::AgentError;
pub use ops::delivery::{BlobInput, DeliveryRequest};
pub use ops::picking::PickRequest;
pub use scan::{ItemScan, Scanned};
pub use sync::SyncReport;
pub use sync::background::{BackgroundSync, SyncEvent, SyncState};
pub use tasks::{PackTask, PickTask, RouteTask, StopTask, Tasks};
pub use waybill_shared::seed::{Seed, SeedOrder};
