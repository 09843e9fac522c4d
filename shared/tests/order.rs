//! The order fold: an order's life from intake to delivery, and every
//! exception offline work can raise, each resolved by an office event.

#![allow(clippy::unwrap_used)]

mod support;

use support::*;
use waybill_shared::blob::BlobHash;
use waybill_shared::doc;
use waybill_shared::event::Payload;
use waybill_shared::event::delivery::*;
use waybill_shared::event::office::*;
use waybill_shared::event::warehouse::*;
use waybill_shared::fold::{self, ExceptionKind, OrderStatus};
use waybill_shared::gs1::Gtin;

fn pick(order: &str, line: u32, gtin: Gtin, quantity: u32) -> Payload {
    Payload::Picked(Picked {
        order: order.parse().unwrap(),
        line,
        location: "wh-1".parse().unwrap(),
        bin: "A-1".parse().unwrap(),
        gtin,
        quantity,
        lot: None,
        serial: None,
        expiry: None,
        override_reason: None,
    })
}

fn pack(n: u64, lines: &[(u32, u32)]) -> Payload {
    Payload::Packed(Packed {
        sscc: sscc(n),
        lines: lines.iter().map(|&(line, quantity)| LineQuantity { line, quantity }).collect(),
        weight_g: Some(1200),
        dimensions: None,
    })
}

fn load(n: u64, van: &str) -> Payload {
    Payload::Loaded(Loaded { sscc: sscc(n), route: "R-1".parse().unwrap(), van: van.parse().unwrap() })
}

fn proof() -> Proof {
    Proof {
        recipient_name: Some("Ada".into()),
        relation: Relation::Recipient,
        left_at: None,
        photo: Some(BlobHash::of(b"photo")),
        signature: Some(BlobHash::of(b"signature")),
        gps: Some(Gps { lat: 51.53, lon: -0.1, accuracy_m: Some(4.0) }),
        note: String::new(),
        age_check_passed: None,
    }
}

fn deliver(order: &str, n: u64) -> Payload {
    Payload::Delivered(Delivered {
        order: order.parse().unwrap(),
        route: "R-1".parse().unwrap(),
        stop: 1,
        packages: vec![sscc(n)],
        proof: proof(),
        collection: None,
    })
}

fn resolve(exception: &str, events: Vec<waybill_shared::event_id::EventId>) -> Payload {
    Payload::ExceptionResolved(ExceptionResolved {
        exception: exception.into(),
        events,
        decision: Decision::Accept,
        note: "checked on the phone with the customer".into(),
    })
}

struct Fleet {
    office: Device,
    picker: Device,
    packer: Device,
    driver: Device,
}

fn fleet() -> Fleet {
    Fleet {
        office: Device::new("office-1"),
        picker: Device::new("hh-1"),
        packer: Device::new("pk-1"),
        driver: Device::new("drv-1"),
    }
}

