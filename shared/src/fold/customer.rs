//! What the customer said on the tracking page, as the order fold sees it:
//! their latest rating, and their return requests.
//!
//! - A rating of [`LOW_RATING`] or less opens a follow-up for the office:
//!   the exception `low_rating`. A later low rating opens it again.
//! - A return request waits for the office: the exception
//!   `return_requested:<event>` is open until a `return_authorised` event
//!   that names it comes after it (one that names none answers the oldest
//!   request waiting for exactly its lines; a return taken on the phone
//!   answers none), or the office settles it another way (refusing the
//!   return, say).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::event::Event;
use crate::event::customer::{FeedbackGiven, LOW_RATING, ReturnRequested};
use crate::event::returns::{ReturnAuthorised, ReturnLine};
use crate::event_id::EventId;
use crate::fold::ExceptionKind;

/// The customer's rating of the delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedbackView {
    /// 1 to 5.
    pub rating: u8,
    /// What they wrote.
    pub comment: String,
    /// When (the server's time).
    pub at: DateTime<Utc>,
    /// The `feedback_given` event.
    pub event: EventId,
}

/// A return the customer asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReturnRequestView {
    /// The `return_requested` event.
    pub event: EventId,
    /// When.
    pub at: DateTime<Utc>,
    /// What they would send back.
    pub lines: Vec<ReturnLine>,
    /// Why.
    pub reason: String,
    /// The RMA number the office authorised it under, once it has.
    pub authorised: Option<String>,
}

/// What the fold gathers.
#[derive(Default)]
pub(crate) struct Customer {
    feedback: Option<FeedbackView>,
    low: Vec<EventId>,
    requests: Vec<ReturnRequestView>,
}

impl Customer {
    pub(crate) fn feedback(&mut self, e: &Event, f: &FeedbackGiven) {
        if f.rating <= LOW_RATING {
            self.low.push(e.id.clone());
        }
        self.feedback = Some(FeedbackView {
            rating: f.rating,
            comment: f.comment.clone(),
            at: e.at,
            event: e.id.clone(),
        });
    }

    pub(crate) fn requested(&mut self, e: &Event, r: &ReturnRequested) {
        self.requests.push(ReturnRequestView {
            event: e.id.clone(),
            at: e.at,
            lines: r.lines.clone(),
            reason: r.reason.clone(),
            authorised: None,
        });
    }

    pub(crate) fn authorised(&mut self, a: &ReturnAuthorised) {
        let answers = |r: &ReturnRequestView| match &a.request {
            Some(request) => &r.event == request,
            None => r.lines == a.lines,
        };
        if let Some(waiting) = self.requests.iter_mut().find(|r| r.authorised.is_none() && answers(r)) {
            waiting.authorised = Some(a.rma.clone());
        }
    }

    /// The views, adding the exceptions to `found`.
    pub(crate) fn finish(
        self,
        found: &mut Vec<(String, ExceptionKind, Vec<EventId>)>,
    ) -> (Option<FeedbackView>, Vec<ReturnRequestView>) {
        if let Some(f) = self.feedback.as_ref().filter(|f| f.rating <= LOW_RATING) {
            found.push(("low_rating".into(), ExceptionKind::LowRating { rating: f.rating }, self.low));
        }
        for r in self.requests.iter().filter(|r| r.authorised.is_none()) {
            found.push((
                format!("return_requested:{}", r.event),
                ExceptionKind::ReturnRequested { lines: r.lines.clone() },
                vec![r.event.clone()],
            ));
        }
        (self.feedback, self.requests)
    }
}
