//! Several `waybill-server` nodes on one PostgreSQL database, as a carrier
//! runs them behind a load balancer: any node takes any device, what one
//! node stores the others serve, an enrolment code works once whichever
//! node sees it, and a revocation on one node stops the device on another.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use waybill_tests::postgres::Database;
use waybill_tests::{Device, SEED, Server, free_port, pick};

/// The keys every node shares: the device CA (which signs enrolled
/// devices' certificates) and the server certificate devices pin.
const KEYS: [&str; 4] = ["ca.der", "ca.key.der", "server.der", "server.key.der"];

/// `n` nodes on one new database, the first making the keys and the
/// others given copies of them (docs/operations.md).
fn nodes(dir: &Path, n: usize) -> (Arc<Database>, Vec<Server>) {
    let db = Database::create();
    let first = Server::node(&dir.join("node-0"), free_port(), None, Some(db.clone()));
    let mut all = vec![first];
    for i in 1..n {
        let data = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&data).unwrap();
        for key in KEYS {
            std::fs::copy(all[0].data.join(key), data.join(key)).unwrap();
        }
        all.push(Server::node(&data, free_port(), None, Some(db.clone())));
    }
    (db, all)
}

#[test]
fn devices_on_different_nodes_work_on_one_merged_state() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, nodes) = nodes(dir.path(), 2);
    let (a, b) = (&nodes[0], &nodes[1]);
    a.ok(&["import", SEED]);

    // The picker enrols and syncs through node A, the packer through B.
    let picker = Device::enrol(dir.path(), a, "hh-1", "picker", Some("wh-1"));
    assert_eq!(picker.sync()["new_documents"], 3);
    picker.ok(&pick("SO-1001", "1", "A-01", "09506000134352", "2"));
    picker.ok(&pick("SO-1001", "2", "B-01", "09506000134369", "1"));
    assert_eq!(picker.sync()["pending_events"], 0);

    let packer = Device::enrol(dir.path(), b, "pk-1", "packer", Some("wh-1"));
    packer.sync();
    let work = packer.ok(&["tasks"]);
    assert!(work.to_string().contains("SO-1001"), "the packer on B sees what was picked through A: {work}");
    packer.ok(&[
        "pack",
        "--order",
        "SO-1001",
        "--package",
        "106141411234567897",
        "--line",
        "1:2",
        "--line",
        "2:1",
    ]);
    packer.ok(&["close", "--order", "SO-1001", "--package", "106141411234567897"]);
    assert_eq!(packer.sync()["pending_events"], 0);

    // One office: either node's view is the same.
    assert_eq!(a.order("SO-1001")["status"], "packed");
    assert_eq!(b.order("SO-1001"), a.order("SO-1001"));
    let devices = a.ok(&["devices"]);
    assert_eq!(devices.as_array().unwrap().len(), 2, "{devices}");
}

#[test]
fn an_enrolment_code_works_once_whichever_node_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, nodes) = nodes(dir.path(), 2);
    let (a, b) = (&nodes[0], &nodes[1]);
    a.ok(&["import", SEED]);
    let (code, fingerprint) = a.enrol("hh-1", "picker", Some("wh-1"));
    let first = Device { store: dir.path().join("first.db") };
    first.ok(&["enrol", "--server", &b.addr(), "--code", &code, "--fingerprint", &fingerprint]);
    let second = Device { store: dir.path().join("second.db") };
    let refused =
        second.fails(&["enrol", "--server", &a.addr(), "--code", &code, "--fingerprint", &fingerprint]);
    assert!(refused.contains("code"), "{refused}");
    first.sync();
}

