//! A driver's work: load packages on the van, set out, arrive at stops,
//! deliver with proof or record a failed attempt, bring undelivered packages
//! back to the depot; and receiving returned goods, which any role may do.
//!
//! Every driver operation works on a route held on this device whose header
//! names this device as the driver. Each checks its input against the merged
//! order and route views and refuses bad input with a clear
//! [`AgentError`], writing nothing; or records its events through
//! [`Agent::record`].
//!
//! Decisions made here:
//!
//! - **On this van.** A package is on the van of a route when its whereabouts
//!   are `on_van` for that route and van, or when its last attempt failed
//!   (`attempt_failed`: it stays on the van) and its last `loaded` event put
//!   it on that route's van. Only such packages can be delivered, attempted or
//!   returned to the depot.
//! - **Physical facts are recorded, contradictions the device knows of are
//!   refused.** Loading a package the device believes is on another van is
//!   recorded (the fold reports `loaded_on_two_vans`); delivering an order the
//!   device knows is cancelled or on hold is refused, as is a delivery whose
//!   age check failed (that is a failed attempt, `age_check_failed`).
//! - **Money at the door.** An order paid on delivery is handed over only
//!   with a collection (amount, currency, cash or card) while anything is
//!   still due on it ([`AgentError::PaymentDue`] says how much). What the
//!   driver enters is recorded as it is: a collection below the amount due
//!   is a fact, and the fold makes it a `short_collection` exception for the
//!   office. A collection in another currency than the one due, or on an
//!   order that is not paid on delivery, is refused as a slip.
//! - **One delivery per order.** A `delivered` event names one order, because
//!   proof requirements are per order. A stop with several orders is
//!   delivered one order at a time.
//! - **Proof before blobs.** Required proof is checked before any file is
//!   read; photo and signature bytes are hashed ([`BlobHash::of`]) and stored
//!   in the same transaction as the event that names them.
//! - **Returns.** The driver has no location of its own, so a return is
//!   received at the device's location if it has one, else at the order's
//!   location. Restocked goods need a bin of that location; damaged goods go
//!   to no bin.
//! - **Bounded input.** Free text is capped at `MAX_TEXT_BYTES` and each
//!   proof blob at `MAX_PROOF_BYTES`, so an event stays well under the
//!   server's event size limit; GPS readings must be finite and in range,
//!   since a NaN would not survive the JSON form.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use waybill_shared::blob::BlobHash;
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::delivery::{
    ArrivedAtStop, AttemptFailed, Delivered, FailReason, Gps, Loaded, OutForDelivery, Proof, Relation,
    ReturnedToDepot,
};
use waybill_shared::event::payment::Collection;
use waybill_shared::event::returns::{Disposition, ReturnLine, ReturnReceived};
use waybill_shared::event::{Event, Payload};
use waybill_shared::event_id::EventId;
use waybill_shared::fold::order::{PackageView, Whereabouts};
use waybill_shared::fold::route::StopView;
use waybill_shared::fold::{OrderView, RouteView};
use waybill_shared::gs1::{Code, Gs1Error, Label, Sscc, parse_code};
use waybill_shared::id::{BinId, LocationId, OrderId, RouteId, VanId};
use waybill_shared::role::Role;

use super::{line_of, positive};
use crate::agent::Agent;
use crate::error::AgentError;

/// Largest photo or signature accepted, in bytes.
const MAX_PROOF_BYTES: u64 = 16 * 1024 * 1024;

/// Longest free text (note, name, where left, RMA) accepted, in bytes.
const MAX_TEXT_BYTES: usize = 1024;

/// A photo or signature image handed to [`Agent::deliver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobInput {
    /// The bytes themselves (a camera or signature pad buffer).
    Bytes(Vec<u8>),
    /// A file to read them from.
    File(PathBuf),
}

impl BlobInput {
    /// The bytes, read from the file if need be; `what` names it in errors.
    fn read(&self, what: &str) -> Result<Vec<u8>, AgentError> {
        let file_error = |path: &PathBuf, error| AgentError::File { path: path.display().to_string(), error };
        let bytes = match self {
            BlobInput::Bytes(b) => {
                check_blob_size(what, b.len() as u64)?;
                b.clone()
            }
            BlobInput::File(path) => {
                let len = std::fs::metadata(path).map_err(|e| file_error(path, e))?.len();
                check_blob_size(what, len)?;
                let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
                check_blob_size(what, bytes.len() as u64)?;
                bytes
            }
        };
        Ok(bytes)
    }
}

fn check_blob_size(what: &str, len: u64) -> Result<(), AgentError> {
    if len == 0 {
        Err(AgentError::Invalid(format!("the {what} is empty")))
    } else if len > MAX_PROOF_BYTES {
        Err(AgentError::Invalid(format!(
            "the {what} is {len} bytes; a proof may be at most {MAX_PROOF_BYTES}"
        )))
    } else {
        Ok(())
    }
}

/// A delivery, as the driver confirms it at the door.
#[derive(Debug, Clone)]
pub struct DeliveryRequest {
    /// The route.
    pub route: RouteId,
    /// The stop's sequence number.
    pub stop: u32,
    /// The package labels scanned. Empty: every package of the stop's order
    /// that is on the van (the stop must then have only one such order).
    pub packages: Vec<String>,
    /// Name of the person who took it, as given.
    pub recipient_name: Option<String>,
    /// Who took it.
    pub relation: Relation,
    /// Where it was left (a safe place, a neighbour's address).
    pub left_at: Option<String>,
    /// A photo of the package where it was left.
    pub photo: Option<BlobInput>,
    /// The recipient's signature image.
    pub signature: Option<BlobInput>,
    /// Where the device was.
    pub gps: Option<Gps>,
    /// The driver's note.
    pub note: String,
    /// Whether an age check was done and passed.
    pub age_check_passed: Option<bool>,
    /// Money taken at the door, for an order paid on delivery.
    pub collection: Option<Collection>,
}

/// What an order's own document says about vans: where each package was last
/// loaded, and the routes the order was sent out on.
#[derive(Default)]
struct VanFacts {
    last_load: BTreeMap<Sscc, (RouteId, VanId)>,
    dispatched: BTreeSet<RouteId>,
}

impl Agent {
    /// Records a package going on the van of `route`. The package must be of
    /// an order of one of the route's stops, closed or staged (or back at the
    /// depot), not delivered and not already on this van for this route.
    pub fn load(&mut self, route: &RouteId, package: &str) -> Result<Event, AgentError> {
        let route = self.driver_route(route, "load packages")?;
        let sscc = self.scan_package(package)?;
        let Some((view, p)) = self.route_package(&route, &sscc)? else {
            return Err(self.not_on_route(&route, &sscc)?);
        };
        let order = view.header.id.clone();
        let bad = |why: String| Err(AgentError::Invalid(format!("package {sscc} of order {order} {why}")));
        if view.cancelled {
            return bad("is cancelled: it stays at the depot".into());
        }
        if view.held {
            return bad("is on hold: it stays at the depot".into());
        }
        if let Some((assigned, stop)) = &p.route
            && assigned != &route.id
        {
            return bad(format!("is assigned to stop {stop} of route {assigned}, not to route {}", route.id));
        }
        match &p.whereabouts {
            Whereabouts::Packing => return bad("is still being packed: close it first".into()),
            Whereabouts::Delivered => return bad("was already delivered".into()),
            Whereabouts::AttemptFailed { .. } => {
                return bad("is on a van after a failed attempt: return it to the depot first".into());
            }
            Whereabouts::OnVan { van, route: r } if r == &route.id && van == &route.van => {
                return bad(format!("is already on van {van} for route {r}"));
            }
            Whereabouts::Closed
            | Whereabouts::Staged { .. }
            | Whereabouts::AtDepot
            | Whereabouts::OnVan { .. } => {}
        }
        let payload = Payload::Loaded(Loaded { sscc, route: route.id.clone(), van: route.van.clone() });
        self.record(payload, &[DocId::Order(order)], &[])
    }

