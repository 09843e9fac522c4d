//! The agent: one device's store, identity and documents, and the single
//! write path every operation goes through.
//!
//! An operation validates its input against the merged views, then calls
//! [`Agent::record`], which stamps the event (next sequence number, clock),
//! appends it to each document it belongs in, and commits the documents'
//! new changes, the pending-event marks, any blobs and the recorder in one
//! SQLite transaction. When `record` returns, the event is durable; if
//! anything fails, nothing was written and the in-memory state is put back.
//!
//! Several handles may have one store open at once (an app and its
//! background sync, or a `sync --watch` process next to commands): the
//! recorder (sequence number and clock) is read and written inside each
//! write transaction, never from memory, so no two events get one id; and a
//! handle drops the documents it keeps in memory whenever another connection
//! has committed since it last looked ([`Store::data_version`]).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::Path;

use automerge::{AutoCommit, ChangeHash};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use waybill_shared::blob::BlobHash;
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::{Event, Payload};
use waybill_shared::fold::{self, OrderView, RouteView, StockView};
use waybill_shared::id::{DeviceId, LocationId, OrderId, RouteId};
use waybill_shared::policy::actor_of;
use waybill_shared::recorder::Recorder;
use waybill_shared::role::Role;
use waybill_shared::seed::{self, Seed};

use crate::error::AgentError;
use crate::store::{COMPACT_AFTER, Store, Write};

/// Who this device is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The device.
    pub device: DeviceId,
    /// Its role.
    pub role: Role,
    /// The location it works at (pickers, packers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationId>,
    /// The person signed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// What the status screen shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Who this device is.
    #[serde(flatten)]
    pub profile: Profile,
    /// Own events the server has not confirmed yet.
    pub pending_events: i64,
    /// Own changes the server refused, kept aside.
    pub quarantined: i64,
    /// Blobs (photos, signatures) that will not reach the server: hash and
    /// why. The events naming them still sync; the office sees the proof
    /// as missing.
    pub failed_blobs: Vec<(String, String)>,
    /// When the last sync succeeded.
    pub last_sync: Option<DateTime<Utc>>,
    /// Documents held.
    pub documents: usize,
    /// Bytes the store uses.
    pub store_bytes: i64,
}

pub(crate) const PROFILE: &str = "profile";
pub(crate) const RECORDER: &str = "recorder";
const OFFICE_RECORDER: &str = "office_recorder";
pub(crate) const LAST_SYNC: &str = "last_sync";

/// One device's agent.
pub struct Agent {
    pub(crate) store: Store,
    pub(crate) profile: Profile,
    pub(crate) docs: BTreeMap<DocId, AutoCommit>,
    /// The store's data version `docs` were read at.
    seen: i64,
    /// How long a sync waits for the server to answer before it calls the
    /// device offline.
    pub(crate) timeout: std::time::Duration,
}

impl Agent {
    /// Sets up a new device store at `path`.
    pub fn init(path: &Path, profile: Profile) -> Result<Self, AgentError> {
        Self::init_with(path, profile, |_| Ok(()))
    }

