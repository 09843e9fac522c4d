//! EPCIS export: an order's life and a location's stock moves as EPCIS 2.0
//! events, with stable ids, and a voided event as an error declaration.

#![allow(clippy::unwrap_used)]

mod support;

use chrono::DateTime;
use serde_json::Value;
use support::*;
use waybill_shared::blob::BlobHash;
use waybill_shared::doc;
use waybill_shared::epcis;
use waybill_shared::event::Payload;
use waybill_shared::event::delivery::*;
use waybill_shared::event::office::*;
use waybill_shared::event::stock::Received;
use waybill_shared::event::warehouse::*;

fn pick(line: u32, quantity: u32, lot: Option<&str>) -> Payload {
    Payload::Picked(Picked {
        order: "SO-1".parse().unwrap(),
        line,
        location: "wh-1".parse().unwrap(),
        bin: "A-1".parse().unwrap(),
        gtin: gtin(u64::from(line)),
        quantity,
        lot: lot.map(str::to_owned),
        serial: None,
        expiry: None,
        override_reason: None,
    })
}

/// The order's document, and the ids of the pick that was voided and the void.
fn delivered_order() -> (automerge::AutoCommit, String, String) {
    let (mut office, mut picker, mut packer, mut driver) =
        (Device::new("office-1"), Device::new("hh-1"), Device::new("pk-1"), Device::new("drv-1"));
    let mut doc = new_order(&mut office, &order_header("SO-1", &[2, 1]));
    let allocations = vec![Allocation { line: 1, location: "wh-1".parse().unwrap(), quantity: 2 }];
    office.append(&mut doc, Payload::Allocated(Allocated { allocations }));
    picker.append(&mut doc, pick(1, 2, Some("L/7")));
    let wrong = picker.append(&mut doc, pick(2, 3, None));
    let void = picker.append(
        &mut doc,
        Payload::Voided(Voided { target: wrong.id.clone(), reason: "scanned three, took one".into() }),
    );
    picker.append(&mut doc, pick(2, 1, None));
    packer.append(
        &mut doc,
        Payload::Packed(Packed {
            sscc: sscc(1),
            lines: vec![LineQuantity { line: 1, quantity: 2 }, LineQuantity { line: 2, quantity: 1 }],
            weight_g: None,
            dimensions: None,
        }),
    );
    packer.append(&mut doc, Payload::PackageClosed(PackageClosed { sscc: sscc(1), weight_g: Some(900) }));
    let route = "R-1".parse().unwrap();
    driver.append(
        &mut doc,
        Payload::Loaded(Loaded {
            sscc: sscc(1),
            route: "R-1".parse().unwrap(),
            van: "van-1".parse().unwrap(),
        }),
    );
    driver.append(&mut doc, Payload::OutForDelivery(OutForDelivery { route, address_seen: None }));
    driver.append(
        &mut doc,
        Payload::Delivered(Delivered {
            order: "SO-1".parse().unwrap(),
            route: "R-1".parse().unwrap(),
            stop: 1,
            packages: vec![sscc(1)],
            proof: Proof {
                recipient_name: Some("Ada".into()),
                relation: Relation::Recipient,
                left_at: None,
                photo: Some(BlobHash::of(b"photo")),
                signature: None,
                gps: Some(Gps { lat: 51.53, lon: -0.1, accuracy_m: None }),
                note: String::new(),
                age_check_passed: None,
            },
            collection: None,
        }),
    );
    (doc, wrong.id.to_string(), void.id.to_string())
}

fn created() -> chrono::DateTime<chrono::Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}

fn export(doc: &mut automerge::AutoCommit) -> Value {
    epcis::order_document(&doc::order::read(doc.document()).unwrap(), created())
}

fn events(document: &Value) -> &Vec<Value> {
    document["epcisBody"]["eventList"].as_array().unwrap()
}

