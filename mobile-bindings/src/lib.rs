//! Waybill for Android and iOS: the handheld agent ([`waybill_agent`])
//! through [uniffi](https://mozilla.github.io/uniffi-rs/), as Kotlin and
//! Swift (and Python, for the tests).
//!
//! This crate holds no logic. [`Device`] wraps the agent; each of its
//! methods calls one agent operation and converts its arguments and result
//! to the plain records and enums declared here ([`types`]), and the
//! agent's errors to [`WaybillError`], a small enum an app can act on.
//! Sync runs on a runtime this library owns, on handles of its own on the
//! store, so the app's calls never wait for the network.
//!
//! Generate the bindings with `cargo run -p uniffi-bindgen -- generate
//! --library <libwaybill_mobile.so> --language kotlin|swift|python`; see
//! `docs/mobile.md`.

mod device;
mod error;
pub mod types;

pub use device::{Device, DeviceListener};
pub use error::WaybillError;

uniffi::setup_scaffolding!();
