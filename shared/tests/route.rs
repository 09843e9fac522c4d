//! The route fold: a driver's run stop by stop, from packages assigned by the
//! office to arrivals, deliveries and failed attempts.

// A failed unwrap in a test helper is a failed test, as in the tests themselves.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use automerge::AutoCommit;
use chrono::NaiveDate;
use support::{Device, address, handed_to_ada, merge, sscc};
use waybill_shared::doc::route::{self, RouteHeader, Stop};
use waybill_shared::doc::{self, Contents, DocId};
use waybill_shared::event::delivery::{ArrivedAtStop, AttemptFailed, Delivered, FailReason};
use waybill_shared::event::office::{PackageAssigned, StopInserted, Voided};
use waybill_shared::event::{Event, Payload};
use waybill_shared::fold::RouteView;
use waybill_shared::fold::route::{self as route_fold, StopState, StopView};
use waybill_shared::gs1::Sscc;
use waybill_shared::id::DeviceId;
use waybill_shared::policy::actor_of;

use StopState::*;

const ROUTE: &str = "R-1";

/// Orders per stop: stop 1 delivers SO-1, stop 2 SO-2 and SO-3, stop 3 SO-4.
fn order_of(stop: u32) -> &'static str {
    match stop {
        1 => "SO-1",
        2 => "SO-2",
        _ => "SO-4",
    }
}

fn stop(seq: u32, orders: &[&str], street: &str) -> Stop {
    Stop {
        seq,
        orders: orders.iter().map(|o| o.parse().unwrap()).collect(),
        address: address(street),
        planned: None,
    }
}

fn header(stops: Vec<Stop>) -> RouteHeader {
    RouteHeader {
        id: ROUTE.parse().unwrap(),
        driver: DeviceId::new("drv-1").unwrap(),
        van: "VAN-7".parse().unwrap(),
        date: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
        stops,
        limits: None,
    }
}

fn three_stops() -> RouteHeader {
    header(vec![
        stop(1, &["SO-1"], "1 Main St"),
        stop(2, &["SO-2", "SO-3"], "2 High St"),
        stop(3, &["SO-4"], "3 Low Rd"),
    ])
}

fn assigned(n: u64, stop: u32) -> Payload {
    Payload::PackageAssigned(PackageAssigned {
        order: order_of(stop).parse().unwrap(),
        sscc: sscc(n),
        route: ROUTE.parse().unwrap(),
        stop,
    })
}

fn arrived(stop: u32) -> Payload {
    Payload::ArrivedAtStop(ArrivedAtStop { route: ROUTE.parse().unwrap(), stop, gps: None })
}

fn delivered(stop: u32, packages: &[u64]) -> Payload {
    Payload::Delivered(Delivered {
        order: order_of(stop).parse().unwrap(),
        route: ROUTE.parse().unwrap(),
        stop,
        packages: packages.iter().map(|&n| sscc(n)).collect(),
        proof: handed_to_ada(),
        collection: None,
    })
}

fn failed(stop: u32, packages: &[u64]) -> Payload {
    Payload::AttemptFailed(AttemptFailed {
        order: order_of(stop).parse().unwrap(),
        route: ROUTE.parse().unwrap(),
        stop,
        packages: packages.iter().map(|&n| sscc(n)).collect(),
        reason: FailReason::NotHome,
        gps: None,
        note: String::new(),
    })
}

fn set(ns: &[u64]) -> BTreeSet<Sscc> {
    ns.iter().map(|&n| sscc(n)).collect()
}

fn view(doc: &mut AutoCommit) -> RouteView {
    route_fold::fold(&route::read(doc.document()).unwrap())
}

fn states(v: &RouteView) -> Vec<(u32, StopState)> {
    v.stops.iter().map(|s| (s.seq, s.state)).collect()
}

/// The office creates the route with `header` and assigns packages 1 and 2
/// to stop 1, 3 and 4 to stop 2, 5 to stop 3. The driver's clock starts
/// after the office's.
fn setup_with(header: &RouteHeader) -> (Device, Device, AutoCommit) {
    let mut office = Device::new("office-1");
    let mut doc = doc::create(actor_of(&office.id()), &DocId::Route(header.id.clone()), header);
    for (n, stop) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3)] {
        office.append(&mut doc, assigned(n, stop));
    }
    let mut driver = Device::new("drv-1");
    driver.now_ms = office.now_ms;
    (office, driver, doc)
}

