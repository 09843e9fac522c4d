//! A packer's work: put picked units of an order into a package under its
//! SSCC label (`packed`), seal it (`package_closed`) and set it down in a
//! staging lane for its van (`staged`).
//!
//! All three events go to the order document only: packing moves no stock
//! (the pick already took it out of the bin). What may be packed is what the
//! merged order view says was picked and not yet packed, line by line. A
//! package lives in one order; its whereabouts in the order view say whether
//! it is still open ([`Whereabouts::Packing`]) or sealed and on its way.

use std::collections::BTreeMap;

use waybill_shared::doc::DocId;
use waybill_shared::event::warehouse::{Dimensions, LineQuantity, PackageClosed, Packed, Staged};
use waybill_shared::event::{Event, Payload};
use waybill_shared::fold::OrderView;
use waybill_shared::fold::order::{PackageView, Whereabouts};
use waybill_shared::gs1::Sscc;
use waybill_shared::id::OrderId;
use waybill_shared::role::Role;

use super::{line_of, positive};
use crate::agent::Agent;
use crate::error::AgentError;

/// Longest staging area name accepted, in bytes: lanes and dock doors have
/// short names, and every event has a size limit.
const MAX_AREA_LEN: usize = 64;

impl Agent {
    /// Records picked units of `order` going into the package labelled
    /// `package` (an SSCC, bare or as a GS1 element string carrying (00)).
    ///
    /// `lines` are (line, quantity) pairs; a line named twice counts once
    /// with the quantities added. Each quantity must be at least 1 and, per
    /// line, no more than the units picked and not yet packed. The package
    /// may be new or still open in this order; a package already closed, or
    /// one that belongs to another order held on this device, is refused.
    /// `weight_g` is the weight so far, `dimensions` the outer size, both
    /// optional and, when given, more than zero.
    pub fn pack(
        &mut self,
        order: &OrderId,
        package: &str,
        lines: &[(u32, u32)],
        weight_g: Option<u32>,
        dimensions: Option<Dimensions>,
    ) -> Result<Event, AgentError> {
        self.require(Role::Packer, "pack")?;
        if lines.is_empty() {
            return Err(AgentError::Invalid("say which lines go into the package".into()));
        }
        let sscc = self.scan_package(package)?;
        check_weight(weight_g)?;
        check_dimensions(dimensions)?;
        let view = self.workable_order(order)?;
        match view.packages.iter().find(|p| p.sscc == sscc) {
            Some(p) if p.whereabouts != Whereabouts::Packing => {
                return Err(AgentError::Invalid(format!(
                    "package {sscc} is closed ({}): put the rest in a new package",
                    describe(&p.whereabouts)
                )));
            }
            Some(_) => {}
            None => {
                if let Some((other, _)) = self.find_package(&sscc)?
                    && &other != order
                {
                    return Err(AgentError::Invalid(format!(
                        "package {sscc} belongs to order {other}: use a new label for order {order}"
                    )));
                }
            }
        }
        let mut wanted: BTreeMap<u32, u32> = BTreeMap::new();
        for &(line, quantity) in lines {
            let quantity = positive(quantity)?;
            let total = wanted.entry(line).or_default();
            *total = total
                .checked_add(quantity)
                .ok_or_else(|| AgentError::Invalid(format!("the quantity for line {line} is too large")))?;
        }
        for (&line, &quantity) in &wanted {
            let l = line_of(&view, line)?;
            let left = l.picked.saturating_sub(l.packed);
            if quantity > left {
                return Err(AgentError::TooMany { what: "pack", asked: quantity, remaining: left });
            }
        }
        let payload = Payload::Packed(Packed {
            sscc,
            lines: wanted.into_iter().map(|(line, quantity)| LineQuantity { line, quantity }).collect(),
            weight_g,
            dimensions,
        });
        self.record(payload, &[DocId::Order(order.clone())], &[])
    }