#[test]
fn an_order_goes_from_intake_to_completed() {
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-1", &[2, 1]));
    assert_eq!(order_view(&mut doc).status, OrderStatus::Created);

    let allocations = [(1, 2), (2, 1)]
        .map(|(line, quantity)| Allocation { line, location: "wh-1".parse().unwrap(), quantity })
        .to_vec();
    f.office.append(&mut doc, Payload::Allocated(Allocated { allocations }));
    assert_eq!(order_view(&mut doc).status, OrderStatus::Allocated);
    f.office.append(
        &mut doc,
        Payload::PickAssigned(PickAssigned { device: f.picker.id(), location: "wh-1".parse().unwrap() }),
    );
    assert_eq!(order_view(&mut doc).status, OrderStatus::Picking);

    f.picker.append(&mut doc, pick("SO-1", 1, gtin(1), 2));
    assert_eq!(order_view(&mut doc).status, OrderStatus::Picking);
    f.picker.append(&mut doc, pick("SO-1", 2, gtin(2), 1));
    assert_eq!(order_view(&mut doc).status, OrderStatus::Picked);

    f.packer.append(&mut doc, pack(1, &[(1, 2), (2, 1)]));
    f.packer.append(&mut doc, Payload::PackageClosed(PackageClosed { sscc: sscc(1), weight_g: Some(1300) }));
    f.packer.append(&mut doc, Payload::Staged(Staged { sscc: sscc(1), area: "lane-3".into() }));
    let v = order_view(&mut doc);
    assert_eq!(v.status, OrderStatus::Packed);
    assert_eq!(v.packages[0].weight_g, Some(1300));

    f.driver.append(&mut doc, load(1, "van-1"));
    assert_eq!(order_view(&mut doc).status, OrderStatus::Shipped);
    f.driver.append(
        &mut doc,
        Payload::OutForDelivery(OutForDelivery { route: "R-1".parse().unwrap(), address_seen: None }),
    );
    assert_eq!(order_view(&mut doc).status, OrderStatus::OutForDelivery);
    let delivery = f.driver.append(&mut doc, deliver("SO-1", 1));

    let v = order_view(&mut doc);
    assert_eq!(v.status, OrderStatus::Completed);
    assert!(v.exceptions.is_empty(), "{:?}", v.exceptions);
    let quantities: Vec<_> =
        v.lines.iter().map(|l| (l.ordered, l.allocated, l.picked, l.packed, l.delivered)).collect();
    assert_eq!(quantities, [(2, 2, 2, 2, 2), (1, 1, 1, 1, 1)]);
    assert_eq!(v.proofs.len(), 1);
    assert_eq!(v.proofs[0].event, delivery.id);
    assert_eq!(v.proofs[0].proof.recipient_name.as_deref(), Some("Ada"));
    assert_eq!(v.timeline.len(), 11);
    assert!(v.header.id.as_str() == "SO-1" && v.status.is_closed());
}

#[test]
fn a_failed_attempt_then_return_to_depot() {
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-2", &[1]));
    f.picker.append(&mut doc, pick("SO-2", 1, gtin(1), 1));
    f.packer.append(&mut doc, pack(2, &[(1, 1)]));
    f.driver.append(&mut doc, load(2, "van-1"));
    f.driver.append(
        &mut doc,
        Payload::AttemptFailed(AttemptFailed {
            order: "SO-2".parse().unwrap(),
            route: "R-1".parse().unwrap(),
            stop: 1,
            packages: vec![sscc(2)],
            reason: FailReason::NotHome,
            gps: None,
            note: String::new(),
        }),
    );
    let v = order_view(&mut doc);
    assert_eq!(v.status, OrderStatus::Attempted);
    assert_eq!(
        v.packages[0].whereabouts,
        fold::order::Whereabouts::AttemptFailed { reason: FailReason::NotHome }
    );
    f.driver.append(
        &mut doc,
        Payload::ReturnedToDepot(ReturnedToDepot { sscc: sscc(2), route: "R-1".parse().unwrap() }),
    );
    assert_eq!(order_view(&mut doc).packages[0].whereabouts, fold::order::Whereabouts::AtDepot);
}

