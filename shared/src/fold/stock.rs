//! The stock view of one location epoch: units per (bin, item), from the
//! opening balance and every stock move since, and the quotas devices hold
//! ([`crate::fold::quota`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::doc::Contents;
use crate::doc::location::LocationHeader;
use crate::event::returns::Disposition;
use crate::event::{Event, Payload};
use crate::event_id::EventId;
use crate::fold::quota::{Quota, Tally, unvoidable};
use crate::fold::{Exception, ExceptionKind, order_events, resolve};
use crate::gs1::Gtin;
use crate::id::DeviceId;
use crate::id::{BinId, LocationId};

/// Units of one item in one bin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockLine {
    /// The bin.
    pub bin: BinId,
    /// The item.
    pub gtin: Gtin,
    /// Units on hand.
    pub on_hand: i64,
}

/// The merged stock of a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockView {
    /// The location.
    pub location: LocationId,
    /// The epoch folded.
    pub epoch: u32,
    /// Units per bin and item, sorted.
    pub stock: Vec<StockLine>,
    /// What each device may still promise, per item (see
    /// [`crate::event::quota`]), sorted by device and item.
    pub quotas: Vec<Quota>,
    /// Every exception, open or resolved.
    pub exceptions: Vec<Exception>,
    /// Events folded in this epoch.
    pub events: usize,
    /// Events that could not be read (key and why).
    pub unreadable: Vec<(String, String)>,
}

impl StockView {
    /// Units of `gtin` in `bin`.
    pub fn on_hand(&self, bin: &BinId, gtin: &Gtin) -> i64 {
        self.stock.iter().find(|s| &s.bin == bin && &s.gtin == gtin).map_or(0, |s| s.on_hand)
    }

    /// Units of `gtin` at the location, all bins together.
    pub fn total(&self, gtin: &Gtin) -> i64 {
        self.stock.iter().filter(|s| &s.gtin == gtin).map(|s| s.on_hand).sum()
    }

    /// Units of `gtin` `device` may still promise here (zero if it has no
    /// quota, or spent more than it had).
    pub fn quota(&self, device: &DeviceId, gtin: &Gtin) -> i64 {
        self.quotas.iter().find(|q| &q.device == device && &q.gtin == gtin).map_or(0, |q| q.remaining.max(0))
    }

    /// Units of `gtin` held in quotas, all devices together.
    pub fn held(&self, gtin: &Gtin) -> i64 {
        self.quotas.iter().filter(|q| &q.gtin == gtin).map(|q| q.remaining.max(0)).sum()
    }

    /// Units of `gtin` the office may still grant: on hand, less what
    /// devices hold in quotas. The office grants only out of this.
    pub fn free(&self, gtin: &Gtin) -> i64 {
        (self.total(gtin) - self.held(gtin)).max(0)
    }
}

#[derive(Default)]
struct Slot {
    on_hand: i64,
    /// Decrements since the balance was last at or above zero.
    below: Vec<EventId>,
}

impl Slot {
    fn add(&mut self, delta: i64, id: &EventId) {
        self.on_hand += delta;
        if self.on_hand >= 0 {
            self.below.clear();
        } else if delta < 0 {
            self.below.push(id.clone());
        }
    }
}

