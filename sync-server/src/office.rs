//! The office's write path on the server, without the network: creating
//! orders and appending office events (hold, release, cancel, address
//! amendment, exception resolution) to stored documents.
//!
//! The office writes as one device, `office`, whose [`Recorder`] (event
//! sequence and clock) lives in the `meta` table under [`RECORDER_KEY`], the
//! same key `waybill-server import` uses. It is saved in the same batch as the
//! events it made, so a restart never reuses an event id. Office writes are
//! serialised by [`Lock::Office`], held on every node sharing the database,
//! so two requests never take the same sequence number and two requests with
//! one idempotency key never make two orders.
//!
//! Everything a request writes goes in one [`Writer::write`] batch: the
//! document, its projections, the recorder and the idempotency key are stored
//! together or not at all. Devices holding (or newly entitled to) the
//! document are then told to sync it.
//!
//! Idempotency keys live in a table `idempotency (key, order_id)`. A repeated key answers with the order it made, whatever the second body
//! says (as Stripe does for a key reused within its lifetime, minus the
//! body comparison). The key and the new documents are claimed in the batch
//! that writes them, so another node sharing the database that took either
//! first makes the batch fail whole rather than make a second order.
//!
//! [`Writer::write`]: crate::storage::Writer::write

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use waybill_shared::doc::order::{Address, OrderHeader};
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::customer::{RATING_MAX, RATING_MIN};
use waybill_shared::event::office::OrderCreated;
use waybill_shared::event::returns::ReturnLine;
use waybill_shared::event::{Event, Payload};
use waybill_shared::fold::{self, OrderView};
use waybill_shared::id::DeviceId;
use waybill_shared::policy::actor_of;
use waybill_shared::recorder::Recorder;
use waybill_shared::seed::{self, Seed, SeedOrder};

use crate::ingest;
use crate::server::Shared;
use crate::storage::{self, Lock, Storage, StorageError, WriteOp};

/// The `meta` key of the office's recorder.
pub const RECORDER_KEY: &str = "office_recorder";

/// The office's device id: the author of every office event.
pub const OFFICE_DEVICE: &str = "office";

/// Longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// What the office asked for and could not have.
#[derive(Debug, thiserror::Error)]
pub enum OfficeError {
    /// A field of the request is invalid.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as a path into the request (`lines[0].quantity`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No such document.
    #[error("no document {0}")]
    NotFound(DocId),
    /// An order with this id exists already (made under another key).
    #[error("order {0} already exists")]
    Exists(DocId),
    /// Storage failed; nothing was written.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl OfficeError {
    /// The same error with its field inside `prefix` (`orders[2]`).
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Self::Invalid { field, message } => Self::Invalid { field: format!("{prefix}.{field}"), message },
            other => other,
        }
    }

    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), message: message.into() }
    }
}

/// Creates an order: its document with the header and an `order_created`
/// event made by the signed-in user `by`. The same `idempotency_key` again returns the order it made, with
/// `false`.
pub async fn create_order(
    shared: &Arc<Shared>,
    header: OrderHeader,
    contact: &Contact,
    idempotency_key: &str,
    by: Option<String>,
) -> Result<(OrderView, bool), OfficeError> {
    let key = idempotency_key.trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(OfficeError::invalid(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_LEN} characters"),
        ));
    }
    validate_header(&header)?;
    contact.validate()?;
    let _office = shared.storage.lock(Lock::Office).await?;
    if let Some(made) = made_under(shared, key).await? {
        return Ok((made, false));
    }
    let id = DocId::Order(header.id.clone());
    if shared.storage.holds_doc(&id).await? {
        return Err(OfficeError::Exists(id));
    }
    let mut office = OfficeRecorder::load(&shared.storage).await?;
    let mut d = doc::create(actor_of(office.device()), &id, &header);
    let event = office.record(Utc::now(), by, Payload::OrderCreated(OrderCreated {}));
    doc::append(&mut d, &event).map_err(|e| StorageError::Corrupt(format!("{id}: {e}")))?;
    let mut ops = vec![
        storage::office::claim_idempotency_key(key, header.id.as_str()),
        WriteOp::PutDoc { id: id.clone(), snapshot: d.save(), heads: d.get_heads(), stored: None },
    ];
    // Before the projection, which queues the customer's emails.
    ops.extend(storage::mail::contact(header.id.as_str(), contact));
    let view = ingest::order_view(&shared.blobs, &id, &mut d).await?;
    ops.extend(crate::projection::order(&view, None).0);
    ops.push(office.write()?);
    match shared.writer.write(ops).await {
        Ok(()) => {}
        // Another node took the key or made the order meanwhile.
        Err(StorageError::Conflict) => {
            return match made_under(shared, key).await? {
                Some(made) => Ok((made, false)),
                None => Err(OfficeError::Exists(id)),
            };
        }
        Err(e) => return Err(e.into()),
    }
    // A stale entry (none is expected: the document was not stored) must not
    // shadow what is stored now.
    shared.docs.forget(&id);
    ingest::push(shared, &id, &[], u64::MAX).await;
    Ok((view, true))
}

