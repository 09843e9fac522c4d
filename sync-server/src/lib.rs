//! The Waybill sync server: devices merge their offline work with it over
//! QUIC, and the office reads the merged state from its projections.
//!
//! - [`Server`] listens on QUIC (TLS 1.3, mutual for enrolled devices), with
//!   the sync protocol of `waybill_shared::sync`;
//! - every incoming change passes the shared write policy before it is
//!   stored or relayed; refused ones are quarantined;
//! - [`storage`] is the one place that speaks SQL: SQLite in a data
//!   directory, or PostgreSQL shared by several stateless nodes (one writer
//!   per node with group commit), holding documents, sync states and
//!   projections of the fold;
//! - [`devices`] enrols (one-time codes), lists and revokes devices;
//! - the office signs in ([`users`], each with a role) to an HTTP API and
//!   page ([`http`]), and what it does is written down ([`audit`]);
//!   customers hear about their orders through webhooks (`outbox`).

pub mod audit;
pub mod blob_store;
pub(crate) mod blobs;
mod connection;
pub(crate) mod csv_orders;
mod depot_clock;
pub mod devices;
mod docs;
pub mod http;
mod hub;
pub mod identity;
pub mod import;
pub mod ingest;
pub mod mail;
pub mod metrics;
pub mod office;
pub(crate) mod outbox;
pub mod payment;
pub mod planning;
pub(crate) mod projection;
pub mod quota;
pub(crate) mod scope;
pub mod server;
pub mod storage;
pub(crate) mod telemetry;
pub mod tracking;
mod udp;
pub mod users;
mod wire;

pub use server::{Config, Limits, Server, ServerError};
