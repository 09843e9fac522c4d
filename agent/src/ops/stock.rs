//! Stock work at the device's own location: receive goods into a bin
//! (`received`), move them to a storage bin (`put_away`), count a bin
//! (`counted`) and book a change with a reason (`adjusted`).
//!
//! Each event goes to the current epoch document of the location; none
//! touches an order. Pickers and packers both do this work (the shared write
//! policy lets any warehouse role write stock moves; the office does its
//! stock work from the server, not from a handheld). Checks run against the
//! merged stock view: a device does not move or remove units its view does
//! not show. A count records what the device showed (`expected`) next to
//! what was on the shelf, so counts merge correctly with picks made on other
//! devices meanwhile.

use waybill_shared::event::stock::{AdjustReason, Adjusted, Counted, PutAway, Received};
use waybill_shared::event::{Event, Payload};
use waybill_shared::role::Role;

use super::positive;
use crate::agent::Agent;
use crate::error::AgentError;

impl Agent {
    /// Fails unless the device's role does stock work (picker or packer).
    fn require_stock_role(&self, action: &'static str) -> Result<(), AgentError> {
        match self.profile().role {
            Role::Picker | Role::Packer => Ok(()),
            role => Err(AgentError::NotAllowed { role, action }),
        }
    }

    /// Records `quantity` units of the scanned `item` arriving into `bin` at
    /// this device's location. `bin` is a bin label or a bare bin id; `item`
    /// a GTIN or a GS1 element string, whose lot and expiry, if it carries
    /// them, are recorded with the receipt.
    pub fn receive(&mut self, bin: &str, item: &str, quantity: u32) -> Result<Event, AgentError> {
        self.require_stock_role("receive stock")?;
        let quantity = positive(quantity)?;
        let (location, bin) = self.scan_bin(bin)?;
        let item = self.scan_item(item)?;
        let quantity = item.units(quantity)?;
        let stock = self.stock_doc(&location)?;
        let payload = Payload::Received(Received {
            bin,
            gtin: item.gtin,
            quantity,
            lot: item.lot,
            expiry: item.expiry,
        });
        self.record(payload, &[stock], &[])
    }

    /// Records `quantity` units of `item` moving from `from_bin` to `to_bin`
    /// at this device's location. The bins must differ, and `from_bin` must
    /// hold at least `quantity` units of the item in the merged stock view.
    pub fn put_away(
        &mut self,
        from_bin: &str,
        to_bin: &str,
        item: &str,
        quantity: u32,
    ) -> Result<Event, AgentError> {
        self.require_stock_role("put stock away")?;
        let quantity = positive(quantity)?;
        let (location, from_bin) = self.scan_bin(from_bin)?;
        let (_, to_bin) = self.scan_bin(to_bin)?;
        if from_bin == to_bin {
            return Err(AgentError::Invalid(format!(
                "the units are already in bin {to_bin}: scan another bin"
            )));
        }
        let item = self.scan_item(item)?;
        let quantity = item.units(quantity)?;
        let on_hand = self.stock_view(&location)?.on_hand(&from_bin, &item.gtin);
        if i64::from(quantity) > on_hand {
            let remaining = u32::try_from(on_hand.max(0)).unwrap_or(u32::MAX);
            return Err(AgentError::TooMany { what: "put away", asked: quantity, remaining });
        }
        let stock = self.stock_doc(&location)?;
        let payload = Payload::PutAway(PutAway { from_bin, to_bin, gtin: item.gtin, quantity });
        self.record(payload, &[stock], &[])
    }

    /// Records a cycle count: `counted` units of `item` found in `bin` at
    /// this device's location, next to the balance the device's merged view
    /// shows now (`expected`). The count adds `counted - expected`, so picks
    /// recorded elsewhere meanwhile still count. `counted` may be zero (the
    /// bin is empty), not negative. A count that matches is recorded too: it
    /// confirms the balance.
    pub fn count(&mut self, bin: &str, item: &str, counted: i64) -> Result<Event, AgentError> {
        self.require_stock_role("count stock")?;
        if counted < 0 {
            return Err(AgentError::Invalid("a count cannot be below zero".into()));
        }
        let (location, bin) = self.scan_bin(bin)?;
        let item = self.scan_item(item)?;
        let expected = self.stock_view(&location)?.on_hand(&bin, &item.gtin);
        let stock = self.stock_doc(&location)?;
        let payload = Payload::Counted(Counted { bin, gtin: item.gtin, expected, counted });
        self.record(payload, &[stock], &[])
    }

