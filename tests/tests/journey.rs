#![allow(clippy::unwrap_used)]
//! One customer's orders from intake to return, end to end: a real server
//! sending its emails over SMTP to a real SMTP server (aiosmtpd), real
//! picker, packer and driver agents, and the customer's side in headless
//! Chromium.
//!
//! Ada orders twice through the API: SO-3001 paid in advance (held until
//! the payment provider's authorisation is recorded) and SO-3002 paid in
//! cash at the door. Both are picked, packed, routed to one stop and taken
//! out; nobody is home (recorded offline), the driver comes back and hands
//! both over, collecting 10.00 EUR of the 12.50 EUR due, offline, then
//! syncs. Ada opens the link from her email, rates the delivery 2 of 5 and
//! asks to send a gear back; the office accepts the return, the warehouse
//! receives it and the office refunds it. Every email is checked (each
//! once, in order, with its link), every state of the tracking page is
//! read in Chromium, and the driver's cash reconciliation shows the
//! shortfall.
//!
//! Needs Debian's `chromium` and `chromium-driver` and Python's aiosmtpd:
//! `bash scripts/test.sh` installs them.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use waybill_tests::browser::Browser;
use waybill_tests::mail::{Email, Sink};
use waybill_tests::{Device, OFFICE_TOKEN, SEED, Server, api, free_port, free_tcp_port, pick};

/// Ada's address, with its coordinates (the ETA counts from them).
fn ada() -> Value {
    json!({ "name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London",
            "postcode": "SW1Y 4JH", "country": "GB", "geo": { "lat": 51.5074, "lon": -0.1347 } })
}

/// The seed's warehouse, placed in London so routes can start from it, and
/// nothing else: the orders come through the API.
fn seed(dir: &std::path::Path) -> String {
    let seed: Value = serde_json::from_str(&std::fs::read_to_string(SEED).unwrap()).unwrap();
    let mut locations = seed["locations"].clone();
    locations[0]["geo"] = json!({ "lat": 51.5308, "lon": -0.1238 });
    // A London depot: customers are told the van's times on its clock.
    locations[0]["time_zone"] = json!("Europe/London");
    let path = dir.join("seed.json");
    std::fs::write(&path, json!({ "locations": locations, "orders": [], "routes": [] }).to_string()).unwrap();
    path.display().to_string()
}

/// `POST /api/orders`: status and body.
fn take_in(http: u16, order: &Value) -> (u16, Value) {
    let res = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{http}/api/orders"))
        .bearer_auth(OFFICE_TOKEN)
        .header("Idempotency-Key", format!("journey-{}", order["id"].as_str().unwrap()))
        .json(order)
        .send()
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().unwrap_or(Value::Null))
}

/// An API call that must answer `expected`: its body.
fn call(http: u16, method: &str, path: &str, body: Option<&Value>, expected: u16) -> Value {
    let (status, answer) = api(http, method, path, body);
    assert_eq!(status, expected, "{method} {path}: {answer}");
    answer
}

/// The open exceptions of a document, from `GET /api/exceptions`.
fn open_exceptions(http: u16, doc: &str) -> Vec<Value> {
    let list = call(http, "GET", "/api/exceptions", None, 200);
    list.as_array().unwrap().iter().filter(|x| x["doc"] == doc).cloned().collect()
}

/// Minutes past midnight of an `HH:MM` time.
fn minutes(hhmm: &str) -> i64 {
    let (h, m) = hhmm.split_once(':').unwrap();
    h.parse::<i64>().unwrap() * 60 + m.parse::<i64>().unwrap()
}

/// The window in an out-for-delivery email, `between HH:MM and HH:MM
/// (ZONE)`: its length in minutes, and the zone.
fn window_minutes(body: &str) -> (i64, &str) {
    let rest = body.split_once("Expected between ").unwrap_or_else(|| panic!("no window: {body}")).1;
    let (from, rest) = rest.split_once(" and ").unwrap();
    let (to, rest) = rest.split_once(" (").unwrap_or_else(|| panic!("no zone: {body}"));
    let zone = rest.split_once(')').unwrap().0;
    ((minutes(to) - minutes(from)).rem_euclid(24 * 60), zone)
}

