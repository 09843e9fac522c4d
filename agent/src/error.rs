//! What can go wrong on the device. Every variant says what is wrong in
//! words a handheld can show; none of them leaves anything half-written.

use waybill_shared::doc::DocError;
use waybill_shared::gs1::{Gs1Error, Gtin};
use waybill_shared::id::DeviceId;
use waybill_shared::role::Role;

/// An agent operation that failed. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The store could not be read or written.
    #[error("storage: {0}")]
    Storage(rusqlite::Error),
    /// Stored data does not read back.
    #[error("the store is damaged: {0}")]
    Corrupt(String),
    /// The store was written by a newer build of the agent.
    #[error("the store has schema version {found}; this build reads up to {supported}: update the app")]
    NewerStore {
        /// The version found.
        found: usize,
        /// The newest this build reads.
        supported: usize,
    },
    /// No device has been set up in this store.
    #[error("this store has no device yet: initialise it first")]
    NotInitialised,
    /// The store already belongs to a device.
    #[error("this store already belongs to device {0}")]
    AlreadyInitialised(DeviceId),
    /// A barcode that does not read.
    #[error("bad barcode: {0}")]
    BadScan(Gs1Error),
    /// A barcode that reads, but is not what this step needs.
    #[error("expected {expected}, scanned {scanned}")]
    WrongScan {
        /// What the step needs.
        expected: &'static str,
        /// What was scanned.
        scanned: String,
    },
    /// The device's role may not do this.
    #[error("a {role} may not {action}")]
    NotAllowed {
        /// The device's role.
        role: Role,
        /// What was attempted.
        action: &'static str,
    },
    /// Something named is not on this device.
    #[error("{what} {id} is not on this device")]
    NotFound {
        /// What kind of thing.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The item scanned is not the item of the line being picked.
    #[error("wrong item for line {line}: expected {expected}, scanned {scanned}")]
    WrongItem {
        /// The line.
        line: u32,
        /// The line's item.
        expected: Gtin,
        /// The item scanned.
        scanned: Gtin,
    },
    /// More than is left to do; a supervisor override can allow it.
    #[error("{asked} is more than the {remaining} left to {what}")]
    TooMany {
        /// What was being done.
        what: &'static str,
        /// The quantity asked for.
        asked: u32,
        /// What is left.
        remaining: u32,
    },
    /// More than this device's quota lets it promise at its location: sync,
    /// so the server can top the quota up, or sell less.
    #[error(
        "{asked} unit(s) of {gtin} is more than the {remaining} this device may still promise: sync for more quota, or sell less"
    )]
    OverQuota {
        /// The item.
        gtin: Gtin,
        /// Units asked for.
        asked: u32,
        /// Units the device's quota still holds.
        remaining: u32,
    },
    /// The package is not on this van.
    #[error("package {0} is not on this van")]
    NotOnVan(String),
    /// The stop requires proof that was not given: every item missing.
    #[error("this delivery needs {}", and_list(.0))]
    ProofMissing(Vec<&'static str>),
    /// The order is paid on delivery and money is still due on it: the
    /// delivery needs the amount collected and how (cash or card).
    #[error(
        "order {order} is paid on delivery: {amount} is due; record the amount collected and whether by cash or card"
    )]
    PaymentDue {
        /// The order.
        order: String,
        /// What is still due, as people read it (`12.50 EUR`).
        amount: String,
    },
    /// Input that makes no sense for this step.
    #[error("{0}")]
    Invalid(String),
    /// A file given to the agent could not be read.
    #[error("cannot read {path}: {error}")]
    File {
        /// The file.
        path: String,
        /// Why (in the message, so not a source).
        error: std::io::Error,
    },
    /// The server could not be reached, or the link dropped.
    #[error("offline: {0}")]
    Offline(String),
    /// The server is not the one this device trusts: its certificate does
    /// not match the fingerprint given at enrolment, or the CA pinned since.
    #[error(
        "the server at {0} is not the one this device trusts: check the server address and the fingerprint the office gave"
    )]
    UntrustedServer(String),
    /// The server refused the device.
    #[error("the server refused: {message}")]
    Refused {
        /// Why, typed.
        reason: waybill_shared::sync::RefuseReason,
        /// The server's words.
        message: String,
    },
    /// This device has no credentials: enrol it with the server first.
    #[error("this device is not enrolled with a server: enrol it first")]
    NotEnrolled,
    /// The server broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A document did not read or write.
    #[error(transparent)]
    Doc(#[from] DocError),
}

// By hand rather than `#[from]`: each message already holds its cause, so
// the cause is not reported again as the source (an error chain, as the CLI
// prints it, says it once; an app showing `to_string()` gets it whole).
impl From<rusqlite::Error> for AgentError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e)
    }
}

impl From<Gs1Error> for AgentError {
    fn from(e: Gs1Error) -> Self {
        Self::BadScan(e)
    }
}

/// "a, b and c".
fn and_list(items: &[&str]) -> String {
    match items {
        [] => "nothing more".to_owned(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

impl AgentError {
    /// Whether the device's storage is full (the app should free space).
    pub fn is_storage_full(&self) -> bool {
        matches!(self, AgentError::Storage(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull))
    }
}
