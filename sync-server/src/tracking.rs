//! What a customer sees of one order, through its tracking link.
//!
//! A link is `/track/<order>/<key>`: the key is an HMAC of the order id and
//! the link's generation under a key derived from the device CA's private
//! key, which every node shares, so any node answers any link and no table
//! of links is kept. Revoking a link (a `tracking_revoked` event on the
//! order) moves the generation on: the old link stops working and a new one
//! is given. A key that does not match says nothing of whether the order
//! exists.
//!
//! The view holds only what the customer needs: the steps with times, the
//! promised day, where the delivery goes (town and postcode, no name), an
//! ETA window while the order is out, and the proof once delivered (who
//! took it, where it was left, when, and the photo where the shipper said
//! at intake that the page may show it); never another order, a device or
//! a person's name beyond the recipient's.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use ring::hmac;
use serde::Serialize;
use waybill_shared::blob::BlobHash;
use waybill_shared::doc::order::Slot;
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::Payload;
use waybill_shared::event::customer::{FeedbackGiven, RATING_MAX, RATING_MIN, ReturnRequested};
use waybill_shared::event::delivery::{FailReason, Relation};
use waybill_shared::event::returns::ReturnLine;
use waybill_shared::fold::order::Whereabouts;
use waybill_shared::fold::payment::PaymentState;
use waybill_shared::fold::{self, OrderStatus};
use waybill_shared::gs1::Gtin;
use waybill_shared::id::{OrderId, RouteId};
use waybill_shared::plan::eta::{EtaWindow, eta};

use crate::depot_clock;
use crate::office::{self, OfficeError};
use crate::server::Shared;
use crate::storage::StorageError;

/// Hex digits of a link's key: 128 bits.
const KEY_DIGITS: usize = 32;

/// One step of the order, as the customer reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What happened, in words.
    pub what: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The proof of delivery, as the customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handover {
    /// Who took it, in words.
    pub taken_by: String,
    /// Where it was left, if the driver said.
    pub left_at: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// One line of the order, as the customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackedLine {
    /// The line number.
    pub line: u32,
    /// What it is.
    pub description: String,
    /// Units delivered.
    pub delivered: u32,
    /// Units that may still be asked back: delivered, less those returned
    /// or asked back already.
    pub returnable: u32,
}

/// How long after delivery goods may be sent back.
pub const RETURN_DAYS: i64 = 30;

/// The most ratings an order takes (each is an event on the order).
pub const MAX_RATINGS: usize = 10;

/// The most return requests an order takes.
pub const MAX_REQUESTS: usize = 10;

/// What a customer's request on the tracking page can run into.
#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    /// No such order, or not its key (the same answer for both).
    #[error("this tracking link is not valid")]
    NotFound,
    /// The request cannot be taken: the message says why, in words for the
    /// customer.
    #[error("{0}")]
    Refused(String),
    /// Writing it failed.
    #[error(transparent)]
    Office(#[from] OfficeError),
}

impl From<StorageError> for CustomerError {
    fn from(e: StorageError) -> Self {
        Self::Office(e.into())
    }
}

/// The tracking page's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tracking {
    /// The order.
    pub order: OrderId,
    /// Where it stands, in words.
    pub status: String,
    /// The same, as the API's status word.
    pub state: OrderStatus,
    /// The promised delivery day.
    pub promised: Option<NaiveDate>,
    /// The slot promised on that day.
    pub slot: Option<Slot>,
    /// Where it goes: town and postcode.
    pub destination: String,
    /// Steps, oldest first.
    pub steps: Vec<Step>,
    /// When the van should come, while the order is out for delivery.
    pub eta: Option<EtaWindow>,
    /// The proof, once delivered.
    pub delivered: Option<Handover>,
    /// The lines, with what may still be sent back.
    pub lines: Vec<TrackedLine>,
    /// The customer's rating of the delivery, once given.
    pub rating: Option<u8>,
    /// How many times they rated it.
    #[serde(skip)]
    pub ratings: usize,
    /// The clock of the depot it ships from, for the times customers are
    /// told.
    #[serde(skip)]
    pub zone: Tz,
    /// The returns the customer asked for, and where each stands.
    pub returns: Vec<Step>,
    /// Until when goods may be sent back: [`RETURN_DAYS`] after delivery,
    /// while that is still ahead.
    pub return_until: Option<DateTime<Utc>>,
    /// The route it is on, if any (not shown: the page follows it).
    #[serde(skip)]
    pub route: Option<RouteId>,
    /// The customer's name (not shown: emails greet them by it).
    #[serde(skip)]
    pub customer: String,
    /// The path of the link it was read through.
    #[serde(skip)]
    pub link: String,
    /// Why the latest delivery attempt failed, in words (the steps say it
    /// too; emails use it).
    #[serde(skip)]
    pub failure: Option<String>,
    /// The delivery photo, where the shipper lets the page show it and the
    /// server holds it.
    #[serde(skip)]
    pub photo: Option<BlobHash>,
}

