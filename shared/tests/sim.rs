//! The sync protocol on a simulated network: device cores and a server core
//! (the [`ClientSession`] and [`ServerSession`] state machines the agent and
//! the server drive) exchanging messages through a seeded scheduler.
//!
//! Each schedule runs a few devices over a few order documents. At every
//! step the scheduler picks at random: a device records an event (now and
//! then one its role may not write), a device starts a session on a
//! document (with or without the manifest's heads), one message in flight
//! on one session is delivered (so sessions interleave and messages of
//! different streams arrive in any order), a device's link is cut (every
//! message in flight on its sessions is lost, and what those sessions did
//! is not stored), a stale message is replayed to the server on a new
//! stream (a duplicate), a device restarts, or the server is killed (before
//! or after it made a round durable). A QUIC stream itself neither loses,
//! duplicates nor reorders, so neither does a session here: loss is a cut,
//! duplication a replay.
//!
//! The server does what the real one does: a round's accepted changes and
//! the sync state are made durable before its reply is sent; a restarted
//! server holds only what was durable. A device stores a session's outcome
//! only once it ended.
//!
//! Then the network heals: every device syncs every document until a pass
//! changes nothing. Asserted for every schedule:
//! - every device holds every document at the server's heads (convergence);
//! - every event a device recorded (and was allowed to) is in the server's
//!   durable documents (nothing acknowledged is lost);
//! - no change the write policy refuses was ever stored, and the device
//!   that wrote it no longer holds it;
//! - healing quiesces within a bounded number of passes and every session
//!   within its round cap (no livelock).
//!
//! `SIM_SCHEDULES` sets how many schedules (default 400); `SIM_SEED` replays
//! one. A failure prints its seed.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use automerge::sync::State;
use automerge::{AutoCommit, ChangeHash};
use support::{Device, new_order, order_header};
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::office::Cancelled;
use waybill_shared::event::warehouse::Picked;
use waybill_shared::event::{Event, Payload};
use waybill_shared::policy::{DeviceIdentity, Scope};
use waybill_shared::role::Role;
use waybill_shared::sync::Message;
use waybill_shared::sync::session::{ClientSession, MAX_ROUNDS, ServerSession};

const DEVICES: usize = 3;
const DOCS: usize = 2;
const STEPS: usize = 160;
/// Healing passes allowed before the schedule counts as a livelock.
const HEAL_PASSES: usize = 6;

/// A small xorshift generator: the whole schedule follows from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The server: documents and sync states as its storage holds them, and
/// the documents it has loaded.
#[derive(Default)]
struct ServerCore {
    /// Stored documents: what survives a kill.
    durable: BTreeMap<DocId, AutoCommit>,
    /// Saved sync states per (device, document).
    states: BTreeMap<(usize, DocId), Vec<u8>>,
    /// Loaded documents.
    loaded: BTreeMap<DocId, AutoCommit>,
}

impl ServerCore {
    fn doc(&mut self, id: &DocId) -> &mut AutoCommit {
        let durable = &mut self.durable;
        self.loaded.entry(id.clone()).or_insert_with(|| durable.get_mut(id).unwrap().fork())
    }

    fn state(&self, device: usize, id: &DocId) -> State {
        self.states.get(&(device, id.clone())).and_then(|b| State::decode(b).ok()).unwrap_or_default()
    }

    fn restart(&mut self) {
        self.loaded.clear();
    }

    /// One round of a session, as the server runs it: the client's message
    /// taken in, what it accepted made durable with the sync state (and the
    /// state again at the end of the session), then the reply. `None` when
    /// the server is killed before the round was durable.
    fn round(
        &mut self,
        device: usize,
        session: &mut ServerSession,
        msg: Message,
        killed: bool,
    ) -> Option<Vec<Message>> {
        let id = session.id().clone();
        let answer = session.handle(self.doc(&id), msg).unwrap();
        if killed {
            return None;
        }
        if !answer.accepted.is_empty() || answer.done {
            self.durable.get_mut(&id).unwrap().apply_changes(answer.accepted).unwrap();
            self.states.insert((device, id), session.state().encode());
        }
        Some(answer.reply)
    }
}

/// A device: its documents and sync states are durable as soon as written.
struct DeviceCore {
    device: Device,
    who: DeviceIdentity,
    docs: BTreeMap<DocId, AutoCommit>,
    states: BTreeMap<DocId, Vec<u8>>,
    /// Events it recorded that its role allows: all must reach the server.
    recorded: BTreeSet<String>,
    /// Events it recorded that its role does not allow.
    forbidden: BTreeSet<String>,
}

