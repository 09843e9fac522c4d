//! Builders shared by the integration tests: devices that record events,
//! valid GTINs and SSCCs, an order with lines, and documents forked per device.
#![allow(dead_code)] // each test file uses part of it
#![allow(clippy::unwrap_used)] // test builders

use automerge::AutoCommit;
use chrono::{DateTime, Utc};
use waybill_shared::blob::BlobHash;
use waybill_shared::doc::location::{Bin, LocationHeader};
use waybill_shared::doc::order::{Address, OrderHeader, OrderLine, ProofRequired};
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::delivery::{Proof, Relation};
use waybill_shared::event::office::OrderCreated;
use waybill_shared::event::{Event, Payload};
use waybill_shared::fold::{self, OrderView, StockView};
use waybill_shared::gs1::{Gtin, Sscc, check_digit};
use waybill_shared::id::DeviceId;
use waybill_shared::policy::actor_of;
use waybill_shared::recorder::Recorder;

/// A device with its own recorder and a wall clock the test moves.
pub struct Device {
    pub recorder: Recorder,
    pub now_ms: i64,
}

impl Device {
    pub fn new(name: &str) -> Self {
        Self { recorder: Recorder::new(DeviceId::new(name).unwrap()), now_ms: 1_780_000_000_000 }
    }

    pub fn id(&self) -> DeviceId {
        self.recorder.device().clone()
    }

    /// Records an event one second after the last.
    pub fn event(&mut self, payload: Payload) -> Event {
        self.now_ms += 1_000;
        let now = DateTime::<Utc>::from_timestamp_millis(self.now_ms).unwrap();
        self.recorder.record(now, Some(format!("{}-user", self.id())), payload)
    }

    /// This device's copy of `doc`, writing under its own actor.
    pub fn fork(&self, doc: &mut AutoCommit) -> AutoCommit {
        doc.fork().with_actor(actor_of(self.recorder.device()))
    }

    /// Records and appends an event to `doc`, after observing the clocks of
    /// the events already there, as a device does when it merges.
    pub fn append(&mut self, doc: &mut AutoCommit, payload: Payload) -> Event {
        let kind = doc_kind(doc);
        let seen = doc::read::<serde_json::Value>(doc.document(), kind).unwrap();
        let now = DateTime::<Utc>::from_timestamp_millis(self.now_ms).unwrap();
        for e in &seen.events {
            self.recorder.observe(e.hlc, now);
        }
        let e = self.event(payload);
        doc::append(doc, &e).unwrap();
        e
    }
}

/// The GTIN-13 with data digits `base` (12 digits) and its check digit.
pub fn gtin(n: u64) -> Gtin {
    let data = format!("{:012}", 950_600_000_000 + n);
    format!("{data}{}", check_digit(&data).unwrap()).parse().unwrap()
}

/// An SSCC with serial `n`.
pub fn sscc(n: u64) -> Sscc {
    let data = format!("{:017}", 10_614_141_000_000_000 + n);
    format!("{data}{}", check_digit(&data).unwrap()).parse().unwrap()
}

pub fn address(street: &str) -> Address {
    Address {
        name: "Ada Lovelace".into(),
        line1: street.into(),
        line2: String::new(),
        city: "London".into(),
        postcode: "N1 9GU".into(),
        country: "GB".into(),
        geo: None,
    }
}

/// An order with `lines` (quantity per line, lines numbered from 1, item = line number).
pub fn order_header(id: &str, lines: &[u32]) -> OrderHeader {
    OrderHeader {
        id: id.parse().unwrap(),
        customer: "C-1".into(),
        ship_to: address("1 Main St"),
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, &quantity)| OrderLine {
                line: i as u32 + 1,
                gtin: gtin(i as u64 + 1),
                description: format!("item {}", i + 1),
                quantity,
            })
            .collect(),
        promised: None,
        slot: None,
        location: Some("wh-1".parse().unwrap()),
        proof: ProofRequired::default(),
        payment: Default::default(),
        created_at: DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
    }
}

/// The office creates an order document and appends `order_created`.
pub fn new_order(office: &mut Device, header: &OrderHeader) -> AutoCommit {
    let id = DocId::Order(header.id.clone());
    let mut doc = doc::create(actor_of(&office.id()), &id, header);
    office.append(&mut doc, Payload::OrderCreated(OrderCreated {}));
    doc
}

/// A location epoch 0 with bins A-1.. and nothing in stock.
pub fn location_header(id: &str, bins: u32) -> LocationHeader {
    LocationHeader {
        id: id.parse().unwrap(),
        name: format!("Warehouse {id}"),
        geo: None,
        bins: (1..=bins).map(|i| Bin { id: format!("A-{i}").parse().unwrap(), walk: i }).collect(),
        epoch: 0,
        opening: Vec::new(),
        cutoff: Default::default(),
        quotas: Vec::new(),
        time_zone: None,
    }
}

pub fn new_location(office: &Device, header: &LocationHeader) -> AutoCommit {
    let id = DocId::Location { id: header.id.clone(), epoch: header.epoch };
    doc::create(actor_of(&office.id()), &id, header)
}

/// Folds an order document, holding every blob.
pub fn order_view(doc: &mut AutoCommit) -> OrderView {
    fold::order::fold(&doc::order::read(doc.document()).unwrap(), &|_: &BlobHash| true)
}

pub fn stock_view(doc: &mut AutoCommit) -> StockView {
    fold::stock::fold(&doc::location::read(doc.document()).unwrap())
}

/// Merges `from` into `into`.
pub fn merge(into: &mut AutoCommit, from: &mut AutoCommit) {
    into.merge(from).unwrap();
}

/// The kind word stored in a document.
pub fn doc_kind(doc: &mut AutoCommit) -> &'static str {
    use automerge::ReadDoc;
    let kind = doc.document().get(automerge::ROOT, "kind").unwrap().unwrap().0.as_str().map(str::to_owned);
    match kind.as_deref() {
        Some("order") => "order",
        Some("location") => "location",
        _ => "route",
    }
}

/// A proof of a package handed to Ada herself, with nothing else recorded.
pub fn handed_to_ada() -> Proof {
    Proof {
        recipient_name: Some("Ada".into()),
        relation: Relation::Recipient,
        left_at: None,
        photo: None,
        signature: None,
        gps: None,
        note: String::new(),
        age_check_passed: None,
    }
}
