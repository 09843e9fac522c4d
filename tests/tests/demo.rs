#![allow(clippy::unwrap_used)]
//! The README's main job, `waybill-server demo`, run small and fast with
//! `--once`: it brings up the server and the dashboard, and its fleet of real
//! agents takes orders through to delivery with proof. The collision it
//! always stages (a picker's offline count against the other picker's picks)
//! shows up as an exception in the office's data; the cancel and the address
//! change happen at random and are not checked here. The customer's side
//! too: the tracking links it prints open without sign-in while it runs,
//! its SMTP sink keeps the customers' emails in `<data>/mail`, drivers take
//! the money for orders paid on delivery (once short), and the summary
//! prints the day's cash reconciliation with the short handover.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use waybill_tests::{bin, free_port, free_tcp_port};

#[test]
fn the_demo_runs_the_fleet_to_deliveries_and_shows_the_collisions() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let demo = || {
        let mut c = Command::new(bin("waybill-server"));
        c.arg("--data").arg(&data);
        c.args(["demo", "--once", "--orders", "40", "--pace", "0.2", "--minutes", "3"]);
        c.args(["--listen", &format!("127.0.0.1:{}", free_port())]);
        c.args(["--http", &format!("127.0.0.1:{}", free_tcp_port())]);
        c
    };
    let mut child = demo().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap());
    // While it runs: each tracking link it prints opens without sign-in,
    // and the office's view of the order gives the same link.
    let client = reqwest::blocking::Client::new();
    let (mut text, mut links) = (String::new(), Vec::new());
    let mut token = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("customer tracking for ") {
            let (order, url) = rest.split_once(": ").unwrap();
            let page = client.get(url).send().unwrap();
            assert_eq!(page.status().as_u16(), 200, "{url}");
            assert!(page.text().unwrap().contains(order), "{url}");
            let (origin, path) = url.split_at(url.find("/track/").unwrap());
            let wrong = client.get(format!("{}0", url.trim_end_matches(|c: char| c.is_ascii_hexdigit())));
            assert_eq!(wrong.send().unwrap().status().as_u16(), 404, "a wrong key opens nothing");
            let token = token.get_or_insert_with(|| {
                let session = client
                    .post(format!("{origin}/api/session"))
                    .json(&serde_json::json!({ "user": "office", "password": "waybill-demo" }))
                    .send()
                    .unwrap();
                session.json::<serde_json::Value>().unwrap()["token"].as_str().unwrap().to_owned()
            });
            let view: serde_json::Value = client
                .get(format!("{origin}/api/orders/{order}"))
                .bearer_auth(&*token)
                .send()
                .unwrap()
                .json()
                .unwrap();
            assert_eq!(view["tracking"], path, "the office's page links the same page");
            links.push((order.to_owned(), path.to_owned()));
        }
        text.push_str(&line);
        text.push('\n');
    }
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert!(status.success(), "{text}\n{stderr}");
    assert!(!stderr.contains("panicked") && !text.contains("panicked"), "{stderr}");
    assert_eq!(links.len(), 3, "a link for an order of each kind of payment: {text}");
    assert!(text.contains("dashboard: http://127.0.0.1:"), "{text}");
    assert!(text.contains("enrolled 9 devices"), "{text}");
    assert!(text.contains("user \"viewer\", password \"waybill-viewer\" (viewer: reads only)"), "{text}");

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

    // Payment: prepaid orders were held, then authorised and fulfilled;
    // orders paid on delivery were delivered with what the driver took,
    // one of them short.
    let views: Vec<serde_json::Value> =
        orders.as_array().unwrap().iter().map(|o| office(&["order", o["id"].as_str().unwrap()])).collect();
    let terms = |v: &serde_json::Value| v["payment"]["terms"]["terms"].as_str().unwrap().to_owned();
    let prepaid: Vec<_> = views.iter().filter(|v| terms(v) == "prepaid").collect();
    assert!(!prepaid.is_empty(), "{text}");
    for v in &prepaid {
        assert_eq!(v["payment"]["authorisations"].as_array().unwrap().len(), 1, "{v}");
        assert!(text.contains(&format!(
            "office recorded the payment authorised for {}",
            v["header"]["id"].as_str().unwrap()
        )));
    }
    let cod: Vec<_> = views.iter().filter(|v| terms(v) == "on_delivery").collect();
    let delivered: Vec<_> =
        cod.iter().filter(|v| ["delivered", "completed"].contains(&v["status"].as_str().unwrap())).collect();
    assert!(delivered.len() >= 3, "orders paid on delivery were delivered: {text}");
    for v in &delivered {
        let collections = v["payment"]["collections"].as_array().unwrap();
        assert!(!collections.is_empty(), "delivered without a collection: {v}");
        assert_eq!(collections[0]["currency"], "EUR");
    }
    assert!(delivered.iter().any(|v| v["payment"]["collections"][0]["method"] == "cash"), "{text}");
    let short: Vec<_> = delivered.iter().filter(|v| v["payment"]["state"] == "short").collect();
    assert!(!short.is_empty(), "one collection short: {text}");
    assert!(kinds.iter().any(|k| k == "short_collection"), "{kinds:?}");

    // The day's cash: every route counted, one of them short.
    let reconciliation: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("cash reconciliation at the depot"))
        .skip(1)
        .take_while(|l| l.starts_with("  R-"))
        .collect();
    assert!(!reconciliation.is_empty(), "{text}");
    assert!(
        reconciliation.iter().any(|l| l.contains("difference -10.00 EUR (exception cash_difference:EUR)")),
        "{text}"
    );
    assert!(kinds.iter().any(|k| k == "cash_difference"), "{kinds:?}");

    // Emails: caught by the demo's sink, one confirmation per order, each
    // naming its order and linking its tracking page.
    assert!(
        text.contains(&format!("emails to customers: caught in {}", data.join("mail").display())),
        "{text}"
    );
    let mail: Vec<String> = std::fs::read_dir(data.join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        // Undo quoted-printable's soft line breaks, which wrap long links.
        .map(|p| std::fs::read_to_string(p).unwrap().replace("=\r\n", "").replace("=3D", "="))
        .collect();
    let sent: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("emails sent to customers: "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    // The count is the sink's when it printed: at least a confirmation per
    // order, and no more than it kept.
    assert!(sent > orders.as_array().unwrap().len() && sent <= mail.len(), "{sent}: {text}");
    let mut confirmed = std::collections::BTreeSet::new();
    for m in mail.iter().filter(|m| m.contains(" is confirmed\r\n")) {
        let order = m.split("Subject: Your order ").nth(1).unwrap().split(' ').next().unwrap();
        assert!(m.contains(&format!("/track/{order}/")), "{m}");
        assert!(m.contains("@example.com"), "{m}");
        confirmed.insert(order.to_owned());
    }
    assert_eq!(confirmed.len(), orders.as_array().unwrap().len(), "a confirmation for every order");
    for (order, path) in &links {
        assert!(mail.iter().any(|m| m.contains(&format!("Your order {order} is confirmed")) && m.contains(path.as_str())));
    }
    assert!(mail.iter().any(|m| m.contains("was delivered")), "delivery emails went out too");

    // A second run starts afresh in its own directory; other data is refused.
    let again = demo().output().unwrap();
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
    // The demo's second user reads and may not write.
    let client = reqwest::blocking::Client::new();
    let viewer = client
        .post(format!("http://127.0.0.1:{http}/api/session"))
        .json(&serde_json::json!({ "user": "viewer", "password": "waybill-viewer" }))
        .send()
        .unwrap();
    assert_eq!(viewer.status().as_u16(), 200);
    let token = viewer.json::<serde_json::Value>().unwrap()["token"].as_str().unwrap().to_owned();
    let orders = client.get(format!("http://127.0.0.1:{http}/api/orders")).bearer_auth(&token).send();
    assert_eq!(orders.unwrap().status().as_u16(), 200);
    let allocate = client
        .post(format!("http://127.0.0.1:{http}/api/allocate"))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send();
    assert_eq!(allocate.unwrap().status().as_u16(), 403);
    assert!(first.try_wait().unwrap().is_none(), "the first demo stopped");
    first.kill().unwrap();
    first.wait().unwrap();
}