    /// Records the stock of `item` in `bin` at this device's location
    /// changing by `delta` units (negative: removed) for `reason`.
    ///
    /// `delta` must not be zero and must go the way the reason says:
    /// damaged, lost and expired units are removed, found units added; a
    /// correction goes either way. A removal may not take the bin below zero
    /// in the merged view (a positive change is always allowed, even if the
    /// balance stays negative: it moves toward the truth).
    pub fn adjust(
        &mut self,
        bin: &str,
        item: &str,
        delta: i64,
        reason: AdjustReason,
    ) -> Result<Event, AgentError> {
        self.require_stock_role("adjust stock")?;
        if delta == 0 {
            return Err(AgentError::Invalid(
                "an adjustment must change the stock: give a non-zero change".into(),
            ));
        }
        match reason {
            AdjustReason::Damaged | AdjustReason::Lost | AdjustReason::Expired if delta > 0 => {
                return Err(AgentError::Invalid(format!(
                    "{} units are removed from stock: give a negative change",
                    reason_word(reason)
                )));
            }
            AdjustReason::Found if delta < 0 => {
                return Err(AgentError::Invalid(
                    "found units are added to stock: give a positive change".into(),
                ));
            }
            _ => {}
        }
        let (location, bin) = self.scan_bin(bin)?;
        let item = self.scan_item(item)?;
        let on_hand = self.stock_view(&location)?.on_hand(&bin, &item.gtin);
        let after = on_hand
            .checked_add(delta)
            .ok_or_else(|| AgentError::Invalid(format!("a change of {delta} units is too large")))?;
        if delta < 0 && after < 0 {
            return Err(AgentError::Invalid(format!(
                "bin {bin} holds {on_hand} of {}: removing {} would leave {after}",
                item.gtin,
                delta.unsigned_abs()
            )));
        }
        let stock = self.stock_doc(&location)?;
        let payload = Payload::Adjusted(Adjusted { bin, gtin: item.gtin, delta, reason });
        self.record(payload, &[stock], &[])
    }
}

