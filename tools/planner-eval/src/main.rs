//! Compares Waybill's day planner ([`waybill_shared::plan::day::plan_day`])
//! with the vrp-core solver on one generated day, and measures both plans
//! with one evaluator of our own ([`eval`]), independent of either planner.
//!
//! ```text
//! cargo run --release --manifest-path tools/planner-eval/Cargo.toml -- \
//!     [--seed N] [--stops 500] [--vans 10] [--vrp-seconds 30] [--vrp-goal tours|distance]
//! ```
//!
//! The day is generated from `--seed` (the same seed gives the same day):
//! a depot in town, deliveries within about 12 km of it (some in clusters,
//! a few orders to one address), about 40% of them with a two-hour slot
//! between 08:00 and 18:00, and vans on an 08:00-18:00 shift whose capacity
//! leaves little room (packages × 1.15 / vans) and no limit on stops.
//!
//! The two planners do not solve quite the same problem: our slots are soft
//! (late is allowed and penalised) while vrp-core's time windows are hard
//! (a delivery it cannot reach in its slot is left unassigned). Capacity
//! and the shift are hard in both. Both see the same road distances
//! (great-circle × detour) and times (distance / speed).
//!
//! A row of the markdown table is printed as soon as each planner is
//! measured. vrp-core runs for `--vrp-seconds` of wall time on every core
//! with its repeatable random generator, so its result still depends on
//! how many generations the machine gets through.

mod eval;
mod vrp;

use std::error::Error;
use std::time::Instant;

use waybill_shared::doc::order::Address;
use waybill_shared::geo::Geo;
use waybill_shared::id::OrderId;
use waybill_shared::plan::day::{Delivery, Load, Travel, Van, Window, plan_day};

use crate::eval::{Plan, Score};

const HOUR: u32 = 3_600;
const DEPOT: (f64, f64) = (51.5, -0.1);
/// Deliveries lie within this many km of the depot.
const RADIUS_KM: f64 = 12.0;
const SHIFT: Window = Window { from_s: 8 * HOUR, to_s: 18 * HOUR };

/// The day both planners plan.
pub struct Day {
    /// Where every van starts and ends.
    pub depot: Geo,
    /// The vans.
    pub vans: Vec<Van>,
    /// The deliveries.
    pub deliveries: Vec<Delivery>,
    /// How vans travel.
    pub travel: Travel,
}

/// Which objective vrp-core is given after "fewest unassigned".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrpGoal {
    /// Fewest tours, then least distance: vrp-core's usual default.
    Tours,
    /// Least distance only, as our planner aims for.
    Distance,
}