/// The units `e` moves at `here`: bin, item and change, per line it touches.
fn moves(e: &Event, here: &LocationId) -> Vec<(BinId, Gtin, i64)> {
    let mv = |bin: &BinId, gtin: &Gtin, delta: i64| (bin.clone(), gtin.clone(), delta);
    match &e.payload {
        Payload::Received(r) => vec![mv(&r.bin, &r.gtin, r.quantity.into())],
        Payload::PutAway(p) => {
            vec![mv(&p.from_bin, &p.gtin, -i64::from(p.quantity)), mv(&p.to_bin, &p.gtin, p.quantity.into())]
        }
        Payload::Adjusted(a) => vec![mv(&a.bin, &a.gtin, a.delta)],
        Payload::Counted(c) => vec![mv(&c.bin, &c.gtin, c.counted - c.expected)],
        Payload::Transferred(t) => {
            let mut out = Vec::new();
            if &t.from == here {
                out.push(mv(&t.from_bin, &t.gtin, -i64::from(t.quantity)));
            }
            if &t.to == here {
                out.push(mv(&t.to_bin, &t.gtin, t.quantity.into()));
            }
            out
        }
        Payload::Sold(s) => vec![mv(&s.bin, &s.gtin, -i64::from(s.quantity))],
        Payload::Picked(p) if &p.location == here => vec![mv(&p.bin, &p.gtin, -i64::from(p.quantity))],
        Payload::PutBack(p) if &p.location == here => vec![mv(&p.bin, &p.gtin, p.quantity.into())],
        Payload::ReturnReceived(r) if &r.location == here && r.disposition == Disposition::Restock => {
            match &r.bin {
                Some(bin) => r.lines.iter().map(|l| mv(bin, &l.gtin, l.quantity.into())).collect(),
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

/// Folds a location epoch into its stock view.
///
/// A void normally just removes its target from the fold. But when the
/// target is an event the opening balance already counts (the cutoff covers
/// it) and the void does not (it was written after the rollover), removing
/// the target changes nothing: its move is in the opening balance. So such a
/// void takes the move back out itself, once per target, at its own place in
/// the order. That needs the target in this epoch too (copied with the void,
/// same id; covered, it counts nothing on its own); a void whose target is
/// not in the document cannot be undone here.
pub fn fold(contents: &Contents<LocationHeader>) -> StockView {
    let header = &contents.header;
    let here = &header.id;
    let ordered = order_events(&contents.events);
    let by_id: BTreeMap<&EventId, &Event> = contents.events.iter().map(|e| (&e.id, e)).collect();
    // Targets whose void the opening balance already reflects, then those
    // taken back out here: never undo a move twice.
    let mut undone: BTreeSet<&EventId> = ordered
        .live
        .iter()
        .filter(|e| header.covers(e))
        .filter_map(|e| match &e.payload {
            Payload::Voided(v) => Some(&v.target),
            _ => None,
        })
        .collect();
    let mut slots: BTreeMap<(BinId, Gtin), Slot> = BTreeMap::new();
    for b in &header.opening {
        slots.entry((b.bin.clone(), b.gtin.clone())).or_default().on_hand += b.quantity;
    }
    let mut tally =
        Tally::opening(header.opening.iter().map(|b| (b.gtin.clone(), b.quantity)), &header.quotas);
    // Voided grants and releases still count for quotas (see fold::quota):
    // walk every event, in the same order, and skip the other voided ones.
    let live: BTreeSet<&EventId> = ordered.live.iter().map(|e| &e.id).collect();
    let mut all: Vec<&Event> = contents.events.iter().collect();
    all.sort_by(|a, b| (a.hlc, &a.id).cmp(&(b.hlc, &b.id)));
    all.dedup_by(|a, b| a.id == b.id);
    let mut folded = 0;
    for e in all.into_iter().filter(|e| !header.covers(e)) {
        if !live.contains(&e.id) {
            if unvoidable(e) {
                tally.apply(&e.id, &[], Some((e, 1)));
            }
            continue;
        }
        folded += 1;
        let (moved, quota) = match &e.payload {
            Payload::Voided(v) => match by_id.get(&v.target) {
                Some(target) if header.covers(target) && undone.insert(&v.target) => (
                    moves(target, here).into_iter().map(|(bin, gtin, delta)| (bin, gtin, -delta)).collect(),
                    Some(*target).filter(|t| !unvoidable(t)).map(|t| (t, -1)),
                ),
                _ => (Vec::new(), None),
            },
            _ => (moves(e, here), Some((e, 1))),
        };
        let units: Vec<(Gtin, i64)> = moved.iter().map(|(_, gtin, delta)| (gtin.clone(), *delta)).collect();
        tally.apply(&e.id, &units, quota);
        for (bin, gtin, delta) in moved {
            slots.entry((bin, gtin)).or_default().add(delta, &e.id);
        }
    }
    let (quotas, mut found) = tally.finish();
    for ((bin, gtin), slot) in &slots {
        // A balance this epoch opened below zero, with no move of its own
        // since, was reported (and perhaps resolved) in the epoch that made
        // it: raising it again here would name no events.
        if slot.on_hand < 0 && !slot.below.is_empty() {
            found.push((
                format!("stock_below_zero:{bin}:{gtin}"),
                ExceptionKind::StockBelowZero { bin: bin.clone(), gtin: gtin.clone(), on_hand: slot.on_hand },
                slot.below.clone(),
            ));
        }
    }
    StockView {
        location: here.clone(),
        epoch: header.epoch,
        stock: slots
            .into_iter()
            .filter(|(_, s)| s.on_hand != 0)
            .map(|((bin, gtin), s)| StockLine { bin, gtin, on_hand: s.on_hand })
            .collect(),
        quotas,
        exceptions: resolve(found, &ordered.live),
        events: folded,
        unreadable: contents.unreadable.clone(),
    }
}
