#![allow(clippy::unwrap_used)]
//! The office page in a real browser: headless Chromium, driven through
//! chromedriver with the W3C WebDriver protocol (`waybill_tests::browser`,
//! on fantoccini), against a real
//! `waybill-server` with real devices. A wrong password shows an error and
//! keeps the app hidden; an office user signs in and sees the orders; an
//! order taken in through the API, and a delivery a driver's device syncs,
//! both show up on the open page without a reload (server-sent events).
//!
//! Needs Debian's `chromium` and `chromium-driver`: `bash scripts/test.sh` (it installs them).

use std::time::Instant;

use serde_json::{Value, json};
use waybill_tests::browser::{Browser, WAIT, poll, wait_for};
use waybill_tests::{OFFICE_TOKEN, SEED, Server, free_port, free_tcp_port, out_for_delivery};

/// The office page's views, read in the browser.
trait OfficePage {
    /// The orders table as the page shows it: order id → status badge, and
    /// the marker set in the window (gone if the page was reloaded).
    fn orders(&self) -> (Vec<(String, String)>, Value);

    /// Waits until the orders table shows `order` with a status `ok`
    /// accepts, without the page having reloaded since the marker was set:
    /// the status.
    fn wait_for_order(&self, order: &str, what: &str, ok: impl Fn(&str) -> bool) -> String;
}

impl OfficePage for Browser {
    fn orders(&self) -> (Vec<(String, String)>, Value) {
        let v = self.script(
            "return { marker: window.waybillTestMarker || null, rows: \
             Array.from(document.querySelectorAll('#orders tr')).map((tr) => { \
               const badge = tr.querySelector('span.badge'); \
               return [tr.cells[0].textContent, badge ? badge.classList[1] : null]; }) };",
        );
        let rows = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| Some((r[0].as_str()?.to_owned(), r[1].as_str()?.to_owned())))
            .collect();
        (rows, v["marker"].clone())
    }

    fn wait_for_order(&self, order: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let mut last = Vec::new();
        let found = poll(WAIT, || {
            let (rows, marker) = self.orders();
            assert_eq!(marker, "no reload", "the page reloaded");
            let status = rows.iter().find(|(id, _)| id == order).map(|(_, s)| s.clone());
            last = rows;
            status.filter(|s| ok(s))
        });
        found.unwrap_or_else(|| {
            panic!(
                "timed out after {WAIT:?} waiting for {what}; orders shown: {last:?}\npage: {}",
                self.page_text()
            )
        })
    }
}

