//! The day as a vrp-core problem, solved within a time budget, and its
//! solution as an evaluator [`Plan`].
//!
//! Locations: 0 is the depot, `1 + i` delivery `i`; the routing matrix holds
//! our road metres (great-circle × detour) and seconds (metres / speed), so
//! vrp-core sees the same network as our planner. Each delivery is one job
//! with its service time, a three-measure demand (grams, cm³, packages) and,
//! if it has a slot, a time window: vrp-core's windows are hard, so it never
//! plans a delivery late and leaves it unassigned instead. Each van starts at
//! the depot at its shift's start and must be back by its end.

use std::sync::Arc;

use vrp_core::construction::features::create_minimize_tours_feature;
use vrp_core::models::common::{MultiDimLoad, TimeWindow};
use vrp_core::models::problem::VehicleIdDimension;
use vrp_core::prelude::*;
use vrp_core::rosomaxa::utils::{Parallelism, TimeQuota};
use waybill_shared::geo::Geo;
use waybill_shared::plan::day::Load;

use crate::eval::Plan;
use crate::{Day, VrpGoal};

/// Solves `day` for `seconds` of wall time: the plan and vrp-core's own
/// cost of it (the distance in metres).
pub fn solve(day: &Day, seconds: usize, goal: VrpGoal) -> GenericResult<(Plan, f64)> {
    // Deliveries without coordinates cannot be planned; none of a generated
    // day's lack them.
    let planned: Vec<(usize, Geo)> =
        day.deliveries.iter().enumerate().filter_map(|(i, d)| d.address.geo.map(|g| (i, g))).collect();
    let mut plan = Plan {
        unassigned: day
            .deliveries
            .iter()
            .enumerate()
            .filter(|(_, d)| d.address.geo.is_none())
            .map(|(i, _)| i)
            .collect(),
        ..Plan::default()
    };
    // Location of each planned delivery: 1 + its place in `planned`.
    let points: Vec<Geo> = std::iter::once(day.depot).chain(planned.iter().map(|&(_, g)| g)).collect();
    let distances: Vec<f64> =
        points.iter().flat_map(|a| points.iter().map(move |b| a.distance_m(b) * day.travel.detour)).collect();
    let durations = distances.iter().map(|m| m / day.travel.metres_per_s).collect();
    let transport: Arc<dyn TransportCost> = Arc::new(SimpleTransportCost::new(durations, distances)?);

    let mut features = vec![MinimizeUnassignedBuilder::new("min-unassigned").build()?];
    if goal == VrpGoal::Tours {
        features.push(create_minimize_tours_feature("min-tours")?);
    }
    features.push(
        TransportFeatureBuilder::new("min-distance")
            .set_transport_cost(transport.clone())
            .set_time_constrained(true)
            .build_minimize_distance()?,
    );
    features.push(CapacityFeatureBuilder::<MultiDimLoad>::new("capacity").build()?);
    let goal = GoalContextBuilder::with_features(&features)?.build()?;

    let jobs = planned
        .iter()
        .enumerate()
        .map(|(k, &(i, _))| {
            let d = &day.deliveries[i];
            let demand = Demand {
                delivery: (demand(d.load)?, MultiDimLoad::default()),
                ..Demand::<MultiDimLoad>::default()
            };
            let mut job = SingleBuilder::default()
                .id(&format!("d{i}"))
                .demand(demand)
                .location(1 + k)?
                .duration(f64::from(d.service_s))?;
            if let Some(slot) = d.slot {
                job = job.times(vec![TimeWindow::new(f64::from(slot.from_s), f64::from(slot.to_s))])?;
            }
            job.build_as_job()
        })
        .collect::<GenericResult<Vec<Job>>>()?;
    let vehicles = day
        .vans
        .iter()
        .enumerate()
        .map(|(v, van)| {
            VehicleBuilder::default()
                .id(&v.to_string())
                .add_detail(
                    VehicleDetailBuilder::default()
                        .set_start_location(0)
                        .set_start_time(f64::from(van.shift.from_s))
                        .set_end_location(0)
                        .set_end_time(f64::from(van.shift.to_s))
                        .build()?,
                )
                .capacity(demand(van.capacity)?)
                .build()
        })
        .collect::<GenericResult<Vec<Vehicle>>>()?;
    let quiet: InfoLogger = Arc::new(|_: &str| {});
    let problem = Arc::new(
        ProblemBuilder::default()
            .add_jobs(jobs.into_iter())
            .add_vehicles(vehicles.into_iter())
            .with_goal(goal)
            .with_transport_cost(transport)
            .with_logger(quiet.clone())
            .build()?,
    );

    let environment = Arc::new(Environment::new(
        Arc::new(DefaultRandom::new_repeatable()),
        Some(Arc::new(TimeQuota::new(seconds as Float))),
        Parallelism::default(),
        quiet,
        false,
    ));
    let config = VrpConfigBuilder::new(problem.clone())
        .set_environment(environment)
        .prebuild()?
        .with_max_time(Some(seconds))
        .build()?;
    let solution = Solver::new(problem, config).solve()?;

    // Location 1 + k is planned[k].
    let delivery = |location: usize| location.checked_sub(1).and_then(|k| planned.get(k)).map(|&(i, _)| i);
    for route in &solution.routes {
        let van = route
            .actor
            .vehicle
            .dimens
            .get_vehicle_id()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| GenericError::from("a route's vehicle has no id of ours"))?;
        let stops = route
            .tour
            .all_activities()
            .filter(|a| a.job.is_some())
            .filter_map(|a| delivery(a.place.location));
        plan.routes.push((van, stops.collect()));
    }
    for (job, _) in &solution.unassigned {
        plan.unassigned.extend(job.places().filter_map(|p| p.location).filter_map(delivery));
    }
    Ok((plan, solution.cost))
}

/// A load as vrp-core's demand or capacity: grams, cm³, packages.
fn demand(load: Load) -> GenericResult<MultiDimLoad> {
    let measure =
        |v: u32| i32::try_from(v).map_err(|_| GenericError::from(format!("a load of {v} overflows i32")));
    Ok(MultiDimLoad::new(vec![measure(load.weight_g)?, measure(load.volume_cm3)?, measure(load.packages)?]))
}
