//! The stock fold of a location document: every stock move, concurrent
//! counts and picks, below-zero exceptions and their resolution, epoch
//! rollover with late events, voids and duplicate delivery.

// A failed unwrap in a test helper is a failed test, as in the tests themselves.
#![allow(clippy::unwrap_used)]

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

/// Devices on one floor sharing a wall clock, so that events are stamped
/// (and folded) in the order a test writes them.
struct Floor {
    devices: BTreeMap<String, Device>,
    now_ms: i64,
}

impl Floor {
    fn new() -> Self {
        Self { devices: BTreeMap::new(), now_ms: 0 }
    }

    fn device(&mut self, name: &str) -> &mut Device {
        self.devices.entry(name.to_owned()).or_insert_with(|| Device::new(name))
    }

    fn id(&mut self, name: &str) -> DeviceId {
        self.device(name).id()
    }

    /// `name` records an event, one second after the last one on the floor.
    fn event(&mut self, name: &str, payload: Payload) -> Event {
        let now = self.now_ms;
        let device = self.device(name);
        device.now_ms = device.now_ms.max(now);
        let e = device.event(payload);
        self.now_ms = device.now_ms;
        e
    }

    /// `name` records an event and appends it to `doc`.
    fn append(&mut self, name: &str, doc: &mut AutoCommit, payload: Payload) -> Event {
        let e = self.event(name, payload);
        doc::append(doc, &e).unwrap();
        e
    }

    /// `name`'s own replica of `doc`.
    fn fork(&mut self, name: &str, doc: &mut AutoCommit) -> AutoCommit {
        self.device(name).fork(doc)
    }
}

/// The floor and a location `id` with 6 bins, epoch 0, empty, created by the office.
fn setup(id: &str) -> (Floor, AutoCommit) {
    let mut floor = Floor::new();
    let doc = new_location(floor.device(OFFICE), &location_header(id, 6));
    (floor, doc)
}

const OFFICE: &str = "office-1";
const RCV: &str = "rcv-1";
const PICKER: &str = "hh-1";
const COUNTER: &str = "hh-2";

/// Creates the next epoch's document from `doc`'s closing balance, as the office does.
fn roll_over(doc: &mut AutoCommit) -> (LocationHeader, AutoCommit) {
    let header = location::next_epoch(&location::read(doc.document()).unwrap());
    let office = DeviceId::new(OFFICE).unwrap();
    let next = doc::create(actor_of(&office), &DocId::Location { id: header.id.clone(), epoch: 1 }, &header);
    (header, next)
}

#[test]
fn received_goods_go_into_their_bin() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 10));
    f.append(RCV, &mut doc, received(1, 1, 2));
    f.append(RCV, &mut doc, received(2, 2, 5));
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
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 10));
    f.append(RCV, &mut doc, put_away(1, 3, 1, 4));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 6), line(3, 1, 4)]);
    // Emptying a bin drops its line.
    f.append(RCV, &mut doc, put_away(1, 3, 1, 6));
    assert_eq!(stock_view(&mut doc).stock, vec![line(3, 1, 10)]);
}

#[test]
fn adjustments_add_their_delta() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 10));
    f.append(RCV, &mut doc, adjusted(1, 1, -3, AdjustReason::Damaged));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 7)]);
    f.append(RCV, &mut doc, adjusted(1, 1, 2, AdjustReason::Found));
    f.append(RCV, &mut doc, adjusted(2, 1, 1, AdjustReason::Correction));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 9), line(2, 1, 1)]);
}

#[test]
fn a_count_adds_counted_minus_expected() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 10));
    f.append(COUNTER, &mut doc, counted(1, 1, 10, 12));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 12)]);
    f.append(COUNTER, &mut doc, counted(1, 1, 12, 5));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 5)]);
    // A count that finds goods in a bin the device shows empty.
    f.append(COUNTER, &mut doc, counted(2, 1, 0, 3));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 5), line(2, 1, 3)]);
}

