//! The demo's simulated fleet: real agents (the handheld library, each with
//! its own SQLite store) enrolled with the server over QUIC. Each goes
//! offline, works from its own task list, comes back and syncs, again and
//! again. One northern picker finds damaged units of the scarce item while
//! offline, so its count and the other picker's picks collide.
//!
//! Drivers take the money for orders paid on delivery at the door: cash
//! mostly, a card now and then, and once in the fleet's day (the second
//! cash collection) less than is due, so a `short_collection` exception
//! reaches the office. A driver whose route is done and synced is back at
//! the depot: it says so to the office, which counts its cash.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use waybill_agent::{Agent, AgentError, BlobInput, DeliveryRequest, PickRequest};
use waybill_shared::event::delivery::{FailReason, Gps, Relation};
use waybill_shared::event::payment::{Collection, CollectionMethod};
use waybill_shared::event::warehouse::ShortReason;
use waybill_shared::fold::OrderStatus;
use waybill_shared::fold::route::StopState;
use waybill_shared::id::{OrderId, RouteId};
use waybill_shared::role::Role;

use super::world::{self, Rng};

/// One simulated device.
pub struct Sim {
    /// Its agent.
    pub agent: Agent,
    /// Its number, for labels and its random stream.
    pub n: usize,
    rng: Rng,
    serial: u64,
    /// Whether this picker counts the scarce item short (once).
    pub counts_scarce: bool,
    /// Cash collections made by the whole fleet so far.
    pub cash_taken: Arc<AtomicUsize>,
    /// Where a driver says its route is done and synced.
    pub depot: Option<UnboundedSender<RouteId>>,
    /// Routes this driver came back from.
    returned: BTreeSet<RouteId>,
}

impl Sim {
    /// Enrols a device with the server and opens its store at `path`.
    pub async fn enrol(
        path: &Path,
        server: SocketAddr,
        code: &str,
        fingerprint: &str,
        n: usize,
        seed: u64,
    ) -> Result<Self, AgentError> {
        let agent = Agent::enrol(path, server, code, fingerprint).await?;
        Ok(Self {
            agent,
            n,
            rng: Rng::new(seed ^ (n as u64) << 32),
            serial: 0,
            counts_scarce: false,
            cash_taken: Arc::default(),
            depot: None,
            returned: BTreeSet::new(),
        })
    }

    fn name(&self) -> String {
        self.agent.profile().device.to_string()
    }

    /// Works and syncs until the process ends: online, sync; offline, work
    /// for a while; again. `pace` scales the pauses.
    pub async fn run(mut self, pace: f64) {
        loop {
            let before = self.agent.status().map(|s| s.pending_events).unwrap_or(0);
            match self.agent.sync_once().await {
                Ok(r) if r.pending_events < before => {
                    println!(
                        "  {:<8} back online: {} event(s) merged",
                        self.name(),
                        before - r.pending_events
                    );
                }
                Ok(_) => {}
                Err(e) => println!("  {:<8} cannot sync: {e}", self.name()),
            }
            if let Err(e) = self.back_at_depot() {
                println!("  {:<8} {e}", self.name());
            }
            if let Err(e) = self.work() {
                println!("  {:<8} {e}", self.name());
            }
            let pause = 1.0 + self.rng.below(3000) as f64 / 1000.0;
            tokio::time::sleep(Duration::from_secs_f64(pause * pace)).await;
        }
    }

    /// Tells the depot of each route done with everything synced, once.
    fn back_at_depot(&mut self) -> Result<(), AgentError> {
        let Some(depot) = &self.depot else { return Ok(()) };
        if self.agent.status()?.pending_events > 0 {
            return Ok(());
        }
        for route in self.agent.routes()? {
            if route.next_stop.is_none() && self.returned.insert(route.route.clone()) {
                let _ = depot.send(route.route);
            }
        }
        Ok(())
    }

