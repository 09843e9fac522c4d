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
//! `bash scripts/bindings.sh` generates the Kotlin, Swift and Python
//! sources from the built library; `docs/mobile.md` is the guide for app
//! developers.

mod device;
mod error;
pub mod types;

pub use device::{Device, DeviceListener};
pub use error::WaybillError;

uniffi::setup_scaffolding!();