/// The key that signs links, derived from the device CA's private key.
pub fn link_key(ca_private_key: &[u8]) -> hmac::Key {
    let derived =
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, ca_private_key), b"waybill tracking links v1");
    hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
}

fn key_of(key: &hmac::Key, order: &OrderId, generation: usize) -> String {
    let tag = hmac::sign(key, format!("{order}\n{generation}").as_bytes());
    tag.as_ref().iter().take(KEY_DIGITS / 2).map(|b| format!("{b:02x}")).collect()
}

/// The path of the order's tracking link now.
pub async fn link(shared: &Shared, order: &OrderId) -> Result<Option<String>, StorageError> {
    let Some(contents) = read_order(shared, order).await? else { return Ok(None) };
    Ok(Some(path(&shared.identity.link_key(), order, generation(&contents.events))))
}

/// Whether two keys are equal, taking as long whichever bytes differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0, |differ, (x, y)| differ | (x ^ y)) == 0
}

fn path(key: &hmac::Key, order: &OrderId, generation: usize) -> String {
    format!("/track/{order}/{}", key_of(key, order, generation))
}

/// The link's generation: how many times it was revoked.
fn generation(events: &[waybill_shared::event::Event]) -> usize {
    events.iter().filter(|e| matches!(e.payload, Payload::TrackingRevoked(_))).count()
}

async fn read_order(
    shared: &Shared,
    order: &OrderId,
) -> Result<Option<doc::Contents<doc::order::OrderHeader>>, StorageError> {
    read(shared, &DocId::Order(order.clone()), doc::order::read).await
}

async fn read<H>(
    shared: &Shared,
    id: &DocId,
    read: fn(&automerge::Automerge) -> Result<doc::Contents<H>, doc::DocError>,
) -> Result<Option<doc::Contents<H>>, StorageError> {
    let Some(entry) = shared.docs.get(&shared.storage, id).await? else { return Ok(None) };
    let mut loaded = entry.lock().await;
    read(loaded.doc.document()).map(Some).map_err(|e| StorageError::Corrupt(format!("{id}: {e}")))
}

