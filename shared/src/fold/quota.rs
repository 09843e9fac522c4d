//! Quotas in the stock view: what each device may still promise of an item
//! at a location, and the location's free stock net of them (see
//! [`crate::event::quota`]). `fold::stock` drives it, event by event in fold
//! order.
//!
//! A device's quota is its opening share plus grants, less releases and
//! sales. Grants and releases cannot be voided: a device may already have
//! spent a grant, and the office may already have granted released units
//! elsewhere, so a void naming one changes nothing here. A sale can be
//! voided (the customer changed their mind): its units go back on the shelf
//! and into its device's quota.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::doc::location::QuotaBalance;
use crate::event::{Event, Payload};
use crate::event_id::EventId;
use crate::fold::ExceptionKind;
use crate::gs1::Gtin;
use crate::id::DeviceId;

/// An exception found: id, kind, the events it names.
pub(crate) type Found = (String, ExceptionKind, Vec<EventId>);

/// What one device holds of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quota {
    /// The device.
    pub device: DeviceId,
    /// The item.
    pub gtin: Gtin,
    /// Units carried forward from the previous epoch.
    pub opening: i64,
    /// Units granted this epoch.
    pub granted: i64,
    /// Units handed back this epoch.
    pub released: i64,
    /// Units sold this epoch.
    pub sold: i64,
    /// Units it may still promise: `opening + granted - released - sold`.
    pub remaining: i64,
}

/// How an event changes quotas: the device, the item, and the change to its
/// remaining quota. (A sale's units leave the shelf too: `fold::stock`
/// counts that as a stock move.)
pub(crate) fn quota_move(e: &Event) -> Option<(DeviceId, Gtin, i64)> {
    match &e.payload {
        Payload::QuotaGranted(g) => Some((g.device.clone(), g.gtin.clone(), g.quantity.into())),
        Payload::QuotaReleased(r) => Some((e.id.device.clone(), r.gtin.clone(), -i64::from(r.quantity))),
        Payload::Sold(s) => Some((e.id.device.clone(), s.gtin.clone(), -i64::from(s.quantity))),
        _ => None,
    }
}

/// Whether a void leaves `e` counted: grants and releases stand.
pub(crate) fn unvoidable(e: &Event) -> bool {
    matches!(e.payload, Payload::QuotaGranted(_) | Payload::QuotaReleased(_))
}

#[derive(Default)]
struct Held {
    quota: Share,
    /// Spending since the quota was last at or above zero.
    below: Vec<EventId>,
}

#[derive(Default)]
struct Share {
    opening: i64,
    granted: i64,
    released: i64,
    sold: i64,
}

impl Share {
    fn remaining(&self) -> i64 {
        self.opening + self.granted - self.released - self.sold
    }
}

/// Per item: units on hand at the location and units held in quotas (each
/// device's remaining, counted from zero), with the events that took the
/// quotas past the stock since it last covered them.
#[derive(Default)]
struct Cover {
    on_hand: i64,
    held: i64,
    short: Vec<EventId>,
}

impl Cover {
    fn change(&mut self, on_hand: i64, held: i64, id: &EventId) {
        let before = self.on_hand - self.held;
        self.on_hand += on_hand;
        self.held += held;
        let after = self.on_hand - self.held;
        // With nothing held, a shortfall is the bin's (stock_below_zero).
        if after >= 0 || self.held <= 0 {
            self.short.clear();
        } else if after < before {
            self.short.push(id.clone());
        }
    }
}

/// The running tally `fold::stock` feeds.
#[derive(Default)]
pub(crate) struct Tally {
    held: BTreeMap<(DeviceId, Gtin), Held>,
    cover: BTreeMap<Gtin, Cover>,
}

impl Tally {
    /// Starts from an epoch's opening balances and quotas.
    pub(crate) fn opening(stock: impl Iterator<Item = (Gtin, i64)>, quotas: &[QuotaBalance]) -> Self {
        let mut t = Tally::default();
        for (gtin, units) in stock {
            t.cover.entry(gtin).or_default().on_hand += units;
        }
        for q in quotas {
            t.held.entry((q.device.clone(), q.gtin.clone())).or_default().quota.opening += q.quantity;
            t.cover.entry(q.gtin.clone()).or_default().held += q.quantity.max(0);
        }
        t
    }

    /// Applies event `id`: its stock moves (units per item) and the quota
    /// move of `quota`'s event, if any: the event itself with `sign` 1, or
    /// the event a void takes back out with -1.
    pub(crate) fn apply(&mut self, id: &EventId, stock: &[(Gtin, i64)], quota: Option<(&Event, i64)>) {
        let mut held_change: BTreeMap<&Gtin, i64> = BTreeMap::new();
        let moved = quota.and_then(|(e, sign)| quota_move(e).map(|m| (e, m, sign)));
        if let Some((e, (device, gtin, delta), sign)) = &moved {
            let delta = delta * sign;
            let h = self.held.entry((device.clone(), gtin.clone())).or_default();
            let before = h.quota.remaining();
            match &e.payload {
                Payload::QuotaGranted(_) => h.quota.granted += delta,
                Payload::QuotaReleased(_) => h.quota.released -= delta,
                _ => h.quota.sold -= delta,
            }
            let after = h.quota.remaining();
            if after >= 0 {
                h.below.clear();
            } else if after < before {
                h.below.push(id.clone());
            }
            *held_change.entry(gtin).or_default() += after.max(0) - before.max(0);
        }
        let mut on_hand: BTreeMap<&Gtin, i64> = BTreeMap::new();
        for (gtin, units) in stock {
            *on_hand.entry(gtin).or_default() += units;
        }
        let gtins: Vec<&Gtin> = {
            let mut g: Vec<&Gtin> = on_hand.keys().chain(held_change.keys()).copied().collect();
            g.sort();
            g.dedup();
            g
        };
        for gtin in gtins {
            let units = on_hand.get(gtin).copied().unwrap_or(0);
            let held = held_change.get(gtin).copied().unwrap_or(0);
            self.cover.entry(gtin.clone()).or_default().change(units, held, id);
        }
    }

    /// The quotas, sorted by device and item, and the exceptions they raise.
    pub(crate) fn finish(self) -> (Vec<Quota>, Vec<Found>) {
        let mut found = Vec::new();
        let mut quotas = Vec::new();
        for ((device, gtin), h) in self.held {
            let remaining = h.quota.remaining();
            if remaining < 0 && !h.below.is_empty() {
                found.push((
                    format!("quota_exceeded:{device}:{gtin}"),
                    ExceptionKind::QuotaExceeded { device: device.clone(), gtin: gtin.clone(), remaining },
                    h.below,
                ));
            }
            let q = h.quota;
            if q.opening != 0 || q.granted != 0 || q.released != 0 || q.sold != 0 {
                quotas.push(Quota {
                    device,
                    gtin,
                    opening: q.opening,
                    granted: q.granted,
                    released: q.released,
                    sold: q.sold,
                    remaining,
                });
            }
        }
        for (gtin, c) in self.cover {
            if c.held > 0 && c.held > c.on_hand && !c.short.is_empty() {
                found.push((
                    format!("quota_uncovered:{gtin}"),
                    ExceptionKind::QuotaUncovered { gtin, on_hand: c.on_hand, held: c.held },
                    c.short,
                ));
            }
        }
        (quotas, found)
    }
}
