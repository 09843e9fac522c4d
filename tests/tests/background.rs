//! Background sync as an app runs it: [`BackgroundSync`] tells what it is
//! doing (connecting, connected, what changed, offline) while the server
//! comes and goes, takes up work recorded through the app's own handle,
//! keeps where it stands, and stops when told.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::sync::mpsc;
use waybill_agent::{Agent, BackgroundSync, PickRequest, SyncEvent, SyncState};
use waybill_shared::doc::DocId;
use waybill_tests::{Device, SEED, Server};

/// The next event; a link cut without a word is noticed after the 10 s
/// idle timeout.
async fn next(events: &mut mpsc::UnboundedReceiver<SyncEvent>) -> SyncEvent {
    tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("no sync event in 20 s")
        .unwrap()
}

fn state(s: SyncState) -> SyncEvent {
    SyncEvent::State(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_sync_tells_connected_changed_and_offline_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("server"));
    server.ok(&["import", SEED]);
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let packer = Device::enrol(dir.path(), &server, "pk-1", "packer", Some("wh-1"));
    packer.sync();

    let (tx, mut events) = mpsc::unbounded_channel();
    let agent = Agent::open(&picker.store).unwrap();
    let sync = BackgroundSync::start(agent, &tokio::runtime::Handle::current(), move |e| tx.send(e).unwrap());

    assert_eq!(next(&mut events).await, state(SyncState::Connecting));
    let SyncEvent::Changed(first) = next(&mut events).await else { panic!("expected the first documents") };
    assert_eq!(first.len(), 3, "{first:?}");
    assert_eq!(next(&mut events).await, state(SyncState::Connected));
    assert_eq!(sync.state(), SyncState::Connected);

    // Another device's work in this device's scope arrives as a push.
    packer.ok(&["receive", "--bin", "A-01", "--item", "09506000134352", "--qty", "4"]);
    packer.sync();
    let stock: DocId = "location/wh-1/0".parse().unwrap();
    assert_eq!(next(&mut events).await, SyncEvent::Changed(vec![stock]));

    // Work recorded through another handle on the store (the app's) wakes
    // the sync: it goes up well before the 5 s look for other processes'
    // work would find it.
    let mut app = Agent::open(&picker.store).unwrap();
    app.pick(&PickRequest {
        order: "SO-1001".parse().unwrap(),
        line: 1,
        bin: "A-01".into(),
        item: "09506000134352".into(),
        quantity: 2,
        override_reason: None,
    })
    .unwrap();
    for _ in 0..30 {
        if app.status().unwrap().pending_events == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.status().unwrap().pending_events, 0);
    assert_eq!(server.order("SO-1001")["lines"][0]["picked"], 2);

    // The server goes: offline, and a retry a second later.
    server.kill();
    let mut event = next(&mut events).await;
    while let SyncEvent::Changed(_) = event {
        event = next(&mut events).await;
    }
    match event {
        SyncEvent::State(SyncState::Offline { retry_in, .. }) => {
            assert_eq!(retry_in, Duration::from_secs(1));
        }
        other => panic!("expected offline, got {other:?}"),
    }
    assert_eq!(next(&mut events).await, state(SyncState::Connecting));

    tokio::time::timeout(Duration::from_secs(5), sync.stop()).await.unwrap();
    loop {
        if next(&mut events).await == state(SyncState::Stopped) {
            break;
        }
    }
}
