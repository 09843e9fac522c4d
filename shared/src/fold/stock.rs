//! The stock view of one location epoch: units per (bin, item), from the
//! opening balance and every stock move since.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::doc::Contents;
use crate::doc::location::LocationHeader;
use crate::event::Payload;
use crate::event::returns::Disposition;
use crate::event_id::EventId;
use crate::fold::{Exception, ExceptionKind, order_events, resolve};
use crate::gs1::Gtin;
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

/// Folds a location epoch into its stock view.
pub fn fold(contents: &Contents<LocationHeader>) -> StockView {
    let header = &contents.header;
    let here = &header.id;
    let ordered = order_events(&contents.events);
    let mut slots: BTreeMap<(BinId, Gtin), Slot> = BTreeMap::new();
    for b in &header.opening {
        slots.entry((b.bin.clone(), b.gtin.clone())).or_default().on_hand += b.quantity;
    }
    let mut folded = 0;
    for e in ordered.live.iter().filter(|e| !header.covers(e)) {
        folded += 1;
        let mut mv = |bin: &BinId, gtin: &Gtin, delta: i64| {
            slots.entry((bin.clone(), gtin.clone())).or_default().add(delta, &e.id);
        };
        match &e.payload {
            Payload::Received(r) => mv(&r.bin, &r.gtin, r.quantity.into()),
            Payload::PutAway(p) => {
                mv(&p.from_bin, &p.gtin, -i64::from(p.quantity));
                mv(&p.to_bin, &p.gtin, p.quantity.into());
            }
            Payload::Adjusted(a) => mv(&a.bin, &a.gtin, a.delta),
            Payload::Counted(c) => mv(&c.bin, &c.gtin, c.counted - c.expected),
            Payload::Transferred(t) => {
                if &t.from == here {
                    mv(&t.from_bin, &t.gtin, -i64::from(t.quantity));
                }
                if &t.to == here {
                    mv(&t.to_bin, &t.gtin, t.quantity.into());
                }
            }
            Payload::Picked(p) if &p.location == here => mv(&p.bin, &p.gtin, -i64::from(p.quantity)),
            Payload::PutBack(p) if &p.location == here => mv(&p.bin, &p.gtin, p.quantity.into()),
            Payload::ReturnReceived(r) if &r.location == here && r.disposition == Disposition::Restock => {
                if let Some(bin) = &r.bin {
                    for l in &r.lines {
                        mv(bin, &l.gtin, l.quantity.into());
                    }
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    for ((bin, gtin), slot) in &slots {
        if slot.on_hand < 0 {
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
        exceptions: resolve(found, &ordered.live),
        events: folded,
        unreadable: contents.unreadable.clone(),
    }
}
