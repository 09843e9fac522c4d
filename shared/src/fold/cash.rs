//! A route's cash reconciliation: per currency, the cash its deliveries say
//! the driver collected at the door (collections by `cash` only: card
//! payments leave nothing to hand in) against what the office counted in at
//! the depot (`cash_handed_in` events on the route, which add up).
//!
//! Until the office records a handover the driver is still out, and the
//! figures are only shown. Once one is recorded, every currency whose
//! figures differ is an exception, `cash_difference:<currency>`, naming the
//! cash deliveries and the handovers in that currency (or every handover,
//! when none was in that currency). A delivery that syncs after the
//! handover moves the figures, and the exception with them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::doc::payment::Currency;
use crate::event::payment::{CashHandedIn, Collection, CollectionMethod};
use crate::event_id::EventId;
use crate::fold::ExceptionKind;

/// One currency of a route's cash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CashView {
    /// The currency.
    pub currency: Currency,
    /// Cash collected at the door by the route's deliveries, in minor units.
    pub expected_minor: u64,
    /// Cash handed in at the depot, in minor units.
    pub handed_in_minor: u64,
    /// Handed in less expected: below zero when cash is missing.
    pub difference_minor: i64,
}

#[derive(Default)]
struct Tally {
    expected: u64,
    handed_in: u64,
    deliveries: Vec<EventId>,
    handovers: Vec<EventId>,
}

/// What the route fold gathers about cash as it goes.
#[derive(Default)]
pub(crate) struct Cash {
    by_currency: BTreeMap<Currency, Tally>,
    handovers: Vec<EventId>,
}

impl Cash {
    /// The collection of a `delivered` event on the route.
    pub fn collected(&mut self, event: &EventId, c: &Collection) {
        if c.method == CollectionMethod::Cash {
            let t = self.by_currency.entry(c.currency.clone()).or_default();
            t.expected = t.expected.saturating_add(c.amount_minor);
            t.deliveries.push(event.clone());
        }
    }

    /// A `cash_handed_in` event on the route.
    pub fn handed_in(&mut self, event: &EventId, h: &CashHandedIn) {
        let t = self.by_currency.entry(h.currency.clone()).or_default();
        t.handed_in = t.handed_in.saturating_add(h.amount_minor);
        t.handovers.push(event.clone());
        self.handovers.push(event.clone());
    }

    /// The figures per currency; pushes a difference, once cash was handed
    /// in, onto `found`.
    pub fn finish(self, found: &mut Vec<(String, ExceptionKind, Vec<EventId>)>) -> Vec<CashView> {
        let mut out = Vec::new();
        for (currency, t) in self.by_currency {
            let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            let difference_minor = signed(t.handed_in) - signed(t.expected);
            if !self.handovers.is_empty() && difference_minor != 0 {
                let mut events = t.deliveries;
                events.extend(if t.handovers.is_empty() { self.handovers.clone() } else { t.handovers });
                let kind = ExceptionKind::CashDifference {
                    currency: currency.clone(),
                    expected_minor: t.expected,
                    handed_in_minor: t.handed_in,
                };
                found.push((format!("cash_difference:{currency}"), kind, events));
            }
            out.push(CashView {
                currency,
                expected_minor: t.expected,
                handed_in_minor: t.handed_in,
                difference_minor,
            });
        }
        out
    }

    /// Whether the office recorded any handover.
    pub fn handed_in_any(&self) -> bool {
        !self.handovers.is_empty()
    }
}
