//! One order's life on four replicas that never see each other until the end:
//! two pickers pick the same line offline, the office cancels while the driver
//! delivers, then everything merges and the fold shows the result, with every
//! collision as an exception, which the office then resolves.
//!
//! `cargo run -p waybill-shared --example walkthrough`

use automerge::AutoCommit;
use chrono::{DateTime, Utc};
use waybill_shared::blob::BlobHash;
use waybill_shared::doc::location::{Bin, LocationHeader};
use waybill_shared::doc::order::{Address, OrderHeader, OrderLine, ProofRequired};
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::Payload;
use waybill_shared::event::delivery::{Delivered, Gps, Loaded, Proof, Relation};
use waybill_shared::event::office::{Cancelled, Decision, ExceptionResolved, OrderCreated};
use waybill_shared::event::stock::Received;
use waybill_shared::event::warehouse::{LineQuantity, Packed, Picked};
use waybill_shared::fold::{self, OrderView};
use waybill_shared::gs1::{Code, parse_code};
use waybill_shared::id::DeviceId;
use waybill_shared::policy::actor_of;
use waybill_shared::recorder::Recorder;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// A device: its recorder, its copies of the documents, and a wall clock.
struct Device {
    recorder: Recorder,
    order: AutoCommit,
    stock: AutoCommit,
    clock_ms: i64,
}

impl Device {
    fn new(name: &str, order: &mut AutoCommit, stock: &mut AutoCommit, clock_ms: i64) -> Res<Self> {
        let id = DeviceId::new(name)?;
        let actor = actor_of(&id);
        Ok(Self {
            order: order.fork().with_actor(actor.clone()),
            stock: stock.fork().with_actor(actor),
            recorder: Recorder::new(id),
            clock_ms,
        })
    }

    /// Records an event and appends it to whichever documents it belongs in.
    fn record(&mut self, payload: Payload) -> Res<()> {
        self.clock_ms += 60_000;
        let now = DateTime::<Utc>::from_timestamp_millis(self.clock_ms).ok_or("clock out of range")?;
        let order_id = DocId::Order("SO-1001".parse()?);
        let stock_id = DocId::Location { id: "wh-1".parse()?, epoch: 0 };
        let (in_order, in_stock) = (payload.belongs_in(&order_id), payload.belongs_in(&stock_id));
        let event = self.recorder.record(now, None, payload);
        println!("  {:<9} {:<16} {}", self.recorder.device().as_str(), event.payload.name(), event.id);
        if in_order {
            doc::append(&mut self.order, &event)?;
        }
        if in_stock {
            doc::append(&mut self.stock, &event)?;
        }
        Ok(())
    }
}

