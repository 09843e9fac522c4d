//! The stock fold of a location document: every stock move, concurrent
//! counts and picks, below-zero exceptions and their resolution, epoch
//! rollover with late events, voids and duplicate delivery.

mod support;

use std::collections::BTreeMap;

use automerge::AutoCommit;
use support::{Device, gtin, location_header, merge, new_location, stock_view};
use waybill_shared::doc::location::{self, Balance, LocationHeader};
use waybill_shared::doc::{self, Contents, DocId};
use waybill_shared::event::office::{Decision, ExceptionResolved, Voided};
use waybill_shared::event::returns::{Disposition, ReturnLine, ReturnReceived};
use waybill_shared::event::stock::{AdjustReason, Adjusted, Counted, PutAway, Received, Transferred};
use waybill_shared::event::warehouse::{Picked, PutBack};
use waybill_shared::event::{Event, Payload};
use waybill_shared::event_id::EventId;
use waybill_shared::fold::stock::{self, StockLine};
use waybill_shared::fold::{Exception, ExceptionKind, Resolution};
use waybill_shared::id::{BinId, DeviceId, LocationId};
use waybill_shared::policy::actor_of;

fn bin(n: u32) -> BinId {
    format!("A-{n}").parse().unwrap()
}

fn loc(id: &str) -> LocationId {
    id.parse().unwrap()
}

fn line(b: u32, g: u64, on_hand: i64) -> StockLine {
    StockLine { bin: bin(b), gtin: gtin(g), on_hand }
}

fn received(b: u32, g: u64, quantity: u32) -> Payload {
    Payload::Received(Received { bin: bin(b), gtin: gtin(g), quantity, lot: None, expiry: None })
}

fn put_away(from: u32, to: u32, g: u64, quantity: u32) -> Payload {
    Payload::PutAway(PutAway { from_bin: bin(from), to_bin: bin(to), gtin: gtin(g), quantity })
}

fn adjusted(b: u32, g: u64, delta: i64, reason: AdjustReason) -> Payload {
    Payload::Adjusted(Adjusted { bin: bin(b), gtin: gtin(g), delta, reason })
}

fn counted(b: u32, g: u64, expected: i64, counted: i64) -> Payload {
    Payload::Counted(Counted { bin: bin(b), gtin: gtin(g), expected, counted })
}

fn transferred(from: &str, from_bin: u32, to: &str, to_bin: u32, g: u64, quantity: u32) -> Payload {
    Payload::Transferred(Transferred {
        from: loc(from),
        from_bin: bin(from_bin),
        to: loc(to),
        to_bin: bin(to_bin),
        gtin: gtin(g),
        quantity,
    })
}

fn picked(at: &str, b: u32, g: u64, quantity: u32) -> Payload {
    Payload::Picked(Picked {
        order: "SO-1".parse().unwrap(),
        line: 1,
        location: loc(at),
        bin: bin(b),
        gtin: gtin(g),
        quantity,
        lot: None,
        serial: None,
        expiry: None,
        override_reason: None,
    })
}

fn put_back(at: &str, b: u32, g: u64, quantity: u32) -> Payload {
    Payload::PutBack(PutBack {
        order: "SO-1".parse().unwrap(),
        line: 1,
        location: loc(at),
        bin: bin(b),
        gtin: gtin(g),
        quantity,
    })
}

fn return_received(at: &str, b: Option<u32>, disposition: Disposition, lines: &[(u64, u32)]) -> Payload {
    Payload::ReturnReceived(ReturnReceived {
        order: "SO-1".parse().unwrap(),
        rma: Some("RMA-1".into()),
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, &(g, quantity))| ReturnLine { line: i as u32 + 1, gtin: gtin(g), quantity })
            .collect(),
        disposition,
        location: loc(at),
        bin: b.map(bin),
    })
}

fn voided(target: &Event) -> Payload {
    Payload::Voided(Voided { target: target.id.clone(), reason: "wrong scan".into() })
}