    /// Records that the package labelled `package` is sealed: nothing more
    /// goes in. It must be a package of `order`, still open and not empty.
    /// `weight_g` is the final weight, optional and, when given, more than
    /// zero.
    pub fn close_package(
        &mut self,
        order: &OrderId,
        package: &str,
        weight_g: Option<u32>,
    ) -> Result<Event, AgentError> {
        self.require(Role::Packer, "close a package")?;
        let sscc = self.scan_package(package)?;
        check_weight(weight_g)?;
        let view = self.workable_order(order)?;
        let p = package_of(&view, &sscc)?;
        if p.whereabouts != Whereabouts::Packing {
            return Err(AgentError::Invalid(format!(
                "package {sscc} is already closed ({})",
                describe(&p.whereabouts)
            )));
        }
        if p.lines.values().all(|&q| q == 0) {
            return Err(AgentError::Invalid(format!(
                "package {sscc} is empty: pack something into it first"
            )));
        }
        let payload = Payload::PackageClosed(PackageClosed { sscc, weight_g });
        self.record(payload, &[DocId::Order(order.clone())], &[])
    }

    /// Records that the closed package labelled `package` is set down in
    /// staging area `area` (a lane or dock door; surrounding spaces are
    /// dropped). The package must be a package of `order` and closed, or
    /// staged elsewhere (it moves lanes); an open package, one already in
    /// `area`, or one that has left the warehouse is refused.
    pub fn stage(&mut self, order: &OrderId, package: &str, area: &str) -> Result<Event, AgentError> {
        self.require(Role::Packer, "stage a package")?;
        let area = area.trim();
        if area.is_empty() {
            return Err(AgentError::Invalid("say which staging area the package goes to".into()));
        }
        if area.len() > MAX_AREA_LEN {
            return Err(AgentError::Invalid(format!(
                "the staging area name is too long (at most {MAX_AREA_LEN} characters)"
            )));
        }
        let sscc = self.scan_package(package)?;
        let view = self.workable_order(order)?;
        let p = package_of(&view, &sscc)?;
        match &p.whereabouts {
            Whereabouts::Closed => {}
            Whereabouts::Staged { area: at } if at == area => {
                return Err(AgentError::Invalid(format!("package {sscc} is already staged at {area}")));
            }
            Whereabouts::Staged { .. } => {}
            Whereabouts::Packing => {
                return Err(AgentError::Invalid(format!(
                    "package {sscc} is still open: close it before staging"
                )));
            }
            w => {
                return Err(AgentError::Invalid(format!(
                    "package {sscc} is {}: it cannot be staged",
                    describe(w)
                )));
            }
        }
        let payload = Payload::Staged(Staged { sscc, area: area.to_owned() });
        self.record(payload, &[DocId::Order(order.clone())], &[])
    }
}

/// A package of an order view.
fn package_of<'a>(view: &'a OrderView, sscc: &Sscc) -> Result<&'a PackageView, AgentError> {
    view.packages.iter().find(|p| &p.sscc == sscc).ok_or_else(|| AgentError::NotFound {
        what: "package",
        id: format!("{sscc} in order {}", view.header.id),
    })
}

/// Where a package is, in words for the handheld.
fn describe(w: &Whereabouts) -> String {
    match w {
        Whereabouts::Packing => "being packed".into(),
        Whereabouts::Closed => "sealed at the pack station".into(),
        Whereabouts::Staged { area } => format!("staged at {area}"),
        Whereabouts::OnVan { van, route } => format!("on van {van}, route {route}"),
        Whereabouts::Delivered => "delivered".into(),
        Whereabouts::AttemptFailed { .. } => "on the van after a failed delivery attempt".into(),
        Whereabouts::AtDepot => "back at the depot".into(),
    }
}

/// Fails on a weight of zero grams: a scale that reads nothing is not a
/// weighing.
fn check_weight(weight_g: Option<u32>) -> Result<(), AgentError> {
    if weight_g == Some(0) {
        return Err(AgentError::Invalid("the weight must be more than 0 g".into()));
    }
    Ok(())
}

