//! Batch pick lists: a location's outstanding picks grouped into batches,
//! each one walk through the bins.
//!
//! In: the location's header (its bins and their place on the walk), its
//! stock per bin and item (the [`StockView`]), and what each order still
//! needs picked there, as [`PickRequest`]s (its allocation at this location,
//! less what was already picked). Out: [`Batch`]es, each with its orders, its
//! picks in walk order, and what the bins cannot cover.
//!
//! The rules, kept simple on purpose:
//!
//! - Bins: an order line draws from the bin with the lowest walk position
//!   that holds the item, then the next, and so on; units are drawn once, so
//!   two orders never count on the same unit. Orders draw in the order given
//!   (put the most urgent first). What no bin holds is a shortfall. Bins that
//!   hold stock but are not in the header come last on the walk, by id.
//! - Batches: orders are sorted by the walk position of the first bin they
//!   visit (orders with nothing to pick last; ties in the order given) and cut
//!   into batches of `batch_size`, so orders picking from the same part of
//!   the location travel together. Given a number of pickers, batches are
//!   made smaller where needed so that there are at least as many batches as
//!   pickers (as long as there are as many orders): nobody waits.
//! - Within a batch, picks of one item from one bin are one stop on the walk,
//!   with the split per order line for the put wall or the cart's totes.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;

use serde::Serialize;

use crate::doc::location::LocationHeader;
use crate::fold::StockView;
use crate::gs1::Gtin;
use crate::id::{BinId, LocationId, OrderId};

/// Units of one order line to pick at the location. Also the shape of a
/// shortfall: units the bins do not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PickRequest {
    /// The order.
    pub order: OrderId,
    /// The order line.
    pub line: u32,
    /// The item.
    pub gtin: Gtin,
    /// Units.
    pub quantity: u32,
}

/// The units of one pick that go to one order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PickFor {
    /// The order.
    pub order: OrderId,
    /// The order line.
    pub line: u32,
    /// Units.
    pub quantity: u32,
}

/// One stop on the walk: take `quantity` of `gtin` from `bin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pick {
    /// The bin.
    pub bin: BinId,
    /// The item.
    pub gtin: Gtin,
    /// Units, over all orders of the batch.
    pub quantity: u32,
    /// How they split per order line.
    pub orders: Vec<PickFor>,
}

/// Orders picked together in one walk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Batch {
    /// The orders.
    pub orders: Vec<OrderId>,
    /// The picks, in walk order.
    pub picks: Vec<Pick>,
    /// Units of the batch's order lines that no bin holds.
    pub shortfalls: Vec<PickRequest>,
}

/// Pick lists that cannot be made from what was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickListError {
    /// The stock view is of another location than the header.
    #[error("stock of {stock} given for location {location}")]
    WrongLocation {
        /// The header's location.
        location: LocationId,
        /// The stock view's location.
        stock: LocationId,
    },
}

/// A bin's place on the walk: position, then id. Unknown bins last.
type WalkKey = (u32, BinId);

