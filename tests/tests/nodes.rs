//! Several `waybill-server` nodes on one PostgreSQL database, as a carrier
//! runs them behind a load balancer: any node takes any device, what one
//! node stores the others serve, an enrolment code works once whichever
//! node sees it, and a revocation on one node stops the device on another.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use waybill_tests::raw::Client;
use waybill_tests::{Device, SEED, bin, nodes, pack_and_close, pick};

#[test]
fn devices_on_different_nodes_work_on_one_merged_state() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, nodes) = nodes(dir.path(), 2, false);
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
    pack_and_close(&packer);
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
    let (_db, nodes) = nodes(dir.path(), 2, false);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_node_cuts_the_device_off_on_another_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, nodes) = nodes(dir.path(), 2, false);
    let (a, b) = (&nodes[0], &nodes[1]);
    a.ok(&["import", SEED]);
    let picker = Device::enrol(dir.path(), b, "hh-1", "picker", Some("wh-1"));
    // Connected to B, mid-session, when A revokes it.
    let client = Client::device(b, &picker).await;
    let (_control, _) = client.session().await;
    a.ok(&["revoke", "--device", "hh-1"]);
    let revoked = Instant::now();
    let closed = client.closed_within(Duration::from_secs(3)).await;
    let took = revoked.elapsed();
    assert!(
        matches!(&closed, Some(quinn::ConnectionError::ApplicationClosed(c)) if c.reason.as_ref() == b"revoked"),
        "{closed:?}"
    );
    assert!(took < Duration::from_secs(1), "closed {took:?} after the revocation on the other node");
    let refused = picker.fails(&["sync"]);
    assert!(refused.contains("revoked"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_stored_through_one_node_is_pushed_to_a_device_on_another() {
    use tokio::sync::mpsc;
    use waybill_agent::{Agent, BackgroundSync, SyncEvent, SyncState};

    let dir = tempfile::tempdir().unwrap();
    let (_db, nodes) = nodes(dir.path(), 2, false);
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
    let (_db, mut nodes) = nodes(dir.path(), 2, false);
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

#[test]
fn devices_writing_one_document_through_two_nodes_at_once_lose_nothing() {
    const ROUNDS: usize = 10;
    const PER_ROUND: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let (_db, nodes) = nodes(dir.path(), 2, false);
    nodes[0].ok(&["import", SEED]);
    let devices: Vec<Device> = (0..4)
        .map(|i| Device::enrol(dir.path(), &nodes[i % 2], &format!("pk-{i}"), "packer", Some("wh-1")))
        .collect();
    for d in &devices {
        d.sync();
    }
    // Each device receives stock into one bin and syncs, round after round,
    // all four at once: the location's document is written through both
    // nodes together, and compacted (every 256 changes) on the way.
    let receipts = "receive --bin A-01 --item 09506000134352 --qty 1\n".repeat(PER_ROUND);
    let running: Vec<_> = devices
        .iter()
        .map(|d| {
            let (device, receipts) = (Device { store: d.store.clone() }, receipts.clone());
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let mut child = Command::new(bin("waybill-agent"))
                        .arg("--store")
                        .arg(&device.store)
                        .args(["--json", "run"])
                        .stdin(Stdio::piped())
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap();
                    child.stdin.take().unwrap().write_all(receipts.as_bytes()).unwrap();
                    let out = child.wait_with_output().unwrap();
                    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                    device.sync();
                }
            })
        })
        .collect();
    for r in running {
        r.join().unwrap();
    }
    for d in &devices {
        assert_eq!(d.sync()["pending_events"], 0);
    }
    // Every receipt counts, once, whichever node stored it.
    let received = (devices.len() * ROUNDS * PER_ROUND) as i64;
    for node in &nodes {
        let stock = node.ok(&["stock"]);
        let a01 = stock.as_array().unwrap().iter().find(|r| r["bin"] == "A-01").unwrap();
        assert_eq!(a01["on_hand"], 12 + received, "{stock}");
    }
}

#[test]
fn a_node_with_keys_of_its_own_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _nodes) = nodes(dir.path(), 1, false);
    let out = Command::new(bin("waybill-server"))
        .arg("--data")
        .arg(dir.path().join("stray"))
        .args(["--database", &db.url, "serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("are not those of the other nodes") && said.contains("ca.key.der"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_on_one_node_resumes_on_another() {
    use waybill_shared::blob::BlobHash;
    use waybill_shared::sync::Message;

    let dir = tempfile::tempdir().unwrap();
    let (_db, nodes) = nodes(dir.path(), 2, false);
    let (a, b) = (&nodes[0], &nodes[1]);
    a.ok(&["import", SEED]);
    let driver = Device::enrol(dir.path(), a, "drv-1", "driver", None);
    let blob: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let (hash, size) = (BlobHash::of(&blob), blob.len() as u64);
    let chunk = 64 * 1024;

    // Two chunks reach node A, then the link drops.
    let first = Client::device(a, &driver).await;
    let (_control, _) = first.session().await;
    let mut stream = first.open().await;
    stream.send(&Message::BlobPut { hash, size }).await;
    assert_eq!(stream.next().await, Ok(Message::BlobResume { offset: 0 }));
    for c in blob[..2 * chunk].chunks(chunk) {
        stream.send(&Message::BlobChunk { data: c.to_vec() }).await;
    }
    let held = Instant::now();
    while b.blob_partial(&hash) != Some(2 * chunk as u64) {
        assert!(held.elapsed() < Duration::from_secs(5), "node A never held the two chunks");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.conn.close(0u32.into(), b"link lost");

    // Node B takes it up where A left it, and every node serves it whole.
    let second = Client::device(b, &driver).await;
    let (_control, _) = second.session().await;
    let mut stream = second.open().await;
    stream.send(&Message::BlobPut { hash, size }).await;
    assert_eq!(stream.next().await, Ok(Message::BlobResume { offset: 2 * chunk as u64 }));
    for c in blob[2 * chunk..].chunks(chunk) {
        stream.send(&Message::BlobChunk { data: c.to_vec() }).await;
    }
    assert_eq!(stream.next().await, Ok(Message::BlobStored { hash }));
    assert_eq!(a.blob(&hash), Some(blob));
    assert_eq!(a.blob_partial(&hash), None);
}
