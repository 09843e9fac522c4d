//! Selling out of a quota: a driver selling from the van at the door, a
//! store handheld taking a walk-in order. The device promises stock with no
//! signal, but only up to the quota the server granted it at its location
//! (see `waybill_shared::event::quota`): a `sold` event, checked against
//! this device's own view of its quota, which is never more than what it
//! really holds, so the server never refuses it. Unused quota goes back
//! with `quota_released` (the end of a shift), for the server to grant to
//! another device.

use waybill_shared::event::quota::{QuotaReleased, Sold};
use waybill_shared::event::{Event, Payload};
use waybill_shared::fold::quota::Quota;
use waybill_shared::gs1::Gtin;
use waybill_shared::id::LocationId;
use waybill_shared::role::Role;

use super::positive;
use crate::agent::Agent;
use crate::error::AgentError;

impl Agent {
    /// Fails unless this device holds quotas: a driver or a picker, at a location.
    fn quota_location(&self, action: &'static str) -> Result<LocationId, AgentError> {
        match self.profile().role {
            Role::Driver | Role::Picker => {}
            role => return Err(AgentError::NotAllowed { role, action }),
        }
        self.profile().location.clone().ok_or_else(|| {
            AgentError::Invalid(
                "this device has no location to sell from: the office enrols it at one (its van, or the depot)"
                    .into(),
            )
        })
    }

    /// Units of `gtin` this device may still promise at `location`.
    fn quota_left(&mut self, location: &LocationId, gtin: &Gtin) -> Result<u32, AgentError> {
        let device = self.profile().device.clone();
        let left = self.stock_view(location)?.quota(&device, gtin);
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }

    /// Sells `quantity` units of the scanned `item` from `bin` (a bin label
    /// or a bare bin id at this device's location) to `customer`, out of this
    /// device's quota. Refused with [`AgentError::OverQuota`] beyond what the
    /// quota holds; works offline.
    pub fn sell(
        &mut self,
        bin: &str,
        item: &str,
        quantity: u32,
        customer: Option<String>,
    ) -> Result<Event, AgentError> {
        let location = self.quota_location("sell from a quota")?;
        let quantity = positive(quantity)?;
        let (_, bin) = self.scan_bin(bin)?;
        let item = self.scan_item(item)?;
        let quantity = item.units(quantity)?;
        let customer = customer.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
        let remaining = self.quota_left(&location, &item.gtin)?;
        if quantity > remaining {
            return Err(AgentError::OverQuota { gtin: item.gtin, asked: quantity, remaining });
        }
        let stock = self.stock_doc(&location)?;
        let payload = Payload::Sold(Sold { bin, gtin: item.gtin, quantity, customer });
        self.record(payload, &[stock], &[])
    }

    /// Hands `quantity` units of this device's quota of `item` back to its
    /// location's free stock, for the server to grant elsewhere.
    pub fn release_quota(&mut self, item: &str, quantity: u32) -> Result<Event, AgentError> {
        let location = self.quota_location("hand back quota")?;
        let quantity = positive(quantity)?;
        let gtin = self.scan_item(item)?.gtin;
        let remaining = self.quota_left(&location, &gtin)?;
        if quantity > remaining {
            return Err(AgentError::OverQuota { gtin, asked: quantity, remaining });
        }
        let stock = self.stock_doc(&location)?;
        self.record(Payload::QuotaReleased(QuotaReleased { gtin, quantity }), &[stock], &[])
    }

    /// This device's quotas at its location, per item.
    pub fn quotas(&mut self) -> Result<Vec<Quota>, AgentError> {
        let location = self.quota_location("hold quotas")?;
        let device = self.profile().device.clone();
        Ok(self.stock_view(&location)?.quotas.into_iter().filter(|q| q.device == device).collect())
    }
}

#[cfg(test)]
mod tests {
    use tempfile::TempDir;
    use waybill_shared::doc::location::{Balance, Bin, LocationHeader, QuotaBalance};
    use waybill_shared::id::{BinId, DeviceId};
    use waybill_shared::seed::Seed;

    use super::*;
    use crate::agent::Profile;

    const ITEM: &str = "09506000134352";

    fn gtin() -> Gtin {
        ITEM.parse().unwrap()
    }

    fn van() -> LocationId {
        LocationId::new("van-7").unwrap()
    }

