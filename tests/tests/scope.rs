//! Scope follows what a device knows: a device that was offline while the
//! office amended, held and cancelled an order it holds gets all three on its
//! next sync, though the order has closed, and its task list drops the order.
//! Once it has synced the closing, the order leaves its scope and it may
//! evict it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use serde_json::{Value, json};
use waybill_tests::{Device, SEED, Server, api, free_port, free_tcp_port};

/// The orders a picker's task list offers work on.
fn offered(picker: &Device) -> BTreeSet<String> {
    let tasks = picker.ok(&["tasks"]);
    tasks["tasks"].as_array().unwrap().iter().map(|t| t["order"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_device_offline_through_an_amendment_a_hold_and_a_cancel_gets_all_three_and_drops_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port();
    let server = Server::start_with(&dir.path().join("server"), free_port(), Some(http));
    server.ok(&["import", SEED]);
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let first = picker.sync();
    assert_eq!(first["new_documents"], 3, "{first}");
    assert_eq!(offered(&picker), BTreeSet::from(["SO-1001".to_owned(), "SO-1002".to_owned()]));

    // The picker is offline; the office amends the address, holds and cancels.
    let ship_to = json!({ "name": "Ada King", "line1": "1 Ockham Park", "city": "Ockham",
                          "postcode": "GU23 6NP", "country": "GB" });
    let calls: [(&str, Value); 3] = [
        ("/api/orders/SO-1001/address", json!({ "ship_to": ship_to })),
        ("/api/orders/SO-1001/hold", json!({ "reason": "payment check" })),
        ("/api/orders/SO-1001/cancel", json!({ "reason": "customer asked" })),
    ];
    for (path, body) in &calls {
        let (status, view) = api(http, "POST", path, Some(body));
        assert_eq!(status, 200, "{path}: {view}");
    }
    assert_eq!(server.order("SO-1001")["status"], "cancelled");
    assert_eq!(picker.ok(&["order", "SO-1001"])["status"], "picking");

    // Its next sync brings all three, though the order has closed.
    let report = picker.sync();
    assert_eq!(report["in_scope"], 3, "{report}");
    let mine = picker.ok(&["order", "SO-1001"]);
    assert_eq!(mine, server.order("SO-1001"), "the device sees the order otherwise than the server");
    assert_eq!((mine["status"].as_str(), mine["held"].as_bool()), (Some("cancelled"), Some(true)));
    assert_eq!(mine["ship_to"]["city"], "Ockham");
    let kinds: Vec<&str> =
        mine["timeline"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    for kind in ["address_amended", "held", "cancelled"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }

    // Its tasks drop the order, and picking it is refused.
    assert_eq!(offered(&picker), BTreeSet::from(["SO-1002".to_owned()]));
    let err = picker.fails(&waybill_tests::pick("SO-1001", "1", "A-01", "09506000134352", "1"));
    assert!(err.contains("cancelled"), "{err}");

    // It has synced the closing: the order leaves its scope, and it may go.
    let after = picker.sync();
    assert_eq!(after["in_scope"], 2, "{after}");
    let evicted = picker.ok(&["evict"]);
    assert_eq!(evicted, json!(["order/SO-1001"]));
    assert_eq!(offered(&picker), BTreeSet::from(["SO-1002".to_owned()]));
}

/// A device killed after it told the server it held an order's closing, but
/// before it stored it, still learns of the closing: the server (going by
/// what the device said) no longer lists the order, and the device syncs the
/// open order it holds anyway. Found by the soak (scripts/soak.sh).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_killed_before_storing_a_closing_it_acknowledged_still_learns_of_it() {
    use automerge::{AutoCommit, ChangeHash, sync::State};
    use waybill_shared::sync::session::ClientSession;
    use waybill_tests::raw::Client;

    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port();
    let server = Server::start_with(&dir.path().join("server"), free_port(), Some(http));
    server.ok(&["import", SEED]);
    let packer = Device::enrol(dir.path(), &server, "pk-1", "packer", Some("wh-1"));
    packer.sync();
    assert_eq!(packer.ok(&["order", "SO-1002"])["status"], "picking");
    let cancel = move || api(http, "POST", "/api/orders/SO-1002/cancel", Some(&json!({ "reason": "asked" })));
    let (status, view) = tokio::task::spawn_blocking(cancel).await.unwrap();
    assert_eq!(status, 200, "{view}");

    // The packer's sync takes the cancel in and says so, then dies before
    // storing it: a session run here with its certificate, then dropped.
    let client = Client::device(&server, &packer).await;
    let (_control, manifest) = client.session().await;
    let listed = |manifest: &[waybill_shared::sync::ManifestEntry]| {
        manifest.iter().any(|e| e.doc.to_string() == "order/SO-1002")
    };
    let entry = manifest.iter().find(|e| e.doc.to_string() == "order/SO-1002").expect("SO-1002 unsettled");
    let heads: Vec<ChangeHash> = entry.heads.iter().map(|h| ChangeHash(*h)).collect();
    let mut session = ClientSession::new(entry.doc.clone(), AutoCommit::new(), State::new(), &heads);
    let mut stream = client.open().await;
    let mut out = session.start().unwrap();
    while !session.is_done() {
        for msg in &out {
            stream.send(msg).await;
        }
        out = session.handle(stream.next().await.unwrap()).unwrap();
    }
    for msg in &out {
        stream.send(msg).await;
    }
    stream.finish();
    let _ = stream.rest().await;
    drop((stream, client));
    let (_control, manifest) = Client::device(&server, &packer).await.session().await;
    assert!(!listed(&manifest), "the server still lists SO-1002: the setup did not settle it");

    // Its next sync brings the cancel all the same.
    let report = packer.sync();
    assert_eq!(report["failed"], json!([]), "{report}");
    assert_eq!(packer.ok(&["order", "SO-1002"]), server.order("SO-1002"));
    assert_eq!(packer.ok(&["order", "SO-1002"])["status"], "cancelled");
}