struct Args {
    seed: u64,
    stops: usize,
    vans: usize,
    vrp_seconds: usize,
    vrp_goal: VrpGoal,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { seed: 1, stops: 500, vans: 10, vrp_seconds: 30, vrp_goal: VrpGoal::Tours };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--seed" => args.seed = value.parse().map_err(bad)?,
            "--stops" => args.stops = value.parse().map_err(bad)?,
            "--vans" => args.vans = value.parse().map_err(bad)?,
            "--vrp-seconds" => args.vrp_seconds = value.parse().map_err(bad)?,
            "--vrp-goal" => {
                args.vrp_goal = match value.as_str() {
                    "tours" => VrpGoal::Tours,
                    "distance" => VrpGoal::Distance,
                    _ => return Err(format!("--vrp-goal {value}: expected tours or distance")),
                }
            }
            _ => {
                return Err(format!(
                    "unknown flag {flag}; usage: [--seed N] [--stops N] [--vans N] [--vrp-seconds N] \
                     [--vrp-goal tours|distance]"
                ));
            }
        }
    }
    if args.vans == 0 || args.stops == 0 {
        return Err("--stops and --vans must be at least 1".into());
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let day = generate(args.seed, args.stops, args.vans)?;
    print_summary(&day, args.seed);

    println!("{}", Score::HEADER);
    let started = Instant::now();
    let ours = plan_day(day.depot, &day.vans, &day.deliveries, &day.travel);
    let ours_s = started.elapsed().as_secs_f64();
    let ours_plan = Plan::from_day_plan(&day, &ours);
    let ours_score = eval::evaluate(&day, &ours_plan);
    println!("{}", ours_score.row("waybill plan_day (slots soft)", ours_s));
    // Our planner's own accounting, to check the evaluator against.
    let own_km: f64 = ours.routes.iter().map(|r| r.distance_m).sum::<f64>() / 1_000.0;
    let own_late_min: f64 = ours.routes.iter().map(|r| r.late_s as f64).sum::<f64>() / 60.0;

    let goal = match args.vrp_goal {
        VrpGoal::Tours => "min unassigned, tours, distance",
        VrpGoal::Distance => "min unassigned, distance",
    };
    let started = Instant::now();
    let solved = vrp::solve(&day, args.vrp_seconds, args.vrp_goal);
    let vrp_s = started.elapsed().as_secs_f64();
    let vrp_check = match solved {
        Ok((plan, cost)) => {
            let score = eval::evaluate(&day, &plan);
            println!("{}", score.row(&format!("vrp-core 1.25.0 ({goal}; windows hard)"), vrp_s));
            Some((score, cost))
        }
        Err(e) => {
            println!("| vrp-core 1.25.0 | failed after {vrp_s:.1} s: {e} |");
            None
        }
    };

    println!();
    println!(
        "check: plan_day reports {own_km:.2} km and {own_late_min:.1} min late; the evaluator measured \
         {:.2} km and {:.1} min",
        ours_score.distance_km, ours_score.late_min
    );
    if let Some((score, cost)) = vrp_check {
        println!(
            "check: vrp-core reports a distance cost of {:.2} km; the evaluator measured {:.2} km",
            cost / 1_000.0,
            score.distance_km
        );
    }
    Ok(())
}

fn print_summary(day: &Day, seed: u64) {
    let n = day.deliveries.len();
    let slotted = day.deliveries.iter().filter(|d| d.slot.is_some()).count();
    let packages: u32 = day.deliveries.iter().map(|d| d.load.packages).sum();
    let kg: f64 = day.deliveries.iter().map(|d| f64::from(d.load.weight_g)).sum::<f64>() / 1_000.0;
    let m3: f64 = day.deliveries.iter().map(|d| f64::from(d.load.volume_cm3)).sum::<f64>() / 1e6;
    let service_h: f64 = day.deliveries.iter().map(|d| f64::from(d.service_s)).sum::<f64>() / 3_600.0;
    let mut points: Vec<(Geo, Option<Window>)> =
        day.deliveries.iter().filter_map(|d| d.address.geo.map(|g| (g, d.slot))).collect();
    points.sort_by_key(|&(g, s)| (g, s.map(|w| (w.from_s, w.to_s))));
    points.dedup();
    let cap = day.vans.first().map(|v| v.capacity).unwrap_or_default();
    println!("## Day (seed {seed})");
    println!();
    println!(
        "- {n} deliveries at {} distinct address+slot stops, within {RADIUS_KM} km of the depot ({}, {})",
        points.len(),
        day.depot.lat(),
        day.depot.lon()
    );
    println!(
        "- {slotted} ({:.0}%) with a 2-hour slot between 08:00 and 18:00",
        100.0 * slotted as f64 / n as f64
    );
    println!("- load: {packages} packages, {kg:.0} kg, {m3:.1} m³; service {service_h:.1} h in all");
    println!(
        "- {} vans, shift {}-{}, each holding {} packages, {:.0} kg, {:.2} m³",
        day.vans.len(),
        clock(f64::from(SHIFT.from_s)),
        clock(f64::from(SHIFT.to_s)),
        cap.packages,
        f64::from(cap.weight_g) / 1_000.0,
        f64::from(cap.volume_cm3) / 1e6
    );
    println!(
        "- travel: {:.0} km/h, road = great-circle × {}",
        day.travel.metres_per_s * 3.6,
        day.travel.detour
    );
    println!();
}