/// The tracking view of `order` if `key` is its link's key now; `None`
/// for an unknown order and a wrong or revoked key alike.
pub async fn view(
    shared: &Shared,
    order: &OrderId,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<Tracking>, StorageError> {
    let Some(contents) = read_order(shared, order).await? else { return Ok(None) };
    let link = path(&shared.identity.link_key(), order, generation(&contents.events));
    // Checked before any more work is done for whoever sent the key.
    if !same(link.rsplit('/').next().unwrap_or_default(), key) {
        return Ok(None);
    }
    Ok(Some(build(shared, order, &contents, link, now).await?))
}

/// The tracking view of `order` as it is `now` (with the path of its link).
pub async fn current(
    shared: &Shared,
    order: &OrderId,
    now: DateTime<Utc>,
) -> Result<Option<Tracking>, StorageError> {
    let Some(contents) = read_order(shared, order).await? else { return Ok(None) };
    let link = path(&shared.identity.link_key(), order, generation(&contents.events));
    Ok(Some(build(shared, order, &contents, link, now).await?))
}

async fn build(
    shared: &Shared,
    order: &OrderId,
    contents: &doc::Contents<doc::order::OrderHeader>,
    link: String,
    now: DateTime<Utc>,
) -> Result<Tracking, StorageError> {
    let view = fold::order::fold(contents, &|_| true);
    let steps = steps(contents);
    let mut tracking = Tracking {
        order: order.clone(),
        status: if view.payment.state == PaymentState::AwaitingPayment {
            "Waiting for your payment".into()
        } else {
            status_words(view.status).into()
        },
        state: view.status,
        promised: view.header.promised,
        slot: view.header.slot,
        destination: format!("{} {}", view.ship_to.postcode, view.ship_to.city),
        steps,
        eta: None,
        zone: Tz::UTC,
        customer: view.header.customer.clone(),
        link,
        failure: contents
            .events
            .iter()
            .filter_map(|e| match &e.payload {
                Payload::AttemptFailed(a) => Some((e.hlc, fail_words(a.reason))),
                _ => None,
            })
            .max_by_key(|(hlc, _)| *hlc)
            .map(|(_, words)| words.to_owned()),
        photo: None,
        delivered: view.proofs.last().map(|p| Handover {
            taken_by: relation_words(p.proof.relation, p.proof.recipient_name.as_deref()),
            left_at: p.proof.left_at.clone(),
            at: p.at,
        }),
        route: None,
        lines: Vec::new(),
        rating: view.feedback.as_ref().map(|f| f.rating),
        ratings: contents.events.iter().filter(|e| matches!(e.payload, Payload::FeedbackGiven(_))).count(),
        returns: view
            .return_requests
            .iter()
            .map(|r| Step {
                what: match &r.authorised {
                    None => format!("Return of {} asked for: waiting for us to accept it", units(&r.lines)),
                    Some(rma) => format!("Return of {} accepted (number {rma})", units(&r.lines)),
                },
                at: r.at,
            })
            .collect(),
        return_until: view
            .proofs
            .iter()
            .map(|p| p.at + chrono::Duration::days(RETURN_DAYS))
            .max()
            .filter(|until| *until > now),
    };
    // What the customer asked back and the goods have not come back for
    // yet: requests waiting, and those accepted under an RMA number no
    // receipt names.
    let received: Vec<&str> = contents
        .events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::ReturnReceived(r) => r.rma.as_deref(),
            _ => None,
        })
        .collect();
    let awaited: Vec<&ReturnLine> = view
        .return_requests
        .iter()
        .filter(|r| r.authorised.as_deref().is_none_or(|rma| !received.contains(&rma)))
        .flat_map(|r| &r.lines)
        .collect();
    tracking.lines = view
        .lines
        .iter()
        .map(|l| {
            let asked: u32 = awaited.iter().filter(|r| r.line == l.line).map(|r| r.quantity).sum();
            TrackedLine {
                line: l.line,
                description: view
                    .header
                    .lines
                    .iter()
                    .find(|h| h.line == l.line)
                    .map(|h| h.description.clone())
                    .unwrap_or_default(),
                delivered: l.delivered,
                returnable: l.delivered.saturating_sub(l.returned).saturating_sub(asked),
            }
        })
        .collect();
    // The route: the one its packages were put on, or the van's they are on.
    let route = view.packages.iter().find_map(|p| match (&p.route, &p.whereabouts) {
        (Some((route, _)), _) | (None, Whereabouts::OnVan { route, .. }) => Some(route.clone()),
        _ => None,
    });
    if let Some(location) = view.ships_from()
        && let Some(depot) = crate::planning::location_header(shared, location).await?
    {
        tracking.zone = depot_clock::of(&depot);
    }
    if let Some(route) = route {
        if matches!(view.status, OrderStatus::Shipped | OrderStatus::OutForDelivery) {
            tracking.eta = route_eta(shared, &route, order, now).await?;
        }
        tracking.route = Some(route);
    }
    let photo = view.proofs.last().and_then(|p| p.proof.photo);
    if let Some(photo) = photo
        && shared.storage.tracking_photo(order.as_str()).await?
        && shared.blobs.stored(&[photo]).await?.contains(&photo)
    {
        tracking.photo = Some(photo);
    }
    Ok(tracking)
}

