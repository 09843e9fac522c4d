//! The order view: status, quantities per line, packages and where they
//! are, proof of delivery, payment, the timeline and the exceptions.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::blob::BlobHash;
use crate::doc::Contents;
use crate::doc::order::{Address, OrderHeader};
use crate::event::Payload;
use crate::event::delivery::{FailReason, Proof};
use crate::event::office::{Allocation, PickAssigned, Replaces};
use crate::event_id::EventId;
use crate::fold::customer::{Customer, FeedbackView, ReturnRequestView};
use crate::fold::exception::FAR_DELIVERY_M;
use crate::fold::payment::{PaymentView, Payments};
use crate::fold::{Exception, ExceptionKind, OrderStatus, TimelineEntry, address, order_events, resolve};
use crate::geo::Geo;
use crate::gs1::{Gtin, Sscc};
use crate::id::{DeviceId, LocationId, RouteId, VanId};

/// Quantities of one order line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineView {
    /// Line number.
    pub line: u32,
    /// The item.
    pub gtin: Option<Gtin>,
    /// Units ordered.
    pub ordered: u32,
    /// Units allocated, over all locations.
    pub allocated: u32,
    /// Units picked (net of put-backs), of the right item.
    pub picked: u32,
    /// Units reported short.
    pub short: u32,
    /// Units packed.
    pub packed: u32,
    /// Units in packages that were loaded on a van.
    pub loaded: u32,
    /// Units delivered.
    pub delivered: u32,
    /// Units returned.
    pub returned: u32,
    /// Where it is allocated.
    pub allocations: Vec<Allocation>,
}

/// Where a package is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum Whereabouts {
    /// Being packed.
    Packing,
    /// Sealed, at the pack station.
    Closed,
    /// In a staging lane.
    Staged {
        /// The lane.
        area: String,
    },
    /// On a van.
    OnVan {
        /// The van.
        van: VanId,
        /// The route.
        route: RouteId,
    },
    /// With the customer.
    Delivered,
    /// Still on the van after a failed attempt.
    AttemptFailed {
        /// Why the attempt failed.
        reason: FailReason,
    },
    /// Back at the depot, off the van.
    AtDepot,
}

/// One package of the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PackageView {
    /// Its label.
    pub sscc: Sscc,
    /// Units per line inside.
    pub lines: BTreeMap<u32, u32>,
    /// Weight in grams.
    pub weight_g: Option<u32>,
    /// Outer volume in cubic centimetres, from its dimensions.
    pub volume_cm3: Option<u32>,
    /// Where it is.
    pub whereabouts: Whereabouts,
    /// The route and stop it is assigned to.
    pub route: Option<(RouteId, u32)>,
}

/// A proof of delivery as the office sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProofView {
    /// The `delivered` event.
    pub event: EventId,
    /// The driver's device.
    pub device: DeviceId,
    /// Device time of the delivery.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The packages handed over.
    pub packages: Vec<Sscc>,
    /// The proof.
    pub proof: Proof,
    /// Blobs named but not held here (yet).
    pub missing_blobs: Vec<BlobHash>,
}

/// The merged state of one order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderView {
    /// The header as taken in.
    pub header: OrderHeader,
    /// Where the order is in its life.
    pub status: OrderStatus,
    /// The address in force (the latest amendment, or the header's).
    pub ship_to: Address,
    /// Whether a hold is in force: the office's, or payment's (a prepaid
    /// order awaiting payment).
    pub held: bool,
    /// Whether the order was cancelled.
    pub cancelled: bool,
    /// Quantities per line.
    pub lines: Vec<LineView>,
    /// Packages.
    pub packages: Vec<PackageView>,
    /// Proofs of delivery.
    pub proofs: Vec<ProofView>,
    /// Payment terms and where payment stands.
    pub payment: PaymentView,
    /// The customer's rating, if they gave one.
    pub feedback: Option<FeedbackView>,
    /// Returns the customer asked for on the tracking page.
    pub return_requests: Vec<ReturnRequestView>,
    /// Picking assignments, in the order made.
    pub pickers: Vec<PickAssigned>,
    /// Every exception, open or resolved.
    pub exceptions: Vec<Exception>,
    /// Every event in fold order.
    pub timeline: Vec<TimelineEntry>,
    /// Events that could not be read (key and why).
    pub unreadable: Vec<(String, String)>,
}

