//! What the customer says about their order on its tracking page, written
//! by the server on their behalf: how the delivery went, and a request to
//! send goods back.

use serde::{Deserialize, Serialize};

use crate::event::returns::ReturnLine;

/// The lowest rating.
pub const RATING_MIN: u8 = 1;

/// The highest rating.
pub const RATING_MAX: u8 = 5;

/// A rating at or below this opens a follow-up for the office.
pub const LOW_RATING: u8 = 2;

/// The customer rated the delivery; a later rating replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedbackGiven {
    /// From [`RATING_MIN`] to [`RATING_MAX`].
    pub rating: u8,
    /// What they wrote.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

/// The customer asks to send goods back: a return for the office to
/// authorise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReturnRequested {
    /// What they would send back.
    pub lines: Vec<ReturnLine>,
    /// Why.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}
