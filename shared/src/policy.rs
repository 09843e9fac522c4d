//! The write policy: which incoming Automerge changes a device may make.
//!
//! The server runs every change a device sends through [`check_changes`]
//! before storing or relaying it; the tests use the same function. A device
//! may only append events: new keys in a document's `events` map, each a
//! readable event whose id is the device's own, of a type its role may write,
//! belonging in that document, written under the device's own actor, to a
//! document in its scope. It can never edit the header, another device's
//! events or history. The office may also create documents and write headers.
//!
//! The check reads the change's operations directly (no fork of the
//! document), so it costs time in the size of the change, not the document,
//! apart from one pass over the document's change metadata (hashes and
//! sequence numbers, not contents) per batch to find the device's last
//! change.
//!
//! A device spends only its own quota of a location's stock (see
//! [`crate::event::quota`]): a `sold` or `quota_released` event is refused
//! unless the location's fold, with the batch's earlier events and this
//! one, still leaves the device's quota of the item at or above zero; and an
//! office device's `quota_granted` unless it fits in free stock (the
//! server's own grants are checked the same way before they are written). The
//! server holds every grant and every earlier event of the device, so it
//! never refuses what the device's own view allowed. That check folds the
//! location epoch once per such event: epochs keep it bounded.
//!
//! A device's changes must also number on from its last one, each built on
//! the one before: Automerge refuses to apply a change that reuses a sequence
//! number, and panics on one that skips ahead, so the policy must not let
//! either through.

pub mod identity;
pub mod refusal;

use std::collections::{BTreeMap, BTreeSet};

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjId, ReadDoc, ScalarValue};

use crate::doc::location::LocationHeader;
use crate::doc::{Contents, DocId, EVENTS, events_obj, events_put};
use crate::event::{Event, Payload};
use crate::role::Role;

pub use identity::{DeviceIdentity, Scope, actor_of};
pub use refusal::Refusal;

/// Largest event accepted, in bytes of JSON.
pub const MAX_EVENT_BYTES: usize = 16 * 1024;

/// The outcome for a batch of changes. A change the document already has
/// (sent again) is in neither list: there is nothing to apply or refuse.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Changes that may be applied, in an order that respects dependencies.
    pub accepted: Vec<Change>,
    /// Changes refused, with why.
    pub refused: Vec<(ChangeHash, Refusal)>,
}

/// Why `who`'s role may not write an event `change` puts, if it may not.
fn role_refusal(who: &DeviceIdentity, change: &Change) -> Option<Refusal> {
    events_put(change)
        .find(|e| !e.payload.allowed_for(who.role))
        .map(|e| Refusal::RoleNotAllowed { role: who.role.to_string(), event: e.payload.name().into() })
}

/// Checks a batch of changes from `who` against document `doc_id`, whose
/// current state is `doc`. Changes may come in any order and may depend on
/// one another; one that builds on a refused change is refused too. Changes
/// `doc` already has are skipped, not checked again.
pub fn check_changes(who: &DeviceIdentity, doc_id: &DocId, doc: &Automerge, changes: Vec<Change>) -> Verdict {
    let mut verdict = Verdict::default();
    if !who.scope.contains(doc_id) {
        let refusal = Refusal::OutOfScope { doc: doc_id.to_string() };
        verdict.refused = changes.iter().map(|c| (c.hash(), refusal.clone())).collect();
        return verdict;
    }
    let events = events_obj(doc);
    let mut batch = Batch {
        events: events.as_ref().and_then(as_op_id),
        events_obj: events,
        new_keys: BTreeSet::new(),
        next_seq: None,
        last_accepted: None,
        location: None,
        appended: Vec::new(),
    };
    // A change sent again is already stored: checking it again would find its
    // own events and refuse it (and everything built on it) as a duplicate.
    let mut pending: BTreeMap<ChangeHash, Change> =
        changes.into_iter().filter(|c| !has_change(doc, &c.hash())).map(|c| (c.hash(), c)).collect();
    let mut known: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut refused: BTreeSet<ChangeHash> = BTreeSet::new();
    loop {
        let ready: Vec<ChangeHash> = pending
            .values()
            .filter(|c| {
                c.deps().iter().all(|d| known.contains(d) || refused.contains(d) || has_change(doc, d))
            })
            .map(Change::hash)
            .collect();
        if ready.is_empty() {
            break;
        }
        for hash in ready {
            let Some(change) = pending.remove(&hash) else { continue };
            let outcome = match change.deps().iter().find(|d| refused.contains(d)) {
                // Refused for itself if its role may not write it, so the
                // device drops it now rather than writing it again on the
                // server's state, to be refused on its next sync.
                Some(bad) => Err(role_refusal(who, &change)
                    .unwrap_or_else(|| Refusal::DependsOnRefused { hash: bad.to_string() })),
                None => batch.check(who, doc_id, doc, &change),
            };
            match outcome {
                Ok(()) => {
                    known.insert(hash);
                    verdict.accepted.push(change);
                }
                Err(r) => {
                    refused.insert(hash);
                    verdict.refused.push((hash, r));
                }
            }
        }
    }
    for (hash, change) in pending {
        let missing = change.deps().iter().filter(|d| !known.contains(d) && !has_change(doc, d)).count();
        verdict.refused.push((hash, Refusal::MissingDependencies { missing }));
    }
    verdict
}