/// One document's session between a device and the server, on one stream.
struct Session {
    device: usize,
    doc: DocId,
    client: ClientSession,
    server: ServerSession,
    to_server: VecDeque<Message>,
    to_client: VecDeque<Message>,
    /// Messages the client sent, for replays.
    sent: usize,
    /// The protocol version the session speaks.
    protocol: u16,
}

struct World {
    rng: Rng,
    server: ServerCore,
    devices: Vec<DeviceCore>,
    sessions: Vec<Session>,
    /// Sync messages seen on the wire (with the version of the connection
    /// they came on), replayed later as duplicates.
    seen: Vec<(usize, DocId, u16, Message)>,
    stats: Stats,
}

#[derive(Default, Debug, Clone, Copy)]
struct Stats {
    steps: usize,
    delivered: usize,
    cuts: usize,
    server_kills: usize,
    replays: usize,
    sessions: usize,
}

impl Stats {
    fn add(&mut self, o: Stats) {
        self.steps += o.steps;
        self.delivered += o.delivered;
        self.cuts += o.cuts;
        self.server_kills += o.server_kills;
        self.replays += o.replays;
        self.sessions += o.sessions;
    }
}

impl World {
    fn new(seed: u64) -> Self {
        let mut office = Device::new("office");
        let mut server = ServerCore::default();
        let mut ids = Vec::new();
        for n in 0..DOCS {
            let header = order_header(&format!("SO-{n}"), &[5, 5]);
            let mut doc = new_order(&mut office, &header);
            let id = DocId::Order(header.id);
            server.durable.insert(id.clone(), doc.fork());
            ids.push(id);
        }
        let devices = (0..DEVICES)
            .map(|d| {
                let device = Device::new(&format!("hh-{d}"));
                let who = DeviceIdentity {
                    device: device.id(),
                    role: Role::Picker,
                    scope: Scope::Docs(ids.iter().cloned().collect()),
                };
                DeviceCore {
                    device,
                    who,
                    docs: BTreeMap::new(),
                    states: BTreeMap::new(),
                    recorded: BTreeSet::new(),
                    forbidden: BTreeSet::new(),
                }
            })
            .collect();
        Self {
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            server,
            devices,
            sessions: Vec::new(),
            seen: Vec::new(),
            stats: Stats::default(),
        }
    }

    fn ids(&self) -> Vec<DocId> {
        self.server.durable.keys().cloned().collect()
    }

    /// A device records a pick (or, now and then, a cancellation a picker
    /// may not write) in a document it holds.
    fn record(&mut self, d: usize) {
        let held: Vec<DocId> = self.devices[d].docs.keys().cloned().collect();
        if held.is_empty() {
            return;
        }
        let id = held[self.rng.below(held.len())].clone();
        let forbidden = self.rng.chance(4);
        let payload = if forbidden {
            Payload::Cancelled(Cancelled { reason: "not mine to cancel".into() })
        } else {
            let DocId::Order(order) = &id else { unreachable!("only orders here") };
            let line = 1 + u32::try_from(self.rng.below(2)).unwrap();
            Payload::Picked(Picked {
                order: order.clone(),
                line,
                location: "wh-1".parse().unwrap(),
                bin: "A-1".parse().unwrap(),
                gtin: support::gtin(u64::from(line)),
                quantity: 1,
                lot: None,
                serial: None,
                expiry: None,
                override_reason: None,
            })
        };
        let dev = &mut self.devices[d];
        let doc = dev.docs.get_mut(&id).unwrap();
        let event: Event = dev.device.append(doc, payload);
        if forbidden {
            dev.forbidden.insert(event.id.to_string());
        } else {
            dev.recorded.insert(event.id.to_string());
        }
    }

    /// A device opens a session on a document, unless one is running.
    fn start(&mut self, d: usize, id: DocId) {
        if self.sessions.iter().any(|s| s.device == d && s.doc == id) {
            return;
        }
        let dev = &self.devices[d];
        let doc = dev.docs.get(&id).cloned().unwrap_or_else(|| {
            AutoCommit::new().with_actor(waybill_shared::policy::actor_of(&dev.who.device))
        });
        let state = dev.states.get(&id).and_then(|b| State::decode(b).ok()).unwrap_or_default();
        // The manifest's heads, as of now, or none (a pushed document).
        let heads: Vec<ChangeHash> = if self.rng.chance(50) {
            self.server.durable.get_mut(&id).unwrap().get_heads()
        } else {
            Vec::new()
        };
        // A device of any protocol version: sync messages plain (1) or
        // packed (2 and 3); on 3, a document it holds none of comes whole.
        let protocol = [1, 2, 3][self.rng.below(3)];
        let mut client = ClientSession::new(id.clone(), doc, state, &heads).speaking(protocol);
        let mut to_server: VecDeque<Message> = client.start().unwrap().into();
        assert!(matches!(to_server.pop_front(), Some(Message::Open { .. })));
        let server =
            ServerSession::new(dev.who.clone(), id.clone(), self.server.state(d, &id)).speaking(protocol);
        self.stats.sessions += 1;
        self.sessions.push(Session {
            device: d,
            doc: id,
            client,
            server,
            to_server,
            to_client: VecDeque::new(),
            sent: 1,
            protocol,
        });
    }

