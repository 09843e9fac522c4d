//! The write policy against changes made the way devices make them: the
//! office creates a document, a device forks it, writes (honestly through
//! `doc::append`, or by hand to attack), and the changes it made since the
//! fork are checked against the office's copy.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

mod support;

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use automerge::{
    AutoCommit, Automerge, Change, ChangeHash, ExpandedChange, ObjType, ROOT, ReadDoc, ScalarValue,
};
use support::*;
use waybill_shared::doc::{self, DocId, EVENTS, HEADER, events_obj};
use waybill_shared::event::office::{Cancelled, Voided};
use waybill_shared::event::stock::Counted;
use waybill_shared::event::warehouse::Picked;
use waybill_shared::event::{Event, Payload};
use waybill_shared::policy::{
    DeviceIdentity, MAX_EVENT_BYTES, Refusal, Scope, Verdict, actor_of, check_changes,
};
use waybill_shared::role::Role;

// ---------------------------------------------------------------- helpers

fn order(id: &str) -> DocId {
    DocId::Order(id.parse().unwrap())
}

fn location(id: &str) -> DocId {
    DocId::Location { id: id.parse().unwrap(), epoch: 0 }
}

/// The office: every document.
fn office_of(device: &Device) -> DeviceIdentity {
    DeviceIdentity { device: device.id(), role: Role::Office, scope: Scope::All }
}

/// A device enrolled with `role`, holding `docs`.
fn enrolled(device: &Device, role: Role, docs: &[&DocId]) -> DeviceIdentity {
    DeviceIdentity {
        device: device.id(),
        role,
        scope: Scope::Docs(docs.iter().map(|d| (*d).clone()).collect()),
    }
}

/// One unit of line 1 of `order` picked from bin A-1 of `location`.
fn picked(order: &str, location: &str) -> Payload {
    Payload::Picked(Picked {
        order: order.parse().unwrap(),
        line: 1,
        location: location.parse().unwrap(),
        bin: "A-1".parse().unwrap(),
        gtin: gtin(1),
        quantity: 1,
        lot: None,
        serial: None,
        expiry: None,
        override_reason: None,
    })
}

fn voided(target: &Event) -> Payload {
    Payload::Voided(Voided { target: target.id.clone(), reason: "wrong bin".into() })
}

/// Records an event on `device` and appends it to its fork, as the agent does.
fn write(device: &mut Device, fork: &mut AutoCommit, payload: Payload) -> Event {
    let e = device.event(payload);
    doc::append(fork, &e).unwrap();
    e
}

/// Puts `value` under `key` of the events map by hand, as one change.
fn put_event_raw(fork: &mut AutoCommit, key: &str, value: impl Into<ScalarValue>) {
    let events = events_obj(fork.document()).unwrap();
    fork.put(&events, key, value).unwrap();
    fork.commit().unwrap();
}

/// The office's order `id` with one line of `quantity`, and the office.
fn office_order(id: &str, quantity: u32) -> (Device, AutoCommit) {
    let mut office = Device::new("office");
    let doc = new_order(&mut office, &order_header(id, &[quantity]));
    (office, doc)
}

/// The id of the office's `order_created` event.
fn order_created_id(office: &Device) -> String {
    format!("{}:1", office.id())
}

fn check(who: &DeviceIdentity, doc_id: &DocId, doc: &mut AutoCommit, changes: Vec<Change>) -> Verdict {
    check_changes(who, doc_id, doc.document(), changes)
}

fn hashes(changes: &[Change]) -> Vec<ChangeHash> {
    changes.iter().map(Change::hash).collect()
}

/// The refusal of a verdict that accepted nothing and refused one change.
fn sole_refusal(verdict: &Verdict) -> Refusal {
    assert!(verdict.accepted.is_empty(), "accepted {:?}", hashes(&verdict.accepted));
    assert_eq!(verdict.refused.len(), 1, "{:?}", verdict.refused);
    verdict.refused[0].1.clone()
}

