//! A fleet's offline collisions, synced into a server that is killed under
//! the syncs: a picker works an order the office cancelled while it was
//! offline, and two packers pack the same picked units. The devices sync
//! all at once while the server is `kill -9`ed a seeded random moment
//! later and restarted, round after round, with new work in each round. Afterwards every device
//! converges to the server's view, every event a device acknowledged is on
//! the server, and every seeded collision is an open exception naming the
//! events that collided.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use waybill_tests::{Device, SEED, Server, XorShift, api, bin, free_port, free_tcp_port, pick};

const X: &str = "09506000134352";
const Y: &str = "09506000134369"; // B-01
const Z: &str = "09506000134376";
const ORDERS: [&str; 2] = ["SO-1001", "SO-1002"];
/// Rounds of syncs under a server kill: at least this many, and more (up
/// to [`MAX_ROUNDS`]) until the kills have cut [`CUT`] syncs under way.
const ROUNDS: usize = 6;
const MAX_ROUNDS: usize = 20;
const CUT: usize = 3;

/// Each device's acknowledged events, by order.
#[derive(Default)]
struct Acked(BTreeMap<&'static str, BTreeSet<String>>);

impl Acked {
    /// Runs a recording command that must succeed; notes its event as
    /// acknowledged for `order`.
    fn record(&mut self, device: &Device, order: &'static str, args: &[&str]) -> String {
        let event = device.ok(args);
        let id = event["id"].as_str().unwrap_or_else(|| panic!("{args:?}: no event in {event}")).to_owned();
        assert!(self.0.entry(order).or_default().insert(id.clone()), "{id} acknowledged twice");
        id
    }
}

/// The server's open exceptions, (doc, id) → the events named.
fn open_exceptions(server: &Server) -> BTreeMap<(String, String), BTreeSet<String>> {
    let rows = server.ok(&["exceptions"]);
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let events: Vec<String> = serde_json::from_str(r["events"].as_str().unwrap()).unwrap();
            let key = (r["doc"].as_str().unwrap().to_owned(), r["id"].as_str().unwrap().to_owned());
            (key, events.into_iter().collect())
        })
        .collect()
}

