//! Payment in the fold: a prepaid order held until authorised (each
//! reference counted once, whatever the arrival order), cash on delivery
//! collected short or not at all, and a route's cash reconciliation.

#![allow(clippy::unwrap_used)]

mod support;

use automerge::AutoCommit;
use chrono::NaiveDate;
use proptest::prelude::*;
use support::*;
use waybill_shared::doc::order::OrderHeader;
use waybill_shared::doc::payment::{Currency, PaymentTerms};
use waybill_shared::doc::route::{self, RouteHeader, Stop};
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::Payload;
use waybill_shared::event::delivery::Delivered;
use waybill_shared::event::office::{Decision, ExceptionResolved, Held, Released};
use waybill_shared::event::payment::{
    CashHandedIn, Collection, CollectionMethod, PaymentAuthorised, PaymentCaptured,
};
use waybill_shared::event::warehouse::{LineQuantity, Packed, Picked};
use waybill_shared::fold::payment::PaymentState;
use waybill_shared::fold::route::fold as route_fold;
use waybill_shared::fold::{ExceptionKind, OrderStatus, RouteView};
use waybill_shared::id::DeviceId;
use waybill_shared::policy::actor_of;

fn eur() -> Currency {
    Currency::new("EUR").unwrap()
}

fn header(id: &str, payment: PaymentTerms) -> OrderHeader {
    OrderHeader { payment, ..order_header(id, &[1]) }
}

fn cod(id: &str, due: u64) -> OrderHeader {
    header(id, PaymentTerms::OnDelivery { amount_minor: due, currency: eur() })
}

fn authorised(reference: &str) -> Payload {
    Payload::PaymentAuthorised(PaymentAuthorised {
        reference: reference.into(),
        amount_minor: 4200,
        currency: eur(),
    })
}

fn collection(amount_minor: u64, method: CollectionMethod) -> Option<Collection> {
    Some(Collection { amount_minor, currency: eur(), method })
}

fn delivered(order: &str, n: u64, collection: Option<Collection>) -> Payload {
    Payload::Delivered(Delivered {
        order: order.parse().unwrap(),
        route: "R-1".parse().unwrap(),
        stop: 1,
        packages: vec![sscc(n)],
        proof: handed_to_ada(),
        collection,
    })
}

/// An order of one unit, picked and packed into package `n`.
fn packed(office: &mut Device, header: &OrderHeader, n: u64) -> AutoCommit {
    let mut doc = new_order(office, header);
    let mut picker = Device::new("hh-1");
    picker.append(
        &mut doc,
        Payload::Picked(Picked {
            order: header.id.clone(),
            line: 1,
            location: "wh-1".parse().unwrap(),
            bin: "A-1".parse().unwrap(),
            gtin: gtin(1),
            quantity: 1,
            lot: None,
            serial: None,
            expiry: None,
            override_reason: None,
        }),
    );
    let pack = Payload::Packed(Packed {
        sscc: sscc(n),
        lines: vec![LineQuantity { line: 1, quantity: 1 }],
        weight_g: None,
        dimensions: None,
    });
    Device::new("pk-1").append(&mut doc, pack);
    doc
}