    /// What the driver takes at the door for the stop's order paid on
    /// delivery, if one is, and the words to say once it is delivered:
    /// cash mostly, a card now and then; the fleet's second cash collection
    /// is short (the customer had less on them).
    fn collect(&mut self, orders: &[OrderId]) -> Result<Option<(Collection, String)>, AgentError> {
        for order in orders {
            let view = self.agent.order_view(order)?;
            let Some((due, currency)) = view.header.payment.due_on_delivery() else { continue };
            let due = view.payment.outstanding_minor.unwrap_or(due);
            if view.cancelled || due == 0 {
                continue;
            }
            let currency = currency.clone();
            if self.rng.chance(0.25) {
                let words = format!("took {} by card for {order} (offline)", currency.format(due));
                return Ok(Some((
                    Collection { amount_minor: due, currency, method: CollectionMethod::Card },
                    words,
                )));
            }
            let second = self.cash_taken.load(Ordering::SeqCst) == 1;
            let amount = if second { (due - 1) / 500 * 500 } else { due };
            let words = if amount < due {
                format!(
                    "took {} in cash for {order}, {} due: short (offline)",
                    currency.format(amount),
                    currency.format(due)
                )
            } else {
                format!("took {} in cash for {order} (offline)", currency.format(due))
            };
            return Ok(Some((
                Collection { amount_minor: amount, currency, method: CollectionMethod::Cash },
                words,
            )));
        }
        Ok(None)
    }

    /// One offline stretch of work.
    pub fn work(&mut self) -> Result<(), AgentError> {
        match self.agent.profile().role {
            Role::Picker => self.pick(),
            Role::Packer => self.pack(),
            Role::Driver => self.drive(),
            Role::Office => Ok(()),
        }
    }

    fn pick(&mut self) -> Result<(), AgentError> {
        if self.counts_scarce {
            self.counts_scarce = false;
            let item = world::gtin(world::SCARCE);
            let bin = world::bin_of(world::SCARCE);
            if let (Some(location), Ok(b), Ok(g)) =
                (self.agent.profile().location.clone(), bin.parse(), item.parse())
            {
                let on_hand = self.agent.stock_view(&location)?.on_hand(&b, &g);
                if on_hand > 0 {
                    self.agent.count(&bin, &item, on_hand - 4.min(on_hand))?;
                    println!(
                        "  {:<8} counted {item} in {bin}: 4 damaged units written off (offline)",
                        self.name()
                    );
                }
            }
        }
        let tasks = self.agent.pick_list()?;
        for t in tasks.iter().take(1 + self.rng.below(6) as usize) {
            let Some(bin) = &t.bin else { continue };
            let mut quantity = t.remaining;
            if self.rng.chance(0.03) {
                self.agent.short_pick(&t.order, t.line, bin.as_str(), 1, ShortReason::Damaged)?;
                quantity -= 1;
            }
            if quantity > 0 {
                self.agent.pick(&PickRequest {
                    order: t.order.clone(),
                    line: t.line,
                    bin: bin.to_string(),
                    item: t.gtin.to_string(),
                    quantity,
                    override_reason: None,
                })?;
            }
        }
        Ok(())
    }

    fn pack(&mut self) -> Result<(), AgentError> {
        for task in self.agent.pack_queue()?.into_iter().take(1 + self.rng.below(4) as usize) {
            if self.agent.order_view(&task.order)?.status != OrderStatus::Picked {
                continue;
            }
            self.serial += 1;
            let sscc = world::sscc(self.n, self.serial);
            let weight = Some(400 + self.rng.below(4000) as u32);
            self.agent.pack(&task.order, &sscc, &task.lines, weight, None)?;
            self.agent.close_package(&task.order, &sscc, weight)?;
            self.agent.stage(&task.order, &sscc, &format!("LANE-{}", 1 + self.rng.below(4)))?;
        }
        Ok(())
    }

