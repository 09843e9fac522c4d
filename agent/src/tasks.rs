//! Each role's work list, derived from the merged views of the documents the
//! device holds: a picker's picks in bin-walk order, a packer's queue, a
//! driver's stops. A cancelled order offers no work, whatever else its
//! events say.

use serde::Serialize;
use waybill_shared::doc::{self, DocId};
use waybill_shared::fold::OrderView;
use waybill_shared::fold::order::PackageView;
use waybill_shared::fold::route::StopView;
use waybill_shared::gs1::Gtin;
use waybill_shared::id::{BinId, OrderId, RouteId};
use waybill_shared::role::Role;

use crate::agent::Agent;
use crate::error::AgentError;

/// One line to pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PickTask {
    /// The order.
    pub order: OrderId,
    /// The line.
    pub line: u32,
    /// The item.
    pub gtin: Gtin,
    /// What it is.
    pub description: String,
    /// Units still to pick.
    pub remaining: u32,
    /// The first bin on the walk that holds the item, if any does.
    pub bin: Option<BinId>,
    /// That bin's place on the walk.
    pub walk: Option<u32>,
}

/// One order waiting to be packed.
#[derive(Debug, Clone, Serialize)]
pub struct PackTask {
    /// The order.
    pub order: OrderId,
    /// Picked units not yet packed, per line.
    pub lines: Vec<(u32, u32)>,
    /// Packages made so far.
    pub packages: Vec<PackageView>,
}

/// One stop of a driver's route with what is to be delivered there.
#[derive(Debug, Clone, Serialize)]
pub struct StopTask {
    /// The stop.
    #[serde(flatten)]
    pub stop: StopView,
    /// The packages of the stop's orders, with where they are.
    pub parcels: Vec<PackageView>,
}

/// A driver's route.
#[derive(Debug, Clone, Serialize)]
pub struct RouteTask {
    /// The route.
    pub route: RouteId,
    /// Stops in sequence.
    pub stops: Vec<StopTask>,
    /// The first stop not finished.
    pub next_stop: Option<u32>,
}

/// A role's work list.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "role", content = "tasks", rename_all = "snake_case")]
pub enum Tasks {
    /// A picker's picks.
    Picker(Vec<PickTask>),
    /// A packer's queue.
    Packer(Vec<PackTask>),
    /// A driver's routes.
    Driver(Vec<RouteTask>),
    /// The office has no device work list.
    Office,
}

impl Agent {
    /// This device's work list.
    pub fn tasks(&mut self) -> Result<Tasks, AgentError> {
        Ok(match self.profile().role {
            Role::Picker => Tasks::Picker(self.pick_list()?),
            Role::Packer => Tasks::Packer(self.pack_queue()?),
            Role::Driver => Tasks::Driver(self.routes()?),
            Role::Office => Tasks::Office,
        })
    }

    fn orders(&mut self) -> Result<Vec<OrderView>, AgentError> {
        let mut out = Vec::new();
        for id in self.documents()? {
            if let DocId::Order(order) = id {
                out.push(self.order_view(&order)?);
            }
        }
        Ok(out)
    }

    /// The lines assigned to this device to pick at its location, in
    /// bin-walk order.
    pub fn pick_list(&mut self) -> Result<Vec<PickTask>, AgentError> {
        let me = self.profile().device.clone();
        let Some(location) = self.profile().location.clone() else { return Ok(Vec::new()) };
        let walk = match self.location_doc(&location)? {
            Some(id) => {
                let header = doc::location::read(self.doc(&id)?.document())?.header;
                let stock = self.stock_view(&location)?;
                let mut bins: Vec<(u32, BinId, Gtin)> = stock
                    .stock
                    .iter()
                    .filter(|s| s.on_hand > 0)
                    .filter_map(|s| {
                        header
                            .bins
                            .iter()
                            .find(|b| b.id == s.bin)
                            .map(|b| (b.walk, s.bin.clone(), s.gtin.clone()))
                    })
                    .collect();
                bins.sort();
                bins
            }
            None => Vec::new(),
        };
        let mut tasks = Vec::new();
        for v in self.orders()? {
            let mine = v.pickers.iter().any(|p| p.device == me && p.location == location);
            if !mine || v.held || v.cancelled {
                continue;
            }
            for l in &v.lines {
                let here: u32 =
                    l.allocations.iter().filter(|a| a.location == location).map(|a| a.quantity).sum();
                let target = if l.allocations.is_empty() { l.ordered } else { here };
                let remaining = target.saturating_sub(l.picked + l.short);
                let Some(gtin) = l.gtin.clone().filter(|_| remaining > 0) else { continue };
                let found = walk.iter().find(|(_, _, g)| g == &gtin);
                let description = v
                    .header
                    .lines
                    .iter()
                    .find(|h| h.line == l.line)
                    .map(|h| h.description.clone())
                    .unwrap_or_default();
                tasks.push(PickTask {
                    order: v.header.id.clone(),
                    line: l.line,
                    gtin,
                    description,
                    remaining,
                    bin: found.map(|(_, b, _)| b.clone()),
                    walk: found.map(|(w, _, _)| *w),
                });
            }
        }
        tasks.sort_by(|a, b| {
            (a.walk.unwrap_or(u32::MAX), &a.order, a.line).cmp(&(
                b.walk.unwrap_or(u32::MAX),
                &b.order,
                b.line,
            ))
        });
        Ok(tasks)
    }

    /// Orders with picked units not yet packed.
    pub fn pack_queue(&mut self) -> Result<Vec<PackTask>, AgentError> {
        Ok(self
            .orders()?
            .into_iter()
            .filter(|v| !v.cancelled && !v.held)
            .filter_map(|v| {
                let lines: Vec<(u32, u32)> = v
                    .lines
                    .iter()
                    .filter(|l| l.picked > l.packed)
                    .map(|l| (l.line, l.picked - l.packed))
                    .collect();
                (!lines.is_empty()).then(|| PackTask {
                    order: v.header.id.clone(),
                    lines,
                    packages: v.packages,
                })
            })
            .collect())
    }

    /// This driver's routes, stop by stop, with the parcels for each.
    pub fn routes(&mut self) -> Result<Vec<RouteTask>, AgentError> {
        let me = self.profile().device.clone();
        let mut out = Vec::new();
        for id in self.documents()? {
            let DocId::Route(route) = id else { continue };
            let view = self.route_view(&route)?;
            if view.driver != me {
                continue;
            }
            let mut stops = Vec::new();
            for stop in view.stops {
                let mut parcels = Vec::new();
                for order in &stop.orders {
                    // A cancelled order offers no work, even if it was
                    // delivered meanwhile (its status then says delivered).
                    if let Ok(v) = self.order_view(order)
                        && !v.cancelled
                    {
                        parcels.extend(v.packages);
                    }
                }
                stops.push(StopTask { stop, parcels });
            }
            out.push(RouteTask { route, stops, next_stop: view.next_stop });
        }
        Ok(out)
    }
}
