//! A seed file: orders, locations and routes as the office hands them in,
//! in one JSON file (demos, tests, a first load). [`build`] turns it into
//! documents written as the office would: the header, then `order_created`,
//! `allocated` and `pick_assigned` events from the office's recorder.
//! [`stream`] reads a file too large to hold, one [`Item`] at a time.

use automerge::AutoCommit;
use chrono::{DateTime, Utc};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::doc::location::LocationHeader;
use crate::doc::order::OrderHeader;
use crate::doc::route::RouteHeader;
use crate::doc::{self, DocError, DocId};
use crate::event::office::{Allocated, Allocation, OrderCreated, PickAssigned};
use crate::event::{Event, Payload};
use crate::id::DeviceId;
use crate::policy::actor_of;
use crate::recorder::Recorder;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Locations, with their bins and opening stock.
    #[serde(default)]
    pub locations: Vec<LocationHeader>,
    /// Orders.
    #[serde(default)]
    pub orders: Vec<SeedOrder>,
    /// Routes.
    #[serde(default)]
    pub routes: Vec<RouteHeader>,
}

/// An order and what the office already decided about it.
#[derive(Debug, Clone, Deserialize)]
pub struct SeedOrder {
    /// The header.
    #[serde(flatten)]
    pub header: OrderHeader,
    /// Stock allocated per line.
    #[serde(default)]
    pub allocations: Vec<Allocation>,
    /// The picker's device it is assigned to.
    #[serde(default)]
    pub pick_device: Option<DeviceId>,
    /// The customer's email address, for notifications: the server keeps
    /// it, and it is not written to the order document.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the shipper lets the customer's tracking page show the
    /// delivery photo (server only, as `email`).
    #[serde(default)]
    pub tracking_photo: bool,
}

/// One thing a seed file holds, as [`stream`] reads it.
// Items are read and handled one at a time, never held in bulk: a box for
// the order variant would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Item {
    /// A location.
    Location(LocationHeader),
    /// A route.
    Route(RouteHeader),
    /// An order.
    Order(SeedOrder),
}

impl Item {
    /// Its document's id.
    pub fn id(&self) -> DocId {
        match self {
            Self::Location(l) => DocId::Location { id: l.id.clone(), epoch: l.epoch },
            Self::Route(r) => DocId::Route(r.id.clone()),
            Self::Order(o) => DocId::Order(o.header.id.clone()),
        }
    }

    /// Its document, written by `office` at `now`.
    pub fn doc(&self, office: &mut Recorder, now: DateTime<Utc>) -> Result<AutoCommit, SeedError> {
        let events = self.events(office, now)?;
        Ok(self.write(office.device(), &events)?)
    }

    /// The events `office` records for it at `now` (an order's
    /// `order_created`, and `allocated` and `pick_assigned` when decided),
    /// or why it cannot be taken. [`Item::write`] puts them in its document.
    pub fn events(&self, office: &mut Recorder, now: DateTime<Utc>) -> Result<Vec<Event>, SeedError> {
        let Self::Order(o) = self else { return Ok(Vec::new()) };
        let planned = !o.allocations.is_empty() || o.pick_device.is_some();
        if planned && o.header.payment == crate::doc::payment::PaymentTerms::Prepaid {
            return Err(SeedError::PrepaidPlanned(o.header.id.to_string()));
        }
        let mut payloads = vec![Payload::OrderCreated(OrderCreated {})];
        if !o.allocations.is_empty() {
            payloads.push(Payload::Allocated(Allocated { allocations: o.allocations.clone() }));
        }
        if let Some(device) = &o.pick_device {
            let location = o.allocations.first().map(|a| a.location.clone()).or(o.header.location.clone());
            let location = location.ok_or_else(|| SeedError::NoPickLocation(o.header.id.to_string()))?;
            payloads.push(Payload::PickAssigned(PickAssigned { device: device.clone(), location }));
        }
        Ok(payloads.into_iter().map(|p| office.record(now, None, p)).collect())
    }

    /// Its document as `office` writes it: the header, then `events` (what
    /// [`Item::events`] recorded for it). It needs nothing else, so items'
    /// documents can be written on several threads.
    pub fn write(&self, office: &DeviceId, events: &[Event]) -> Result<AutoCommit, DocError> {
        let (actor, id) = (actor_of(office), self.id());
        let mut d = match self {
            Self::Location(l) => doc::create(actor, &id, l),
            Self::Route(r) => doc::create(actor, &id, r),
            Self::Order(o) => doc::create(actor, &id, &o.header),
        };
        for e in events {
            doc::append(&mut d, e)?;
        }
        Ok(d)
    }
}

/// Reads a seed file from `input` one item at a time, in the file's order,
/// handing each to `on`, so a file of a million orders is never held whole.
/// The file is checked as [`Seed`] is (unknown keys are refused). An error
/// from `on` stops the reading and comes back as the input's error, with
/// the item (`orders[1700]`) and where in the file the reading stopped.
pub fn stream<'de, D: Deserializer<'de>>(
    input: D,
    mut on: impl FnMut(Item) -> Result<(), String>,
) -> Result<(), D::Error> {
    input.deserialize_map(Stream(&mut on))
}