    /// Records that the van sets out: one `out_for_delivery` per order of the
    /// route with packages on the van and not yet sent out on this route,
    /// each naming the latest address amendment this device knows of. Each
    /// event is durable on its own; if one fails, those before it stay
    /// recorded and calling again sends out only the rest.
    pub fn out_for_delivery(&mut self, route: &RouteId) -> Result<Vec<Event>, AgentError> {
        let route = self.driver_route(route, "send a route out for delivery")?;
        let mut to_send = Vec::new();
        let mut loaded_any = false;
        for order in route_orders(&route) {
            let Some(view) = self.held_order_view(&order)? else { continue };
            let facts = self.van_facts(&view)?;
            if !view.packages.iter().any(|p| on_van(p, &facts, &route)) {
                continue;
            }
            loaded_any = true;
            if !facts.dispatched.contains(&route.id) {
                to_send.push((order, latest_amendment(&view)));
            }
        }
        if !loaded_any {
            return Err(AgentError::Invalid(format!(
                "nothing is loaded for route {}: load packages first",
                route.id
            )));
        }
        if to_send.is_empty() {
            return Err(AgentError::Invalid(format!(
                "every order loaded for route {} is already out for delivery",
                route.id
            )));
        }
        let mut events = Vec::new();
        for (order, address_seen) in to_send {
            let payload = Payload::OutForDelivery(OutForDelivery { route: route.id.clone(), address_seen });
            events.push(self.record(payload, &[DocId::Order(order)], &[])?);
        }
        Ok(events)
    }

    /// Records arriving at a stop of the route.
    pub fn arrive(&mut self, route: &RouteId, stop: u32, gps: Option<Gps>) -> Result<Event, AgentError> {
        let route = self.driver_route(route, "arrive at stops")?;
        stop_of(&route, stop)?;
        check_gps(gps)?;
        let payload = Payload::ArrivedAtStop(ArrivedAtStop { route: route.id.clone(), stop, gps });
        self.record(payload, &[DocId::Route(route.id)], &[])
    }

    /// Records a delivery of one order's packages at a stop, with proof. The
    /// order's required proof (signature, photo, age check) must be given;
    /// a recipient or neighbour must be named; a safe place must be said.
    /// Photo and signature are stored in the same transaction as the event.
    pub fn deliver(&mut self, req: &DeliveryRequest) -> Result<Event, AgentError> {
        let route = self.driver_route(&req.route, "deliver")?;
        let stop = stop_of(&route, req.stop)?.clone();
        let mut at_stop: Vec<(OrderView, Vec<Sscc>)> = Vec::new();
        for order in &stop.orders {
            if let Some(view) = self.held_order_view(order)? {
                let loaded = self.packages_on_van(&view, &route)?;
                at_stop.push((view, loaded));
            }
        }
        let (view, packages) = if req.packages.is_empty() {
            let mut loaded: Vec<_> = at_stop.into_iter().filter(|(_, p)| !p.is_empty()).collect();
            match loaded.len() {
                0 => return Err(nothing_on_van(&route, req.stop)),
                1 => loaded.remove(0),
                _ => {
                    let orders: Vec<String> = loaded.iter().map(|(v, _)| v.header.id.to_string()).collect();
                    return Err(AgentError::Invalid(format!(
                        "orders {} of stop {} are on the van: deliver one order at a time, scanning its packages",
                        orders.join(", "),
                        req.stop
                    )));
                }
            }
        } else {
            let mut scanned: Vec<Sscc> = Vec::new();
            for code in &req.packages {
                let sscc = self.scan_package(code)?;
                if !scanned.contains(&sscc) {
                    scanned.push(sscc);
                }
            }
            let mut orders: BTreeSet<usize> = BTreeSet::new();
            for sscc in &scanned {
                let Some(i) = at_stop.iter().position(|(v, _)| v.packages.iter().any(|p| &p.sscc == sscc))
                else {
                    return Err(match self.find_package(sscc)? {
                        Some((order, _)) => AgentError::Invalid(format!(
                            "package {sscc} is for order {order}, not for stop {} of route {}",
                            req.stop, route.id
                        )),
                        None => AgentError::NotFound { what: "package", id: sscc.to_string() },
                    });
                };
                if !at_stop[i].1.contains(sscc) {
                    return Err(AgentError::NotOnVan(sscc.to_string()));
                }
                orders.insert(i);
            }
            if orders.len() > 1 {
                let names: Vec<String> = orders.iter().map(|&i| at_stop[i].0.header.id.to_string()).collect();
                return Err(AgentError::Invalid(format!(
                    "the packages scanned are of orders {}: deliver one order at a time",
                    names.join(" and ")
                )));
            }
            let Some(&i) = orders.first() else { return Err(nothing_on_van(&route, req.stop)) };
            (at_stop.swap_remove(i).0, scanned)
        };
        let order = view.header.id.clone();
        if view.cancelled {
            return Err(AgentError::Invalid(format!(
                "order {order} is cancelled: do not hand it over, return it to the depot"
            )));
        }
        if view.held {
            return Err(AgentError::Invalid(format!("order {order} is on hold: do not hand it over")));
        }
        let required = view.header.proof;
        let recipient_name = text("the recipient's name", req.recipient_name.as_deref())?;
        let left_at = text("where it was left", req.left_at.as_deref())?;
        let note = text("the note", Some(req.note.as_str()))?.unwrap_or_default();
        // Every item missing at once, so the driver fixes it in one go.
        let mut missing = Vec::new();
        if required.signature && req.signature.is_none() {
            missing.push("a signature");
        }
        if required.photo && req.photo.is_none() {
            missing.push("a photo");
        }
        if required.age_check && req.age_check_passed != Some(true) {
            missing.push("a passed age check");
        }
        match req.relation {
            Relation::Recipient | Relation::Neighbour if recipient_name.is_none() => {
                missing.push("the recipient's name");
            }
            Relation::SafePlace if left_at.is_none() => missing.push("where the package was left"),
            _ => {}
        }
        if !missing.is_empty() {
            return Err(AgentError::ProofMissing(missing));
        }
        if req.age_check_passed == Some(false) {
            return Err(AgentError::Invalid(
                "the age check failed: record a failed attempt (age_check_failed) instead".into(),
            ));
        }
        check_collection(&view, req.collection.as_ref())?;
        check_gps(req.gps)?;
        let photo = req.photo.as_ref().map(|b| b.read("photo")).transpose()?;
        let signature = req.signature.as_ref().map(|b| b.read("signature")).transpose()?;
        let mut blobs: Vec<(BlobHash, &[u8])> = Vec::new();
        for bytes in photo.iter().chain(signature.iter()) {
            blobs.push((BlobHash::of(bytes), bytes.as_slice()));
        }
        let proof = Proof {
            recipient_name,
            relation: req.relation,
            left_at,
            photo: photo.as_deref().map(BlobHash::of),
            signature: signature.as_deref().map(BlobHash::of),
            gps: req.gps,
            note,
            age_check_passed: req.age_check_passed,
        };
        let payload = Payload::Delivered(Delivered {
            order: order.clone(),
            route: route.id.clone(),
            stop: req.stop,
            packages,
            proof,
            collection: req.collection.clone(),
        });
        self.record(payload, &[DocId::Order(order), DocId::Route(route.id)], &blobs)
    }