#[test]
fn one_transfer_event_written_into_both_locations_moves_stock_out_of_one_and_into_the_other() {
    let (mut f, mut from) = setup("wh-1");
    let mut to = new_location(f.device(OFFICE), &location_header("wh-2", 4));
    f.append(RCV, &mut from, received(1, 1, 10));
    f.append(RCV, &mut to, received(3, 1, 1));

    let t = f.event(RCV, transferred("wh-1", 1, "wh-2", 3, 1, 4));
    doc::append(&mut from, &t).unwrap();
    doc::append(&mut to, &t).unwrap();

    let out = stock_view(&mut from);
    assert_eq!(out.stock, vec![line(1, 1, 6)]);
    assert_eq!(out.events, 2);
    let inn = stock_view(&mut to);
    assert_eq!(inn.location, loc("wh-2"));
    assert_eq!(inn.stock, vec![line(3, 1, 5)]);
    assert_eq!(inn.events, 2);

    // Between two bins of the same location: a move within it.
    f.append(RCV, &mut from, transferred("wh-1", 1, "wh-1", 2, 1, 1));
    assert_eq!(stock_view(&mut from).stock, vec![line(1, 1, 5), line(2, 1, 1)]);
    // Between two other locations: nothing here.
    f.append(RCV, &mut from, transferred("wh-3", 1, "wh-4", 2, 1, 1));
    assert_eq!(stock_view(&mut from).stock, vec![line(1, 1, 5), line(2, 1, 1)]);
}

#[test]
fn picks_and_put_backs_move_stock_only_at_their_own_location() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 10));
    f.append(PICKER, &mut doc, picked("wh-1", 1, 1, 3));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 7)]);
    f.append(PICKER, &mut doc, put_back("wh-1", 1, 1, 1));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 8)]);
    // Another location's pick and put-back, even if found in this document.
    f.append(PICKER, &mut doc, picked("wh-2", 1, 1, 5));
    f.append(PICKER, &mut doc, put_back("wh-2", 2, 1, 2));
    let view = stock_view(&mut doc);
    assert_eq!(view.stock, vec![line(1, 1, 8)]);
    assert_eq!(view.exceptions, vec![]);
}

#[test]
fn restocked_returns_go_into_their_bin_and_damaged_ones_do_not() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, return_received("wh-1", Some(4), Disposition::Restock, &[(1, 2), (2, 1)]));
    assert_eq!(stock_view(&mut doc).stock, vec![line(4, 1, 2), line(4, 2, 1)]);
    f.append(RCV, &mut doc, return_received("wh-1", Some(4), Disposition::Damaged, &[(1, 5)]));
    assert_eq!(stock_view(&mut doc).stock, vec![line(4, 1, 2), line(4, 2, 1)]);
    // Restocked at another location: not here.
    f.append(RCV, &mut doc, return_received("wh-2", Some(4), Disposition::Restock, &[(1, 7)]));
    assert_eq!(stock_view(&mut doc).stock, vec![line(4, 1, 2), line(4, 2, 1)]);
}

#[test]
fn a_count_made_concurrently_with_a_pick_merges_to_the_right_figure() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 10));

    // Two replicas, offline from each other, both showing 10 on hand.
    let mut a = f.fork(PICKER, &mut doc);
    let mut b = f.fork(COUNTER, &mut doc);
    f.append(PICKER, &mut a, picked("wh-1", 1, 1, 2));
    // The counter finds 9 where its device showed 10: one unit is lost. It
    // cannot know of the two units the picker took.
    f.append(COUNTER, &mut b, counted(1, 1, 10, 9));
    assert_eq!(stock_view(&mut a).stock, vec![line(1, 1, 8)]);
    assert_eq!(stock_view(&mut b).stock, vec![line(1, 1, 9)]);

    merge(&mut a, &mut b);
    merge(&mut b, &mut a);
    merge(&mut doc, &mut b);
    for replica in [&mut a, &mut b, &mut doc] {
        let view = stock_view(replica);
        assert_eq!(view.stock, vec![line(1, 1, 7)]);
        assert_eq!(view.events, 3);
        assert_eq!(view.exceptions, vec![]);
    }
}

