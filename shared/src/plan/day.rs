//! A day's routes under what dispatchers plan around: each order's promised
//! slot, each van's capacity in weight, volume and packages, the time spent
//! at each stop, and each driver's shift.
//!
//! In: the depot, the vans (capacity and shift), the deliveries (an address
//! with coordinates, a load, an optional slot, a service time) and how fast
//! vans travel. Out: a [`DayPlan`]: a route for each van that has work, its
//! stops in driving order with the planned arrival and lateness at each, and
//! the deliveries no van can take, each with why.
//!
//! Times are seconds after midnight of the route's day, depot time.
//!
//! Rules:
//! - Capacity and the shift are hard: a van never carries more than it
//!   holds or makes more stops than its most, leaves no earlier than its
//!   shift starts and is back at the depot by the end of it. A delivery that
//!   fits no van is left out, never squeezed in.
//! - Slots are soft: a van sets off from the depot in time for its first
//!   stop's slot, and waits when early for a later one (each second of
//!   waiting costs [`WAIT_COST_M_PER_S`] metres of driving); a van that
//!   arrives after a slot is late, and each second late costs as much as
//!   [`LATE_COST_M_PER_S`] metres, so a plan is late only where every other
//!   order of stops is much longer.
//! - Travel is the great-circle distance times [`Travel::detour`] (roads are
//!   not straight lines), at [`Travel::metres_per_s`].
//! - Deliveries to equal addresses with equal slots are one stop, as long
//!   as it fits a van; their loads and service times add up.
//!
//! Method (deterministic: the same input gives the same plan): regret
//! insertion builds the routes (the delivery that would lose most by not
//! going on its best van goes first, into its cheapest position there);
//! ruin and recreate then takes a stop and its nearest neighbours off their
//! routes and inserts them again the same way, round after round from a
//! fixed seed, keeping the best plan; last, local search improves it while a
//! move lowers the cost: 2-opt within a route, and moving one stop to its
//! cheapest position on any route.
//!
//! On the road: [`insert`] puts a new delivery (or another try of a failed
//! one, given a slot later in the day) into what is left of a running route,
//! from where the van is now, without moving the stops already done or
//! reordering the rest.

use serde::{Deserialize, Serialize};

use crate::doc::order::Address;
use crate::doc::route::Stop;
use crate::geo::Geo;
use crate::id::OrderId;

/// What one second late costs, in metres of driving: a minute late weighs
/// as much as 3 km.
pub const LATE_COST_M_PER_S: f64 = 50.0;
/// What one second spent waiting for a slot to open costs, in metres of
/// driving: ten minutes' wait weighs as much as 600 m.
pub const WAIT_COST_M_PER_S: f64 = 1.0;

/// What a delivery weighs and takes up, or what a van holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Load {
    /// Grams.
    pub weight_g: u32,
    /// Cubic centimetres.
    pub volume_cm3: u32,
    /// Packages.
    pub packages: u32,
}

impl Load {
    /// Both loads together (saturating).
    pub fn plus(self, other: Load) -> Load {
        Load {
            weight_g: self.weight_g.saturating_add(other.weight_g),
            volume_cm3: self.volume_cm3.saturating_add(other.volume_cm3),
            packages: self.packages.saturating_add(other.packages),
        }
    }

    /// Whether this load fits in `capacity`, in every measure.
    pub fn fits(&self, capacity: &Load) -> bool {
        self.weight_g <= capacity.weight_g
            && self.volume_cm3 <= capacity.volume_cm3
            && self.packages <= capacity.packages
    }
}

/// A span of the day, in seconds after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Window {
    /// The first second.
    pub from_s: u32,
    /// The last second.
    pub to_s: u32,
}

/// A van and its driver's shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Van {
    /// What it holds.
    pub capacity: Load,
    /// When it may leave the depot and when it must be back.
    pub shift: Window,
    /// The most stops it makes (of a running route: still to make).
    pub max_stops: u32,
}

/// An order to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The order.
    pub order: OrderId,
    /// Where it goes; planning needs its coordinates.
    pub address: Address,
    /// What it weighs and takes up.
    pub load: Load,
    /// The slot promised to the customer, if any.
    pub slot: Option<Window>,
    /// Seconds spent at the door.
    pub service_s: u32,
}

/// How vans travel between two points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Travel {
    /// Average speed, metres per second.
    pub metres_per_s: f64,
    /// Road distance over great-circle distance.
    pub detour: f64,
}

impl Default for Travel {
    /// 25 km/h through town, roads a third longer than the straight line.
    fn default() -> Self {
        Travel { metres_per_s: 25_000.0 / 3_600.0, detour: 1.33 }
    }
}

/// When a van is at a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StopTime {
    /// Arrival.
    pub arrive_s: u32,
    /// Work starts (after waiting for the slot, if early).
    pub start_s: u32,
    /// Seconds after the slot's end that work starts; 0 when on time.
    pub late_s: u32,
}