    /// Records a failed delivery attempt at a stop: one `attempt_failed` per
    /// order of the stop with packages on the van, naming those packages.
    /// Each event is durable on its own.
    pub fn fail_attempt(
        &mut self,
        route: &RouteId,
        stop: u32,
        reason: FailReason,
        note: String,
        gps: Option<Gps>,
    ) -> Result<Vec<Event>, AgentError> {
        let route = self.driver_route(route, "record failed attempts")?;
        let orders = stop_of(&route, stop)?.orders.clone();
        let note = text("the note", Some(note.as_str()))?.unwrap_or_default();
        check_gps(gps)?;
        let mut attempts = Vec::new();
        for order in &orders {
            let Some(view) = self.held_order_view(order)? else { continue };
            let packages = self.packages_on_van(&view, &route)?;
            if !packages.is_empty() {
                attempts.push((order.clone(), packages));
            }
        }
        if attempts.is_empty() {
            return Err(nothing_on_van(&route, stop));
        }
        let mut events = Vec::new();
        for (order, packages) in attempts {
            let payload = Payload::AttemptFailed(AttemptFailed {
                order: order.clone(),
                route: route.id.clone(),
                stop,
                packages,
                reason,
                gps,
                note: note.clone(),
            });
            events.push(self.record(payload, &[DocId::Order(order), DocId::Route(route.id.clone())], &[])?);
        }
        Ok(events)
    }

    /// Records an undelivered package coming off the van at the depot. The
    /// package must be on this route's van.
    pub fn return_to_depot(&mut self, route: &RouteId, package: &str) -> Result<Event, AgentError> {
        let route = self.driver_route(route, "return packages to the depot")?;
        let sscc = self.scan_package(package)?;
        let Some((view, p)) = self.route_package(&route, &sscc)? else {
            return Err(match self.find_package(&sscc)? {
                Some(_) => AgentError::NotOnVan(sscc.to_string()),
                None => AgentError::NotFound { what: "package", id: sscc.to_string() },
            });
        };
        let facts = self.van_facts(&view)?;
        if !on_van(&p, &facts, &route) {
            return Err(AgentError::NotOnVan(sscc.to_string()));
        }
        let payload = Payload::ReturnedToDepot(ReturnedToDepot { sscc, route: route.id.clone() });
        self.record(payload, &[DocId::Order(view.header.id)], &[])
    }

    /// Records returned goods received, by any role: `lines` are `(line,
    /// units)`, at most what was delivered and not yet returned per line. The
    /// goods are received at this device's location, or else the order's.
    /// [`Disposition::Restock`] needs `bin` (a bin label or bin id of that
    /// location, whose document must be held) and is written to the location
    /// too; [`Disposition::Damaged`] takes no bin.
    pub fn receive_return(
        &mut self,
        order: &OrderId,
        lines: &[(u32, u32)],
        disposition: Disposition,
        rma: Option<String>,
        bin: Option<&str>,
    ) -> Result<Event, AgentError> {
        let view = self.order_view(order)?;
        if lines.is_empty() {
            return Err(AgentError::Invalid("a return needs at least one line".into()));
        }
        let mut asked: BTreeMap<u32, u32> = BTreeMap::new();
        for &(line, quantity) in lines {
            let total = asked.entry(line).or_default();
            *total = total.saturating_add(positive(quantity)?);
        }
        let mut return_lines = Vec::new();
        for (line, quantity) in asked {
            let l = line_of(&view, line)?;
            let gtin =
                l.gtin.clone().ok_or_else(|| AgentError::Invalid(format!("line {line} has no item")))?;
            let remaining = l.delivered.saturating_sub(l.returned);
            if quantity > remaining {
                return Err(AgentError::TooMany { what: "return", asked: quantity, remaining });
            }
            return_lines.push(ReturnLine { line, gtin, quantity });
        }
        let location =
            self.profile().location.clone().or_else(|| view.header.location.clone()).ok_or_else(|| {
                AgentError::Invalid(format!(
                    "order {order} has no location and neither has this device: nowhere to receive"
                ))
            })?;
        let rma = text("the RMA number", rma.as_deref())?;
        let mut targets = vec![DocId::Order(order.clone())];
        let bin = match (disposition, bin.map(str::trim).filter(|b| !b.is_empty())) {
            (Disposition::Restock, None) => {
                return Err(AgentError::Invalid(
                    "restocked goods need a bin: scan the bin they go to".into(),
                ));
            }
            (Disposition::Restock, Some(code)) => {
                targets.push(self.stock_doc(&location)?);
                Some(self.return_bin(&location, code)?)
            }
            (Disposition::Damaged, Some(_)) => {
                return Err(AgentError::Invalid(
                    "damaged goods are not put in a bin: leave the bin out".into(),
                ));
            }
            (Disposition::Damaged, None) => None,
        };
        let payload = Payload::ReturnReceived(ReturnReceived {
            order: order.clone(),
            rma,
            lines: return_lines,
            disposition,
            location,
            bin,
        });
        self.record(payload, &targets, &[])
    }

    /// The view of a route this device drives; fails unless the device is a
    /// driver (`action` says what it tried) and the route names it.
    fn driver_route(&mut self, route: &RouteId, action: &'static str) -> Result<RouteView, AgentError> {
        self.require(Role::Driver, action)?;
        let view = self.route_view(route)?;
        if view.driver != self.profile().device {
            return Err(AgentError::NotAllowed {
                role: self.profile().role,
                action: "work another driver's route",
            });
        }
        Ok(view)
    }