#[test]
fn stock_below_zero_is_an_exception_naming_the_decrements_until_the_office_resolves_it() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 2));
    f.append(RCV, &mut doc, received(2, 2, 5));
    f.append(PICKER, &mut doc, picked("wh-1", 1, 1, 1));
    assert_eq!(stock_view(&mut doc).exceptions, vec![]);
    // 1 on hand: this pick takes it to -1, the adjustment to -2.
    let p2 = f.append(PICKER, &mut doc, picked("wh-1", 1, 1, 2));
    let adj = f.append(RCV, &mut doc, adjusted(1, 1, -1, AdjustReason::Lost));
    let id = "stock_below_zero:A-1:09506000000015";
    let below = |on_hand| ExceptionKind::StockBelowZero { bin: bin(1), gtin: gtin(1), on_hand };

    let view = stock_view(&mut doc);
    assert_eq!(view.stock, vec![line(1, 1, -2), line(2, 2, 5)]);
    assert_eq!(
        view.exceptions,
        vec![Exception { id: id.into(), kind: below(-2), events: ids(&[&p2, &adj]), resolution: None }]
    );
    assert!(view.exceptions[0].is_open());

    // A resolution of another exception, or of only some of its events,
    // does not settle it.
    f.append(
        OFFICE,
        &mut doc,
        resolved("stock_below_zero:A-2:09506000000022", &[&p2, &adj], Decision::Accept),
    );
    f.append(OFFICE, &mut doc, resolved(id, &[&p2], Decision::Accept));
    assert!(stock_view(&mut doc).exceptions[0].is_open());

    let fix = f.append(OFFICE, &mut doc, resolved(id, &[&p2, &adj], Decision::WriteOff));
    let view = stock_view(&mut doc);
    assert_eq!(view.stock, vec![line(1, 1, -2), line(2, 2, 5)]);
    assert_eq!(
        view.exceptions,
        vec![Exception {
            id: id.into(),
            kind: below(-2),
            events: ids(&[&p2, &adj]),
            resolution: Some(Resolution {
                event: fix.id.clone(),
                decision: Decision::WriteOff,
                note: "checked the shelf".into()
            }),
        }]
    );
    assert!(!view.exceptions[0].is_open());

    // A further decrement joins the exception and opens it again.
    let p3 = f.append(PICKER, &mut doc, picked("wh-1", 1, 1, 1));
    let view = stock_view(&mut doc);
    assert_eq!(
        view.exceptions,
        vec![Exception { id: id.into(), kind: below(-3), events: ids(&[&p2, &adj, &p3]), resolution: None }]
    );

    // The office covers it too.
    let fix = f.append(OFFICE, &mut doc, resolved(id, &[&p2, &adj, &p3], Decision::Accept));
    assert_eq!(stock_view(&mut doc).exceptions[0].resolution.as_ref().map(|r| &r.event), Some(&fix.id));

    // An increment that leaves it below zero keeps it; at zero or above it is gone.
    f.append(RCV, &mut doc, received(1, 1, 1));
    let view = stock_view(&mut doc);
    assert_eq!(view.exceptions.len(), 1);
    assert_eq!(view.exceptions[0].kind, below(-2));
    assert_eq!(view.exceptions[0].events, ids(&[&p2, &adj, &p3]));
    f.append(RCV, &mut doc, received(1, 1, 2));
    let view = stock_view(&mut doc);
    assert_eq!(view.stock, vec![line(2, 2, 5)]);
    assert_eq!(view.exceptions, vec![]);

    // Below zero again: a new shortfall, naming only the new decrement.
    let p4 = f.append(PICKER, &mut doc, picked("wh-1", 1, 1, 1));
    assert_eq!(
        stock_view(&mut doc).exceptions,
        vec![Exception { id: id.into(), kind: below(-1), events: vec![p4.id.clone()], resolution: None }]
    );
}