/// The refusal of change `hash`.
fn refusal_of(verdict: &Verdict, hash: ChangeHash) -> Refusal {
    verdict
        .refused
        .iter()
        .find(|(h, _)| *h == hash)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("{hash} was not refused: {:?}", verdict.refused))
}

fn assert_all_accepted(verdict: &Verdict, changes: &[Change]) {
    assert!(verdict.refused.is_empty(), "refused {:?}", verdict.refused);
    let got: BTreeSet<_> = hashes(&verdict.accepted).into_iter().collect();
    let want: BTreeSet<_> = hashes(changes).into_iter().collect();
    assert_eq!(got, want);
}

/// `change` edited by hand: what a hostile device can send, though no
/// Automerge call would make it.
fn craft(change: &Change, edit: impl FnOnce(&mut ExpandedChange)) -> Change {
    let mut expanded = ExpandedChange::from(change);
    edit(&mut expanded);
    Change::from(expanded)
}

/// Whether `doc` holds event `key`.
fn has_event(doc: &mut AutoCommit, key: &str) -> bool {
    let events = events_obj(doc.document()).unwrap();
    doc.get(&events, key).unwrap().is_some()
}

/// A picker enrolled for order SO-1 and location wh-1, with its identity.
fn picker() -> (Device, DeviceIdentity) {
    let device = Device::new("hh-1");
    let who = enrolled(&device, Role::Picker, &[&order("SO-1"), &location("wh-1")]);
    (device, who)
}

/// `device` picks on a fork of `doc`; the change is checked and merged into
/// `doc`, as the server does with an accepted change. Returns the event.
fn accepted_pick(device: &mut Device, who: &DeviceIdentity, doc: &mut AutoCommit) -> Event {
    let base = doc.get_heads();
    let mut fork = device.fork(doc);
    let e = write(device, &mut fork, picked("SO-1", "wh-1"));
    let changes = fork.get_changes(&base);
    let verdict = check(who, &order("SO-1"), doc, changes.clone());
    assert_all_accepted(&verdict, &changes);
    doc.apply_changes(verdict.accepted).unwrap();
    assert!(has_event(doc, &e.id.to_string()));
    e
}

// ---------------------------------------------------------------- accepted

#[test]
fn a_pick_is_accepted_into_both_the_order_and_the_location() {
    let mut office = Device::new("office");
    let mut order_doc = new_order(&mut office, &order_header("SO-1", &[2]));
    let mut location_doc = new_location(&office, &location_header("wh-1", 2));
    let (mut picker, who) = picker();
    let pick = picker.event(picked("SO-1", "wh-1"));
    for (id, doc) in [(order("SO-1"), &mut order_doc), (location("wh-1"), &mut location_doc)] {
        let base = doc.get_heads();
        let mut fork = picker.fork(doc);
        doc::append(&mut fork, &pick).unwrap();
        let changes = fork.get_changes(&base);
        assert_eq!(changes.len(), 1);
        let verdict = check(&who, &id, doc, changes.clone());
        assert_all_accepted(&verdict, &changes);
        doc.apply_changes(verdict.accepted).unwrap();
        assert!(has_event(doc, &pick.id.to_string()), "{id}");
    }
}

#[test]
fn the_office_creates_a_document_and_amends_its_header() {
    let mut office = Device::new("office");
    let header = order_header("SO-1", &[2]);
    let mut created = new_order(&mut office, &header);
    // The create and the `order_created` append, last first.
    let mut changes = created.get_changes(&[]);
    assert_eq!(changes.len(), 2);
    changes.reverse();
    let verdict = check_changes(&office_of(&office), &order("SO-1"), &Automerge::new(), changes.clone());
    assert_all_accepted(&verdict, &changes);
    let mut server = AutoCommit::new();
    server.apply_changes(verdict.accepted).unwrap();
    let contents = doc::order::read(server.document()).unwrap();
    assert_eq!(contents.header, header);
    assert_eq!(contents.events.len(), 1);

    let base = server.get_heads();
    let mut fork = office.fork(&mut server);
    let mut amended = header.clone();
    amended.customer = "C-2".into();
    fork.put(ROOT, HEADER, serde_json::to_string(&amended).unwrap()).unwrap();
    fork.commit().unwrap();
    let changes = fork.get_changes(&base);
    let verdict = check(&office_of(&office), &order("SO-1"), &mut server, changes.clone());
    assert_all_accepted(&verdict, &changes);
    server.apply_changes(verdict.accepted).unwrap();
    assert_eq!(doc::order::read(server.document()).unwrap().header.customer, "C-2");
}