    /// Delivers the next message on session `i`, one way or the other.
    fn deliver(&mut self, i: usize) {
        self.stats.delivered += 1;
        let s = &mut self.sessions[i];
        let towards_server = !s.to_server.is_empty() && (s.to_client.is_empty() || self.rng.chance(50));
        if towards_server {
            let msg = s.to_server.pop_front().unwrap();
            if matches!(msg, Message::Sync { .. } | Message::Packed { .. }) && self.rng.chance(20) {
                self.seen.push((s.device, s.doc.clone(), s.protocol, msg.clone()));
            }
            // The server may be killed with the round taken in but not yet
            // durable: nothing of it survives, and no reply went.
            let killed = self.rng.chance(2);
            match self.server.round(s.device, &mut s.server, msg, killed) {
                Some(reply) => s.to_client.extend(reply),
                None => self.kill_server(),
            }
        } else if let Some(msg) = s.to_client.pop_front() {
            let out = s.client.handle(msg).unwrap();
            s.sent += out.len();
            s.to_server.extend(out);
            if s.client.is_done() && s.to_client.is_empty() {
                let s = self.sessions.swap_remove(i);
                self.store_outcome(s);
            }
        }
    }

    /// The device stores what a finished session brought, as the agent does.
    fn store_outcome(&mut self, s: Session) {
        assert!(s.sent <= 2 * MAX_ROUNDS as usize + 1, "a session sent {} messages", s.sent);
        let dev = &mut self.devices[s.device];
        let mut outcome = s.client.finish();
        // What the device recorded while the session ran stays.
        if let Some(current) = dev.docs.get_mut(&outcome.id) {
            outcome.doc.merge(current).unwrap();
        }
        if outcome.rejected.is_empty() {
            dev.states.insert(outcome.id.clone(), outcome.state.encode());
        } else {
            // Rebuilt on the server's state; the old sync state is kept.
            outcome.take_out_refused(&dev.who.device).unwrap();
        }
        dev.docs.insert(outcome.id, outcome.doc);
    }

    fn cut(&mut self, d: usize) {
        self.stats.cuts += 1;
        self.sessions.retain(|s| s.device != d);
    }

    fn kill_server(&mut self) {
        self.stats.server_kills += 1;
        self.sessions.clear();
        self.server.restart();
    }

    /// A stale sync message from the wire arrives again, on a new stream.
    fn replay(&mut self) {
        if self.seen.is_empty() {
            return;
        }
        self.stats.replays += 1;
        let (d, id, protocol, msg) = self.seen[self.rng.below(self.seen.len())].clone();
        let mut server =
            ServerSession::new(self.devices[d].who.clone(), id.clone(), self.server.state(d, &id))
                .speaking(protocol);
        // Answered like any message; what it brings was seen before.
        self.server.round(d, &mut server, msg, false);
    }

    fn step(&mut self) {
        self.stats.steps += 1;
        let roll = self.rng.below(100);
        let d = self.rng.below(DEVICES);
        match roll {
            0..=24 => self.record(d),
            25..=39 => {
                let ids = self.ids();
                let id = ids[self.rng.below(ids.len())].clone();
                self.start(d, id);
            }
            40..=89 if !self.sessions.is_empty() => {
                let i = self.rng.below(self.sessions.len());
                self.deliver(i);
            }
            90..=93 => self.cut(d),
            94..=96 => self.replay(),
            97 => self.cut(d), // a device restarts: its sessions go, its store stays
            98 => self.kill_server(),
            _ => {}
        }
    }

    /// Runs every session of a healed network to its end, in order.
    fn run_sessions(&mut self) {
        let mut guard = 0;
        while !self.sessions.is_empty() {
            guard += 1;
            assert!(guard < 100_000, "sessions never end: a livelock");
            let i = self.sessions.len() - 1;
            self.deliver_reliably(i);
        }
    }

