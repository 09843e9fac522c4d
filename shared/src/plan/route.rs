//! Route building: orders to deliver become stops in a driving sequence,
//! split into routes of at most a given number of stops.
//!
//! In: the depot's coordinates and the orders with the address each goes to.
//! Out: [`PlannedRoute`]s whose stops are ready for a
//! [`RouteHeader`](crate::doc::route::RouteHeader), numbered from 1, with the
//! length of the run.
//!
//! - Orders going to the same address (equal in every field) share one stop,
//!   in the order given.
//! - A route is a round trip from the depot and back. Its stops are put in
//!   sequence by nearest-neighbour construction (from the depot, always drive
//!   to the closest stop not yet visited; ties to the stop given first), then
//!   improved by 2-opt (reverse any stretch of the tour whose reversal makes
//!   the tour shorter, until none does). Distances are great-circle
//!   (haversine) distances: a stand-in for road distance, good enough to
//!   order stops in a town.
//! - [`plan_routes`] first clusters the stops by a sweep: sorted by bearing
//!   from the depot, starting after the widest empty sector, and cut into
//!   routes of near-equal size, as few as `max_stops` allows. Each cluster is
//!   then sequenced as above.
//! - Stops whose address has no coordinates cannot be sequenced: they go at
//!   the end of the route in the order given and are reported in
//!   [`PlannedRoute::unlocated`]. [`plan_routes`] puts them on routes of their
//!   own, after the others.

use std::num::NonZeroUsize;

use serde::Serialize;

use crate::doc::order::Address;
use crate::doc::route::Stop;
use crate::geo::Geo;
use crate::id::OrderId;

/// A route as planned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedRoute {
    /// Stops in driving order, numbered from 1.
    pub stops: Vec<Stop>,
    /// Metres from the depot through every stop with coordinates and back.
    pub distance_m: f64,
    /// Stops without coordinates, by sequence number: at the end, not
    /// sequenced; the office orders them by hand.
    pub unlocated: Vec<u32>,
}

/// One route through every delivery.
pub fn plan_route(depot: Geo, deliveries: &[(OrderId, Address)]) -> PlannedRoute {
    let stops = group(deliveries);
    let (located, unlocated): (Vec<usize>, Vec<usize>) =
        (0..stops.len()).partition(|&i| geo(&stops[i]).is_some());
    build(depot, &stops, &located, &unlocated)
}

/// Routes of at most `max_stops` stops each through every delivery, as few
/// as that allows: clustered by a sweep around the depot, each sequenced.
pub fn plan_routes(
    depot: Geo,
    deliveries: &[(OrderId, Address)],
    max_stops: NonZeroUsize,
) -> Vec<PlannedRoute> {
    let stops = group(deliveries);
    let mut located: Vec<(f64, f64, usize, Geo)> = stops
        .iter()
        .enumerate()
        .filter_map(|(i, s)| geo(s).map(|g| (bearing(depot, g), depot.distance_m(&g), i, g)))
        .collect();
    located.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    // Start the sweep after the widest gap between bearings.
    let n = located.len();
    let gap = |k: usize| {
        let next = if k + 1 == n { located[0].0 + std::f64::consts::TAU } else { located[k + 1].0 };
        next - located[k].0
    };
    if let Some(widest) = (0..n).max_by(|&a, &b| gap(a).total_cmp(&gap(b)).then(b.cmp(&a))) {
        located.rotate_left((widest + 1) % n);
    }
    let mut routes = Vec::new();
    let count = n.div_ceil(max_stops.get());
    let mut rest = located.as_slice();
    for r in 0..count {
        let size = n / count + usize::from(r < n % count);
        let (cluster, tail) = rest.split_at(size);
        rest = tail;
        let mut members: Vec<usize> = cluster.iter().map(|c| c.2).collect();
        members.sort_unstable();
        routes.push(build(depot, &stops, &members, &[]));
    }
    let unlocated: Vec<usize> = (0..stops.len()).filter(|&i| geo(&stops[i]).is_none()).collect();
    for chunk in unlocated.chunks(max_stops.get()) {
        routes.push(build(depot, &stops, &[], chunk));
    }
    routes
}

/// The route through `located` (sequenced) then `unlocated` (as given),
/// indices into `stops`.
fn build(
    depot: Geo,
    stops: &[(Vec<OrderId>, Address)],
    located: &[usize],
    unlocated: &[usize],
) -> PlannedRoute {
    let points: Vec<Geo> = located.iter().filter_map(|&i| geo(&stops[i])).collect();
    let mut tour = nearest_neighbour(depot, &points);
    two_opt(depot, &points, &mut tour);
    let order = tour.iter().map(|&k| located[k]).chain(unlocated.iter().copied());
    let planned: Vec<Stop> = order
        .enumerate()
        .map(|(n, i)| Stop { seq: n as u32 + 1, orders: stops[i].0.clone(), address: stops[i].1.clone() })
        .collect();
    PlannedRoute {
        distance_m: length(depot, &points, &tour),
        unlocated: (located.len()..planned.len()).map(|n| n as u32 + 1).collect(),
        stops: planned,
    }
}