#[test]
fn two_pickers_picking_the_same_line_offline_is_an_over_pick_until_resolved() {
    let mut f = fleet();
    let mut other = Device::new("hh-2");
    let mut doc = new_order(&mut f.office, &order_header("SO-3", &[2]));
    let mut a = f.picker.fork(&mut doc);
    let mut b = other.fork(&mut doc);
    let pa = f.picker.append(&mut a, pick("SO-3", 1, gtin(1), 2));
    let pb = other.append(&mut b, pick("SO-3", 1, gtin(1), 2));
    merge(&mut doc, &mut a);
    merge(&mut doc, &mut b);

    let v = order_view(&mut doc);
    let e = &v.exceptions[0];
    assert_eq!(e.id, "over_pick:1");
    assert_eq!(e.kind, ExceptionKind::OverPick { line: 1, ordered: 2, picked: 4 });
    let mut expected = vec![pa.id.clone(), pb.id.clone()];
    expected.sort();
    assert_eq!(e.events, expected);
    assert!(e.is_open());

    let r = f.office.append(&mut doc, resolve("over_pick:1", expected));
    let v = order_view(&mut doc);
    assert_eq!(v.exceptions[0].resolution.as_ref().map(|r| &r.event), Some(&r.id));
    assert_eq!(v.open_exceptions().count(), 0);

    // a third pick joins the exception: it is open again
    f.picker.append(&mut doc, pick("SO-3", 1, gtin(1), 1));
    let v = order_view(&mut doc);
    assert!(v.exceptions[0].is_open());
    assert_eq!(v.exceptions[0].kind, ExceptionKind::OverPick { line: 1, ordered: 2, picked: 5 });
}

#[test]
fn voiding_a_pick_removes_its_effect_but_keeps_it_in_the_timeline() {
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-4", &[1]));
    let bad = f.picker.append(&mut doc, pick("SO-4", 1, gtin(1), 3));
    assert_eq!(order_view(&mut doc).exceptions[0].id, "over_pick:1");
    let void = f
        .picker
        .append(&mut doc, Payload::Voided(Voided { target: bad.id.clone(), reason: "miscount".into() }));
    let v = order_view(&mut doc);
    assert!(v.exceptions.is_empty());
    assert_eq!(v.lines[0].picked, 0);
    let entry = v.timeline.iter().find(|t| t.id == bad.id).unwrap();
    assert_eq!(entry.voided_by.as_ref(), Some(&void.id));
}

#[test]
fn short_pick_wrong_item_and_unknown_line() {
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-5", &[3]));
    let short = f.picker.append(
        &mut doc,
        Payload::ShortPicked(ShortPicked {
            line: 1,
            location: "wh-1".parse().unwrap(),
            bin: "A-1".parse().unwrap(),
            quantity: 1,
            reason: ShortReason::NotEnoughInBin,
        }),
    );
    let wrong = f.picker.append(&mut doc, pick("SO-5", 1, gtin(7), 2));
    let unknown = f.picker.append(&mut doc, pick("SO-5", 9, gtin(1), 1));
    f.picker.append(&mut doc, pick("SO-5", 1, gtin(1), 2));

    let v = order_view(&mut doc);
    let kinds: Vec<_> = v.exceptions.iter().map(|e| (e.kind.clone(), e.events.clone())).collect();
    assert_eq!(
        kinds,
        [
            (ExceptionKind::ShortPick { line: 1, short: 1 }, vec![short.id]),
            (ExceptionKind::UnknownLine { line: 9 }, vec![unknown.id]),
            (ExceptionKind::WrongItem { line: 1, expected: gtin(1), picked: gtin(7) }, vec![wrong.id]),
        ]
    );
    // the wrong item does not count toward the line; the short does
    assert_eq!((v.lines[0].picked, v.lines[0].short), (2, 1));
    assert_eq!(v.status, OrderStatus::Picked);
}

#[test]
fn an_order_cancelled_in_the_office_while_the_driver_delivered_it() {
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-6", &[1]));
    f.picker.append(&mut doc, pick("SO-6", 1, gtin(1), 1));
    f.packer.append(&mut doc, pack(6, &[(1, 1)]));
    let mut van = f.driver.fork(&mut doc);
    let cancel = f.office.append(&mut doc, Payload::Cancelled(Cancelled { reason: "customer asked".into() }));
    let delivered = f.driver.append(&mut van, deliver("SO-6", 6));
    merge(&mut doc, &mut van);

    let v = order_view(&mut doc);
    let e = v.exceptions.iter().find(|e| e.kind == ExceptionKind::DeliveredAfterCancel).unwrap();
    let mut expected = vec![cancel.id, delivered.id];
    expected.sort();
    assert_eq!(e.events, expected);
    // what physically happened stays visible: the goods are with the customer
    assert_eq!(v.status, OrderStatus::Delivered);
    assert!(v.cancelled);
}