    /// A van holding 10 units, 3 of them in this device's quota.
    fn agent_as(role: Role, location: Option<LocationId>) -> (TempDir, Agent) {
        let dir = tempfile::tempdir().unwrap();
        let device = DeviceId::new("drv-1").unwrap();
        let seed = Seed {
            locations: vec![LocationHeader {
                id: van(),
                name: "Van 7".into(),
                geo: None,
                bins: vec![Bin { id: BinId::new("SHELF").unwrap(), walk: 1 }],
                epoch: 0,
                opening: vec![Balance { bin: BinId::new("SHELF").unwrap(), gtin: gtin(), quantity: 10 }],
                cutoff: Default::default(),
                quotas: vec![QuotaBalance { device: device.clone(), gtin: gtin(), quantity: 3 }],
                time_zone: None,
            }],
            orders: vec![],
            routes: vec![],
        };
        let profile = Profile { device, role, location, user: Some("dee".into()) };
        let mut agent = Agent::init(&dir.path().join("agent.db"), profile).unwrap();
        agent.import(&seed).unwrap();
        (dir, agent)
    }

    fn pending(a: &Agent) -> i64 {
        a.status().unwrap().pending_events
    }

    #[test]
    fn a_driver_sells_up_to_its_quota_and_no_further() {
        let (_dir, mut a) = agent_as(Role::Driver, Some(van()));
        assert_eq!(a.quotas().unwrap()[0].remaining, 3);
        let e = a.sell("WB:BIN:van-7:SHELF", ITEM, 2, Some(" Corner shop ".into())).unwrap();
        let Payload::Sold(s) = &e.payload else { panic!("{e:?}") };
        assert_eq!((s.quantity, s.customer.as_deref()), (2, Some("Corner shop")));
        assert_eq!(a.stock_view(&van()).unwrap().total(&gtin()), 8);

        match a.sell("SHELF", ITEM, 2, None) {
            Err(AgentError::OverQuota { asked: 2, remaining: 1, .. }) => {}
            other => panic!("expected OverQuota, got {other:?}"),
        }
        let message = a.sell("SHELF", ITEM, 2, None).unwrap_err().to_string();
        assert!(message.contains("more than the 1 this device may still promise"), "{message}");
        assert_eq!(pending(&a), 1, "a refused sale writes nothing");

        a.sell("SHELF", ITEM, 1, None).unwrap();
        assert_eq!(a.quotas().unwrap()[0].remaining, 0);
        assert!(matches!(a.release_quota(ITEM, 1), Err(AgentError::OverQuota { remaining: 0, .. })));
        assert_eq!(pending(&a), 2);
    }

    #[test]
    fn unused_quota_goes_back() {
        let (_dir, mut a) = agent_as(Role::Driver, Some(van()));
        let e = a.release_quota(ITEM, 2).unwrap();
        assert!(matches!(&e.payload, Payload::QuotaReleased(r) if r.quantity == 2));
        let view = a.stock_view(&van()).unwrap();
        assert_eq!((view.held(&gtin()), view.free(&gtin())), (1, 9));
        assert!(matches!(a.sell("SHELF", ITEM, 2, None), Err(AgentError::OverQuota { remaining: 1, .. })));
    }

    #[test]
    fn bad_input_is_refused_with_a_clear_error() {
        let (_dir, mut a) = agent_as(Role::Packer, Some(van()));
        assert!(matches!(
            a.sell("SHELF", ITEM, 1, None),
            Err(AgentError::NotAllowed { role: Role::Packer, .. })
        ));
        let (_dir, mut a) = agent_as(Role::Driver, None);
        assert!(
            matches!(a.sell("SHELF", ITEM, 1, None), Err(AgentError::Invalid(m)) if m.contains("no location"))
        );
        let (_dir, mut a) = agent_as(Role::Driver, Some(van()));
        assert!(matches!(a.sell("SHELF", ITEM, 0, None), Err(AgentError::Invalid(_))));
        assert!(matches!(a.sell("NOPE", ITEM, 1, None), Err(AgentError::NotFound { what: "bin", .. })));
        assert!(matches!(a.sell("SHELF", "12345", 1, None), Err(AgentError::BadScan(_))));
        // An item with no quota: nothing to promise.
        assert!(matches!(
            a.sell("SHELF", "10614141000415", 1, None),
            Err(AgentError::OverQuota { remaining: 0, .. })
        ));
        assert_eq!(pending(&a), 0);
    }
}