/// Deliveries to equal addresses as one stop, in the order first given.
fn group(deliveries: &[(OrderId, Address)]) -> Vec<(Vec<OrderId>, Address)> {
    let mut stops: Vec<(Vec<OrderId>, Address)> = Vec::new();
    for (order, address) in deliveries {
        match stops.iter_mut().find(|(_, a)| a == address) {
            Some((orders, _)) => orders.push(order.clone()),
            None => stops.push((vec![order.clone()], address.clone())),
        }
    }
    stops
}

fn geo(stop: &(Vec<OrderId>, Address)) -> Option<Geo> {
    stop.1.geo
}

/// Bearing of `to` from `from` in radians, on a local flat projection.
fn bearing(from: Geo, to: Geo) -> f64 {
    let dx = (to.lon() - from.lon()) * from.lat().to_radians().cos();
    (to.lat() - from.lat()).atan2(dx)
}

/// Length of the round trip depot, `points` in `tour` order, depot.
fn length(depot: Geo, points: &[Geo], tour: &[usize]) -> f64 {
    let path: Vec<Geo> =
        std::iter::once(depot).chain(tour.iter().map(|&k| points[k])).chain(std::iter::once(depot)).collect();
    path.windows(2).map(|w| w[0].distance_m(&w[1])).sum()
}

/// From the depot, always on to the closest point not yet visited.
fn nearest_neighbour(depot: Geo, points: &[Geo]) -> Vec<usize> {
    let mut left: Vec<usize> = (0..points.len()).collect();
    let mut tour = Vec::with_capacity(points.len());
    let mut here = depot;
    // `min_by` keeps the first of equal elements: ties go to the stop given first.
    while let Some(pos) = (0..left.len())
        .min_by(|&a, &b| here.distance_m(&points[left[a]]).total_cmp(&here.distance_m(&points[left[b]])))
    {
        let next = left.remove(pos);
        here = points[next];
        tour.push(next);
    }
    tour
}

/// Improvements smaller than this (metres) are not taken: float noise.
const EPSILON_M: f64 = 1e-6;
/// A bound on 2-opt passes; each pass that changes the tour shortens it,
/// so this is only a guard.
const MAX_PASSES: usize = 1_000;

