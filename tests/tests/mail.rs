#![allow(clippy::unwrap_used)]
//! Customers' emails through a real SMTP server (Python's aiosmtpd, which
//! `scripts/test.sh` installs: `waybill_tests::mail::Sink`): an
//! order taken in with the customer's address is told it is confirmed,
//! shipped, out for delivery with the ETA window, and delivered, each with
//! its tracking link; each email once, across a `kill -9` of the server.

use std::time::Duration;

use serde_json::Value;
use waybill_tests::mail::Sink;
use waybill_tests::{SEED, Server, api, free_port, free_tcp_port};

#[test]
fn a_customer_is_told_each_step_by_email_with_the_eta_and_tracking_link_once() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(&dir.path().join("maildir"));
    // The seed, with SO-1001's customer's address.
    let mut seed: Value = serde_json::from_str(&std::fs::read_to_string(SEED).unwrap()).unwrap();
    let order = seed["orders"].as_array_mut().unwrap().iter_mut().find(|o| o["id"] == "SO-1001").unwrap();
    order["email"] = "ada@example.com".into();
    let seed_file = dir.path().join("seed.json");
    std::fs::write(&seed_file, seed.to_string()).unwrap();

    let data = dir.path().join("server");
    let (port, http) = (free_port(), free_tcp_port());
    let smtp = sink.url();
    let serve = [
        "--smtp",
        &smtp,
        "--public-url",
        "https://track.example.com",
        "--mail-from",
        "Depot <depot@example.com>",
    ];
    let mut server = Server::start_serving(&data, port, Some(http), &serve);
    server.ok(&["import", seed_file.to_str().unwrap()]);

    let (_, view) = api(http, "GET", "/api/orders/SO-1001", None);
    let link = format!("https://track.example.com{}", view["tracking"].as_str().unwrap());
    let confirmed = sink.wait_for("Your order SO-1001 is confirmed");
    assert_eq!(confirmed.to, "ada@example.com");
    assert!(confirmed.body.contains(&link), "{}", confirmed.body);
    assert_eq!(sink.messages().len(), 1, "only SO-1001 has an address");

    let driver = waybill_tests::out_for_delivery(dir.path(), &server);
    assert_eq!(driver.sync()["pending_events"], 0);
    sink.wait_for("Your order SO-1001 is on its way");
    let out = sink.wait_for("Your order SO-1001 arrives today");
    assert!(out.body.contains("Expected between ") && out.body.contains(&link), "{}", out.body);

    // The server is killed and started again: nothing it recorded as sent
    // is sent twice. (A mail sent but not yet recorded when the server dies
    // goes again once its lease of a minute ends: at least once, never lost.)
    let recorded = |v: &Value| {
        v["emails"].as_array().is_some_and(|e| e.len() == 3 && e.iter().all(|m| m["sent_at"].is_string()))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !recorded(&api(http, "GET", "/api/orders/SO-1001", None).1) {
        assert!(std::time::Instant::now() < deadline, "the three emails were not recorded as sent");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill();
    server = Server::start_serving(&data, port, Some(http), &serve);
    waybill_tests::deliver_with_proof(dir.path(), &driver);
    let delivered = sink.wait_for("Your order SO-1001 was delivered");
    assert!(delivered.body.contains("Handed to Ada") && delivered.body.contains(&link), "{}", delivered.body);
    std::thread::sleep(Duration::from_secs(2));
    let subjects: Vec<String> = sink.messages().into_iter().map(|m| m.subject).collect();
    assert_eq!(
        subjects,
        [
            "Your order SO-1001 is confirmed",
            "Your order SO-1001 is on its way",
            "Your order SO-1001 arrives today",
            "Your order SO-1001 was delivered"
        ],
        "each once, in order"
    );

    // The office sees what the customer was sent.
    let (_, view) = api(http, "GET", "/api/orders/SO-1001", None);
    let emails = view["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 4, "{view}");
    assert!(emails.iter().all(|e| e["to"] == "ada@example.com" && e["sent_at"].is_string()), "{emails:?}");
    drop(server);
}
