#![allow(clippy::unwrap_used)]
//! The office page in a real browser: headless Chromium, driven through
//! chromedriver with the W3C WebDriver protocol, against a real
//! `waybill-server` with real devices. A wrong password shows an error and
//! keeps the app hidden; an office user signs in and sees the orders; an
//! order taken in through the API, and a delivery a driver's device syncs,
//! both show up on the open page without a reload (server-sent events).
//!
//! Needs Debian's `chromium` and `chromium-driver`: `bash scripts/test.sh` (it installs them).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use waybill_tests::{OFFICE_TOKEN, SEED, Server, free_port, free_tcp_port, out_for_delivery};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long the page may take to show something.
const WAIT: Duration = Duration::from_secs(20);
/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Headless Chromium under chromedriver, one WebDriver session. Dropping it
/// ends the session and kills chromedriver's whole process group (Chromium
/// with it), also when the test failed.
struct Browser {
    client: reqwest::blocking::Client,
    /// `http://127.0.0.1:<port>`.
    driver: String,
    /// `<driver>/session/<id>`, once there is one.
    session: Option<String>,
    chromedriver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Self {
        for path in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the browser test needs Debian's chromium and chromium-driver; \
                 run `bash scripts/test.sh` (it installs them)"
            );
        }
        let profile = tempfile::tempdir().unwrap();
        let port = free_tcp_port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let client =
            reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build().unwrap();
        let mut b = Self {
            client,
            driver: format!("http://127.0.0.1:{port}"),
            session: None,
            chromedriver,
            _profile: profile,
        };
        wait_for("chromedriver to be ready", || {
            let res = b.client.get(format!("{}/status", b.driver)).send().ok()?;
            let v: Value = res.json().ok()?;
            (v["value"]["ready"] == true).then_some(())
        });
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", b._profile.path().display()),
                ],
            },
        }}});
        let res = b.send(reqwest::Method::POST, &format!("{}/session", b.driver), Some(&capabilities));
        let id = res.unwrap_or_else(|e| panic!("starting Chromium failed: {e}"))["sessionId"]
            .as_str()
            .unwrap()
            .to_owned();
        b.session = Some(format!("{}/session/{id}", b.driver));
        b
    }

    /// One WebDriver request: its `value`, or the error it answered.
    fn send(&self, method: reqwest::Method, url: &str, body: Option<&Value>) -> Result<Value, String> {
        let mut req = self.client.request(method, url);
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().map_err(|e| e.to_string())?;
        let ok = res.status().is_success();
        let mut v: Value = res.json().map_err(|e| e.to_string())?;
        if ok {
            Ok(v["value"].take())
        } else {
            Err(format!("{}: {}", v["value"]["error"], v["value"]["message"]))
        }
    }

    /// A command in the session, which must succeed.
    fn cmd(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Value {
        let session = self.session.as_deref().unwrap();
        self.send(method, &format!("{session}{path}"), body)
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}\npage: {}", self.page_text()))
    }

    fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(&json!({ "url": url })));
    }

    /// The first element matching a CSS selector.
    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            reqwest::Method::POST,
            "/element",
            Some(&json!({ "using": "css selector", "value": css })),
        );
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {v}")).to_owned()
    }

    fn type_into(&self, element: &str, text: &str) {
        self.cmd(reqwest::Method::POST, &format!("/element/{element}/value"), Some(&json!({ "text": text })));
    }

    fn clear(&self, element: &str) {
        self.cmd(reqwest::Method::POST, &format!("/element/{element}/clear"), Some(&json!({})));
    }

    fn click(&self, element: &str) {
        self.cmd(reqwest::Method::POST, &format!("/element/{element}/click"), Some(&json!({})));
    }

    fn displayed(&self, element: &str) -> bool {
        self.cmd(reqwest::Method::GET, &format!("/element/{element}/displayed"), None) == true
    }

    fn text(&self, element: &str) -> String {
        self.cmd(reqwest::Method::GET, &format!("/element/{element}/text"), None).as_str().unwrap().to_owned()
    }

    /// Runs JavaScript in the page: what it returns.
    fn script(&self, js: &str) -> Value {
        self.cmd(reqwest::Method::POST, "/execute/sync", Some(&json!({ "script": js, "args": [] })))
    }

    /// What the page shows, as text, for failure messages.
    fn page_text(&self) -> String {
        let Some(session) = &self.session else { return String::new() };
        let body = json!({ "script": "return document.body.innerText", "args": [] });
        match self.send(reqwest::Method::POST, &format!("{session}/execute/sync"), Some(&body)) {
            Ok(Value::String(s)) => s.chars().take(2000).collect(),
            other => format!("{other:?}"),
        }
    }

    /// The orders table as the page shows it: order id → status badge, and
    /// the marker set in the window (gone if the page was reloaded).
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

    /// Waits until the orders table shows `order` with a status `ok` accepts,
    /// without the page having reloaded since the marker was set: the status.
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

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = self.client.delete(&session).timeout(Duration::from_secs(10)).send();
        }
        // Chromium and its helpers run in chromedriver's process group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.chromedriver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
        // Wait (a little) until the group is gone, so no Chromium outlives the test.
        let group = format!("-{}", self.chromedriver.id());
        poll(Duration::from_secs(5), || {
            let alive = Command::new("kill").args(["-0", "--", &group]).stderr(Stdio::null()).status();
            (!alive.is_ok_and(|s| s.success())).then_some(())
        });
    }
}

/// Calls `f` every 100 ms until it gives something or `timeout` passes.
fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(t) = f() {
            return Some(t);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    poll(WAIT, f).unwrap_or_else(|| panic!("timed out after {WAIT:?} waiting for {what}"))
}

/// Adds an office user through the server's command line.
fn add_user(server: &Server, name: &str, password: &str) {
    let out =
        server.command().args(["user", "add", name]).env("WAYBILL_PASSWORD", password).output().unwrap();
    assert!(out.status.success(), "user add: {}", String::from_utf8_lossy(&out.stderr));
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
    add_user(&server, "ada", "analytical engine");
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
    assert_eq!(browser.text(&browser.find("#whoami")), "ada");
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
}