#[test]
fn the_office_page_signs_in_and_follows_orders_live() {
    let started = Instant::now();
    let lap = |what: &str| eprintln!("[{:>6.2}s] {what}", started.elapsed().as_secs_f64());
    // First, so a machine without Chromium fails at once, saying what to install.
    let browser = Browser::start();
    lap("chromium started");
    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port();
    let server = Server::start_with(&dir.path().join("server"), free_port(), Some(http));
    server.add_user("ada", None, "analytical engine");
    server.ok(&["import", SEED]);
    let driver = out_for_delivery(dir.path(), &server);
    driver.sync();
    lap("server up, SO-1001 out for delivery");

    browser.goto(&format!("http://127.0.0.1:{http}/"));
    let (signin, app, error) = (browser.find("#signin"), browser.find("#app"), browser.find("#error"));
    wait_for("the sign-in form", || browser.displayed(&signin).then_some(()));
    assert!(!browser.displayed(&app), "the app shows before signing in");

    // A wrong password: an error, and the app stays hidden.
    let (user, password) = (browser.find("#user"), browser.find("#password"));
    let submit = browser.find("#signin-form button[type=submit]");
    browser.type_into(&user, "ada");
    browser.type_into(&password, "difference engine");
    browser.click(&submit);
    let message = wait_for("the wrong password's error", || {
        Some(browser.text(&error)).filter(|t| browser.displayed(&error) && !t.is_empty())
    });
    assert!(message.contains("wrong user name or password"), "{message}");
    assert!(!browser.displayed(&app), "the app shows after a wrong password");
    assert!(browser.displayed(&signin));
    lap("wrong password refused");

    // The right one: the app, live, with the seed's orders.
    browser.clear(&password);
    browser.type_into(&password, "analytical engine");
    browser.click(&submit);
    wait_for("the app after signing in", || browser.displayed(&app).then_some(()));
    assert!(!browser.displayed(&signin));
    assert!(!browser.displayed(&error), "an error shows after signing in: {}", browser.text(&error));
    assert_eq!(browser.text(&browser.find("#whoami")), "ada (admin)");
    let live = browser.find("#live");
    wait_for("the live indicator", || (browser.text(&live) == "live").then_some(()));
    // Gone if the page ever reloads.
    browser.script("window.waybillTestMarker = 'no reload';");
    let status = browser.wait_for_order("SO-1001", "SO-1001 out for delivery", |s| s == "out_for_delivery");
    assert_eq!(status, "out_for_delivery");
    assert!(browser.orders().0.iter().any(|(id, _)| id == "SO-1002"));
    lap("signed in, SO-1001 listed");

    // An order taken in through the API appears without a reload.
    let order = json!({
        "id": "SO-2001", "customer": "Grace Hopper",
        "ship_to": { "name": "Grace Hopper", "line1": "1 Harbour Road", "city": "Arlington", "postcode": "22201", "country": "US" },
        "lines": [{ "line": 1, "gtin": "09506000134352", "description": "Brass gear", "quantity": 1 }]
    });
    let res = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{http}/api/orders"))
        .bearer_auth(OFFICE_TOKEN)
        .header("Idempotency-Key", "browser-test-SO-2001")
        .json(&order)
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 201, "{}", res.text().unwrap());
    let status = browser.wait_for_order("SO-2001", "the new order SO-2001", |_| true);
    assert_eq!(status, "created");
    lap("new order shown live");

    // The driver delivers with proof and syncs: the row changes live.
    let report = waybill_tests::deliver_with_proof(dir.path(), &driver);
    assert_eq!(report["blobs_uploaded"], 2, "{report}");
    let status =
        browser.wait_for_order("SO-1001", "SO-1001 delivered", |s| matches!(s, "delivered" | "completed"));
    assert_eq!(server.order("SO-1001")["status"], status);
    assert!(!browser.displayed(&error), "an error shows: {}", browser.text(&error));
    lap("delivery shown live");

    // The customer rates the delivery low: the exception reads in words,
    // with only the decisions that fit a low rating.
    let http_client = reqwest::blocking::Client::new();
    let view: Value = http_client
        .get(format!("http://127.0.0.1:{http}/api/orders/SO-1001"))
        .bearer_auth(OFFICE_TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let link = view["tracking"].as_str().unwrap();
    let res = http_client
        .post(format!("http://127.0.0.1:{http}{link}/feedback"))
        .form(&[("rating", "1"), ("comment", "late")])
        .send()
        .unwrap();
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    // The sections are tabs: the orders go out of sight, and the tab says
    // how many exceptions are open.
    browser.tab("exceptions");
    assert!(!browser.displayed(&browser.find("#orders")), "the orders show beside the exceptions");
    let count = browser.find("#exceptions-count");
    wait_for("the exceptions count", || (!browser.text(&count).is_empty()).then_some(()));
    let exceptions = browser.find("#exceptions");
    let shown = wait_for("the low rating in the exceptions", || {
        Some(browser.text(&exceptions)).filter(|t| t.contains("Customer rated the delivery low"))
    });
    assert!(shown.contains("order SO-1001") && shown.contains("customer rated the delivery"), "{shown}");
    assert!(!shown.contains("order/SO-1001") && !shown.contains("office:"), "raw ids shown: {shown}");
    let offered = browser.script(
        "return Array.from(document.querySelectorAll('#exceptions tr')).filter((tr) => \
         tr.textContent.includes('rated the delivery low')).flatMap((tr) => \
         Array.from(tr.querySelectorAll('select option')).map((o) => o.value));",
    );
    assert_eq!(offered, json!(["accept", "refund", "redeliver"]));
    lap("exception shown in words");

    // A read-only viewer: the role shows, no decision is offered on an
    // exception, and the audit log lists who did what.
    server.add_user("vic", Some("viewer"), "read only please");
    browser.click(&browser.find("#signout"));
    wait_for("the sign-in form after signing out", || browser.displayed(&signin).then_some(()));
    browser.clear(&user);
    browser.type_into(&user, "vic");
    browser.type_into(&password, "read only please");
    browser.click(&submit);
    wait_for("the app for the viewer", || browser.displayed(&app).then_some(()));
    assert_eq!(browser.text(&browser.find("#whoami")), "vic (viewer)");
    browser.tab("audit");
    let audit = browser.find("#audit");
    let log = wait_for("the audit log", || {
        Some(browser.text(&audit)).filter(|t| t.contains("create an order") && t.contains("vic"))
    });
    assert!(log.contains("ada") && log.contains("sign in"), "{log}");
    assert_eq!(browser.script("return document.querySelectorAll('button.resolve').length"), 0);
    assert!(!browser.displayed(&error), "an error shows: {}", browser.text(&error));
    lap("viewer signed in, audit log shown");
}

#[test]
fn the_map_draws_the_seeds_route() {
    let browser = Browser::start();
    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port();
    let server = Server::start_with(&dir.path().join("server"), free_port(), Some(http));
    server.add_user("ada", None, "analytical engine");
    server.ok(&["import", waybill_tests::geocoded_seed(dir.path()).to_str().unwrap()]);
    browser.goto(&format!("http://127.0.0.1:{http}/"));
    browser.type_into(&browser.find("#user"), "ada");
    browser.type_into(&browser.find("#password"), "analytical engine");
    browser.click(&browser.find("#signin-form button[type=submit]"));
    browser.tab("routes");
    // one line through its two stops, a circle each, in order.
    let drawn = wait_for("the map of R-7", || {
        let v = browser.script(
            "const g = document.querySelectorAll('#map svg g.route'); return g.length ? { routes: \
             Array.from(g).map((r) => r.dataset.route), lines: document.querySelectorAll('#map svg \
             polyline').length, stops: Array.from(document.querySelectorAll('#map svg circle.stop')).map((c) \
             => c.dataset.seq), points: document.querySelector('#map svg polyline').getAttribute('points') } : \
             null;",
        );
        (!v.is_null()).then_some(v)
    });
    assert_eq!(
        (&drawn["routes"], &drawn["lines"], &drawn["stops"]),
        (&json!(["R-7"]), &json!(1), &json!(["1", "2"]))
    );
    assert_eq!(drawn["points"].as_str().unwrap().split(' ').count(), 2, "{drawn}");
    assert!(
        !browser.displayed(&browser.find("#error")),
        "an error shows: {}",
        browser.text(&browser.find("#error"))
    );
}