/// One van's route.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VanRoute {
    /// The van, by its index in the input.
    pub van: usize,
    /// Stops in driving order, numbered from 1.
    pub stops: Vec<Stop>,
    /// When the van is at each stop, beside `stops`.
    pub times: Vec<StopTime>,
    /// Road metres from the depot round every stop and back.
    pub distance_m: f64,
    /// Seconds late, over every stop.
    pub late_s: u64,
    /// When the van leaves the depot.
    pub leave_s: u32,
    /// When the van is back at the depot.
    pub back_s: u32,
    /// What the van carries out.
    pub load: Load,
}

/// Why a delivery is on no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Unfit {
    /// Its address has no coordinates.
    #[error("its address has no coordinates")]
    NoCoordinates,
    /// It is bigger than any van holds on its own.
    #[error("it is heavier, bulkier or has more packages than any van holds")]
    TooBig,
    /// No van has the room or the time left for it within its shift.
    #[error("no van has the room or the time left for it within its shift")]
    NoRoom,
}

/// A delivery left out of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unassigned {
    /// The order.
    pub order: OrderId,
    /// Why.
    pub reason: Unfit,
}

/// Routes for a day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayPlan {
    /// A route per van with work, by van index.
    pub routes: Vec<VanRoute>,
    /// Deliveries no van takes.
    pub unassigned: Vec<Unassigned>,
}

/// The part of a route still to drive.
#[derive(Debug, Clone, Copy)]
pub struct Running<'a> {
    /// The van.
    pub van: &'a Van,
    /// Where it is now.
    pub at: Geo,
    /// The time now (the shift's start, if that is later).
    pub now_s: u32,
    /// Deliveries not done yet, in the order they are planned.
    pub left: &'a [Delivery],
}

/// What is left of a running route, with a delivery inserted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sequence {
    /// Indices of the deliveries in driving order (into `left`, and
    /// `left.len()` for a delivery [`insert`]ed).
    pub order: Vec<usize>,
    /// When the van is at each, beside `order`.
    pub times: Vec<StopTime>,
    /// Road metres from where the van is round the rest and back.
    pub distance_m: f64,
    /// Seconds late, over the rest.
    pub late_s: u64,
    /// When the van is back at the depot.
    pub back_s: u32,
}

/// Seconds after midnight as a time of day (the last second of the day at
/// most): how the plan's times read on the depot's clock.
pub fn clock(s: u32) -> chrono::NaiveTime {
    chrono::NaiveTime::from_num_seconds_from_midnight_opt(s.min(86_399), 0).unwrap_or(chrono::NaiveTime::MIN)
}

/// The routes of a day: every delivery that fits goes on a van.
pub fn plan_day(depot: Geo, vans: &[Van], deliveries: &[Delivery], travel: &Travel) -> DayPlan {
    let (jobs, mut unassigned) = group(deliveries, vans);
    let net = Net::new(depot, None, &jobs, travel);
    let legs: Vec<Leg> = vans.iter().map(Leg::from_depot).collect();
    let (mut routes, mut stuck) = construct(&net, &legs, &jobs);
    search(&net, &legs, &jobs, &mut routes, &mut stuck);
    improve(&net, &legs, &jobs, &mut routes);
    for j in stuck {
        for &d in &jobs[j].deliveries {
            unassigned.push(Unassigned { order: deliveries[d].order.clone(), reason: Unfit::NoRoom });
        }
    }
    unassigned.sort_by_key(|u| deliveries.iter().position(|d| d.order == u.order));
    let routes = routes
        .iter()
        .enumerate()
        .filter(|(_, route)| !route.is_empty())
        .map(|(v, route)| {
            let mut times = Vec::with_capacity(route.len());
            let eval = net.walk(&legs[v], &jobs, route, Some(&mut times));
            let stops = route
                .iter()
                .enumerate()
                .map(|(n, &j)| Stop {
                    seq: n as u32 + 1,
                    orders: jobs[j].deliveries.iter().map(|&d| deliveries[d].order.clone()).collect(),
                    address: deliveries[jobs[j].deliveries[0]].address.clone(),
                    planned: times.get(n).map(|t| clock(t.start_s)),
                })
                .collect();
            VanRoute {
                van: v,
                stops,
                times,
                distance_m: eval.distance_m,
                late_s: eval.late_s.round() as u64,
                leave_s: eval.leave_s.round() as u32,
                back_s: eval.back_s.round() as u32,
                load: eval.load,
            }
        })
        .collect();
    DayPlan { routes, unassigned }
}