    /// An order's view, or `None` if the order is not held here.
    fn held_order_view(&mut self, order: &OrderId) -> Result<Option<OrderView>, AgentError> {
        match self.order_view(order) {
            Ok(view) => Ok(Some(view)),
            Err(AgentError::NotFound { what: "order", .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The package among the orders of the route's stops, with its order.
    fn route_package(
        &mut self,
        route: &RouteView,
        sscc: &Sscc,
    ) -> Result<Option<(OrderView, PackageView)>, AgentError> {
        for order in route_orders(route) {
            let Some(view) = self.held_order_view(&order)? else { continue };
            if let Some(p) = view.packages.iter().find(|p| &p.sscc == sscc).cloned() {
                return Ok(Some((view, p)));
            }
        }
        Ok(None)
    }

    /// The error for a package that is not of an order of the route.
    fn not_on_route(&mut self, route: &RouteView, sscc: &Sscc) -> Result<AgentError, AgentError> {
        Ok(match self.find_package(sscc)? {
            Some((order, _)) => AgentError::Invalid(format!(
                "package {sscc} is for order {order}, which is not on route {}",
                route.id
            )),
            None => AgentError::NotFound { what: "package", id: sscc.to_string() },
        })
    }

    /// The packages of an order that are on the route's van.
    fn packages_on_van(&mut self, view: &OrderView, route: &RouteView) -> Result<Vec<Sscc>, AgentError> {
        let facts = self.van_facts(view)?;
        Ok(view.packages.iter().filter(|p| on_van(p, &facts, route)).map(|p| p.sscc.clone()).collect())
    }

    /// Reads an order's `loaded` and `out_for_delivery` events that count
    /// (not voided), in fold order.
    fn van_facts(&mut self, view: &OrderView) -> Result<VanFacts, AgentError> {
        let id = DocId::Order(view.header.id.clone());
        let contents = doc::order::read(self.doc(&id)?.document())?;
        let voided: BTreeSet<&EventId> =
            view.timeline.iter().filter(|t| t.voided_by.is_some()).map(|t| &t.id).collect();
        let mut events: Vec<&Event> = contents.events.iter().filter(|e| !voided.contains(&e.id)).collect();
        events.sort_by(|a, b| (a.hlc, &a.id).cmp(&(b.hlc, &b.id)));
        let mut facts = VanFacts::default();
        for e in events {
            match &e.payload {
                Payload::Loaded(l) => {
                    facts.last_load.insert(l.sscc.clone(), (l.route.clone(), l.van.clone()));
                }
                Payload::OutForDelivery(o) => {
                    facts.dispatched.insert(o.route.clone());
                }
                _ => {}
            }
        }
        Ok(facts)
    }

    /// Reads the bin restocked goods go to, at `location`: a bin label of
    /// that location or a bare bin id, which the location must have.
    fn return_bin(&mut self, location: &LocationId, code: &str) -> Result<BinId, AgentError> {
        if self.profile().location.as_ref() == Some(location) {
            return Ok(self.scan_bin(code)?.1);
        }
        let bin = match parse_code(code) {
            Ok(Code::Label(Label::Bin { location: at, bin })) if &at == location => bin,
            Ok(Code::Label(Label::Bin { location: at, .. })) => {
                return Err(AgentError::WrongScan {
                    expected: "a bin at the location receiving the return",
                    scanned: format!("a bin at {at}"),
                });
            }
            Ok(_) => return Err(AgentError::WrongScan { expected: "a bin label", scanned: code.into() }),
            Err(Gs1Error::Unrecognised(_)) => code
                .parse::<BinId>()
                .map_err(|_| AgentError::WrongScan { expected: "a bin label", scanned: code.into() })?,
            Err(e) => return Err(e.into()),
        };
        let id = self.stock_doc(location)?;
        let header = doc::location::read(self.doc(&id)?.document())?.header;
        if !header.bins.iter().any(|b| b.id == bin) {
            return Err(AgentError::NotFound { what: "bin", id: format!("{bin} at {location}") });
        }
        Ok(bin)
    }
}

/// The orders of a route's stops, in stop order, each once.
fn route_orders(route: &RouteView) -> Vec<OrderId> {
    let mut seen = BTreeSet::new();
    route.stops.iter().flat_map(|s| &s.orders).filter(|o| seen.insert((*o).clone())).cloned().collect()
}

/// A stop of the route.
fn stop_of(route: &RouteView, stop: u32) -> Result<&StopView, AgentError> {
    route
        .stops
        .iter()
        .find(|s| s.seq == stop)
        .ok_or_else(|| AgentError::NotFound { what: "stop", id: format!("{stop} of route {}", route.id) })
}

/// Whether a package is on the route's van: loaded for it, or still on it
/// after a failed attempt.
fn on_van(p: &PackageView, facts: &VanFacts, route: &RouteView) -> bool {
    match &p.whereabouts {
        Whereabouts::OnVan { van, route: r } => r == &route.id && van == &route.van,
        Whereabouts::AttemptFailed { .. } => {
            facts.last_load.get(&p.sscc).is_some_and(|(r, van)| r == &route.id && van == &route.van)
        }
        _ => false,
    }
}

/// The latest address amendment of the order that counts (not voided).
fn latest_amendment(view: &OrderView) -> Option<EventId> {
    view.timeline
        .iter()
        .rev()
        .find(|t| t.kind == "address_amended" && t.voided_by.is_none())
        .map(|t| t.id.clone())
}

fn nothing_on_van(route: &RouteView, stop: u32) -> AgentError {
    AgentError::Invalid(format!("nothing for stop {stop} of route {} is on the van", route.id))
}

/// Checks the money taken at the door against the order's terms: required
/// while anything is due, in the currency due, at most what is due;
/// refused where nothing is.
fn check_collection(view: &OrderView, collection: Option<&Collection>) -> Result<(), AgentError> {
    let order = &view.header.id;
    let Some((due, currency)) = view.header.payment.due_on_delivery() else {
        return match collection {
            None => Ok(()),
            Some(_) => Err(AgentError::Invalid(format!(
                "order {order} is not paid on delivery ({}): there is nothing to collect",
                view.header.payment.name().replace('_', " ")
            ))),
        };
    };
    let outstanding = view.payment.outstanding_minor.unwrap_or(due);
    match collection {
        None if outstanding > 0 => {
            Err(AgentError::PaymentDue { order: order.to_string(), amount: currency.format(outstanding) })
        }
        Some(c) if &c.currency != currency => Err(AgentError::Invalid(format!(
            "order {order} is due in {currency}, not {}: record what was collected in {currency}",
            c.currency
        ))),
        // More than is due is a figure typed wrong (or a second payment):
        // the customer would be owed it back.
        Some(c) if c.amount_minor > outstanding => Err(AgentError::Invalid(format!(
            "order {order}: {} is due, and {} is more than that: check the amount",
            currency.format(outstanding),
            currency.format(c.amount_minor)
        ))),
        _ => Ok(()),
    }
}

/// Free text, trimmed; blank is `None`; too long is refused.
fn text(what: &str, value: Option<&str>) -> Result<Option<String>, AgentError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    if value.len() > MAX_TEXT_BYTES {
        return Err(AgentError::Invalid(format!(
            "{what} is {} bytes; at most {MAX_TEXT_BYTES} fit",
            value.len()
        )));
    }
    Ok(Some(value.to_owned()))
}

/// Fails on a position that is not finite and on the globe.
fn check_gps(gps: Option<Gps>) -> Result<(), AgentError> {
    let Some(g) = gps else { return Ok(()) };
    let accuracy_ok = g.accuracy_m.is_none_or(|a| a.is_finite() && a >= 0.0);
    if g.lat.is_finite() && g.lon.is_finite() && g.lat.abs() <= 90.0 && g.lon.abs() <= 180.0 && accuracy_ok {
        Ok(())
    } else {
        Err(AgentError::Invalid(format!("GPS reading {}, {} is not a position", g.lat, g.lon)))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use automerge::AutoCommit;
    use chrono::{NaiveDate, Utc};
    use waybill_shared::doc::location::{Bin, LocationHeader};
    use waybill_shared::doc::order::{Address, OrderHeader, OrderLine, ProofRequired};
    use waybill_shared::doc::payment::{Currency, PaymentTerms};
    use waybill_shared::doc::route::{RouteHeader, Stop};
    use waybill_shared::event::office::{AddressAmended, OrderCreated};
    use waybill_shared::event::payment::CollectionMethod;
    use waybill_shared::event::warehouse::{LineQuantity, PackageClosed, Packed, Picked};
    use waybill_shared::fold::OrderStatus;
    use waybill_shared::fold::exception::ExceptionKind;
    use waybill_shared::fold::payment::PaymentState;
    use waybill_shared::fold::route::StopState;
    use waybill_shared::gs1::{Gtin, check_digit};
    use waybill_shared::id::DeviceId;
    use waybill_shared::policy::actor_of;
    use waybill_shared::recorder::Recorder;

    use super::*;
    use crate::agent::Profile;
    use crate::store::Store;
    use waybill_shared::seed::Seed;

    const GTIN: &str = "09506000134352";

    /// A valid SSCC numbered `n`.
    fn sscc(n: u64) -> String {
        let data = format!("0376123{n:010}");
        format!("{data}{}", check_digit(&data).unwrap())
    }

    fn id<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        s.parse().unwrap()
    }

    fn address(name: &str) -> Address {
        Address {
            name: name.into(),
            line1: "1 Quay St".into(),
            line2: String::new(),
            city: "Porto".into(),
            postcode: "4000-001".into(),
            country: "PT".into(),
            geo: None,
        }
    }

    /// An order document as the office and a packer would have written it:
    /// one unit of line 1 per package, each package closed unless `packing`.
    fn order_doc(
        order: &str,
        location: Option<&str>,
        proof: ProofRequired,
        packages: &[u64],
        packing: bool,
        amended: bool,
    ) -> (DocId, AutoCommit) {
        order_doc_paid(order, location, proof, PaymentTerms::OnAccount, packages, packing, amended)
    }

    /// [`order_doc`] with payment terms.
    fn order_doc_paid(
        order: &str,
        location: Option<&str>,
        proof: ProofRequired,
        payment: PaymentTerms,
        packages: &[u64],
        packing: bool,
        amended: bool,
    ) -> (DocId, AutoCommit) {
        let office = DeviceId::new("hq").unwrap();
        let packer = DeviceId::new("pk-1").unwrap();
        let header = OrderHeader {
            id: id(order),
            customer: "Ana".into(),
            ship_to: address("Ana"),
            lines: vec![OrderLine {
                line: 1,
                gtin: id::<Gtin>(GTIN),
                description: "Port wine".into(),
                quantity: packages.len() as u32,
            }],
            promised: None,
            slot: None,
            location: location.map(id),
            proof,
            payment,
            created_at: Utc::now(),
        };
        let doc_id = DocId::Order(header.id.clone());
        let mut d = doc::create(actor_of(&office), &doc_id, &header);
        let mut hq = Recorder::new(office);
        let mut pk = Recorder::new(packer.clone());
        doc::append(&mut d, &hq.record(Utc::now(), None, Payload::OrderCreated(OrderCreated {}))).unwrap();
        if amended {
            let amend = Payload::AddressAmended(AddressAmended {
                ship_to: address("Ana, back door"),
                replaces: None,
            });
            doc::append(&mut d, &hq.record(Utc::now(), None, amend)).unwrap();
        }
        // What is packed was picked first, or the fold reports an over-pack.
        let picker = DeviceId::new("hh-1").unwrap();
        let mut d = d.with_actor(actor_of(&picker));
        let picked = Payload::Picked(Picked {
            order: id(order),
            line: 1,
            location: id("DC-1"),
            bin: id("R-01"),
            gtin: id(GTIN),
            quantity: packages.len() as u32,
            lot: None,
            serial: None,
            expiry: None,
            override_reason: None,
        });
        if !packages.is_empty() {
            doc::append(&mut d, &Recorder::new(picker).record(Utc::now(), None, picked)).unwrap();
        }
        let mut d = d.with_actor(actor_of(&packer));
        for &n in packages {
            let sscc: Sscc = id(&sscc(n));
            let packed = Payload::Packed(Packed {
                sscc: sscc.clone(),
                lines: vec![LineQuantity { line: 1, quantity: 1 }],
                weight_g: Some(900),
                dimensions: None,
            });
            doc::append(&mut d, &pk.record(Utc::now(), None, packed)).unwrap();
            if !packing {
                let closed = Payload::PackageClosed(PackageClosed { sscc, weight_g: Some(950) });
                doc::append(&mut d, &pk.record(Utc::now(), None, closed)).unwrap();
            }
        }
        (doc_id, d)
    }

    fn route(route: &str, driver: &str, van: &str, stops: &[(u32, &[&str])]) -> RouteHeader {
        RouteHeader {
            id: id(route),
            driver: id(driver),
            van: id(van),
            date: NaiveDate::from_ymd_opt(2026, 9, 21).unwrap(),
            stops: stops
                .iter()
                .map(|(seq, orders)| Stop {
                    seq: *seq,
                    orders: orders.iter().map(|o| id(o)).collect(),
                    address: address("x"),
                    planned: None,
                })
                .collect(),
            limits: None,
        }
    }

    /// A store for `role` holding, written before the device was set up:
    /// - route R-1 (driver drv-1, van VAN-7): stop 1 has SO-1 (packages 1, 2;
    ///   needs signature and photo) and SO-2 (package 3; needs an age check),
    ///   stop 2 has SO-3 (package 4; address amended; location DC-2, not
    ///   held) and SO-4 (package 5, still being packed);
    /// - route R-2 (driver drv-2): SO-9 (package 9);
    /// - location DC-1 with bins.
    fn setup(dir: &Path, role: Role) -> Agent {
        setup_with(dir, role, Vec::new(), Vec::new())
    }

    /// [`setup`], with `more` documents and routes besides.
    fn setup_with(dir: &Path, role: Role, more: Vec<(DocId, AutoCommit)>, routes: Vec<RouteHeader>) -> Agent {
        let path = dir.join("agent.db");
        let signed = ProofRequired { signature: true, photo: true, age_check: false };
        let aged = ProofRequired { age_check: true, ..Default::default() };
        let none = ProofRequired::default();
        let mut docs = vec![
            order_doc("SO-1", Some("DC-1"), signed, &[1, 2], false, false),
            order_doc("SO-2", Some("DC-1"), aged, &[3], false, false),
            order_doc("SO-3", Some("DC-2"), none, &[4], false, true),
            order_doc("SO-4", Some("DC-1"), none, &[5], true, false),
            order_doc("SO-9", Some("DC-1"), none, &[9], false, false),
        ];
        docs.extend(more);
        {
            let mut store = Store::open(&path).unwrap();
            let w = store.write().unwrap();
            for (id, d) in &mut docs {
                w.insert_doc(id, d).unwrap();
            }
            w.commit().unwrap();
        }
        let device = if role == Role::Driver { "drv-1" } else { "pk-2" };
        let profile = Profile { device: id(device), role, location: None, user: Some("rui".into()) };
        let mut agent = Agent::init(&path, profile).unwrap();
        let seed = Seed {
            locations: vec![LocationHeader {
                id: id("DC-1"),
                name: "Depot".into(),
                geo: None,
                bins: vec![Bin { id: id("A-01"), walk: 1 }, Bin { id: id("R-01"), walk: 2 }],
                epoch: 0,
                opening: Vec::new(),
                cutoff: Default::default(),
                quotas: Vec::new(),
                time_zone: None,
            }],
            orders: Vec::new(),
            routes: vec![
                route("R-1", "drv-1", "VAN-7", &[(1, &["SO-1", "SO-2"]), (2, &["SO-3", "SO-4"])]),
                route("R-2", "drv-2", "VAN-8", &[(1, &["SO-9"])]),
            ]
            .into_iter()
            .chain(routes)
            .collect(),
        };
        agent.import(&seed).unwrap();
        agent
    }

    fn r1() -> RouteId {
        id("R-1")
    }

    /// Runs `op`, expects it to be refused, and checks nothing was written.
    fn refuse<T: std::fmt::Debug>(
        agent: &mut Agent,
        op: impl FnOnce(&mut Agent) -> Result<T, AgentError>,
    ) -> AgentError {
        let before = agent.status().unwrap();
        let err = op(agent).expect_err("expected a refusal");
        let after = agent.status().unwrap();
        assert_eq!(after.pending_events, before.pending_events, "refusal {err} wrote an event");
        assert_eq!(after.store_bytes, before.store_bytes, "refusal {err} wrote to the store");
        err
    }

    fn whereabouts(agent: &mut Agent, order: &str, n: u64) -> Whereabouts {
        let view = agent.order_view(&id(order)).unwrap();
        view.packages.into_iter().find(|p| p.sscc.as_str() == sscc(n)).unwrap().whereabouts
    }

    /// A delivery at `stop` of R-1 with no proof at all.
    fn bare(stop: u32, packages: &[u64]) -> DeliveryRequest {
        DeliveryRequest {
            route: r1(),
            stop,
            packages: packages.iter().map(|&n| sscc(n)).collect(),
            recipient_name: None,
            relation: Relation::Mailbox,
            left_at: None,
            photo: None,
            signature: None,
            gps: None,
            note: String::new(),
            age_check_passed: None,
            collection: None,
        }
    }

    /// A delivery of SO-1 with everything it needs.
    fn full_so1() -> DeliveryRequest {
        DeliveryRequest {
            recipient_name: Some("Ana".into()),
            relation: Relation::Recipient,
            photo: Some(BlobInput::Bytes(b"jpeg bytes".to_vec())),
            signature: Some(BlobInput::Bytes(b"svg bytes".to_vec())),
            ..bare(1, &[1, 2])
        }
    }

    #[test]
    fn a_run_from_loading_to_proof_of_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let mut agent = setup(dir.path(), Role::Driver);
        let loaded = agent.load(&r1(), &sscc(1)).unwrap();
        assert!(
            matches!(&loaded.payload, Payload::Loaded(l) if l.van.as_str() == "VAN-7" && l.route == r1())
        );
        // An element string with AI (00) reads too.
        agent.load(&r1(), &format!("(00){}", sscc(2))).unwrap();
        agent.load(&r1(), &sscc(4)).unwrap();
        assert_eq!(whereabouts(&mut agent, "SO-1", 1), Whereabouts::OnVan { van: id("VAN-7"), route: r1() });

        let out = agent.out_for_delivery(&r1()).unwrap();
        assert_eq!(out.len(), 2, "SO-1 and SO-3 have packages on the van; SO-2 and SO-4 do not");
        let amendment = agent
            .order_view(&id("SO-3"))
            .unwrap()
            .timeline
            .iter()
            .find(|t| t.kind == "address_amended")
            .map(|t| t.id.clone());
        let seen: Vec<Option<EventId>> = out
            .iter()
            .map(|e| match &e.payload {
                Payload::OutForDelivery(o) => o.address_seen.clone(),
                p => panic!("unexpected {p:?}"),
            })
            .collect();
        assert_eq!(seen, vec![None, amendment]);
        let so3 = agent.order_view(&id("SO-3")).unwrap();
        assert_eq!(so3.status, OrderStatus::OutForDelivery);
        assert!(
            !so3.exceptions.iter().any(|e| matches!(e.kind, ExceptionKind::AddressAmendedAfterDispatch)),
            "the driver saw the amendment"
        );
        let err = refuse(&mut agent, |a| a.out_for_delivery(&r1()));
        assert!(matches!(err, AgentError::Invalid(m) if m.contains("already out")));

        let gps = Some(Gps { lat: 41.14, lon: -8.61, accuracy_m: Some(4.0) });
        let arrived = agent.arrive(&r1(), 1, gps).unwrap();
        assert!(matches!(arrived.payload, Payload::ArrivedAtStop(ArrivedAtStop { stop: 1, .. })));

        let signature_file = dir.path().join("signature.svg");
        std::fs::write(&signature_file, b"<svg>Ana</svg>").unwrap();
        let photo = b"\xff\xd8 a photo".to_vec();
        let req = DeliveryRequest {
            packages: Vec::new(), // every package of the stop's (one) order on the van
            signature: Some(BlobInput::File(signature_file)),
            photo: Some(BlobInput::Bytes(photo.clone())),
            gps,
            note: "  rang twice ".into(),
            ..full_so1()
        };
        let pending = agent.status().unwrap().pending_events;
        let delivered = agent.deliver(&req).unwrap();
        assert_eq!(agent.status().unwrap().pending_events, pending + 1);
        let Payload::Delivered(d) = &delivered.payload else { panic!("not a delivery") };
        assert_eq!(d.order.as_str(), "SO-1");
        assert_eq!(d.packages.iter().map(|s| s.to_string()).collect::<Vec<_>>(), vec![sscc(1), sscc(2)]);
        assert_eq!(d.proof.note, "rang twice");
        let photo_hash = BlobHash::of(&photo);
        let signature_hash = BlobHash::of(b"<svg>Ana</svg>");
        assert_eq!(d.proof.photo, Some(photo_hash));
        assert_eq!(d.proof.signature, Some(signature_hash));
        assert_eq!(agent.blob(&photo_hash).unwrap(), Some(photo));
        assert_eq!(agent.blob(&signature_hash).unwrap().as_deref(), Some(&b"<svg>Ana</svg>"[..]));

        let so1 = agent.order_view(&id("SO-1")).unwrap();
        assert_eq!(so1.status, OrderStatus::Completed);
        assert!(so1.packages.iter().all(|p| p.whereabouts == Whereabouts::Delivered));
        assert_eq!(so1.lines[0].delivered, 2);
        assert_eq!(so1.proofs.len(), 1);
        assert!(so1.proofs[0].missing_blobs.is_empty());
        let stop = agent.route_view(&r1()).unwrap().stops.remove(0);
        assert_eq!(stop.delivered.len(), 2);
        assert_eq!(stop.state, StopState::Delivered);

        // The same packages cannot be handed over twice.
        let err = refuse(&mut agent, |a| a.deliver(&full_so1()));
        assert!(matches!(err, AgentError::NotOnVan(s) if s == sscc(1)));
        let err = refuse(&mut agent, |a| a.load(&r1(), &sscc(1)));
        assert!(matches!(err, AgentError::Invalid(m) if m.contains("already delivered")));
    }

    #[test]
    fn only_the_routes_driver_may_work_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut packer = setup(dir.path(), Role::Packer);
        let err = refuse(&mut packer, |a| a.load(&r1(), &sscc(1)));
        assert!(matches!(err, AgentError::NotAllowed { role: Role::Packer, .. }), "{err}");
        assert!(matches!(refuse(&mut packer, |a| a.deliver(&full_so1())), AgentError::NotAllowed { .. }));
        assert!(matches!(refuse(&mut packer, |a| a.arrive(&r1(), 1, None)), AgentError::NotAllowed { .. }));

        let dir = tempfile::tempdir().unwrap();
        let mut agent = setup(dir.path(), Role::Driver);
        let err = refuse(&mut agent, |a| a.load(&id("R-2"), &sscc(9)));
        assert!(matches!(err, AgentError::NotAllowed { role: Role::Driver, .. }), "{err}");
        let err = refuse(&mut agent, |a| a.out_for_delivery(&id("R-404")));
        assert!(matches!(err, AgentError::NotFound { what: "route", .. }), "{err}");
    }

    #[test]
    fn loading_refuses_packages_that_cannot_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut agent = setup(dir.path(), Role::Driver);
        let mut bad = sscc(1);
        bad.replace_range(17.., if bad.ends_with('0') { "1" } else { "0" });
        assert!(matches!(refuse(&mut agent, |a| a.load(&r1(), &bad)), AgentError::BadScan(_)));
        assert!(matches!(refuse(&mut agent, |a| a.load(&r1(), "WB:ORD:SO-1")), AgentError::WrongScan { .. }));
        let err = refuse(&mut agent, |a| a.load(&r1(), &sscc(9)));
        assert!(matches!(&err, AgentError::Invalid(m) if m.contains("not on route R-1")), "{err}");
        let err = refuse(&mut agent, |a| a.load(&r1(), &sscc(77)));
        assert!(matches!(err, AgentError::NotFound { what: "package", .. }), "{err}");
        let err = refuse(&mut agent, |a| a.load(&r1(), &sscc(5)));
        assert!(matches!(&err, AgentError::Invalid(m) if m.contains("still being packed")), "{err}");
        agent.load(&r1(), &sscc(1)).unwrap();
        let err = refuse(&mut agent, |a| a.load(&r1(), &sscc(1)));
        assert!(matches!(&err, AgentError::Invalid(m) if m.contains("already on van VAN-7")), "{err}");
    }