#[test]
fn concurrent_picks_that_overdraw_a_bin_name_the_pick_that_took_it_below_zero() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 3));
    let mut a = f.fork(PICKER, &mut doc);
    let mut b = f.fork(COUNTER, &mut doc);
    let first = f.append(PICKER, &mut a, picked("wh-1", 1, 1, 2));
    let second = f.append(COUNTER, &mut b, picked("wh-1", 1, 1, 2));
    assert_eq!(stock_view(&mut a).exceptions, vec![]);
    assert_eq!(stock_view(&mut b).exceptions, vec![]);
    merge(&mut a, &mut b);
    merge(&mut b, &mut a);
    assert!(first.hlc < second.hlc);
    for replica in [&mut a, &mut b] {
        let view = stock_view(replica);
        assert_eq!(view.stock, vec![line(1, 1, -1)]);
        assert_eq!(
            view.exceptions,
            vec![Exception {
                id: "stock_below_zero:A-1:09506000000015".into(),
                kind: ExceptionKind::StockBelowZero { bin: bin(1), gtin: gtin(1), on_hand: -1 },
                events: vec![second.id.clone()],
                resolution: None,
            }]
        );
    }
}

/// Epoch 0 of wh-1 with receipts, a pick, a count and a put-away.
fn busy_epoch() -> (Floor, AutoCommit) {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 10));
    f.append(RCV, &mut doc, received(2, 2, 5));
    f.append(RCV, &mut doc, received(3, 1, 4));
    f.append(PICKER, &mut doc, picked("wh-1", 1, 1, 3));
    f.append(PICKER, &mut doc, counted(2, 2, 5, 4));
    f.append(RCV, &mut doc, put_away(3, 4, 1, 4));
    (f, doc)
}

#[test]
fn a_new_epoch_opens_with_the_closing_balance_of_the_old() {
    let (_, mut doc) = busy_epoch();
    let closing = stock_view(&mut doc);
    assert_eq!(closing.stock, vec![line(1, 1, 7), line(2, 2, 4), line(4, 1, 4)]);

    let (header, mut next) = roll_over(&mut doc);
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
        BTreeMap::from([(DeviceId::new(PICKER).unwrap(), 2), (DeviceId::new(RCV).unwrap(), 4)])
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
    let (mut f, mut doc) = busy_epoch();
    let (_, mut next) = roll_over(&mut doc);
    f.append(PICKER, &mut next, picked("wh-1", 1, 1, 2));
    f.append(RCV, &mut next, received(2, 2, 1));
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
        BTreeMap::from([(DeviceId::new(PICKER).unwrap(), 3), (DeviceId::new(RCV).unwrap(), 5)])
    );
}

#[test]
fn a_late_event_copied_into_the_new_epoch_counts_once_and_a_covered_one_not_again() {
    let (mut f, mut doc) = busy_epoch();
    // The picker holds epoch 0 and goes offline.
    let mut offline = f.fork(PICKER, &mut doc);
    let (header, mut next) = roll_over(&mut doc);
    assert_eq!(header.cutoff.get(&f.id(PICKER)), Some(&2));

    // Not knowing of the rollover, it picks 2 more into epoch 0.
    let late = f.append(PICKER, &mut offline, picked("wh-1", 1, 1, 2));
    assert_eq!(late.id.seq, 3);
    assert!(!header.covers(&late));

    // Back online: epoch 0 learns of it, and the events the cutoff does not
    // cover are copied into epoch 1, same ids.
    merge(&mut doc, &mut offline);
    let old = location::read(doc.document()).unwrap();
    let mut copied = Vec::new();
    for e in old.events.iter().filter(|e| !header.covers(e)) {
        doc::append(&mut next, e).unwrap();
        copied.push(e.id.clone());
    }
    assert_eq!(copied, vec![late.id.clone()]);
    let view = stock_view(&mut next);
    assert_eq!(view.stock, vec![line(1, 1, 5), line(2, 2, 4), line(4, 1, 4)]);
    assert_eq!(view.events, 1);

    // Events the opening balance already counts, copied in as well (say, by
    // a device that re-sends all it wrote), do not count twice.
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
    let (mut f, mut doc) = setup("wh-1");
    let r = f.append(RCV, &mut doc, received(1, 1, 10));
    let p = f.append(PICKER, &mut doc, picked("wh-1", 1, 1, 3));
    let a = f.append(RCV, &mut doc, adjusted(1, 1, 100, AdjustReason::Found));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 107)]);
    f.append(RCV, &mut doc, voided(&a));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 7)]);
    f.append(PICKER, &mut doc, voided(&p));
    assert_eq!(stock_view(&mut doc).stock, vec![line(1, 1, 10)]);
    f.append(RCV, &mut doc, voided(&r));
    let view = stock_view(&mut doc);
    assert_eq!(view.stock, vec![]);
    assert_eq!(view.exceptions, vec![]);
}