/// Where `new` goes in what is left of `running`, the stops already done
/// and the order of the rest untouched: the cheapest position that keeps the
/// van within its capacity and shift.
pub fn insert(depot: Geo, running: &Running, travel: &Travel, new: &Delivery) -> Result<Sequence, Unfit> {
    let all: Vec<Delivery> = running.left.iter().chain(std::iter::once(new)).cloned().collect();
    let jobs = singles(&all)?;
    if !new.load.fits(&running.van.capacity) {
        return Err(Unfit::TooBig);
    }
    let net = Net::new(depot, Some(running.at), &jobs, travel);
    let leg = Leg::from_here(running);
    let route: Vec<usize> = (0..running.left.len()).collect();
    let (_, position) = net.best_insertion(&leg, &jobs, &route, running.left.len()).ok_or(Unfit::NoRoom)?;
    let mut order = route;
    order.insert(position, running.left.len());
    Ok(sequence(&net, &leg, &jobs, order))
}

fn sequence(net: &Net, leg: &Leg, jobs: &[Job], order: Vec<usize>) -> Sequence {
    let mut times = Vec::with_capacity(order.len());
    let eval = net.walk(leg, jobs, &order, Some(&mut times));
    Sequence {
        order,
        times,
        distance_m: eval.distance_m,
        late_s: eval.late_s.round() as u64,
        back_s: eval.back_s.round() as u32,
    }
}

/// One stop to plan: deliveries at one point and slot.
#[derive(Debug, Clone)]
struct Job {
    /// Indices of its deliveries.
    deliveries: Vec<usize>,
    /// Its node in the [`Net`].
    node: usize,
    point: Geo,
    load: Load,
    slot: Option<Window>,
    service_s: u32,
}

/// Deliveries as jobs, grouped by address and slot; those that cannot be
/// planned at all are unassigned.
fn group(deliveries: &[Delivery], vans: &[Van]) -> (Vec<Job>, Vec<Unassigned>) {
    let mut jobs: Vec<Job> = Vec::new();
    let mut unassigned = Vec::new();
    for (i, d) in deliveries.iter().enumerate() {
        let Some(point) = d.address.geo else {
            unassigned.push(Unassigned { order: d.order.clone(), reason: Unfit::NoCoordinates });
            continue;
        };
        if !vans.iter().any(|v| d.load.fits(&v.capacity)) {
            unassigned.push(Unassigned { order: d.order.clone(), reason: Unfit::TooBig });
            continue;
        }
        // Merged while the stop still fits a van: else each order could
        // fit alone and the two together none.
        let same = jobs.iter_mut().find(|j| {
            let first = &deliveries[j.deliveries[0]];
            first.address == d.address
                && first.slot == d.slot
                && vans.iter().any(|v| j.load.plus(d.load).fits(&v.capacity))
        });
        match same {
            Some(job) => {
                job.deliveries.push(i);
                job.load = job.load.plus(d.load);
                job.service_s = job.service_s.saturating_add(d.service_s);
            }
            None => jobs.push(Job {
                deliveries: vec![i],
                node: FIRST_JOB_NODE + jobs.len(),
                point,
                load: d.load,
                slot: d.slot,
                service_s: d.service_s,
            }),
        }
    }
    (jobs, unassigned)
}

/// Each delivery a job of its own (a running route's stops stay apart).
fn singles(deliveries: &[Delivery]) -> Result<Vec<Job>, Unfit> {
    deliveries
        .iter()
        .enumerate()
        .map(|(i, d)| {
            Ok(Job {
                deliveries: vec![i],
                node: FIRST_JOB_NODE + i,
                point: d.address.geo.ok_or(Unfit::NoCoordinates)?,
                load: d.load,
                slot: d.slot,
                service_s: d.service_s,
            })
        })
        .collect()
}

/// Node 0 is the depot, node 1 where a running van is (the depot again when
/// planning a day), then one node per job.
const DEPOT_NODE: usize = 0;
const HERE_NODE: usize = 1;
const FIRST_JOB_NODE: usize = 2;

/// Road distances between every pair of nodes.
struct Net {
    size: usize,
    metres: Vec<f64>,
    metres_per_s: f64,
}

impl Net {
    fn new(depot: Geo, here: Option<Geo>, jobs: &[Job], travel: &Travel) -> Net {
        let points: Vec<Geo> =
            [depot, here.unwrap_or(depot)].into_iter().chain(jobs.iter().map(|j| j.point)).collect();
        let size = points.len();
        let metres =
            points.iter().flat_map(|a| points.iter().map(move |b| a.distance_m(b) * travel.detour)).collect();
        Net { size, metres, metres_per_s: travel.metres_per_s }
    }

    fn metres(&self, from: usize, to: usize) -> f64 {
        self.metres[from * self.size + to]
    }