/// The order made under idempotency key `key`, as it is now.
async fn made_under(shared: &Arc<Shared>, key: &str) -> Result<Option<OrderView>, OfficeError> {
    let Some(order) = shared.storage.idempotent_order(key).await? else { return Ok(None) };
    let order = order.parse().map_err(|e| StorageError::Corrupt(format!("idempotency {key}: {e}")))?;
    let id = DocId::Order(order);
    let entry =
        shared.docs.get(&shared.storage, &id).await?.ok_or_else(|| OfficeError::NotFound(id.clone()))?;
    let mut loaded = entry.lock().await;
    Ok(Some(ingest::order_view(&shared.blobs, &id, &mut loaded.doc).await?))
}

/// Stores what `seed` describes and the server does not hold yet:
/// locations, routes, and orders with their allocations and pick
/// assignments, in one write. Everything is checked first; one bad order
/// refuses the whole seed and writes nothing. Returns the documents made
/// (none again for the same seed: importing twice is harmless).
pub async fn import(shared: &Arc<Shared>, seed: &Seed) -> Result<Vec<DocId>, OfficeError> {
    let mut seen = BTreeSet::new();
    for (i, o) in seed.orders.iter().enumerate() {
        validate_header(&o.header).map_err(|e| e.within(&format!("orders[{i}]")))?;
        Contact::of(o).validate().map_err(|e| e.within(&format!("orders[{i}]")))?;
        if !seen.insert(&o.header.id) {
            return Err(OfficeError::invalid(
                format!("orders[{i}].id"),
                format!("{} is repeated", o.header.id),
            ));
        }
    }
    for (i, l) in seed.locations.iter().enumerate() {
        if l.bins.is_empty() {
            return Err(OfficeError::invalid(
                format!("locations[{i}].bins"),
                "a location needs at least one bin",
            ));
        }
    }
    for (i, r) in seed.routes.iter().enumerate() {
        if r.stops.is_empty() {
            return Err(OfficeError::invalid(
                format!("routes[{i}].stops"),
                "a route needs at least one stop",
            ));
        }
    }
    let _office = shared.storage.lock(Lock::Office).await?;
    let mut office = OfficeRecorder::load(&shared.storage).await?;
    let held: BTreeSet<String> = shared.storage.held_doc_ids().await?.into_iter().collect();
    let docs = seed::build(seed, &mut office, Utc::now(), |id| held.contains(&id.to_string()))
        .map_err(|e| OfficeError::invalid("orders", e.to_string()))?;
    let mut ops = Vec::new();
    let mut made = Vec::new();
    for (id, mut d) in docs {
        // Made meanwhile by another node: the seed is refused whole.
        ops.push(WriteOp::PutDoc { id: id.clone(), snapshot: d.save(), heads: d.get_heads(), stored: None });
        // The customer's address before the projection, which queues emails.
        if let DocId::Order(order) = &id
            && let Some(o) = seed.orders.iter().find(|o| &o.header.id == order)
        {
            ops.extend(storage::mail::contact(order.as_str(), &Contact::of(o)));
        }
        ops.extend(ingest::project(&shared.blobs, &id, &mut d).await?);
        made.push(id);
    }
    if made.is_empty() {
        return Ok(made);
    }
    ops.push(office.write()?);
    shared.writer.write(ops).await?;
    for id in &made {
        shared.docs.forget(id);
        ingest::push(shared, id, &[], u64::MAX).await;
    }
    Ok(made)
}