#[test]
fn a_voided_decrement_takes_its_below_zero_exception_away() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 1));
    let p = f.append(PICKER, &mut doc, picked("wh-1", 1, 1, 3));
    assert_eq!(stock_view(&mut doc).exceptions[0].events, vec![p.id.clone()]);
    f.append(PICKER, &mut doc, voided(&p));
    let view = stock_view(&mut doc);
    assert_eq!(view.stock, vec![line(1, 1, 1)]);
    assert_eq!(view.exceptions, vec![]);
}

#[test]
fn a_voided_event_stays_out_of_the_next_epoch() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 10));
    let p = f.append(PICKER, &mut doc, picked("wh-1", 1, 1, 3));
    f.append(PICKER, &mut doc, voided(&p));
    let (header, mut next) = roll_over(&mut doc);
    assert_eq!(header.opening, vec![Balance { bin: bin(1), gtin: gtin(1), quantity: 10 }]);
    assert_eq!(header.cutoff.get(&f.id(PICKER)), Some(&2));
    // The voided pick copied into the new epoch still does not count.
    doc::append(&mut next, &p).unwrap();
    assert_eq!(stock_view(&mut next).stock, vec![line(1, 1, 10)]);
}

#[test]
fn a_void_after_the_rollover_takes_a_move_the_opening_balance_counts_back_out() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 10));
    let p = f.append(PICKER, &mut doc, picked("wh-1", 1, 1, 3));
    let (header, mut next) = roll_over(&mut doc);
    assert!(header.covers(&p));
    assert_eq!(stock_view(&mut next).stock, vec![line(1, 1, 7)]);

    // The pick was a wrong scan. The void goes into the current epoch with
    // the event it names (which the cutoff covers, so it counts nothing by itself).
    doc::append(&mut next, &p).unwrap();
    assert_eq!(stock_view(&mut next).stock, vec![line(1, 1, 7)]);
    let v = f.append(PICKER, &mut next, voided(&p));
    assert!(!header.covers(&v));
    let view = stock_view(&mut next);
    assert_eq!(view.stock, vec![line(1, 1, 10)]);
    assert_eq!(view.exceptions, vec![]);

    // And the epoch after that opens with the corrected balance.
    let after = location::next_epoch(&location::read(next.document()).unwrap());
    assert_eq!(after.opening, vec![Balance { bin: bin(1), gtin: gtin(1), quantity: 10 }]);
    assert_eq!(after.cutoff.get(&f.id(PICKER)), Some(&2));
}