/// What earlier changes of the batch did that later ones must see.
struct Batch {
    /// The events map, once it exists.
    events: Option<OpId>,
    /// The same, as the document names it (read once, not per event).
    events_obj: Option<ObjId>,
    /// Event keys added by accepted changes of this batch.
    new_keys: BTreeSet<String>,
    /// The sequence number the device's next change must carry, once known.
    next_seq: Option<u64>,
    /// The device's last change accepted in this batch.
    last_accepted: Option<ChangeHash>,
    /// The location document as stored, read at the first quota event.
    location: Option<Contents<LocationHeader>>,
    /// Events appended by accepted changes of this batch.
    appended: Vec<Event>,
}

impl Batch {
    fn check(
        &mut self,
        who: &DeviceIdentity,
        doc_id: &DocId,
        doc: &Automerge,
        change: &Change,
    ) -> Result<(), Refusal> {
        if change.actor_id() != &actor_of(&who.device) {
            return Err(Refusal::ForeignActor { actor: change.actor_id().to_hex_string() });
        }
        self.check_sequence(doc, change)?;
        let expanded = change.decode();
        let office = who.role == Role::Office;
        let mut keys = Vec::new();
        let mut appended = Vec::new();
        let mut created_events = None;
        for (i, op) in expanded.operations.iter().enumerate() {
            let in_events = matches!(&op.obj, ObjectId::Id(id) if Some(id) == self.events.as_ref().or(created_events.as_ref()));
            if in_events {
                let (key, event) = self.check_append(who, doc_id, doc, op)?;
                self.check_quota(who, doc, &appended, &event)?;
                keys.push(key);
                appended.push(event);
                continue;
            }
            if !office {
                return Err(match self.events {
                    None => Refusal::UnknownDocument { doc: doc_id.to_string() },
                    Some(_) => Refusal::NotAnAppend { what: describe(&op.obj, &op.key) },
                });
            }
            // The office writes headers and creates documents, but never
            // replaces or deletes the events map.
            if op.obj == ObjectId::Root && op.key == Key::Map(EVENTS.into()) {
                if self.events.is_some()
                    || !op.pred.is_empty()
                    || op.action != OpType::Make(automerge::ObjType::Map)
                {
                    return Err(Refusal::RewritesHistory { what: "replaces the events map".into() });
                }
                created_events = Some(OpId(expanded.start_op.get() + i as u64, expanded.actor_id.clone()));
            }
        }
        if created_events.is_some() {
            self.events = created_events;
        }
        self.new_keys.extend(keys);
        self.appended.extend(appended);
        self.next_seq = Some(change.seq() + 1);
        self.last_accepted = Some(change.hash());
        Ok(())
    }

    /// The change must be the device's next, built on its previous one. A
    /// device's own changes form one chain: each depends on its last, which
    /// the server either has or finds earlier in the batch (nothing the
    /// server has can depend on a change it does not have).
    fn check_sequence(&mut self, doc: &Automerge, change: &Change) -> Result<(), Refusal> {
        let expected = *self.next_seq.get_or_insert_with(|| next_seq(doc, change.actor_id()));
        let seq = change.seq();
        if seq < expected {
            return Err(Refusal::RewritesHistory {
                what: format!("reuses this device's change number {seq}"),
            });
        }
        if seq > expected {
            let missing = usize::try_from(seq - expected).unwrap_or(usize::MAX);
            return Err(Refusal::MissingDependencies { missing });
        }
        if let Some(last) = self.last_accepted
            && !change.deps().contains(&last)
        {
            return Err(Refusal::RewritesHistory {
                what: format!("does not build on this device's change number {}", seq - 1),
            });
        }
        Ok(())
    }

