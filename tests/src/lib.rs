//! The harness for the end-to-end tests: a real `waybill-server` process on
//! a free port of 127.0.0.1 with its own data directory, and real
//! `waybill-agent` processes with their own stores, driven through their
//! command lines (`--json`).
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a test harness: failing loudly is its job

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;

use serde_json::Value;

/// The demo seed: two orders, a location with stock, a route.
pub const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../agent/demo/seed.json");

/// A workspace binary. `cargo test --workspace` builds them; run alone,
/// the tests build them once (with the workspace's features, so nothing is
/// rebuilt back and forth).
pub fn bin(name: &str) -> PathBuf {
    static BUILD: Once = Once::new();
    let path = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join(name);
    if !path.exists() {
        BUILD.call_once(|| {
            let status =
                Command::new(env!("CARGO")).args(["build", "-q", "--workspace", "--bins"]).status().unwrap();
            assert!(status.success(), "building the binaries failed");
        });
    }
    path
}

/// A free UDP port on 127.0.0.1.
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `waybill-server`.
pub struct Server {
    child: Option<Child>,
    /// Its data directory.
    pub data: PathBuf,
    /// Its UDP port.
    pub port: u16,
}

impl Server {
    /// Starts a server on a free port.
    pub fn start(data: &Path) -> Self {
        Self::start_on(data, free_port())
    }

    /// Starts a server on `port`, waiting until it listens.
    pub fn start_on(data: &Path, port: u16) -> Self {
        let mut child = Command::new(bin("waybill-server"))
            .arg("--data")
            .arg(data)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("listening on"), "server did not start: {line:?}");
        Self { child: Some(child), data: data.to_path_buf(), port }
    }

    /// Its address.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Runs `waybill-server --data <dir> --json <args>`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin("waybill-server"))
            .arg("--data")
            .arg(&self.data)
            .arg("--json")
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs a server command that must succeed; its JSON output (or Null).
    pub fn ok(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(out.status.success(), "server {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Issues an enrolment code: (code, fingerprint).
    pub fn enrol(&self, device: &str, role: &str, location: Option<&str>) -> (String, String) {
        let mut args = vec!["enrol", "--device", device, "--role", role];
        if let Some(l) = location {
            args.extend(["--location", l]);
        }
        let v = self.ok(&args);
        (v["code"].as_str().unwrap().to_owned(), v["fingerprint"].as_str().unwrap().to_owned())
    }

    /// An order's merged view, from the projections.
    pub fn order(&self, id: &str) -> Value {
        self.ok(&["order", id])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A device: a `waybill-agent` store.
pub struct Device {
    /// Its store.
    pub store: PathBuf,
}

impl Device {
    /// Enrols a device with `server` (the code issued here), in `dir`.
    pub fn enrol(dir: &Path, server: &Server, id: &str, role: &str, location: Option<&str>) -> Self {
        let (code, fingerprint) = server.enrol(id, role, location);
        let d = Self { store: dir.join(format!("{id}.db")) };
        d.ok(&["enrol", "--server", &server.addr(), "--code", &code, "--fingerprint", &fingerprint]);
        d
    }

    /// Runs `waybill-agent --store <store> --json <args>`.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(bin("waybill-agent"))
            .arg("--store")
            .arg(&self.store)
            .arg("--json")
            .args(args)
            .output()
            .unwrap()
    }

    /// A command that must succeed; its JSON output.
    pub fn ok(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.status.success(), "agent {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// A command that must fail; its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "agent {args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Syncs once; the report.
    pub fn sync(&self) -> Value {
        self.ok(&["sync"])
    }
}