    #[test]
    fn nothing_goes_out_or_arrives_without_a_load_or_a_stop() {
        let dir = tempfile::tempdir().unwrap();
        let mut agent = setup(dir.path(), Role::Driver);
        let err = refuse(&mut agent, |a| a.out_for_delivery(&r1()));
        assert!(matches!(&err, AgentError::Invalid(m) if m.contains("nothing is loaded")), "{err}");
        let err = refuse(&mut agent, |a| a.arrive(&r1(), 9, None));
        assert!(matches!(err, AgentError::NotFound { what: "stop", .. }), "{err}");
        let nowhere = Some(Gps { lat: f64::NAN, lon: 0.0, accuracy_m: None });
        assert!(matches!(refuse(&mut agent, |a| a.arrive(&r1(), 1, nowhere)), AgentError::Invalid(_)));
    }

    #[test]
    fn a_delivery_without_its_proof_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut agent = setup(dir.path(), Role::Driver);
        for n in [1, 2, 3] {
            agent.load(&r1(), &sscc(n)).unwrap();
        }
        let full = full_so1();
        let no_signature = DeliveryRequest { signature: None, ..full.clone() };
        let err = refuse(&mut agent, |a| a.deliver(&no_signature));
        assert!(matches!(&err, AgentError::ProofMissing(m) if m[..] == ["a signature"]), "{err}");
        let neither = DeliveryRequest { signature: None, photo: None, ..full.clone() };
        let err = refuse(&mut agent, |a| a.deliver(&neither));
        assert!(matches!(&err, AgentError::ProofMissing(m) if m[..] == ["a signature", "a photo"]), "{err}");
        assert_eq!(err.to_string(), "this delivery needs a signature and a photo");
        let no_photo = DeliveryRequest { photo: None, ..full.clone() };
        assert!(
            matches!(refuse(&mut agent, |a| a.deliver(&no_photo)), AgentError::ProofMissing(m) if m[..] == ["a photo"])
        );
        let no_name = DeliveryRequest { recipient_name: Some("  ".into()), ..full.clone() };
        let err = refuse(&mut agent, |a| a.deliver(&no_name));
        assert!(matches!(&err, AgentError::ProofMissing(m) if m[..] == ["the recipient's name"]), "{err}");
        let neighbour =
            DeliveryRequest { relation: Relation::Neighbour, recipient_name: None, ..full.clone() };
        let err = refuse(&mut agent, |a| a.deliver(&neighbour));
        assert!(matches!(&err, AgentError::ProofMissing(m) if m[..] == ["the recipient's name"]), "{err}");
        let missing_file = dir.path().join("no-such-photo.jpg");
        let no_file = DeliveryRequest { photo: Some(BlobInput::File(missing_file.clone())), ..full.clone() };
        let err = refuse(&mut agent, |a| a.deliver(&no_file));
        assert!(
            matches!(&err, AgentError::File { path, .. } if path == &missing_file.display().to_string()),
            "{err}"
        );
        let empty = DeliveryRequest { photo: Some(BlobInput::Bytes(Vec::new())), ..full.clone() };
        assert!(matches!(refuse(&mut agent, |a| a.deliver(&empty)), AgentError::Invalid(_)));