    /// A device's `sold` or `quota_released` must leave its quota of the
    /// item at or above zero, and a `quota_granted` (only an office device
    /// may write one) must fit in free stock, counting the batch's earlier
    /// events (`in_change`: those of this change so far).
    fn check_quota(
        &mut self,
        who: &DeviceIdentity,
        doc: &Automerge,
        in_change: &[Event],
        event: &Event,
    ) -> Result<(), Refusal> {
        let (gtin, asked) = match &event.payload {
            Payload::Sold(s) => (&s.gtin, s.quantity),
            Payload::QuotaReleased(r) => (&r.gtin, r.quantity),
            Payload::QuotaGranted(g) => (&g.gtin, g.quantity),
            _ => return Ok(()),
        };
        if self.location.is_none() {
            let stored = crate::doc::location::read(doc).map_err(|e| Refusal::NotAnEvent {
                key: event.id.to_string(),
                why: format!("the location it spends quota at cannot be read: {e}"),
            })?;
            self.location = Some(stored);
        }
        let Some(stored) = &self.location else { return Ok(()) };
        let mut events = stored.events.clone();
        events.extend(self.appended.iter().cloned());
        events.extend(in_change.iter().cloned());
        events.push(event.clone());
        let contents = Contents { header: stored.header.clone(), events, unreadable: Vec::new() };
        let view = crate::fold::stock::fold(&contents);
        if let Payload::QuotaGranted(_) = &event.payload {
            // A grant comes out of free stock: on hand less quotas held.
            let free_after = view.total(gtin) - view.held(gtin);
            if free_after < 0 {
                return Err(Refusal::BeyondFreeStock {
                    id: event.id.to_string(),
                    gtin: gtin.to_string(),
                    asked,
                    free: (free_after + i64::from(asked)).max(0),
                });
            }
            return Ok(());
        }
        let after = view
            .quotas
            .iter()
            .find(|q| q.device == who.device && &q.gtin == gtin)
            .map_or(-i64::from(asked), |q| q.remaining);
        if after < 0 {
            return Err(Refusal::OverQuota {
                id: event.id.to_string(),
                gtin: gtin.to_string(),
                asked,
                remaining: (after + i64::from(asked)).max(0),
            });
        }
        Ok(())
    }

    fn check_append(
        &self,
        who: &DeviceIdentity,
        doc_id: &DocId,
        doc: &Automerge,
        op: &automerge::legacy::Op,
    ) -> Result<(String, Event), Refusal> {
        let Key::Map(key) = &op.key else {
            return Err(Refusal::NotAnAppend { what: "the events map as a list".into() });
        };
        let key = key.to_string();
        let text = match (&op.action, op.pred.is_empty(), op.insert) {
            (OpType::Put(ScalarValue::Str(text)), true, false) => text,
            (OpType::Delete, ..) => {
                return Err(Refusal::RewritesHistory { what: format!("deletes event {key}") });
            }
            (_, false, _) => {
                return Err(Refusal::RewritesHistory { what: format!("overwrites event {key}") });
            }
            _ => return Err(Refusal::NotAnEvent { key, why: "the value is not text".into() }),
        };
        if text.len() > MAX_EVENT_BYTES {
            return Err(Refusal::EventTooLarge { key, bytes: text.len(), limit: MAX_EVENT_BYTES });
        }
        let event = Event::from_json(text)
            .map_err(|e| Refusal::NotAnEvent { key: key.clone(), why: e.to_string() })?;
        let id = event.id.to_string();
        if id != key {
            return Err(Refusal::KeyMismatch { key, id });
        }
        if event.id.device != who.device {
            return Err(Refusal::NotAuthor { id });
        }
        if !event.payload.allowed_for(who.role) {
            return Err(Refusal::RoleNotAllowed {
                role: who.role.to_string(),
                event: event.payload.name().into(),
            });
        }
        if !event.payload.belongs_in(doc_id) {
            return Err(Refusal::WrongDocument {
                event: event.payload.name().into(),
                doc: doc_id.to_string(),
            });
        }
        if let Payload::Voided(v) = &event.payload
            && v.target.device != who.device
            && who.role != Role::Office
        {
            return Err(Refusal::VoidsOthersEvent { target: v.target.to_string() });
        }
        let exists = self.new_keys.contains(&key)
            || self
                .events_obj
                .as_ref()
                .is_some_and(|obj| doc.get(obj, key.as_str()).ok().flatten().is_some());
        if exists {
            return Err(Refusal::DuplicateEvent { id });
        }
        Ok((key, event))
    }
}

/// Whether `doc` has change `hash`.
fn has_change(doc: &Automerge, hash: &ChangeHash) -> bool {
    doc.get_change_meta_by_hash(hash).is_some()
}

/// One past the last sequence number of `actor`'s changes in `doc`.
fn next_seq(doc: &Automerge, actor: &ActorId) -> u64 {
    doc.get_changes_meta(&[]).iter().filter(|m| m.actor.as_ref() == actor).map(|m| m.seq).max().unwrap_or(0)
        + 1
}

fn as_op_id(obj: &ObjId) -> Option<OpId> {
    match obj {
        ObjId::Id(counter, actor, _) => Some(OpId(*counter, actor.clone())),
        ObjId::Root => None,
    }
}

fn describe(obj: &ObjectId, key: &Key) -> String {
    match (obj, key) {
        (ObjectId::Root, Key::Map(k)) if k == "header" => "the header".into(),
        (ObjectId::Root, Key::Map(k)) => format!("the document root ({k})"),
        _ => "an object outside the events map".into(),
    }
}