#[test]
fn a_package_delivered_twice_and_loaded_on_two_vans() {
    let mut f = fleet();
    let mut second = Device::new("drv-2");
    let mut doc = new_order(&mut f.office, &order_header("SO-7", &[1]));
    f.picker.append(&mut doc, pick("SO-7", 1, gtin(1), 1));
    f.packer.append(&mut doc, pack(7, &[(1, 1)]));
    let mut a = f.driver.fork(&mut doc);
    let mut b = second.fork(&mut doc);
    let la = f.driver.append(&mut a, load(7, "van-1"));
    let lb = second.append(&mut b, load(7, "van-2"));
    let da = f.driver.append(&mut a, deliver("SO-7", 7));
    let db = second.append(&mut b, deliver("SO-7", 7));
    merge(&mut doc, &mut a);
    merge(&mut doc, &mut b);

    let v = order_view(&mut doc);
    let twice = v.exceptions.iter().find(|e| e.id == format!("delivered_twice:{}", sscc(7))).unwrap();
    let mut expected = vec![da.id, db.id];
    expected.sort();
    assert_eq!(twice.events, expected);
    let vans = v.exceptions.iter().find(|e| matches!(e.kind, ExceptionKind::LoadedOnTwoVans { .. })).unwrap();
    let mut expected = vec![la.id, lb.id];
    expected.sort();
    assert_eq!(vans.events, expected);
    // delivered units count once
    assert_eq!(v.lines[0].delivered, 1);
}

#[test]
fn reloading_after_return_to_depot_is_not_two_vans() {
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-8", &[1]));
    f.picker.append(&mut doc, pick("SO-8", 1, gtin(1), 1));
    f.packer.append(&mut doc, pack(8, &[(1, 1)]));
    f.driver.append(&mut doc, load(8, "van-1"));
    f.driver.append(
        &mut doc,
        Payload::ReturnedToDepot(ReturnedToDepot { sscc: sscc(8), route: "R-1".parse().unwrap() }),
    );
    f.driver.append(&mut doc, load(8, "van-2"));
    assert!(order_view(&mut doc).exceptions.is_empty());
}

#[test]
fn an_address_amended_after_the_driver_left_with_the_old_one() {
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-9", &[1]));
    let mut van = f.driver.fork(&mut doc);
    let amend = f.office.append(
        &mut doc,
        Payload::AddressAmended(AddressAmended { ship_to: address("2 New Rd"), replaces: None }),
    );
    let out = f.driver.append(
        &mut van,
        Payload::OutForDelivery(OutForDelivery { route: "R-1".parse().unwrap(), address_seen: None }),
    );
    merge(&mut doc, &mut van);
    let v = order_view(&mut doc);
    assert_eq!(v.ship_to.line1, "2 New Rd");
    let e = &v.exceptions[0];
    assert_eq!(e.kind, ExceptionKind::AddressAmendedAfterDispatch);
    let mut expected = vec![amend.id.clone(), out.id];
    expected.sort();
    assert_eq!(e.events, expected);

    // a driver who saw the amendment raises nothing
    let mut doc = new_order(&mut f.office, &order_header("SO-10", &[1]));
    let amend = f.office.append(
        &mut doc,
        Payload::AddressAmended(AddressAmended { ship_to: address("2 New Rd"), replaces: None }),
    );
    f.driver.append(
        &mut doc,
        Payload::OutForDelivery(OutForDelivery {
            route: "R-1".parse().unwrap(),
            address_seen: Some(amend.id),
        }),
    );
    assert!(order_view(&mut doc).exceptions.is_empty());
}

