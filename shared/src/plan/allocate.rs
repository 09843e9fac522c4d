//! Allocation: which location ships which units of each order line.
//!
//! In: an order's lines, the units available per location and item (already
//! net of what earlier allocations reserved), and the location the order
//! header prefers. Out: an [`AllocationPlan`], allocations per line and
//! location (what an `allocated` event carries) and the units nobody has
//! (backorders).
//!
//! The policy aims at the fewest shipments:
//!
//! 1. Whole lines first. The location that can fill the most of the order's
//!    still open lines completely gets them; ties go to the preferred
//!    location, then to the smallest location id. Repeat with the lines left
//!    until no location can fill a whole one (greedy set cover).
//! 2. Then split what no single location can fill, line by line in order:
//!    take from the location with the most units of the item, then the next
//!    (ties: preferred, then smallest id), until the line is filled or the
//!    stock runs out.
//! 3. What is still missing is backordered.
//!
//! [`allocate_orders`] runs this over many orders in priority order against
//! one shared availability, so no unit is promised twice.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::doc::order::{OrderHeader, OrderLine};
use crate::event::office::{Allocated, Allocation};
use crate::gs1::Gtin;
use crate::id::{LocationId, OrderId};

/// Units available per location and item.
pub type Available = BTreeMap<LocationId, BTreeMap<Gtin, u32>>;

/// Units of a line that no location has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Backorder {
    /// The order line.
    pub line: u32,
    /// The item.
    pub gtin: Gtin,
    /// Units missing.
    pub quantity: u32,
}

/// Where an order's units come from, and what is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AllocationPlan {
    /// Per line and location, lines in the order given, a split line's
    /// parts in the order they were taken.
    pub allocations: Vec<Allocation>,
    /// Units nobody has, per line.
    pub backorders: Vec<Backorder>,
}

impl AllocationPlan {
    /// The payload of the `allocated` event that records this plan. A line
    /// with no allocation here keeps any allocation it had before.
    pub fn to_event(&self) -> Allocated {
        Allocated { allocations: self.allocations.clone() }
    }
}

/// Allocates `lines` against `available`, preferring `preferred` on ties.
/// `available` is left as it is; see [`allocate_orders`] to reserve.
pub fn allocate(
    lines: &[OrderLine],
    preferred: Option<&LocationId>,
    available: &Available,
) -> AllocationPlan {
    allocate_in(lines, preferred, &mut available.clone())
}

/// Allocates `orders` one after the other, by promised date (undated last),
/// then order id, each against what the orders before it left. Takes the
/// allocated units out of `available`. Each order prefers its header's
/// `location`.
pub fn allocate_orders(orders: &[OrderHeader], available: &mut Available) -> Vec<(OrderId, AllocationPlan)> {
    let mut sorted: Vec<&OrderHeader> = orders.iter().collect();
    sorted.sort_by(|a, b| {
        (a.promised.is_none(), a.promised, &a.id).cmp(&(b.promised.is_none(), b.promised, &b.id))
    });
    sorted
        .into_iter()
        .map(|o| (o.id.clone(), allocate_in(&o.lines, o.location.as_ref(), available)))
        .collect()
}

/// Allocates and takes the units out of `work`.
fn allocate_in(lines: &[OrderLine], preferred: Option<&LocationId>, work: &mut Available) -> AllocationPlan {
    let is_preferred = |loc: &LocationId| preferred == Some(loc);
    // (line index, order taken, allocation)
    let mut taken: Vec<(usize, usize, Allocation)> = Vec::new();
    let take = |taken: &mut Vec<_>, i: usize, loc: &LocationId, quantity: u32| {
        let n = taken.len();
        taken.push((i, n, Allocation { line: lines[i].line, location: loc.clone(), quantity }));
    };
    let mut open: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].quantity > 0).collect();

    // 1. Whole lines, the location filling the most of them first.
    loop {
        let mut best: Option<(&LocationId, Vec<usize>)> = None;
        for (loc, stock) in work.iter() {
            let fills = whole_lines(lines, &open, stock);
            let better = match &best {
                None => !fills.is_empty(),
                Some((b, f)) => (fills.len(), is_preferred(loc)) > (f.len(), is_preferred(b)),
            };
            if better {
                best = Some((loc, fills));
            }
        }
        let Some((loc, fills)) = best else { break };
        let loc = loc.clone();
        let stock = work.entry(loc.clone()).or_default();
        for &i in &fills {
            let line = &lines[i];
            if let Some(units) = stock.get_mut(&line.gtin) {
                *units -= line.quantity;
            }
            take(&mut taken, i, &loc, line.quantity);
        }
        open.retain(|i| !fills.contains(i));
    }

    // 2. Split the rest, most stock first; 3. backorder what is left.
    let mut backorders = Vec::new();
    for i in open {
        let line = &lines[i];
        let mut missing = line.quantity;
        while missing > 0 {
            let source = work
                .iter()
                .filter_map(|(loc, stock)| stock.get(&line.gtin).filter(|&&u| u > 0).map(|&u| (loc, u)))
                .max_by(|(a, ua), (b, ub)| {
                    // Most units, then preferred, then the smallest id.
                    (ua, is_preferred(a)).cmp(&(ub, is_preferred(b))).then_with(|| b.cmp(a))
                })
                .map(|(loc, units)| (loc.clone(), units));
            let Some((loc, units)) = source else { break };
            let quantity = units.min(missing);
            if let Some(u) = work.get_mut(&loc).and_then(|s| s.get_mut(&line.gtin)) {
                *u -= quantity;
            }
            take(&mut taken, i, &loc, quantity);
            missing -= quantity;
        }
        if missing > 0 {
            backorders.push((i, Backorder { line: line.line, gtin: line.gtin.clone(), quantity: missing }));
        }
    }
    taken.sort_by_key(|(i, n, _)| (*i, *n));
    backorders.sort_by_key(|(i, _)| *i);
    AllocationPlan {
        allocations: taken.into_iter().map(|(_, _, a)| a).collect(),
        backorders: backorders.into_iter().map(|(_, b)| b).collect(),
    }
}

