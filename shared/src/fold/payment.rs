//! The order's payment, as the order fold sees it: its terms, where payment
//! stands, the authorisations and captures (each reference once), and what
//! was collected at the door.
//!
//! - **Prepaid:** awaiting payment until a `payment_authorised` event, then
//!   authorised, then captured. While awaiting, the order is held: not
//!   allocated, picked or loaded. The office's `released` does not lift this
//!   hold; only the authorisation does.
//! - **On delivery:** due until delivered; then collected when the
//!   collections of its deliveries, in the currency due, add up to the
//!   amount due, else short, and an exception: `short_collection` (something
//!   was collected, not enough) or `collection_missing` (deliveries with no
//!   collection at all, from a device that predates them). Both name the
//!   order's deliveries. A later delivery that collects the rest clears it,
//!   as other exceptions on figures do. More collected than due (a figure
//!   typed wrong, or paid twice) is `over_collection`: the customer is owed
//!   the difference.
//! - **On account:** nothing to do.

use serde::Serialize;

use crate::doc::payment::{Currency, PaymentTerms};
use crate::event::payment::Collection;
use crate::event_id::EventId;
use crate::fold::ExceptionKind;

/// Where the order's payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// Invoiced to the customer's account.
    OnAccount,
    /// Prepaid, not yet authorised: the order is held.
    AwaitingPayment,
    /// Prepaid and authorised.
    Authorised,
    /// Prepaid and captured.
    Captured,
    /// Paid on delivery, not delivered yet.
    Due,
    /// Paid on delivery and collected in full.
    Collected,
    /// Paid on delivery and delivered with less collected than due.
    Short,
}

/// One authorisation or capture, by the provider's reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentRecord {
    /// The first event that recorded it, in fold order.
    pub event: EventId,
    /// The provider's reference.
    pub reference: String,
    /// Amount, in minor units.
    pub amount_minor: u64,
    /// Its currency.
    pub currency: Currency,
    /// Later events with the same reference: recorded again, counted once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<EventId>,
}

/// A collection at the door, with its delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CollectionRecord {
    /// The `delivered` event.
    pub event: EventId,
    /// What was collected.
    #[serde(flatten)]
    pub collection: Collection,
}

/// The order's payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentView {
    /// The terms, from the header.
    pub terms: PaymentTerms,
    /// Where payment stands.
    pub state: PaymentState,
    /// Authorisations, one per reference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorisations: Vec<PaymentRecord>,
    /// Captures, one per reference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub captures: Vec<PaymentRecord>,
    /// What the deliveries collected, in fold order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub collections: Vec<CollectionRecord>,
    /// For payment on delivery: collected so far in the currency due, in
    /// minor units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collected_minor: Option<u64>,
    /// For payment on delivery: what is still due, in minor units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outstanding_minor: Option<u64>,
}

impl PaymentView {
    /// Whether payment holds the order back from fulfilment.
    pub fn holds(&self) -> bool {
        self.state == PaymentState::AwaitingPayment
    }
}

/// What the order fold gathers about payment as it goes.
#[derive(Default)]
pub(crate) struct Payments {
    authorisations: Vec<PaymentRecord>,
    captures: Vec<PaymentRecord>,
    collections: Vec<CollectionRecord>,
}

fn record(list: &mut Vec<PaymentRecord>, event: &EventId, reference: &str, amount: u64, currency: &Currency) {
    match list.iter_mut().find(|r| r.reference == reference) {
        Some(first) => first.repeats.push(event.clone()),
        None => list.push(PaymentRecord {
            event: event.clone(),
            reference: reference.to_owned(),
            amount_minor: amount,
            currency: currency.clone(),
            repeats: Vec::new(),
        }),
    }
}

impl Payments {
    /// A `payment_authorised` event, in fold order.
    pub fn authorised(&mut self, event: &EventId, reference: &str, amount: u64, currency: &Currency) {
        record(&mut self.authorisations, event, reference, amount, currency);
    }

    /// A `payment_captured` event, in fold order.
    pub fn captured(&mut self, event: &EventId, reference: &str, amount: u64, currency: &Currency) {
        record(&mut self.captures, event, reference, amount, currency);
    }

    /// The collection of a `delivered` event, in fold order.
    pub fn collected(&mut self, event: &EventId, collection: &Collection) {
        self.collections.push(CollectionRecord { event: event.clone(), collection: collection.clone() });
    }

    /// The view, given the terms and the order's live deliveries; pushes the
    /// exceptions it finds onto `found`.
    pub fn finish(
        self,
        terms: &PaymentTerms,
        deliveries: &[EventId],
        found: &mut Vec<(String, ExceptionKind, Vec<EventId>)>,
    ) -> PaymentView {
        let mut collected_minor = None;
        let mut outstanding_minor = None;
        let state = match terms {
            PaymentTerms::OnAccount => PaymentState::OnAccount,
            PaymentTerms::Prepaid if !self.captures.is_empty() => PaymentState::Captured,
            PaymentTerms::Prepaid if !self.authorisations.is_empty() => PaymentState::Authorised,
            PaymentTerms::Prepaid => PaymentState::AwaitingPayment,
            PaymentTerms::OnDelivery { amount_minor: due, currency } => {
                let collected: u64 = self
                    .collections
                    .iter()
                    .filter(|c| &c.collection.currency == currency)
                    .map(|c| c.collection.amount_minor)
                    .fold(0, u64::saturating_add);
                collected_minor = Some(collected);
                outstanding_minor = Some(due.saturating_sub(collected));
                if collected > *due {
                    // Typed wrong, or paid twice: the customer is owed the
                    // difference, and the driver's cash bag holds it.
                    let kind = ExceptionKind::OverCollection {
                        due_minor: *due,
                        collected_minor: collected,
                        currency: currency.clone(),
                    };
                    let events = self.collections.iter().map(|c| c.event.clone()).collect();
                    found.push(("over_collection:order".to_owned(), kind, events));
                    PaymentState::Collected
                } else if collected == *due {
                    PaymentState::Collected
                } else if deliveries.is_empty() {
                    PaymentState::Due
                } else {
                    let (id, kind) = if self.collections.is_empty() {
                        let kind =
                            ExceptionKind::CollectionMissing { due_minor: *due, currency: currency.clone() };
                        ("collection_missing:order", kind)
                    } else {
                        let kind = ExceptionKind::ShortCollection {
                            due_minor: *due,
                            collected_minor: collected,
                            currency: currency.clone(),
                        };
                        ("short_collection:order", kind)
                    };
                    found.push((id.to_owned(), kind, deliveries.to_vec()));
                    PaymentState::Short
                }
            }
        };
        PaymentView {
            terms: terms.clone(),
            state,
            authorisations: self.authorisations,
            captures: self.captures,
            collections: self.collections,
            collected_minor,
            outstanding_minor,
        }
    }
}
