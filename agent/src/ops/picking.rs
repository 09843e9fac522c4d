//! A picker's work: pick (scan bin, scan item, confirm quantity), short-pick
//! with a reason, put back. A pick is written to the order (the line
//! progresses) and to the location (the bin's stock goes down).

use waybill_shared::doc::DocId;
use waybill_shared::event::warehouse::{Picked, PutBack, ShortPicked, ShortReason};
use waybill_shared::event::{Event, Payload};
use waybill_shared::fold::order::LineView;
use waybill_shared::id::{LocationId, OrderId};
use waybill_shared::role::Role;

use super::{line_of, positive};
use crate::agent::Agent;
use crate::error::AgentError;

/// One pick, as the picker confirms it.
#[derive(Debug, Clone)]
pub struct PickRequest {
    /// The order.
    pub order: OrderId,
    /// The line.
    pub line: u32,
    /// The bin label scanned (or the bin id typed).
    pub bin: String,
    /// The item barcode scanned.
    pub item: String,
    /// How many of the scanned item were picked: units, or cases when its
    /// label carries a count (37), so one case label of 12 picks 12.
    pub quantity: u32,
    /// A supervisor's reason for picking more than the line needs.
    pub override_reason: Option<String>,
}

/// Units of `line` still to pick at `location`: its allocation there (or the
/// whole line, if unallocated) less what is picked or reported short.
fn remaining(line: &LineView, location: &LocationId) -> u32 {
    let target = if line.allocations.is_empty() {
        line.ordered
    } else {
        line.allocations.iter().filter(|a| &a.location == location).map(|a| a.quantity).sum()
    };
    target.saturating_sub(line.picked + line.short)
}

impl Agent {
    /// Records a pick.
    pub fn pick(&mut self, req: &PickRequest) -> Result<Event, AgentError> {
        self.require(Role::Picker, "pick")?;
        let quantity = positive(req.quantity)?;
        let (location, bin) = self.scan_bin(&req.bin)?;
        let item = self.scan_item(&req.item)?;
        let quantity = item.units(quantity)?;
        let view = self.workable_order(&req.order)?;
        let line = line_of(&view, req.line)?;
        let expected =
            line.gtin.clone().ok_or_else(|| AgentError::Invalid(format!("line {} has no item", req.line)))?;
        if item.gtin != expected {
            return Err(AgentError::WrongItem { line: req.line, expected, scanned: item.gtin });
        }
        let left = remaining(line, &location);
        let override_reason = req.override_reason.clone().filter(|r| !r.trim().is_empty());
        if quantity > left && override_reason.is_none() {
            return Err(AgentError::TooMany { what: "pick", asked: quantity, remaining: left });
        }
        let stock = self.stock_doc(&location)?;
        let payload = Payload::Picked(Picked {
            order: req.order.clone(),
            line: req.line,
            location,
            bin,
            gtin: item.gtin,
            quantity,
            lot: item.lot,
            serial: item.serial,
            expiry: item.expiry,
            override_reason,
        });
        self.record(payload, &[DocId::Order(req.order.clone()), stock], &[])
    }

    /// Records that `quantity` units of a line could not be picked from a bin.
    pub fn short_pick(
        &mut self,
        order: &OrderId,
        line: u32,
        bin: &str,
        quantity: u32,
        reason: ShortReason,
    ) -> Result<Event, AgentError> {
        self.require(Role::Picker, "short-pick")?;
        let quantity = positive(quantity)?;
        let (location, bin) = self.scan_bin(bin)?;
        let view = self.workable_order(order)?;
        let left = remaining(line_of(&view, line)?, &location);
        if quantity > left {
            return Err(AgentError::TooMany { what: "short-pick", asked: quantity, remaining: left });
        }
        let payload = Payload::ShortPicked(ShortPicked { line, location, bin, quantity, reason });
        self.record(payload, &[DocId::Order(order.clone())], &[])
    }

    /// Records picked units going back into a bin.
    pub fn put_back(
        &mut self,
        order: &OrderId,
        line: u32,
        bin: &str,
        item: &str,
        quantity: u32,
    ) -> Result<Event, AgentError> {
        self.require(Role::Picker, "put back")?;
        let quantity = positive(quantity)?;
        let (location, bin) = self.scan_bin(bin)?;
        let item = self.scan_item(item)?;
        let quantity = item.units(quantity)?;
        let view = self.order_view(order)?;
        let l = line_of(&view, line)?;
        if l.gtin.as_ref() != Some(&item.gtin) {
            let expected = l.gtin.clone().unwrap_or_else(|| item.gtin.clone());
            return Err(AgentError::WrongItem { line, expected, scanned: item.gtin });
        }
        if quantity > l.picked.saturating_sub(l.packed) {
            return Err(AgentError::TooMany {
                what: "put back",
                asked: quantity,
                remaining: l.picked.saturating_sub(l.packed),
            });
        }
        let stock = self.stock_doc(&location)?;
        let payload = Payload::PutBack(PutBack {
            order: order.clone(),
            line,
            location,
            bin,
            gtin: item.gtin,
            quantity,
        });
        self.record(payload, &[DocId::Order(order.clone()), stock], &[])
    }

    /// The current epoch document of `location`, which must be held.
    pub(crate) fn stock_doc(&self, location: &LocationId) -> Result<DocId, AgentError> {
        self.location_doc(location)?
            .ok_or_else(|| AgentError::NotFound { what: "location", id: location.to_string() })
    }
}