fn setup() -> (Device, Device, AutoCommit) {
    setup_with(&three_stops())
}

#[test]
fn a_route_with_its_packages_assigned_is_all_pending() {
    let (_, _, mut doc) = setup();
    let v = view(&mut doc);
    assert_eq!(v.id, ROUTE.parse().unwrap());
    assert_eq!(v.driver, DeviceId::new("drv-1").unwrap());
    assert_eq!(v.van, "VAN-7".parse().unwrap());
    let pending = |seq, orders: &[&str], street, packages: &[u64]| StopView {
        seq,
        orders: orders.iter().map(|o| o.parse().unwrap()).collect(),
        address: address(street),
        packages: set(packages),
        delivered: BTreeSet::new(),
        failed: BTreeSet::new(),
        state: Pending,
        planned: None,
    };
    assert_eq!(
        v.stops,
        vec![
            pending(1, &["SO-1"], "1 Main St", &[1, 2]),
            pending(2, &["SO-2", "SO-3"], "2 High St", &[3, 4]),
            pending(3, &["SO-4"], "3 Low Rd", &[5]),
        ]
    );
    assert_eq!(v.done, 0);
    assert_eq!(v.next_stop, Some(1));
}

#[test]
fn a_run_stop_by_stop() {
    let (_, mut driver, mut doc) = setup();

    driver.append(&mut doc, arrived(1));
    let v = view(&mut doc);
    assert_eq!(states(&v), vec![(1, Arrived), (2, Pending), (3, Pending)]);
    assert_eq!((v.done, v.next_stop), (0, Some(1)));

    // Stop 1: both packages handed over.
    driver.append(&mut doc, delivered(1, &[1, 2]));
    let v = view(&mut doc);
    assert_eq!(states(&v), vec![(1, Delivered), (2, Pending), (3, Pending)]);
    assert_eq!(v.stops[0].delivered, set(&[1, 2]));
    assert_eq!(v.stops[0].failed, set(&[]));
    assert_eq!((v.done, v.next_stop), (1, Some(2)));

    // Stop 2: one package taken, the other refused.
    driver.append(&mut doc, arrived(2));
    assert_eq!(states(&view(&mut doc))[1], (2, Arrived));
    driver.append(&mut doc, delivered(2, &[3]));
    driver.append(&mut doc, failed(2, &[4]));
    let v = view(&mut doc);
    assert_eq!(states(&v), vec![(1, Delivered), (2, Partial), (3, Pending)]);
    assert_eq!(v.stops[1].packages, set(&[3, 4]));
    assert_eq!(v.stops[1].delivered, set(&[3]));
    assert_eq!(v.stops[1].failed, set(&[4]));
    assert_eq!((v.done, v.next_stop), (2, Some(3)));

    // Stop 3: nobody home.
    driver.append(&mut doc, arrived(3));
    driver.append(&mut doc, failed(3, &[5]));
    let v = view(&mut doc);
    assert_eq!(states(&v), vec![(1, Delivered), (2, Partial), (3, Failed)]);
    assert_eq!(v.stops[2].delivered, set(&[]));
    assert_eq!(v.stops[2].failed, set(&[5]));
    assert_eq!((v.done, v.next_stop), (3, None));
}

#[test]
fn a_delivery_after_a_failed_attempt_turns_the_stop_delivered() {
    let (_, mut driver, mut doc) = setup();
    driver.append(&mut doc, arrived(1));
    driver.append(&mut doc, failed(1, &[1, 2]));
    let v = view(&mut doc);
    assert_eq!(v.stops[0].state, Failed);
    assert_eq!(v.stops[0].failed, set(&[1, 2]));
    assert_eq!((v.done, v.next_stop), (1, Some(2)));

    // The driver comes back later: one package taken, then the other.
    driver.append(&mut doc, delivered(1, &[1]));
    let v = view(&mut doc);
    assert_eq!(v.stops[0].state, Partial);
    assert_eq!(v.stops[0].delivered, set(&[1]));
    assert_eq!(v.stops[0].failed, set(&[2]));
    driver.append(&mut doc, delivered(1, &[2]));
    let v = view(&mut doc);
    assert_eq!(v.stops[0].state, Delivered);
    assert_eq!(v.stops[0].delivered, set(&[1, 2]));
    assert_eq!(v.stops[0].failed, set(&[]));
    assert_eq!((v.done, v.next_stop), (1, Some(2)));
}

