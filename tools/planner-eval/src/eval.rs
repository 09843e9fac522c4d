//! One evaluator for every planner's plan, independent of both: a plan is
//! routes of delivery indices, walked here from the depot and back at the
//! day's [`Travel`], and scored on distance, vans, unassigned deliveries,
//! lateness against slots, the shift and capacity.
//!
//! The walk: road metres are great-circle metres × detour, time is metres /
//! speed; a van early for a slot waits for it; work is late by how far its
//! start is after the slot's end. Consecutive deliveries to one point with
//! one slot are one stop (their service times add up; lateness counts once,
//! at the stop's start), as a driver hands them over together.

use std::collections::HashMap;

use waybill_shared::geo::Geo;
use waybill_shared::plan::day::{DayPlan, LATE_COST_M_PER_S, WAIT_COST_M_PER_S, Window};

use crate::{Day, clock};

/// Float noise, in seconds, below which nobody is late or over the shift.
const EPSILON_S: f64 = 1e-3;

/// A plan in the evaluator's terms.
#[derive(Debug, Default)]
pub struct Plan {
    /// Per route: the van (index into the day's vans) and its deliveries
    /// (indices into the day's deliveries) in driving order.
    pub routes: Vec<(usize, Vec<usize>)>,
    /// Deliveries on no route.
    pub unassigned: Vec<usize>,
}

impl Plan {
    /// Our planner's [`DayPlan`] by delivery index; an order it names
    /// that is not in the day is ignored (and then shows as missing).
    pub fn from_day_plan(day: &Day, plan: &DayPlan) -> Plan {
        let index: HashMap<&str, usize> =
            day.deliveries.iter().enumerate().map(|(i, d)| (d.order.as_str(), i)).collect();
        let routes = plan
            .routes
            .iter()
            .map(|r| {
                let stops =
                    r.stops.iter().flat_map(|s| &s.orders).filter_map(|o| index.get(o.as_str()).copied());
                (r.van, stops.collect())
            })
            .collect();
        let unassigned =
            plan.unassigned.iter().filter_map(|u| index.get(u.order.as_str()).copied()).collect();
        Plan { routes, unassigned }
    }
}

/// What a plan achieves.
#[derive(Debug, Default)]
pub struct Score {
    /// Vans with at least one delivery.
    pub vans: usize,
    /// Deliveries on no route.
    pub unassigned: usize,
    /// Road km, depot to depot, over every route.
    pub distance_km: f64,
    /// Stops whose work starts after their slot's end.
    pub late_stops: usize,
    /// Minutes late, over every stop.
    pub late_min: f64,
    /// The latest stop, in minutes.
    pub max_late_min: f64,
    /// Minutes spent waiting for slots to open, over every stop.
    pub wait_min: f64,
    /// When the last van is back at the depot, seconds after midnight.
    pub latest_back_s: f64,
    /// Routes back after their van's shift ends.
    pub over_shift: usize,
    /// Routes carrying more than their van holds, in any measure.
    pub over_capacity: usize,
    /// The plan's price in plan_day's own terms, km: distance, and seconds
    /// late and waiting weighed as metres ([`LATE_COST_M_PER_S`],
    /// [`WAIT_COST_M_PER_S`]). Lower is better by our planner's objective.
    pub our_cost_km: f64,
    /// Deliveries neither planned once nor unassigned (missing, twice, on
    /// a van that does not exist, or without coordinates on a route).
    pub broken: usize,
}

impl Score {
    /// The markdown table's header.
    pub const HEADER: &str = "| planner | time s | vans | unassigned | km | late stops | late min | max late min \
         | wait min | plan_day cost km | last back | over shift | over capacity | broken |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

    /// A row of the markdown table for `planner`, which took `seconds`.
    pub fn row(&self, planner: &str, seconds: f64) -> String {
        format!(
            "| {planner} | {seconds:.2} | {} | {} | {:.2} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {} | {} | {} |",
            self.vans,
            self.unassigned,
            self.distance_km,
            self.late_stops,
            self.late_min,
            self.max_late_min,
            self.wait_min,
            self.our_cost_km,
            clock(self.latest_back_s),
            self.over_shift,
            self.over_capacity,
            self.broken,
        )
    }
}

/// Walks every route of `plan` through `day`.
pub fn evaluate(day: &Day, plan: &Plan) -> Score {
    let mut score = Score { unassigned: plan.unassigned.len(), ..Score::default() };
    let mut seen = vec![0usize; day.deliveries.len()];
    for &d in &plan.unassigned {
        seen[d] += 1;
    }
    let road_m = |a: &Geo, b: &Geo| a.distance_m(b) * day.travel.detour;
    for (van, route) in &plan.routes {
        let Some(van) = day.vans.get(*van) else {
            score.broken += route.len();
            continue;
        };
        if route.is_empty() {
            continue;
        }
        score.vans += 1;
        let mut metres = 0.0;
        let mut t = f64::from(van.shift.from_s);
        let mut at = day.depot;
        // The point and slot of the stop the van is at.
        let mut stop: Option<(Geo, Option<Window>)> = None;
        let mut carried = [0u64; 3];
        for &d in route {
            seen[d] += 1;
            let delivery = &day.deliveries[d];
            let Some(point) = delivery.address.geo else {
                score.broken += 1;
                continue;
            };
            carried[0] += u64::from(delivery.load.weight_g);
            carried[1] += u64::from(delivery.load.volume_cm3);
            carried[2] += u64::from(delivery.load.packages);
            if stop != Some((point, delivery.slot)) {
                let m = road_m(&at, &point);
                metres += m;
                t += m / day.travel.metres_per_s;
                let start = delivery.slot.map_or(t, |s| t.max(f64::from(s.from_s)));
                score.wait_min += (start - t) / 60.0;
                let late_s = delivery.slot.map_or(0.0, |s| start - f64::from(s.to_s));
                if late_s > EPSILON_S {
                    score.late_stops += 1;
                    score.late_min += late_s / 60.0;
                    score.max_late_min = score.max_late_min.max(late_s / 60.0);
                }
                t = start;
                at = point;
                stop = Some((point, delivery.slot));
            }
            t += f64::from(delivery.service_s);
        }
        let m = road_m(&at, &day.depot);
        metres += m;
        t += m / day.travel.metres_per_s;
        score.distance_km += metres / 1_000.0;
        score.latest_back_s = score.latest_back_s.max(t);
        if t > f64::from(van.shift.to_s) + EPSILON_S {
            score.over_shift += 1;
        }
        let cap = van.capacity;
        let holds = [u64::from(cap.weight_g), u64::from(cap.volume_cm3), u64::from(cap.packages)];
        if carried.iter().zip(holds).any(|(&c, h)| c > h) {
            score.over_capacity += 1;
        }
    }
    score.our_cost_km = score.distance_km
        + (LATE_COST_M_PER_S * score.late_min + WAIT_COST_M_PER_S * score.wait_min) * 60.0 / 1_000.0;
    score.broken += seen.iter().filter(|&&n| n != 1).count();
    score
}