/// The open lines `stock` can fill completely, taking them in turn (two
/// lines of one item must both fit).
fn whole_lines(lines: &[OrderLine], open: &[usize], stock: &BTreeMap<Gtin, u32>) -> Vec<usize> {
    let mut left: BTreeMap<&Gtin, u32> = BTreeMap::new();
    open.iter()
        .copied()
        .filter(|&i| {
            let line = &lines[i];
            let units = left.entry(&line.gtin).or_insert_with(|| stock.get(&line.gtin).copied().unwrap_or(0));
            let fits = *units >= line.quantity;
            if fits {
                *units -= line.quantity;
            }
            fits
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;
    use crate::gs1::check_digit;

    fn gtin(n: u64) -> Gtin {
        let data = format!("{:012}", 950_600_000_000 + n);
        format!("{data}{}", check_digit(&data).unwrap()).parse().unwrap()
    }

    fn loc(s: &str) -> LocationId {
        s.parse().unwrap()
    }

    fn lines(spec: &[(u64, u32)]) -> Vec<OrderLine> {
        spec.iter()
            .enumerate()
            .map(|(i, &(item, quantity))| OrderLine {
                line: i as u32 + 1,
                gtin: gtin(item),
                description: String::new(),
                quantity,
            })
            .collect()
    }

    fn available(spec: &[(&str, u64, u32)]) -> Available {
        let mut out = Available::new();
        for &(l, item, units) in spec {
            out.entry(loc(l)).or_default().insert(gtin(item), units);
        }
        out
    }

    fn alloc(line: u32, location: &str, quantity: u32) -> Allocation {
        Allocation { line, location: loc(location), quantity }
    }

    #[test]
    fn the_location_filling_most_lines_wins_over_the_preferred_one() {
        let order = lines(&[(1, 2), (2, 2), (3, 2)]);
        let stock = available(&[("a", 1, 5), ("b", 1, 5), ("b", 2, 5), ("b", 3, 1), ("c", 3, 9)]);
        let plan = allocate(&order, Some(&loc("a")), &stock);
        assert_eq!(plan.allocations, vec![alloc(1, "b", 2), alloc(2, "b", 2), alloc(3, "c", 2)]);
        assert!(plan.backorders.is_empty());
    }

    #[test]
    fn ties_go_to_the_preferred_location_then_the_smallest_id() {
        let order = lines(&[(1, 2)]);
        let stock = available(&[("a", 1, 5), ("b", 1, 5), ("c", 1, 5)]);
        assert_eq!(allocate(&order, Some(&loc("c")), &stock).allocations, vec![alloc(1, "c", 2)]);
        assert_eq!(allocate(&order, None, &stock).allocations, vec![alloc(1, "a", 2)]);
    }

    #[test]
    fn a_line_nobody_can_fill_is_split_most_stock_first_and_the_rest_backordered() {
        let order = lines(&[(1, 10), (2, 0)]);
        let stock = available(&[("a", 1, 2), ("b", 1, 5), ("c", 1, 1)]);
        let plan = allocate(&order, None, &stock);
        assert_eq!(plan.allocations, vec![alloc(1, "b", 5), alloc(1, "a", 2), alloc(1, "c", 1)]);
        assert_eq!(plan.backorders, vec![Backorder { line: 1, gtin: gtin(1), quantity: 2 }]);
        assert_eq!(plan.to_event().allocations, plan.allocations);
    }

    #[test]
    fn two_lines_of_one_item_both_have_to_fit() {
        let order = lines(&[(1, 3), (1, 3)]);
        let stock = available(&[("a", 1, 4), ("b", 1, 3)]);
        let plan = allocate(&order, None, &stock);
        assert_eq!(plan.allocations, vec![alloc(1, "a", 3), alloc(2, "b", 3)]);
    }

    #[test]
    fn orders_are_served_by_promised_date_and_never_share_a_unit() {
        let mk = |id: &str, promised: Option<u32>| OrderHeader {
            id: id.parse().unwrap(),
            customer: String::new(),
            ship_to: crate::doc::order::Address {
                name: String::new(),
                line1: String::new(),
                line2: String::new(),
                city: String::new(),
                postcode: String::new(),
                country: String::new(),
                geo: None,
            },
            lines: lines(&[(1, 3)]),
            promised: promised.map(|d| chrono::NaiveDate::from_ymd_opt(2026, 1, d).unwrap()),
            slot: None,
            location: None,
            proof: Default::default(),
            payment: Default::default(),
            created_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        };
        let orders = [mk("o1", None), mk("o2", Some(9)), mk("o3", Some(2))];
        let mut stock = available(&[("a", 1, 5)]);
        let plans = allocate_orders(&orders, &mut stock);
        let ids: Vec<&str> = plans.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["o3", "o2", "o1"]);
        assert_eq!(plans[0].1.allocations, vec![alloc(1, "a", 3)]);
        assert_eq!(plans[1].1.allocations, vec![alloc(1, "a", 2)]);
        assert_eq!(plans[1].1.backorders[0].quantity, 1);
        assert!(plans[2].1.allocations.is_empty());
        assert_eq!(stock[&loc("a")][&gtin(1)], 0);
    }

    fn arb_lines() -> impl Strategy<Value = Vec<OrderLine>> {
        prop::collection::vec((0u64..3, 0u32..12), 0..6).prop_map(|spec| lines(&spec))
    }

    fn arb_available() -> impl Strategy<Value = Available> {
        prop::collection::vec((0usize..4, 0u64..3, 0u32..15), 0..12).prop_map(|spec| {
            let names = ["a", "b", "c", "d"];
            let spec: Vec<_> = spec.into_iter().map(|(l, g, u)| (names[l], g, u)).collect();
            available(&spec)
        })
    }

    /// Units allocated per (location, item).
    fn used(lines: &[OrderLine], plan: &AllocationPlan, into: &mut BTreeMap<(LocationId, Gtin), u32>) {
        for a in &plan.allocations {
            let line = lines.iter().find(|l| l.line == a.line).unwrap();
            *into.entry((a.location.clone(), line.gtin.clone())).or_default() += a.quantity;
        }
    }

    proptest! {
        #[test]
        fn never_over_allocates_and_accounts_for_every_unit(
            order in arb_lines(),
            stock in arb_available(),
            preferred in prop::option::of(prop::sample::select(vec!["a", "b", "z"])),
        ) {
            let preferred = preferred.map(loc);
            let plan = allocate(&order, preferred.as_ref(), &stock);
            prop_assert_eq!(&plan, &allocate(&order, preferred.as_ref(), &stock));
            let mut by_slot = BTreeMap::new();
            used(&order, &plan, &mut by_slot);
            for ((l, g), units) in by_slot {
                prop_assert!(units <= stock[&l][&g]);
            }
            for line in &order {
                let allocated: u32 =
                    plan.allocations.iter().filter(|a| a.line == line.line).map(|a| a.quantity).sum();
                let back: u32 = plan.backorders.iter().filter(|b| b.line == line.line).map(|b| b.quantity).sum();
                prop_assert_eq!(allocated + back, line.quantity);
                prop_assert!(plan.allocations.iter().all(|a| a.quantity > 0));
            }
        }

        #[test]
        fn many_orders_share_the_stock_without_double_promising(
            orders in prop::collection::vec(arb_lines(), 0..5),
            stock in arb_available(),
        ) {
            let headers: Vec<OrderHeader> = orders
                .into_iter()
                .enumerate()
                .map(|(i, lines)| {
                    serde_json::from_value(serde_json::json!({
                        "id": format!("o{i}"), "customer": "c",
                        "ship_to": {"name": "", "line1": "", "city": "", "postcode": "", "country": ""},
                        "lines": lines, "created_at": "2026-01-01T00:00:00Z"
                    }))
                    .unwrap()
                })
                .collect();
            let mut left = stock.clone();
            let plans = allocate_orders(&headers, &mut left);
            let mut by_slot = BTreeMap::new();
            for (id, plan) in &plans {
                let header = headers.iter().find(|h| &h.id == id).unwrap();
                used(&header.lines, plan, &mut by_slot);
            }
            for (l, items) in &stock {
                for (g, &units) in items {
                    let u = by_slot.get(&(l.clone(), g.clone())).copied().unwrap_or(0);
                    prop_assert_eq!(u + left[l][g], units);
                }
            }
            prop_assert_eq!(plans, allocate_orders(&headers, &mut stock.clone()));
        }
    }
}