/// Appends an office event, made by the signed-in user `by`, to a stored
/// document and stores it, so devices holding the document get it pushed.
/// Only hold, release, cancel, address amendment, exception resolution,
/// allocation, pick assignment, stock receipts, quota grants (out of free
/// stock only), payment authorisations and captures, and cash handed in are
/// taken here.
pub async fn office_event(
    shared: &Arc<Shared>,
    doc_id: &DocId,
    mut payload: Payload,
    by: Option<String>,
) -> Result<Event, OfficeError> {
    validate_payload(doc_id, &payload)?;
    let _office = shared.storage.lock(Lock::Office).await?;
    let entry = shared
        .docs
        .get(&shared.storage, doc_id)
        .await?
        .ok_or_else(|| OfficeError::NotFound(doc_id.clone()))?;
    let mut loaded = entry.lock().await;
    // Decided on the document as stored now (another node may have moved
    // it since this copy was read): a grant comes out of free stock as it
    // is, under the office's lock.
    let stored = shared.storage.doc_heads(doc_id).await?.map(|(heads, _)| heads);
    if stored != loaded.stored.as_ref().map(|s| s.heads.clone())
        && let Some(now) = crate::docs::Loaded::read(&shared.storage, doc_id).await?
    {
        *loaded = now;
    }
    if let Payload::QuotaGranted(g) = &payload {
        crate::quota::check_grant(loaded.doc.document(), g)?;
    }
    if let Payload::StopInserted(s) = &mut payload {
        crate::planning::place_stop(shared, loaded.doc.document(), s).await?;
    }
    let mut office = OfficeRecorder::load(&shared.storage).await?;
    let now = Utc::now();
    // The office's event sorts after everything the document holds.
    let events = doc::events(doc_id, loaded.doc.document())
        .map_err(|e| StorageError::Corrupt(format!("{doc_id}: {e}")))?;
    for e in &events {
        office.observe(e.hlc, now);
    }
    // An amendment replaces the address in force here, so one made
    // concurrently elsewhere shows as an exception.
    if let Payload::AddressAmended(a) = &mut payload {
        a.replaces.get_or_insert_with(|| fold::address::in_force(&events));
    }
    let event = office.record(now, by, payload);
    let extra = vec![office.write()?];
    loaded.doc.set_actor(actor_of(office.device()));
    let change = match doc::append(&mut loaded.doc, &event) {
        Ok(()) => loaded.doc.get_last_local_change(),
        Err(e) => {
            shared.docs.forget(doc_id);
            return Err(StorageError::Corrupt(format!("{doc_id}: {e}")).into());
        }
    };
    let Some(change) = change else {
        shared.docs.forget(doc_id);
        return Err(StorageError::Corrupt(format!("{doc_id}: the appended change is missing")).into());
    };
    // `store` forgets the document in memory if the write fails.
    ingest::store(shared, doc_id, &mut loaded, &[change], extra, u64::MAX).await?;
    Ok(event)
}

/// The office's recorder, with what is stored of it: it is written only
/// over that, so even two writers that both thought they held the office's
/// lock could never both hand out the same event ids.
pub struct OfficeRecorder {
    recorder: Recorder,
    stored: Option<String>,
}

impl OfficeRecorder {
    /// The recorder as stored (a new one before the first office event).
    pub async fn load(storage: &Storage) -> Result<Self, OfficeError> {
        let stored = storage.meta_text(RECORDER_KEY).await?;
        let recorder = match &stored {
            // A damaged recorder is an error, not a fresh start: a fresh one
            // would reuse event ids.
            Some(s) => serde_json::from_str(s)
                .map_err(|e| StorageError::Corrupt(format!("meta {RECORDER_KEY}: {e}")))?,
            None => {
                Recorder::new(DeviceId::new(OFFICE_DEVICE).map_err(|e| StorageError::Corrupt(e.to_string()))?)
            }
        };
        Ok(Self { recorder, stored })
    }

