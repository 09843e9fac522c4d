#![allow(clippy::unwrap_used)]
//! The server dies (SIGKILL) in the middle of syncs and comes back on the
//! same port and data directory, round after round. In each round a picker
//! records a batch of stock receipts and picks in one `waybill-agent run`,
//! starts a sync, and the server is killed a seeded random 0-50 ms later,
//! then restarted. A sync the kill left waiting is killed too (QUIC only
//! notices a vanished peer at its idle timeout), so the device crashes
//! mid-sync as well. The device syncs again until a sync completes. Ten
//! rounds, and more (up to 30) until at least three kills cut a sync that
//! had reached the server. After every round:
//!
//! - the data directory opens after the crash (the office's command line
//!   reads it while the server is down, and the server starts on it);
//! - every event the device acknowledged is on the server exactly once:
//!   stock on hand is the opening balance plus each receipt less each pick,
//!   the order's picked units are the picks made, and the server's stored
//!   documents hold exactly the acknowledged events;
//! - nothing is left pending on the device.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use waybill_shared::doc;
use waybill_tests::{Device, Server, XorShift, bin, free_port};

const X: &str = "09506000134352"; // received into A-01
const Z: &str = "09506000134376"; // picked from A-02
const ROUNDS: i64 = 10;
const MAX_ROUNDS: i64 = 30;
/// Rounds whose kill must cut a sync that had reached the old server.
const CUT: u32 = 3;
const RECEIPTS: i64 = 20;
const PICKS: i64 = 2;
const OPENING_A01: i64 = 12;
const OPENING_A02: i64 = 200;

fn seed() -> Value {
    let address = json!({ "name": "Ada", "line1": "1 High Street", "city": "London", "postcode": "N1 1AA", "country": "GB" });
    json!({
        "locations": [{
            "id": "wh-1", "name": "Main warehouse", "epoch": 0,
            "bins": [{ "id": "A-01", "walk": 1 }, { "id": "A-02", "walk": 2 }],
            "opening": [
                { "bin": "A-01", "gtin": X, "quantity": OPENING_A01 },
                { "bin": "A-02", "gtin": Z, "quantity": OPENING_A02 }
            ]
        }],
        "orders": [{
            "id": "SO-3001", "customer": "Ada", "ship_to": address,
            "lines": [{ "line": 1, "gtin": Z, "description": "Oil can", "quantity": 100 }],
            "location": "wh-1", "created_at": "2026-11-23T08:00:00Z",
            "allocations": [{ "line": 1, "location": "wh-1", "quantity": 100 }],
            "pick_device": "hh-1"
        }]
    })
}

