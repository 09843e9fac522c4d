//! Why a change was refused: sent back to the device, shown to the office.

use serde::{Deserialize, Serialize};

/// The reason the write policy refused a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    /// The document is not in the device's scope.
    #[error("document {doc} is not in this device's scope")]
    OutOfScope {
        /// The document.
        doc: String,
    },
    /// The change is signed with another actor than the device's own.
    #[error("change written by actor {actor}, not this device's")]
    ForeignActor {
        /// The actor found, hex.
        actor: String,
    },
    /// A device may not create documents; only the office does.
    #[error("document {doc} does not exist and only the office creates documents")]
    UnknownDocument {
        /// The document.
        doc: String,
    },
    /// The change touches something other than the events map.
    #[error("change edits {what}; a device may only append events")]
    NotAnAppend {
        /// What it touched.
        what: String,
    },
    /// The change deletes or overwrites a value already written.
    #[error("change rewrites history: it {what}")]
    RewritesHistory {
        /// What it did.
        what: String,
    },
    /// The appended value is not a readable event.
    #[error("appended value under {key} is not an event: {why}")]
    NotAnEvent {
        /// The key written.
        key: String,
        /// Why it does not read.
        why: String,
    },
    /// The event is larger than allowed.
    #[error("event {key} is {bytes} bytes, more than the {limit} allowed")]
    EventTooLarge {
        /// The key written.
        key: String,
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The key does not match the event's id.
    #[error("event stored under {key} but its id is {id}")]
    KeyMismatch {
        /// The key written.
        key: String,
        /// The event's id.
        id: String,
    },
    /// The event claims to be another device's.
    #[error("event {id} is written as another device")]
    NotAuthor {
        /// The event's id.
        id: String,
    },
    /// The device's role may not write this event.
    #[error("a {role} may not write {event} events")]
    RoleNotAllowed {
        /// The device's role.
        role: String,
        /// The event type.
        event: String,
    },
    /// This event does not belong in this document.
    #[error("{event} events do not belong in document {doc}")]
    WrongDocument {
        /// The event type.
        event: String,
        /// The document.
        doc: String,
    },
    /// A device voids an event that is not its own.
    #[error("only the office may void another device's event ({target})")]
    VoidsOthersEvent {
        /// The voided event.
        target: String,
    },
    /// An event with the same id already exists.
    #[error("event {id} already exists")]
    DuplicateEvent {
        /// The event's id.
        id: String,
    },
    /// A device promised or handed back more of an item than its quota at
    /// this location holds.
    #[error("event {id} spends {asked} unit(s) of {gtin} but this device's quota holds {remaining}")]
    OverQuota {
        /// The event.
        id: String,
        /// The item.
        gtin: String,
        /// Units it spends.
        asked: u32,
        /// Units the device's quota held before it.
        remaining: i64,
    },
    /// The office granted more quota than the location has free.
    #[error("event {id} grants {asked} unit(s) of {gtin} but only {free} are free")]
    BeyondFreeStock {
        /// The event.
        id: String,
        /// The item.
        gtin: String,
        /// Units granted.
        asked: u32,
        /// Units free before it.
        free: i64,
    },
    /// The change builds on a change that was refused.
    #[error("change builds on refused change {hash}")]
    DependsOnRefused {
        /// The refused change.
        hash: String,
    },
    /// The change builds on changes the server does not have.
    #[error("change builds on {missing} change(s) this replica does not have")]
    MissingDependencies {
        /// How many are missing.
        missing: usize,
    },
}