    /// A recorder to store where none is (a test's world, written before
    /// any server runs).
    pub fn new(recorder: Recorder) -> Self {
        Self { recorder, stored: None }
    }

    /// The write that stores the recorder as it is now, over what was read
    /// (or written by this value's last write).
    pub fn write(&mut self) -> Result<WriteOp, OfficeError> {
        let now = serde_json::to_string(&self.recorder).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let op = storage::office::put_meta(RECORDER_KEY, self.stored.as_deref(), now.clone());
        self.stored = Some(now);
        Ok(op)
    }
}

impl std::ops::Deref for OfficeRecorder {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.recorder
    }
}

impl std::ops::DerefMut for OfficeRecorder {
    fn deref_mut(&mut self) -> &mut Recorder {
        &mut self.recorder
    }
}

/// Checks what serde cannot: non-empty text, lines, quantities.
pub fn validate_header(h: &OrderHeader) -> Result<(), OfficeError> {
    if h.customer.trim().is_empty() {
        return Err(OfficeError::invalid("customer", "must not be empty"));
    }
    validate_address("ship_to", &h.ship_to)?;
    if h.lines.is_empty() {
        return Err(OfficeError::invalid("lines", "an order needs at least one line"));
    }
    let mut seen = BTreeSet::new();
    for (i, l) in h.lines.iter().enumerate() {
        if !seen.insert(l.line) {
            return Err(OfficeError::invalid(
                format!("lines[{i}].line"),
                format!("line {} is repeated", l.line),
            ));
        }
        if l.quantity == 0 {
            return Err(OfficeError::invalid(format!("lines[{i}].quantity"), "must be at least 1"));
        }
    }
    if let Some(slot) = h.slot {
        if h.promised.is_none() {
            return Err(OfficeError::invalid(
                "promised",
                "a slot is a part of the promised day: give the day",
            ));
        }
        if slot.from >= slot.to {
            return Err(OfficeError::invalid("slot.to", format!("must be after slot.from ({})", slot.from)));
        }
    }
    if let Some((0, _)) = h.payment.due_on_delivery() {
        return Err(OfficeError::invalid(
            "payment.amount_minor",
            "the amount due on delivery must be at least 1 (minor units, such as cents)",
        ));
    }
    Ok(())
}

/// The longest free text a customer or clerk may write.
const MAX_TEXT: usize = 2000;

fn validate_text(field: &str, text: &str) -> Result<(), OfficeError> {
    if text.chars().count() > MAX_TEXT {
        return Err(OfficeError::invalid(field, format!("at most {MAX_TEXT} characters")));
    }
    Ok(())
}

fn validate_return_lines(lines: &[ReturnLine]) -> Result<(), OfficeError> {
    if lines.is_empty() {
        return Err(OfficeError::invalid("lines", "name at least one line"));
    }
    if let Some(i) = lines.iter().position(|l| l.quantity == 0) {
        return Err(OfficeError::invalid(format!("lines[{i}].quantity"), "must be at least 1"));
    }
    Ok(())
}

/// What the shipper says of an order's customer at intake, kept on the
/// server and never written to the order document (devices hold that).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// The customer's email address, for notifications.
    pub email: Option<String>,
    /// Whether the tracking page may show the delivery photo.
    pub tracking_photo: bool,
}

impl Contact {
    /// A seed order's.
    pub fn of(o: &SeedOrder) -> Self {
        Self { email: o.email.clone(), tracking_photo: o.tracking_photo }
    }

    /// Checks the email address.
    pub(crate) fn validate(&self) -> Result<(), OfficeError> {
        match &self.email {
            Some(email) if email.parse::<lettre::Address>().is_err() => {
                Err(OfficeError::invalid("email", format!("{email:?} is not an email address")))
            }
            _ => Ok(()),
        }
    }
}