#[test]
fn a_batch_given_last_first_is_accepted_in_dependency_order() {
    let (_office, mut doc) = office_order("SO-1", 5);
    let (mut picker, who) = picker();
    let base = doc.get_heads();
    let mut fork = picker.fork(&mut doc);
    let first = write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    write(&mut picker, &mut fork, voided(&first));
    write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    let changes = fork.get_changes(&base);
    assert_eq!(changes.len(), 4);
    let mut reversed = changes.clone();
    reversed.reverse();

    let verdict = check(&who, &order("SO-1"), &mut doc, reversed);
    assert!(verdict.refused.is_empty(), "{:?}", verdict.refused);
    // A chain has one topological order: the order it was written in.
    assert_eq!(hashes(&verdict.accepted), hashes(&changes));
    // Applied one at a time, each change is ready when its turn comes (a
    // change whose dependencies are missing would be queued, not applied).
    for change in verdict.accepted {
        let hash = change.hash();
        doc.apply_changes([change]).unwrap();
        assert!(doc.get_change_by_hash(&hash).is_some(), "{hash} was not ready");
    }
    assert_eq!(doc.get_heads(), fork.get_heads());
}

#[test]
fn a_device_may_void_its_own_event() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let pick = accepted_pick(&mut picker, &who, &mut doc);
    let base = doc.get_heads();
    let mut fork = picker.fork(&mut doc);
    let void = write(&mut picker, &mut fork, voided(&pick));
    let changes = fork.get_changes(&base);
    let verdict = check(&who, &order("SO-1"), &mut doc, changes.clone());
    assert_all_accepted(&verdict, &changes);
    doc.apply_changes(verdict.accepted).unwrap();
    assert!(has_event(&mut doc, &void.id.to_string()));
}

#[test]
fn the_office_may_void_another_devices_event() {
    let (mut office, mut doc) = office_order("SO-1", 2);
    let (mut picker, picker_who) = picker();
    let pick = accepted_pick(&mut picker, &picker_who, &mut doc);
    let base = doc.get_heads();
    let mut fork = office.fork(&mut doc);
    write(&mut office, &mut fork, voided(&pick));
    let changes = fork.get_changes(&base);
    let verdict = check(&office_of(&office), &order("SO-1"), &mut doc, changes.clone());
    assert_all_accepted(&verdict, &changes);
}

#[test]
fn refusals_serialise_with_a_reason_tag() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let base = doc.get_heads();
    let mut fork = picker.fork(&mut doc);
    let e = picker.event(picked("SO-1", "wh-1"));
    put_event_raw(&mut fork, "hh-1:2", e.to_json());
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    let json = serde_json::to_value(&refusal).unwrap();
    assert_eq!(json, serde_json::json!({"reason": "key_mismatch", "key": "hh-1:2", "id": "hh-1:1"}));
    assert_eq!(serde_json::from_value::<Refusal>(json).unwrap(), refusal);
}

// ---------------------------------------------------------------- refused

#[test]
fn out_of_scope_refuses_every_change() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let mut picker = Device::new("hh-1");
    let who = enrolled(&picker, Role::Picker, &[&order("SO-2")]);
    let base = doc.get_heads();
    let mut fork = picker.fork(&mut doc);
    write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    let changes = fork.get_changes(&base);
    let verdict = check(&who, &order("SO-1"), &mut doc, changes.clone());
    assert!(verdict.accepted.is_empty());
    assert_eq!(verdict.refused.len(), 2);
    for change in &changes {
        assert_eq!(refusal_of(&verdict, change.hash()), Refusal::OutOfScope { doc: "order/SO-1".into() });
    }
}