fn main() -> Res<()> {
    let t0 = 1_790_000_000_000;
    let office_id = DeviceId::new("office")?;
    // What a scanner emits for a GS1-128 label carrying (01) 09506000134352.
    let gtin = match parse_code("]C10109506000134352")? {
        Code::Element(e) => e.gtin.ok_or("the label carries no GTIN")?,
        Code::Gtin(g) => g,
        other => return Err(format!("expected an item, scanned {other:?}").into()),
    };
    let header = OrderHeader {
        id: "SO-1001".parse()?,
        customer: "Ada Lovelace".into(),
        ship_to: Address {
            name: "Ada Lovelace".into(),
            line1: "12 St James's Square".into(),
            line2: String::new(),
            city: "London".into(),
            postcode: "SW1Y 4JH".into(),
            country: "GB".into(),
            geo: None,
        },
        lines: vec![OrderLine {
            line: 1,
            gtin: gtin.clone(),
            description: "Difference engine".into(),
            quantity: 2,
        }],
        promised: None,
        slot: None,
        location: Some("wh-1".parse()?),
        proof: ProofRequired { signature: true, ..Default::default() },
        payment: Default::default(),
        created_at: DateTime::from_timestamp_millis(t0).ok_or("bad time")?,
    };
    let mut order = doc::create(actor_of(&office_id), &DocId::Order(header.id.clone()), &header);
    let location = LocationHeader {
        id: "wh-1".parse()?,
        name: "Main warehouse".into(),
        geo: None,
        bins: vec![Bin { id: "A-01".parse()?, walk: 1 }],
        epoch: 0,
        opening: Vec::new(),
        cutoff: Default::default(),
        quotas: Vec::new(),
        time_zone: None,
    };
    let mut stock =
        doc::create(actor_of(&office_id), &DocId::Location { id: location.id.clone(), epoch: 0 }, &location);

    println!("The office takes the order in and receives stock:");
    let mut office = Device::new("office", &mut order, &mut stock, t0)?;
    office.record(Payload::OrderCreated(OrderCreated {}))?;
    office.record(Payload::Received(Received {
        bin: "A-01".parse()?,
        gtin: gtin.clone(),
        quantity: 3,
        lot: None,
        expiry: None,
    }))?;

    println!("Every device takes its copy and goes offline. Two pickers pick the same line:");
    let mut picker1 = Device::new("hh-1", &mut office.order, &mut office.stock, t0 + 600_000)?;
    let mut picker2 = Device::new("hh-2", &mut office.order, &mut office.stock, t0 + 600_000)?;
    let mut driver = Device::new("drv-1", &mut office.order, &mut office.stock, t0 + 1_800_000)?;
    let pick = |quantity| -> Res<Payload> {
        Ok(Payload::Picked(Picked {
            order: "SO-1001".parse()?,
            line: 1,
            location: "wh-1".parse()?,
            bin: "A-01".parse()?,
            gtin: gtin.clone(),
            quantity,
            lot: None,
            serial: None,
            expiry: None,
            override_reason: None,
        }))
    };
    picker1.record(pick(2)?)?;
    picker2.record(pick(2)?)?;

    println!(
        "A packer (who merged with picker 1) packs; the driver merges with the packer, loads, delivers:"
    );
    let mut packer = Device::new("pk-1", &mut picker1.order, &mut picker1.stock, t0 + 1_200_000)?;
    let sscc: waybill_shared::gs1::Sscc = "106141411234567897".parse()?;
    packer.record(Payload::Packed(Packed {
        sscc: sscc.clone(),
        lines: vec![LineQuantity { line: 1, quantity: 2 }],
        weight_g: Some(5400),
        dimensions: None,
    }))?;
    driver.order.merge(&mut packer.order)?;
    driver.record(Payload::Loaded(Loaded {
        sscc: sscc.clone(),
        route: "R-7".parse()?,
        van: "van-3".parse()?,
    }))?;
    driver.record(Payload::Delivered(Delivered {
        order: "SO-1001".parse()?,
        route: "R-7".parse()?,
        stop: 1,
        packages: vec![sscc],
        proof: Proof {
            recipient_name: Some("A. Lovelace".into()),
            relation: Relation::Recipient,
            left_at: None,
            photo: None,
            signature: Some(BlobHash::of(b"signature strokes")),
            gps: Some(Gps { lat: 51.5074, lon: -0.1344, accuracy_m: Some(5.0) }),
            note: String::new(),
            age_check_passed: None,
        },
        collection: None,
    }))?;

    println!("Meanwhile the office, offline from them all, cancels the order:");
    office.record(Payload::Cancelled(Cancelled { reason: "customer called".into() }))?;

    println!("\nThe links come back; every replica merges with the office.");
    for d in [&mut picker1, &mut picker2, &mut packer, &mut driver] {
        office.order.merge(&mut d.order)?;
        office.stock.merge(&mut d.stock)?;
    }
    let view = order_view(&mut office.order)?;
    print_view(&view);
    let stock_view = fold::stock::fold(&doc::location::read(office.stock.document())?);
    println!(
        "Stock at {}: {} units of {} in A-01",
        stock_view.location,
        stock_view.on_hand(&"A-01".parse()?, &gtin),
        gtin
    );
    for e in &stock_view.exceptions {
        println!("  stock exception {}: {} event(s)", e.id, e.events.len());
    }

    println!("\nThe office resolves every open exception:");
    let open: Vec<_> = view.open_exceptions().chain(stock_view.exceptions.iter()).cloned().collect();
    for e in open {
        office.record(Payload::ExceptionResolved(ExceptionResolved {
            exception: e.id,
            events: e.events,
            decision: Decision::Accept,
            note: "reviewed".into(),
        }))?;
    }
    print_view(&order_view(&mut office.order)?);
    let stock_view = fold::stock::fold(&doc::location::read(office.stock.document())?);
    let open = stock_view.exceptions.iter().filter(|e| e.is_open()).count();
    println!("Stock exceptions still open: {open}");
    Ok(())
}

fn order_view(doc: &mut AutoCommit) -> Res<OrderView> {
    // The signature blob travels separately; this replica has it.
    Ok(fold::order::fold(&doc::order::read(doc.document())?, &|_| true))
}

fn print_view(v: &OrderView) {
    println!("Order {}: {:?}", v.header.id, v.status);
    for l in &v.lines {
        println!(
            "  line {}: ordered {}, picked {}, packed {}, delivered {}",
            l.line, l.ordered, l.picked, l.packed, l.delivered
        );
    }
    for e in &v.exceptions {
        let state = if e.is_open() { "OPEN" } else { "resolved" };
        let events: Vec<String> = e.events.iter().map(ToString::to_string).collect();
        println!("  exception {:<32} {:<8} events {}", e.id, state, events.join(", "));
    }
}