#[test]
fn proof_naming_a_blob_not_held_is_an_exception_until_it_arrives() {
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-11", &[1]));
    f.picker.append(&mut doc, pick("SO-11", 1, gtin(1), 1));
    f.packer.append(&mut doc, pack(11, &[(1, 1)]));
    let d = f.driver.append(&mut doc, deliver("SO-11", 11));
    let contents = doc::order::read(doc.document()).unwrap();
    let photo = BlobHash::of(b"photo");
    let only_photo = |h: &BlobHash| *h == photo;
    let v = fold::order::fold(&contents, &only_photo);
    let missing: Vec<_> = v.exceptions.iter().map(|e| (e.kind.clone(), e.events.clone())).collect();
    assert_eq!(
        missing,
        [(ExceptionKind::ProofBlobMissing { blob: BlobHash::of(b"signature") }, vec![d.id.clone()])]
    );
    assert_eq!(v.proofs[0].missing_blobs, [BlobHash::of(b"signature")]);
    // status does not wait for the upload
    assert_eq!(v.status, OrderStatus::Delivered);
    assert_eq!(order_view(&mut doc).status, OrderStatus::Completed);

    // delivered again with the same proof, nothing held: each blob is one
    // exception naming both deliveries
    let again = f.driver.append(&mut doc, deliver("SO-11", 11));
    let contents = doc::order::read(doc.document()).unwrap();
    let v = fold::order::fold(&contents, &|_: &BlobHash| false);
    let mut ids: Vec<&str> = v.exceptions.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    let all = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), all, "two exceptions share an id: {ids:?}");
    let blobs: Vec<_> =
        v.exceptions.iter().filter(|e| matches!(e.kind, ExceptionKind::ProofBlobMissing { .. })).collect();
    assert_eq!(blobs.len(), 2, "{blobs:?}");
    assert!(blobs.iter().all(|e| e.events == [d.id.clone(), again.id.clone()]), "{blobs:?}");
}

#[test]
fn held_and_released() {
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-12", &[1]));
    f.office.append(&mut doc, Payload::Held(Held { reason: "payment".into() }));
    assert_eq!(order_view(&mut doc).status, OrderStatus::Held);
    f.office.append(&mut doc, Payload::Released(Released {}));
    assert_eq!(order_view(&mut doc).status, OrderStatus::Created);
    f.office.append(&mut doc, Payload::Cancelled(Cancelled { reason: "fraud".into() }));
    assert_eq!(order_view(&mut doc).status, OrderStatus::Cancelled);
}

#[test]
fn unreadable_events_are_kept_visible() {
    use automerge::transaction::Transactable;
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-13", &[1]));
    let events = doc::events_obj(doc.document()).unwrap();
    doc.put(&events, "hh-9:1", "{not json").unwrap();
    doc.commit();
    let v = order_view(&mut doc);
    assert_eq!(v.unreadable.len(), 1);
    assert_eq!(v.unreadable[0].0, "hh-9:1");
}

#[test]
fn two_packers_packing_the_same_picked_unit_is_an_over_pack_naming_both() {
    let mut f = fleet();
    let mut other = Device::new("pk-2");
    let mut doc = new_order(&mut f.office, &order_header("SO-14", &[1]));
    f.picker.append(&mut doc, pick("SO-14", 1, gtin(1), 1));
    let mut a = f.packer.fork(&mut doc);
    let mut b = other.fork(&mut doc);
    let pa = f.packer.append(&mut a, pack(14, &[(1, 1)]));
    let pb = other.append(&mut b, pack(15, &[(1, 1)]));
    merge(&mut doc, &mut a);
    merge(&mut doc, &mut b);
    f.driver.append(&mut doc, load(14, "van-1"));
    f.driver.append(&mut doc, load(15, "van-1"));
    f.driver.append(&mut doc, deliver("SO-14", 14));
    f.driver.append(&mut doc, deliver("SO-14", 15));

    let v = order_view(&mut doc);
    let l = &v.lines[0];
    assert_eq!((l.ordered, l.picked, l.packed, l.loaded, l.delivered), (1, 1, 2, 2, 2));
    let e = v.exceptions.iter().find(|e| e.id == "over_pack:1").unwrap();
    assert_eq!(e.kind, ExceptionKind::OverPack { line: 1, picked: 1, packed: 2 });
    let mut expected = vec![pa.id, pb.id];
    expected.sort();
    assert_eq!(e.events, expected);
    // not completed while it is open
    assert_eq!(v.status, OrderStatus::Delivered);

    f.office.append(&mut doc, resolve("over_pack:1", expected));
    let v = order_view(&mut doc);
    assert_eq!(v.open_exceptions().count(), 0);
    assert_eq!(v.status, OrderStatus::Completed);
}