/// Reverses stretches of `tour` while that shortens the round trip.
fn two_opt(depot: Geo, points: &[Geo], tour: &mut [usize]) {
    let n = tour.len();
    // Position k on the path: 0 and n + 1 are the depot, 1..=n the tour.
    let at = |tour: &[usize], k: usize| if k == 0 || k == n + 1 { depot } else { points[tour[k - 1]] };
    for _ in 0..MAX_PASSES {
        let mut improved = false;
        for i in 1..n {
            for j in i + 1..=n {
                let (a, b, c, d) = (at(tour, i - 1), at(tour, i), at(tour, j), at(tour, j + 1));
                let delta = a.distance_m(&c) + b.distance_m(&d) - a.distance_m(&b) - c.distance_m(&d);
                if delta < -EPSILON_M {
                    tour[i - 1..j].reverse();
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    const DEPOT: (f64, f64) = (51.5, -0.1);

    fn depot() -> Geo {
        Geo::new(DEPOT.0, DEPOT.1).unwrap()
    }

    fn address(street: &str, geo: Option<Geo>) -> Address {
        Address {
            name: "N".into(),
            line1: street.into(),
            line2: String::new(),
            city: "London".into(),
            postcode: "N1".into(),
            country: "GB".into(),
            geo,
        }
    }

    fn order(n: usize) -> OrderId {
        format!("o{n}").parse().unwrap()
    }

    /// Point `k` of `n` on a circle of about 1 km around the depot.
    fn on_circle(k: usize, n: usize) -> Geo {
        let angle = std::f64::consts::TAU * k as f64 / n as f64;
        let r = 0.01;
        Geo::new(DEPOT.0 + r * angle.sin(), DEPOT.1 + r * angle.cos() / DEPOT.0.to_radians().cos()).unwrap()
    }

    fn deliveries(points: &[Geo]) -> Vec<(OrderId, Address)> {
        points.iter().enumerate().map(|(i, &g)| (order(i), address(&format!("{i} St"), Some(g)))).collect()
    }

    #[test]
    fn points_on_a_circle_come_out_in_circle_order() {
        let n = 12;
        let shuffled = [7, 2, 11, 0, 5, 9, 3, 10, 1, 6, 8, 4];
        let points: Vec<Geo> = shuffled.iter().map(|&k| on_circle(k, n)).collect();
        let route = plan_route(depot(), &deliveries(&points));
        let ks: Vec<usize> = route
            .stops
            .iter()
            .map(|s| shuffled[s.orders[0].as_str()[1..].parse::<usize>().unwrap()])
            .collect();
        let step = (ks[1] + n - ks[0]) % n;
        assert!(step == 1 || step == n - 1, "{ks:?}");
        for w in ks.windows(2) {
            assert_eq!((w[1] + n - w[0]) % n, step, "{ks:?}");
        }
        let seqs: Vec<u32> = route.stops.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, (1..=n as u32).collect::<Vec<_>>());
        let given = length(depot(), &points, &(0..n).collect::<Vec<_>>());
        assert!(route.distance_m <= given, "{} > {given}", route.distance_m);
        assert!(route.unlocated.is_empty());
    }

    #[test]
    fn orders_to_one_address_share_a_stop_and_unlocated_stops_go_last() {
        let here = address("1 St", Some(on_circle(0, 4)));
        let there = address("2 St", Some(on_circle(2, 4)));
        let nowhere = address("3 St", None);
        let input = vec![
            (order(0), nowhere.clone()),
            (order(1), there.clone()),
            (order(2), here.clone()),
            (order(3), there),
            (order(4), address("4 St", None)),
        ];
        let route = plan_route(depot(), &input);
        assert_eq!(route.stops.len(), 4);
        assert_eq!(route.stops[0].orders.len() + route.stops[1].orders.len(), 3);
        assert_eq!(route.stops[2].orders, vec![order(0)]);
        assert_eq!(route.stops[3].orders, vec![order(4)]);
        assert_eq!(route.unlocated, vec![3, 4]);
        let two = route.stops.iter().find(|s| s.orders.len() == 2).unwrap();
        assert_eq!(two.orders, vec![order(1), order(3)]);
    }

    #[test]
    fn routes_are_cut_to_size_by_sweep() {
        let n = 10;
        let mut input = deliveries(&(0..n).map(|k| on_circle(k, n)).collect::<Vec<_>>());
        input.push((order(99), address("nowhere", None)));
        let routes = plan_routes(depot(), &input, NonZeroUsize::new(4).unwrap());
        let sizes: Vec<usize> = routes.iter().map(|r| r.stops.len()).collect();
        assert_eq!(sizes, [4, 3, 3, 1]);
        assert_eq!(routes[3].unlocated, vec![1]);
        assert_eq!(routes[3].distance_m, 0.0);
        // A sweep keeps each route to one sector: neighbours on the circle.
        for r in &routes[..3] {
            let mut ks: Vec<usize> =
                r.stops.iter().map(|s| s.orders[0].as_str()[1..].parse().unwrap()).collect();
            ks.sort_unstable();
            let spread = (0..ks.len()).map(|i| (ks[(i + 1) % ks.len()] + n - ks[i]) % n).max().unwrap();
            assert_eq!(spread, n - ks.len() + 1, "{ks:?} is not one sector");
        }
        let mut all: Vec<OrderId> =
            routes.iter().flat_map(|r| r.stops.iter().flat_map(|s| s.orders.clone())).collect();
        all.sort();
        let mut expected: Vec<OrderId> = input.iter().map(|(o, _)| o.clone()).collect();
        expected.sort();
        assert_eq!(all, expected);
        assert_eq!(routes, plan_routes(depot(), &input, NonZeroUsize::new(4).unwrap()));
    }

    fn arb_points() -> impl Strategy<Value = Vec<Geo>> {
        prop::collection::vec((-0.05f64..0.05, -0.05f64..0.05), 0..25).prop_map(|v| {
            v.into_iter().map(|(dy, dx)| Geo::new(DEPOT.0 + dy, DEPOT.1 + dx).unwrap()).collect()
        })
    }

    proptest! {
        #[test]
        fn two_opt_never_lengthens_nearest_neighbour(points in arb_points()) {
            let mut tour = nearest_neighbour(depot(), &points);
            let before = length(depot(), &points, &tour);
            two_opt(depot(), &points, &mut tour);
            let after = length(depot(), &points, &tour);
            prop_assert!(after <= before + EPSILON_M, "{after} > {before}");
            let mut visited = tour.clone();
            visited.sort_unstable();
            prop_assert_eq!(visited, (0..points.len()).collect::<Vec<_>>());
        }

        #[test]
        fn planning_is_deterministic(points in arb_points(), max in 1usize..6) {
            let input = deliveries(&points);
            let max = NonZeroUsize::new(max).unwrap();
            prop_assert_eq!(plan_route(depot(), &input), plan_route(depot(), &input));
            let routes = plan_routes(depot(), &input, max);
            prop_assert_eq!(&routes, &plan_routes(depot(), &input, max));
            prop_assert!(routes.iter().all(|r| r.stops.len() <= max.get()));
            prop_assert_eq!(routes.iter().map(|r| r.stops.len()).sum::<usize>(), group(&input).len());
        }
    }
}