    /// A van starting as `leg` says through `route` (job indices) and
    /// back to the depot; the time at each stop goes to `times`.
    fn walk(&self, leg: &Leg, jobs: &[Job], route: &[usize], mut times: Option<&mut Vec<StopTime>>) -> Eval {
        let mut eval = Eval::default();
        let mut at = leg.start;
        let mut t = f64::from(leg.start_s);
        // From the depot, the van sets off in time for its first stop's slot,
        // not at the start of the shift to wait at the door.
        if let (DEPOT_NODE, Some(slot)) = (leg.start, route.first().and_then(|&j| jobs[j].slot)) {
            t = t.max(
                f64::from(slot.from_s) - self.metres(DEPOT_NODE, jobs[route[0]].node) / self.metres_per_s,
            );
        }
        eval.leave_s = t;
        for &j in route {
            let job = &jobs[j];
            let d = self.metres(at, job.node);
            eval.distance_m += d;
            t += d / self.metres_per_s;
            let arrive = t;
            let (start, late) = match job.slot {
                Some(slot) => {
                    let start = arrive.max(f64::from(slot.from_s));
                    (start, (start - f64::from(slot.to_s)).max(0.0))
                }
                None => (arrive, 0.0),
            };
            eval.late_s += late;
            eval.wait_s += start - arrive;
            if let Some(times) = times.as_deref_mut() {
                times.push(StopTime {
                    arrive_s: arrive.round() as u32,
                    start_s: start.round() as u32,
                    late_s: late.round() as u32,
                });
            }
            t = start + f64::from(job.service_s);
            eval.load = eval.load.plus(job.load);
            at = job.node;
        }
        let d = self.metres(at, DEPOT_NODE);
        eval.distance_m += d;
        eval.back_s = t + d / self.metres_per_s;
        eval.overtime_s = (eval.back_s - f64::from(leg.end_by_s)).max(0.0);
        eval.feasible =
            eval.load.fits(&leg.capacity) && eval.overtime_s == 0.0 && route.len() <= leg.max_stops as usize;
        eval
    }

    /// What `route` costs: its [`Eval::price`], and far more for breaking capacity or shift
    /// (so no improvement breaks them, and one that breaks them less wins).
    fn cost(&self, leg: &Leg, jobs: &[Job], route: &[usize]) -> f64 {
        let eval = self.walk(leg, jobs, route, None);
        let breach = if eval.feasible { 0.0 } else { BREACH + BREACH_PER_S * eval.overtime_s };
        eval.price() + breach
    }

    /// The cheapest place for `job` in `route` that keeps within capacity
    /// and shift: the added cost and the position.
    fn best_insertion(&self, leg: &Leg, jobs: &[Job], route: &[usize], job: usize) -> Option<(f64, usize)> {
        if !jobs[job].load.fits(&leg.capacity) {
            return None;
        }
        let before = self.cost(leg, jobs, route);
        let mut trial = Vec::with_capacity(route.len() + 1);
        let mut best: Option<(f64, usize)> = None;
        for position in 0..=route.len() {
            trial.clear();
            trial.extend_from_slice(&route[..position]);
            trial.push(job);
            trial.extend_from_slice(&route[position..]);
            let eval = self.walk(leg, jobs, &trial, None);
            if !eval.feasible {
                continue;
            }
            let delta = eval.price() - before;
            if best.is_none_or(|(b, _)| delta < b) {
                best = Some((delta, position));
            }
        }
        best
    }
}

/// Costs added for a route that breaks its van's capacity or shift: more
/// than any day's driving, and more the longer the overtime.
const BREACH: f64 = 1e12;
const BREACH_PER_S: f64 = 1e6;
/// Improvements smaller than this are float noise, not taken.
const EPSILON: f64 = 1e-6;
/// A guard on local search passes; each pass that changes a route lowers
/// the cost.
const MAX_PASSES: usize = 200;

/// Where a route starts, when, and what bounds it.
struct Leg {
    start: usize,
    start_s: u32,
    end_by_s: u32,
    capacity: Load,
    max_stops: u32,
}

impl Leg {
    fn from_depot(van: &Van) -> Leg {
        Leg {
            start: DEPOT_NODE,
            start_s: van.shift.from_s,
            end_by_s: van.shift.to_s,
            capacity: van.capacity,
            max_stops: van.max_stops,
        }
    }

    fn from_here(running: &Running) -> Leg {
        Leg {
            start: HERE_NODE,
            start_s: running.now_s.max(running.van.shift.from_s),
            end_by_s: running.van.shift.to_s,
            capacity: running.van.capacity,
            max_stops: running.van.max_stops,
        }
    }
}

/// A route walked.
#[derive(Debug, Default)]
struct Eval {
    distance_m: f64,
    late_s: f64,
    wait_s: f64,
    leave_s: f64,
    back_s: f64,
    overtime_s: f64,
    load: Load,
    feasible: bool,
}

impl Eval {
    /// Metres, and seconds late and waiting weighed as metres.
    fn price(&self) -> f64 {
        self.distance_m + LATE_COST_M_PER_S * self.late_s + WAIT_COST_M_PER_S * self.wait_s
    }
}

