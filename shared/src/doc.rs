//! Documents: what syncs. Each is an Automerge document keyed by a [`DocId`].
//!
//! Every document has the same shape:
//!
//! ```text
//! { "schema": 1,                   // SCHEMA_VERSION, a uint
//!   "kind":   "order" | "location" | "route",
//!   "id":     "order/SO-1",
//!   "header": "<JSON>",            // written once by the office
//!   "events": { "<device>:<seq>": "<event JSON>", ... } }
//! ```
//!
//! Why whole JSON values and not a tree of Automerge fields: nothing in a
//! document is ever edited in place. The header is written once (changes to
//! it are events, such as an address amendment) and events are immutable, so
//! field-level CRDT merging would buy nothing. What Automerge gives us is the
//! rest: a content-addressed change history, set-union merge of the `events`
//! map in any order, and its sync protocol. One event is one map entry, one
//! operation, one change: cheap to write, to sync and to check against the
//! write policy (`crate::policy`), which only has to recognise "a new key in
//! `events`" as the single thing a device may do.

pub mod location;
pub mod order;
pub mod payment;
pub mod route;

use std::fmt;
use std::str::FromStr;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, ScalarValueRef, Value,
    ValueRef,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::event_id::EventId;
use crate::id::{InvalidId, LocationId, OrderId, RouteId};

/// The document schema version this build writes and reads.
pub const SCHEMA_VERSION: u64 = 1;

/// Root key of the header.
pub const HEADER: &str = "header";
/// Root key of the events map.
pub const EVENTS: &str = "events";

/// Which document: the sync key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocId {
    /// `order/<id>`: one customer order.
    Order(OrderId),
    /// `location/<id>/<epoch>`: one epoch of a location's stock. A new epoch
    /// starts a new document that carries the balance forward.
    Location {
        /// The location.
        id: LocationId,
        /// The epoch, from 0.
        epoch: u32,
    },
    /// `route/<id>`: a driver's run.
    Route(RouteId),
}

impl DocId {
    /// The kind word: `order`, `location` or `route`.
    pub fn kind(&self) -> &'static str {
        match self {
            DocId::Order(_) => "order",
            DocId::Location { .. } => "location",
            DocId::Route(_) => "route",
        }
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocId::Order(id) => write!(f, "order/{id}"),
            DocId::Location { id, epoch } => write!(f, "location/{id}/{epoch}"),
            DocId::Route(id) => write!(f, "route/{id}"),
        }
    }
}

/// Text that is not a document id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDocId {
    /// Not `order/<id>`, `location/<id>/<epoch>` or `route/<id>`.
    #[error("document id {0:?} is not order/<id>, location/<id>/<epoch> or route/<id>")]
    Shape(String),
    /// The id part is invalid.
    #[error(transparent)]
    Id(#[from] InvalidId),
}

impl FromStr for DocId {
    type Err = InvalidDocId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shape = || InvalidDocId::Shape(s.to_owned());
        let parts: Vec<&str> = s.split('/').collect();
        Ok(match parts.as_slice() {
            ["order", id] => DocId::Order(id.parse()?),
            ["route", id] => DocId::Route(id.parse()?),
            ["location", id, epoch] => {
                DocId::Location { id: id.parse()?, epoch: epoch.parse().map_err(|_| shape())? }
            }
            _ => return Err(shape()),
        })
    }
}

impl Serialize for DocId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DocId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A document that cannot be read or written as asked.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// A root field is missing or has the wrong type.
    #[error("not a Waybill document: {0}")]
    NotWaybill(&'static str),
    /// The document is from a newer schema than this build reads.
    #[error("document schema {found} is newer than {SCHEMA_VERSION}, the newest this build reads")]
    UnsupportedSchema {
        /// The version found.
        found: u64,
    },
    /// The document is of another kind than asked for.
    #[error("expected a {expected} document, found {found:?}")]
    WrongKind {
        /// The kind asked for.
        expected: &'static str,
        /// The kind found.
        found: String,
    },
    /// The header is not valid JSON of the expected shape.
    #[error("malformed header: {0}")]
    BadHeader(String),
    /// An event with this id is already in the document.
    #[error("event {0} is already in the document")]
    DuplicateEvent(EventId),
    /// Automerge refused the operation.
    #[error(transparent)]
    Automerge(#[from] automerge::AutomergeError),
}

/// A document read out: its header and every event, in no particular order.
#[derive(Debug, Clone)]
pub struct Contents<H> {
    /// The header.
    pub header: H,
    /// Every readable event.
    pub events: Vec<Event>,
    /// Events that could not be read (key and why): kept visible, never
    /// silently dropped.
    pub unreadable: Vec<(String, String)>,
}

/// A new document with `header`, written as one change by `actor`.
pub fn create<H: Serialize>(actor: ActorId, id: &DocId, header: &H) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(actor);
    // Writes to the root of a fresh document cannot fail.
    let _ = write_root(&mut doc, id, header);
    doc.commit_with(CommitOptions::default().with_message(format!("create {id}")));
    doc
}

