//! Headless Chromium for the end-to-end tests, driven through Debian's
//! chromedriver with the W3C WebDriver protocol by a maintained client
//! (fantoccini, over plain HTTP: the driver is local). The tests are plain
//! blocking code, so [`Browser`] runs each command to its end on a runtime
//! of its own and panics, with what the page shows, when one fails.
//!
//! Needs Debian's `chromium` and `chromium-driver`: `bash scripts/test.sh`
//! installs them.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::free_tcp_port;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// How long a page may take to show something.
pub const WAIT: Duration = Duration::from_secs(20);

/// Headless Chromium under chromedriver, one WebDriver session. Dropping it
/// ends the session and kills chromedriver's whole process group (Chromium
/// with it), also when the test failed.
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    chromedriver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session in
    /// a profile of its own. Fails at once, saying what to install, on a
    /// machine without them.
    pub fn start() -> Self {
        for path in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the browser tests need Debian's chromium and chromium-driver; \
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
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut browser = Self { runtime, client: None, chromedriver, _profile: profile };
        let driver = format!("http://127.0.0.1:{port}");
        let status = reqwest::blocking::Client::builder().no_proxy().build().unwrap();
        wait_for("chromedriver to be ready", || {
            let v: Value = status.get(format!("{driver}/status")).send().ok()?.json().ok()?;
            (v["value"]["ready"] == true).then_some(())
        });
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("an object") };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = browser
            .runtime
            .block_on(ClientBuilder::new(connector).capabilities(capabilities).connect(&driver))
            .unwrap_or_else(|e| panic!("starting Chromium failed: {e}"));
        browser.client = Some(client);
        browser
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Runs a WebDriver command to its end: its answer, or a panic naming
    /// `what` with what the page shows.
    fn run<T>(&self, what: &str, command: impl Future<Output = Result<T, CmdError>>) -> T {
        self.runtime
            .block_on(command)
            .unwrap_or_else(|e| panic!("WebDriver {what}: {e}\npage: {}", self.page_text()))
    }

    /// Opens `url` and waits until it has loaded.
    pub fn goto(&self, url: &str) {
        self.run("goto", self.client().goto(url));
    }

    /// The first element matching a CSS selector.
    pub fn find(&self, css: &str) -> Element {
        self.run(&format!("find {css}"), self.client().find(Locator::Css(css)))
    }

    /// Every element matching a CSS selector (none is no error).
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.run(&format!("find all {css}"), self.client().find_all(Locator::Css(css)))
    }

    /// Types `text` into an input, as keystrokes.
    pub fn type_into(&self, element: &Element, text: &str) {
        self.run("send keys", element.send_keys(text));
    }

    /// Empties an input.
    pub fn clear(&self, element: &Element) {
        self.run("clear", element.clear());
    }

    /// Clicks an element, as a person would (it must be shown).
    pub fn click(&self, element: &Element) {
        self.run("click", element.click());
    }

    /// Opens the office page's tab `name` (`orders`, `exceptions`,
    /// `routes`, `devices`, `stock`, `audit`) once the page shows it.
    pub fn tab(&self, name: &str) {
        let button = self.find(&format!("#tabs button[data-tab='{name}']"));
        wait_for(&format!("the {name} tab"), || self.displayed(&button).then_some(()));
        self.click(&button);
    }

    /// Whether an element is shown.
    pub fn displayed(&self, element: &Element) -> bool {
        self.run("is displayed", element.is_displayed())
    }

    /// An element's text as shown.
    pub fn text(&self, element: &Element) -> String {
        self.run("text", element.text())
    }

    /// Runs JavaScript in the page: what it returns.
    pub fn script(&self, js: &str) -> Value {
        self.run("execute", self.client().execute(js, Vec::new()))
    }

    /// What the page shows, as text (the first 2000 characters), for
    /// failure messages and for checks on what a reader sees; what went
    /// wrong if it cannot be read.
    pub fn page_text(&self) -> String {
        let Some(client) = &self.client else { return String::new() };
        match self.runtime.block_on(client.execute("return document.body.innerText", Vec::new())) {
            Ok(Value::String(s)) => s.chars().take(2000).collect(),
            other => format!("{other:?}"),
        }
    }

    /// Waits until the page's text (`document.body.innerText`) satisfies
    /// `ok`: that text. A page that reloads meanwhile is read again.
    pub fn wait_for_text(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let found = poll(WAIT, || {
            // Read between reloads: a page going away answers an error, not a panic.
            let text = self.runtime.block_on(self.client().execute("return document.body.innerText", vec![]));
            last = match text {
                Ok(Value::String(s)) => s,
                _ => return None,
            };
            ok(&last).then(|| last.clone())
        });
        found
            .unwrap_or_else(|| panic!("timed out after {WAIT:?} waiting for {what}; the page shows:\n{last}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(async { tokio::time::timeout(WAIT, client.close()).await });
        }
        // Chromium and its helpers run in chromedriver's process group.
        let group = format!("-{}", self.chromedriver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
        // Wait (a little) until the group is gone, so no Chromium outlives the test.
        poll(Duration::from_secs(5), || {
            let alive = Command::new("kill").args(["-0", "--", &group]).stderr(Stdio::null()).status();
            (!alive.is_ok_and(|s| s.success())).then_some(())
        });
    }
}

/// Calls `f` every 100 ms until it gives something or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
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

/// [`poll`] for [`WAIT`], panicking with `what` when nothing came.
pub fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    poll(WAIT, f).unwrap_or_else(|| panic!("timed out after {WAIT:?} waiting for {what}"))
}