#[test]
fn an_order_exports_as_epcis_events() {
    let (mut doc, wrong, void) = delivered_order();
    let document = export(&mut doc);
    assert_eq!(document["type"], "EPCISDocument");
    assert_eq!(document["schemaVersion"], "2.0");
    assert_eq!(document["creationDate"], "2026-09-21T14:13:20.000Z");
    assert_eq!(document["@context"][0], epcis::EPCIS_CONTEXT);
    assert_eq!(document["@context"][1]["waybill"], epcis::WAYBILL_NAMESPACE);

    let list = events(&document);
    let shape: Vec<(&str, &str, &str)> = list
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["bizStep"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    // Intake, allocation and the void itself move nothing: not exported.
    assert_eq!(
        shape,
        [
            ("ObjectEvent", "picking", "OBSERVE"),
            ("ObjectEvent", "picking", "OBSERVE"),
            ("ObjectEvent", "picking", "OBSERVE"),
            ("AggregationEvent", "packing", "ADD"),
            ("ObjectEvent", "packing", "OBSERVE"),
            ("ObjectEvent", "loading", "OBSERVE"),
            ("ObjectEvent", "departing", "OBSERVE"),
            ("ObjectEvent", "accepting", "OBSERVE"),
        ]
    );
    for e in list {
        for field in ["type", "eventID", "eventTime", "eventTimeZoneOffset", "action", "bizStep"] {
            assert!(e.get(field).is_some(), "{field} missing in {e}");
        }
        assert_eq!(e["eventTimeZoneOffset"], "+00:00");
        assert!(e["eventID"].as_str().unwrap().starts_with("urn:waybill:event:"));
        assert_eq!(e["bizTransactionList"][0]["bizTransaction"], "urn:waybill:order:SO-1");
    }

    let first = &list[0];
    assert_eq!(first["eventID"], "urn:waybill:event:hh-1:1");
    assert_eq!(first["eventTime"], "2026-05-28T20:26:41.000Z");
    assert_eq!(first["disposition"], "in_progress");
    assert_eq!(first["quantityList"][0]["epcClass"], format!("https://id.gs1.org/01/{}/10/L%2F7", gtin(1)));
    assert_eq!(first["quantityList"][0]["quantity"], 2);
    assert_eq!(first["readPoint"]["id"], "urn:waybill:location:wh-1:bin:A-1");
    assert_eq!(first["bizLocation"]["id"], "urn:waybill:location:wh-1");
    assert_eq!(first["waybill:device"], "hh-1");

    let voided = list.iter().find(|e| e["eventID"] == format!("urn:waybill:event:{wrong}")).unwrap();
    let declaration = &voided["errorDeclaration"];
    assert_eq!(declaration["reason"], "did_not_occur");
    assert_eq!(declaration["waybill:voidedBy"], format!("urn:waybill:event:{void}"));
    assert_eq!(declaration["waybill:reason"], "scanned three, took one");
    assert!(declaration["declarationTime"].as_str().unwrap() > voided["eventTime"].as_str().unwrap());
    assert_eq!(list.iter().filter(|e| e.get("errorDeclaration").is_some()).count(), 1);

    let package = format!("https://id.gs1.org/00/{}", sscc(1));
    let packed = &list[3];
    assert_eq!(packed["parentID"], package);
    assert_eq!(packed["childQuantityList"][1]["epcClass"], format!("https://id.gs1.org/01/{}", gtin(2)));
    assert_eq!(list[4]["disposition"], "container_closed");
    assert_eq!(list[6]["epcList"][0], package);
    assert_eq!(list[6]["disposition"], "in_transit");
    let delivered = &list[7];
    assert_eq!(delivered["epcList"][0], package);
    assert_eq!(delivered["readPoint"]["id"], "geo:51.53,-0.1");
    assert_eq!(delivered["waybill:proof"]["recipient_name"], "Ada");
}

#[test]
fn the_export_is_the_same_from_any_replica() {
    let (mut doc, _, _) = delivered_order();
    let mut contents = doc::order::read(doc.document()).unwrap();
    let a = epcis::order_document(&contents, created());
    contents.events.reverse();
    let duplicate = contents.events[0].clone();
    contents.events.push(duplicate);
    assert_eq!(epcis::order_document(&contents, created()), a);
}

#[test]
fn a_location_exports_its_stock_moves() {
    let office = Device::new("office-1");
    let mut clerk = Device::new("hh-9");
    let mut doc = new_location(&office, &location_header("wh-1", 2));
    clerk.append(
        &mut doc,
        Payload::Received(Received {
            bin: "A-2".parse().unwrap(),
            gtin: gtin(1),
            quantity: 12,
            lot: None,
            expiry: None,
        }),
    );
    clerk.append(&mut doc, pick(1, 2, None));
    let document = epcis::location_document(&doc::location::read(doc.document()).unwrap(), created());
    let list = events(&document);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["bizStep"], "receiving");
    assert_eq!(list[0]["readPoint"]["id"], "urn:waybill:location:wh-1:bin:A-2");
    assert_eq!(list[0]["quantityList"][0]["quantity"], 12);
    assert!(list[0].get("bizTransactionList").is_none());
    assert_eq!(list[1]["bizStep"], "picking");
    assert_eq!(list[1]["bizTransactionList"][0]["type"], "po");
}

#[test]
fn a_van_sale_exports_as_retail_selling_and_quotas_do_not_export() {
    use waybill_shared::event::quota::{QuotaGranted, Sold};
    let (mut office, mut van) = (Device::new("office-1"), Device::new("van-1"));
    let mut doc = new_location(&office, &location_header("wh-1", 1));
    let grant = QuotaGranted { device: van.id(), gtin: gtin(1), quantity: 3 };
    office.append(&mut doc, Payload::QuotaGranted(grant));
    let sale = Sold { bin: "A-1".parse().unwrap(), gtin: gtin(1), quantity: 2, customer: None };
    let sold = van.append(&mut doc, Payload::Sold(sale));
    let document = epcis::location_document(&doc::location::read(doc.document()).unwrap(), created());
    let list = events(&document);
    assert_eq!(list.len(), 1, "{document}");
    assert_eq!(list[0]["eventID"], format!("urn:waybill:event:{}", sold.id));
    assert_eq!(list[0]["bizStep"], "retail_selling");
    assert_eq!(list[0]["disposition"], "retail_sold");
    assert_eq!(list[0]["quantityList"][0]["quantity"], 2);
}
