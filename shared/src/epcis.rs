//! Export to GS1 EPCIS 2.0: a document's events as an `EPCISDocument` in
//! JSON-LD, for trading partners and traceability systems.
//!
//! In: an order or location document as read ([`Contents`]) and the time the
//! export is made. Out: one `EPCISDocument` as a [`serde_json::Value`].
//!
//! Each event that moves or observes goods becomes one EPCIS event:
//!
//! | Waybill event | EPCIS event | action | bizStep | disposition |
//! |---|---|---|---|---|
//! | `received` | ObjectEvent | OBSERVE | receiving | sellable_accessible |
//! | `put_away` | ObjectEvent | OBSERVE | storing | sellable_accessible |
//! | `picked` | ObjectEvent | OBSERVE | picking | in_progress |
//! | `put_back` | ObjectEvent | OBSERVE | storing | sellable_accessible |
//! | `packed` | AggregationEvent (SSCC parent) | ADD | packing | in_progress |
//! | `package_closed` | ObjectEvent | OBSERVE | packing | container_closed |
//! | `staged` | ObjectEvent | OBSERVE | staging_outbound | in_progress |
//! | `loaded` | ObjectEvent | OBSERVE | loading | in_progress |
//! | `out_for_delivery` | ObjectEvent | OBSERVE | departing | in_transit |
//! | `delivered` | ObjectEvent | OBSERVE | accepting | (none) |
//! | `attempt_failed` | ObjectEvent | OBSERVE | arriving | in_transit |
//! | `returned_to_depot` | ObjectEvent | OBSERVE | receiving | returned |
//! | `return_received` | ObjectEvent | OBSERVE | receiving | sellable_accessible or damaged |
//! | `adjusted` | ObjectEvent | OBSERVE | inspecting | by reason (damaged, unknown, expired, ...) |
//! | `counted` | ObjectEvent | OBSERVE | cycle_counting | (none) |
//! | `transferred` | ObjectEvent with source and destination | OBSERVE | shipping | (none) |
//! | `sold` | ObjectEvent | OBSERVE | retail_selling | retail_sold |
//!
//! Office decisions (intake, holds, allocation, assignments, resolutions,
//! return authorisations, refunds), quota grants and releases, and
//! `short_picked` move nothing and are not exported. A `voided` event is not exported itself: the event it voids
//! carries an EPCIS `errorDeclaration` (reason `did_not_occur`: in Waybill a
//! voided event no longer counts) with the void's time and reason.
//!
//! Identifiers: items are GS1 Digital Link URIs, `https://id.gs1.org/01/<gtin>`
//! (with `/10/<lot>` when a lot was scanned) in a `quantityList`; packages
//! are `https://id.gs1.org/00/<sscc>` in an `epcList`. Places are
//! `urn:waybill:location:<id>` (`bizLocation`) and
//! `urn:waybill:location:<id>:bin:<bin>` (`readPoint`); a delivery's GPS fix
//! is a `geo:` URI. The order is a `po` business transaction,
//! `urn:waybill:order:<id>`. `eventID` is `urn:waybill:event:<device>:<seq>`,
//! stable across exports, so a receiver can deduplicate (an event copied into
//! a later location epoch keeps its id). `eventTime` is the device's wall time
//! (`at`) in UTC. Waybill's own fields are under the `waybill:` namespace
//! declared in the `@context`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::doc::Contents;
use crate::doc::location::LocationHeader;
use crate::doc::order::OrderHeader;
use crate::event::returns::Disposition;
use crate::event::stock::AdjustReason;
use crate::event::{Event, Payload};
use crate::event_id::EventId;
use crate::gs1::{Gtin, Sscc};
use crate::id::{BinId, LocationId, OrderId, RouteId};

/// The EPCIS 2.0 JSON-LD context.
pub const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";
/// The namespace of Waybill's extension fields, prefix `waybill:`.
pub const WAYBILL_NAMESPACE: &str = "https://waybill.example/epcis/";

/// The EPCIS document of an order's events.
pub fn order_document(contents: &Contents<OrderHeader>, creation_date: DateTime<Utc>) -> Value {
    let header = &contents.header;
    let ctx = Context { order: Some(header), location: None };
    document(&contents.events, &ctx, creation_date)
}

/// The EPCIS document of a location epoch's events.
pub fn location_document(contents: &Contents<LocationHeader>, creation_date: DateTime<Utc>) -> Value {
    let ctx = Context { order: None, location: Some(&contents.header.id) };
    document(&contents.events, &ctx, creation_date)
}