fn resolved(exception: &str, events: &[&Event], decision: Decision) -> Payload {
    Payload::ExceptionResolved(ExceptionResolved {
        exception: exception.into(),
        events: events.iter().map(|e| e.id.clone()).collect(),
        decision,
        note: "checked the shelf".into(),
    })
}

fn ids(events: &[&Event]) -> Vec<EventId> {
    let mut ids: Vec<EventId> = events.iter().map(|e| e.id.clone()).collect();
    ids.sort();
    ids
}

fn below_zero_id(b: u32, g: u64) -> String {
    format!("stock_below_zero:A-{b}:{}", gtin(g))
}

/// The office and a location `id` with 6 bins, epoch 0, empty.
fn setup(id: &str) -> (Device, AutoCommit) {
    let office = Device::new("office-1");
    let doc = new_location(&office, &location_header(id, 6));
    (office, doc)
}

/// Creates the next epoch's document from `doc`'s closing balance, as the office does.
fn roll_over(office: &Device, doc: &mut AutoCommit) -> (LocationHeader, AutoCommit) {
    let header = location::next_epoch(&location::read(doc.document()).unwrap());
    let next = doc::create(actor_of(&office.id()), &DocId::Location { id: header.id.clone(), epoch: 1 }, &header);
    (header, next)
}

#[test]
fn received_goods_go_into_their_bin() {
    let (_, mut doc) = setup("wh-1");
    let mut rcv = Device::new("rcv-1");
    rcv.append(&mut doc, received(1, 1, 10));
    rcv.append(&mut doc, received(1, 1, 2));
    rcv.append(&mut doc, received(2, 2, 5));
    let view = stock_view(&mut doc);
    assert_eq!(view.location, loc("wh-1"));
    assert_eq!(view.epoch, 0);
    assert_eq!(view.stock, vec![line(1, 1, 12), line(2, 2, 5)]);
    assert_eq!(view.on_hand(&bin(1), &gtin(1)), 12);
    assert_eq!(view.on_hand(&bin(1), &gtin(2)), 0);
    assert_eq!(view.events, 3);
    assert_eq!(view.exceptions, vec![]);
    assert_eq!(view.unreadable, vec![]);
}

#[test]
fn put_away_moves_units_from_one_bin_to_another() {
    let (_, mut doc) = setup("wh-1");
    let mut rcv = Device::new("rcv-1");
    rcv.append(&mut doc, received(1, 1, 10));
    rcv.append(&mut doc, put_away(1, 3, 1, 4));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 6), line(3, 1, 4)]);
    // Emptying a bin drops its line.
    rcv.append(&mut doc, put_away(1, 3, 1, 6));
    assert_eq!(stock_view(&mut doc).stock, vec![line(3, 1, 10)]);
}

#[test]
fn adjustments_add_their_delta() {
    let (_, mut doc) = setup("wh-1");
    let mut rcv = Device::new("rcv-1");
    rcv.append(&mut doc, received(1, 1, 10));
    rcv.append(&mut doc, adjusted(1, 1, -3, AdjustReason::Damaged));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 7)]);
    rcv.append(&mut doc, adjusted(1, 1, 2, AdjustReason::Found));
    rcv.append(&mut doc, adjusted(2, 1, 1, AdjustReason::Correction));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 9), line(2, 1, 1)]);
}

#[test]
fn a_count_adds_counted_minus_expected() {
    let (_, mut doc) = setup("wh-1");
    let mut rcv = Device::new("rcv-1");
    rcv.append(&mut doc, received(1, 1, 10));
    rcv.append(&mut doc, counted(1, 1, 10, 12));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 12)]);
    rcv.append(&mut doc, counted(1, 1, 12, 5));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 5)]);
    // A count of an empty bin that finds goods.
    rcv.append(&mut doc, counted(2, 1, 0, 3));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 5), line(2, 1, 3)]);
}