#[test]
fn a_failed_attempt_after_a_delivery_does_not_undo_it() {
    let (_, mut driver, mut doc) = setup();
    driver.append(&mut doc, delivered(3, &[5]));
    driver.append(&mut doc, failed(3, &[5]));
    let v = view(&mut doc);
    assert_eq!(v.stops[2].state, Delivered);
    assert_eq!(v.stops[2].delivered, set(&[5]));
    assert_eq!(v.stops[2].failed, set(&[]));
    // Stops are finished out of sequence: the next stop is still the first unfinished one.
    assert_eq!(states(&v), vec![(1, Pending), (2, Pending), (3, Delivered)]);
    assert_eq!((v.done, v.next_stop), (1, Some(1)));
}

#[test]
fn stops_are_shown_and_worked_in_sequence_whatever_order_the_header_lists_them_in() {
    let shuffled = header(vec![
        stop(3, &["SO-4"], "3 Low Rd"),
        stop(1, &["SO-1"], "1 Main St"),
        stop(2, &["SO-2", "SO-3"], "2 High St"),
    ]);
    let (_, mut driver, mut doc) = setup_with(&shuffled);
    let v = view(&mut doc);
    assert_eq!(states(&v), vec![(1, Pending), (2, Pending), (3, Pending)]);
    assert_eq!(v.stops[0].address, address("1 Main St"));
    assert_eq!(v.stops[2].packages, set(&[5]));
    driver.append(&mut doc, delivered(1, &[1, 2]));
    assert_eq!(view(&mut doc).next_stop, Some(2));
    driver.append(&mut doc, failed(2, &[3, 4]));
    let v = view(&mut doc);
    assert_eq!(states(&v), vec![(1, Delivered), (2, Failed), (3, Pending)]);
    assert_eq!((v.done, v.next_stop), (2, Some(3)));
}

#[test]
fn a_voided_delivery_no_longer_counts() {
    let (_, mut driver, mut doc) = setup();
    driver.append(&mut doc, arrived(1));
    let d = driver.append(&mut doc, delivered(1, &[1, 2]));
    assert_eq!(view(&mut doc).stops[0].state, Delivered);
    driver.append(&mut doc, Payload::Voided(Voided { target: d.id.clone(), reason: "wrong stop".into() }));
    let v = view(&mut doc);
    assert_eq!(v.stops[0].state, Arrived);
    assert_eq!(v.stops[0].delivered, set(&[]));
    assert_eq!((v.done, v.next_stop), (0, Some(1)));
}

#[test]
fn a_package_delivered_at_a_stop_it_was_not_assigned_to_counts_there() {
    let (_, mut driver, mut doc) = setup();
    driver.append(&mut doc, delivered(3, &[5, 9]));
    let v = view(&mut doc);
    assert_eq!(v.stops[2].packages, set(&[5, 9]));
    assert_eq!(v.stops[2].state, Delivered);
    // Events naming a stop the route does not have change nothing.
    let before = view(&mut doc);
    driver.append(&mut doc, arrived(7));
    driver.append(&mut doc, delivered(7, &[1]));
    driver.append(&mut doc, failed(7, &[2]));
    assert_eq!(view(&mut doc), before);
}

#[test]
fn a_package_reassigned_to_another_stop_leaves_the_first() {
    let (mut office, mut driver, mut doc) = setup();
    // Package 2 goes to stop 2 instead.
    office.append(&mut doc, assigned(2, 2));
    driver.now_ms = office.now_ms;
    let v = view(&mut doc);
    assert_eq!(v.stops[0].packages, set(&[1]));
    assert_eq!(v.stops[1].packages, set(&[2, 3, 4]));
    driver.append(&mut doc, delivered(1, &[1]));
    let v = view(&mut doc);
    assert_eq!(states(&v), vec![(1, Delivered), (2, Pending), (3, Pending)]);
    assert_eq!((v.done, v.next_stop), (1, Some(2)));

    // A package whose attempt failed and is then put on another stop stays
    // on record where it failed.
    driver.append(&mut doc, failed(3, &[5]));
    office.now_ms = driver.now_ms;
    office.append(&mut doc, assigned(5, 2));
    let v = view(&mut doc);
    assert_eq!(v.stops[1].packages, set(&[2, 3, 4, 5]));
    assert_eq!(v.stops[2].packages, set(&[5]));
    assert_eq!(v.stops[2].failed, set(&[5]));
    assert_eq!(states(&v), vec![(1, Delivered), (2, Pending), (3, Failed)]);
    assert_eq!((v.done, v.next_stop), (2, Some(2)));
}