/// What the document tells about its events.
struct Context<'a> {
    order: Option<&'a OrderHeader>,
    location: Option<&'a LocationId>,
}

fn document(events: &[Event], ctx: &Context, creation_date: DateTime<Utc>) -> Value {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| (a.hlc, &a.id).cmp(&(b.hlc, &b.id)));
    sorted.dedup_by(|a, b| a.id == b.id);
    // The first void of each event, and what is live on each route.
    let mut voids: BTreeMap<&EventId, &Event> = BTreeMap::new();
    for e in &sorted {
        if let Payload::Voided(v) = &e.payload {
            voids.entry(&v.target).or_insert(e);
        }
    }
    let mut on_route: BTreeMap<_, BTreeSet<&Sscc>> = BTreeMap::new();
    for e in sorted.iter().filter(|e| !voids.contains_key(&e.id)) {
        if let Payload::Loaded(l) = &e.payload {
            on_route.entry(&l.route).or_default().insert(&l.sscc);
        }
    }
    let list: Vec<Value> = sorted
        .iter()
        .filter_map(|e| {
            let mut out = epcis_event(e, ctx, &on_route)?;
            if let Some(void) = voids.get(&e.id) {
                let reason = match &void.payload {
                    Payload::Voided(v) => v.reason.as_str(),
                    _ => "",
                };
                out.insert(
                    "errorDeclaration".into(),
                    json!({
                        "declarationTime": time(&void.at),
                        "reason": "did_not_occur",
                        "waybill:voidedBy": event_uri(&void.id),
                        "waybill:reason": reason,
                    }),
                );
            }
            Some(Value::Object(out))
        })
        .collect();
    json!({
        "@context": [EPCIS_CONTEXT, {"waybill": WAYBILL_NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": time(&creation_date),
        "epcisBody": {"eventList": list},
    })
}

/// The EPCIS event for `e`, or `None` if it moves nothing.
fn epcis_event(
    e: &Event,
    ctx: &Context,
    on_route: &BTreeMap<&RouteId, BTreeSet<&Sscc>>,
) -> Option<Map<String, Value>> {
    let order_id = ctx.order.map(|h| &h.id);
    let here = ctx.location;
    let mut f = Map::new();
    let mut set = |k: &str, v: Value| {
        f.insert(k.to_owned(), v);
    };
    let (kind, action, step, disposition) = match &e.payload {
        Payload::Received(r) => {
            set("quantityList", quantity(&r.gtin, r.lot.as_deref(), r.quantity.into()));
            place(&mut set, here, Some(&r.bin));
            ("ObjectEvent", "OBSERVE", "receiving", Some("sellable_accessible"))
        }
        Payload::PutAway(p) => {
            set("quantityList", quantity(&p.gtin, None, p.quantity.into()));
            set("waybill:fromBin", json!(p.from_bin));
            place(&mut set, here, Some(&p.to_bin));
            ("ObjectEvent", "OBSERVE", "storing", Some("sellable_accessible"))
        }
        Payload::Picked(p) => {
            set("quantityList", quantity(&p.gtin, p.lot.as_deref(), p.quantity.into()));
            place(&mut set, Some(&p.location), Some(&p.bin));
            set("bizTransactionList", order_tx(&p.order));
            set("waybill:line", json!(p.line));
            ("ObjectEvent", "OBSERVE", "picking", Some("in_progress"))
        }
        Payload::PutBack(p) => {
            set("quantityList", quantity(&p.gtin, None, p.quantity.into()));
            place(&mut set, Some(&p.location), Some(&p.bin));
            set("bizTransactionList", order_tx(&p.order));
            set("waybill:line", json!(p.line));
            ("ObjectEvent", "OBSERVE", "storing", Some("sellable_accessible"))
        }
        Payload::Packed(p) => {
            let lines = ctx.order.map(|h| &h.lines[..]).unwrap_or_default();
            let children: Vec<Value> = p
                .lines
                .iter()
                .filter_map(|lq| {
                    let line = lines.iter().find(|l| l.line == lq.line)?;
                    Some(json!({"epcClass": item_uri(&line.gtin, None), "quantity": lq.quantity}))
                })
                .collect();
            set("parentID", json!(package_uri(&p.sscc)));
            set("childEPCs", json!([]));
            set("childQuantityList", Value::Array(children));
            if let Some(w) = p.weight_g {
                set("waybill:weightGrams", json!(w));
            }
            ("AggregationEvent", "ADD", "packing", Some("in_progress"))
        }
        Payload::PackageClosed(c) => {
            set("epcList", json!([package_uri(&c.sscc)]));
            if let Some(w) = c.weight_g {
                set("waybill:weightGrams", json!(w));
            }
            ("ObjectEvent", "OBSERVE", "packing", Some("container_closed"))
        }
        Payload::Staged(s) => {
            set("epcList", json!([package_uri(&s.sscc)]));
            set("waybill:area", json!(s.area));
            ("ObjectEvent", "OBSERVE", "staging_outbound", Some("in_progress"))
        }
        Payload::Loaded(l) => {
            set("epcList", json!([package_uri(&l.sscc)]));
            set("waybill:route", json!(l.route));
            set("waybill:van", json!(l.van));
            ("ObjectEvent", "OBSERVE", "loading", Some("in_progress"))
        }
        Payload::OutForDelivery(o) => {
            let packages = on_route.get(&o.route).into_iter().flatten().map(|s| package_uri(s));
            set("epcList", Value::Array(packages.map(Value::from).collect()));
            set("waybill:route", json!(o.route));
            ("ObjectEvent", "OBSERVE", "departing", Some("in_transit"))
        }
        Payload::Delivered(d) => {
            set("epcList", packages(&d.packages));
            if let Some(gps) = &d.proof.gps {
                set("readPoint", json!({"id": format!("geo:{},{}", gps.lat, gps.lon)}));
            }
            set("bizTransactionList", order_tx(&d.order));
            set("waybill:route", json!(d.route));
            set("waybill:stop", json!(d.stop));
            set("waybill:proof", serde_json::to_value(&d.proof).unwrap_or(Value::Null));
            ("ObjectEvent", "OBSERVE", "accepting", None)
        }
        Payload::AttemptFailed(a) => {
            set("epcList", packages(&a.packages));
            if let Some(gps) = &a.gps {
                set("readPoint", json!({"id": format!("geo:{},{}", gps.lat, gps.lon)}));
            }
            set("bizTransactionList", order_tx(&a.order));
            set("waybill:route", json!(a.route));
            set("waybill:stop", json!(a.stop));
            set("waybill:reason", json!(a.reason));
            ("ObjectEvent", "OBSERVE", "arriving", Some("in_transit"))
        }
        Payload::ReturnedToDepot(r) => {
            set("epcList", json!([package_uri(&r.sscc)]));
            set("waybill:route", json!(r.route));
            ("ObjectEvent", "OBSERVE", "receiving", Some("returned"))
        }
        Payload::ReturnReceived(r) => {
            let list: Vec<Value> = r
                .lines
                .iter()
                .map(|l| json!({"epcClass": item_uri(&l.gtin, None), "quantity": l.quantity}))
                .collect();
            set("quantityList", Value::Array(list));
            place(&mut set, Some(&r.location), r.bin.as_ref());
            let mut tx = vec![json!({"type": "po", "bizTransaction": order_uri(&r.order)})];
            if let Some(rma) = &r.rma {
                tx.push(json!({"type": "rma", "bizTransaction": format!("urn:waybill:rma:{}", encode(rma))}));
            }
            set("bizTransactionList", Value::Array(tx));
            let disposition = match r.disposition {
                Disposition::Restock => "sellable_accessible",
                Disposition::Damaged => "damaged",
            };
            ("ObjectEvent", "OBSERVE", "receiving", Some(disposition))
        }
        Payload::Adjusted(a) => {
            set("quantityList", quantity(&a.gtin, None, a.delta.unsigned_abs()));
            set("waybill:delta", json!(a.delta));
            set("waybill:reason", json!(a.reason));
            place(&mut set, here, Some(&a.bin));
            let disposition = match a.reason {
                AdjustReason::Damaged => Some("damaged"),
                AdjustReason::Lost => Some("unknown"),
                AdjustReason::Found => Some("sellable_accessible"),
                AdjustReason::Expired => Some("expired"),
                AdjustReason::Correction => None,
            };
            ("ObjectEvent", "OBSERVE", "inspecting", disposition)
        }
        Payload::Counted(c) => {
            set("quantityList", quantity(&c.gtin, None, c.counted.unsigned_abs()));
            set("waybill:expected", json!(c.expected));
            set("waybill:counted", json!(c.counted));
            place(&mut set, here, Some(&c.bin));
            ("ObjectEvent", "OBSERVE", "cycle_counting", None)
        }
        Payload::Transferred(t) => {
            set("quantityList", quantity(&t.gtin, None, t.quantity.into()));
            place(&mut set, Some(&t.from), Some(&t.from_bin));
            set("sourceList", json!([{"type": "location", "source": bin_uri(&t.from, &t.from_bin)}]));
            set("destinationList", json!([{"type": "location", "destination": bin_uri(&t.to, &t.to_bin)}]));
            ("ObjectEvent", "OBSERVE", "shipping", None)
        }
        Payload::Sold(s) => {
            set("quantityList", quantity(&s.gtin, None, s.quantity.into()));
            place(&mut set, here, Some(&s.bin));
            ("ObjectEvent", "OBSERVE", "retail_selling", Some("retail_sold"))
        }
        Payload::QuotaGranted(_) | Payload::QuotaReleased(_) => return None,
        Payload::OrderCreated(_)
        | Payload::AddressAmended(_)
        | Payload::Held(_)
        | Payload::Released(_)
        | Payload::Cancelled(_)
        | Payload::Allocated(_)
        | Payload::PickAssigned(_)
        | Payload::PackageAssigned(_)
        | Payload::StopInserted(_)
        | Payload::ExceptionResolved(_)
        | Payload::Voided(_)
        | Payload::ShortPicked(_)
        | Payload::ArrivedAtStop(_)
        | Payload::ReturnAuthorised(_)
        | Payload::RefundRecorded(_)
        | Payload::PaymentAuthorised(_)
        | Payload::PaymentCaptured(_)
        | Payload::CashHandedIn(_)
        | Payload::TrackingRevoked(_)
        | Payload::FeedbackGiven(_)
        | Payload::ReturnRequested(_) => return None,
    };
    if let (Some(order), false) = (order_id, f.contains_key("bizTransactionList")) {
        f.insert("bizTransactionList".into(), order_tx(order));
    }
    let mut out = Map::new();
    out.insert("type".into(), json!(kind));
    out.insert("eventID".into(), json!(event_uri(&e.id)));
    out.insert("eventTime".into(), json!(time(&e.at)));
    out.insert("eventTimeZoneOffset".into(), json!("+00:00"));
    out.insert("action".into(), json!(action));
    out.insert("bizStep".into(), json!(step));
    if let Some(d) = disposition {
        out.insert("disposition".into(), json!(d));
    }
    out.append(&mut f);
    out.insert("waybill:type".into(), json!(e.payload.name()));
    out.insert("waybill:device".into(), json!(e.id.device));
    if let Some(by) = &e.by {
        out.insert("waybill:by".into(), json!(by));
    }
    Some(out)
}

/// Sets `readPoint` (the bin, else the location) and `bizLocation`.
fn place(set: &mut impl FnMut(&str, Value), location: Option<&LocationId>, bin: Option<&BinId>) {
    if let Some(location) = location {
        let point = bin.map_or_else(|| location_uri(location), |b| bin_uri(location, b));
        set("readPoint", json!({"id": point}));
        set("bizLocation", json!({"id": location_uri(location)}));
    }
}

fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn event_uri(id: &EventId) -> String {
    format!("urn:waybill:event:{}:{}", id.device, id.seq)
}

fn location_uri(id: &LocationId) -> String {
    format!("urn:waybill:location:{id}")
}

fn bin_uri(location: &LocationId, bin: &BinId) -> String {
    format!("urn:waybill:location:{location}:bin:{bin}")
}

fn order_uri(id: &OrderId) -> String {
    format!("urn:waybill:order:{id}")
}

fn order_tx(id: &OrderId) -> Value {
    json!([{"type": "po", "bizTransaction": order_uri(id)}])
}

fn package_uri(sscc: &Sscc) -> String {
    format!("https://id.gs1.org/00/{sscc}")
}

fn packages(ssccs: &[Sscc]) -> Value {
    Value::Array(ssccs.iter().map(|s| Value::from(package_uri(s))).collect())
}

fn item_uri(gtin: &Gtin, lot: Option<&str>) -> String {
    match lot {
        Some(lot) => format!("https://id.gs1.org/01/{gtin}/10/{}", encode(lot)),
        None => format!("https://id.gs1.org/01/{gtin}"),
    }
}

fn quantity(gtin: &Gtin, lot: Option<&str>, quantity: u64) -> Value {
    json!([{"epcClass": item_uri(gtin, lot), "quantity": quantity}])
}

/// Percent-encodes all but URI unreserved characters, as GS1 Digital Link
/// asks of values such as lots.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lots_are_percent_encoded() {
        assert_eq!(encode("AB-1.2_~"), "AB-1.2_~");
        assert_eq!(encode("L/1 %"), "L%2F1%20%25");
    }
}