#[test]
fn a_revocation_on_one_node_stops_the_device_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, nodes) = nodes(dir.path(), 2);
    let (a, b) = (&nodes[0], &nodes[1]);
    a.ok(&["import", SEED]);
    let picker = Device::enrol(dir.path(), b, "hh-1", "picker", Some("wh-1"));
    picker.sync();
    a.ok(&["revoke", "--device", "hh-1"]);
    let refused = picker.fails(&["sync"]);
    assert!(refused.contains("revoked"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_stored_through_one_node_is_pushed_to_a_device_on_another() {
    use std::time::{Duration, Instant};

    use tokio::sync::mpsc;
    use waybill_agent::{Agent, BackgroundSync, SyncEvent, SyncState};

    let dir = tempfile::tempdir().unwrap();
    let (_db, nodes) = nodes(dir.path(), 2);
    let (a, b) = (&nodes[0], &nodes[1]);
    a.ok(&["import", SEED]);
    let receiver = Device::enrol(dir.path(), a, "pk-1", "packer", Some("wh-1"));
    let watcher = Device::enrol(dir.path(), b, "pk-2", "packer", Some("wh-1"));
    receiver.sync();

    // The watcher stays connected to node B.
    let (tx, mut events) = mpsc::unbounded_channel();
    let sync = BackgroundSync::start(
        Agent::open(&watcher.store).unwrap(),
        &tokio::runtime::Handle::current(),
        move |e| {
            let _ = tx.send(e);
        },
    );
    let next = async |events: &mut mpsc::UnboundedReceiver<SyncEvent>| {
        tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("no sync event in 10 s")
            .unwrap()
    };
    while next(&mut events).await != SyncEvent::State(SyncState::Connected) {}

    // Stock received through node A reaches it. Timed from the start of
    // the receiving device's sync (a process: connect, sync, store, close),
    // so an upper bound on store-to-device.
    let mut latencies = Vec::new();
    for round in 0..5 {
        receiver.ok(&["receive", "--bin", "A-01", "--item", "09506000134352", "--qty", "1"]);
        while events.try_recv().is_ok() {}
        let stored = Instant::now();
        receiver.sync();
        let stock: waybill_shared::doc::DocId = "location/wh-1/0".parse().unwrap();
        loop {
            if let SyncEvent::Changed(docs) = next(&mut events).await {
                if docs.contains(&stock) {
                    break;
                }
            }
        }
        latencies.push(stored.elapsed());
        eprintln!("round {round}: pushed across nodes and synced in {:?}", stored.elapsed());
    }
    sync.stop().await;
    latencies.sort();
    eprintln!(
        "push across nodes, from the sync on A to the device on B: median {:?}, worst {:?}",
        latencies[2], latencies[4]
    );
    assert!(latencies[4] < Duration::from_secs(3), "{latencies:?}");
    // What it holds is what was stored through A.
    assert_eq!(watcher.ok(&["stock"]), receiver.ok(&["stock"]));
    let stock = b.ok(&["stock"]);
    let a01 = stock.as_array().unwrap().iter().find(|r| r["bin"] == "A-01").unwrap();
    assert_eq!(a01["on_hand"], 12 + 5, "{stock}");
}

#[test]
fn a_device_whose_node_is_killed_mid_sync_finishes_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, mut nodes) = nodes(dir.path(), 2);
    nodes[0].ok(&["import", SEED]);
    let packer = Device::enrol(dir.path(), &nodes[0], "pk-1", "packer", Some("wh-1"));
    packer.ok(&["servers", &nodes[0].addr(), &nodes[1].addr()]);
    packer.sync();
    for _ in 0..20 {
        packer.ok(&["receive", "--bin", "A-01", "--item", "09506000134352", "--qty", "1"]);
    }
    // A sync under way when node A dies (kill -9)...
    let syncing = std::thread::spawn({
        let store = packer.store.clone();
        move || Device { store }.run(&["sync"])
    });
    std::thread::sleep(std::time::Duration::from_millis(30));
    nodes[0].kill();
    let _ = syncing.join().unwrap();
    // ...is finished through node B, and nothing is lost or counted twice.
    let report = packer.sync();
    assert_eq!(report["pending_events"], 0, "{report}");
    let stock = nodes[1].ok(&["stock"]);
    let a01 = stock.as_array().unwrap().iter().find(|r| r["bin"] == "A-01").unwrap();
    assert_eq!(a01["on_hand"], 12 + 20, "{stock}");
}
