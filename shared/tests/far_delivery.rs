//! A delivery recorded far from its address: the fold flags a proof whose
//! GPS position is more than `FAR_DELIVERY_M` from the address in force,
//! the same on every replica whatever order the events merged in.

#![allow(clippy::unwrap_used)]

mod support;

use automerge::AutoCommit;
use proptest::prelude::*;
use support::*;
use waybill_shared::event::Payload;
use waybill_shared::event::delivery::*;
use waybill_shared::event::office::*;
use waybill_shared::event::warehouse::*;
use waybill_shared::fold::exception::FAR_DELIVERY_M;
use waybill_shared::fold::{Exception, ExceptionKind};
use waybill_shared::geo::Geo;

/// The address's point: Islington, London.
const HOME: (f64, f64) = (51.53, -0.1);
/// Degrees of latitude per metre, near enough (1° ≈ 111.2 km).
const DEG_PER_M: f64 = 1.0 / 111_195.0;

fn home() -> Geo {
    Geo::new(HOME.0, HOME.1).unwrap()
}

/// An order for one unit, with its address geocoded at `HOME`, packed into
/// package 1.
fn packed_order(office: &mut Device, packer: &mut Device) -> AutoCommit {
    let mut header = order_header("SO-1", &[1]);
    header.ship_to.geo = Some(home());
    let mut doc = new_order(office, &header);
    let line = LineQuantity { line: 1, quantity: 1 };
    packer.append(
        &mut doc,
        Payload::Packed(Packed { sscc: sscc(1), lines: vec![line], weight_g: None, dimensions: None }),
    );
    doc
}

/// A delivery of package 1 with its proof taken `north_m` metres north of
/// `HOME` (no GPS if `None`).
fn deliver(north_m: Option<f64>) -> Payload {
    Payload::Delivered(Delivered {
        order: "SO-1".parse().unwrap(),
        route: "R-1".parse().unwrap(),
        stop: 1,
        packages: vec![sscc(1)],
        proof: Proof {
            gps: north_m.map(|m| Gps { lat: HOME.0 + m * DEG_PER_M, lon: HOME.1, accuracy_m: Some(5.0) }),
            ..handed_to_ada()
        },
        collection: None,
    })
}

/// The office moves the address's point `north_m` metres north of `HOME`.
fn amend(north_m: f64) -> Payload {
    let mut ship_to = address("2 Other St");
    ship_to.geo = Some(Geo::new(HOME.0 + north_m * DEG_PER_M, HOME.1).unwrap());
    Payload::AddressAmended(AddressAmended { ship_to, replaces: None })
}

fn far(doc: &mut AutoCommit) -> Vec<Exception> {
    order_view(doc)
        .exceptions
        .into_iter()
        .filter(|e| matches!(e.kind, ExceptionKind::DeliveredFarFromAddress { .. }))
        .collect()
}

#[test]
fn a_delivery_near_its_address_is_not_flagged() {
    let (mut office, mut packer, mut driver) =
        (Device::new("office-1"), Device::new("pk-1"), Device::new("drv-1"));
    let mut doc = packed_order(&mut office, &mut packer);
    driver.append(&mut doc, deliver(Some(120.0)));
    assert_eq!(far(&mut doc), Vec::new());
    // Nor is one whose proof has no GPS: there is nothing to judge.
    driver.append(&mut doc, deliver(None));
    assert_eq!(far(&mut doc), Vec::new());
}

#[test]
fn a_delivery_far_from_its_address_is_an_exception_until_resolved() {
    let (mut office, mut packer, mut driver) =
        (Device::new("office-1"), Device::new("pk-1"), Device::new("drv-1"));
    let mut doc = packed_order(&mut office, &mut packer);
    let delivered = driver.append(&mut doc, deliver(Some(2_000.0)));
    let found = far(&mut doc);
    assert_eq!(found.len(), 1, "{found:?}");
    let e = &found[0];
    assert_eq!(e.id, format!("delivered_far_from_address:{}", delivered.id));
    assert_eq!(e.events, vec![delivered.id.clone()]);
    let ExceptionKind::DeliveredFarFromAddress { distance_m, limit_m } = e.kind else { unreachable!() };
    assert!((1_990..=2_010).contains(&distance_m), "{distance_m}");
    assert_eq!(limit_m, FAR_DELIVERY_M);
    assert!(e.is_open());
    let v = order_view(&mut doc);
    assert!(v.open_exceptions().any(|x| x.id == e.id));

    office.append(
        &mut doc,
        Payload::ExceptionResolved(ExceptionResolved {
            exception: e.id.clone(),
            events: e.events.clone(),
            decision: Decision::Accept,
            note: "left with the neighbour two streets on".into(),
        }),
    );
    let found = far(&mut doc);
    assert_eq!(found.len(), 1);
    assert!(!found[0].is_open(), "resolved by the office");
}

#[test]
fn the_address_in_force_is_what_counts_in_either_merge_order() {
    let (mut office, mut packer, mut driver) =
        (Device::new("office-1"), Device::new("pk-1"), Device::new("drv-1"));
    let mut base = packed_order(&mut office, &mut packer);
    // Offline, the driver delivers at the old point while the office moves
    // the address 3 km away: merged, the delivery is far from the address
    // in force.
    let mut at_driver = driver.fork(&mut base);
    let mut at_office = office.fork(&mut base);
    driver.append(&mut at_driver, deliver(Some(10.0)));
    office.append(&mut at_office, amend(3_000.0));
    assert_eq!(far(&mut at_driver), Vec::new(), "near the address the driver knew");
    let (mut a, mut b) = (at_driver.fork(), at_office.fork());
    merge(&mut a, &mut at_office);
    merge(&mut b, &mut at_driver);
    let (fa, fb) = (far(&mut a), far(&mut b));
    assert_eq!(fa.len(), 1, "{fa:?}");
    assert_eq!(fa, fb);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Wherever the proof was taken and wherever the office moves the
    /// address, both merge orders give the same exceptions, and the
    /// delivery is flagged exactly when it is more than the limit from the
    /// address in force.
    #[test]
    fn flagged_exactly_when_far_whatever_the_merge_order(
        proof_m in -3_000.0f64..3_000.0,
        moved_m in proptest::option::of(-3_000.0f64..3_000.0),
    ) {
        let (mut office, mut packer, mut driver) = (Device::new("office-1"), Device::new("pk-1"), Device::new("drv-1"));
        let mut base = packed_order(&mut office, &mut packer);
        let mut at_driver = driver.fork(&mut base);
        let mut at_office = office.fork(&mut base);
        driver.append(&mut at_driver, deliver(Some(proof_m)));
        if let Some(m) = moved_m {
            office.append(&mut at_office, amend(m));
        }
        let (mut a, mut b) = (at_driver.fork(), at_office.fork());
        merge(&mut a, &mut at_office);
        merge(&mut b, &mut at_driver);
        let (fa, fb) = (far(&mut a), far(&mut b));
        prop_assert_eq!(&fa, &fb);
        // The fix's 5 m accuracy counts in the driver's favour.
        let distance = (proof_m - moved_m.unwrap_or(0.0)).abs() - 5.0;
        // Away from the edge, where rounding to the microdegree decides.
        prop_assume!((distance - f64::from(FAR_DELIVERY_M)).abs() > 2.0);
        prop_assert_eq!(fa.len(), usize::from(distance > f64::from(FAR_DELIVERY_M)));
    }
}