        // SO-2 needs a passed age check.
        let so2 = DeliveryRequest {
            recipient_name: Some("Rui".into()),
            relation: Relation::Recipient,
            ..bare(1, &[3])
        };
        let err = refuse(&mut agent, |a| a.deliver(&so2));
        assert!(matches!(&err, AgentError::ProofMissing(m) if m[..] == ["a passed age check"]), "{err}");
        let failed = DeliveryRequest { age_check_passed: Some(false), ..so2.clone() };
        let err = refuse(&mut agent, |a| a.deliver(&failed));
        assert!(matches!(&err, AgentError::ProofMissing(m) if m[..] == ["a passed age check"]), "{err}");

        // One order per delivery.
        let err = refuse(&mut agent, |a| {
            a.deliver(&DeliveryRequest { packages: vec![sscc(1), sscc(3)], ..full.clone() })
        });
        assert!(matches!(&err, AgentError::Invalid(m) if m.contains("SO-1 and SO-2")), "{err}");
        let err =
            refuse(&mut agent, |a| a.deliver(&DeliveryRequest { packages: Vec::new(), ..full.clone() }));
        assert!(matches!(&err, AgentError::Invalid(m) if m.contains("one order at a time")), "{err}");
        // A package of another stop, one not loaded, one unknown, a bad scan.
        let err =
            refuse(&mut agent, |a| a.deliver(&DeliveryRequest { packages: vec![sscc(4)], ..full.clone() }));
        assert!(matches!(&err, AgentError::Invalid(m) if m.contains("not for stop 1")), "{err}");
        let err = refuse(&mut agent, |a| a.deliver(&DeliveryRequest { stop: 2, ..bare(2, &[4]) }));
        assert!(matches!(&err, AgentError::NotOnVan(s) if s == &sscc(4)), "{err}");
        let err =
            refuse(&mut agent, |a| a.deliver(&DeliveryRequest { packages: vec![sscc(78)], ..full.clone() }));
        assert!(matches!(err, AgentError::NotFound { what: "package", .. }), "{err}");
        let err = refuse(&mut agent, |a| {
            a.deliver(&DeliveryRequest { packages: vec!["12345".into()], ..full.clone() })
        });
        assert!(matches!(err, AgentError::BadScan(_)), "{err}");
        let err = refuse(&mut agent, |a| a.deliver(&DeliveryRequest { stop: 7, ..full.clone() }));
        assert!(matches!(err, AgentError::NotFound { what: "stop", .. }), "{err}");
        assert_eq!(agent.blob(&BlobHash::of(b"jpeg bytes")).unwrap(), None, "no blob was kept");