/// Regret insertion into empty routes: routes (job indices per leg) and
/// the jobs no leg can take.
fn construct(net: &Net, legs: &[Leg], jobs: &[Job]) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut routes: Vec<Vec<usize>> = vec![Vec::new(); legs.len()];
    let mut touched = vec![false; legs.len()];
    let stuck = recreate(net, legs, jobs, &mut routes, (0..jobs.len()).collect(), &mut touched);
    (routes, stuck)
}

/// Regret insertion of the `open` jobs into `routes`, marking the routes
/// it changes in `touched`: the jobs no route can take, in order.
fn recreate(
    net: &Net,
    legs: &[Leg],
    jobs: &[Job],
    routes: &mut [Vec<usize>],
    mut open: Vec<usize>,
    touched: &mut [bool],
) -> Vec<usize> {
    let mut stuck = Vec::new();
    // The cheapest place of each open job on each route, by job index.
    let mut best: Vec<Vec<Option<(f64, usize)>>> = vec![Vec::new(); jobs.len()];
    for &j in &open {
        best[j] = legs
            .iter()
            .zip(routes.iter())
            .map(|(leg, route)| net.best_insertion(leg, jobs, route, j))
            .collect();
    }
    while !open.is_empty() {
        // (job, regret, cost, route, position) of the job to place next.
        let mut pick: Option<(usize, f64, f64, usize, usize)> = None;
        for &j in &open {
            let mut first: Option<(f64, usize, usize)> = None;
            let mut second = f64::INFINITY;
            for (r, option) in best[j].iter().enumerate() {
                let Some((cost, position)) = *option else { continue };
                match first {
                    Some((f, ..)) if cost >= f => second = second.min(cost),
                    _ => {
                        if let Some((f, ..)) = first {
                            second = f;
                        }
                        first = Some((cost, r, position));
                    }
                }
            }
            let Some((cost, r, position)) = first else {
                // Routes only grow while inserting: it will not fit later.
                stuck.push(j);
                continue;
            };
            let regret = second - cost;
            let better = pick.is_none_or(|(_, pr, pc, ..)| regret > pr || (regret == pr && cost > pc));
            if better {
                pick = Some((j, regret, cost, r, position));
            }
        }
        open.retain(|j| !stuck.contains(j));
        let Some((j, _, _, r, position)) = pick else { break };
        open.retain(|&o| o != j);
        routes[r].insert(position, j);
        touched[r] = true;
        for &o in &open {
            best[o][r] = net.best_insertion(&legs[r], jobs, &routes[r], o);
        }
    }
    stuck.sort_unstable();
    stuck
}

/// Rounds of ruin and recreate per job, and at most.
const ROUNDS_PER_JOB: usize = 3;
const MAX_ROUNDS: usize = 1_500;
/// The most jobs one round takes out.
const MAX_RUIN: usize = 30;
/// How much worse than the best plan so far (as a share of its cost) a
/// round's plan may be and still be carried on from, at the start; this
/// narrows to nothing by the last round.
const DEVIATION: f64 = 0.02;

/// Ruin and recreate (large neighbourhood search): each round takes a job
/// and its nearest neighbours off their routes, inserts them again by
/// regret and untangles the routes it changed by 2-opt; a round's plan is
/// carried on from while it is close to the best so far (record-to-record
/// travel), and the best is kept. The rounds' choices come from a fixed
/// seed, so the search is the same for the same input.
fn search(net: &Net, legs: &[Leg], jobs: &[Job], routes: &mut Vec<Vec<usize>>, stuck: &mut Vec<usize>) {
    let n = jobs.len();
    if n < 3 {
        return;
    }
    let near: Vec<Vec<usize>> = (0..n)
        .map(|a| {
            let metres = |b: usize| net.metres(jobs[a].node, jobs[b].node);
            let mut others: Vec<usize> = (0..n).filter(|&b| b != a).collect();
            others.sort_by(|&x, &y| metres(x).total_cmp(&metres(y)).then(x.cmp(&y)));
            others.truncate(MAX_RUIN);
            others
        })
        .collect();
    let score = |routes: &[Vec<usize>], stuck: &[usize]| {
        (stuck.len(), legs.iter().zip(routes).map(|(leg, route)| net.cost(leg, jobs, route)).sum::<f64>())
    };
    let mut current = (routes.clone(), stuck.clone());
    let mut current_score = score(routes, stuck);
    let mut best_score = current_score;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let rounds = (n * ROUNDS_PER_JOB).min(MAX_ROUNDS);
    for round in 0..rounds {
        let seed = rng.below(n);
        let size = 2 + rng.below(MAX_RUIN.min(n / 4).max(1));
        let removed: Vec<usize> =
            std::iter::once(seed).chain(near[seed].iter().copied()).take(size).collect();
        let mut trial = current.0.clone();
        let mut touched = vec![false; legs.len()];
        for (route, t) in trial.iter_mut().zip(touched.iter_mut()) {
            let before = route.len();
            route.retain(|j| !removed.contains(j));
            *t = route.len() != before;
        }
        let mut open: Vec<usize> = current.1.iter().chain(&removed).copied().collect();
        open.sort_unstable();
        open.dedup();
        let trial_stuck = recreate(net, legs, jobs, &mut trial, open, &mut touched);
        for ((leg, route), _) in legs.iter().zip(trial.iter_mut()).zip(&touched).filter(|(_, t)| **t) {
            two_opt(net, leg, jobs, route);
        }
        let trial_score = score(&trial, &trial_stuck);
        let allowed = best_score.1 * (1.0 + DEVIATION * (1.0 - round as f64 / rounds as f64));
        let better_than = |a: (usize, f64), b: (usize, f64)| a.0 < b.0 || (a.0 == b.0 && a.1 < b.1 - EPSILON);
        if better_than(trial_score, current_score)
            || (trial_score.0 <= best_score.0 && trial_score.1 < allowed)
        {
            if better_than(trial_score, best_score) {
                *routes = trial.clone();
                *stuck = trial_stuck.clone();
                best_score = trial_score;
            }
            current = (trial, trial_stuck);
            current_score = trial_score;
        }
    }
}