    /// [`deliver`] with no faults.
    fn deliver_reliably(&mut self, i: usize) {
        let s = &mut self.sessions[i];
        if let Some(msg) = s.to_server.pop_front() {
            let reply = self.server.round(s.device, &mut s.server, msg, false).unwrap();
            s.to_client.extend(reply);
        } else if let Some(msg) = s.to_client.pop_front() {
            let out = s.client.handle(msg).unwrap();
            s.sent += out.len();
            s.to_server.extend(out);
        }
        let s = &self.sessions[i];
        if s.client.is_done() && s.to_client.is_empty() && s.to_server.is_empty() {
            let s = self.sessions.swap_remove(i);
            self.store_outcome(s);
        }
    }

    /// Heals the network: every device syncs every document until a whole
    /// pass changes nothing. Returns the passes taken.
    fn heal(&mut self) -> usize {
        self.sessions.clear();
        for pass in 1..=HEAL_PASSES {
            let before = self.snapshot();
            for d in 0..DEVICES {
                for id in self.ids() {
                    self.start(d, id);
                    self.run_sessions();
                }
            }
            if self.snapshot() == before && self.converged() {
                return pass;
            }
        }
        panic!("not quiescent after {HEAL_PASSES} healing passes: {:?}", self.stats);
    }

    fn snapshot(&mut self) -> Vec<Vec<ChangeHash>> {
        let mut all: Vec<Vec<ChangeHash>> =
            self.ids().iter().map(|id| self.server.doc(id).get_heads()).collect();
        for dev in &mut self.devices {
            all.extend(dev.docs.values_mut().map(|d| d.get_heads()));
        }
        all
    }

    fn converged(&mut self) -> bool {
        let ids = self.ids();
        ids.iter().all(|id| {
            let server = self.server.doc(id).get_heads();
            self.devices.iter_mut().all(|d| {
                d.docs.get_mut(id).is_some_and(|doc| sorted(doc.get_heads()) == sorted(server.clone()))
            })
        })
    }

    fn check(&mut self) {
        // What is checked is what a restarted server would hold.
        self.server.restart();
        let mut on_server = BTreeSet::new();
        for id in self.ids() {
            let doc = self.server.doc(&id);
            for e in doc::events(&id, doc.document()).unwrap() {
                let by_device = e.id.to_string().starts_with("hh-");
                assert!(
                    !(by_device && matches!(e.payload, Payload::Cancelled(_))),
                    "a change the policy refuses was stored: {}",
                    e.id
                );
                on_server.insert(e.id.to_string());
            }
        }
        for dev in &mut self.devices {
            let lost: Vec<&String> = dev.recorded.difference(&on_server).collect();
            assert!(lost.is_empty(), "{} lost events {lost:?}", dev.who.device);
            for (id, doc) in &mut dev.docs {
                for e in doc::events(id, doc.document()).unwrap() {
                    assert!(
                        !dev.forbidden.contains(&e.id.to_string()),
                        "{} still holds refused {}",
                        dev.who.device,
                        e.id
                    );
                }
            }
        }
    }
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

fn run(seed: u64) -> Stats {
    let mut world = World::new(seed);
    // Every device starts by taking its documents in, over a good link.
    for d in 0..DEVICES {
        for id in world.ids() {
            world.start(d, id);
            world.run_sessions();
        }
    }
    for _ in 0..STEPS {
        world.step();
    }
    world.heal();
    world.check();
    world.stats
}

#[test]
fn every_schedule_converges_loses_nothing_and_stores_nothing_refused() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("SIM_SCHEDULES").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
            (1..=n).collect()
        }
    };
    // The schedules are independent: one thread per core runs its share.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let shares: Vec<Vec<u64>> =
        (0..threads).map(|t| seeds.iter().copied().skip(t).step_by(threads).collect()).collect();
    let mut total = Stats::default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .iter()
            .map(|share| {
                scope.spawn(move || {
                    let mut sum = Stats::default();
                    for &seed in share {
                        let stats = std::panic::catch_unwind(|| run(seed)).unwrap_or_else(|e| {
                            eprintln!("schedule failed: replay it with SIM_SEED={seed}");
                            std::panic::resume_unwind(e)
                        });
                        sum.add(stats);
                    }
                    sum
                })
            })
            .collect();
        for h in handles {
            total.add(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
    });
    println!(
        "simulated {} schedules: {} steps, {} sessions, {} messages delivered, {} links cut, {} server kills, {} replays",
        seeds.len(),
        total.steps,
        total.sessions,
        total.delivered,
        total.cuts,
        total.server_kills,
        total.replays
    );
    assert!(
        total.server_kills > 0 && total.cuts > 0 && total.replays > 0,
        "the faults never happened: {total:?}"
    );
}
