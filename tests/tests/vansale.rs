//! Van sales without overselling: two drivers enrolled at the depot get
//! quotas of its free stock when they connect, go offline, sell at the door
//! up to their quotas (and are refused beyond), sync, and the office sees
//! every sale, the stock down by exactly what was sold, and each driver's
//! quota. Quota one driver hands back goes to another connected at once.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use waybill_agent::{Agent, BackgroundSync, SyncEvent};
use waybill_shared::doc::DocId;
use waybill_tests::{Device, SEED, Server, api, free_port, free_tcp_port};

/// The item: 12 units in bin A-01 of wh-1 in the demo seed.
const ITEM: &str = "09506000134352";

fn sell(driver: &Device, qty: u32) -> std::process::Output {
    driver.run(&[
        "van-sale",
        "--bin",
        "A-01",
        "--item",
        ITEM,
        "--qty",
        &qty.to_string(),
        "--customer",
        "Corner shop",
    ])
}

fn row<'a>(list: &'a Value, device: &str) -> &'a Value {
    list.as_array().unwrap().iter().find(|r| r["device"] == device).unwrap_or_else(|| panic!("{list}"))
}

#[test]
fn drivers_sell_offline_within_their_quotas_and_the_stock_is_never_oversold() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let (port, http) = (free_port(), free_tcp_port());
    let mut server = Server::start_with(&data, port, Some(http));
    server.ok(&["import", SEED]);
    // Bad input to the office gets a clear error.
    let bad = server.cli(&["quota-target", "--location", "nowhere", "--gtin", ITEM, "--target", "8"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no location nowhere"));
    server.ok(&["quota-target", "--location", "wh-1", "--gtin", ITEM, "--target", "8"]);

    let van1 = Device::enrol(dir.path(), &server, "van-1", "driver", Some("wh-1"));
    let van2 = Device::enrol(dir.path(), &server, "van-2", "driver", Some("wh-1"));
    // Each gets its grant in the sync it connects with: van-1 its target,
    // van-2 what is left of the 12 (4).
    van1.sync();
    van2.sync();
    assert_eq!((van1.quota(ITEM), van2.quota(ITEM)), (8, 4));
    let (status, quotas) = api(http, "GET", "/api/quotas", None);
    assert_eq!(status, 200, "{quotas}");
    assert_eq!(
        (row(&quotas, "van-1")["granted"].as_i64(), row(&quotas, "van-1")["target"].as_i64()),
        (Some(8), Some(8))
    );

    // The link goes: both sell at the door.
    server.kill();
    assert!(sell(&van1, 5).status.success());
    assert!(sell(&van1, 3).status.success());
    assert!(sell(&van2, 4).status.success());
    // Beyond its quota: refused on the device, with a clear error, nothing written.
    let refused = sell(&van2, 1);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("more than the 0 this device may still promise"), "{message}");
    assert!(sell(&van1, 1).status.code() != Some(0));
    assert_eq!((van1.quota(ITEM), van2.quota(ITEM)), (0, 0));
    assert_eq!(van1.ok(&["status"])["pending_events"], 2);
    assert_eq!(van2.ok(&["status"])["pending_events"], 1);

    // Back online: nothing refused, the office sees it all.
    server = Server::start_with(&data, port, Some(http));
    for van in [&van1, &van2] {
        let report = van.sync();
        assert_eq!(report["refused"], json!([]), "{report}");
        assert_eq!(report["pending_events"], 0, "{report}");
    }
    let (_, stock) = api(http, "GET", "/api/stock", None);
    let a01: Vec<&Value> = stock.as_array().unwrap().iter().filter(|s| s["gtin"] == ITEM).collect();
    assert!(a01.is_empty(), "all 12 units sold, none oversold: {stock}");
    let (_, quotas) = api(http, "GET", "/api/quotas", None);
    assert_eq!(
        (row(&quotas, "van-1")["sold"].as_i64(), row(&quotas, "van-1")["remaining"].as_i64()),
        (Some(8), Some(0))
    );
    assert_eq!(
        (row(&quotas, "van-2")["sold"].as_i64(), row(&quotas, "van-2")["remaining"].as_i64()),
        (Some(4), Some(0))
    );
    let (_, exceptions) = api(http, "GET", "/api/exceptions", None);
    assert!(
        !exceptions.to_string().contains("quota_") && !exceptions.to_string().contains("stock_below_zero"),
        "{exceptions}"
    );
    assert_eq!(server.ok(&["quarantine"]), Value::Array(vec![]));
    // Nothing is free: the next sync grants nothing more.
    van1.sync();
    assert_eq!(van1.quota(ITEM), 0);
}

/// The next sync event that changed `doc`, within 20 s.
async fn changed(events: &mut mpsc::UnboundedReceiver<SyncEvent>, doc: &DocId) {
    let wait = async {
        loop {
            if let Some(SyncEvent::Changed(docs)) = events.recv().await
                && docs.contains(doc)
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait).await.expect("no change pushed in 20 s");
}

fn remaining(agent: &mut Agent) -> i64 {
    agent.quotas().unwrap().iter().find(|q| q.gtin.as_str() == ITEM).map_or(0, |q| q.remaining)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_handed_back_by_one_driver_goes_to_another_connected_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"));
    server.ok(&["import", SEED]);
    server.ok(&["quota-target", "--location", "wh-1", "--gtin", ITEM, "--target", "8"]);
    let van1 = Device::enrol(dir.path(), &server, "van-1", "driver", Some("wh-1"));
    let van2 = Device::enrol(dir.path(), &server, "van-2", "driver", Some("wh-1"));
    van1.sync();
    assert_eq!(van1.quota(ITEM), 8);

    // van-2 stays connected; it gets the 4 left when it connects.
    let stock: DocId = "location/wh-1/0".parse().unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let agent = Agent::open(&van2.store).unwrap();
    let sync = BackgroundSync::start(agent, &tokio::runtime::Handle::current(), move |e| {
        let _ = tx.send(e);
    });
    changed(&mut events, &stock).await;
    let mut app = Agent::open(&van2.store).unwrap();
    assert_eq!(remaining(&mut app), 4);

    // van-1 hands 5 back: van-2, online, is topped up to its target at once
    // (4 more), and van-1 is not given its own units back on that sync.
    van1.ok(&["quota-release", "--item", ITEM, "--qty", "5"]);
    van1.sync();
    // Pushed twice: van-1's release, then the grant.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while remaining(&mut app) != 8 {
        assert!(tokio::time::Instant::now() < deadline, "van-2 was not topped up: {}", remaining(&mut app));
        let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
    }
    assert_eq!(van1.quota(ITEM), 3);
    // On its next connection van-1 gets what is still free: 12 - 8 - 3 = 1.
    van1.sync();
    assert_eq!(van1.quota(ITEM), 4);
    sync.stop().await;
}