#[test]
fn replicas_merge_to_the_same_view_and_a_duplicated_event_counts_once() {
    let (_, mut driver, mut doc) = setup();
    let mut phone = driver.fork(&mut doc);
    let office = Device::new("office-1");
    let mut server = office.fork(&mut doc);
    driver.append(&mut phone, arrived(1));
    // The same delivery reaches both replicas on its own.
    let d = driver.event(delivered(1, &[1]));
    doc::append(&mut phone, &d).unwrap();
    doc::append(&mut server, &d).unwrap();
    driver.append(&mut phone, failed(1, &[2]));
    merge(&mut phone, &mut server);
    merge(&mut server, &mut phone);
    let v = view(&mut server);
    assert_eq!(v, view(&mut phone));
    assert_eq!(v.stops[0].state, Partial);
    assert_eq!(v.stops[0].delivered, set(&[1]));
    assert_eq!(v.stops[0].failed, set(&[2]));

    // The fold itself counts an id once, however often it is handed it.
    let contents = route::read(server.document()).unwrap();
    let mut events = contents.events.clone();
    events.extend(contents.events.iter().cloned());
    let doubled = Contents { header: contents.header.clone(), events, unreadable: vec![] };
    assert_eq!(route_fold::fold(&doubled), v);
}

#[test]
fn the_view_does_not_depend_on_the_order_events_arrive_in() {
    let (mut office, mut driver, mut doc) = setup();
    office.append(&mut doc, assigned(2, 2));
    driver.now_ms = office.now_ms;
    driver.append(&mut doc, arrived(1));
    driver.append(&mut doc, failed(1, &[1]));
    driver.append(&mut doc, delivered(1, &[1]));
    driver.append(&mut doc, delivered(2, &[3]));
    let d = driver.append(&mut doc, delivered(3, &[5]));
    driver.append(&mut doc, Payload::Voided(Voided { target: d.id.clone(), reason: "wrong stop".into() }));
    driver.append(&mut doc, failed(3, &[5]));
    let contents = route::read(doc.document()).unwrap();
    let expected = route_fold::fold(&contents);
    assert_eq!(states(&expected), vec![(1, Delivered), (2, Arrived), (3, Failed)]);
    let mut events: Vec<Event> = contents.events.clone();
    for shift in 0..events.len() {
        events.rotate_left(1);
        let mut reversed = events.clone();
        reversed.reverse();
        for order in [events.clone(), reversed] {
            let shuffled = Contents { header: contents.header.clone(), events: order, unreadable: vec![] };
            assert_eq!(route_fold::fold(&shuffled), expected, "rotation {shift}");
        }
    }
}

fn inserted(seq: u32, order: &str, before: Option<u32>) -> Payload {
    Payload::StopInserted(StopInserted {
        route: ROUTE.parse().unwrap(),
        seq,
        orders: vec![order.parse().unwrap()],
        address: address("9 New Rd"),
        before,
    })
}

#[test]
fn a_stop_inserted_on_the_road_goes_where_the_office_put_it() {
    let (mut office, mut driver, mut doc) = setup();
    driver.append(&mut doc, arrived(1));
    driver.append(&mut doc, delivered(1, &[1, 2]));

    // Before stop 3, after stop 2; the stop done stays first.
    office.now_ms = driver.now_ms + 1;
    office.append(&mut doc, inserted(4, "SO-9", Some(3)));
    let v = view(&mut doc);
    assert_eq!(states(&v), vec![(1, Delivered), (2, Pending), (4, Pending), (3, Pending)]);
    assert_eq!(v.stops[2].orders, vec!["SO-9".parse().unwrap()]);
    assert_eq!(v.stops[2].address, address("9 New Rd"));
    assert_eq!((v.done, v.next_stop), (1, Some(2)));

    // Last, when it names no stop (or one the route does not have); a
    // number already taken adds nothing.
    office.append(&mut doc, inserted(5, "SO-10", None));
    office.append(&mut doc, inserted(6, "SO-11", Some(99)));
    office.append(&mut doc, inserted(4, "SO-12", Some(2)));
    let seqs: Vec<u32> = view(&mut doc).stops.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, [1, 2, 4, 3, 5, 6]);

    // The driver delivers the new stop like any other.
    driver.append(&mut doc, arrived(4));
    let v = view(&mut doc);
    assert_eq!(states(&v)[2], (4, Arrived));
}