        // With the proof it needs, each goes.
        let so2 = DeliveryRequest { age_check_passed: Some(true), ..so2 };
        agent.deliver(&so2).unwrap();
        agent.deliver(&full).unwrap();
        assert_eq!(agent.blob(&BlobHash::of(b"jpeg bytes")).unwrap(), Some(b"jpeg bytes".to_vec()));
        for order in ["SO-1", "SO-2"] {
            assert_eq!(agent.order_view(&id(order)).unwrap().status, OrderStatus::Completed, "{order}");
        }
    }

    #[test]
    fn failed_attempts_returns_to_the_depot_and_a_second_try() {
        let dir = tempfile::tempdir().unwrap();
        let mut agent = setup(dir.path(), Role::Driver);
        let err = refuse(&mut agent, |a| a.fail_attempt(&r1(), 2, FailReason::NotHome, String::new(), None));
        assert!(matches!(&err, AgentError::Invalid(m) if m.contains("nothing for stop 2")), "{err}");
        let err = refuse(&mut agent, |a| a.return_to_depot(&r1(), &sscc(4)));
        assert!(matches!(&err, AgentError::NotOnVan(s) if s == &sscc(4)), "{err}");
        let err = refuse(&mut agent, |a| a.return_to_depot(&r1(), &sscc(9)));
        assert!(matches!(&err, AgentError::NotOnVan(s) if s == &sscc(9)), "{err}");

        // Stop 1: SO-1 fails once, then is delivered from the van.
        agent.load(&r1(), &sscc(1)).unwrap();
        agent.load(&r1(), &sscc(2)).unwrap();
        let failed = agent.fail_attempt(&r1(), 1, FailReason::NotHome, "no answer".into(), None).unwrap();
        assert_eq!(failed.len(), 1, "only SO-1 is on the van");
        assert!(
            matches!(&failed[0].payload, Payload::AttemptFailed(a) if a.packages.len() == 2 && a.order.as_str() == "SO-1")
        );
        assert_eq!(
            whereabouts(&mut agent, "SO-1", 1),
            Whereabouts::AttemptFailed { reason: FailReason::NotHome }
        );
        assert_eq!(agent.order_view(&id("SO-1")).unwrap().status, OrderStatus::Attempted);
        agent.deliver(&full_so1()).unwrap();
        assert_eq!(agent.order_view(&id("SO-1")).unwrap().status, OrderStatus::Completed);

        // Stop 2: SO-3 fails, comes back to the depot, goes out again.
        agent.load(&r1(), &sscc(4)).unwrap();
        let failed = agent.fail_attempt(&r1(), 2, FailReason::NoAccess, String::new(), None).unwrap();
        assert_eq!(failed.len(), 1, "SO-4 is still being packed");
        assert_eq!(agent.route_view(&r1()).unwrap().stops[1].state, StopState::Failed);
        let err = refuse(&mut agent, |a| a.load(&r1(), &sscc(4)));
        assert!(matches!(&err, AgentError::Invalid(m) if m.contains("return it to the depot")), "{err}");
        agent.return_to_depot(&r1(), &sscc(4)).unwrap();
        assert_eq!(whereabouts(&mut agent, "SO-3", 4), Whereabouts::AtDepot);
        let err = refuse(&mut agent, |a| a.return_to_depot(&r1(), &sscc(4)));
        assert!(matches!(err, AgentError::NotOnVan(_)), "{err}");
        let err = refuse(&mut agent, |a| a.deliver(&bare(2, &[4])));
        assert!(matches!(err, AgentError::NotOnVan(_)), "{err}");
        agent.load(&r1(), &sscc(4)).unwrap();
        let safe_place = DeliveryRequest { relation: Relation::SafePlace, ..bare(2, &[]) };
        let err = refuse(&mut agent, |a| a.deliver(&safe_place));
        assert!(
            matches!(&err, AgentError::ProofMissing(m) if m[..] == ["where the package was left"]),
            "{err}"
        );
        agent.deliver(&DeliveryRequest { left_at: Some("behind the gate".into()), ..safe_place }).unwrap();
        let so3 = agent.order_view(&id("SO-3")).unwrap();
        assert_eq!(so3.status, OrderStatus::Completed);
        assert_eq!(so3.proofs[0].proof.left_at.as_deref(), Some("behind the gate"));

        // SO-3 is received at its own location, DC-2, which is not held here:
        // damaged goods need nothing of it, a restock needs its bins.
        let err = refuse(&mut agent, |a| {
            a.receive_return(&id("SO-3"), &[(1, 1)], Disposition::Restock, None, Some("R-01"))
        });
        assert!(matches!(err, AgentError::NotFound { what: "location", .. }), "{err}");
        let back = agent.receive_return(&id("SO-3"), &[(1, 1)], Disposition::Damaged, None, None).unwrap();
        assert!(
            matches!(&back.payload, Payload::ReturnReceived(r) if r.location.as_str() == "DC-2" && r.bin.is_none())
        );
    }

    #[test]
    fn returns_are_bounded_by_what_was_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let mut agent = setup(dir.path(), Role::Driver);
        let so1: OrderId = id("SO-1");
        let err = refuse(&mut agent, |a| a.receive_return(&so1, &[(1, 1)], Disposition::Damaged, None, None));
        assert!(matches!(err, AgentError::TooMany { what: "return", asked: 1, remaining: 0 }), "{err}");
        agent.load(&r1(), &sscc(1)).unwrap();
        agent.load(&r1(), &sscc(2)).unwrap();
        agent.deliver(&full_so1()).unwrap();

        let err = refuse(&mut agent, |a| {
            a.receive_return(&so1, &[(1, 2), (1, 1)], Disposition::Damaged, None, None)
        });
        assert!(matches!(err, AgentError::TooMany { asked: 3, remaining: 2, .. }), "{err}");
        let err = refuse(&mut agent, |a| a.receive_return(&so1, &[(2, 1)], Disposition::Damaged, None, None));
        assert!(matches!(err, AgentError::NotFound { what: "line", .. }), "{err}");
        let err = refuse(&mut agent, |a| a.receive_return(&so1, &[(1, 0)], Disposition::Damaged, None, None));
        assert!(matches!(err, AgentError::Invalid(_)), "{err}");
        let err = refuse(&mut agent, |a| a.receive_return(&so1, &[], Disposition::Damaged, None, None));
        assert!(matches!(err, AgentError::Invalid(_)), "{err}");
        let err = refuse(&mut agent, |a| a.receive_return(&so1, &[(1, 1)], Disposition::Restock, None, None));
        assert!(matches!(&err, AgentError::Invalid(m) if m.contains("need a bin")), "{err}");
        let err = refuse(&mut agent, |a| {
            a.receive_return(&so1, &[(1, 1)], Disposition::Restock, None, Some("Z-99"))
        });
        assert!(matches!(err, AgentError::NotFound { what: "bin", .. }), "{err}");
        let other = Some("WB:BIN:DC-2:R-01");
        let err =
            refuse(&mut agent, |a| a.receive_return(&so1, &[(1, 1)], Disposition::Restock, None, other));
        assert!(matches!(err, AgentError::WrongScan { .. }), "{err}");
        let err = refuse(&mut agent, |a| {
            a.receive_return(&so1, &[(1, 1)], Disposition::Damaged, None, Some("R-01"))
        });
        assert!(matches!(err, AgentError::Invalid(_)), "{err}");

        // One unit back on the shelf at the order's location, one damaged.
        let restock = agent
            .receive_return(
                &so1,
                &[(1, 1)],
                Disposition::Restock,
                Some("RMA-7".into()),
                Some("WB:BIN:DC-1:R-01"),
            )
            .unwrap();
        assert!(matches!(&restock.payload, Payload::ReturnReceived(r) if r.rma.as_deref() == Some("RMA-7")));
        let stock = agent.stock_view(&id("DC-1")).unwrap();
        assert_eq!(stock.on_hand(&id("R-01"), &id(GTIN)), 1);
        agent.receive_return(&so1, &[(1, 1)], Disposition::Damaged, None, None).unwrap();
        let view = agent.order_view(&so1).unwrap();
        assert_eq!(view.lines[0].returned, 2);
        assert_eq!(view.status, OrderStatus::Returned);
        let err = refuse(&mut agent, |a| a.receive_return(&so1, &[(1, 1)], Disposition::Damaged, None, None));
        assert!(matches!(err, AgentError::TooMany { remaining: 0, .. }), "{err}");
    }

    #[test]
    fn a_cash_on_delivery_order_needs_its_collection_and_a_short_one_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let eur = || Currency::new("EUR").unwrap();
        let cod = PaymentTerms::OnDelivery { amount_minor: 1250, currency: eur() };
        let none = ProofRequired::default();
        let docs = vec![
            order_doc_paid("SO-5", Some("DC-1"), none, cod, &[6], false, false),
            order_doc("SO-6", Some("DC-1"), none, &[7], false, false),
        ];
        let r3 = route("R-3", "drv-1", "VAN-7", &[(1, &["SO-5"]), (2, &["SO-6"])]);
        let mut agent = setup_with(dir.path(), Role::Driver, docs, vec![r3]);
        let r3: RouteId = id("R-3");
        agent.load(&r3, &sscc(6)).unwrap();
        agent.load(&r3, &sscc(7)).unwrap();
        let at = |stop, collection| DeliveryRequest {
            route: r3.clone(),
            recipient_name: Some("Ana".into()),
            relation: Relation::Recipient,
            collection,
            ..bare(stop, &[])
        };
        let cash = |amount_minor, currency| {
            Some(Collection { amount_minor, currency, method: CollectionMethod::Cash })
        };

        // No collection: refused, saying how much is due.
        let err = refuse(&mut agent, |a| a.deliver(&at(1, None)));
        assert!(
            matches!(&err, AgentError::PaymentDue { order, amount } if order == "SO-5" && amount == "12.50 EUR")
        );
        assert!(err.to_string().contains("12.50 EUR is due"), "{err}");
        // Another currency than the one due is a slip, refused.
        let err = refuse(&mut agent, |a| a.deliver(&at(1, cash(1250, Currency::new("GBP").unwrap()))));
        assert!(matches!(&err, AgentError::Invalid(m) if m.contains("due in EUR")), "{err}");
        // More than is due is a slip too (125.00 typed for 12.50).
        let err = refuse(&mut agent, |a| a.deliver(&at(1, cash(12500, eur()))));
        assert!(
            matches!(&err, AgentError::Invalid(m) if m.contains("12.50 EUR is due, and 125.00 EUR is more")),
            "{err}"
        );
        // Money for an order not paid on delivery is refused too.
        let err = refuse(&mut agent, |a| a.deliver(&at(2, cash(100, eur()))));
        assert!(matches!(&err, AgentError::Invalid(m) if m.contains("nothing to collect")), "{err}");

        // Short: recorded as it is, offline, and an exception in the view.
        let delivered = agent.deliver(&at(1, cash(1000, eur()))).unwrap();
        let Payload::Delivered(d) = &delivered.payload else { panic!("not a delivery") };
        assert_eq!(d.collection, cash(1000, eur()));
        let so5 = agent.order_view(&id("SO-5")).unwrap();
        assert_eq!(so5.payment.state, PaymentState::Short);
        assert_eq!(so5.payment.outstanding_minor, Some(250));
        assert!(so5.exceptions.iter().any(|e| e.kind
            == ExceptionKind::ShortCollection { due_minor: 1250, collected_minor: 1000, currency: eur() }));
        // The on-account order goes without one.
        agent.deliver(&at(2, None)).unwrap();
        let route = agent.route_view(&r3).unwrap();
        assert_eq!(route.cash[0].expected_minor, 1000);
    }
}