fn write_root<H: Serialize>(
    doc: &mut AutoCommit,
    id: &DocId,
    header: &H,
) -> Result<(), automerge::AutomergeError> {
    doc.put(ROOT, "schema", ScalarValue::Uint(SCHEMA_VERSION))?;
    doc.put(ROOT, "kind", id.kind())?;
    doc.put(ROOT, "id", id.to_string())?;
    doc.put(ROOT, HEADER, serde_json::to_string(header).unwrap_or_default())?;
    doc.put_object(ROOT, EVENTS, ObjType::Map)?;
    Ok(())
}

/// The object id of the events map, if the document has one.
pub fn events_obj(doc: &Automerge) -> Option<ObjId> {
    match doc.get(ROOT, EVENTS) {
        Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    }
}

/// Whether the document holds the event with id `id`.
pub fn has_event(doc: &Automerge, id: &str) -> bool {
    events_obj(doc).is_some_and(|events| matches!(doc.get(&events, id), Ok(Some(_))))
}

/// Appends `event` as one change. Refuses an id already present.
pub fn append(doc: &mut AutoCommit, event: &Event) -> Result<(), DocError> {
    let events = events_obj(doc.document()).ok_or(DocError::NotWaybill("no events map"))?;
    let key = event.id.to_string();
    if doc.get(&events, key.as_str())?.is_some() {
        return Err(DocError::DuplicateEvent(event.id.clone()));
    }
    doc.put(&events, key, event.to_json())?;
    doc.commit_with(CommitOptions::default().with_time(event.at.timestamp_millis()));
    Ok(())
}

/// The events of document `id`, whatever its kind.
pub fn events(id: &DocId, doc: &Automerge) -> Result<Vec<Event>, DocError> {
    Ok(match id {
        DocId::Order(_) => order::read(doc)?.events,
        DocId::Location { .. } => location::read(doc)?.events,
        DocId::Route(_) => route::read(doc)?.events,
    })
}

/// The events a change puts (each one a new entry of `events`), read
/// from the change alone: what it brings, not the document it joins.
pub fn events_put(change: &automerge::Change) -> impl Iterator<Item = Event> {
    change.decode().operations.into_iter().filter_map(|op| match op.action {
        automerge::legacy::OpType::Put(ScalarValue::Str(text)) => Event::from_json(&text).ok(),
        _ => None,
    })
}

/// Reads the header of a `kind` document, leaving its events unread.
pub fn read_header<H: DeserializeOwned>(doc: &Automerge, kind: &'static str) -> Result<H, DocError> {
    match doc.get(ROOT, "schema")? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Uint(v) if *v <= SCHEMA_VERSION => {}
            ScalarValue::Uint(v) => return Err(DocError::UnsupportedSchema { found: *v }),
            _ => return Err(DocError::NotWaybill("schema is not a number")),
        },
        _ => return Err(DocError::NotWaybill("no schema")),
    }
    let found = get_str(doc, &ROOT, "kind")?.ok_or(DocError::NotWaybill("no kind"))?;
    if found != kind {
        return Err(DocError::WrongKind { expected: kind, found });
    }
    let header = get_str(doc, &ROOT, HEADER)?.ok_or(DocError::NotWaybill("no header"))?;
    serde_json::from_str(&header).map_err(|e| DocError::BadHeader(e.to_string()))
}

/// Reads the header and all events of a `kind` document.
pub fn read<H: DeserializeOwned>(doc: &Automerge, kind: &'static str) -> Result<Contents<H>, DocError> {
    let header = read_header(doc, kind)?;
    let obj = events_obj(doc).ok_or(DocError::NotWaybill("no events map"))?;
    let mut events = Vec::new();
    let mut unreadable = Vec::new();
    for item in doc.map_range(&obj, ..) {
        let parsed = match &item.value {
            ValueRef::Scalar(ScalarValueRef::Str(text)) => {
                Event::from_json(text).map_err(|e| e.to_string()).and_then(|e| {
                    if e.id.to_string() == item.key {
                        Ok(e)
                    } else {
                        Err(format!("stored under {} but its id is {}", item.key, e.id))
                    }
                })
            }
            _ => Err("value is not text".to_owned()),
        };
        match parsed {
            Ok(e) => events.push(e),
            Err(why) => unreadable.push((item.key.to_string(), why)),
        }
    }
    Ok(Contents { header, events, unreadable })
}

fn get_str(doc: &Automerge, obj: &ObjId, key: &str) -> Result<Option<String>, DocError> {
    Ok(match doc.get(obj, key)? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_round_trip() {
        for s in ["order/SO-1", "location/wh-1/3", "route/R-9"] {
            assert_eq!(s.parse::<DocId>().unwrap().to_string(), s);
        }
        for s in ["order", "order/a/b", "location/wh-1", "location/wh-1/x", "van/1", "order/a b"] {
            assert!(s.parse::<DocId>().is_err(), "{s}");
        }
    }
}