#[test]
fn a_device_cannot_write_under_another_devices_actor() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let other = Device::new("hh-2");
    let base = doc.get_heads();
    let mut fork = doc.fork().with_actor(actor_of(&other.id()));
    write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::ForeignActor { actor: actor_of(&other.id()).to_hex_string() });
}

#[test]
fn a_device_cannot_create_a_document() {
    let (mut picker, _) = picker();
    let id = order("SO-9");
    let who = enrolled(&picker, Role::Picker, &[&id]);
    let mut created = doc::create(actor_of(&picker.id()), &id, &order_header("SO-9", &[1]));
    write(&mut picker, &mut created, picked("SO-9", "wh-1"));
    let changes = created.get_changes(&[]);
    let verdict = check_changes(&who, &id, &Automerge::new(), changes.clone());
    assert!(verdict.accepted.is_empty());
    assert_eq!(
        refusal_of(&verdict, changes[0].hash()),
        Refusal::UnknownDocument { doc: "order/SO-9".into() }
    );
    assert_eq!(
        refusal_of(&verdict, changes[1].hash()),
        Refusal::DependsOnRefused { hash: changes[0].hash().to_string() }
    );
}

#[test]
fn a_device_cannot_edit_the_header_or_the_root() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (picker, who) = picker();
    let mut header = order_header("SO-1", &[2]);
    header.ship_to = address("13 Thieves Lane");
    let base = doc.get_heads();

    let mut fork = picker.fork(&mut doc);
    fork.put(ROOT, HEADER, serde_json::to_string(&header).unwrap()).unwrap();
    fork.commit().unwrap();
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::NotAnAppend { what: "the header".into() });

    let mut fork = picker.fork(&mut doc);
    fork.put(ROOT, "kind", "route").unwrap();
    fork.commit().unwrap();
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::NotAnAppend { what: "the document root (kind)".into() });
}

#[test]
fn a_device_cannot_delete_or_overwrite_an_event() {
    let (office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let pick = accepted_pick(&mut picker, &who, &mut doc);
    let key = pick.id.to_string();
    let base = doc.get_heads();
    let events = events_obj(doc.document()).unwrap();

    // Its own event.
    let mut fork = picker.fork(&mut doc);
    fork.delete(&events, key.as_str()).unwrap();
    fork.commit().unwrap();
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::RewritesHistory { what: format!("deletes event {key}") });

    // The office's event.
    let office_key = order_created_id(&office);
    assert!(has_event(&mut doc, &office_key));
    let mut fork = picker.fork(&mut doc);
    fork.delete(&events, office_key.as_str()).unwrap();
    fork.commit().unwrap();
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::RewritesHistory { what: format!("deletes event {office_key}") });

    // Its own event again, with a larger quantity: still the same id.
    let mut changed = pick.clone();
    let Payload::Picked(p) = &mut changed.payload else { unreachable!() };
    p.quantity = 2;
    let mut fork = picker.fork(&mut doc);
    put_event_raw(&mut fork, &key, changed.to_json());
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::RewritesHistory { what: format!("overwrites event {key}") });
}

