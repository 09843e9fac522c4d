//! What a device says when the server is the wrong one or gone: a wrong
//! fingerprint at enrolment names the fingerprint (not "offline"), and a
//! sync against a server that has died gives up within the timeout asked.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use waybill_tests::{Device, SEED, Server};

#[test]
fn a_wrong_fingerprint_at_enrolment_says_so_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"));
    let (code, fingerprint) = server.enrol("drv-1", "driver", None);
    let wrong: String = fingerprint.chars().rev().collect();
    let device = Device { store: dir.path().join("drv-1.db") };
    let args = ["enrol", "--server", &server.addr(), "--code", &code, "--fingerprint", &wrong];
    let err = device.fails(&args);
    assert!(err.contains("not the one this device trusts") && err.contains("fingerprint"), "{err}");
    assert!(!err.contains("offline"), "{err}");
    assert!(!device.store.exists(), "a failed enrolment left a store behind");
    // The code was not spent: the right fingerprint enrols.
    device.ok(&["enrol", "--server", &server.addr(), "--code", &code, "--fingerprint", &fingerprint]);
}

#[test]
fn a_sync_against_a_dead_server_gives_up_within_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("server"));
    server.ok(&["import", SEED]);
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    picker.sync();
    server.kill();
    let started = Instant::now();
    let err = picker.fails(&["sync", "--timeout", "2"]);
    let took = started.elapsed();
    assert!(err.contains("offline"), "{err}");
    assert!(took < Duration::from_secs(6), "gave up after {took:?}, not about 2 s");
    let err = picker.fails(&["sync", "--timeout", "0"]);
    assert!(err.contains("--timeout"), "{err}");
}