#[test]
fn one_transfer_event_written_into_both_locations_moves_stock_out_of_one_and_into_the_other() {
    let office = Device::new("office-1");
    let mut from = new_location(&office, &location_header("wh-1", 4));
    let mut to = new_location(&office, &location_header("wh-2", 4));
    let mut rcv = Device::new("rcv-1");
    rcv.append(&mut from, received(1, 1, 10));
    rcv.append(&mut to, received(3, 1, 1));

    let t = rcv.event(transferred("wh-1", 1, "wh-2", 3, 1, 4));
    doc::append(&mut from, &t).unwrap();
    doc::append(&mut to, &t).unwrap();

    let out = stock_view(&mut from);
    assert_eq!(out.stock, vec![line(1, 1, 6)]);
    assert_eq!(out.events, 2);
    let inn = stock_view(&mut to);
    assert_eq!(inn.stock, vec![line(3, 1, 5)]);
    assert_eq!(inn.events, 2);

    // A transfer between two bins of the same location moves within it.
    rcv.append(&mut from, transferred("wh-1", 1, "wh-1", 2, 1, 1));
    assert_eq!(stock_view(&mut from).stock, vec![line(1, 1, 5), line(2, 1, 1)]);
    // A transfer between two other locations does not touch this one.
    rcv.append(&mut from, transferred("wh-3", 1, "wh-4", 2, 1, 1));
    assert_eq!(stock_view(&mut from).stock, vec![line(1, 1, 5), line(2, 1, 1)]);
}

#[test]
fn picks_and_put_backs_move_stock_only_at_their_own_location() {
    let (_, mut doc) = setup("wh-1");
    let mut rcv = Device::new("rcv-1");
    let mut picker = Device::new("hh-1");
    rcv.append(&mut doc, received(1, 1, 10));
    picker.append(&mut doc, picked("wh-1", 1, 1, 3));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 7)]);
    picker.append(&mut doc, put_back("wh-1", 1, 1, 1));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 8)]);
    // Another location's pick and put-back, even if found in this document.
    picker.append(&mut doc, picked("wh-2", 1, 1, 5));
    picker.append(&mut doc, put_back("wh-2", 2, 1, 2));
    let view = stock_view(&mut doc);
    assert_eq!(view.stock, vec![line(1, 1, 8)]);
    assert_eq!(view.exceptions, vec![]);
}

#[test]
fn restocked_returns_go_into_their_bin_and_damaged_ones_do_not() {
    let (_, mut doc) = setup("wh-1");
    let mut dock = Device::new("rcv-1");
    dock.append(&mut doc, return_received("wh-1", Some(4), Disposition::Restock, &[(1, 2), (2, 1)]));
    assert_eq!(stock_view(&mut doc).stock, vec![line(4, 1, 2), line(4, 2, 1)]);
    dock.append(&mut doc, return_received("wh-1", Some(4), Disposition::Damaged, &[(1, 5)]));
    assert_eq!(stock_view(&mut doc).stock, vec![line(4, 1, 2), line(4, 2, 1)]);
    // Restocked at another location: not here.
    dock.append(&mut doc, return_received("wh-2", Some(4), Disposition::Restock, &[(1, 7)]));
    assert_eq!(stock_view(&mut doc).stock, vec![line(4, 1, 2), line(4, 2, 1)]);
}

#[test]
fn a_count_made_concurrently_with_a_pick_merges_to_the_right_figure() {
    let (office, mut doc) = setup("wh-1");
    let mut rcv = Device::new("rcv-1");
    rcv.append(&mut doc, received(1, 1, 10));
    let _ = office;

    // Two replicas, offline from each other, both seeing 10 on hand.
    let mut picker = Device::new("hh-1");
    let mut counter = Device::new("hh-2");
    let mut a = picker.fork(&mut doc);
    let mut b = counter.fork(&mut doc);
    picker.append(&mut a, picked("wh-1", 1, 1, 2));
    // The counter finds 9 where its device showed 10: one unit is lost. It
    // cannot see the two units the picker took.
    counter.append(&mut b, counted(1, 1, 10, 9));
    assert_eq!(stock_view(&mut a).stock, vec![line(1, 1, 8)]);
    assert_eq!(stock_view(&mut b).stock, vec![line(1, 1, 9)]);

    merge(&mut a, &mut b);
    merge(&mut b, &mut a);
    merge(&mut doc, &mut a);
    for replica in [&mut a, &mut b, &mut doc] {
        let view = stock_view(replica);
        assert_eq!(view.stock, vec![line(1, 1, 7)]);
        assert_eq!(view.events, 3);
        assert_eq!(view.exceptions, vec![]);
    }
}

