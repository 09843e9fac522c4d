#![allow(clippy::unwrap_used)]
//! The customer's tracking page on a real server: the office gets each
//! order's link, whoever holds it sees the order's steps (no sign-in), an
//! ETA window while it is out and the handover once delivered, the page
//! follows changes live, the customer rates the delivery and asks for a
//! return there, and a wrong key, another order's key or an unknown order
//! all get one and the same refusal; a revoked link too.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use waybill_tests::{SEED, Server, api, free_port, free_tcp_port};

/// A plain GET, as a customer's browser makes it: status, the headers
/// asked for, and the body.
fn get(http: u16, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let res = reqwest::blocking::get(format!("http://127.0.0.1:{http}{path}")).unwrap();
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    (status, headers, res.text().unwrap())
}

fn status(http: u16, link: &str) -> Value {
    let (code, _, body) = get(http, &format!("{link}/status"));
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn tracking_link(http: u16, order: &str) -> String {
    let (code, view) = api(http, "GET", &format!("/api/orders/{order}"), None);
    assert_eq!(code, 200, "{view}");
    view["tracking"].as_str().unwrap().to_owned()
}

#[test]
fn a_tracking_link_shows_its_order_from_confirmation_to_handover_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port();
    let server = Server::start_with(&dir.path().join("server"), free_port(), Some(http));
    // The seed, with the shipper letting SO-1001's page show the photo.
    let mut seed: Value = serde_json::from_str(&std::fs::read_to_string(SEED).unwrap()).unwrap();
    let so1001 = seed["orders"].as_array_mut().unwrap().iter_mut().find(|o| o["id"] == "SO-1001").unwrap();
    so1001["tracking_photo"] = true.into();
    let seed_file = dir.path().join("seed.json");
    std::fs::write(&seed_file, seed.to_string()).unwrap();
    server.ok(&["import", seed_file.to_str().unwrap()]);

    let link = tracking_link(http, "SO-1001");
    let other = tracking_link(http, "SO-1002");
    assert!(link.starts_with("/track/SO-1001/") && other.starts_with("/track/SO-1002/"), "{link} {other}");
    let key = link.rsplit('/').next().unwrap();
    assert_eq!(key.len(), 32, "a 128-bit key: {link}");

    let (code, headers, page) = get(http, &link);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("Order SO-1001") && page.contains("Order confirmed"), "{page}");
    for (name, value) in
        [("cache-control", "no-store"), ("referrer-policy", "no-referrer"), ("x-robots-tag", "noindex")]
    {
        assert_eq!(headers[name], value, "{name}");
    }
    // Nothing of the customer beyond the town: not their name.
    let order = server.order("SO-1001");
    let name = order["ship_to"]["name"].as_str().unwrap();
    assert!(!page.contains(name), "the page shows the addressee {name}");
    assert!(page.contains(order["ship_to"]["city"].as_str().unwrap()), "{page}");

    // A wrong key, another order's key, an unknown order: one answer.
    let mut wrong = link.clone();
    let last = if wrong.ends_with('0') { "1" } else { "0" };
    wrong.replace_range(wrong.len() - 1.., last);
    let other_key = other.rsplit('/').next().unwrap();
    let refusals: Vec<(u16, String)> = [
        wrong,
        format!("/track/SO-1001/{other_key}"),
        format!("/track/SO-9999/{key}"),
        format!("/track/not an order/{key}"),
    ]
    .iter()
    .map(|path| {
        let (code, _, body) = get(http, path);
        (code, body)
    })
    .collect();
    for (code, body) in &refusals {
        assert_eq!((*code, body), (404, &refusals[0].1));
    }
    assert!(refusals[0].1.contains("not valid"), "{}", refusals[0].1);
    let (code, _, _) = get(http, &format!("/track/SO-9999/{key}/status"));
    assert_eq!(code, 404);

    // The page follows the order live: a change to it is announced.
    let (tx, rx) = mpsc::channel();
    let events = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{http}{link}/events"))
        .send()
        .unwrap();
    assert_eq!(events.status().as_u16(), 200);
    std::thread::spawn(move || {
        for line in BufReader::new(events).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });

    let driver = waybill_tests::out_for_delivery(dir.path(), &server);
    assert_eq!(driver.sync()["pending_events"], 0);
    let announced = (0..200)
        .map_while(|_| rx.recv_timeout(Duration::from_secs(10)).ok())
        .any(|line| line == "event: changed");
    assert!(announced, "the page was not told the order changed");

    let out = status(http, &link);
    assert_eq!(out["state"], "out_for_delivery", "{out}");
    let steps: Vec<&str> =
        out["steps"].as_array().unwrap().iter().map(|s| s["what"].as_str().unwrap()).collect();
    assert_eq!(
        steps,
        ["Order confirmed", "Being prepared", "Packed", "Shipped", "Out for delivery"],
        "{out}"
    );
    let (from, to) = (out["eta"]["from"].as_str().unwrap(), out["eta"]["to"].as_str().unwrap());
    let (from, to): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        (from.parse().unwrap(), to.parse().unwrap());
    assert!(from < to && to > chrono::Utc::now(), "{out}");
    let (_, _, page) = get(http, &link);
    assert!(page.contains("Expected between"), "{page}");
    assert_eq!(get(http, &format!("{link}/photo")).0, 404, "a photo before delivery");

    let report = waybill_tests::deliver_with_proof(dir.path(), &driver);
    assert_eq!(report["pending_events"], 0, "{report}");
    let done = status(http, &link);
    assert_eq!(done["state"], "completed", "{done}");
    assert!(done["eta"].is_null(), "{done}");
    assert_eq!(done["delivered"]["taken_by"], "Handed to Ada", "{done}");
    assert_eq!(done["steps"].as_array().unwrap().last().unwrap()["what"], "Delivered", "{done}");
    // The shipper allows the photo: the page shows it, from the link only.
    let (_, _, page) = get(http, &link);
    assert!(page.contains("id=\"photo\""), "{page}");
    let (code, headers, bytes) = get(http, &format!("{link}/photo"));
    assert_eq!((code, bytes.as_str()), (200, "jpeg bytes"));
    assert_eq!(headers["cache-control"], "no-store");

    // After delivery the customer rates it, low: the office follows it up.
    let post = |path: &str, form: &[(&str, &str)]| {
        let res = reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{http}{path}"))
            .form(form)
            .send()
            .unwrap();
        (res.status().as_u16(), res.text().unwrap())
    };
    let (code, page) = post(&format!("{link}/feedback"), &[("rating", "2"), ("comment", "left in the rain")]);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("you rated it 2 of 5"), "{page}");
    let (code, page) = post(&format!("{link}/feedback"), &[("rating", "9")]);
    assert_eq!(code, 400, "{page}");
    let order = server.order("SO-1001");
    assert_eq!(order["feedback"]["rating"], 2, "{order}");
    assert_eq!(order["feedback"]["comment"], "left in the rain");
    let open = |order: &Value, id: &str| {
        order["exceptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"].as_str().unwrap().starts_with(id) && x["resolution"].is_null())
    };
    assert!(open(&order, "low_rating"), "{order}");
    let (_, metrics) = api(http, "GET", "/api/metrics", None);
    assert_eq!(
        (metrics["average_rating"].as_f64(), metrics["ratings"].as_u64()),
        (Some(2.0), Some(1)),
        "{metrics}"
    );

    // ... and asks to send one item of line 1 back; more than was delivered
    // is refused, saying how many may go back.
    let (code, page) = post(&format!("{link}/return"), &[("line-1", "5"), ("reason", "too many")]);
    assert_eq!(code, 400, "{page}");
    assert!(page.contains("at most 2"), "{page}");
    let (code, page) =
        post(&format!("{link}/return"), &[("line-1", "1"), ("line-2", "0"), ("reason", "wrong size")]);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("Return of 1 item asked for"), "{page}");
    let order = server.order("SO-1001");
    assert_eq!(order["return_requests"][0]["reason"], "wrong size", "{order}");
    assert!(open(&order, "return_requested:"), "{order}");
    // The office authorises it: the request is settled, and the page says so.
    let gtin = order["header"]["lines"][0]["gtin"].clone();
    let (code, view) = api(
        http,
        "POST",
        "/api/orders/SO-1001/returns",
        Some(&serde_json::json!({
            "rma": "RMA-1", "lines": [{ "line": 1, "gtin": gtin, "quantity": 1 }]
        })),
    );
    assert_eq!(code, 200, "{view}");
    assert!(!open(&view, "return_requested:"), "{view}");
    let (_, _, page) = get(http, &link);
    assert!(page.contains("accepted (number RMA-1)"), "{page}");

    // The office revokes the link: it stops working, and a new one is given.
    let (code, view) = api(
        http,
        "POST",
        "/api/orders/SO-1001/tracking/revoke",
        Some(&serde_json::json!({
            "reason": "sent to the wrong address"
        })),
    );
    assert_eq!(code, 200, "{view}");
    let new = view["tracking"].as_str().unwrap();
    assert_ne!(new, link);
    assert_eq!(get(http, &link).0, 404, "the revoked link still works");
    assert_eq!(get(http, &format!("{link}/status")).0, 404);
    // (Delivered, not completed: the low rating is still open.)
    assert_eq!(status(http, new)["state"], "delivered");
    // Another order's link is untouched.
    assert_eq!(get(http, &other).0, 200);
}