#[test]
fn the_office_cannot_replace_or_delete_the_events_map_or_an_event() {
    let (office, mut doc) = office_order("SO-1", 2);
    let who = office_of(&office);
    let base = doc.get_heads();

    let mut fork = office.fork(&mut doc);
    fork.put_object(ROOT, EVENTS, ObjType::Map).unwrap();
    fork.commit().unwrap();
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::RewritesHistory { what: "replaces the events map".into() });

    let mut fork = office.fork(&mut doc);
    fork.delete(ROOT, EVENTS).unwrap();
    fork.commit().unwrap();
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::RewritesHistory { what: "replaces the events map".into() });

    // A second office terminal creates the same order, not knowing it
    // exists: its events map would compete with the one there.
    let mut office_2 = Device::new("office-2");
    let mut again = new_order(&mut office_2, &order_header("SO-1", &[2]));
    let changes = again.get_changes(&[]);
    let verdict = check(&office_of(&office_2), &order("SO-1"), &mut doc, changes.clone());
    assert!(verdict.accepted.is_empty());
    assert_eq!(
        refusal_of(&verdict, changes[0].hash()),
        Refusal::RewritesHistory { what: "replaces the events map".into() }
    );

    let key = order_created_id(&office);
    let events = events_obj(doc.document()).unwrap();
    let mut fork = office.fork(&mut doc);
    fork.delete(&events, key.as_str()).unwrap();
    fork.commit().unwrap();
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::RewritesHistory { what: format!("deletes event {key}") });
}

#[test]
fn a_value_that_is_not_text_is_not_an_event() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (picker, who) = picker();
    let base = doc.get_heads();

    let mut fork = picker.fork(&mut doc);
    put_event_raw(&mut fork, "hh-1:1", ScalarValue::Int(7));
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::NotAnEvent { key: "hh-1:1".into(), why: "the value is not text".into() });

    let mut fork = picker.fork(&mut doc);
    let events = events_obj(fork.document()).unwrap();
    fork.put_object(&events, "hh-1:1", ObjType::Map).unwrap();
    fork.commit().unwrap();
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::NotAnEvent { key: "hh-1:1".into(), why: "the value is not text".into() });
}

#[test]
fn text_that_does_not_read_as_an_event_is_not_an_event() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let base = doc.get_heads();

    let mut fork = picker.fork(&mut doc);
    put_event_raw(&mut fork, "hh-1:1", "{\"v\":1, this is not json");
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    let Refusal::NotAnEvent { key, why } = refusal else { panic!("{refusal:?}") };
    assert_eq!(key, "hh-1:1");
    assert!(why.starts_with("malformed event"), "{why}");

    // Well-formed JSON of an event type nobody knows.
    let e = picker.event(picked("SO-1", "wh-1"));
    let mut fork = picker.fork(&mut doc);
    put_event_raw(&mut fork, "hh-1:1", e.to_json().replace("\"picked\"", "\"teleported\""));
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    let Refusal::NotAnEvent { key, why } = refusal else { panic!("{refusal:?}") };
    assert_eq!(key, "hh-1:1");
    assert!(why.contains("teleported"), "{why}");
}

#[test]
fn an_event_over_the_size_limit_is_refused_and_one_at_it_accepted() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let base = doc.get_heads();
    // A pick whose lot is padded until its JSON is `bytes` long.
    let mut pick_of = |bytes: usize| {
        let mut e = picker.event(picked("SO-1", "wh-1"));
        let Payload::Picked(p) = &mut e.payload else { unreachable!() };
        p.lot = Some(String::new());
        let pad = bytes - e.to_json().len();
        let Payload::Picked(p) = &mut e.payload else { unreachable!() };
        p.lot = Some("L".repeat(pad));
        assert_eq!(e.to_json().len(), bytes);
        e
    };
    let at_limit = pick_of(MAX_EVENT_BYTES);
    let over = pick_of(MAX_EVENT_BYTES + 1);

    let mut fork = picker.fork(&mut doc);
    doc::append(&mut fork, &at_limit).unwrap();
    let changes = fork.get_changes(&base);
    assert_all_accepted(&check(&who, &order("SO-1"), &mut doc, changes.clone()), &changes);

    let mut fork = picker.fork(&mut doc);
    doc::append(&mut fork, &over).unwrap();
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(
        refusal,
        Refusal::EventTooLarge {
            key: over.id.to_string(),
            bytes: MAX_EVENT_BYTES + 1,
            limit: MAX_EVENT_BYTES
        }
    );
}