/// Every device syncs at once, and the server is killed `delay` later and
/// restarted on its port. Returns the new server and how many syncs the kill
/// cut (failed, or left waiting and killed).
fn syncs_under_a_kill(mut server: Server, devices: &[&Device], delay: Duration) -> (Server, usize) {
    let mut syncs: Vec<_> = devices
        .iter()
        .map(|d| {
            Command::new(bin("waybill-agent"))
                .arg("--store")
                .arg(&d.store)
                .args(["--json", "sync", "--timeout", "2"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(delay);
    server.kill();
    let (data, port) = (server.data.clone(), server.port);
    let server = Server::start_on(&data, port);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut cut = 0;
    for sync in &mut syncs {
        loop {
            if let Some(status) = sync.try_wait().unwrap() {
                cut += usize::from(!status.success());
                break;
            }
            if Instant::now() > deadline {
                sync.kill().unwrap();
                sync.wait().unwrap();
                cut += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    (server, cut)
}

/// Syncs until a sync completes, then once more (so the device has what
/// the others' syncs brought); the last report.
fn settle(device: &Device) -> Value {
    for _ in 0..2 {
        let mut tries = 0;
        while !device.run(&["sync"]).status.success() {
            tries += 1;
            assert!(tries < 20, "{}: sync keeps failing", device.store.display());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    device.sync()
}

#[test]
fn offline_cancels_and_double_packs_survive_a_server_killed_mid_sync_as_open_exceptions() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port();
    let port = free_port();
    let server = Server::start_with(&dir.path().join("server"), port, Some(http));
    server.ok(&["import", SEED]);
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let packers = [
        Device::enrol(dir.path(), &server, "pk-1", "packer", Some("wh-1")),
        Device::enrol(dir.path(), &server, "pk-2", "packer", Some("wh-1")),
    ];
    let mut acked = Acked::default();

    // SO-1001 is picked whole and synced; both packers see it picked.
    picker.sync();
    acked.record(&picker, "SO-1001", &pick("SO-1001", "1", "A-01", X, "2"));
    acked.record(&picker, "SO-1001", &pick("SO-1001", "2", "B-01", Y, "1"));
    assert_eq!(picker.sync()["pending_events"], 0);
    for p in &packers {
        p.sync();
        assert_eq!(p.ok(&["order", "SO-1001"])["status"], "picked");
    }

    // All offline. The office cancels SO-1002, which the picker goes on
    // picking; each packer packs SO-1001's two units into a package of its own.
    let (status, view) =
        api(http, "POST", "/api/orders/SO-1002/cancel", Some(&json!({ "reason": "customer asked" })));
    assert_eq!(status, 200, "{view}");
    let after_cancel = acked.record(&picker, "SO-1002", &pick("SO-1002", "1", "A-02", Z, "3"));
    let mut packs = BTreeSet::new();
    for (p, sscc) in packers.iter().zip(["106141411234567903", "106141411234567910"]) {
        packs.insert(acked.record(
            p,
            "SO-1001",
            &["pack", "--order", "SO-1001", "--package", sscc, "--line", "1:2", "--line", "2:1"],
        ));
        acked.record(p, "SO-1001", &["close", "--order", "SO-1001", "--package", sscc]);
    }

    // Everyone syncs at once, and the server dies under them, round after
    // round, a seeded random moment in. Before each round the packers
    // receive a unit each, so every round has work in flight.
    let devices = [&picker, &packers[0], &packers[1]];
    let mut rng = XorShift(0x5EED_C0115);
    let mut server = server;
    let (mut cut, mut round) = (0, 0);
    while round < ROUNDS || (cut < CUT && round < MAX_ROUNDS) {
        round += 1;
        for p in &packers {
            p.ok(&["receive", "--bin", "A-01", "--item", X, "--qty", "1"]);
        }
        let delay = Duration::from_millis(rng.next() % 60);
        let (restarted, n) = syncs_under_a_kill(server, &devices, delay);
        server = restarted;
        eprintln!("round {round}: server killed {delay:?} into the syncs; {n} of 3 cut");
        cut += n;
    }
    assert!(cut >= CUT, "the kills cut only {cut} syncs under way in {round} rounds");
    let reports: Vec<Value> = devices.iter().map(|d| settle(d)).collect();

    // Nothing acknowledged is lost: every device's event is in the server's
    // timeline of its order, and nothing is pending or quarantined.
    for order in ORDERS {
        let view = server.order(order);
        let timeline: BTreeSet<String> = view["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect();
        let missing: Vec<&String> = acked.0[order].difference(&timeline).collect();
        assert!(missing.is_empty(), "{order}: acknowledged but not on the server: {missing:?}");
    }
    // Each receipt counts once: A-01 opened with 12, SO-1001 took 2.
    let stock = server.ok(&["stock"]);
    let a01 = stock.as_array().unwrap().iter().find(|r| r["bin"] == "A-01" && r["gtin"] == X).unwrap();
    assert_eq!(a01["on_hand"].as_i64(), Some(12 - 2 + 2 * round as i64), "{stock}");
    for (d, report) in devices.iter().zip(&reports) {
        assert_eq!(report["pending_events"], 0, "{report}");
        let status = d.ok(&["status"]);
        assert_eq!((status["pending_events"].as_i64(), status["quarantined"].as_i64()), (Some(0), Some(0)));
    }

    // Every device that holds an order sees it as the server does.
    for d in devices {
        for order in ORDERS {
            let mine = d.run(&["order", order]);
            if mine.status.success() {
                let mine: Value = serde_json::from_slice(&mine.stdout).unwrap();
                assert_eq!(mine, server.order(order), "{} sees {order} otherwise", d.store.display());
            }
        }
    }

    // Every seeded collision is an open exception naming its events.
    let open = open_exceptions(&server);
    let key = |doc: &str, id: &str| (doc.to_owned(), id.to_owned());
    let late = &open[&key("order/SO-1002", "work_after_cancel:order")];
    assert!(late.contains(&after_cancel), "the pick after the cancel is not named: {late:?}");
    for line in ["over_pack:1", "over_pack:2"] {
        let over = open.get(&key("order/SO-1001", line)).unwrap_or_else(|| panic!("no {line}: {open:?}"));
        assert!(over.is_superset(&packs), "{line} does not name both packs: {over:?}");
    }
    let so1 = server.order("SO-1001");
    assert_eq!((so1["lines"][0]["picked"].as_i64(), so1["lines"][0]["packed"].as_i64()), (Some(2), Some(4)));
    assert_eq!(server.order("SO-1002")["status"], "cancelled");
    eprintln!("collisions: {round} rounds, {cut} syncs cut, in {:?}", started.elapsed());
}
