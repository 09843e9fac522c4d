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

/// A second demo while one runs is refused before it touches anything: on
/// the same ports it says they are taken; on other ports but the same folder
/// it says a demo runs there. The first carries on: its data is whole, it
/// still answers sign-in and the office's command line.
#[test]
fn a_second_demo_is_refused_and_the_running_one_keeps_its_world() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let (quic, http) = (free_port(), free_tcp_port());
    let demo = |data: &std::path::Path, quic: u16, http: u16| {
        let mut c = Command::new(bin("waybill-server"));
        c.arg("--data").arg(data).args(["demo", "--orders", "20", "--pace", "0.2"]);
        c.args(["--listen", &format!("127.0.0.1:{quic}"), "--http", &format!("127.0.0.1:{http}")]);
        c
    };
    let mut first = demo(&data, quic, http).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut out = BufReader::new(first.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("dashboard: http://") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the first demo did not start");
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let orders = || {
        let out = Command::new(bin("waybill-server"))
            .arg("--data")
            .arg(&data)
            .args(["--json", "orders"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap().as_array().unwrap().len()
    };
    let before = orders();
    assert!(before >= 20, "{before}");

    // Same ports, another folder: the ports are named, and the new folder
    // is not even made.
    let elsewhere = dir.path().join("other");
    let taken = demo(&elsewhere, quic, http).output().unwrap();
    let stderr = String::from_utf8_lossy(&taken.stderr);
    assert!(!taken.status.success());
    assert!(stderr.contains("in use") && stderr.contains("--listen"), "{stderr}");
    assert!(!elsewhere.exists(), "a refused demo made its folder");
    let taken = demo(&elsewhere, free_port(), http).output().unwrap();
    let stderr = String::from_utf8_lossy(&taken.stderr);
    assert!(!taken.status.success());
    assert!(stderr.contains("dashboard") && stderr.contains("--http"), "{stderr}");

    // Other ports, the same folder: the running demo holds it.
    let twice = demo(&data, free_port(), free_tcp_port()).output().unwrap();
    let stderr = String::from_utf8_lossy(&twice.stderr);
    assert!(!twice.status.success());
    assert!(stderr.contains("a demo is already running in"), "{stderr}");
    assert_eq!(stderr.matches("already running").count(), 1, "said once: {stderr}");

    // The first demo still has its world and still serves.
    assert!(orders() >= before);
    assert!(data.join("waybill.db").exists());
    assert_eq!(
        std::fs::read_dir(data.join("devices"))
            .unwrap()
            .filter(|e| { e.as_ref().unwrap().path().extension().is_some_and(|x| x == "db") })
            .count(),
        9,
        "the fleet's stores are all there"
    );
    let signed_in = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{http}/api/session"))
        .json(&serde_json::json!({ "user": "office", "password": "waybill-demo" }))
        .send()
        .unwrap();
    assert_eq!(signed_in.status().as_u16(), 200);
    assert!(first.try_wait().unwrap().is_none(), "the first demo stopped");
    first.kill().unwrap();
    first.wait().unwrap();
}