/// Fails on a package side of zero millimetres.
fn check_dimensions(dimensions: Option<Dimensions>) -> Result<(), AgentError> {
    if let Some(d) = dimensions
        && (d.length_mm == 0 || d.width_mm == 0 || d.height_mm == 0)
    {
        return Err(AgentError::Invalid("every side of the package must be more than 0 mm".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use tempfile::TempDir;
    use waybill_shared::doc::location::{Balance, Bin, LocationHeader};
    use waybill_shared::doc::order::{Address, OrderHeader, OrderLine};
    use waybill_shared::event::office::{Allocation, Cancelled, Held};
    use waybill_shared::fold::OrderStatus;
    use waybill_shared::gs1::Gtin;
    use waybill_shared::id::{BinId, DeviceId, LocationId};

    use super::*;
    use crate::agent::Profile;
    use crate::ops::picking::PickRequest;
    use waybill_shared::seed::{Seed, SeedOrder};

    const ITEM_A: &str = "09506000134352";
    const ITEM_B: &str = "10614141000415";
    const BOX_1: &str = "106141411234567897";
    const BOX_2: &str = "106141411234567903";

    fn loc() -> LocationId {
        LocationId::new("wh1").unwrap()
    }

    fn oid(id: &str) -> OrderId {
        OrderId::new(id).unwrap()
    }

    fn gtin(g: &str) -> Gtin {
        g.parse().unwrap()
    }

    fn order(id: &str) -> SeedOrder {
        SeedOrder {
            header: OrderHeader {
                id: oid(id),
                customer: "Ada".into(),
                ship_to: Address {
                    name: "Ada".into(),
                    line1: "1 Main St".into(),
                    line2: String::new(),
                    city: "Town".into(),
                    postcode: "1000".into(),
                    country: "BE".into(),
                    geo: None,
                },
                lines: vec![
                    OrderLine { line: 1, gtin: gtin(ITEM_A), description: "mugs".into(), quantity: 5 },
                    OrderLine { line: 2, gtin: gtin(ITEM_B), description: "plates".into(), quantity: 2 },
                ],
                promised: None,
                slot: None,
                location: Some(loc()),
                proof: Default::default(),
                payment: Default::default(),
                created_at: Utc::now(),
            },
            allocations: vec![
                Allocation { line: 1, location: loc(), quantity: 5 },
                Allocation { line: 2, location: loc(), quantity: 2 },
            ],
            pick_device: None,
            email: None,
            tracking_photo: false,
        }
    }

    fn seed() -> Seed {
        let bin = BinId::new("A-1").unwrap();
        Seed {
            locations: vec![LocationHeader {
                id: loc(),
                name: "Main".into(),
                geo: None,
                bins: vec![Bin { id: bin.clone(), walk: 1 }],
                epoch: 0,
                opening: vec![
                    Balance { bin: bin.clone(), gtin: gtin(ITEM_A), quantity: 10 },
                    Balance { bin, gtin: gtin(ITEM_B), quantity: 10 },
                ],
                cutoff: Default::default(),
                quotas: Vec::new(),
                time_zone: None,
            }],
            orders: vec![order("SO-1"), order("SO-2")],
            routes: vec![],
        }
    }

    fn store(device: &str, role: Role) -> (TempDir, Agent) {
        let dir = tempfile::tempdir().unwrap();
        let profile = Profile {
            device: DeviceId::new(device).unwrap(),
            role,
            location: Some(loc()),
            user: Some("sam".into()),
        };
        let agent = Agent::init(&dir.path().join("agent.db"), profile).unwrap();
        (dir, agent)
    }

    /// A device of `role` holding the seed's orders, nothing picked.
    fn agent(role: Role) -> (TempDir, Agent) {
        let (dir, mut agent) = store("pk-1", role);
        agent.import(&seed()).unwrap();
        (dir, agent)
    }

    /// A packer holding both orders as a picker left them after `picks`
    /// (order, line, item, quantity): the picker's store exports each order
    /// document and the packer merges it, as sync would bring it.
    fn packer_after(picks: &[(&str, u32, &str, u32)]) -> (TempDir, Agent) {
        let (_picker_dir, mut picker) = store("hh-1", Role::Picker);
        let mut seed = seed();
        for o in &mut seed.orders {
            o.pick_device = Some(DeviceId::new("hh-1").unwrap());
        }
        picker.import(&seed).unwrap();
        for &(order, line, item, quantity) in picks {
            let req = PickRequest {
                order: oid(order),
                line,
                bin: "WB:BIN:wh1:A-1".into(),
                item: item.into(),
                quantity,
                override_reason: None,
            };
            picker.pick(&req).unwrap();
        }
        let (dir, mut packer) = store("pk-1", Role::Packer);
        for order in ["SO-1", "SO-2"] {
            let bytes = picker.export(&DocId::Order(oid(order))).unwrap();
            assert_eq!(packer.merge_doc(&bytes).unwrap(), DocId::Order(oid(order)));
        }
        (dir, packer)
    }

    fn packer_with_picks() -> (TempDir, Agent) {
        packer_after(&[("SO-1", 1, ITEM_A, 5), ("SO-1", 2, ITEM_B, 2)])
    }

    fn pending(a: &Agent) -> i64 {
        a.status().unwrap().pending_events
    }

    fn package(a: &mut Agent, order: &str, sscc: &str) -> PackageView {
        let view = a.order_view(&oid(order)).unwrap();
        view.packages.into_iter().find(|p| p.sscc.as_str() == sscc).unwrap()
    }

    fn invalid_says(r: Result<Event, AgentError>, words: &str) {
        match r {
            Err(AgentError::Invalid(m)) => assert!(m.contains(words), "{m:?} should say {words:?}"),
            other => panic!("expected Invalid saying {words:?}, got {other:?}"),
        }
    }

    #[test]
    fn only_a_packer_packs_closes_and_stages() {
        let (_dir, mut a) = agent(Role::Picker);
        let o = oid("SO-1");
        assert!(matches!(
            a.pack(&o, BOX_1, &[(1, 1)], None, None),
            Err(AgentError::NotAllowed { role: Role::Picker, action: "pack" })
        ));
        assert!(matches!(a.close_package(&o, BOX_1, None), Err(AgentError::NotAllowed { .. })));
        assert!(matches!(a.stage(&o, BOX_1, "lane-1"), Err(AgentError::NotAllowed { .. })));
        assert_eq!(pending(&a), 0);
    }

    #[test]
    fn pack_refuses_bad_input_and_writes_nothing() {
        let (_dir, mut a) = agent(Role::Packer);
        let o = oid("SO-1");
        // Nothing picked yet: nothing to pack.
        assert!(matches!(
            a.pack(&o, BOX_1, &[(1, 1)], None, None),
            Err(AgentError::TooMany { what: "pack", asked: 1, remaining: 0 })
        ));
        assert!(matches!(
            a.pack(&oid("SO-404"), BOX_1, &[(1, 1)], None, None),
            Err(AgentError::NotFound { what: "order", .. })
        ));
        // A bad check digit, something that is no barcode, an item instead of a package.
        assert!(matches!(
            a.pack(&o, "106141411234567898", &[(1, 1)], None, None),
            Err(AgentError::BadScan(_))
        ));
        assert!(matches!(a.pack(&o, "box", &[(1, 1)], None, None), Err(AgentError::BadScan(_))));
        assert!(matches!(a.pack(&o, ITEM_A, &[(1, 1)], None, None), Err(AgentError::WrongScan { .. })));
        assert!(matches!(
            a.pack(&o, BOX_1, &[(9, 1)], None, None),
            Err(AgentError::NotFound { what: "line", .. })
        ));
        invalid_says(a.pack(&o, BOX_1, &[(1, 0)], None, None), "at least 1");
        invalid_says(a.pack(&o, BOX_1, &[], None, None), "which lines");
        invalid_says(a.pack(&o, BOX_1, &[(1, 1)], Some(0), None), "weight");
        let flat = Dimensions { length_mm: 300, width_mm: 200, height_mm: 0 };
        invalid_says(a.pack(&o, BOX_1, &[(1, 1)], None, Some(flat)), "0 mm");
        assert_eq!(pending(&a), 0);
        assert!(a.order_view(&o).unwrap().packages.is_empty());
    }

    #[test]
    fn pack_close_stage() {
        let (_dir, mut a) = packer_with_picks();
        let o = oid("SO-1");
        let size = Dimensions { length_mm: 300, width_mm: 200, height_mm: 150 };
        let e = a.pack(&o, BOX_1, &[(1, 2), (2, 2)], Some(900), Some(size)).unwrap();
        let Payload::Packed(p) = &e.payload else { panic!("{e:?}") };
        assert_eq!(p.sscc.as_str(), BOX_1);
        assert_eq!(
            p.lines,
            vec![LineQuantity { line: 1, quantity: 2 }, LineQuantity { line: 2, quantity: 2 }]
        );
        assert_eq!(p.dimensions, Some(size));
        // More into the same open package, scanned as an element string.
        a.pack(&o, &format!("(00){BOX_1}"), &[(1, 1)], None, None).unwrap();
        let view = a.order_view(&o).unwrap();
        assert_eq!(view.lines.iter().map(|l| l.packed).collect::<Vec<_>>(), vec![3, 2]);
        let p = package(&mut a, "SO-1", BOX_1);
        assert_eq!(p.lines, BTreeMap::from([(1, 3), (2, 2)]));
        assert_eq!(p.whereabouts, Whereabouts::Packing);

        let e = a.close_package(&o, BOX_1, Some(1_250)).unwrap();
        assert!(matches!(e.payload, Payload::PackageClosed(PackageClosed { weight_g: Some(1_250), .. })));
        let p = package(&mut a, "SO-1", BOX_1);
        assert_eq!((p.whereabouts, p.weight_g), (Whereabouts::Closed, Some(1_250)));

        a.stage(&o, BOX_1, "  lane-3 ").unwrap();
        assert_eq!(package(&mut a, "SO-1", BOX_1).whereabouts, Whereabouts::Staged { area: "lane-3".into() });
        // It may move lanes.
        a.stage(&o, BOX_1, "dock-2").unwrap();
        assert_eq!(package(&mut a, "SO-1", BOX_1).whereabouts, Whereabouts::Staged { area: "dock-2".into() });
        // Units picked but not packed keep the order at picked.
        assert_eq!(a.order_view(&o).unwrap().status, OrderStatus::Picked);
        a.pack(&o, BOX_2, &[(1, 2)], None, None).unwrap();
        assert_eq!(a.order_view(&o).unwrap().status, OrderStatus::Packed);
        // Only this device's own events wait for the server.
        assert_eq!(pending(&a), 6);
    }

    #[test]
    fn cannot_pack_more_than_picked_and_not_yet_packed() {
        let (_dir, mut a) = packer_with_picks();
        let o = oid("SO-1");
        a.pack(&o, BOX_1, &[(1, 4)], None, None).unwrap();
        assert!(matches!(
            a.pack(&o, BOX_2, &[(1, 2)], None, None),
            Err(AgentError::TooMany { what: "pack", asked: 2, remaining: 1 })
        ));
        // A line named twice counts in total.
        assert!(matches!(
            a.pack(&o, BOX_2, &[(2, 1), (2, 2)], None, None),
            Err(AgentError::TooMany { what: "pack", asked: 3, remaining: 2 })
        ));
        let e = a.pack(&o, BOX_2, &[(2, 1), (1, 1), (2, 1)], None, None).unwrap();
        let Payload::Packed(p) = &e.payload else { panic!("{e:?}") };
        assert_eq!(
            p.lines,
            vec![LineQuantity { line: 1, quantity: 1 }, LineQuantity { line: 2, quantity: 2 }]
        );
        assert!(a.pack_queue().unwrap().is_empty());
    }

    #[test]
    fn a_closed_package_takes_nothing_more() {
        let (_dir, mut a) = packer_with_picks();
        let o = oid("SO-1");
        a.pack(&o, BOX_1, &[(1, 2)], None, None).unwrap();
        a.close_package(&o, BOX_1, None).unwrap();
        let before = pending(&a);
        invalid_says(a.pack(&o, BOX_1, &[(1, 1)], None, None), "is closed");
        invalid_says(a.close_package(&o, BOX_1, None), "already closed");
        a.stage(&o, BOX_1, "lane-1").unwrap();
        invalid_says(a.pack(&o, BOX_1, &[(1, 1)], None, None), "is closed (staged at lane-1)");
        invalid_says(a.close_package(&o, BOX_1, None), "already closed");
        invalid_says(a.stage(&o, BOX_1, "lane-1"), "already staged at lane-1");
        assert_eq!(pending(&a), before + 1);
    }

    #[test]
    fn close_and_stage_need_a_known_package_in_the_right_state() {
        let (_dir, mut a) = packer_with_picks();
        let o = oid("SO-1");
        assert!(matches!(
            a.close_package(&o, BOX_1, None),
            Err(AgentError::NotFound { what: "package", .. })
        ));
        assert!(matches!(a.stage(&o, BOX_1, "lane-1"), Err(AgentError::NotFound { what: "package", .. })));
        a.pack(&o, BOX_1, &[(1, 1)], None, None).unwrap();
        // In this order, not in another.
        assert!(matches!(
            a.close_package(&oid("SO-2"), BOX_1, None),
            Err(AgentError::NotFound { what: "package", .. })
        ));
        invalid_says(a.stage(&o, BOX_1, "lane-1"), "still open");
        invalid_says(a.stage(&o, BOX_1, "   "), "staging area");
        invalid_says(a.stage(&o, BOX_1, &"x".repeat(65)), "too long");
        invalid_says(a.close_package(&o, BOX_1, Some(0)), "weight");
        assert!(matches!(a.close_package(&o, ITEM_A, None), Err(AgentError::WrongScan { .. })));
        assert_eq!(package(&mut a, "SO-1", BOX_1).whereabouts, Whereabouts::Packing);
    }

    #[test]
    fn a_label_of_another_order_is_refused() {
        let (_dir, mut a) = packer_after(&[("SO-1", 1, ITEM_A, 1), ("SO-2", 1, ITEM_A, 1)]);
        a.pack(&oid("SO-1"), BOX_1, &[(1, 1)], None, None).unwrap();
        invalid_says(a.pack(&oid("SO-2"), BOX_1, &[(1, 1)], None, None), "belongs to order SO-1");
        a.pack(&oid("SO-2"), BOX_2, &[(1, 1)], None, None).unwrap();
    }

    #[test]
    fn held_and_cancelled_orders_are_not_packed() {
        let (_dir, mut a) = packer_with_picks();
        let o = oid("SO-1");
        a.pack(&o, BOX_1, &[(1, 1)], None, None).unwrap();
        // As if the office's events had arrived by sync.
        a.record(Payload::Held(Held { reason: "fraud check".into() }), &[DocId::Order(o.clone())], &[])
            .unwrap();
        invalid_says(a.pack(&o, BOX_1, &[(1, 1)], None, None), "on hold");
        invalid_says(a.close_package(&o, BOX_1, None), "on hold");
        let c = Payload::Cancelled(Cancelled { reason: "customer".into() });
        a.record(c, &[DocId::Order(o.clone())], &[]).unwrap();
        invalid_says(a.pack(&o, BOX_1, &[(1, 1)], None, None), "cancelled");
    }
}