#[test]
fn a_customer_orders_pays_is_missed_pays_short_at_the_door_rates_and_returns() {
    let started = Instant::now();
    let lap = |what: &str| eprintln!("[{:>6.2}s] {what}", started.elapsed().as_secs_f64());
    // First, so a machine without Chromium fails at once, saying what to install.
    let browser = Browser::start();
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(&dir.path().join("maildir"));
    let (port, http) = (free_port(), free_tcp_port());
    // The links in the emails point at this server, so Chromium can open them.
    let public = format!("http://127.0.0.1:{http}");
    let smtp = sink.url();
    let serve = ["--smtp", &smtp, "--public-url", &public, "--mail-from", "Depot <depot@example.com>"];
    let server = Server::start_serving(&dir.path().join("server"), port, Some(http), &serve);
    server.ok(&["import", &seed(dir.path())]);
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let packer = Device::enrol(dir.path(), &server, "pk-1", "packer", Some("wh-1"));
    let driver = Device::enrol(dir.path(), &server, "drv-1", "driver", None);
    lap("browser, SMTP server, server and devices up");

    // Intake: one order paid in advance, one paid at the door.
    let today = chrono::Utc::now().date_naive();
    let order = |id: &str, lines: Value, payment: Value| {
        json!({ "id": id, "customer": "Ada Lovelace", "ship_to": ada(), "lines": lines, "location": "wh-1",
                "promised": today, "slot": { "from": "09:00", "to": "11:00" }, "email": "ada@example.com",
                "payment": payment })
    };
    let prepaid = order(
        "SO-3001",
        json!([{ "line": 1, "gtin": "09506000134352", "description": "Brass gear, 40 teeth", "quantity": 2 },
               { "line": 2, "gtin": "09506000134369", "description": "Punched card deck", "quantity": 1 }]),
        json!({ "terms": "prepaid" }),
    );
    let (status, view) = take_in(http, &prepaid);
    assert_eq!(status, 201, "{view}");
    assert_eq!(
        (view["status"].as_str(), view["payment"]["state"].as_str()),
        (Some("held"), Some("awaiting_payment"))
    );
    let cod = order(
        "SO-3002",
        json!([{ "line": 1, "gtin": "09506000134376", "description": "Oil can", "quantity": 1 }]),
        json!({ "terms": "on_delivery", "amount_minor": 1250, "currency": "EUR" }),
    );
    let (status, view) = take_in(http, &cod);
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["status"], "created", "{view}");

    // Each is confirmed by email, with its link; Ada opens SO-3001's.
    let mut links = std::collections::BTreeMap::new();
    for id in ["SO-3001", "SO-3002"] {
        let email = sink.wait_for(&format!("Your order {id} is confirmed"));
        assert_eq!(email.to, "ada@example.com");
        let path = call(http, "GET", &format!("/api/orders/{id}"), None, 200)["tracking"]
            .as_str()
            .unwrap()
            .to_owned();
        let link = format!("{public}{path}");
        assert!(email.body.contains(&link), "{id}'s confirmation has no link {link}: {}", email.body);
        links.insert(id, link);
    }
    let link = links["SO-3001"].clone();
    // Until the payment is authorised the page says what it waits for.
    browser.goto(&link);
    let page = browser.wait_for_text("SO-3001 unpaid", |t| t.contains("Order SO-3001"));
    assert_eq!(browser.text(&browser.find("#status")), "Waiting for your payment", "{page}");
    lap("orders taken in, confirmations received");

    // The payment provider's authorisation lifts the hold; both are allocated.
    let pay = json!({ "reference": "psp-3001", "amount_minor": 4200, "currency": "EUR" });
    let view = call(http, "POST", "/api/orders/SO-3001/payment", Some(&pay), 201);
    assert_eq!(
        (view["status"].as_str(), view["payment"]["state"].as_str()),
        (Some("created"), Some("authorised"))
    );
    let report = call(http, "POST", "/api/allocate", Some(&json!({})), 200);
    for id in ["SO-3001", "SO-3002"] {
        assert!(report["allocated"].get(id).is_some(), "{id} not allocated: {report}");
    }
    browser.goto(&link);
    let page = browser.wait_for_text("SO-3001 confirmed", |t| t.contains("Order SO-3001"));
    assert_eq!(browser.text(&browser.find("#status")), "Confirmed", "{page}");
    assert!(page.contains("Order confirmed") && page.contains("SW1Y 4JH London"), "{page}");
    assert!(page.contains(", between 09:00 and 11:00."), "the promised slot: {page}");
    assert!(
        !page.contains("Lovelace") && !page.contains("St James"),
        "the page shows Ada's name or street: {page}"
    );
    lap("authorised and allocated; the page says confirmed");

    // The warehouse: the picker's list, picked, packed and closed.
    call(http, "POST", "/api/locations/wh-1/picklists", Some(&json!({ "pickers": ["hh-1"] })), 200);
    picker.sync();
    picker.ok(&pick("SO-3001", "1", "A-01", "09506000134352", "2"));
    picker.ok(&pick("SO-3001", "2", "B-01", "09506000134369", "1"));
    picker.ok(&pick("SO-3002", "1", "A-02", "09506000134376", "1"));
    assert_eq!(picker.sync()["pending_events"], 0);
    let packages = [
        ("SO-3001", "106141411234567903", &["1:2", "2:1"][..]),
        ("SO-3002", "106141411234567910", &["1:1"][..]),
    ];
    packer.sync();
    for (id, sscc, lines) in packages {
        let mut args = vec!["pack", "--order", id, "--package", sscc];
        for l in lines {
            args.extend(["--line", l]);
        }
        packer.ok(&args);
        packer.ok(&["close", "--order", id, "--package", sscc]);
    }
    assert_eq!(packer.sync()["pending_events"], 0);
    for id in ["SO-3001", "SO-3002"] {
        assert_eq!(server.order(id)["status"], "packed");
    }
    lap("picked and packed");

    // One route from the depot: both orders at one stop.
    let made = call(
        http,
        "POST",
        "/api/locations/wh-1/routes",
        Some(&json!({ "drivers": [{ "device": "drv-1", "van": "van-3" }], "date": today })),
        201,
    );
    let made = &made["routes"];
    assert_eq!(made.as_array().unwrap().len(), 1, "{made}");
    let route = made[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(made[0]["stops"][0]["orders"], json!(["SO-3001", "SO-3002"]), "{made}");
    driver.sync();
    for (_, sscc, _) in packages {
        driver.ok(&["load", "--route", &route, "--package", sscc]);
    }
    driver.ok(&["out", "--route", &route]);
    assert_eq!(driver.sync()["pending_events"], 0);
    for id in ["SO-3001", "SO-3002"] {
        let shipped = sink.wait_for(&format!("Your order {id} is on its way"));
        assert!(shipped.body.contains(&links[id]), "{}", shipped.body);
        let out = sink.wait_for(&format!("Your order {id} arrives today"));
        assert!(out.body.contains(&links[id]), "{}", out.body);
        // The next stop: 15 minutes before the estimate to 30 after, on
        // the London depot's clock (GMT in winter, BST in summer).
        let (minutes, zone) = window_minutes(&out.body);
        assert_eq!(minutes, 45, "{}", out.body);
        assert!(["GMT", "BST"].contains(&zone), "{}", out.body);
    }
    browser.goto(&link);
    let page = browser.wait_for_text("SO-3001 out for delivery", |t| t.contains("Out for delivery"));
    assert_eq!(browser.text(&browser.find("#status")), "Out for delivery", "{page}");
    let eta = browser.text(&browser.find("#eta"));
    assert!(eta.starts_with("Expected between ") && eta.ends_with("you are the next stop."), "{eta}");
    for step in ["Being prepared", "Packed", "Shipped"] {
        assert!(page.contains(step), "no step {step}: {page}");
    }
    lap("routed, loaded and out; emails with the window; the page shows it");

    // Nobody is home: the attempt is recorded offline, told when it syncs.
    driver.ok(&["fail", "--route", &route, "--stop", "1", "--reason", "not-home"]);
    assert_eq!(server.order("SO-3001")["status"], "out_for_delivery", "the server knew before the sync");
    assert_eq!(driver.sync()["pending_events"], 0);
    for id in ["SO-3001", "SO-3002"] {
        let failed = sink.wait_for(&format!("We could not deliver your order {id}"));
        assert!(failed.body.contains("could not: nobody was home."), "the reason: {}", failed.body);
        assert!(failed.body.contains("We will try again on the next delivery day"), "{}", failed.body);
        assert!(failed.body.contains(&links[id]), "{}", failed.body);
    }
    browser.goto(&link);
    let page = browser.wait_for_text("the failed attempt", |t| t.contains("Delivery attempt failed"));
    assert_eq!(browser.text(&browser.find("#status")), "Delivery attempted: we will try again", "{page}");
    assert!(page.contains("Delivery attempt failed: nobody was home"), "{page}");
    assert!(browser.find_all("#eta").is_empty(), "a window after the attempt: {page}");
    lap("failed attempt synced, emailed and shown");

    // The driver comes back: both handed over, 10.00 of 12.50 EUR collected, offline.
    let deliver = |sscc: &str, extra: &[&str]| {
        let mut args =
            vec!["deliver", "--route", &route, "--stop", "1", "--package", sscc, "--recipient", "Ada"];
        args.extend(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    fn refs(args: &[String]) -> Vec<&str> {
        args.iter().map(String::as_str).collect()
    }
    let err = driver.fails(&refs(&deliver("106141411234567910", &[])));
    assert!(err.contains("12.50 EUR is due"), "{err}");
    driver.ok(&refs(&deliver("106141411234567903", &[])));
    driver.ok(&refs(&deliver(
        "106141411234567910",
        &["--collect", "1000", "--currency", "EUR", "--method", "cash"],
    )));
    assert_eq!(driver.ok(&["order", "SO-3002"])["payment"]["state"], "short", "the device knows offline");
    assert_eq!(server.order("SO-3002")["status"], "attempted", "the server knew before the sync");
    assert_eq!(driver.sync()["pending_events"], 0);
    for id in ["SO-3001", "SO-3002"] {
        let delivered = sink.wait_for(&format!("Your order {id} was delivered"));
        assert!(
            delivered.body.contains("Handed to Ada") && delivered.body.contains(&links[id]),
            "{}",
            delivered.body
        );
    }
    let so3002 = server.order("SO-3002");
    assert_eq!(
        (so3002["payment"]["state"].as_str(), so3002["payment"]["collected_minor"].as_u64()),
        (Some("short"), Some(1000)),
        "{so3002}"
    );
    let short = open_exceptions(http, "order/SO-3002");
    assert_eq!(short.len(), 1, "{short:?}");
    assert_eq!(short[0]["id"], "short_collection:order", "{short:?}");
    browser.goto(&link);
    let page = browser.wait_for_text("SO-3001 delivered", |t| t.contains("Handed to Ada"));
    assert_eq!(browser.text(&browser.find("#status")), "Delivered", "{page}");
    assert!(browser.text(&browser.find("#proof")).starts_with("Handed to Ada at "), "{page}");
    lap("redelivered with a short collection, emailed and shown");

    // Ada rates it, low, on the page.
    browser.click(&browser.find("#rate input[name=rating][value='2']"));
    browser.type_into(&browser.find("#rate input[name=comment]"), "first try missed me");
    browser.click(&browser.find("#rate button"));
    let page = browser.wait_for_text("the rating", |t| t.contains("you rated it 2 of 5"));
    assert!(page.contains("Handed to Ada"), "{page}");
    let so3001 = server.order("SO-3001");
    assert_eq!(
        (so3001["feedback"]["rating"].as_u64(), so3001["feedback"]["comment"].as_str()),
        (Some(2), Some("first try missed me")),
        "{so3001}"
    );
    let ids = |doc: &str| -> Vec<String> {
        open_exceptions(http, doc).iter().map(|x| x["id"].as_str().unwrap().to_owned()).collect()
    };
    assert!(ids("order/SO-3001").iter().any(|x| x.starts_with("low_rating")), "{:?}", ids("order/SO-3001"));

    // ... and asks to send one gear back.
    let quantity = browser.find("#return input[name=line-1]");
    browser.clear(&quantity);
    browser.type_into(&quantity, "1");
    browser.type_into(&browser.find("#return input[name=reason]"), "one is enough");
    browser.click(&browser.find("#return button"));
    let page = browser.wait_for_text("the return request", |t| t.contains("Return of 1 item asked for"));
    assert!(page.contains("waiting for us to accept it"), "{page}");
    let so3001 = server.order("SO-3001");
    assert_eq!(so3001["return_requests"][0]["reason"], "one is enough", "{so3001}");
    assert!(
        ids("order/SO-3001").iter().any(|x| x.starts_with("return_requested:")),
        "{:?}",
        ids("order/SO-3001")
    );
    lap("rated and asked to return, in Chromium");

    // The office accepts it; the page says so.
    let rma = json!({ "rma": "RMA-3001", "lines": [{ "line": 1, "gtin": "09506000134352", "quantity": 1 }] });
    call(http, "POST", "/api/orders/SO-3001/returns", Some(&rma), 200);
    assert!(!ids("order/SO-3001").iter().any(|x| x.starts_with("return_requested:")), "still waiting");
    browser.goto(&link);
    let page = browser.wait_for_text("the return accepted", |t| t.contains("accepted (number RMA-3001)"));
    assert!(
        page.contains("Return of 1 item accepted (number RMA-3001)") && page.contains("Return accepted"),
        "{page}"
    );

    // The gear comes back to the shelf, and the office refunds it.
    picker.sync();
    picker.ok(&[
        "receive-return",
        "--order",
        "SO-3001",
        "--line",
        "1:1",
        "--disposition",
        "restock",
        "--bin",
        "A-01",
        "--rma",
        "RMA-3001",
    ]);
    assert_eq!(picker.sync()["pending_events"], 0);
    let received = sink.wait_for("We received your return for SO-3001");
    assert!(received.body.contains(&link), "{}", received.body);
    let refund = json!({ "amount_minor": 1999, "currency": "EUR", "rma": "RMA-3001" });
    let (status, body) = api(http, "POST", "/api/orders/SO-3001/refund", Some(&refund));
    assert!(matches!(status, 200 | 201), "{status}: {body}");
    let refunded = sink.wait_for("Your refund for SO-3001");
    assert!(refunded.body.contains(&link), "{}", refunded.body);
    browser.goto(&link);
    let page = browser.wait_for_text("the refund", |t| t.contains("Refunded"));
    assert!(page.contains("Return received"), "{page}");
    lap("return accepted, received and refunded");

    // At the depot: 10.00 EUR collected in cash, 9.00 EUR handed in.
    let cash = || -> Value {
        let lines = call(http, "GET", "/api/cash", None, 200);
        lines
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["route"] == route.as_str())
            .cloned()
            .unwrap_or(Value::Null)
    };
    let line = cash();
    assert_eq!(
        (line["expected_minor"].as_u64(), line["handed_in"].as_bool()),
        (Some(1000), Some(false)),
        "{line}"
    );
    let handover = json!({ "amount_minor": 900, "currency": "EUR" });
    let body = call(http, "POST", &format!("/api/routes/{route}/cash"), Some(&handover), 201);
    let line = &body["cash"][0];
    assert_eq!(
        (line["difference_minor"].as_i64(), line["driver"].as_str(), line["open_exception"].as_str()),
        (Some(-100), Some("drv-1"), Some("cash_difference:EUR")),
        "{body}"
    );
    let route_doc = format!("route/{route}");
    let open = open_exceptions(http, &route_doc);
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["id"], "cash_difference:EUR", "{open:?}");
    assert_eq!(cash()["difference_minor"], -100);
    // The short collection is still the office's to settle.
    assert_eq!(ids("order/SO-3002"), ["short_collection:order"]);
    lap("cash reconciled, the difference an exception");

    // Every email once, in order, each with its link. (A moment for any
    // duplicate to arrive.)
    std::thread::sleep(Duration::from_millis(1500));
    let all: Vec<Email> = sink.messages();
    assert!(all.iter().all(|m| m.to == "ada@example.com"), "{all:?}");
    let expected = |id: &str, after: &[&str]| -> Vec<String> {
        let mut subjects = vec![
            format!("Your order {id} is confirmed"),
            format!("Your order {id} is on its way"),
            format!("Your order {id} arrives today"),
            format!("We could not deliver your order {id}"),
            format!("Your order {id} was delivered"),
        ];
        subjects.extend(after.iter().map(|s| format!("{s} {id}")));
        subjects
    };
    for (id, after) in
        [("SO-3001", &["We received your return for", "Your refund for"][..]), ("SO-3002", &[][..])]
    {
        let got: Vec<String> =
            all.iter().filter(|m| m.subject.contains(id)).map(|m| m.subject.clone()).collect();
        assert_eq!(got, expected(id, after), "{id}'s emails, each once and in order");
        for m in all.iter().filter(|m| m.subject.contains(id)) {
            assert!(m.body.contains(&links[id]), "{:?} has no link: {}", m.subject, m.body);
        }
    }
    assert_eq!(all.len(), 12, "{all:?}");
    // The office sees the same on the order.
    let emails = call(http, "GET", "/api/orders/SO-3001", None, 200)["emails"].clone();
    assert_eq!(emails.as_array().unwrap().len(), 7, "{emails}");
    assert!(emails.as_array().unwrap().iter().all(|e| e["sent_at"].is_string()), "{emails}");
    lap("every email checked");
}
