//! Protocols 1, 2 and 3 side by side, against a real server: a device of
//! any version is served in its own, sync messages go packed from 2 on, a
//! document a device holds none of comes whole on 3, and an office change
//! reaches a watching device with its changes from 2 on, applied with no
//! document session.

#![allow(clippy::unwrap_used)]

use automerge::{AutoCommit, ChangeHash};
use serde_json::json;
use waybill_shared::doc::DocId;
use waybill_shared::sync::Message;
use waybill_tests::raw::{Client, WAIT};
use waybill_tests::{Device, SEED, Server, api, free_port, free_tcp_port};

fn sorted(mut heads: Vec<[u8; 32]>) -> Vec<[u8; 32]> {
    heads.sort();
    heads
}

fn heads(doc: &mut AutoCommit) -> Vec<[u8; 32]> {
    sorted(doc.get_heads().iter().map(|h: &ChangeHash| h.0).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_of_either_version_is_served_in_its_own_and_office_changes_are_pushed_with_their_changes_on_2()
 {
    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port();
    let server = Server::start_with(&dir.path().join("server"), free_port(), Some(http));
    server.ok(&["import", SEED]);
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let order: DocId = "order/SO-1001".parse().unwrap();
    for (protocol, reason) in [(1, "check 1"), (2, "check 2"), (3, "check 3")] {
        let client = Client::device(&server, &picker).await;
        let (mut control, manifest, spoken) = client.session_in(protocol).await;
        assert_eq!(spoken, protocol, "the server speaks the device's version");
        let listed = manifest.iter().find(|e| e.doc == order).expect("SO-1001 in the picker's scope");

        // A new device fetching the order: the server's answers, in the form
        // the version says, bring the document as the server holds it.
        let listed_heads: Vec<ChangeHash> = listed.heads.iter().map(|h| ChangeHash(*h)).collect();
        let (mut doc, heard) = client.fetch(&order, spoken, &listed_heads).await;
        let packed = heard.iter().filter(|m| matches!(m, Message::Packed { .. })).count();
        let plain = heard.iter().filter(|m| matches!(m, Message::Sync { .. })).count();
        match protocol {
            1 => assert!(packed == 0 && plain > 0, "protocol 1: {packed} packed, {plain} plain"),
            2 => assert!(packed > 0 && plain == 0, "protocol 2: {packed} packed, {plain} plain"),
            _ => assert!(matches!(heard[..], [Message::Whole { .. }]), "protocol 3: {heard:?}"),
        }
        assert_eq!(
            heads(&mut doc),
            sorted(listed.heads.clone()),
            "protocol {protocol}: not the server's document"
        );

        // The office holds the order: the control stream says so at once.
        let hold = move || api(http, "POST", "/api/orders/SO-1001/hold", Some(&json!({ "reason": reason })));
        let (status, view) = tokio::task::spawn_blocking(hold).await.unwrap();
        assert_eq!(status, 200, "{view}");
        // (what the server stores now, from its manifest to a second link)
        let (_, now, _) = Client::device(&server, &picker).await.session_in(protocol).await;
        let stored = &now.iter().find(|e| e.doc == order).unwrap().heads;
        match tokio::time::timeout(WAIT, control.next()).await.unwrap().unwrap() {
            Message::Changed { doc: announced } => {
                assert_eq!(protocol, 1, "protocol 2 announced without the changes");
                assert_eq!(announced, order);
            }
            Message::Pushed { doc: announced, changes } => {
                assert!(protocol >= 2, "protocol 1 was sent Pushed");
                assert_eq!(announced, order);
                // Applied to what the device held, they bring it to what
                // the server stored: no session needed.
                let changes = changes.into_iter().map(|c| automerge::Change::from_bytes(c).unwrap());
                doc.apply_changes(changes).unwrap();
                assert_eq!(heads(&mut doc), sorted(stored.clone()));
            }
            other => panic!("protocol {protocol}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_newer_than_its_server_enrols_and_syncs_in_the_servers_version() {
    let dir = tempfile::tempdir().unwrap();
    // A server held to protocol 1, as one of the release before is.
    let server = Server::start_serving(&dir.path().join("server"), free_port(), None, &["--protocol", "1"]);
    server.ok(&["import", SEED]);
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let client = Client::device(&server, &picker).await;
    let mut control = client.hello(waybill_shared::sync::PROTOCOL_VERSION).await;
    match tokio::time::timeout(WAIT, control.next()).await.unwrap() {
        Ok(Message::Refused { reason, .. }) => assert_eq!(
            reason,
            waybill_shared::sync::RefuseReason::UnsupportedVersion { min: 1, max: 1 },
            "the server refuses version 2"
        ),
        other => panic!("{other:?}"),
    }
    // This build's agent falls back to 1: its enrolment above went through,
    // and so does its sync, work and all.
    let first = picker.sync();
    assert_eq!(first["new_documents"], 3, "{first}");
    picker.ok(&[
        "pick",
        "--order",
        "SO-1001",
        "--line",
        "1",
        "--bin",
        "A-01",
        "--item",
        "09506000134352",
        "--qty",
        "2",
    ]);
    let report = picker.sync();
    assert_eq!(
        (report["pending_events"].as_i64(), report["failed"].clone()),
        (Some(0), json!([])),
        "{report}"
    );
}

/// A server's `name` sample from `GET /metrics`.
fn metric(http: u16, name: &str) -> f64 {
    let text = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{http}/metrics"))
        .bearer_auth(waybill_tests::OFFICE_TOKEN)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watching_device_applies_a_pushed_change_with_no_document_stream() {
    use waybill_agent::{Agent, BackgroundSync, SyncEvent, SyncState};

    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port();
    let server = Server::start_with(&dir.path().join("server"), free_port(), Some(http));
    server.ok(&["import", SEED]);
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let sync = BackgroundSync::start(
        Agent::open(&picker.store).unwrap(),
        &tokio::runtime::Handle::current(),
        move |e| tx.send(e).unwrap(),
    );
    let mut next = async || tokio::time::timeout(WAIT, events.recv()).await.unwrap().unwrap();
    while next().await != SyncEvent::State(SyncState::Connected) {}
    let streams =
        tokio::task::spawn_blocking(move || metric(http, "waybill_document_streams_total")).await.unwrap();

    // The office holds an order the picker holds: it arrives, pushed.
    let hold = move || api(http, "POST", "/api/orders/SO-1001/hold", Some(&json!({ "reason": "check" })));
    let (status, view) = tokio::task::spawn_blocking(hold).await.unwrap();
    assert_eq!(status, 200, "{view}");
    let order: DocId = "order/SO-1001".parse().unwrap();
    assert_eq!(next().await, SyncEvent::Changed(vec![order]));
    let after =
        tokio::task::spawn_blocking(move || metric(http, "waybill_document_streams_total")).await.unwrap();
    assert_eq!(after, streams, "the pushed change took a document stream");

    // A cancel closes an order: pushed and applied too, then synced, so the
    // server learns the device holds the closing and drops the order from
    // its scope (else it would list it on every connection).
    let cancel = move || api(http, "POST", "/api/orders/SO-1002/cancel", Some(&json!({ "reason": "asked" })));
    let (status, view) = tokio::task::spawn_blocking(cancel).await.unwrap();
    assert_eq!(status, 200, "{view}");
    let closed: DocId = "order/SO-1002".parse().unwrap();
    assert_eq!(next().await, SyncEvent::Changed(vec![closed.clone()]));
    // (The sync after it runs once the app has been told.)
    let mut listed = true;
    for _ in 0..50 {
        let (_, manifest, _) = Client::device(&server, &picker).await.session_in(2).await;
        listed = manifest.iter().any(|e| e.doc == closed);
        if !listed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!listed, "the closed order is still in the device's scope after 5 s");
    assert_eq!(picker.ok(&["order", "SO-1001"])["status"], "held", "the hold is in the device's store");

    // An order closed just before the device stops is synced on its next
    // connection, not left listed for good.
    let cancel = move || api(http, "POST", "/api/orders/SO-1001/cancel", Some(&json!({ "reason": "asked" })));
    let (status, view) = tokio::task::spawn_blocking(cancel).await.unwrap();
    assert_eq!(status, 200, "{view}");
    let order: DocId = "order/SO-1001".parse().unwrap();
    assert_eq!(next().await, SyncEvent::Changed(vec![order.clone()]));
    sync.stop().await;
    picker.sync();
    let (_, manifest, _) = Client::device(&server, &picker).await.session_in(2).await;
    assert!(
        !manifest.iter().any(|e| e.doc == order),
        "an order closed as the device stopped is still listed"
    );
    assert_eq!(picker.ok(&["order", "SO-1001"])["status"], "cancelled");
    assert_eq!(picker.ok(&["order", "SO-1002"])["status"], "cancelled");
}