#[test]
fn stock_below_zero_is_an_exception_naming_the_decrements_until_the_office_resolves_it() {
    let (mut office, mut doc) = setup("wh-1");
    let mut rcv = Device::new("rcv-1");
    let mut picker = Device::new("hh-1");
    rcv.append(&mut doc, received(1, 1, 2));
    rcv.append(&mut doc, received(2, 2, 5));
    picker.append(&mut doc, picked("wh-1", 1, 1, 1));
    assert_eq!(stock_view(&mut doc).exceptions, vec![]);
    // 1 on hand: this pick takes it to -1, the adjustment to -2.
    let p2 = picker.append(&mut doc, picked("wh-1", 1, 1, 2));
    let adj = rcv.append(&mut doc, adjusted(1, 1, -1, AdjustReason::Lost));
    let id = below_zero_id(1, 1);
    assert_eq!(id, format!("stock_below_zero:A-1:0{}", gtin(1).as_str().trim_start_matches('0')));

    let view = stock_view(&mut doc);
    assert_eq!(view.stock, vec![line(1, 1, -2), line(2, 2, 5)]);
    assert_eq!(
        view.exceptions,
        vec![Exception {
            id: id.clone(),
            kind: ExceptionKind::StockBelowZero { bin: bin(1), gtin: gtin(1), on_hand: -2 },
            events: ids(&[&p2, &adj]),
            resolution: None,
        }]
    );
    assert!(view.exceptions[0].is_open());

    // A resolution of another exception, or of only some of the events,
    // does not settle it.
    office.append(&mut doc, resolved(&below_zero_id(2, 2), &[&p2, &adj], Decision::Accept));
    office.append(&mut doc, resolved(&id, &[&p2], Decision::Accept));
    assert!(stock_view(&mut doc).exceptions[0].is_open());

    let fix = office.append(&mut doc, resolved(&id, &[&p2, &adj], Decision::WriteOff));
    let view = stock_view(&mut doc);
    assert_eq!(view.stock, vec![line(1, 1, -2), line(2, 2, 5)]);
    assert_eq!(
        view.exceptions,
        vec![Exception {
            id: id.clone(),
            kind: ExceptionKind::StockBelowZero { bin: bin(1), gtin: gtin(1), on_hand: -2 },
            events: ids(&[&p2, &adj]),
            resolution: Some(Resolution {
                event: fix.id.clone(),
                decision: Decision::WriteOff,
                note: "checked the shelf".into()
            }),
        }]
    );

    // A further decrement joins the exception and opens it again.
    let p3 = picker.append(&mut doc, picked("wh-1", 1, 1, 1));
    let view = stock_view(&mut doc);
    assert_eq!(
        view.exceptions,
        vec![Exception {
            id: id.clone(),
            kind: ExceptionKind::StockBelowZero { bin: bin(1), gtin: gtin(1), on_hand: -3 },
            events: ids(&[&p2, &adj, &p3]),
            resolution: None,
        }]
    );

    // An increment that leaves it below zero keeps it; back to zero or above, it is gone.
    rcv.append(&mut doc, received(1, 1, 1));
    let view = stock_view(&mut doc);
    assert_eq!(
        view.exceptions[0].kind,
        ExceptionKind::StockBelowZero { bin: bin(1), gtin: gtin(1), on_hand: -2 }
    );
    assert_eq!(view.exceptions[0].events, ids(&[&p2, &adj, &p3]));
    rcv.append(&mut doc, received(1, 1, 3));
    let view = stock_view(&mut doc);
    assert_eq!(view.stock, vec![line(1, 1, 1), line(2, 2, 5)]);
    assert_eq!(view.exceptions, vec![]);
}