#[test]
fn a_put_back_after_packing_is_an_over_pack_naming_it() {
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-15", &[2]));
    f.picker.append(&mut doc, pick("SO-15", 1, gtin(1), 2));
    let packed = f.packer.append(&mut doc, pack(16, &[(1, 2)]));
    assert!(order_view(&mut doc).exceptions.is_empty());
    let back = f.picker.append(
        &mut doc,
        Payload::PutBack(PutBack {
            order: "SO-15".parse().unwrap(),
            line: 1,
            location: "wh-1".parse().unwrap(),
            bin: "A-1".parse().unwrap(),
            gtin: gtin(1),
            quantity: 1,
        }),
    );
    let v = order_view(&mut doc);
    let e = &v.exceptions[0];
    assert_eq!(e.kind, ExceptionKind::OverPack { line: 1, picked: 1, packed: 2 });
    let mut expected = vec![packed.id, back.id];
    expected.sort();
    assert_eq!(e.events, expected);
}

#[test]
fn a_package_loaded_twice_counts_its_units_once() {
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-16", &[3]));
    f.picker.append(&mut doc, pick("SO-16", 1, gtin(1), 3));
    f.packer.append(&mut doc, pack(17, &[(1, 2)]));
    f.packer.append(&mut doc, pack(18, &[(1, 1)]));
    f.driver.append(&mut doc, load(17, "van-1"));
    f.driver.append(&mut doc, load(17, "van-1"));
    let v = order_view(&mut doc);
    assert_eq!((v.lines[0].packed, v.lines[0].loaded, v.lines[0].delivered), (3, 2, 0));
    assert!(v.exceptions.is_empty(), "{:?}", v.exceptions);
}

#[test]
fn returning_more_than_was_delivered_is_an_over_return() {
    use waybill_shared::event::returns::{Disposition, ReturnLine, ReturnReceived};
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-17", &[2]));
    f.picker.append(&mut doc, pick("SO-17", 1, gtin(1), 2));
    f.packer.append(&mut doc, pack(19, &[(1, 2)]));
    f.driver.append(&mut doc, deliver("SO-17", 19));
    let back = |quantity| {
        Payload::ReturnReceived(ReturnReceived {
            order: "SO-17".parse().unwrap(),
            rma: None,
            lines: vec![ReturnLine { line: 1, gtin: gtin(1), quantity }],
            disposition: Disposition::Damaged,
            location: "wh-1".parse().unwrap(),
            bin: None,
        })
    };
    let first = f.driver.append(&mut doc, back(2));
    assert!(order_view(&mut doc).exceptions.is_empty());
    let second = f.picker.append(&mut doc, back(1));
    let v = order_view(&mut doc);
    assert_eq!(v.lines[0].returned, 3);
    let e = &v.exceptions[0];
    assert_eq!(e.id, "over_return:1");
    assert_eq!(e.kind, ExceptionKind::OverReturn { line: 1, delivered: 2, returned: 3 });
    let mut expected = vec![first.id, second.id];
    expected.sort();
    assert_eq!(e.events, expected);
}

