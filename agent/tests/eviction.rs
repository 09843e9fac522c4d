//! Bounded storage: closed orders the server confirmed it holds are dropped,
//! so a device that works for months stays the size of its current work.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use automerge::AutoCommit;
use chrono::{DateTime, Utc};
use waybill_agent::{Agent, Profile};
use waybill_shared::doc::order::{Address, OrderHeader, OrderLine, ProofRequired};
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::Payload;
use waybill_shared::event::office::{Cancelled, OrderCreated};
use waybill_shared::id::DeviceId;
use waybill_shared::policy::actor_of;
use waybill_shared::recorder::Recorder;

fn order(id: &str, office: &mut Recorder, cancelled: bool) -> AutoCommit {
    let header = OrderHeader {
        id: id.parse().unwrap(),
        customer: "C-1".into(),
        ship_to: Address {
            name: "N".into(),
            line1: "1 Main St".into(),
            line2: String::new(),
            city: "Town".into(),
            postcode: "1000".into(),
            country: "GB".into(),
            geo: None,
        },
        lines: vec![OrderLine {
            line: 1,
            gtin: "09506000134352".parse().unwrap(),
            description: "x".repeat(200),
            quantity: 1,
        }],
        promised: None,
        slot: None,
        location: None,
        proof: ProofRequired::default(),
        payment: Default::default(),
        created_at: DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap(),
    };
    let mut d = doc::create(actor_of(office.device()), &DocId::Order(header.id.clone()), &header);
    let now = Utc::now();
    doc::append(&mut d, &office.record(now, None, Payload::OrderCreated(OrderCreated {}))).unwrap();
    if cancelled {
        doc::append(&mut d, &office.record(now, None, Payload::Cancelled(Cancelled { reason: "r".into() })))
            .unwrap();
    }
    d
}

fn picker(path: &Path) -> Agent {
    let profile = Profile {
        device: DeviceId::new("hh-1").unwrap(),
        role: "picker".parse().unwrap(),
        location: None,
        user: None,
    };
    Agent::init(path, profile).unwrap()
}

#[test]
fn only_closed_orders_the_server_holds_in_full_are_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = picker(&dir.path().join("s.db"));
    let mut office = Recorder::new(DeviceId::new("office").unwrap());
    let mut closed = order("SO-1", &mut office, true);
    let mut open = order("SO-2", &mut office, false);
    let closed_id = agent.merge_doc(&closed.save()).unwrap();
    let open_id = agent.merge_doc(&open.save()).unwrap();

    // not confirmed by the server yet: kept
    assert!(agent.evict().unwrap().is_empty());
    // confirmed, but not all of it (the server's heads lack ours): kept
    let full = closed.get_heads();
    let before_cancel = closed.get_changes(&[])[1].hash();
    agent.confirm_synced(&closed_id, &[before_cancel]).unwrap();
    assert!(agent.evict().unwrap().is_empty());
    // confirmed in full: the closed one goes, the open one stays
    agent.confirm_synced(&closed_id, &full).unwrap();
    agent.confirm_synced(&open_id, &open.get_heads()).unwrap();
    assert_eq!(agent.evict().unwrap(), vec![closed_id.clone()]);
    assert_eq!(agent.documents().unwrap(), vec![open_id]);
    assert!(agent.order_view(&"SO-1".parse().unwrap()).is_err());
}

#[test]
fn a_device_that_works_for_months_stays_the_size_of_its_current_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = picker(&dir.path().join("s.db"));
    let mut office = Recorder::new(DeviceId::new("office").unwrap());
    let mut sizes = Vec::new();
    for day in 0..200 {
        // each day 5 orders arrive, and the day's orders are done and confirmed
        for n in 0..5 {
            let mut d = order(&format!("SO-{day}-{n}"), &mut office, true);
            let id = agent.merge_doc(&d.save()).unwrap();
            agent.confirm_synced(&id, &d.get_heads()).unwrap();
        }
        agent.evict().unwrap();
        sizes.push(agent.status().unwrap().store_bytes);
    }
    assert!(agent.documents().unwrap().is_empty());
    let (early, late) = (sizes[10], sizes[199]);
    assert!(late <= early * 2, "store grew from {early} to {late} bytes over 200 days");
}