#[test]
fn a_move_the_opening_balance_counts_is_taken_back_out_once_however_often_it_is_voided() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 10));
    let p = f.append(PICKER, &mut doc, picked("wh-1", 1, 1, 3));
    let a = f.append(RCV, &mut doc, adjusted(2, 1, 5, AdjustReason::Found));
    // Voided before the rollover: the opening balance already leaves it out.
    let old_void = f.append(OFFICE, &mut doc, voided(&a));
    let (header, mut next) = roll_over(&mut doc);
    assert_eq!(header.opening, vec![Balance { bin: bin(1), gtin: gtin(1), quantity: 7 }]);

    // A void whose target is not in this epoch cannot be undone here.
    let mut alone = f.fork(RCV, &mut next);
    f.append(RCV, &mut alone, voided(&p));
    assert_eq!(stock_view(&mut alone).stock, vec![line(1, 1, 7)]);

    // The picker and the office void the same pick concurrently.
    doc::append(&mut next, &p).unwrap();
    let mut picker = f.fork(PICKER, &mut next);
    let mut office = f.fork(OFFICE, &mut next);
    f.append(PICKER, &mut picker, voided(&p));
    f.append(OFFICE, &mut office, voided(&p));
    merge(&mut picker, &mut office);
    assert_eq!(stock_view(&mut picker).stock, vec![line(1, 1, 10)]);

    // The adjustment and its old void copied in, and voided again: no change.
    doc::append(&mut picker, &a).unwrap();
    doc::append(&mut picker, &old_void).unwrap();
    f.append(PICKER, &mut picker, voided(&a));
    let view = stock_view(&mut picker);
    assert_eq!(view.stock, vec![line(1, 1, 10)]);
    assert_eq!(view.exceptions, vec![]);
}

#[test]
fn an_event_delivered_twice_counts_once() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 10));

    // Two replicas each get the same pick (relayed along two paths) and merge.
    let mut a = f.fork(PICKER, &mut doc);
    let mut b = f.fork(OFFICE, &mut doc);
    let p = f.event(PICKER, picked("wh-1", 1, 1, 3));
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
    let (mut f, mut doc) = busy_epoch();
    let p = f.append(PICKER, &mut doc, picked("wh-1", 2, 2, 9));
    f.append(OFFICE, &mut doc, voided(&p));
    f.append(PICKER, &mut doc, picked("wh-1", 4, 1, 6));
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
            let shuffled = Contents { header: contents.header.clone(), events: order, unreadable: vec![] };
            assert_eq!(stock::fold(&shuffled), expected, "rotation {shift}");
        }
    }
}

#[test]
fn a_negative_opening_balance_does_not_reopen_its_shortfall_with_no_events() {
    let (mut f, mut doc) = setup("wh-1");
    f.append(RCV, &mut doc, received(1, 1, 1));
    let p = f.append(PICKER, &mut doc, picked("wh-1", 1, 1, 3));
    let id = "stock_below_zero:A-1:09506000000015";
    f.append(OFFICE, &mut doc, resolved(id, &[&p], Decision::Accept));
    assert!(!stock_view(&mut doc).exceptions[0].is_open());

    // The shortfall is carried forward; it was reported (and resolved) in
    // the epoch that made it, so the new one has nothing to say about it.
    let (header, mut next) = roll_over(&mut doc);
    assert_eq!(header.opening, vec![Balance { bin: bin(1), gtin: gtin(1), quantity: -2 }]);
    let view = stock_view(&mut next);
    assert_eq!(view.stock, vec![line(1, 1, -2)]);
    assert_eq!(view.exceptions, vec![]);

    // A receipt that leaves it below zero changes nothing; a decrement of
    // this epoch is a shortfall of its own, naming just that decrement.
    f.append(RCV, &mut next, received(1, 1, 1));
    assert_eq!(stock_view(&mut next).exceptions, vec![]);
    let p2 = f.append(PICKER, &mut next, picked("wh-1", 1, 1, 1));
    let view = stock_view(&mut next);
    assert_eq!(
        view.exceptions,
        vec![Exception {
            id: id.into(),
            kind: ExceptionKind::StockBelowZero { bin: bin(1), gtin: gtin(1), on_hand: -2 },
            events: vec![p2.id.clone()],
            resolution: None,
        }]
    );
}