    fn drive(&mut self) -> Result<(), AgentError> {
        let Some(route) = self.agent.routes()?.into_iter().find(|r| r.next_stop.is_some()) else {
            return Ok(());
        };
        let started = route.stops.iter().any(|s| s.stop.state != StopState::Pending);
        if !started {
            for p in route.stops.iter().flat_map(|s| &s.parcels) {
                // Parcels not staged yet stay behind.
                let _ = self.agent.load(&route.route, p.sscc.as_str());
            }
            self.agent.out_for_delivery(&route.route)?;
            println!("  {:<8} out for delivery on {} (offline)", self.name(), route.route);
        }
        let todo = route
            .stops
            .iter()
            .filter(|s| s.stop.state == StopState::Pending || s.stop.state == StopState::Arrived);
        for s in todo.take(1 + self.rng.below(3) as usize) {
            let seq = s.stop.seq;
            if s.parcels.is_empty() {
                continue;
            }
            let gps = s.stop.address.geo.map(|g| Gps {
                lat: g.lat() + self.rng.signed() * 0.0002,
                lon: g.lon() + self.rng.signed() * 0.0002,
                accuracy_m: Some(5.0 + self.rng.below(20) as f32),
            });
            self.agent.arrive(&route.route, seq, gps)?;
            let first = s.stop.orders.first().map(ToString::to_string).unwrap_or_default();
            if self.rng.chance(0.1) {
                self.agent.fail_attempt(&route.route, seq, FailReason::NotHome, "card left".into(), gps)?;
                continue;
            }
            let name = s.stop.address.name.clone();
            let (collection, words) = self.collect(&s.stop.orders)?.unzip();
            let cash = collection.as_ref().is_some_and(|c| c.method == CollectionMethod::Cash);
            let result = self.agent.deliver(&DeliveryRequest {
                route: route.route.clone(),
                stop: seq,
                packages: Vec::new(),
                recipient_name: Some(name.clone()),
                relation: Relation::Recipient,
                left_at: None,
                photo: Some(BlobInput::Bytes(photo(&first, &mut self.rng))),
                signature: Some(BlobInput::Bytes(signature(&name, &mut self.rng))),
                gps,
                note: String::new(),
                age_check_passed: None,
                collection,
            });
            match (result, words) {
                (Err(e), _) => {
                    println!("  {:<8} could not deliver stop {seq} of {}: {e}", self.name(), route.route);
                }
                (Ok(_), Some(words)) => {
                    if cash {
                        self.cash_taken.fetch_add(1, Ordering::SeqCst);
                    }
                    println!("  {:<8} {words}", self.name());
                }
                (Ok(_), None) => {}
            }
        }
        Ok(())
    }
}

/// A made-up doorstep photo: an SVG of a parcel by a door.
fn photo(order: &str, rng: &mut Rng) -> Vec<u8> {
    let door = ["#7a4b2a", "#2d4f7c", "#3f6b3a", "#8c2f39"][rng.below(4) as usize];
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240"><rect width="320" height="240" fill="#d9d4cc"/><rect x="110" y="30" width="100" height="190" fill="{door}"/><circle cx="195" cy="130" r="5" fill="#e8c547"/><rect x="60" y="170" width="{w}" height="{h}" fill="#c49a6c" stroke="#8a6a45"/><rect x="0" y="220" width="320" height="20" fill="#9b9690"/><text x="8" y="16" font-family="monospace" font-size="12" fill="#333">{order}</text></svg>"##,
        w = 60 + rng.below(40),
        h = 30 + rng.below(20),
    )
    .into_bytes()
}

/// A made-up signature: a pen stroke as SVG.
fn signature(name: &str, rng: &mut Rng) -> Vec<u8> {
    let mut d = format!("M 12 {}", 50 + rng.below(20));
    let steps = 4 + name.len().min(10);
    for i in 0..steps {
        let x = 20 + i * 200 / steps;
        d.push_str(&format!(" Q {} {}, {} {}", x + 8, 10 + rng.below(60), x + 18, 30 + rng.below(40)));
    }
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="240" height="90" viewBox="0 0 240 90"><path d="{d}" fill="none" stroke="#1d2430" stroke-width="2.2" stroke-linecap="round"/></svg>"##
    )
    .into_bytes()
}