struct Stream<'a, F>(&'a mut F);

impl<'de, F: FnMut(Item) -> Result<(), String>> Visitor<'de> for Stream<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a seed file: an object of locations, orders and routes")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "locations" => map.next_value_seed(Each(&mut *self.0, Item::Location, "locations"))?,
                "orders" => map.next_value_seed(Each(&mut *self.0, Item::Order, "orders"))?,
                "routes" => map.next_value_seed(Each(&mut *self.0, Item::Route, "routes"))?,
                other => return Err(de::Error::unknown_field(other, &["locations", "orders", "routes"])),
            }
        }
        Ok(())
    }
}

/// One list of the file: its items, made with the function, named `.2`.
struct Each<'a, F, T>(&'a mut F, fn(T) -> Item, &'static str);

impl<'de, F: FnMut(Item) -> Result<(), String>, T: Deserialize<'de>> DeserializeSeed<'de> for Each<'_, F, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Item) -> Result<(), String>, T: Deserialize<'de>> Visitor<'de> for Each<'_, F, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut at = 0;
        while let Some(item) = seq.next_element::<T>()? {
            (self.0)((self.1)(item)).map_err(|why| de::Error::custom(format!("{}[{at}]: {why}", self.2)))?;
            at += 1;
        }
        Ok(())
    }
}

/// A seed that cannot be turned into documents.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// An order is assigned for picking but names no location.
    #[error("order {0} is assigned for picking but has no location")]
    NoPickLocation(String),
    /// A prepaid order comes allocated or assigned: it is held until its
    /// payment is authorised, so work cannot be planned for it yet.
    #[error(
        "order {0} is prepaid, so held until its payment is authorised: give it no allocations or pick_device"
    )]
    PrepaidPlanned(String),
    /// Writing a document failed.
    #[error(transparent)]
    Doc(#[from] DocError),
}

/// The seed's documents, written by `office` at `now`, except those `skip`
/// says are already held.
pub fn build(
    seed: &Seed,
    office: &mut Recorder,
    now: DateTime<Utc>,
    skip: impl Fn(&DocId) -> bool,
) -> Result<Vec<(DocId, AutoCommit)>, SeedError> {
    let items = seed.locations.iter().cloned().map(Item::Location);
    let items = items.chain(seed.routes.iter().cloned().map(Item::Route));
    let items = items.chain(seed.orders.iter().cloned().map(Item::Order));
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for item in items {
        let id = item.id();
        if !skip(&id) && seen.insert(id.clone()) {
            out.push((id, item.doc(office, now)?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
        "orders": [
            {"id": "SO-1", "customer": "c", "created_at": "2026-01-01T00:00:00Z",
             "ship_to": {"name": "n", "line1": "l", "city": "c", "postcode": "p", "country": "GB"},
             "lines": [{"line": 1, "gtin": "09506000134352", "description": "d", "quantity": 1}]},
            {"id": "SO-2", "customer": "c", "created_at": "2026-01-01T00:00:00Z",
             "ship_to": {"name": "n", "line1": "l", "city": "c", "postcode": "p", "country": "GB"},
             "lines": [{"line": 1, "gtin": "09506000134352", "description": "d", "quantity": 1}]}
        ],
        "locations": [{"id": "wh-1", "name": "W", "bins": [], "epoch": 0, "opening": []}]
    }"#;

    fn ids(text: &str, stop_at: Option<&str>) -> (Vec<String>, Result<(), serde_json::Error>) {
        let mut seen = Vec::new();
        let result = stream(&mut serde_json::Deserializer::from_str(text), |item| {
            let id = item.id().to_string();
            if stop_at == Some(id.as_str()) {
                return Err(format!("{id} is refused"));
            }
            seen.push(id);
            Ok(())
        });
        (seen, result)
    }

    #[test]
    fn a_streamed_seed_gives_every_item_in_the_files_order_and_reads_as_the_whole_file_does() {
        let (seen, result) = ids(FILE, None);
        result.unwrap();
        assert_eq!(seen, ["order/SO-1", "order/SO-2", "location/wh-1/0"]);
        let whole: Seed = serde_json::from_str(FILE).unwrap();
        let mut office = Recorder::new(DeviceId::new("office").unwrap());
        let built: Vec<String> = build(&whole, &mut office, Utc::now(), |_| false)
            .unwrap()
            .iter()
            .map(|(id, _)| id.to_string())
            .collect();
        assert_eq!(built, ["location/wh-1/0", "order/SO-1", "order/SO-2"]);
    }

    #[test]
    fn a_streamed_seed_stops_at_an_unknown_key_or_a_refused_item_saying_where() {
        let (seen, result) = ids(r#"{"orders": [], "ordrs": []}"#, None);
        assert!(seen.is_empty());
        assert!(result.unwrap_err().to_string().contains("unknown field `ordrs`"));
        let (seen, result) = ids(FILE, Some("order/SO-2"));
        assert_eq!(seen, ["order/SO-1"]);
        let e = result.unwrap_err().to_string();
        assert!(e.contains("orders[1]: order/SO-2 is refused"), "{e}");
    }
}
