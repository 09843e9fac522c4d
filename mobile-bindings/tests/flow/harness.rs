//! The harness of the binding tests: builds the library and generates its
//! bindings (under the target directory), starts a real `waybill-server`
//! with the demo seed and enrolment codes for a picker, a packer and a
//! driver (at the depot, with a quota of one item to sell from), runs a program in the foreign language through the whole flow,
//! stops and restarts the server when the program asks, and checks the
//! server's merged view at the end.
//!
//! The program gets the server's address, the fingerprint, the codes and a
//! directory for its stores in `WAYBILL_*` variables. It prints what it
//! does, one line at a time; `STOP SERVER` and `START SERVER` ask the
//! harness, which answers `done` on the program's standard input.
#![allow(clippy::unwrap_used)] // a test harness: failing loudly is its job

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use waybill_tests::{SEED, Server};

/// The item the driver sells from its quota in the flow.
const VAN_ITEM: &str = "09506000134352";

/// The directory holding the test binary's build: `target/debug`.
pub fn build_dir() -> PathBuf {
    std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().to_path_buf()
}

/// This directory: the foreign programs.
pub fn programs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flow")
}

/// Fails the test, saying how to get what is missing.
pub fn missing(what: &str) -> ! {
    panic!("{what} is missing: run `bash scripts/test.sh`, which installs it")
}

/// Builds the library (`cargo test` builds it only as an rlib) and
/// `uniffi-bindgen`, and generates the `language` bindings into
/// `target/debug/waybill-mobile-bindings/<language>`, with the library
/// beside them. Returns that directory.
pub fn bindings(language: &str) -> PathBuf {
    // The workspace's libraries and binaries, as the end-to-end tests build
    // them, so nothing is rebuilt with other features.
    let status =
        Command::new(env!("CARGO")).args(["build", "-q", "--workspace", "--lib", "--bins"]).status().unwrap();
    assert!(status.success(), "building the library and uniffi-bindgen failed");
    let build = build_dir();
    let library = build.join("libwaybill_mobile.so");
    let out = build.join("waybill-mobile-bindings").join(language);
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new(build.join("uniffi-bindgen"))
        .args(["generate", "--no-format", "--language", language, "--library"])
        .arg(&library)
        .arg("--out-dir")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "uniffi-bindgen generate --language {language} failed");
    std::fs::copy(&library, out.join("libwaybill_mobile.so")).unwrap();
    out
}

/// Runs `program` through the flow against a real server, then checks the
/// server's merged view of the order it delivered.
pub fn run_flow(mut program: Command) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let mut server = Server::start(&data);
    server.ok(&["import", SEED]);
    let port = server.port;
    let (picker, fingerprint) = server.enrol("hh-1", "picker", Some("wh-1"));
    let (packer, _) = server.enrol("pk-1", "packer", Some("wh-1"));
    // The driver sells from the depot's stock too: 3 units of an item each.
    server.ok(&["quota-target", "--location", "wh-1", "--gtin", VAN_ITEM, "--target", "3"]);
    let (driver, _) = server.enrol("drv-1", "driver", Some("wh-1"));
    let stores = dir.path().join("stores");
    std::fs::create_dir_all(&stores).unwrap();

    let mut child = program
        .env("WAYBILL_SERVER", server.addr())
        .env("WAYBILL_FINGERPRINT", &fingerprint)
        .env("WAYBILL_PICKER_CODE", &picker)
        .env("WAYBILL_PACKER_CODE", &packer)
        .env("WAYBILL_DRIVER_CODE", &driver)
        .env("WAYBILL_DIR", &stores)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut answer = child.stdin.take().unwrap();
    let mut finished = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        eprintln!("| {line}");
        match line.trim() {
            "STOP SERVER" => server.kill(),
            "START SERVER" => server = Server::start_on(&data, port),
            "OK" => finished = true,
            _ => continue,
        }
        writeln!(answer, "done").unwrap();
    }
    let status = child.wait().unwrap();
    assert!(status.success() && finished, "the program failed ({status}); its output is above");

    let view = server.order("SO-1001");
    assert_eq!(view["status"], "completed", "{view}");
    let proof = &view["proofs"][0];
    assert_eq!(proof["proof"]["recipient_name"], "Ada", "{view}");
    assert!(proof["proof"]["photo"].is_string() && proof["proof"]["signature"].is_string(), "{view}");
    assert_eq!(proof["missing_blobs"].as_array().unwrap().len(), 0, "{view}");
    assert!(view["exceptions"].as_array().unwrap().is_empty(), "{view}");
    // The van sale made with the server down is in, within the quota, and
    // the quota was topped up to its target again (3 + 2 granted).
    let quotas = server.ok(&["quotas"]);
    let row = &quotas[0];
    assert_eq!((row["device"].as_str(), row["gtin"].as_str()), (Some("drv-1"), Some(VAN_ITEM)), "{quotas}");
    assert_eq!(
        (row["granted"].as_i64(), row["sold"].as_i64(), row["remaining"].as_i64()),
        (Some(5), Some(2), Some(3))
    );
}