#[test]
fn an_event_stored_under_another_key_is_refused() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let base = doc.get_heads();
    let mut fork = picker.fork(&mut doc);
    let e = picker.event(picked("SO-1", "wh-1"));
    assert_eq!(e.id.to_string(), "hh-1:1");
    put_event_raw(&mut fork, "hh-1:2", e.to_json());
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::KeyMismatch { key: "hh-1:2".into(), id: "hh-1:1".into() });
}

#[test]
fn a_device_cannot_write_another_devices_event() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (picker, who) = picker();
    let mut other = Device::new("hh-2");
    let base = doc.get_heads();
    // hh-1 writes, under its own actor, an event numbered as hh-2's.
    let mut fork = picker.fork(&mut doc);
    let forged = other.event(picked("SO-1", "wh-1"));
    doc::append(&mut fork, &forged).unwrap();
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::NotAuthor { id: "hh-2:1".into() });
}

#[test]
fn a_role_may_only_write_its_own_event_types() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let base = doc.get_heads();

    let mut driver = Device::new("van-1");
    let driver_who = enrolled(&driver, Role::Driver, &[&order("SO-1")]);
    let mut fork = driver.fork(&mut doc);
    write(&mut driver, &mut fork, picked("SO-1", "wh-1"));
    let refusal = sole_refusal(&check(&driver_who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::RoleNotAllowed { role: "driver".into(), event: "picked".into() });

    let (mut picker, who) = picker();
    let mut fork = picker.fork(&mut doc);
    write(&mut picker, &mut fork, Payload::Cancelled(Cancelled { reason: "bored".into() }));
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::RoleNotAllowed { role: "picker".into(), event: "cancelled".into() });
}

#[test]
fn an_event_must_belong_in_the_document() {
    let mut office = Device::new("office");
    let mut order_a = new_order(&mut office, &order_header("SO-A", &[2]));
    let mut order_b = new_order(&mut office, &order_header("SO-B", &[2]));
    let mut location_2 = new_location(&office, &location_header("wh-2", 2));
    let mut picker = Device::new("hh-1");
    let who = enrolled(&picker, Role::Picker, &[&order("SO-A"), &order("SO-B"), &location("wh-2")]);
    let pick_for_a = picker.event(picked("SO-A", "wh-1"));

    // Fine in order A.
    let base = order_a.get_heads();
    let mut fork = picker.fork(&mut order_a);
    doc::append(&mut fork, &pick_for_a).unwrap();
    let changes = fork.get_changes(&base);
    assert_all_accepted(&check(&who, &order("SO-A"), &mut order_a, changes.clone()), &changes);

    // Not in order B.
    let base = order_b.get_heads();
    let mut fork = picker.fork(&mut order_b);
    doc::append(&mut fork, &pick_for_a).unwrap();
    let refusal = sole_refusal(&check(&who, &order("SO-B"), &mut order_b, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::WrongDocument { event: "picked".into(), doc: "order/SO-B".into() });

    // Nor in a location it was not picked from.
    let base = location_2.get_heads();
    let mut fork = picker.fork(&mut location_2);
    doc::append(&mut fork, &pick_for_a).unwrap();
    let refusal = sole_refusal(&check(&who, &location("wh-2"), &mut location_2, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::WrongDocument { event: "picked".into(), doc: "location/wh-2/0".into() });

    // A cycle count belongs in a location, never in an order.
    let base = order_a.get_heads();
    let mut fork = picker.fork(&mut order_a);
    let count = Counted { bin: "A-1".parse().unwrap(), gtin: gtin(1), expected: 4, counted: 3 };
    write(&mut picker, &mut fork, Payload::Counted(count));
    let refusal = sole_refusal(&check(&who, &order("SO-A"), &mut order_a, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::WrongDocument { event: "counted".into(), doc: "order/SO-A".into() });
}

#[test]
fn a_device_cannot_void_another_devices_event() {
    let (office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let target = order_created_id(&office);
    let base = doc.get_heads();
    let mut fork = picker.fork(&mut doc);
    let payload = Payload::Voided(Voided { target: target.parse().unwrap(), reason: "nope".into() });
    write(&mut picker, &mut fork, payload);
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, fork.get_changes(&base)));
    assert_eq!(refusal, Refusal::VoidsOthersEvent { target });
}

#[test]
fn an_event_written_twice_in_one_batch_is_a_duplicate() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let base = doc.get_heads();
    let mut fork = picker.fork(&mut doc);
    let e = write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    let first = fork.get_changes(&base).remove(0);
    // The same new-key write again, as the device's next change: Automerge
    // itself would mark it an overwrite, so only a forged change does this.
    let again = craft(&first, |x| {
        x.seq = 2;
        x.deps = vec![first.hash()];
        x.start_op = (first.max_op() + 1).try_into().unwrap();
    });
    let verdict = check(&who, &order("SO-1"), &mut doc, vec![again.clone(), first.clone()]);
    assert_eq!(hashes(&verdict.accepted), vec![first.hash()]);
    assert_eq!(verdict.refused, vec![(again.hash(), Refusal::DuplicateEvent { id: e.id.to_string() })]);
}

#[test]
fn an_event_already_in_the_document_is_a_duplicate() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let base = doc.get_heads();
    let mut fork = picker.fork(&mut doc);
    let e = write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    let first = fork.get_changes(&base).remove(0);
    assert_all_accepted(
        &check(&who, &order("SO-1"), &mut doc, vec![first.clone()]),
        std::slice::from_ref(&first),
    );
    doc.apply_changes([first.clone()]).unwrap();
    let again = craft(&first, |x| {
        x.seq = 2;
        x.deps = vec![first.hash()];
        x.start_op = (first.max_op() + 1).try_into().unwrap();
    });
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, vec![again]));
    assert_eq!(refusal, Refusal::DuplicateEvent { id: e.id.to_string() });
}

