//! When a van should reach a stop: a window the customer is shown, worked
//! out from the route's planned sequence and how far the run has got.
//!
//! The van is taken to be at the last stop it finished (or the first stop
//! of the run, before any), at the time of its latest event on the route,
//! or now if that is later: a van late on its plan pushes every window
//! after it. From there it drives to each unfinished stop in sequence at
//! [`SPEED_KMH`] over the great-circle distance, stopping [`SERVICE`] at
//! each. The window opens [`EARLY`] before that estimate and closes
//! [`LATE`] after it, plus [`LATE_PER_STOP`] for each stop still ahead, as
//! every stop adds uncertainty.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::fold::route::{RouteView, StopState};
use crate::geo::Geo;

/// The average speed between stops, in km/h: town driving.
pub const SPEED_KMH: f64 = 30.0;

/// The time spent at each stop.
pub const SERVICE: Duration = Duration::minutes(5);

/// How long before the estimate the window opens.
pub const EARLY: Duration = Duration::minutes(15);

/// How long after the estimate the window closes, at least.
pub const LATE: Duration = Duration::minutes(30);

/// How much later the window closes for each stop ahead of this one.
pub const LATE_PER_STOP: Duration = Duration::minutes(3);

/// When the van should arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EtaWindow {
    /// Not before.
    pub from: DateTime<Utc>,
    /// Not after.
    pub to: DateTime<Utc>,
    /// Stops the van makes before this one.
    pub stops_before: usize,
}

/// The window in which `route`'s van should reach stop `seq`, judged at
/// `now` with its latest event on the route at `last_progress`. `None`
/// when the stop is not on the route or is finished already.
pub fn eta(
    route: &RouteView,
    seq: u32,
    last_progress: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<EtaWindow> {
    let target = route.stops.iter().position(|s| s.seq == seq)?;
    if finished(route.stops[target].state) {
        return None;
    }
    let mut at = last_progress.map_or(now, |t| t.max(now));
    // Where the van is: at the last stop it finished before this one.
    let mut here: Option<Geo> =
        route.stops[..target].iter().rev().find(|s| finished(s.state)).and_then(|s| s.address.geo);
    let mut stops_before = 0;
    for stop in &route.stops[..=target] {
        if finished(stop.state) {
            continue;
        }
        if let (Some(from), Some(to)) = (here, stop.address.geo) {
            at += drive(from.distance_m(&to));
        }
        here = stop.address.geo.or(here);
        if stop.seq != seq {
            // A stop the driver is at now is served from now on.
            at += SERVICE;
            stops_before += 1;
        }
    }
    let ahead = i32::try_from(stops_before).unwrap_or(i32::MAX);
    Some(EtaWindow { from: at - EARLY, to: at + LATE + LATE_PER_STOP * ahead, stops_before })
}

fn finished(state: StopState) -> bool {
    matches!(state, StopState::Delivered | StopState::Partial | StopState::Failed)
}

fn drive(metres: f64) -> Duration {
    let seconds = metres / (SPEED_KMH * 1000.0 / 3600.0);
    // Whole seconds; distances on Earth keep this far inside i64.
    #[allow(clippy::cast_possible_truncation)]
    Duration::seconds(seconds.round() as i64)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::doc::order::Address;
    use crate::fold::route::StopView;

    fn stop(seq: u32, lat: f64, state: StopState) -> StopView {
        StopView {
            seq,
            orders: Vec::new(),
            address: Address {
                name: "A".into(),
                line1: "1 Road".into(),
                line2: String::new(),
                city: "Town".into(),
                postcode: "T1".into(),
                country: "GB".into(),
                geo: Some(Geo::new(lat, 0.0).unwrap()),
            },
            packages: BTreeSet::new(),
            delivered: BTreeSet::new(),
            failed: BTreeSet::new(),
            planned: None,
            state,
        }
    }

    fn route(stops: Vec<StopView>) -> RouteView {
        RouteView {
            id: "R-1".parse().unwrap(),
            driver: "drv-1".parse().unwrap(),
            van: "VAN-1".parse().unwrap(),
            done: 0,
            next_stop: None,
            stops,
            cash: Vec::new(),
            cash_handed_in: false,
            exceptions: Vec::new(),
            last_position: None,
        }
    }

    fn at(hh_mm: &str) -> DateTime<Utc> {
        format!("2026-12-06T{hh_mm}:00Z").parse().unwrap()
    }

    // 0.09 degrees of latitude is 10.0 km: 20 minutes at 30 km/h.
    const TEN_KM: f64 = 0.089_932;

    #[test]
    fn each_stop_ahead_adds_its_drive_and_service_time_from_the_last_stop_finished() {
        let r = route(vec![
            stop(1, 0.0, StopState::Delivered),
            stop(2, TEN_KM, StopState::Pending),
            stop(3, 2.0 * TEN_KM, StopState::Pending),
        ]);
        let w = eta(&r, 3, Some(at("10:00")), at("10:00")).unwrap();
        // 20 min to stop 2, 5 min there, 20 min to stop 3: 10:45.
        assert_eq!(w.stops_before, 1);
        assert_eq!(w.from, at("10:45") - EARLY);
        assert_eq!(w.to, at("10:45") + LATE + LATE_PER_STOP);
        let next = eta(&r, 2, Some(at("10:00")), at("10:00")).unwrap();
        assert_eq!((next.from, next.stops_before), (at("10:20") - EARLY, 0));
    }

    #[test]
    fn a_van_behind_its_plan_moves_the_window_later_and_a_finished_stop_has_none() {
        let r = route(vec![stop(1, 0.0, StopState::Delivered), stop(2, TEN_KM, StopState::Pending)]);
        // The last event was at 9:00; it is 11:00 now and the stop not done.
        let w = eta(&r, 2, Some(at("09:00")), at("11:00")).unwrap();
        assert_eq!(w.from, at("11:20") - EARLY);
        assert_eq!(eta(&r, 1, None, at("11:00")), None);
        assert_eq!(eta(&r, 9, None, at("11:00")), None, "a stop not on the route");
    }

    #[test]
    fn before_any_stop_is_done_the_run_starts_at_its_first_stop() {
        let r = route(vec![stop(1, 0.0, StopState::Pending), stop(2, TEN_KM, StopState::Pending)]);
        let first = eta(&r, 1, None, at("08:00")).unwrap();
        assert_eq!(first.from, at("08:00") - EARLY);
        let second = eta(&r, 2, None, at("08:00")).unwrap();
        assert_eq!((second.from, second.stops_before), (at("08:25") - EARLY, 1));
    }
}
