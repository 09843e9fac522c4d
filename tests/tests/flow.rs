//! The whole chain over real QUIC: the office imports orders on the server,
//! a picker, a packer and a driver enrol, sync, work offline, sync again,
//! and the server's merged view shows the order delivered with its proof.

use waybill_tests::{Device, SEED, Server};

/// A server with the seed, SO-1001 picked and packed, and the driver
/// enrolled, loaded and out on route R-7.
fn out_for_delivery(dir: &std::path::Path) -> (Server, Device) {
    let server = Server::start(&dir.join("server"));
    server.ok(&["import", SEED]);
    let driver = waybill_tests::out_for_delivery(dir, &server);
    (server, driver)
}

#[test]
fn enrol_work_offline_sync_and_see_the_merged_order() {
    let dir = tempfile::tempdir().unwrap();
    let (server, driver) = out_for_delivery(dir.path());
    let report = waybill_tests::deliver_with_proof(dir.path(), &driver);
    assert_eq!(report["blobs_uploaded"], 2, "{report}");

    let view = server.order("SO-1001");
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(view["proofs"][0]["proof"]["recipient_name"], "Ada");
    assert!(view["exceptions"].as_array().unwrap().is_empty(), "{view}");
    let devices = server.ok(&["devices"]);
    assert_eq!(devices.as_array().unwrap().len(), 3);
}

#[test]
fn a_delivery_made_offline_after_the_office_cancelled_still_arrives_and_collides() {
    use waybill_shared::doc;
    use waybill_shared::event::Payload;
    use waybill_shared::event::office::Cancelled;
    use waybill_shared::id::DeviceId;
    use waybill_shared::policy::actor_of;
    use waybill_shared::recorder::Recorder;

    let dir = tempfile::tempdir().unwrap();
    let (server, driver) = out_for_delivery(dir.path());
    driver.sync();

    // The office cancels (an office device writes the event and syncs) ...
    let office = Device::enrol(dir.path(), &server, "of-1", "office", None);
    office.sync();
    let file = dir.path().join("so.automerge");
    office.ok(&["export", "order/SO-1001", "--out", file.to_str().unwrap()]);
    let mut d = automerge::AutoCommit::load(&std::fs::read(&file).unwrap())
        .unwrap()
        .with_actor(actor_of(&DeviceId::new("of-1").unwrap()));
    let mut rec = Recorder::new(DeviceId::new("of-1").unwrap());
    let cancel =
        rec.record(chrono::Utc::now(), None, Payload::Cancelled(Cancelled { reason: "called".into() }));
    doc::append(&mut d, &cancel).unwrap();
    std::fs::write(&file, d.save()).unwrap();
    office.ok(&["merge", file.to_str().unwrap()]);
    office.sync();
    assert_eq!(server.order("SO-1001")["status"], "cancelled");

    // ... while the driver, offline, delivers. The order left the driver's
    // scope, but its work still reaches the server and collides visibly.
    let photo = dir.path().join("door.jpg");
    std::fs::write(&photo, b"jpeg bytes").unwrap();
    waybill_tests::deliver(&driver, &photo, &photo);
    let report = driver.sync();
    assert_eq!(report["pending_events"], 0, "{report}");
    let view = server.order("SO-1001");
    let kinds: Vec<&str> =
        view["exceptions"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"delivered_after_cancel"), "{view}");
    assert_eq!(view["status"], "delivered");
}