/// An adjustment reason in words.
fn reason_word(reason: AdjustReason) -> &'static str {
    match reason {
        AdjustReason::Damaged => "damaged",
        AdjustReason::Lost => "lost",
        AdjustReason::Found => "found",
        AdjustReason::Expired => "expired",
        AdjustReason::Correction => "corrected",
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use tempfile::TempDir;
    use waybill_shared::doc::DocId;
    use waybill_shared::doc::location::{Balance, Bin, LocationHeader};
    use waybill_shared::fold::StockView;
    use waybill_shared::gs1::Gtin;
    use waybill_shared::id::{BinId, DeviceId, LocationId};

    use super::*;
    use crate::agent::Profile;
    use waybill_shared::seed::Seed;

    const ITEM: &str = "09506000134352";
    const OTHER: &str = "10614141000415";

    fn loc() -> LocationId {
        LocationId::new("wh1").unwrap()
    }

    fn bin(b: &str) -> BinId {
        BinId::new(b).unwrap()
    }

    fn gtin(g: &str) -> Gtin {
        g.parse().unwrap()
    }

    fn seed() -> Seed {
        Seed {
            locations: vec![
                LocationHeader {
                    id: loc(),
                    name: "Main".into(),
                    geo: None,
                    bins: vec![Bin { id: bin("RCV"), walk: 0 }, Bin { id: bin("A-1"), walk: 1 }],
                    epoch: 0,
                    opening: vec![Balance { bin: bin("A-1"), gtin: gtin(ITEM), quantity: 10 }],
                    cutoff: Default::default(),
                    quotas: Vec::new(),
                    time_zone: None,
                },
                LocationHeader {
                    id: LocationId::new("wh2").unwrap(),
                    name: "Other".into(),
                    geo: None,
                    bins: vec![Bin { id: bin("B-1"), walk: 1 }],
                    epoch: 0,
                    opening: vec![],
                    cutoff: Default::default(),
                    quotas: Vec::new(),
                    time_zone: None,
                },
            ],
            orders: vec![],
            routes: vec![],
        }
    }

    fn agent_at(role: Role, location: Option<LocationId>) -> (TempDir, Agent) {
        let dir = tempfile::tempdir().unwrap();
        let profile =
            Profile { device: DeviceId::new("hh-1").unwrap(), role, location, user: Some("sam".into()) };
        let mut agent = Agent::init(&dir.path().join("agent.db"), profile).unwrap();
        agent.import(&seed()).unwrap();
        (dir, agent)
    }

    fn agent(role: Role) -> (TempDir, Agent) {
        agent_at(role, Some(loc()))
    }

    fn stock(a: &mut Agent) -> StockView {
        a.stock_view(&loc()).unwrap()
    }

    fn on_hand(a: &mut Agent, b: &str, g: &str) -> i64 {
        stock(a).on_hand(&bin(b), &gtin(g))
    }

    fn pending(a: &Agent) -> i64 {
        a.status().unwrap().pending_events
    }

    fn invalid_says(r: Result<Event, AgentError>, words: &str) {
        match r {
            Err(AgentError::Invalid(m)) => assert!(m.contains(words), "{m:?} should say {words:?}"),
            other => panic!("expected Invalid saying {words:?}, got {other:?}"),
        }
    }

    #[test]
    fn receive_put_away_count_adjust() {
        let (_dir, mut a) = agent(Role::Picker);
        let e = a.receive("WB:BIN:wh1:RCV", "(01)09506000134352(17)271231(10)L42", 6).unwrap();
        let Payload::Received(r) = &e.payload else { panic!("{e:?}") };
        assert_eq!(r.lot.as_deref(), Some("L42"));
        assert_eq!(r.expiry, NaiveDate::from_ymd_opt(2027, 12, 31));
        assert_eq!(on_hand(&mut a, "RCV", ITEM), 6);

        a.put_away("RCV", "WB:BIN:wh1:A-1", ITEM, 4).unwrap();
        assert_eq!((on_hand(&mut a, "RCV", ITEM), on_hand(&mut a, "A-1", ITEM)), (2, 14));

        let e = a.count("A-1", ITEM, 13).unwrap();
        assert_eq!(
            e.payload,
            Payload::Counted(Counted { bin: bin("A-1"), gtin: gtin(ITEM), expected: 14, counted: 13 })
        );
        assert_eq!(on_hand(&mut a, "A-1", ITEM), 13);
        // An empty bin counts as zero.
        a.count("RCV", ITEM, 0).unwrap();
        assert_eq!(on_hand(&mut a, "RCV", ITEM), 0);

        a.adjust("A-1", ITEM, -3, AdjustReason::Damaged).unwrap();
        a.adjust("A-1", ITEM, 1, AdjustReason::Found).unwrap();
        a.adjust("A-1", ITEM, -11, AdjustReason::Correction).unwrap();
        assert_eq!(on_hand(&mut a, "A-1", ITEM), 0);

        assert_eq!(pending(&a), 7);
        let v = stock(&mut a);
        assert_eq!(v.events, 7);
        assert!(v.exceptions.is_empty());
        assert!(v.stock.is_empty());
        // Stock moves stay out of orders: only the location document holds them.
        assert_eq!(a.documents().unwrap().len(), 2);
        assert!(a.documents().unwrap().iter().all(|d| matches!(d, DocId::Location { .. })));
    }

    #[test]
    fn a_packer_does_stock_work_too() {
        let (_dir, mut a) = agent(Role::Packer);
        a.receive("RCV", OTHER, 2).unwrap();
        a.put_away("RCV", "A-1", OTHER, 2).unwrap();
        a.count("A-1", OTHER, 2).unwrap();
        a.adjust("A-1", OTHER, -1, AdjustReason::Lost).unwrap();
        assert_eq!(on_hand(&mut a, "A-1", OTHER), 1);
    }

    #[test]
    fn drivers_and_the_office_do_no_stock_work() {
        for role in [Role::Driver, Role::Office] {
            let (_dir, mut a) = agent(role);
            assert!(matches!(
                a.receive("RCV", ITEM, 1),
                Err(AgentError::NotAllowed { action: "receive stock", role: r }) if r == role
            ));
            assert!(matches!(
                a.put_away("A-1", "RCV", ITEM, 1),
                Err(AgentError::NotAllowed { action: "put stock away", .. })
            ));
            assert!(matches!(
                a.count("A-1", ITEM, 1),
                Err(AgentError::NotAllowed { action: "count stock", .. })
            ));
            assert!(matches!(
                a.adjust("A-1", ITEM, -1, AdjustReason::Lost),
                Err(AgentError::NotAllowed { action: "adjust stock", .. })
            ));
            assert_eq!(pending(&a), 0);
        }
    }

    #[test]
    fn bad_scans_are_refused() {
        let (_dir, mut a) = agent(Role::Picker);
        assert!(matches!(a.receive("Z-9", ITEM, 1), Err(AgentError::NotFound { what: "bin", .. })));
        // A bin of another location.
        assert!(matches!(a.receive("WB:BIN:wh2:B-1", ITEM, 1), Err(AgentError::WrongScan { .. })));
        // A package label where a bin belongs, a bin where an item belongs.
        assert!(matches!(a.receive("106141411234567897", ITEM, 1), Err(AgentError::WrongScan { .. })));
        assert!(matches!(a.receive("RCV", "WB:BIN:wh1:A-1", 1), Err(AgentError::WrongScan { .. })));
        // A GTIN with a bad check digit.
        assert!(matches!(a.receive("RCV", "09506000134353", 1), Err(AgentError::BadScan(_))));
        assert!(matches!(a.put_away("A-1", "Z-9", ITEM, 1), Err(AgentError::NotFound { what: "bin", .. })));
        assert!(matches!(a.count("A-1", "mug", 1), Err(AgentError::BadScan(_))));
        assert!(matches!(a.adjust("Z-9", ITEM, -1, AdjustReason::Lost), Err(AgentError::NotFound { .. })));
        assert_eq!(pending(&a), 0);
    }

    #[test]
    fn a_device_without_a_location_works_no_bins() {
        let (_dir, mut a) = agent_at(Role::Picker, None);
        invalid_says(a.receive("RCV", ITEM, 1), "no location");
    }

    #[test]
    fn quantities_are_checked() {
        let (_dir, mut a) = agent(Role::Picker);
        invalid_says(a.receive("RCV", ITEM, 0), "at least 1");
        invalid_says(a.put_away("A-1", "RCV", ITEM, 0), "at least 1");
        assert!(matches!(
            a.put_away("A-1", "RCV", ITEM, 11),
            Err(AgentError::TooMany { what: "put away", asked: 11, remaining: 10 })
        ));
        assert!(matches!(
            a.put_away("RCV", "A-1", ITEM, 1),
            Err(AgentError::TooMany { what: "put away", asked: 1, remaining: 0 })
        ));
        invalid_says(a.put_away("A-1", "WB:BIN:wh1:A-1", ITEM, 1), "already in bin A-1");
        invalid_says(a.count("A-1", ITEM, -1), "below zero");
        invalid_says(a.adjust("A-1", ITEM, 0, AdjustReason::Correction), "non-zero");
        invalid_says(a.adjust("A-1", ITEM, -11, AdjustReason::Lost), "removing 11 would leave -1");
        invalid_says(a.adjust("A-1", ITEM, i64::MIN, AdjustReason::Correction), "would leave");
        invalid_says(a.adjust("A-1", ITEM, i64::MAX, AdjustReason::Correction), "too large");
        invalid_says(a.adjust("A-1", ITEM, 2, AdjustReason::Damaged), "negative change");
        invalid_says(a.adjust("A-1", ITEM, -2, AdjustReason::Found), "positive change");
        assert_eq!(pending(&a), 0);
        assert_eq!(on_hand(&mut a, "A-1", ITEM), 10);
        // Exactly what is on hand may go.
        a.put_away("A-1", "RCV", ITEM, 10).unwrap();
        a.adjust("RCV", ITEM, -10, AdjustReason::Expired).unwrap();
        assert_eq!(on_hand(&mut a, "RCV", ITEM), 0);
    }
}