/// Epoch 0 of wh-1 with receipts, a pick, a count and a put-away; returns
/// the office, the document and the devices that wrote into it.
fn busy_epoch() -> (Device, AutoCommit, Device, Device) {
    let (office, mut doc) = setup("wh-1");
    let mut rcv = Device::new("rcv-1");
    let mut picker = Device::new("hh-1");
    rcv.append(&mut doc, received(1, 1, 10));
    rcv.append(&mut doc, received(2, 2, 5));
    rcv.append(&mut doc, received(3, 1, 4));
    picker.append(&mut doc, picked("wh-1", 1, 1, 3));
    picker.append(&mut doc, counted(2, 2, 5, 4));
    rcv.append(&mut doc, put_away(3, 4, 1, 4));
    (office, doc, rcv, picker)
}

#[test]
fn a_new_epoch_opens_with_the_closing_balance_of_the_old() {
    let (office, mut doc, _, _) = busy_epoch();
    let closing = stock_view(&mut doc);
    assert_eq!(closing.stock, vec![line(1, 1, 7), line(2, 2, 4), line(4, 1, 4)]);

    let (header, mut next) = roll_over(&office, &mut doc);
    assert_eq!(header.epoch, 1);
    assert_eq!(header.id, loc("wh-1"));
    assert_eq!(header.bins, location_header("wh-1", 6).bins);
    assert_eq!(
        header.opening,
        vec![
            Balance { bin: bin(1), gtin: gtin(1), quantity: 7 },
            Balance { bin: bin(2), gtin: gtin(2), quantity: 4 },
            Balance { bin: bin(4), gtin: gtin(1), quantity: 4 },
        ]
    );
    assert_eq!(
        header.cutoff,
        BTreeMap::from([(DeviceId::new("hh-1").unwrap(), 2), (DeviceId::new("rcv-1").unwrap(), 4)])
    );

    let read = location::read(next.document()).unwrap();
    assert_eq!(read.header, header);
    assert_eq!(read.events, vec![]);
    let opened = stock_view(&mut next);
    assert_eq!(opened.epoch, 1);
    assert_eq!(opened.stock, closing.stock);
    assert_eq!(opened.exceptions, vec![]);
    assert_eq!(opened.events, 0);
}

#[test]
fn the_new_epoch_folds_its_own_moves_on_top_of_the_opening_balance() {
    let (office, mut doc, mut rcv, mut picker) = busy_epoch();
    let (_, mut next) = roll_over(&office, &mut doc);
    picker.append(&mut next, picked("wh-1", 1, 1, 2));
    rcv.append(&mut next, received(2, 2, 1));
    let view = stock_view(&mut next);
    assert_eq!(view.stock, vec![line(1, 1, 5), line(2, 2, 5), line(4, 1, 4)]);
    assert_eq!(view.events, 2);

    // Rolled over again, the cutoff moves up to the newest events.
    let header = location::next_epoch(&location::read(next.document()).unwrap());
    assert_eq!(header.epoch, 2);
    assert_eq!(
        header.opening,
        vec![
            Balance { bin: bin(1), gtin: gtin(1), quantity: 5 },
            Balance { bin: bin(2), gtin: gtin(2), quantity: 5 },
            Balance { bin: bin(4), gtin: gtin(1), quantity: 4 },
        ]
    );
    assert_eq!(
        header.cutoff,
        BTreeMap::from([(DeviceId::new("hh-1").unwrap(), 3), (DeviceId::new("rcv-1").unwrap(), 5)])
    );
}