#[test]
fn work_recorded_after_a_cancel_is_an_exception_of_its_own() {
    let mut f = fleet();
    let mut doc = new_order(&mut f.office, &order_header("SO-18", &[2]));
    let before = f.picker.append(&mut doc, pick("SO-18", 1, gtin(1), 1));
    // The picker, packer and driver were offline when the office cancelled.
    let mut hh = f.picker.fork(&mut doc);
    let cancel = f.office.append(&mut doc, Payload::Cancelled(Cancelled { reason: "customer asked".into() }));
    f.picker.now_ms = f.office.now_ms + 60_000;
    let late = f.picker.append(&mut hh, pick("SO-18", 1, gtin(1), 1));
    let packed = f.packer.append(&mut hh, pack(20, &[(1, 2)]));
    let closed =
        f.packer.append(&mut hh, Payload::PackageClosed(PackageClosed { sscc: sscc(20), weight_g: None }));
    let loaded = f.driver.append(&mut hh, load(20, "van-1"));
    // Undoing the work is what a cancel asks for: not an exception.
    f.driver.append(
        &mut hh,
        Payload::ReturnedToDepot(ReturnedToDepot { sscc: sscc(20), route: "R-1".parse().unwrap() }),
    );
    merge(&mut doc, &mut hh);

    let v = order_view(&mut doc);
    assert_eq!(v.status, OrderStatus::Cancelled);
    let e = v.exceptions.iter().find(|e| e.id == "work_after_cancel:order").unwrap();
    assert_eq!(e.kind, ExceptionKind::WorkAfterCancel);
    let mut expected = vec![cancel.id, late.id, packed.id, closed.id, loaded.id];
    expected.sort();
    assert_eq!(e.events, expected);
    assert!(!e.events.contains(&before.id), "work before the cancel is not after it");
    assert!(v.exceptions.iter().all(|e| e.kind != ExceptionKind::DeliveredAfterCancel));

    f.office.append(&mut doc, resolve("work_after_cancel:order", expected));
    assert_eq!(order_view(&mut doc).open_exceptions().count(), 0);
}

#[test]
fn concurrent_address_amendments_are_an_exception_sequential_ones_are_not() {
    let mut f = fleet();
    let mut desk = Device::new("office-2");
    let amend = |street: &str, replaces| {
        Payload::AddressAmended(AddressAmended { ship_to: address(street), replaces: Some(replaces) })
    };
    let mut doc = new_order(&mut f.office, &order_header("SO-19", &[1]));
    let first = f.office.append(&mut doc, amend("2 New Rd", Replaces::Header));
    f.office.append(&mut doc, amend("3 New Rd", Replaces::Amendment(first.id.clone())));
    assert!(order_view(&mut doc).exceptions.is_empty());

    // Two office desks amend the same address without seeing each other.
    let mut other = desk.fork(&mut doc);
    let in_force = fold::address::in_force(&doc::order::read(doc.document()).unwrap().events);
    let a = f.office.append(&mut doc, amend("4 Here St", in_force.clone()));
    let b = desk.append(&mut other, amend("5 There St", in_force));
    merge(&mut doc, &mut other);
    let v = order_view(&mut doc);
    let e = &v.exceptions[0];
    assert_eq!(
        (e.id.as_str(), &e.kind),
        ("concurrent_address_amendments:order", &ExceptionKind::ConcurrentAddressAmendments)
    );
    let mut expected = vec![a.id.clone(), b.id.clone()];
    expected.sort();
    assert_eq!(e.events, expected);
    // the later clock is in force, but not silently
    let later = if (a.hlc, &a.id) > (b.hlc, &b.id) { "4 Here St" } else { "5 There St" };
    assert_eq!(v.ship_to.line1, later);

    // an amendment that saw both settles nothing by itself, but raises nothing new
    let in_force = fold::address::in_force(&doc::order::read(doc.document()).unwrap().events);
    f.office.append(&mut doc, amend("6 Final St", in_force));
    assert_eq!(order_view(&mut doc).exceptions[0].events, expected);
}
