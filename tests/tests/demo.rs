#![allow(clippy::unwrap_used)]
//! The README's main job, `waybill-server demo`, run small and fast with
//! `--once`: it brings up the server and the dashboard, and its fleet of real
//! agents takes orders through to delivery with proof. The collision it
//! always stages (a picker's offline count against the other picker's picks)
//! shows up as an exception in the office's data; the cancel and the address
//! change happen at random and are not checked here.

use std::process::Command;

use waybill_tests::{bin, free_port, free_tcp_port};

#[test]
fn the_demo_runs_the_fleet_to_deliveries_and_shows_the_collisions() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let run = || {
        Command::new(bin("waybill-server"))
            .arg("--data")
            .arg(&data)
            .args(["demo", "--once", "--orders", "40", "--pace", "0.2", "--minutes", "3"])
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .args(["--http", &format!("127.0.0.1:{}", free_tcp_port())])
            .output()
            .unwrap()
    };
    let out = run();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("dashboard: http://127.0.0.1:"), "{text}");
    assert!(text.contains("enrolled 9 devices"), "{text}");

    let office = |args: &[&str]| {
        let out = Command::new(bin("waybill-server"))
            .arg("--data")
            .arg(&data)
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let orders = office(&["orders"]);
    let done = orders
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| ["delivered", "completed"].contains(&o["status"].as_str().unwrap()))
        .count();
    assert!(done >= 20, "most orders delivered: {orders}");
    let kinds: Vec<String> = office(&["exceptions"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kinds.iter().any(|k| k == "stock_below_zero"),
        "the count collided with picks: {kinds:?}\n{text}"
    );
    let one = office(&["order", orders[0]["id"].as_str().unwrap()]);
    assert!(one["timeline"].as_array().unwrap().len() >= 3, "{one}");

    // A second run starts afresh in its own directory; other data is refused.
    let again = run();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let other = dir.path().join("precious");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let refused = Command::new(bin("waybill-server"))
        .arg("--data")
        .arg(&other)
        .args(["demo", "--once"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not an earlier demo"), "{refused:?}");
    assert_eq!(std::fs::read_to_string(other.join("keep.txt")).unwrap(), "mine");
}