#[test]
fn a_late_event_copied_into_the_new_epoch_counts_once_and_a_covered_one_not_again() {
    let (office, mut doc, _, mut picker) = busy_epoch();
    // The picker holds epoch 0 and goes offline.
    let mut offline = picker.fork(&mut doc);
    let (header, mut next) = roll_over(&office, &mut doc);
    assert_eq!(header.cutoff.get(&picker.id()), Some(&2));

    // Not knowing of the rollover, it picks 2 more into epoch 0.
    let late = picker.append(&mut offline, picked("wh-1", 1, 1, 2));
    assert_eq!(late.id.seq, 3);
    assert!(!header.covers(&late));

    // Back online: epoch 0 learns of it, and the events the cutoff does not
    // cover are copied into epoch 1 (same ids).
    merge(&mut doc, &mut offline);
    let old = location::read(doc.document()).unwrap();
    let mut copied = 0;
    for e in old.events.iter().filter(|e| !header.covers(e)) {
        doc::append(&mut next, e).unwrap();
        copied += 1;
    }
    assert_eq!(copied, 1);
    let view = stock_view(&mut next);
    assert_eq!(view.stock, vec![line(1, 1, 5), line(2, 2, 4), line(4, 1, 4)]);
    assert_eq!(view.events, 1);

    // An event the opening balance already counts, copied in as well (say,
    // by a device that re-sent all it wrote), does not count twice.
    let covered: Vec<&Event> = old.events.iter().filter(|e| header.covers(e)).collect();
    assert_eq!(covered.len(), 6);
    for e in covered {
        doc::append(&mut next, e).unwrap();
    }
    let view = stock_view(&mut next);
    assert_eq!(view.stock, vec![line(1, 1, 5), line(2, 2, 4), line(4, 1, 4)]);
    assert_eq!(view.events, 1);
    assert_eq!(view.exceptions, vec![]);
}

#[test]
fn voided_events_do_not_count() {
    let (_, mut doc) = setup("wh-1");
    let mut rcv = Device::new("rcv-1");
    let mut picker = Device::new("hh-1");
    let r = rcv.append(&mut doc, received(1, 1, 10));
    let p = picker.append(&mut doc, picked("wh-1", 1, 1, 3));
    let a = rcv.append(&mut doc, adjusted(1, 1, 100, AdjustReason::Found));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 107)]);
    rcv.append(&mut doc, voided(&a));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 7)]);
    picker.append(&mut doc, voided(&p));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 10)]);
    rcv.append(&mut doc, voided(&r));
    let view = stock_view(&mut doc);
    assert_eq!(view.stock, vec![]);
    assert_eq!(view.exceptions, vec![]);
}

#[test]
fn a_voided_decrement_takes_its_below_zero_exception_away() {
    let (_, mut doc) = setup("wh-1");
    let mut rcv = Device::new("rcv-1");
    let mut picker = Device::new("hh-1");
    rcv.append(&mut doc, received(1, 1, 1));
    let p = picker.append(&mut doc, picked("wh-1", 1, 1, 3));
    assert_eq!(stock_view(&mut doc).exceptions[0].events, vec![p.id.clone()]);
    picker.append(&mut doc, voided(&p));
    let view = stock_view(&mut doc);
    assert_eq!(view.stock, vec![line(1, 1, 1)]);
    assert_eq!(view.exceptions, vec![]);
}

#[test]
fn a_voided_event_stays_out_of_the_next_epoch() {
    let (office, mut doc) = setup("wh-1");
    let mut rcv = Device::new("rcv-1");
    let mut picker = Device::new("hh-1");
    rcv.append(&mut doc, received(1, 1, 10));
    let p = picker.append(&mut doc, picked("wh-1", 1, 1, 3));
    picker.append(&mut doc, voided(&p));
    let (header, mut next) = roll_over(&office, &mut doc);
    assert_eq!(header.opening, vec![Balance { bin: bin(1), gtin: gtin(1), quantity: 10 }]);
    assert_eq!(header.cutoff.get(&picker.id()), Some(&2));
    assert_eq!(stock_view(&mut next).stock, vec![line(1, 1, 10)]);
}