#[test]
fn a_header_without_terms_reads_as_on_account_and_on_account_is_not_written() {
    let json = serde_json::to_string(&order_header("SO-1", &[1])).unwrap();
    assert!(!json.contains("payment"), "{json}");
    let old: OrderHeader = serde_json::from_str(&json).unwrap();
    assert_eq!(old.payment, PaymentTerms::OnAccount);
    let mut office = Device::new("office-1");
    let mut doc = new_order(&mut office, &header("SO-1", PaymentTerms::OnAccount));
    let v = order_view(&mut doc);
    assert_eq!(v.payment.state, PaymentState::OnAccount);
    assert!(!v.held);
    let text = serde_json::to_string(&cod("SO-2", 1250)).unwrap();
    assert!(
        text.contains(r#""payment":{"terms":"on_delivery","amount_minor":1250,"currency":"EUR"}"#),
        "{text}"
    );
}

#[test]
fn a_prepaid_order_is_held_until_authorised_and_one_reference_counts_once() {
    let mut office = Device::new("office-1");
    let mut doc = new_order(&mut office, &header("SO-1", PaymentTerms::Prepaid));
    let v = order_view(&mut doc);
    assert_eq!((v.status, v.held, v.payment.state), (OrderStatus::Held, true, PaymentState::AwaitingPayment));

    // The office's own release does not lift the payment hold.
    office.append(&mut doc, Payload::Released(Released {}));
    assert_eq!(order_view(&mut doc).status, OrderStatus::Held);

    let first = office.append(&mut doc, authorised("psp-1"));
    let again = office.append(&mut doc, authorised("psp-1"));
    let v = order_view(&mut doc);
    assert_eq!((v.status, v.held, v.payment.state), (OrderStatus::Created, false, PaymentState::Authorised));
    assert_eq!(v.payment.authorisations.len(), 1, "{:?}", v.payment.authorisations);
    assert_eq!(v.payment.authorisations[0].event, first.id);
    assert_eq!(v.payment.authorisations[0].repeats, [again.id]);

    // An office hold still holds an authorised order; its release lifts it.
    office.append(&mut doc, Payload::Held(Held { reason: "address check".into() }));
    assert_eq!(order_view(&mut doc).status, OrderStatus::Held);
    office.append(&mut doc, Payload::Released(Released {}));
    assert_eq!(order_view(&mut doc).status, OrderStatus::Created);

    let capture = PaymentCaptured { reference: "psp-1".into(), amount_minor: 4200, currency: eur() };
    office.append(&mut doc, Payload::PaymentCaptured(capture));
    assert_eq!(order_view(&mut doc).payment.state, PaymentState::Captured);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Two office nodes record authorisations with references from a small
    /// set, each unaware of the other: merged in any order, every replica
    /// shows each reference once and the same view.
    #[test]
    fn authorisations_merge_to_one_per_reference_in_any_order(
        refs in prop::collection::vec((0usize..2, 0u8..4), 1..12),
    ) {
        let mut nodes = [Device::new("office-1"), Device::new("office-2")];
        let mut base = new_order(&mut nodes[0], &header("SO-1", PaymentTerms::Prepaid));
        let mut docs = [nodes[0].fork(&mut base), nodes[1].fork(&mut base)];
        for (node, r) in &refs {
            nodes[*node].append(&mut docs[*node], authorised(&format!("psp-{r}")));
        }
        let [mut a, mut b] = docs;
        let (mut ab, mut ba) = (a.fork(), b.fork());
        // Node 1 merges node 2's work, and node 2 node 1's.
        merge(&mut ab, &mut b);
        merge(&mut ba, &mut a);
        let (x, y) = (order_view(&mut ab), order_view(&mut ba));
        prop_assert_eq!(&x, &y);
        let distinct: std::collections::BTreeSet<_> = refs.iter().map(|(_, r)| r).collect();
        prop_assert_eq!(x.payment.authorisations.len(), distinct.len());
        let repeats: usize = x.payment.authorisations.iter().map(|a| a.repeats.len()).sum();
        prop_assert_eq!(repeats + distinct.len(), refs.len());
        prop_assert_eq!(x.payment.state, PaymentState::Authorised);
        prop_assert!(!x.held);
    }
}

#[test]
fn cash_on_delivery_collected_short_not_at_all_or_twice_is_an_exception() {
    let mut office = Device::new("office-1");
    let mut driver = Device::new("drv-1");

    let mut full = packed(&mut office, &cod("SO-1", 1250), 1);
    assert_eq!(order_view(&mut full).payment.state, PaymentState::Due);
    driver.append(&mut full, delivered("SO-1", 1, collection(1250, CollectionMethod::Card)));
    let v = order_view(&mut full);
    assert_eq!((v.status, v.payment.state), (OrderStatus::Completed, PaymentState::Collected));
    assert_eq!(v.payment.outstanding_minor, Some(0));

    let mut short = packed(&mut office, &cod("SO-2", 1250), 2);
    let d = driver.append(&mut short, delivered("SO-2", 2, collection(1000, CollectionMethod::Cash)));
    let v = order_view(&mut short);
    assert_eq!((v.status, v.payment.state), (OrderStatus::Delivered, PaymentState::Short));
    assert_eq!(v.payment.collected_minor, Some(1000));
    let e = &v.exceptions[0];
    assert_eq!(e.id, "short_collection:order");
    assert_eq!(
        e.kind,
        ExceptionKind::ShortCollection { due_minor: 1250, collected_minor: 1000, currency: eur() }
    );
    assert_eq!(e.events, std::slice::from_ref(&d.id));
    // The office accepts the loss: the order completes.
    office.append(
        &mut short,
        Payload::ExceptionResolved(ExceptionResolved {
            exception: e.id.clone(),
            events: vec![d.id],
            decision: Decision::Accept,
            note: "customer pays the rest by transfer".into(),
        }),
    );
    assert_eq!(order_view(&mut short).status, OrderStatus::Completed);

    // A device that predates collections delivered it: nothing collected.
    let mut missing = packed(&mut office, &cod("SO-3", 1250), 3);
    driver.append(&mut missing, delivered("SO-3", 3, None));
    let v = order_view(&mut missing);
    assert_eq!(v.payment.state, PaymentState::Short);
    assert_eq!(v.exceptions[0].kind, ExceptionKind::CollectionMissing { due_minor: 1250, currency: eur() });

    // Money in another currency does not pay what is due.
    let mut foreign = packed(&mut office, &cod("SO-4", 1250), 4);
    let gbp = Collection {
        amount_minor: 5000,
        currency: Currency::new("GBP").unwrap(),
        method: CollectionMethod::Cash,
    };
    driver.append(&mut foreign, delivered("SO-4", 4, Some(gbp)));
    let v = order_view(&mut foreign);
    assert_eq!(
        v.exceptions[0].kind,
        ExceptionKind::ShortCollection { due_minor: 1250, collected_minor: 0, currency: eur() }
    );

    // Two drivers, offline, each took the full amount: paid twice, and the
    // customer is owed one back.
    let mut twice = packed(&mut office, &cod("SO-5", 1250), 5);
    let mut other = Device::new("drv-2");
    let mut copy = other.fork(&mut twice);
    let first = driver.append(&mut twice, delivered("SO-5", 5, collection(1250, CollectionMethod::Cash)));
    let second = other.append(&mut copy, delivered("SO-5", 5, collection(1250, CollectionMethod::Card)));
    merge(&mut twice, &mut copy);
    let v = order_view(&mut twice);
    assert_eq!(v.payment.state, PaymentState::Collected);
    let over = v.exceptions.iter().find(|e| e.id == "over_collection:order").unwrap();
    assert_eq!(
        over.kind,
        ExceptionKind::OverCollection { due_minor: 1250, collected_minor: 2500, currency: eur() }
    );
    let mut events = over.events.clone();
    events.sort();
    let mut want = vec![first.id, second.id];
    want.sort();
    assert_eq!(events, want);
}

fn route_doc(office: &Device) -> AutoCommit {
    let header = RouteHeader {
        id: "R-1".parse().unwrap(),
        driver: DeviceId::new("drv-1").unwrap(),
        van: "VAN-7".parse().unwrap(),
        date: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
        stops: vec![Stop {
            seq: 1,
            orders: vec!["SO-1".parse().unwrap()],
            address: address("1 Main St"),
            planned: None,
        }],
        limits: None,
    };
    doc::create(actor_of(&office.id()), &DocId::Route(header.id.clone()), &header)
}

fn route_view(doc: &mut AutoCommit) -> RouteView {
    route_fold(&route::read(doc.document()).unwrap())
}

fn hand_in(amount_minor: u64) -> Payload {
    Payload::CashHandedIn(CashHandedIn { amount_minor, currency: eur(), note: String::new() })
}

#[test]
fn a_driver_handing_in_less_cash_than_collected_is_an_exception_until_it_adds_up() {
    let mut office = Device::new("office-1");
    let mut driver = Device::new("drv-1");
    let mut doc = route_doc(&office);
    let cash = driver.append(&mut doc, delivered("SO-1", 1, collection(1250, CollectionMethod::Cash)));
    driver.append(&mut doc, delivered("SO-2", 2, collection(800, CollectionMethod::Card)));
    let more_cash = driver.append(&mut doc, delivered("SO-3", 3, collection(500, CollectionMethod::Cash)));

    // Out on the road: figures only, no exception.
    let v = route_view(&mut doc);
    assert_eq!((v.cash[0].expected_minor, v.cash[0].handed_in_minor), (1750, 0));
    assert!(!v.cash_handed_in && v.exceptions.is_empty());

    let handover = office.append(&mut doc, hand_in(1500));
    let v = route_view(&mut doc);
    assert_eq!(v.cash[0].difference_minor, -250);
    assert_eq!(v.exceptions.len(), 1);
    let e = &v.exceptions[0];
    assert_eq!(e.id, "cash_difference:EUR");
    assert_eq!(
        e.kind,
        ExceptionKind::CashDifference { currency: eur(), expected_minor: 1750, handed_in_minor: 1500 }
    );
    let mut named = vec![cash.id, more_cash.id, handover.id];
    named.sort();
    assert_eq!(e.events, named, "the cash deliveries and the handover, not the card payment");

    // The driver finds the rest in the van.
    office.append(&mut doc, hand_in(250));
    let v = route_view(&mut doc);
    assert_eq!(v.cash[0].difference_minor, 0);
    assert!(v.exceptions.is_empty(), "{:?}", v.exceptions);

    // A delivery that syncs late moves the figures again.
    driver.append(&mut doc, delivered("SO-4", 4, collection(300, CollectionMethod::Cash)));
    let v = route_view(&mut doc);
    assert_eq!(
        v.exceptions[0].kind,
        ExceptionKind::CashDifference { currency: eur(), expected_minor: 2050, handed_in_minor: 1750 }
    );
    assert!(v.exceptions[0].is_open());
}

#[test]
fn a_prepaid_order_cannot_come_into_a_seed_allocated_or_assigned() {
    use waybill_shared::seed::{Item, SeedError, SeedOrder};
    let mut office = waybill_shared::recorder::Recorder::new(DeviceId::new("office").unwrap());
    let now = chrono::Utc::now();
    let seed = |payment, pick_device: Option<&str>| {
        Item::Order(SeedOrder {
            header: header("SO-7", payment),
            allocations: Vec::new(),
            pick_device: pick_device.map(|d| DeviceId::new(d).unwrap()),
            email: None,
            tracking_photo: false,
        })
    };
    let refused = Item::doc(&seed(PaymentTerms::Prepaid, Some("hh-1")), &mut office, now);
    assert!(matches!(refused, Err(SeedError::PrepaidPlanned(ref o)) if o == "SO-7"), "{refused:?}");
    assert!(Item::doc(&seed(PaymentTerms::Prepaid, None), &mut office, now).is_ok());
    assert!(Item::doc(&seed(PaymentTerms::OnAccount, Some("hh-1")), &mut office, now).is_ok());
}