    /// Sets up a new device store, writing `extra` settings in the same
    /// transaction (enrolment's credentials).
    pub(crate) fn init_with(
        path: &Path,
        profile: Profile,
        extra: impl FnOnce(&Write<'_>) -> Result<(), AgentError>,
    ) -> Result<Self, AgentError> {
        let mut store = Store::open(path)?;
        if let Some(existing) = store.meta::<Profile>(PROFILE)? {
            return Err(AgentError::AlreadyInitialised(existing.device));
        }
        let recorder = Recorder::new(profile.device.clone());
        let w = store.write()?;
        w.set_meta(PROFILE, &profile)?;
        w.set_meta(RECORDER, &recorder)?;
        extra(&w)?;
        w.commit()?;
        Self::with(store, profile)
    }

    /// Opens an existing device store.
    pub fn open(path: &Path) -> Result<Self, AgentError> {
        if !path.exists() {
            return Err(AgentError::NotInitialised);
        }
        let store = Store::open(path)?;
        let profile: Profile = store.meta(PROFILE)?.ok_or(AgentError::NotInitialised)?;
        store.meta::<Recorder>(RECORDER)?.ok_or_else(no_recorder)?;
        Self::with(store, profile)
    }

    fn with(store: Store, profile: Profile) -> Result<Self, AgentError> {
        let seen = store.data_version()?;
        Ok(Self { store, profile, docs: BTreeMap::new(), seen, timeout: crate::sync::TIMEOUT })
    }

    /// Who this device is.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Fails unless the device has `role`.
    pub(crate) fn require(&self, role: Role, action: &'static str) -> Result<(), AgentError> {
        if self.profile.role == role {
            Ok(())
        } else {
            Err(AgentError::NotAllowed { role: self.profile.role, action })
        }
    }

    /// A held document, loaded on first use.
    pub(crate) fn doc(&mut self, id: &DocId) -> Result<&mut AutoCommit, AgentError> {
        refresh(&mut self.docs, &mut self.seen, self.store.data_version()?);
        if !self.docs.contains_key(id) {
            let doc = self.store.load_doc(id)?.ok_or_else(|| not_found(id))?;
            self.docs.insert(id.clone(), doc.with_actor(actor_of(&self.profile.device)));
        }
        self.docs.get_mut(id).ok_or_else(|| not_found(id))
    }

    /// Every document held.
    pub fn documents(&self) -> Result<Vec<DocId>, AgentError> {
        self.store.doc_ids()
    }

    /// The documents holding this device's events the server has not yet
    /// confirmed.
    pub fn unsynced_documents(&self) -> Result<Vec<DocId>, AgentError> {
        self.store.pending_docs()
    }

    /// The documents an event of this device was written to, while the
    /// server has not yet confirmed it (empty after): what a reply names.
    pub fn documents_of(&self, event: &waybill_shared::event_id::EventId) -> Result<Vec<DocId>, AgentError> {
        self.store.pending_docs_of(&event.to_string())
    }

    /// The current epoch document of a location, if held.
    pub(crate) fn location_doc(&self, location: &LocationId) -> Result<Option<DocId>, AgentError> {
        Ok(self
            .store
            .doc_ids()?
            .into_iter()
            .filter(|d| matches!(d, DocId::Location { id, .. } if id == location))
            .max_by_key(|d| match d {
                DocId::Location { epoch, .. } => *epoch,
                _ => 0,
            }))
    }

    /// Records an event made on this device into `targets`, with `blobs`,
    /// durably, in one transaction.
    pub(crate) fn record(
        &mut self,
        payload: Payload,
        targets: &[DocId],
        blobs: &[(BlobHash, &[u8])],
    ) -> Result<Event, AgentError> {
        for t in targets {
            if !payload.belongs_in(t) {
                return Err(AgentError::Invalid(format!("{} events do not belong in {t}", payload.name())));
            }
        }
        let written = self.write_event(payload, targets, blobs);
        if written.is_err() {
            // Put memory back as it was: drop the documents touched, so the
            // next use reloads them from the store.
            for t in targets {
                self.docs.remove(t);
            }
        }
        written
    }

    fn write_event(
        &mut self,
        payload: Payload,
        targets: &[DocId],
        blobs: &[(BlobHash, &[u8])],
    ) -> Result<Event, AgentError> {
        let mut compact = Vec::new();
        for t in targets {
            if self.store.change_rows(t)? + 1 >= COMPACT_AFTER {
                compact.push(t.clone());
            }
        }
        let w = self.store.write()?;
        refresh(&mut self.docs, &mut self.seen, w.data_version()?);
        let mut recorder = stored_recorder(&w)?;
        let event = recorder.record(Utc::now(), self.profile.user.clone(), payload);
        let at = event.at.to_rfc3339();
        let id = event.id.to_string();
        for t in targets {
            let doc = match self.docs.entry(t.clone()) {
                Entry::Occupied(held) => held.into_mut(),
                Entry::Vacant(slot) => slot.insert(
                    w.load_doc(t)?.ok_or_else(|| not_found(t))?.with_actor(actor_of(&self.profile.device)),
                ),
            };
            let before = doc.get_heads();
            doc::append(doc, &event)?;
            w.append_changes(t, &doc.save_after(&before))?;
            w.add_pending(&id, t, &at)?;
            if compact.contains(t) {
                w.compact(t, doc)?;
            }
        }
        for (hash, bytes) in blobs {
            w.put_blob(hash, bytes)?;
        }
        w.set_meta(RECORDER, &recorder)?;
        w.commit()?;
        self.store.work_recorded();
        Ok(event)
    }

    /// Imports a seed file, as the office would hand the documents down.
    pub fn import(&mut self, seed: &Seed) -> Result<Imported, AgentError> {
        let office = DeviceId::new("office").map_err(|e| AgentError::Invalid(e.to_string()))?;
        let mut recorder: Recorder =
            self.store.meta(OFFICE_RECORDER)?.unwrap_or_else(|| Recorder::new(office));
        let held = self.store.doc_ids()?;
        let mut docs =
            seed::build(seed, &mut recorder, Utc::now(), |id| held.contains(id)).map_err(|e| match e {
                seed::SeedError::Doc(d) => AgentError::Doc(d),
                other => AgentError::Invalid(other.to_string()),
            })?;
        let w = self.store.write()?;
        for (id, d) in &mut docs {
            w.insert_doc(id, d)?;
        }
        w.set_meta(OFFICE_RECORDER, &recorder)?;
        w.commit()?;
        let created: Vec<String> = docs.iter().map(|(id, _)| id.to_string()).collect();
        let skipped = seed_ids(seed).filter(|id| !created.contains(id)).collect();
        Ok(Imported { created, skipped })
    }

    /// Merges a document from elsewhere (an `.automerge` file exported by
    /// another device or the office: sync by hand, until a link exists).
    /// New events' clocks are observed, so what this device records next
    /// sorts after them.
    pub fn merge_doc(&mut self, bytes: &[u8]) -> Result<DocId, AgentError> {
        let bad = |e: String| AgentError::Invalid(format!("not a Waybill document: {e}"));
        let mut incoming = AutoCommit::load(bytes).map_err(|e| bad(e.to_string()))?;
        let id = doc_id_of(incoming.document()).map_err(bad)?;
        let merged = self.merge_into(&id, incoming);
        if merged.is_err() {
            self.docs.remove(&id);
        }
        merged.map(|()| id)
    }

    fn merge_into(&mut self, id: &DocId, mut incoming: AutoCommit) -> Result<(), AgentError> {
        let held = self.documents()?.contains(id);
        let changes = if held {
            let doc = self.doc(id)?;
            let before = doc.get_heads();
            doc.merge(&mut incoming).map_err(doc::DocError::from)?;
            Some(doc.save_after(&before))
        } else {
            None
        };
        let merged = if held { self.doc(id)? } else { &mut incoming };
        let latest = doc::events(id, merged.document())?.into_iter().map(|e| e.hlc).max();
        let w = self.store.write()?;
        match &changes {
            Some(bytes) => w.append_changes(id, bytes)?,
            None => w.insert_doc(id, &mut incoming)?,
        }
        if let Some(hlc) = latest {
            let mut recorder = stored_recorder(&w)?;
            recorder.observe(hlc, Utc::now());
            w.set_meta(RECORDER, &recorder)?;
        }
        w.commit()
    }

    /// The merged view of an order.
    pub fn order_view(&mut self, order: &OrderId) -> Result<OrderView, AgentError> {
        let id = DocId::Order(order.clone());
        let contents = doc::order::read(self.doc(&id)?.document())?;
        let store = &self.store;
        Ok(fold::order::fold(&contents, &|h| store.has_blob(h).unwrap_or(false)))
    }

    /// The merged stock of a location (its current epoch).
    pub fn stock_view(&mut self, location: &LocationId) -> Result<StockView, AgentError> {
        let id = self
            .location_doc(location)?
            .ok_or_else(|| AgentError::NotFound { what: "location", id: location.to_string() })?;
        Ok(fold::stock::fold(&doc::location::read(self.doc(&id)?.document())?))
    }

    /// The merged view of a route.
    pub fn route_view(&mut self, route: &RouteId) -> Result<RouteView, AgentError> {
        let id = DocId::Route(route.clone());
        Ok(fold::route::fold(&doc::route::read(self.doc(&id)?.document())?))
    }

    /// Any document's view as JSON.
    pub fn view_json(&mut self, id: &DocId) -> Result<serde_json::Value, AgentError> {
        let value = match id {
            DocId::Order(o) => serde_json::to_value(self.order_view(o)?),
            DocId::Route(r) => serde_json::to_value(self.route_view(r)?),
            DocId::Location { .. } => {
                serde_json::to_value(fold::stock::fold(&doc::location::read(self.doc(id)?.document())?))
            }
        };
        value.map_err(|e| AgentError::Corrupt(e.to_string()))
    }

    /// A document as a plain `.automerge` file.
    pub fn export(&mut self, id: &DocId) -> Result<Vec<u8>, AgentError> {
        Ok(self.doc(id)?.save())
    }

    /// The status screen.
    pub fn status(&self) -> Result<Status, AgentError> {
        Ok(Status {
            profile: self.profile.clone(),
            pending_events: self.store.pending_events()?,
            quarantined: self.store.quarantined()?,
            failed_blobs: self.store.failed_blobs()?,
            last_sync: self.store.meta(LAST_SYNC)?,
            documents: self.store.doc_ids()?.len(),
            store_bytes: self.store.size_bytes()?,
        })
    }

    /// A blob held on this device.
    pub fn blob(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>, AgentError> {
        self.store.blob(hash)
    }

    /// Records that the server holds `id` up to `heads` (called by sync).
    /// Own events in it stop being pending.
    pub fn confirm_synced(&mut self, id: &DocId, heads: &[ChangeHash]) -> Result<(), AgentError> {
        let mut doc = self.doc(id)?.clone();
        let held = doc.document();
        let w = self.store.write()?;
        w.confirm(id, heads, |e| doc::has_event(held, e))?;
        w.set_meta(LAST_SYNC, &Utc::now())?;
        w.commit()
    }

    /// Drops orders that are closed (completed or cancelled, nothing open)
    /// and that the server confirmed it holds in full, so the store stays the
    /// size of the current work. Returns what was dropped.
    pub fn evict(&mut self) -> Result<Vec<DocId>, AgentError> {
        let mut gone = Vec::new();
        for id in self.store.doc_ids()? {
            let DocId::Order(order) = &id else { continue };
            if self.store.has_pending(&id)? || !self.order_view(order)?.status.is_closed() {
                continue;
            }
            let heads = self.doc(&id)?.get_heads();
            let confirmed = self.store.server_heads(&id)?;
            if heads.iter().all(|h| confirmed.contains(h)) {
                gone.push(id);
            }
        }
        if !gone.is_empty() {
            let w = self.store.write()?;
            for id in &gone {
                w.delete_doc(id)?;
            }
            w.commit()?;
            for id in &gone {
                self.docs.remove(id);
            }
        }
        Ok(gone)
    }
}

/// Forgets the documents kept in memory if another connection has committed
/// since they were read at `seen`.
fn refresh(docs: &mut BTreeMap<DocId, AutoCommit>, seen: &mut i64, version: i64) {
    if version != *seen {
        docs.clear();
        *seen = version;
    }
}

fn no_recorder() -> AgentError {
    AgentError::Corrupt("no recorder".into())
}

/// The recorder as the write transaction `w` sees it: read there, not kept in
/// memory, since another handle on the store may have recorded meanwhile.
pub(crate) fn stored_recorder(w: &Write<'_>) -> Result<Recorder, AgentError> {
    w.meta(RECORDER)?.ok_or_else(no_recorder)
}

fn not_found(id: &DocId) -> AgentError {
    let (what, id) = match id {
        DocId::Order(o) => ("order", o.to_string()),
        DocId::Route(r) => ("route", r.to_string()),
        DocId::Location { id, .. } => ("location", id.to_string()),
    };
    AgentError::NotFound { what, id }
}

/// The id a document says it has, checked by reading it as its kind.
fn doc_id_of(doc: &automerge::Automerge) -> Result<DocId, String> {
    use automerge::ReadDoc;
    let id = match doc.get(automerge::ROOT, "id") {
        Ok(Some((automerge::Value::Scalar(s), _))) => s.as_str().map(str::to_owned),
        _ => None,
    };
    let id: DocId = id.ok_or("it has no id")?.parse().map_err(|e: doc::InvalidDocId| e.to_string())?;
    doc::events(&id, doc).map_err(|e| e.to_string())?;
    Ok(id)
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Imported {
    /// Documents created.
    pub created: Vec<String>,
    /// Documents already held, left as they were.
    pub skipped: Vec<String>,
}

/// Every document id a seed names.
fn seed_ids(seed: &Seed) -> impl Iterator<Item = String> + '_ {
    let locations = seed.locations.iter().map(|l| DocId::Location { id: l.id.clone(), epoch: l.epoch });
    let routes = seed.routes.iter().map(|r| DocId::Route(r.id.clone()));
    let orders = seed.orders.iter().map(|o| DocId::Order(o.header.id.clone()));
    locations.chain(routes).chain(orders).map(|d| d.to_string())
}
