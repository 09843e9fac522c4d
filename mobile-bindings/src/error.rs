//! The one error type apps see: a few kinds an app can act on, each with
//! the agent's message in words a handheld can show. Nothing was written
//! when an operation fails.

use waybill_agent::AgentError;
use waybill_shared::id::InvalidId;
use waybill_shared::sync::RefuseReason;

/// Why a call failed. Each kind is something an app can act on; the
/// message says what is wrong in words a handheld can show. Nothing was
/// written.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum WaybillError {
    /// A barcode that does not read (bad check digit, unknown application
    /// identifier): scan again.
    #[error("{0}")]
    BadBarcode(String),
    /// A barcode that reads but is not what this step needs: the wrong
    /// item, a bin of another location, a package not on this van.
    #[error("{0}")]
    WrongScan(String),
    /// This device's role may not do this.
    #[error("{0}")]
    NotAllowed(String),
    /// An order, line, package, bin, route or location not on this device.
    #[error("{0}")]
    NotFound(String),
    /// More than is left to do (a supervisor's override may allow a pick),
    /// or more than this device's quota lets it sell (sync for more).
    #[error("{0}")]
    TooMany(String),
    /// The delivery needs proof that was not given (photo, signature, name,
    /// age check).
    #[error("{0}")]
    ProofMissing(String),
    /// The order is paid on delivery and money is due: give the amount
    /// collected and whether by cash or card.
    #[error("{0}")]
    PaymentDue(String),
    /// Input that makes no sense for this step.
    #[error("{0}")]
    Invalid(String),
    /// The server could not be reached, or the link dropped: the work is
    /// kept and syncs later.
    #[error("{0}")]
    Offline(String),
    /// The device is not enrolled (or was revoked, or the enrolment code is
    /// not valid): enrol it with a code from the office.
    #[error("{0}")]
    NeedsEnrolment(String),
    /// The store already belongs to a device.
    #[error("{0}")]
    AlreadyEnrolled(String),
    /// The store or the server is newer than this build: update the app.
    #[error("{0}")]
    UpdateRequired(String),
    /// The device's storage is full: free space, nothing was written.
    #[error("{0}")]
    StorageFull(String),
    /// The store could not be read or written, or is damaged.
    #[error("{0}")]
    Storage(String),
    /// Anything else: a bug, or a server that broke the protocol.
    #[error("{0}")]
    Internal(String),
}

impl From<AgentError> for WaybillError {
    fn from(e: AgentError) -> Self {
        let message = e.to_string();
        match e {
            AgentError::BadScan(_) => Self::BadBarcode(message),
            AgentError::WrongScan { .. } | AgentError::WrongItem { .. } | AgentError::NotOnVan(_) => {
                Self::WrongScan(message)
            }
            AgentError::NotAllowed { .. } => Self::NotAllowed(message),
            AgentError::NotFound { .. } => Self::NotFound(message),
            AgentError::TooMany { .. } | AgentError::OverQuota { .. } => Self::TooMany(message),
            AgentError::ProofMissing(_) => Self::ProofMissing(message),
            AgentError::PaymentDue { .. } => Self::PaymentDue(message),
            AgentError::Invalid(_) | AgentError::File { .. } => Self::Invalid(message),
            AgentError::Offline(_) => Self::Offline(message),
            AgentError::NotEnrolled | AgentError::NotInitialised | AgentError::UntrustedServer(_) => {
                Self::NeedsEnrolment(message)
            }
            AgentError::AlreadyInitialised(_) => Self::AlreadyEnrolled(message),
            AgentError::NewerStore { .. } => Self::UpdateRequired(message),
            AgentError::Refused { reason, .. } => match reason {
                RefuseReason::NotEnrolled | RefuseReason::Revoked | RefuseReason::BadEnrolmentCode => {
                    Self::NeedsEnrolment(message)
                }
                RefuseReason::UnsupportedVersion { .. } => Self::UpdateRequired(message),
                RefuseReason::TooManyConnections => Self::Offline(message),
                RefuseReason::Malformed | RefuseReason::OutOfScope | RefuseReason::TooLarge => {
                    Self::Internal(message)
                }
            },
            AgentError::Storage(_) if e.is_storage_full() => Self::StorageFull(message),
            AgentError::Storage(_) | AgentError::Corrupt(_) => Self::Storage(message),
            AgentError::Protocol(_) | AgentError::Doc(_) => Self::Internal(message),
        }
    }
}

impl From<InvalidId> for WaybillError {
    fn from(e: InvalidId) -> Self {
        Self::Invalid(e.to_string())
    }
}