impl OrderView {
    /// The location it ships from: the header's, or the first its lines
    /// are allocated at.
    pub fn ships_from(&self) -> Option<&LocationId> {
        self.header
            .location
            .as_ref()
            .or_else(|| self.lines.iter().flat_map(|l| &l.allocations).map(|a| &a.location).next())
    }

    /// The exceptions still open.
    pub fn open_exceptions(&self) -> impl Iterator<Item = &Exception> {
        self.exceptions.iter().filter(|e| e.is_open())
    }
}

#[derive(Default)]
struct Package {
    lines: BTreeMap<u32, u32>,
    weight_g: Option<u32>,
    volume_cm3: Option<u32>,
    whereabouts: Option<Whereabouts>,
    route: Option<(RouteId, u32)>,
    loads: Vec<(EventId, VanId)>,
    on_van: bool,
    deliveries: Vec<EventId>,
}

/// Folds an order document into its view. `has_blob` says whether this
/// replica holds a blob, for proof-of-delivery checks.
pub fn fold(contents: &Contents<OrderHeader>, has_blob: &dyn Fn(&BlobHash) -> bool) -> OrderView {
    let header = &contents.header;
    let ordered = order_events(&contents.events);
    let mut lines: BTreeMap<u32, LineView> = header
        .lines
        .iter()
        .map(|l| {
            (
                l.line,
                LineView {
                    line: l.line,
                    gtin: Some(l.gtin.clone()),
                    ordered: l.quantity,
                    ..Default::default()
                },
            )
        })
        .collect();
    let mut found: Vec<(String, ExceptionKind, Vec<EventId>)> = Vec::new();
    let mut packages: BTreeMap<Sscc, Package> = BTreeMap::new();
    let mut pick_events: BTreeMap<u32, Vec<EventId>> = BTreeMap::new();
    // Per line, the events that can take packed above picked: packs and
    // put-backs.
    let mut pack_events: BTreeMap<u32, Vec<EventId>> = BTreeMap::new();
    let mut return_events: BTreeMap<u32, Vec<EventId>> = BTreeMap::new();
    // Fulfilment work that sorts after a cancel.
    let mut after_cancel: Vec<EventId> = Vec::new();
    let mut short_events: BTreeMap<u32, Vec<EventId>> = BTreeMap::new();
    let mut ship_to = header.ship_to.clone();
    let mut amendments: Vec<(EventId, Option<Replaces>)> = Vec::new();
    let mut held = false;
    let mut cancels: Vec<EventId> = Vec::new();
    let mut pickers: Vec<PickAssigned> = Vec::new();
    let mut dispatches: Vec<(EventId, Option<EventId>)> = Vec::new();
    let mut deliveries: Vec<EventId> = Vec::new();
    let mut proofs = Vec::new();
    let mut returned_any = false;
    let mut refunded = false;
    let mut payments = Payments::default();
    let mut customer = Customer::default();

    let unknown_line = |found: &mut Vec<_>, line: u32, id: &EventId| {
        found.push((format!("unknown_line:{line}"), ExceptionKind::UnknownLine { line }, vec![id.clone()]));
    };

    for e in &ordered.live {
        let id = &e.id;
        if !cancels.is_empty() && is_work(&e.payload) {
            after_cancel.push(id.clone());
        }
        match &e.payload {
            Payload::AddressAmended(a) => {
                ship_to = a.ship_to.clone();
                amendments.push((id.clone(), a.replaces.clone()));
            }
            Payload::Held(_) => held = true,
            Payload::Released(_) => held = false,
            Payload::Cancelled(_) => cancels.push(id.clone()),
            Payload::Allocated(a) => {
                let mut replaced = std::collections::BTreeSet::new();
                for alloc in &a.allocations {
                    let Some(line) = lines.get_mut(&alloc.line) else {
                        unknown_line(&mut found, alloc.line, id);
                        continue;
                    };
                    if replaced.insert(alloc.line) {
                        line.allocations.clear();
                    }
                    line.allocations.push(alloc.clone());
                    line.allocated = line.allocations.iter().map(|a| a.quantity).sum();
                }
            }
            Payload::PickAssigned(p) => pickers.push(p.clone()),
            Payload::PackageAssigned(p) => {
                packages.entry(p.sscc.clone()).or_default().route = Some((p.route.clone(), p.stop));
            }
            Payload::Picked(p) => match lines.get_mut(&p.line) {
                None => unknown_line(&mut found, p.line, id),
                Some(line) if line.gtin.as_ref() != Some(&p.gtin) => {
                    let expected = line.gtin.clone().unwrap_or_else(|| p.gtin.clone());
                    found.push((
                        format!("wrong_item:{}:{}", p.line, id),
                        ExceptionKind::WrongItem { line: p.line, expected, picked: p.gtin.clone() },
                        vec![id.clone()],
                    ));
                }
                Some(line) => {
                    line.picked += p.quantity;
                    pick_events.entry(p.line).or_default().push(id.clone());
                }
            },
            Payload::PutBack(p) => match lines.get_mut(&p.line) {
                None => unknown_line(&mut found, p.line, id),
                Some(line) => {
                    if line.gtin.as_ref() == Some(&p.gtin) {
                        line.picked = line.picked.saturating_sub(p.quantity);
                    }
                    pick_events.entry(p.line).or_default().push(id.clone());
                    pack_events.entry(p.line).or_default().push(id.clone());
                }
            },
            Payload::ShortPicked(s) => match lines.get_mut(&s.line) {
                None => unknown_line(&mut found, s.line, id),
                Some(line) => {
                    line.short += s.quantity;
                    short_events.entry(s.line).or_default().push(id.clone());
                }
            },
            Payload::Packed(p) => {
                let package = packages.entry(p.sscc.clone()).or_default();
                for lq in &p.lines {
                    match lines.get_mut(&lq.line) {
                        None => unknown_line(&mut found, lq.line, id),
                        Some(line) => {
                            line.packed += lq.quantity;
                            pack_events.entry(lq.line).or_default().push(id.clone());
                            *package.lines.entry(lq.line).or_default() += lq.quantity;
                        }
                    }
                }
                package.weight_g = p.weight_g.or(package.weight_g);
                package.volume_cm3 = p.dimensions.map(|d| d.volume_cm3()).or(package.volume_cm3);
                package.whereabouts.get_or_insert(Whereabouts::Packing);
            }
            Payload::PackageClosed(c) => {
                let package = packages.entry(c.sscc.clone()).or_default();
                package.weight_g = c.weight_g.or(package.weight_g);
                package.whereabouts = Some(Whereabouts::Closed);
            }
            Payload::Staged(s) => {
                packages.entry(s.sscc.clone()).or_default().whereabouts =
                    Some(Whereabouts::Staged { area: s.area.clone() });
            }
            Payload::Loaded(l) => {
                let package = packages.entry(l.sscc.clone()).or_default();
                if package.on_van && package.loads.last().is_some_and(|(_, van)| van != &l.van) {
                    let (events, mut vans): (Vec<_>, Vec<_>) = package.loads.iter().cloned().unzip();
                    vans.push(l.van.clone());
                    let mut events = events;
                    events.push(id.clone());
                    found.push((
                        format!("loaded_on_two_vans:{}", l.sscc),
                        ExceptionKind::LoadedOnTwoVans { sscc: l.sscc.clone(), vans },
                        events,
                    ));
                }
                package.loads.push((id.clone(), l.van.clone()));
                package.on_van = true;
                package.whereabouts = Some(Whereabouts::OnVan { van: l.van.clone(), route: l.route.clone() });
            }
            Payload::OutForDelivery(o) => dispatches.push((id.clone(), o.address_seen.clone())),
            Payload::Delivered(d) => {
                deliveries.push(id.clone());
                if let Some(c) = &d.collection {
                    payments.collected(id, c);
                }
                for sscc in &d.packages {
                    let package = packages.entry(sscc.clone()).or_default();
                    if package.deliveries.last() != Some(id) {
                        package.deliveries.push(id.clone());
                    }
                    package.on_van = false;
                    package.whereabouts = Some(Whereabouts::Delivered);
                }
                let mut missing_blobs: Vec<BlobHash> =
                    d.proof.blobs().filter(|b| !has_blob(b)).copied().collect();
                // One blob may be the photo and the signature, or the proof
                // of two deliveries: one exception per blob, naming each.
                missing_blobs.sort_unstable();
                missing_blobs.dedup();
                for blob in &missing_blobs {
                    let key = format!("proof_blob_missing:{blob}");
                    match found.iter_mut().find(|(k, ..)| *k == key) {
                        Some((.., events)) => events.push(id.clone()),
                        None => {
                            found.push((
                                key,
                                ExceptionKind::ProofBlobMissing { blob: *blob },
                                vec![id.clone()],
                            ));
                        }
                    }
                }
                proofs.push(ProofView {
                    event: id.clone(),
                    device: id.device.clone(),
                    at: e.at,
                    packages: d.packages.clone(),
                    proof: d.proof.clone(),
                    missing_blobs,
                });
            }
            Payload::AttemptFailed(a) => {
                for sscc in &a.packages {
                    let package = packages.entry(sscc.clone()).or_default();
                    if package.deliveries.is_empty() {
                        package.whereabouts = Some(Whereabouts::AttemptFailed { reason: a.reason });
                    }
                }
            }
            Payload::ReturnedToDepot(r) => {
                let package = packages.entry(r.sscc.clone()).or_default();
                package.on_van = false;
                package.whereabouts = Some(Whereabouts::AtDepot);
            }
            Payload::ReturnReceived(r) => {
                returned_any = true;
                for rl in &r.lines {
                    match lines.get_mut(&rl.line) {
                        None => unknown_line(&mut found, rl.line, id),
                        Some(line) => {
                            line.returned += rl.quantity;
                            return_events.entry(rl.line).or_default().push(id.clone());
                        }
                    }
                }
            }
            Payload::RefundRecorded(_) => refunded = true,
            Payload::FeedbackGiven(f) => customer.feedback(e, f),
            Payload::ReturnRequested(r) => customer.requested(e, r),
            Payload::ReturnAuthorised(a) => customer.authorised(a),
            Payload::PaymentAuthorised(p) => {
                payments.authorised(id, &p.reference, p.amount_minor, &p.currency)
            }
            Payload::PaymentCaptured(p) => payments.captured(id, &p.reference, p.amount_minor, &p.currency),
            Payload::OrderCreated(_)
            | Payload::ExceptionResolved(_)
            | Payload::Voided(_)
            | Payload::ArrivedAtStop(_)
            | Payload::StopInserted(_)
            | Payload::Received(_)
            | Payload::PutAway(_)
            | Payload::Adjusted(_)
            | Payload::Counted(_)
            | Payload::Transferred(_)
            | Payload::QuotaGranted(_)
            | Payload::QuotaReleased(_)
            | Payload::Sold(_)
            | Payload::CashHandedIn(_)
            | Payload::TrackingRevoked(_) => {}
        }
    }

    for line in lines.values() {
        // Loaded and delivered units are counted from package contents below,
        // each package once, so they cannot pass packed; returns can.
        if line.packed > line.picked {
            let kind = ExceptionKind::OverPack { line: line.line, picked: line.picked, packed: line.packed };
            let events = pack_events.get(&line.line).cloned().unwrap_or_default();
            found.push((format!("over_pack:{}", line.line), kind, events));
        }
        if line.picked > line.ordered {
            let kind =
                ExceptionKind::OverPick { line: line.line, ordered: line.ordered, picked: line.picked };
            found.push((format!("over_pick:{}", line.line), kind, pick_events[&line.line].clone()));
        }
        if let Some(events) = short_events.get(&line.line) {
            let kind = ExceptionKind::ShortPick { line: line.line, short: line.short };
            found.push((format!("short_pick:{}", line.line), kind, events.clone()));
        }
    }
    for (sscc, package) in &packages {
        // Counted here, not at the load or delivery, so a package counts in
        // full, once, whatever order its packing, loading and delivery events
        // sort in.
        for (line, qty) in &package.lines {
            if let Some(l) = lines.get_mut(line) {
                if !package.loads.is_empty() {
                    l.loaded += qty;
                }
                if !package.deliveries.is_empty() {
                    l.delivered += qty;
                }
            }
        }
        if package.deliveries.len() > 1 {
            let kind = ExceptionKind::DeliveredTwice { sscc: sscc.clone() };
            found.push((format!("delivered_twice:{sscc}"), kind, package.deliveries.clone()));
        }
        if package.lines.is_empty() && (!package.deliveries.is_empty() || !package.loads.is_empty()) {
            let mut events: Vec<EventId> = package.loads.iter().map(|(e, _)| e.clone()).collect();
            events.extend(package.deliveries.iter().cloned());
            found.push((
                format!("unknown_package:{sscc}"),
                ExceptionKind::UnknownPackage { sscc: sscc.clone() },
                events,
            ));
        }
    }
    for line in lines.values().filter(|l| l.returned > l.delivered) {
        let kind =
            ExceptionKind::OverReturn { line: line.line, delivered: line.delivered, returned: line.returned };
        let events = return_events.get(&line.line).cloned().unwrap_or_default();
        found.push((format!("over_return:{}", line.line), kind, events));
    }
    if !after_cancel.is_empty() {
        let events = cancels.iter().chain(&after_cancel).cloned().collect();
        found.push(("work_after_cancel:order".into(), ExceptionKind::WorkAfterCancel, events));
    }
    let concurrent = address::concurrent(&amendments);
    if !concurrent.is_empty() {
        let kind = ExceptionKind::ConcurrentAddressAmendments;
        found.push(("concurrent_address_amendments:order".into(), kind, concurrent));
    }
    let amendments: Vec<EventId> = amendments.into_iter().map(|(id, _)| id).collect();
    if !cancels.is_empty() && !deliveries.is_empty() {
        let events = cancels.iter().chain(&deliveries).cloned().collect();
        found.push(("delivered_after_cancel:order".into(), ExceptionKind::DeliveredAfterCancel, events));
    }
    // A dispatch that did not see the latest address: it names the amendments
    // after the one it saw.
    let mut involved = std::collections::BTreeSet::new();
    for (dispatch, seen) in &dispatches {
        let after_seen =
            seen.as_ref().and_then(|s| amendments.iter().position(|a| a == s)).map_or(0, |i| i + 1);
        if after_seen < amendments.len() {
            involved.insert(dispatch.clone());
            involved.extend(amendments[after_seen..].iter().cloned());
        }
    }
    if !involved.is_empty() {
        let kind = ExceptionKind::AddressAmendedAfterDispatch;
        found.push(("address_amended_after_dispatch:order".into(), kind, involved.into_iter().collect()));
    }

    far_deliveries(&proofs, &ship_to, &mut found);
    let payment = payments.finish(&header.payment, &deliveries, &mut found);
    let (feedback, return_requests) = customer.finish(&mut found);
    let held = held || payment.holds();

    let exceptions = resolve(found, &ordered.live);
    let lines: Vec<LineView> = lines.into_values().collect();
    let packages: Vec<PackageView> = packages
        .into_iter()
        .map(|(sscc, p)| PackageView {
            sscc,
            lines: p.lines,
            weight_g: p.weight_g,
            volume_cm3: p.volume_cm3,
            whereabouts: p.whereabouts.unwrap_or(Whereabouts::Packing),
            route: p.route,
        })
        .collect();
    let facts = Facts {
        held,
        cancelled: !cancels.is_empty(),
        open_exceptions: exceptions.iter().any(Exception::is_open),
        assigned: !pickers.is_empty(),
        dispatched: !dispatches.is_empty(),
        returned: returned_any,
        refunded,
    };
    let status = facts.status(&lines, &packages);
    OrderView {
        header: header.clone(),
        status,
        ship_to,
        held,
        cancelled: !cancels.is_empty(),
        lines,
        packages,
        proofs,
        payment,
        feedback,
        return_requests,
        pickers,
        exceptions,
        timeline: ordered.timeline,
        unreadable: contents.unreadable.clone(),
    }
}