#[test]
fn a_void_after_the_rollover_takes_a_move_the_opening_balance_counts_back_out() {
    let (office, mut doc) = setup("wh-1");
    let mut rcv = Device::new("rcv-1");
    let mut picker = Device::new("hh-1");
    rcv.append(&mut doc, received(1, 1, 10));
    let p = picker.append(&mut doc, picked("wh-1", 1, 1, 3));
    let (header, mut next) = roll_over(&office, &mut doc);
    assert!(header.covers(&p));
    assert_eq!(stock_view(&mut next).stock, vec![line(1, 1, 7)]);

    // The pick was a wrong scan. The void goes into the current epoch with
    // the event it names (which the cutoff covers, so it counts nothing by itself).
    doc::append(&mut next, &p).unwrap();
    assert_eq!(stock_view(&mut next).stock, vec![line(1, 1, 7)]);
    picker.append(&mut next, voided(&p));
    let view = stock_view(&mut next);
    assert_eq!(view.stock, vec![line(1, 1, 10)]);
    assert_eq!(view.exceptions, vec![]);

    // And the epoch after that opens with the corrected balance.
    let after = location::next_epoch(&location::read(next.document()).unwrap());
    assert_eq!(after.opening, vec![Balance { bin: bin(1), gtin: gtin(1), quantity: 10 }]);
}

#[test]
fn an_event_delivered_twice_counts_once() {
    let (_, mut doc) = setup("wh-1");
    let mut rcv = Device::new("rcv-1");
    rcv.append(&mut doc, received(1, 1, 10));

    // Two replicas each get the same pick (say, relayed by two paths) and merge.
    let office = Device::new("office-1");
    let mut picker = Device::new("hh-1");
    let mut a = picker.fork(&mut doc);
    let mut b = office.fork(&mut doc);
    let p = picker.event(picked("wh-1", 1, 1, 3));
    doc::append(&mut a, &p).unwrap();
    doc::append(&mut b, &p).unwrap();
    merge(&mut a, &mut b);
    merge(&mut b, &mut a);
    for replica in [&mut a, &mut b] {
        let view = stock_view(replica);
        assert_eq!(view.stock, vec![line(1, 1, 7)]);
        assert_eq!(view.events, 2);
    }
    // Once in a document, it is refused a second time.
    assert!(matches!(doc::append(&mut a, &p), Err(doc::DocError::DuplicateEvent(id)) if id == p.id));

    // And the fold itself counts an id once, however often it is handed it.
    let contents = location::read(a.document()).unwrap();
    let mut events = contents.events.clone();
    events.extend(contents.events.iter().cloned());
    events.push(p.clone());
    let doubled = Contents { header: contents.header.clone(), events, unreadable: vec![] };
    let view = stock::fold(&doubled);
    assert_eq!(view.stock, vec![line(1, 1, 7)]);
    assert_eq!(view.events, 2);
}

#[test]
fn the_view_does_not_depend_on_the_order_events_arrive_in() {
    let (_, mut doc, mut rcv, mut picker) = busy_epoch();
    let p = picker.append(&mut doc, picked("wh-1", 2, 2, 9));
    rcv.append(&mut doc, voided(&p));
    picker.append(&mut doc, picked("wh-1", 4, 1, 6));
    let contents = location::read(doc.document()).unwrap();
    let expected = stock::fold(&contents);
    assert_eq!(expected.stock, vec![line(1, 1, 7), line(2, 2, 4), line(4, 1, -2)]);
    assert_eq!(expected.exceptions.len(), 1);
    let mut events = contents.events.clone();
    for shift in 0..events.len() {
        events.rotate_left(1);
        let mut reversed = events.clone();
        reversed.reverse();
        for order in [events.clone(), reversed] {
            let view = stock::fold(&Contents { header: contents.header.clone(), events: order, unreadable: vec![] });
            assert_eq!(view, expected, "rotation {shift}");
        }
    }
}