/// A small deterministic generator for the search's choices (xorshift).
struct Rng(u64);

impl Rng {
    /// A number below `n` (at least 1).
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Local search: 2-opt within each route and moving single stops, while
/// either lowers the total cost.
fn improve(net: &Net, legs: &[Leg], jobs: &[Job], routes: &mut [Vec<usize>]) {
    for _ in 0..MAX_PASSES {
        let mut improved = false;
        for (leg, route) in legs.iter().zip(routes.iter_mut()) {
            improved |= two_opt(net, leg, jobs, route);
        }
        improved |= relocate(net, legs, jobs, routes);
        if !improved {
            break;
        }
    }
}

/// Reverses stretches of `route` while that lowers its cost.
fn two_opt(net: &Net, leg: &Leg, jobs: &[Job], route: &mut [usize]) -> bool {
    let mut cost = net.cost(leg, jobs, route);
    let mut improved = false;
    for i in 0..route.len() {
        for k in i + 1..route.len() {
            route[i..=k].reverse();
            let after = net.cost(leg, jobs, route);
            if after < cost - EPSILON {
                cost = after;
                improved = true;
            } else {
                route[i..=k].reverse();
            }
        }
    }
    improved
}

/// Moves single stops to their cheapest position on any route while that
/// lowers the total cost.
fn relocate(net: &Net, legs: &[Leg], jobs: &[Job], routes: &mut [Vec<usize>]) -> bool {
    let mut costs: Vec<f64> = legs.iter().zip(routes.iter()).map(|(l, r)| net.cost(l, jobs, r)).collect();
    let mut improved = false;
    let mut trial = Vec::new();
    for a in 0..routes.len() {
        let mut i = 0;
        while i < routes[a].len() {
            let j = routes[a][i];
            let mut without = routes[a].clone();
            without.remove(i);
            let left = net.cost(&legs[a], jobs, &without);
            let saved = costs[a] - left;
            // (added cost, route, position) of the best move.
            let mut best: Option<(f64, usize, usize)> = None;
            for b in 0..routes.len() {
                if !jobs[j].load.fits(&legs[b].capacity) {
                    continue;
                }
                let (base, base_cost) = if b == a { (&without, left) } else { (&routes[b], costs[b]) };
                for position in 0..=base.len() {
                    if b == a && position == i {
                        continue;
                    }
                    trial.clear();
                    trial.extend_from_slice(&base[..position]);
                    trial.push(j);
                    trial.extend_from_slice(&base[position..]);
                    let added = net.cost(&legs[b], jobs, &trial) - base_cost;
                    if added < saved - EPSILON && best.is_none_or(|(d, ..)| added < d) {
                        best = Some((added, b, position));
                    }
                }
            }
            match best {
                Some((_, b, position)) => {
                    routes[a].remove(i);
                    routes[b].insert(position, j);
                    costs[a] = net.cost(&legs[a], jobs, &routes[a]);
                    costs[b] = net.cost(&legs[b], jobs, &routes[b]);
                    improved = true;
                }
                None => i += 1,
            }
        }
    }
    improved
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    const DEPOT: (f64, f64) = (51.5, -0.1);
    const HOUR: u32 = 3_600;

    fn depot() -> Geo {
        Geo::new(DEPOT.0, DEPOT.1).unwrap()
    }

    /// About `east_km` east and `north_km` north of the depot.
    fn at(east_km: f64, north_km: f64) -> Geo {
        Geo::new(DEPOT.0 + north_km / 111.2, DEPOT.1 + east_km / (111.2 * DEPOT.0.to_radians().cos()))
            .unwrap()
    }

    fn delivery(n: usize, geo: Option<Geo>) -> Delivery {
        Delivery {
            order: format!("o{n}").parse().unwrap(),
            address: Address {
                name: "N".into(),
                line1: format!("{n} High St"),
                line2: String::new(),
                city: "London".into(),
                postcode: "N1".into(),
                country: "GB".into(),
                geo,
            },
            load: Load { weight_g: 2_000, volume_cm3: 10_000, packages: 1 },
            slot: None,
            service_s: 120,
        }
    }

    fn van(packages: u32, shift: (u32, u32)) -> Van {
        Van {
            capacity: Load { weight_g: 500_000, volume_cm3: 5_000_000, packages },
            shift: Window { from_s: shift.0, to_s: shift.1 },
            max_stops: 30,
        }
    }

    fn orders(route: &VanRoute) -> Vec<String> {
        route.stops.iter().flat_map(|s| s.orders.iter().map(|o| o.to_string())).collect()
    }

    #[test]
    fn every_van_carries_at_most_its_capacity() {
        let deliveries: Vec<Delivery> = (0..10).map(|n| delivery(n, Some(at(n as f64 * 0.3, 1.0)))).collect();
        let vans = [van(4, (8 * HOUR, 18 * HOUR)); 3];
        let plan = plan_day(depot(), &vans, &deliveries, &Travel::default());
        assert!(plan.unassigned.is_empty(), "{:?}", plan.unassigned);
        assert_eq!(plan.routes.iter().map(|r| r.load.packages).sum::<u32>(), 10);
        for route in &plan.routes {
            assert!(route.load.packages <= 4, "van {} carries {}", route.van, route.load.packages);
        }
    }

    #[test]
    fn what_no_van_can_take_is_left_out_with_why() {
        let mut big = delivery(0, Some(at(1.0, 1.0)));
        big.load.packages = 5;
        let far = delivery(1, Some(at(60.0, 0.0)));
        let nowhere = delivery(2, None);
        let near = delivery(3, Some(at(1.0, 0.0)));
        // Two hours: the 120 km round trip does not fit at 25 km/h.
        let vans = [van(4, (8 * HOUR, 10 * HOUR))];
        let plan = plan_day(depot(), &vans, &[big, far, nowhere, near], &Travel::default());
        let why: Vec<(String, Unfit)> =
            plan.unassigned.iter().map(|u| (u.order.to_string(), u.reason)).collect();
        assert_eq!(
            why,
            [("o0".into(), Unfit::TooBig), ("o1".into(), Unfit::NoRoom), ("o2".into(), Unfit::NoCoordinates)]
        );
        assert_eq!(orders(&plan.routes[0]), ["o3"]);
        assert!(plan.routes[0].back_s <= 10 * HOUR);
    }

    #[test]
    fn an_early_slot_is_driven_to_first() {
        let near = delivery(0, Some(at(1.0, 0.0)));
        let mut far = delivery(1, Some(at(5.0, 0.0)));
        let vans = [van(10, (8 * HOUR, 18 * HOUR))];
        let free = plan_day(depot(), &vans, &[near.clone(), far.clone()], &Travel::default());
        assert_eq!(orders(&free.routes[0]), ["o0", "o1"], "without slots, the nearest first");
        // Straight there takes 16 minutes; by the near stop, 18.
        far.slot = Some(Window { from_s: 8 * HOUR, to_s: 8 * HOUR + 17 * 60 });
        let slotted = plan_day(depot(), &vans, &[near, far], &Travel::default());
        let route = &slotted.routes[0];
        assert_eq!(orders(route), ["o1", "o0"]);
        assert_eq!(route.late_s, 0);
        assert!(route.times[0].start_s <= 8 * HOUR + 17 * 60);
    }

    #[test]
    fn a_van_sets_off_in_time_for_its_first_slot_and_waits_for_a_later_one() {
        let mut first = delivery(0, Some(at(1.0, 0.0)));
        first.slot = Some(Window { from_s: 10 * HOUR, to_s: 11 * HOUR });
        let mut second = delivery(1, Some(at(1.0, 0.2)));
        second.slot = Some(Window { from_s: 13 * HOUR, to_s: 14 * HOUR });
        let plan = plan_day(depot(), &[van(10, (8 * HOUR, 18 * HOUR))], &[first, second], &Travel::default());
        let route = &plan.routes[0];
        let drive = 10 * HOUR - route.leave_s;
        assert!(route.leave_s > 8 * HOUR && drive < 600, "leaves at {} to drive {drive} s", route.leave_s);
        assert_eq!((route.times[0].arrive_s, route.times[0].start_s), (10 * HOUR, 10 * HOUR));
        // Nearly there by 10:03; the second slot opens at 13:00.
        assert!(route.times[1].arrive_s < 11 * HOUR);
        assert_eq!(route.times[1].start_s, 13 * HOUR);
        assert_eq!(route.late_s, 0);
    }

    #[test]
    fn orders_to_one_address_and_slot_are_one_stop() {
        let a = delivery(0, Some(at(1.0, 0.0)));
        let mut b = a.clone();
        b.order = "o1".parse().unwrap();
        let plan = plan_day(depot(), &[van(10, (8 * HOUR, 18 * HOUR))], &[a, b], &Travel::default());
        assert_eq!(plan.routes[0].stops.len(), 1);
        assert_eq!(orders(&plan.routes[0]), ["o0", "o1"]);
        assert_eq!(plan.routes[0].load.packages, 2);
        // Together too big for a van, apart they fit two: two stops.
        let mut c = delivery(2, Some(at(1.0, 0.0)));
        c.address = plan.routes[0].stops[0].address.clone();
        c.load.packages = 3;
        let mut d = c.clone();
        d.order = "o3".parse().unwrap();
        let vans = [van(4, (8 * HOUR, 18 * HOUR)); 2];
        let plan = plan_day(depot(), &vans, &[c, d], &Travel::default());
        assert!(plan.unassigned.is_empty(), "{:?}", plan.unassigned);
        assert_eq!(plan.routes.iter().map(|r| r.stops.len()).sum::<usize>(), 2);
    }

    #[test]
    fn a_new_order_goes_between_the_stops_it_lies_between() {
        // A square round the depot; the new order lies on its second side.
        let corners = [(2.0, 0.0), (2.0, 2.0), (0.0, 2.0)];
        let left: Vec<Delivery> =
            corners.iter().enumerate().map(|(n, &(e, no))| delivery(n, Some(at(e, no)))).collect();
        let v = van(10, (8 * HOUR, 18 * HOUR));
        let running = Running { van: &v, at: at(1.0, 0.0), now_s: 9 * HOUR, left: &left };
        let new = delivery(9, Some(at(2.0, 1.0)));
        let seq = insert(depot(), &running, &Travel::default(), &new).unwrap();
        assert_eq!(seq.order, [0, 3, 1, 2], "the stops left keep their order; the new one fits between");
        assert!(seq.times[0].arrive_s > 9 * HOUR);
        // Before the shift starts, the van sets off when it does.
        let early = Running { now_s: 6 * HOUR, ..running };
        assert!(insert(depot(), &early, &Travel::default(), &new).unwrap().times[0].arrive_s > 8 * HOUR);
        let full = van(3, (8 * HOUR, 18 * HOUR));
        let running = Running { van: &full, ..running };
        assert_eq!(insert(depot(), &running, &Travel::default(), &new), Err(Unfit::NoRoom));
    }

    fn scenario() -> impl Strategy<Value = (Vec<Delivery>, Vec<Van>)> {
        let one = (-8.0..8.0f64, -8.0..8.0f64, 1..4u32, prop::option::of((8..16u32, 1..3u32)), 60..600u32);
        let vehicle = (3..15u32, 7..10u32, 4..11u32, 2..12u32);
        (prop::collection::vec(one, 0..25), prop::collection::vec(vehicle, 1..4)).prop_map(|(ds, vs)| {
            let deliveries = ds
                .into_iter()
                .enumerate()
                .map(|(n, (e, no, packages, slot, service_s))| Delivery {
                    load: Load { weight_g: packages * 1_000, volume_cm3: packages * 5_000, packages },
                    slot: slot
                        .map(|(from, hours)| Window { from_s: from * HOUR, to_s: (from + hours) * HOUR }),
                    service_s,
                    ..delivery(n, Some(at(e, no)))
                })
                .collect();
            let vans = vs
                .into_iter()
                .map(|(packages, start, hours, max_stops)| Van {
                    max_stops,
                    ..van(packages, (start * HOUR, (start + hours) * HOUR))
                })
                .collect();
            (deliveries, vans)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn every_order_is_planned_once_within_capacity_and_shift((deliveries, vans) in scenario()) {
            let plan = plan_day(depot(), &vans, &deliveries, &Travel::default());
            prop_assert_eq!(&plan, &plan_day(depot(), &vans, &deliveries, &Travel::default()));
            let mut seen: Vec<String> = plan.routes.iter().flat_map(orders).collect();
            seen.extend(plan.unassigned.iter().map(|u| u.order.to_string()));
            seen.sort();
            let mut all: Vec<String> = deliveries.iter().map(|d| d.order.to_string()).collect();
            all.sort();
            prop_assert_eq!(seen, all);
            for route in &plan.routes {
                let v = vans[route.van];
                prop_assert!(route.load.fits(&v.capacity));
                prop_assert!(route.stops.len() <= v.max_stops as usize);
                prop_assert!(route.back_s <= v.shift.to_s, "back at {} after {}", route.back_s, v.shift.to_s);
                prop_assert!(route.times.windows(2).all(|w| w[0].start_s <= w[1].arrive_s));
                // Each stop's lateness is rounded on its own.
                let late: u64 = route.times.iter().map(|t| u64::from(t.late_s)).sum();
                prop_assert!(route.late_s.abs_diff(late) <= route.times.len() as u64);
            }
        }
    }
}