/// Flags each delivery whose proof's GPS position is more than
/// [`FAR_DELIVERY_M`] from the address in force at the end of the fold (the
/// one the office and the map show). Both are known only once every event
/// is folded, so the result does not depend on the order events arrived in.
/// A position's accuracy counts in its favour. A proof without GPS, or an
/// address without a point, is not judged.
fn far_deliveries(
    proofs: &[ProofView],
    ship_to: &Address,
    found: &mut Vec<(String, ExceptionKind, Vec<EventId>)>,
) {
    let Some(home) = ship_to.geo else { return };
    for p in proofs {
        let Some(distance) = proof_distance_m(&p.proof, &home) else { continue };
        // A fix is only as good as its accuracy: judged at its nearest. In
        // whole metres, so a last-bit difference between devices' maths
        // does not tip the decision.
        let accuracy = p.proof.gps.and_then(|g| g.accuracy_m).map_or(0.0, f64::from);
        if (distance - accuracy).round() > f64::from(FAR_DELIVERY_M) {
            // Below 40,000 km, so it fits a u32.
            let kind = ExceptionKind::DeliveredFarFromAddress {
                distance_m: distance.round() as u32,
                limit_m: FAR_DELIVERY_M,
            };
            found.push((format!("delivered_far_from_address:{}", p.event), kind, vec![p.event.clone()]));
        }
    }
}