/// `s` seconds after midnight as HH:MM.
pub fn clock(s: f64) -> String {
    let m = (s / 60.0).round() as u64;
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// The day for `seed`.
fn generate(seed: u64, stops: usize, vans: usize) -> Result<Day, Box<dyn Error>> {
    let mut rng = SplitMix64(seed);
    let depot = Geo::new(DEPOT.0, DEPOT.1)?;
    // Centres of clusters (estates, high streets), 2-10 km out.
    let clusters: Vec<(f64, f64)> = (0..6)
        .map(|_| {
            let (r, a) = (rng.range_f64(2.0, 10.0), rng.range_f64(0.0, std::f64::consts::TAU));
            (r * a.cos(), r * a.sin())
        })
        .collect();
    let mut deliveries: Vec<Delivery> = Vec::with_capacity(stops);
    for n in 0..stops {
        let order = OrderId::new(format!("SO-{n:05}"))?;
        let load = {
            let packages = rng.range_u32(1, 3);
            let (mut weight_g, mut volume_cm3) = (0, 0);
            for _ in 0..packages {
                weight_g += rng.range_u32(500, 15_000);
                volume_cm3 += rng.range_u32(2_000, 40_000);
            }
            Load { weight_g, volume_cm3, packages }
        };
        let service_s = rng.range_u32(120, 300);
        // A few orders go to the address (and slot) of an earlier one.
        if let Some(earlier) = deliveries.last().filter(|_| rng.next_f64() < 0.03) {
            let (address, slot) = (earlier.address.clone(), earlier.slot);
            deliveries.push(Delivery { order, address, load, slot, service_s });
            continue;
        }
        let (east, north) = if rng.next_f64() < 0.4 {
            let (cx, cy) = clusters[rng.range_u32(0, clusters.len() as u32 - 1) as usize];
            (cx + 0.6 * rng.normal(), cy + 0.6 * rng.normal())
        } else {
            // Uniform over the disc.
            let (r, a) = (RADIUS_KM * rng.next_f64().sqrt(), rng.range_f64(0.0, std::f64::consts::TAU));
            (r * a.cos(), r * a.sin())
        };
        let geo = Geo::new(DEPOT.0 + north / 111.2, DEPOT.1 + east / (111.2 * DEPOT.0.to_radians().cos()))?;
        let slot = (rng.next_f64() < 0.4).then(|| {
            // Starts on the half hour, 08:00 to 16:00.
            let from_s = SHIFT.from_s + rng.range_u32(0, 16) * HOUR / 2;
            Window { from_s, to_s: from_s + 2 * HOUR }
        });
        let address = Address {
            name: format!("Customer {n}"),
            line1: format!("{} Test Road", n + 1),
            line2: String::new(),
            city: "London".into(),
            postcode: "N1".into(),
            country: "GB".into(),
            geo: Some(geo),
        };
        deliveries.push(Delivery { order, address, load, slot, service_s });
    }
    let total = deliveries.iter().fold([0u64; 3], |t, d| {
        [
            t[0] + u64::from(d.load.weight_g),
            t[1] + u64::from(d.load.volume_cm3),
            t[2] + u64::from(d.load.packages),
        ]
    });
    let share = |sum: u64, slack: f64| -> Result<u32, Box<dyn Error>> {
        Ok(u32::try_from((sum as f64 * slack / vans as f64).ceil() as u64)?)
    };
    let capacity = Load {
        weight_g: share(total[0], 1.25)?,
        volume_cm3: share(total[1], 1.25)?,
        packages: share(total[2], 1.15)?,
    };
    // No limit on stops: the brief's day bounds vans by capacity and shift only.
    let max_stops = u32::try_from(stops)?;
    let vans = vec![Van { capacity, shift: SHIFT, max_stops }; vans];
    Ok(Day { depot, vans, deliveries, travel: Travel::default() })
}

/// A small seeded generator (SplitMix64): the day depends on the seed only.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range_f64(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }

    /// Uniform in `lo..=hi`.
    fn range_u32(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next_u64() % u64::from(hi - lo + 1)) as u32
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.next_f64();
        let v = self.next_f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}