/// Checks an address's required parts.
pub fn validate_address(field: &str, a: &Address) -> Result<(), OfficeError> {
    for (name, value) in
        [("name", &a.name), ("line1", &a.line1), ("city", &a.city), ("postcode", &a.postcode)]
    {
        if value.trim().is_empty() {
            return Err(OfficeError::invalid(format!("{field}.{name}"), "must not be empty"));
        }
    }
    if a.country.len() != 2 || !a.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(OfficeError::invalid(
            format!("{field}.country"),
            "must be an ISO 3166-1 alpha-2 code, such as GB",
        ));
    }
    Ok(())
}

fn validate_payload(doc_id: &DocId, payload: &Payload) -> Result<(), OfficeError> {
    match payload {
        Payload::Held(h) if h.reason.trim().is_empty() => {
            return Err(OfficeError::invalid("reason", "must not be empty"));
        }
        Payload::Cancelled(c) if c.reason.trim().is_empty() => {
            return Err(OfficeError::invalid("reason", "must not be empty"));
        }
        Payload::AddressAmended(a) => validate_address("ship_to", &a.ship_to)?,
        Payload::ExceptionResolved(r) => {
            if r.exception.trim().is_empty() {
                return Err(OfficeError::invalid("exception", "must not be empty"));
            }
            if r.events.is_empty() {
                return Err(OfficeError::invalid("events", "name at least one event the decision covers"));
            }
        }
        Payload::Allocated(a) => {
            if a.allocations.iter().any(|x| x.quantity == 0) {
                return Err(OfficeError::invalid("allocations", "each allocation is at least 1 unit"));
            }
        }
        Payload::Received(r) if r.quantity == 0 => {
            return Err(OfficeError::invalid("quantity", "must be at least 1"));
        }
        Payload::QuotaGranted(g) if g.quantity == 0 => {
            return Err(OfficeError::invalid("quantity", "must be at least 1"));
        }
        Payload::ReturnAuthorised(a) => {
            if a.rma.trim().is_empty() || a.rma.len() > 64 {
                return Err(OfficeError::invalid("rma", "must be 1 to 64 characters"));
            }
            validate_return_lines(&a.lines)?;
        }
        Payload::ReturnRequested(r) => {
            validate_return_lines(&r.lines)?;
            validate_text("reason", &r.reason)?;
        }
        Payload::RefundRecorded(r) => {
            if r.amount_minor == 0 {
                return Err(OfficeError::invalid("amount_minor", "must be at least 1"));
            }
            if r.currency.len() != 3 || !r.currency.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(OfficeError::invalid("currency", "must be an ISO 4217 code, such as EUR"));
            }
        }
        Payload::FeedbackGiven(f) => {
            if !(RATING_MIN..=RATING_MAX).contains(&f.rating) {
                return Err(OfficeError::invalid("rating", format!("must be {RATING_MIN} to {RATING_MAX}")));
            }
            validate_text("comment", &f.comment)?;
        }
        Payload::PaymentAuthorised(p) if p.amount_minor == 0 => {
            return Err(OfficeError::invalid("amount_minor", "must be at least 1"));
        }
        Payload::PaymentCaptured(p) if p.amount_minor == 0 => {
            return Err(OfficeError::invalid("amount_minor", "must be at least 1"));
        }
        Payload::Held(_)
        | Payload::Cancelled(_)
        | Payload::Released(_)
        | Payload::TrackingRevoked(_)
        | Payload::PickAssigned(_)
        | Payload::StopInserted(_)
        | Payload::Received(_)
        | Payload::QuotaGranted(_)
        | Payload::PaymentAuthorised(_)
        | Payload::PaymentCaptured(_)
        | Payload::CashHandedIn(_) => {}
        other => {
            return Err(OfficeError::invalid(
                "type",
                format!("{} is not an event the office writes here", other.name()),
            ));
        }
    }
    if !payload.belongs_in(doc_id) {
        return Err(OfficeError::invalid(
            "doc",
            format!("a {} event does not go in {doc_id}", payload.name()),
        ));
    }
    Ok(())
}