/// The window for `order`'s stop on `route`, from the route's view and the
/// time of its latest event.
async fn route_eta(
    shared: &Shared,
    route: &RouteId,
    order: &OrderId,
    now: DateTime<Utc>,
) -> Result<Option<EtaWindow>, StorageError> {
    let Some(contents) = read(shared, &DocId::Route(route.clone()), doc::route::read).await? else {
        return Ok(None);
    };
    let progress = contents
        .events
        .iter()
        .filter(|e| {
            matches!(e.payload, Payload::ArrivedAtStop(_) | Payload::Delivered(_) | Payload::AttemptFailed(_))
        })
        .map(|e| e.at)
        .max();
    let view = fold::route::fold(&contents);
    let Some(stop) = view.stops.iter().find(|s| s.orders.contains(order)) else { return Ok(None) };
    Ok(eta(&view, stop.seq, progress, now))
}

/// The steps a customer cares about, in the order they happened.
fn steps(contents: &doc::Contents<doc::order::OrderHeader>) -> Vec<Step> {
    let mut steps = vec![Step { what: "Order confirmed".into(), at: contents.header.created_at }];
    let mut events: Vec<_> = contents.events.iter().collect();
    events.sort_by(|a, b| (a.hlc, &a.id).cmp(&(b.hlc, &b.id)));
    let voided: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Voided(v) => Some(v.target.clone()),
            _ => None,
        })
        .collect();
    let mut seen = Vec::new();
    for e in events.into_iter().filter(|e| !voided.contains(&e.id)) {
        let what = match &e.payload {
            Payload::Picked(_) => "Being prepared".to_owned(),
            Payload::PackageClosed(_) => "Packed".to_owned(),
            Payload::Loaded(_) => "Shipped".to_owned(),
            Payload::OutForDelivery(_) => "Out for delivery".to_owned(),
            Payload::Delivered(_) => "Delivered".to_owned(),
            Payload::AttemptFailed(a) => format!("Delivery attempt failed: {}", fail_words(a.reason)),
            Payload::Cancelled(_) => "Cancelled".to_owned(),
            Payload::ReturnAuthorised(_) => "Return accepted".to_owned(),
            Payload::ReturnReceived(_) => "Return received".to_owned(),
            Payload::RefundRecorded(_) => "Refunded".to_owned(),
            _ => continue,
        };
        // A step that repeats (several picks, a package per box) is shown
        // once, at its first time; a failed attempt shows each time.
        if matches!(e.payload, Payload::AttemptFailed(_)) || !seen.contains(&what) {
            seen.push(what.clone());
            steps.push(Step { what, at: e.at });
        }
    }
    steps
}

fn units(lines: &[ReturnLine]) -> String {
    match lines.iter().map(|l| l.quantity).sum::<u32>() {
        1 => "1 item".to_owned(),
        n => format!("{n} items"),
    }
}

/// The customer rates the delivery (1 to 5, with a comment): an event on
/// the order, by `customer`. Only once it is delivered.
pub async fn give_feedback(
    shared: &Arc<Shared>,
    order: &OrderId,
    key: &str,
    rating: u8,
    comment: &str,
) -> Result<(), CustomerError> {
    let view = view(shared, order, key, Utc::now()).await?.ok_or(CustomerError::NotFound)?;
    if view.delivered.is_none() {
        return Err(CustomerError::Refused("you can rate the delivery once it has arrived".into()));
    }
    if !(RATING_MIN..=RATING_MAX).contains(&rating) {
        return Err(CustomerError::Refused(format!("choose a rating from {RATING_MIN} to {RATING_MAX}")));
    }
    // Each rating is an event on the order, which devices hold: a rating
    // the same as the last is not written again, and there is a limit.
    if view.rating == Some(rating) && comment.trim().is_empty() {
        return Ok(());
    }
    if view.ratings >= MAX_RATINGS {
        return Err(CustomerError::Refused("this order has been rated as often as it can be".into()));
    }
    let payload = Payload::FeedbackGiven(FeedbackGiven { rating, comment: comment.trim().to_owned() });
    office::office_event(shared, &DocId::Order(order.clone()), payload, Some(CUSTOMER.into())).await?;
    Ok(())
}