/// Metres from `address` to where the device was when `proof` was
/// recorded; `None` without GPS or with GPS that is not a point on the Earth.
pub fn proof_distance_m(proof: &Proof, address: &Geo) -> Option<f64> {
    let gps = proof.gps?;
    let at = Geo::new(gps.lat, gps.lon).ok()?;
    Some(address.distance_m(&at))
}

/// Whether `payload` is fulfilment work, which a cancelled order should no
/// longer get. Deliveries have their own exception; put-backs, returns to
/// the depot and received returns undo work, as a cancel asks.
fn is_work(payload: &Payload) -> bool {
    matches!(
        payload,
        Payload::Picked(_)
            | Payload::ShortPicked(_)
            | Payload::Packed(_)
            | Payload::PackageClosed(_)
            | Payload::Staged(_)
            | Payload::Loaded(_)
            | Payload::OutForDelivery(_)
            | Payload::AttemptFailed(_)
    )
}

struct Facts {
    held: bool,
    cancelled: bool,
    open_exceptions: bool,
    assigned: bool,
    dispatched: bool,
    returned: bool,
    refunded: bool,
}

impl Facts {
    fn status(&self, lines: &[LineView], packages: &[PackageView]) -> OrderStatus {
        use OrderStatus::*;
        let any_delivered = lines.iter().any(|l| l.delivered > 0);
        let done = |s| if self.open_exceptions { s } else { Completed };
        let is = |w: fn(&Whereabouts) -> bool| packages.iter().any(|p| w(&p.whereabouts));
        let all_picked = lines.iter().all(|l| l.picked + l.short >= l.ordered);
        let all_packed = all_picked && lines.iter().all(|l| l.packed >= l.picked);
        let all_delivered = !packages.is_empty()
            && packages.iter().all(|p| p.whereabouts == Whereabouts::Delivered)
            && lines.iter().all(|l| l.packed + l.short >= l.ordered);
        if self.cancelled && !any_delivered {
            Cancelled
        } else if self.returned {
            if self.refunded { done(Returned) } else { Returned }
        } else if all_delivered {
            done(Delivered)
        } else if self.held {
            Held
        } else if is(|w| matches!(w, Whereabouts::AttemptFailed { .. } | Whereabouts::AtDepot)) {
            Attempted
        } else if self.dispatched {
            OutForDelivery
        } else if is(|w| matches!(w, Whereabouts::OnVan { .. })) {
            Shipped
        } else if !packages.is_empty() && all_packed {
            Packed
        } else if all_picked && lines.iter().any(|l| l.picked > 0) {
            Picked
        } else if self.assigned || lines.iter().any(|l| l.picked > 0 || l.short > 0) {
            Picking
        } else if lines.iter().any(|l| l.allocated > 0) {
            Allocated
        } else {
            Created
        }
    }
}