#[test]
fn a_change_sent_again_is_skipped_and_what_builds_on_it_checked() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let base = doc.get_heads();
    let mut fork = picker.fork(&mut doc);
    write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    let stored = fork.get_changes(&base);
    doc.apply_changes(stored.clone()).unwrap();
    write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    // The device did not hear that its first change arrived and sends both.
    let changes = fork.get_changes(&base);
    assert_eq!(changes.len(), 2);
    let verdict = check(&who, &order("SO-1"), &mut doc, changes.clone());
    assert!(verdict.refused.is_empty(), "{:?}", verdict.refused);
    assert_eq!(hashes(&verdict.accepted), vec![changes[1].hash()]);
    doc.apply_changes(verdict.accepted).unwrap();
    assert_eq!(doc.get_heads(), fork.get_heads());
}

#[test]
fn two_replicas_of_one_device_cannot_both_write_its_next_change() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let base = doc.get_heads();
    // The device's state restored from a backup, say: both copies number
    // their next change 1, which Automerge cannot hold twice.
    let mut fork_1 = picker.fork(&mut doc);
    let mut fork_2 = picker.fork(&mut doc);
    write(&mut picker, &mut fork_1, picked("SO-1", "wh-1"));
    write(&mut picker, &mut fork_2, picked("SO-1", "wh-1"));
    let mut changes = fork_1.get_changes(&base);
    changes.extend(fork_2.get_changes(&base));
    assert_eq!(changes.iter().map(Change::seq).collect::<Vec<_>>(), vec![1, 1]);

    // In one batch: one goes through, the other is refused.
    let verdict = check(&who, &order("SO-1"), &mut doc, changes.clone());
    assert_eq!(verdict.accepted.len(), 1);
    assert_eq!(verdict.refused.len(), 1);
    assert_eq!(
        verdict.refused[0].1,
        Refusal::RewritesHistory { what: "reuses this device's change number 1".into() }
    );
    let mut server = doc.fork();
    server.apply_changes(verdict.accepted).unwrap();

    // One after the other: the second is refused against the document.
    let verdict = check(&who, &order("SO-1"), &mut doc, vec![changes[0].clone()]);
    doc.apply_changes(verdict.accepted).unwrap();
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, vec![changes[1].clone()]));
    assert_eq!(refusal, Refusal::RewritesHistory { what: "reuses this device's change number 1".into() });
}