/// The customer asks to send back `lines` (line, units): within
/// [`RETURN_DAYS`] of delivery, at most what each line may still return.
/// The office authorises it.
pub async fn request_return(
    shared: &Arc<Shared>,
    order: &OrderId,
    key: &str,
    lines: &[(u32, u32)],
    reason: &str,
) -> Result<(), CustomerError> {
    let view = view(shared, order, key, Utc::now()).await?.ok_or(CustomerError::NotFound)?;
    if view.return_until.is_none() {
        return Err(CustomerError::Refused(format!(
            "returns can be asked for within {RETURN_DAYS} days of delivery"
        )));
    }
    if view.returns.len() >= MAX_REQUESTS {
        return Err(CustomerError::Refused(
            "this order has as many return requests as it can take: call us".into(),
        ));
    }
    // A line named twice counts once, with its units added.
    let mut per_line: std::collections::BTreeMap<u32, u32> = std::collections::BTreeMap::new();
    for &(line, quantity) in lines {
        *per_line.entry(line).or_default() += quantity;
    }
    let mut asked = Vec::new();
    for (line, quantity) in per_line.into_iter().filter(|(_, q)| *q > 0) {
        let Some(l) = view.lines.iter().find(|l| l.line == line) else {
            return Err(CustomerError::Refused(format!("the order has no line {line}")));
        };
        if quantity > l.returnable {
            return Err(CustomerError::Refused(format!(
                "{}: at most {} can be sent back",
                l.description, l.returnable
            )));
        }
        let Some(gtin) = contents_gtin(shared, order, line).await? else {
            return Err(CustomerError::Refused(format!("the order has no line {line}")));
        };
        asked.push(ReturnLine { line, gtin, quantity });
    }
    if asked.is_empty() {
        return Err(CustomerError::Refused("choose at least one item to send back".into()));
    }
    let payload =
        Payload::ReturnRequested(ReturnRequested { lines: asked, reason: reason.trim().to_owned() });
    office::office_event(shared, &DocId::Order(order.clone()), payload, Some(CUSTOMER.into())).await?;
    Ok(())
}

/// The item of `order`'s line `line`.
async fn contents_gtin(shared: &Shared, order: &OrderId, line: u32) -> Result<Option<Gtin>, StorageError> {
    Ok(read_order(shared, order)
        .await?
        .and_then(|c| c.header.lines.iter().find(|l| l.line == line).map(|l| l.gtin.clone())))
}

/// Who the events customers make are by.
pub const CUSTOMER: &str = "customer";

fn status_words(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Created | OrderStatus::Allocated => "Confirmed",
        OrderStatus::Held => "Confirmed, waiting to be released",
        OrderStatus::Picking | OrderStatus::Picked => "Being prepared",
        OrderStatus::Packed => "Packed, waiting for the van",
        OrderStatus::Shipped => "Shipped",
        OrderStatus::OutForDelivery => "Out for delivery",
        OrderStatus::Delivered | OrderStatus::Completed => "Delivered",
        OrderStatus::Attempted => "Delivery attempted: we will try again",
        OrderStatus::Returned => "Returned",
        OrderStatus::Cancelled => "Cancelled",
    }
}

fn fail_words(reason: FailReason) -> &'static str {
    match reason {
        FailReason::NotHome => "nobody was home",
        FailReason::Refused => "the delivery was refused",
        FailReason::AddressNotFound => "the driver could not find the address",
        FailReason::NoAccess => "the driver could not get in",
        FailReason::AgeCheckFailed => "the age check was not passed",
        FailReason::Damaged => "the parcel was damaged",
    }
}

fn relation_words(relation: Relation, name: Option<&str>) -> String {
    match (relation, name) {
        (Relation::Recipient, Some(name)) => format!("Handed to {name}"),
        (Relation::Recipient, None) => "Handed to you".to_owned(),
        (Relation::Neighbour, Some(name)) => format!("Left with your neighbour {name}"),
        (Relation::Neighbour, None) => "Left with a neighbour".to_owned(),
        (Relation::SafePlace, _) => "Left in a safe place".to_owned(),
        (Relation::Mailbox, _) => "Put in the mailbox".to_owned(),
    }
}