/// Batches of at most `batch_size` orders (fewer, to give each of `pickers`
/// a batch) covering every request, drawing on `stock`. Refuses a stock view
/// of another location.
pub fn batches(
    location: &LocationHeader,
    stock: &StockView,
    requests: &[PickRequest],
    batch_size: NonZeroUsize,
    pickers: Option<NonZeroUsize>,
) -> Result<Vec<Batch>, PickListError> {
    if stock.location != location.id {
        return Err(PickListError::WrongLocation {
            location: location.id.clone(),
            stock: stock.location.clone(),
        });
    }
    let walk: BTreeMap<&BinId, u32> = location.bins.iter().map(|b| (&b.id, b.walk)).collect();
    // Units per item, bins in walk order.
    let mut shelves: BTreeMap<&Gtin, BTreeMap<WalkKey, u32>> = BTreeMap::new();
    for s in stock.stock.iter().filter(|s| s.on_hand > 0) {
        let key = (walk.get(&s.bin).copied().unwrap_or(u32::MAX), s.bin.clone());
        let units = u32::try_from(s.on_hand).unwrap_or(u32::MAX);
        shelves.entry(&s.gtin).or_default().insert(key, units);
    }

    // Orders in the order first given, each with its draws and shortfalls.
    struct Order<'a> {
        id: &'a OrderId,
        draws: Vec<(WalkKey, &'a Gtin, PickFor)>,
        short: Vec<PickRequest>,
    }
    let mut orders: Vec<Order> = Vec::new();
    for r in requests.iter().filter(|r| r.quantity > 0) {
        let pos = match orders.iter().position(|o| o.id == &r.order) {
            Some(pos) => pos,
            None => {
                orders.push(Order { id: &r.order, draws: Vec::new(), short: Vec::new() });
                orders.len() - 1
            }
        };
        let order = &mut orders[pos];
        let mut missing = r.quantity;
        for (key, units) in shelves.get_mut(&r.gtin).into_iter().flatten() {
            if missing == 0 {
                break;
            }
            let take = missing.min(*units);
            if take > 0 {
                *units -= take;
                missing -= take;
                let pick = PickFor { order: r.order.clone(), line: r.line, quantity: take };
                order.draws.push((key.clone(), &r.gtin, pick));
            }
        }
        if missing > 0 {
            order.short.push(PickRequest { quantity: missing, ..r.clone() });
        }
    }

    // Sort by first bin on the walk (stable: ties keep the order given), cut.
    let first_bin = |o: &Order| o.draws.iter().map(|(key, _, _)| key.clone()).min();
    orders.sort_by(|a, b| match (first_bin(a), first_bin(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (x, y) => y.is_some().cmp(&x.is_some()),
    });
    let mut size = batch_size.get();
    if let Some(pickers) = pickers {
        size = size.min(orders.len() / pickers.get()).max(1);
    }
    Ok(orders
        .chunks(size)
        .map(|chunk| {
            let mut stops: BTreeMap<(&WalkKey, &Gtin), Vec<PickFor>> = BTreeMap::new();
            for o in chunk {
                for (key, gtin, pick) in &o.draws {
                    stops.entry((key, gtin)).or_default().push(pick.clone());
                }
            }
            Batch {
                orders: chunk.iter().map(|o| o.id.clone()).collect(),
                picks: stops
                    .into_iter()
                    .map(|(((_, bin), gtin), orders)| Pick {
                        bin: bin.clone(),
                        gtin: (*gtin).clone(),
                        quantity: orders.iter().map(|p| p.quantity).sum(),
                        orders,
                    })
                    .collect(),
                shortfalls: chunk.iter().flat_map(|o| o.short.iter().cloned()).collect(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::doc::location::Bin;
    use crate::fold::stock::StockLine;
    use crate::gs1::check_digit;

    fn gtin(n: u64) -> Gtin {
        let data = format!("{:012}", 950_600_000_000 + n);
        format!("{data}{}", check_digit(&data).unwrap()).parse().unwrap()
    }

    fn bin(s: &str) -> BinId {
        s.parse().unwrap()
    }

    /// Bins B-1.. at walk 10, 20, ... given in reverse, so the walk matters.
    fn header(bins: u32) -> LocationHeader {
        LocationHeader {
            id: "wh-1".parse().unwrap(),
            name: "Main".into(),
            geo: None,
            bins: (1..=bins).rev().map(|i| Bin { id: bin(&format!("B-{i}")), walk: i * 10 }).collect(),
            epoch: 0,
            opening: Vec::new(),
            cutoff: Default::default(),
            quotas: Vec::new(),
            time_zone: None,
        }
    }

    fn stock(lines: &[(&str, u64, i64)]) -> StockView {
        StockView {
            location: "wh-1".parse().unwrap(),
            epoch: 0,
            stock: lines
                .iter()
                .map(|&(b, g, on_hand)| StockLine { bin: bin(b), gtin: gtin(g), on_hand })
                .collect(),
            quotas: Vec::new(),
            exceptions: Vec::new(),
            events: 0,
            unreadable: Vec::new(),
        }
    }

    fn req(order: &str, line: u32, item: u64, quantity: u32) -> PickRequest {
        PickRequest { order: order.parse().unwrap(), line, gtin: gtin(item), quantity }
    }

    fn one(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    fn walk(batch: &Batch) -> Vec<(&str, u32)> {
        batch.picks.iter().map(|p| (p.bin.as_str(), p.quantity)).collect()
    }

    #[test]
    fn picks_follow_the_walk_and_add_up_per_bin() {
        let stock = stock(&[("B-3", 1, 9), ("B-1", 2, 9), ("B-2", 3, 9)]);
        let requests = [req("o1", 1, 1, 2), req("o1", 2, 2, 1), req("o2", 1, 3, 4), req("o2", 2, 1, 3)];
        let out = batches(&header(3), &stock, &requests, one(10), None).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(walk(&out[0]), [("B-1", 1), ("B-2", 4), ("B-3", 5)]);
        let b3 = &out[0].picks[2];
        assert_eq!(
            b3.orders.iter().map(|p| (p.order.as_str(), p.quantity)).collect::<Vec<_>>(),
            [("o1", 2), ("o2", 3)]
        );
        assert!(out[0].shortfalls.is_empty());
    }

    #[test]
    fn a_line_splits_across_bins_lowest_walk_first_and_reports_the_shortfall() {
        let stock = stock(&[("B-3", 1, 5), ("B-1", 1, 2), ("B-2", 1, -4), ("X-9", 1, 1)]);
        let out = batches(&header(3), &stock, &[req("o1", 1, 1, 10)], one(10), None).unwrap();
        assert_eq!(walk(&out[0]), [("B-1", 2), ("B-3", 5), ("X-9", 1)]);
        assert_eq!(out[0].shortfalls, vec![req("o1", 1, 1, 2)]);
    }

    #[test]
    fn earlier_orders_draw_first_and_units_are_not_promised_twice() {
        let stock = stock(&[("B-1", 1, 3), ("B-2", 1, 3)]);
        let requests = [req("o1", 1, 1, 2), req("o2", 1, 1, 2), req("o3", 1, 1, 5)];
        let out = batches(&header(2), &stock, &requests, one(1), None).unwrap();
        let orders: Vec<&str> = out.iter().map(|b| b.orders[0].as_str()).collect();
        assert_eq!(orders, ["o1", "o2", "o3"]);
        assert_eq!(walk(&out[0]), [("B-1", 2)]);
        assert_eq!(walk(&out[1]), [("B-1", 1), ("B-2", 1)]);
        assert_eq!(walk(&out[2]), [("B-2", 2)]);
        assert_eq!(out[2].shortfalls, vec![req("o3", 1, 1, 3)]);
    }

    #[test]
    fn batches_group_orders_by_where_they_start_and_respect_sizes() {
        let stock = stock(&[("B-1", 1, 50), ("B-5", 2, 50), ("B-9", 3, 50)]);
        let requests = [
            req("far", 1, 3, 1),
            req("near", 1, 1, 1),
            req("none", 1, 4, 1),
            req("mid", 1, 2, 1),
            req("near2", 1, 1, 1),
        ];
        let ids = |out: &[Batch]| -> Vec<Vec<String>> {
            out.iter().map(|b| b.orders.iter().map(|o| o.to_string()).collect()).collect()
        };
        let out = batches(&header(9), &stock, &requests, one(2), None).unwrap();
        assert_eq!(ids(&out), [vec!["near", "near2"], vec!["mid", "far"], vec!["none"]]);
        assert_eq!(out[2].shortfalls, vec![req("none", 1, 4, 1)]);
        // Batches shrink so that every picker gets one.
        let sizes = |pickers: usize| -> Vec<usize> {
            let out = batches(&header(9), &stock, &requests, one(3), Some(one(pickers))).unwrap();
            out.iter().map(|b| b.orders.len()).collect()
        };
        assert_eq!(sizes(1), [3, 2]);
        assert_eq!(sizes(2), [2, 2, 1]);
        assert_eq!(sizes(4), [1, 1, 1, 1, 1]);
        assert_eq!(sizes(9), [1, 1, 1, 1, 1]);
        assert!(batches(&header(9), &stock, &[], one(3), Some(one(2))).unwrap().is_empty());
    }

    #[test]
    fn stock_of_another_location_is_refused() {
        let mut other = stock(&[]);
        other.location = "wh-2".parse().unwrap();
        assert!(matches!(
            batches(&header(1), &other, &[], one(1), None),
            Err(PickListError::WrongLocation { .. })
        ));
    }
}