#[test]
fn a_change_that_skips_sequence_numbers_is_refused() {
    // Automerge panics when it applies one of these.
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let base = doc.get_heads();
    let mut fork = picker.fork(&mut doc);
    write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    let first = fork.get_changes(&base).remove(0);

    let skips = craft(&first, |x| x.seq = 3);
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, vec![skips]));
    assert_eq!(refusal, Refusal::MissingDependencies { missing: 2 });

    doc.apply_changes([first.clone()]).unwrap();
    let base = doc.get_heads();
    write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    let second = fork.get_changes(&base).remove(0);
    assert_eq!(second.seq(), 2);
    let skips = craft(&second, |x| x.seq = 4);
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, vec![skips]));
    assert_eq!(refusal, Refusal::MissingDependencies { missing: 2 });
    assert_all_accepted(&check(&who, &order("SO-1"), &mut doc, vec![second.clone()]), &[second]);
}

#[test]
fn a_devices_next_change_must_build_on_its_last() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let base = doc.get_heads();
    let mut fork_1 = picker.fork(&mut doc);
    let mut fork_2 = picker.fork(&mut doc);
    write(&mut picker, &mut fork_1, picked("SO-1", "wh-1"));
    write(&mut picker, &mut fork_2, picked("SO-1", "wh-1"));
    let first = fork_1.get_changes(&base).remove(0);
    let other = fork_2.get_changes(&base).remove(0);
    // Numbered 2 but beside change 1, not on it. Its time is picked so that
    // it is checked after change 1 (the batch is walked in hash order).
    let beside = (0..)
        .map(|ms| {
            craft(&other, |x| {
                x.seq = 2;
                x.start_op = (first.max_op() + 1).try_into().unwrap();
                x.time += ms;
            })
        })
        .find(|c| c.hash() > first.hash())
        .unwrap();
    let verdict = check(&who, &order("SO-1"), &mut doc, vec![beside.clone(), first.clone()]);
    assert_eq!(hashes(&verdict.accepted), vec![first.hash()]);
    assert_eq!(
        refusal_of(&verdict, beside.hash()),
        Refusal::RewritesHistory { what: "does not build on this device's change number 1".into() }
    );
    doc.apply_changes(verdict.accepted).unwrap();
}

#[test]
fn a_change_on_top_of_a_refused_one_is_refused() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let base = doc.get_heads();
    let mut fork = picker.fork(&mut doc);
    fork.put(ROOT, HEADER, "{}").unwrap();
    fork.commit().unwrap();
    write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    let changes = fork.get_changes(&base);
    assert_eq!(changes.len(), 3);
    let (bad, good, better) = (changes[0].hash(), changes[1].hash(), changes[2].hash());
    let mut reversed = changes;
    reversed.reverse();
    let verdict = check(&who, &order("SO-1"), &mut doc, reversed);
    assert!(verdict.accepted.is_empty());
    assert_eq!(verdict.refused.len(), 3);
    assert!(matches!(refusal_of(&verdict, bad), Refusal::NotAnAppend { .. }));
    assert_eq!(refusal_of(&verdict, good), Refusal::DependsOnRefused { hash: bad.to_string() });
    assert_eq!(refusal_of(&verdict, better), Refusal::DependsOnRefused { hash: good.to_string() });
}

#[test]
fn a_change_whose_dependencies_are_missing_is_refused() {
    let (_office, mut doc) = office_order("SO-1", 2);
    let (mut picker, who) = picker();
    let base = doc.get_heads();
    let mut fork = picker.fork(&mut doc);
    write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    write(&mut picker, &mut fork, picked("SO-1", "wh-1"));
    let changes = fork.get_changes(&base);
    assert_eq!(changes.len(), 2);
    let refusal = sole_refusal(&check(&who, &order("SO-1"), &mut doc, vec![changes[1].clone()]));
    assert_eq!(refusal, Refusal::MissingDependencies { missing: 1 });
}