/// Runs `lines` through `waybill-agent run` on one open store; the events
/// it acknowledged, one JSON line each.
fn run_script(device: &Device, lines: &[String]) -> Vec<Value> {
    let mut child = Command::new(bin("waybill-agent"))
        .arg("--store")
        .arg(&device.store)
        .args(["--json", "run"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(lines.join("\n").as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "run: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The ids of the device events in a document as the server stores it,
/// checking none is stored twice.
fn stored_device_events(server: &Server, id: &str) -> BTreeSet<String> {
    let mut d = waybill_tests::stored(&server.storage(), id).unwrap();
    let events = if id.starts_with("order/") {
        doc::order::read(d.document()).unwrap().events
    } else {
        doc::location::read(d.document()).unwrap().events
    };
    let ids: Vec<String> =
        events.iter().map(|e| e.id.to_string()).filter(|i| i.starts_with("hh-1:")).collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "{id}: an event stored twice");
    unique
}

/// Rounds whose kill cut a sync that had reached the server.
fn cut(outcomes: &BTreeMap<&str, u32>) -> u32 {
    outcomes.get("failed").copied().unwrap_or(0) + outcomes.get("killed").copied().unwrap_or(0)
}

fn on_hand(server: &Server, bin: &str) -> i64 {
    let rows = server.ok(&["stock"]);
    let row = rows.as_array().unwrap().iter().find(|r| r["bin"] == bin);
    row.unwrap_or_else(|| panic!("no stock in {bin}: {rows}"))["on_hand"].as_i64().unwrap()
}

#[test]
fn acknowledged_events_survive_server_crashes_mid_sync() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let port = free_port();
    let mut server = Server::start_on(&data, port);
    let seed_file = dir.path().join("seed.json");
    std::fs::write(&seed_file, seed().to_string()).unwrap();
    server.ok(&["import", seed_file.to_str().unwrap()]);
    let device = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    assert_eq!(device.sync()["new_documents"], 2);

    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let mut stock_events = BTreeSet::new();
    let mut order_events = BTreeSet::new();
    let mut outcomes: BTreeMap<&str, u32> = BTreeMap::new();
    let mut retries = 0;
    let mut round = 0;
    while round < ROUNDS || (cut(&outcomes) < CUT && round < MAX_ROUNDS) {
        round += 1;
        let mut script: Vec<String> =
            (0..RECEIPTS).map(|_| format!("receive --bin A-01 --item {X} --qty 1")).collect();
        script.extend(
            (0..PICKS).map(|_| format!("pick --order SO-3001 --line 1 --bin A-02 --item {Z} --qty 1")),
        );
        let events = run_script(&device, &script);
        assert_eq!(events.len(), script.len(), "round {round}: {events:?}");
        for e in &events {
            let id = e["id"].as_str().unwrap().to_owned();
            if e["payload"]["type"] == "picked" {
                order_events.insert(id.clone());
            }
            assert!(stock_events.insert(id), "round {round}: an id acknowledged twice");
        }
        assert_eq!(device.ok(&["status"])["pending_events"], RECEIPTS + PICKS);

        // Sync, and kill the server under it.
        let mut sync = Command::new(bin("waybill-agent"))
            .arg("--store")
            .arg(&device.store)
            .args(["--json", "sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_millis(rng.next() % 51));
        server.kill();
        // The data directory opens after the crash.
        let rows = server.ok(&["stock"]);
        assert!(!rows.as_array().unwrap().is_empty(), "round {round}: {rows}");
        server = Server::start_on(&data, port);

        let restarted = t0.elapsed();

        // The interrupted sync gets a moment to end by itself: with an answer
        // from the restarted server if the kill came before it connected,
        // or an error. One the crash left waiting is killed.
        let deadline = Instant::now() + Duration::from_secs(2);
        let outcome = loop {
            if let Some(status) = sync.try_wait().unwrap() {
                break if status.success() { "completed" } else { "failed" };
            }
            if Instant::now() > deadline {
                sync.kill().unwrap();
                sync.wait().unwrap();
                break "killed";
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        *outcomes.entry(outcome).or_insert(0) += 1;
        eprintln!("round {round}: server restarted after {restarted:?}; the interrupted sync {outcome}");

        // Sync until a sync completes.
        let mut tries = 0;
        let report = loop {
            let out = device.run(&["sync"]);
            if out.status.success() {
                break serde_json::from_slice::<Value>(&out.stdout).unwrap();
            }
            tries += 1;
            assert!(
                tries < 20,
                "round {round}: sync keeps failing: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        retries += tries;
        assert!(report["refused"].as_array().unwrap().is_empty(), "round {round}: {report}");
        assert_eq!(report["pending_events"], 0, "round {round}: {report}");
        assert_eq!(device.ok(&["status"])["pending_events"], 0, "round {round}");

        // Every acknowledged event counts, once.
        assert_eq!(on_hand(&server, "A-01"), OPENING_A01 + round * RECEIPTS, "round {round}");
        assert_eq!(on_hand(&server, "A-02"), OPENING_A02 - round * PICKS, "round {round}");
        let view = server.order("SO-3001");
        assert_eq!(view["lines"][0]["picked"], round * PICKS, "round {round}: {view}");
        let timeline: BTreeSet<String> = view["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .filter(|i| i.starts_with("hh-1:"))
            .collect();
        assert_eq!(timeline, order_events, "round {round}");
        assert_eq!(stored_device_events(&server, "order/SO-3001"), order_events, "round {round}");
        assert_eq!(stored_device_events(&server, "location/wh-1/0"), stock_events, "round {round}");
        // The device's own view agrees.
        assert_eq!(device.ok(&["order", "SO-3001"]), view, "round {round}");
    }
    assert!(cut(&outcomes) >= CUT, "the kills never cut a sync under way: {outcomes:?}");
    eprintln!(
        "restart: {round} rounds in {:?}; interrupted syncs: {outcomes:?}; {retries} failed retries",
        started.elapsed()
    );
}
