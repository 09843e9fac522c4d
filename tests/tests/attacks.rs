//! Attacks on a real server over real QUIC: clients that are not enrolled,
//! codes that are not valid, old or garbled protocol, devices writing outside
//! their role, as another device or outside their scope, revoked devices,
//! oversized frames. Each is refused with its typed reason, nothing leaks,
//! and the server keeps serving honest devices afterwards.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use automerge::sync::{ChunkList, MessageVersion};
use automerge::{AutoCommit, ReadDoc};
use serde_json::{Value, json};
use tempfile::TempDir;
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::Event;
use waybill_shared::event_id::EventId;
use waybill_shared::hlc::Hlc;
use waybill_shared::id::DeviceId;
use waybill_shared::policy::actor_of;
use waybill_shared::role::Role;
use waybill_shared::sync::pack::pack;
use waybill_shared::sync::{MAX_DEVICE_FRAME, Message, PROTOCOL_VERSION, RefuseReason, encode};
use waybill_tests::raw::{Client, End};
use waybill_tests::{Device, SEED, Server, bin};

/// Close codes of the server (sync-server/src/connection.rs).
const CLOSE_REVOKED: u32 = 0x10;
const CLOSE_REFUSED: u32 = 0x11;
const CLOSE_PROTOCOL: u32 = 0x12;

/// The server's frame limit for devices (`Limits::default().max_frame`).
const SERVER_MAX_FRAME: usize = 4 * 1024 * 1024;

/// A valid uncompressed P-256 public key: the curve's generator point.
const P256_G: [u8; 65] = [
    0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f,
    0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce,
    0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
];

fn seeded() -> (TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"));
    server.ok(&["import", SEED]);
    (dir, server)
}

fn doc_id(s: &str) -> DocId {
    s.parse().unwrap()
}

fn pick(device: &Device, order: &str, line: &str, bin: &str, item: &str, qty: &str) -> Value {
    device.ok(&["pick", "--order", order, "--line", line, "--bin", bin, "--item", item, "--qty", qty])
}

fn pick_line_1(device: &Device) -> Value {
    pick(device, "SO-1001", "1", "A-01", "09506000134352", "2")
}

/// An event as `device`'s number `seq`, now.
fn event(device: &str, seq: u64, payload: Value) -> Event {
    let now = chrono::Utc::now();
    let hlc = Hlc { ms: u64::try_from(now.timestamp_millis()).unwrap(), n: 0 };
    Event::new(
        EventId::new(DeviceId::new(device).unwrap(), seq),
        hlc,
        now,
        None,
        serde_json::from_value(payload).unwrap(),
    )
}

/// Exports `doc` from `device`, appends `event` as one change under
/// `actor`'s Automerge actor (the actor's next change in that document), and
/// writes the result to a file for `waybill-agent merge`.
fn forge(device: &Device, dir: &Path, doc: &str, actor: &str, event: &Event) -> PathBuf {
    let name = format!("{}-{}", doc.replace('/', "_"), event.id.to_string().replace(':', "_"));
    let plain = dir.join(format!("{name}.plain.automerge"));
    device.ok(&["export", doc, "--out", plain.to_str().unwrap()]);
    let mut am = AutoCommit::load(&std::fs::read(&plain).unwrap())
        .unwrap()
        .with_actor(actor_of(&DeviceId::new(actor).unwrap()));
    doc::append(&mut am, event).unwrap();
    let forged = dir.join(format!("{name}.forged.automerge"));
    std::fs::write(&forged, am.save()).unwrap();
    forged
}

/// The event keys of `doc` as `device` holds it.
fn event_keys(device: &Device, dir: &Path, doc: &str, tag: &str) -> Vec<String> {
    let file = dir.join(format!("{tag}-{}.automerge", doc.replace('/', "_")));
    device.ok(&["export", doc, "--out", file.to_str().unwrap()]);
    let am = automerge::Automerge::load(&std::fs::read(&file).unwrap()).unwrap();
    let events = doc::events_obj(&am).unwrap();
    am.keys(&events).collect()
}

/// The refusals in a sync report (each `{"reason": ..}`), without their change hashes.
fn refused(report: &Value) -> Vec<Value> {
    report["refused"].as_array().unwrap().iter().map(|pair| pair[1].clone()).collect()
}

fn application_close(err: Option<quinn::ConnectionError>) -> Option<(u32, String)> {
    match err {
        Some(quinn::ConnectionError::ApplicationClosed(c)) => Some((
            u32::try_from(c.error_code.into_inner()).unwrap(),
            String::from_utf8_lossy(&c.reason).into_owned(),
        )),
        _ => None,
    }
}

fn is_refused(msg: &Message, want: &RefuseReason) -> bool {
    matches!(msg, Message::Refused { reason, .. } if reason == want)
}

/// Nothing a stream returned carries document or device data.
fn assert_no_data(msgs: &[Message]) {
    for m in msgs {
        assert!(
            !matches!(
                m,
                Message::Welcome { .. }
                    | Message::Manifest { .. }
                    | Message::Sync { .. }
                    | Message::Packed { .. }
                    | Message::Idle
                    | Message::Changed { .. }
                    | Message::BlobChunk { .. }
                    | Message::Enrolled { .. }
            ),
            "leaked {m:?}"
        );
    }
}

/// Enrols over the raw protocol with `code`: the server's answer.
async fn raw_enrol(server: &Server, code: &str) -> Message {
    let client = Client::unenrolled(server).await;
    let mut control = client.hello(PROTOCOL_VERSION).await;
    control.send(&Message::Enrol { code: code.into(), public_key: P256_G.to_vec() }).await;
    control.next().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unenrolled_client_is_refused_and_sees_no_document() {
    let (dir, server) = seeded();
    // Give the server something worth stealing.
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    picker.sync();
    pick_line_1(&picker);
    picker.sync();

    let client = Client::unenrolled(&server).await;
    let mut control = client.hello(PROTOCOL_VERSION).await;
    // A document stream of its own, as an enrolled device would open...
    let mut stream = client.open().await;
    stream.send(&Message::Open { doc: doc_id("order/SO-1001") }).await;
    stream.send(&Message::Idle).await;
    // ...and the same asked on the control stream.
    control.send(&Message::Open { doc: doc_id("order/SO-1001") }).await;

    let (got, end) = control.rest().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(is_refused(&got[0], &RefuseReason::NotEnrolled), "{got:?}");
    assert!(matches!(end, End::Finished | End::Lost(_)), "{end:?}");
    let (got, end) = stream.rest().await;
    assert!(got.is_empty(), "the document stream answered {got:?}");
    assert!(matches!(end, End::Finished | End::Lost(_)), "{end:?}");
    let close = application_close(client.closed_within(Duration::from_secs(3)).await);
    assert_eq!(close.map(|c| c.0), Some(CLOSE_REFUSED));

    // Hello, then anything but Enrol: the same refusal, not a manifest.
    let client = Client::unenrolled(&server).await;
    let mut control = client.hello(PROTOCOL_VERSION).await;
    control.send(&Message::Idle).await;
    let (got, _) = control.rest().await;
    assert_no_data(&got);
    assert!(got.iter().any(|m| is_refused(m, &RefuseReason::NotEnrolled)), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_codes_are_checked_and_work_once() {
    let (dir, server) = seeded();

    // A code never issued.
    let answer = raw_enrol(&server, "AAAABBBBCCCCDDDDEEEEFFFFGG").await;
    assert!(is_refused(&answer, &RefuseReason::BadEnrolmentCode), "{answer:?}");

    // A device pins the server: a server without the pinned CA is not
    // spoken to at all.
    let endpoint = quinn::Endpoint::client(([127, 0, 0, 1], 0).into()).unwrap();
    let config = waybill_agent::sync::tls::enrolment(&"ab".repeat(32)).unwrap();
    let addr = server.addr().parse().unwrap();
    let handshake = endpoint.connect_with(config, addr, waybill_shared::sync::SERVER_NAME).unwrap().await;
    assert!(handshake.is_err(), "connected to a server whose CA is not the pinned one");

    // A fresh code, with the same key, works: the refusal above was the code's.
    let (code, _) = server.enrol("hh-7", "picker", Some("wh-1"));
    match raw_enrol(&server, &code).await {
        Message::Enrolled { device, role, certificate_der, .. } => {
            assert_eq!(device.as_str(), "hh-7");
            assert_eq!(role, Role::Picker);
            assert!(!certificate_der.is_empty());
        }
        other => panic!("expected Enrolled, got {other:?}"),
    }
    // The same code again.
    let answer = raw_enrol(&server, &code).await;
    assert!(is_refused(&answer, &RefuseReason::BadEnrolmentCode), "{answer:?}");
    assert_no_data(&[answer]);

    // A code the real agent used cannot enrol a second device.
    let (code, fingerprint) = server.enrol("hh-8", "picker", Some("wh-1"));
    assert_eq!(fingerprint, waybill_tests::raw::fingerprint(&server));
    let args = ["enrol", "--server", &server.addr(), "--code", &code, "--fingerprint", &fingerprint];
    let first = Device { store: dir.path().join("first.db") };
    assert_eq!(first.ok(&args)["device"], "hh-8");
    let second = Device { store: dir.path().join("second.db") };
    let err = second.fails(&args);
    assert!(err.contains("the enrolment code is unknown, already used, or expired"), "{err}");
    assert!(err.contains("ask the office for a new enrolment code"), "{err}");
    assert_eq!(err.matches("enrolment code").count(), 2, "the fault said once, then what to do: {err}");
    second.fails(&["status"]);
    // The first device is the one enrolled, and works (its scope: wh-1's stock).
    assert_eq!(first.sync()["in_scope"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_protocol_version_is_refused_with_the_versions_spoken() {
    let (dir, server) = seeded();
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let want = RefuseReason::UnsupportedVersion { min: 1, max: PROTOCOL_VERSION };

    for enrolled in [false, true] {
        let client =
            if enrolled { Client::device(&server, &picker).await } else { Client::unenrolled(&server).await };
        let mut control = client.hello(99).await;
        let (got, _) = control.rest().await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(is_refused(&got[0], &want), "enrolled {enrolled}: {got:?}");
        let close = application_close(client.closed_within(Duration::from_secs(3)).await);
        assert_eq!(close.map(|c| c.0), Some(CLOSE_REFUSED));
    }

    // A Hello from a future release whose later fields this build cannot
    // read: the version is still read first, and refused.
    let client = Client::device(&server, &picker).await;
    let mut control = client.open().await;
    let payload = [0x00, 99, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3];
    let mut frame = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    control.write(&frame).await.unwrap();
    let (got, _) = control.rest().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(is_refused(&got[0], &want), "{got:?}");

    // The right version gets in.
    let client = Client::device(&server, &picker).await;
    let (_control, manifest) = client.session().await;
    assert_eq!(manifest.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_are_refused_and_the_server_keeps_serving() {
    let (dir, mut server) = seeded();
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let noise: Vec<u8> = {
        // A fixed pseudo-random sequence (xorshift), the same every run.
        let mut x: u32 = 0x9e37_79b9;
        (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_be_bytes()[0]
            })
            .collect()
    };
    let hello = encode(&Message::Hello { protocol: PROTOCOL_VERSION, agent: "x".into() }).unwrap();
    let mut hello_trailing = hello.clone();
    hello_trailing[3] += 2; // the payload claims two more bytes...
    hello_trailing.extend_from_slice(&[0xde, 0xad]); // ...which follow the message.

    // On the control stream, before Hello: whatever the bytes, no Welcome,
    // and the connection is closed.
    let control_cases: Vec<(&str, Vec<u8>)> = vec![
        ("noise", noise.clone()),
        ("a length over the limit", [&[0x00, 0x50, 0x00, 0x00][..], &noise[..64]].concat()),
        ("the largest length", vec![0xff; 8]),
        ("a payload that is no message", vec![0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]),
        ("a Hello with bytes after it", hello_trailing),
        ("a truncated frame", vec![0, 0, 0, 40, 0x00, 0x01, 0x01]),
    ];
    for (what, bytes) in control_cases {
        let client = Client::device(&server, &picker).await;
        let mut control = client.open().await;
        let _ = control.write(&bytes).await;
        control.finish();
        let (got, _) = control.rest().await;
        assert_no_data(&got);
        assert!(
            got.iter().all(|m| matches!(
                m,
                Message::Refused {
                    reason: RefuseReason::Malformed | RefuseReason::UnsupportedVersion { .. },
                    ..
                }
            )),
            "{what}: {got:?}"
        );
        let close = application_close(client.closed_within(Duration::from_secs(3)).await);
        assert!(
            matches!(close, Some((CLOSE_PROTOCOL | CLOSE_REFUSED, _))),
            "{what}: the connection was not closed: {close:?}"
        );
    }

    // On document streams of an enrolled session: the stream is refused or
    // closed, the connection and the other streams carry on.
    let client = Client::device(&server, &picker).await;
    let (_control, manifest) = client.session().await;
    assert_eq!(manifest.len(), 3);
    let open = encode(&Message::Open { doc: doc_id("order/SO-1001") }).unwrap();
    let stream_cases: Vec<(&str, Vec<u8>, bool)> = vec![
        // (what, bytes, whether a Refused{Malformed} answer is certain)
        ("noise", noise.clone(), false),
        ("a length over the limit", [&[0x00, 0x50, 0x00, 0x00][..], &noise[..64]].concat(), false),
        ("a truncated frame", vec![0, 0, 0, 40, 0x06], false),
        ("Idle before Open", encode(&Message::Idle).unwrap(), true),
        ("Hello on a document stream", hello.clone(), true),
        ("Open, then noise", [&open[..], &noise[..]].concat(), false),
        ("Open, then a length over the limit", [&open[..], &[0x7f, 0xff, 0xff, 0xff][..]].concat(), false),
        ("Open, then a truncated frame", [&open[..], &[0, 0, 1, 0, 5, 1][..]].concat(), false),
        (
            "Open, then a sync message that is not one",
            [&open[..], &encode(&Message::Sync { data: noise[..100].to_vec() }).unwrap()[..]].concat(),
            true,
        ),
        (
            // 5 MiB of zeros deflate to a few KiB: past a device's frame
            // once inflated, refused before it is all inflated.
            "Open, then a packed message that inflates past a device's frame",
            [&open[..], &encode(&Message::Packed { data: pack(&vec![0; 5 << 20]) }).unwrap()[..]].concat(),
            true,
        ),
        (
            "Open, then a blob chunk",
            [&open[..], &encode(&Message::BlobChunk { data: vec![1, 2, 3] }).unwrap()[..]].concat(),
            true,
        ),
    ];
    for (what, bytes, certain) in stream_cases {
        let mut stream = client.open().await;
        let _ = stream.write(&bytes).await;
        stream.finish();
        let (got, end) = stream.rest().await;
        assert_no_data(&got);
        assert!(
            got.iter()
                .all(|m| is_refused(m, &RefuseReason::Malformed) || is_refused(m, &RefuseReason::TooLarge)),
            "{what}: {got:?}"
        );
        if certain {
            assert_eq!(got.len(), 1, "{what}: expected Refused{{Malformed}}, got {got:?}");
        }
        assert!(matches!(end, End::Finished | End::Lost(_)), "{what}: {end:?}");
        assert!(client.conn.close_reason().is_none(), "{what}: the connection was closed");
    }
    // The same connection still syncs a document.
    let mut stream = client.open().await;
    stream.send(&Message::Open { doc: doc_id("order/SO-1001") }).await;
    stream.send(&Message::Idle).await;
    assert!(matches!(stream.next().await, Ok(Message::Sync { .. } | Message::Packed { .. })));

    // And the server, still running, serves a normal device.
    assert!(server.is_running());
    assert_eq!(picker.sync()["new_documents"], 3);
    pick_line_1(&picker);
    let report = picker.sync();
    assert_eq!(report["in_scope"], 3, "{report}");
    assert_eq!(report["pending_events"], 0, "{report}");
    assert_eq!(server.order("SO-1001")["lines"][0]["picked"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picker_cancelling_an_order_is_refused_quarantined_and_never_relayed() {
    let (dir, server) = seeded();
    let dir = dir.path();
    let picker = Device::enrol(dir, &server, "hh-1", "picker", Some("wh-1"));
    assert_eq!(picker.sync()["new_documents"], 3);

    let cancel = event("hh-1", 100, json!({"type": "cancelled", "reason": "forged by a picker"}));
    let forged = forge(&picker, dir, "order/SO-1001", "hh-1", &cancel);
    picker.ok(&["merge", forged.to_str().unwrap()]);
    // The device itself now holds the forged event.
    assert_eq!(picker.ok(&["order", "SO-1001"])["status"], "cancelled");
    // Honest work in another order, in the same sync.
    pick(&picker, "SO-1002", "1", "A-02", "09506000134376", "3");

    let report = picker.sync();
    let reasons = refused(&report);
    assert_eq!(reasons.len(), 1, "{report}");
    assert_eq!(reasons[0], json!({"reason": "role_not_allowed", "role": "picker", "event": "cancelled"}));
    assert_eq!(report["pending_events"], 0, "{report}");

    // The office sees it in quarantine, and not in the order.
    let quarantine = server.ok(&["quarantine"]);
    let rows = quarantine.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{quarantine}");
    assert_eq!(rows[0]["device"], "hh-1");
    assert_eq!(rows[0]["doc"], "order/SO-1001");
    assert_eq!(rows[0]["change"], report["refused"][0][0]);
    assert!(rows[0]["refusal"].as_str().unwrap().contains("role_not_allowed"), "{quarantine}");
    let view = server.order("SO-1001");
    assert_eq!(view["cancelled"], false, "{view}");
    assert_ne!(view["status"], "cancelled", "{view}");
    assert!(!view.to_string().contains("hh-1:100"), "{view}");
    assert!(!view.to_string().contains("forged by a picker"), "{view}");
    assert_eq!(server.order("SO-1002")["lines"][0]["picked"], 3, "honest work in the same sync was lost");

    // The device took it out: quarantined, its order workable again.
    let status = picker.ok(&["status"]);
    assert_eq!(status["quarantined"], 1, "{status}");
    assert_eq!(status["pending_events"], 0, "{status}");
    assert_eq!(picker.ok(&["order", "SO-1001"])["cancelled"], false);
    assert!(!event_keys(&picker, dir, "order/SO-1001", "after").contains(&"hh-1:100".to_owned()));

    // Later honest work in that order reaches the server.
    pick_line_1(&picker);
    let report = picker.sync();
    assert!(refused(&report).is_empty(), "{report}");
    assert_eq!(report["pending_events"], 0, "{report}");
    assert_eq!(server.order("SO-1001")["lines"][0]["picked"], 2);

    // Another device that syncs the order gets the honest work and never
    // the forged event.
    let office = Device::enrol(dir, &server, "of-1", "office", None);
    office.sync();
    let keys = event_keys(&office, dir, "order/SO-1001", "office");
    assert!(keys.iter().any(|k| k.starts_with("hh-1:")), "the office did not get hh-1's pick: {keys:?}");
    assert!(!keys.contains(&"hh-1:100".to_owned()), "{keys:?}");
    assert_eq!(office.ok(&["order", "SO-1001"])["cancelled"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_built_on_a_refused_change_is_written_again_and_reaches_the_server() {
    let (dir, server) = seeded();
    let dir = dir.path();
    let picker = Device::enrol(dir, &server, "hh-1", "picker", Some("wh-1"));
    picker.sync();
    let ship_to = json!({"name": "Mallory", "line1": "1 Elsewhere", "city": "Nowhere", "postcode": "X1", "country": "GB"});
    let amend = event("hh-1", 100, json!({"type": "address_amended", "ship_to": ship_to}));
    let forged = forge(&picker, dir, "order/SO-1001", "hh-1", &amend);
    picker.ok(&["merge", forged.to_str().unwrap()]);
    // An honest pick on top of the forged change: its change depends on it.
    let picked = pick_line_1(&picker);
    let picked_id = picked["id"].as_str().unwrap().to_owned();

    let report = picker.sync();
    let reasons = refused(&report);
    assert!(
        reasons
            .contains(&json!({"reason": "role_not_allowed", "role": "picker", "event": "address_amended"})),
        "{report}"
    );
    assert!(reasons.iter().any(|r| r["reason"] == "depends_on_refused"), "{report}");
    assert!(!server.order("SO-1001").to_string().contains("Mallory"));
    assert_eq!(picker.ok(&["status"])["quarantined"], 1);

    // The pick was written again on the server's state: the next sync takes it.
    let report = picker.sync();
    assert!(refused(&report).is_empty(), "{report}");
    assert_eq!(report["pending_events"], 0, "{report}");
    let view = server.order("SO-1001");
    assert_eq!(view["lines"][0]["picked"], 2, "{view}");
    assert!(view.to_string().contains(&picked_id), "{view}");
    assert!(!view.to_string().contains("Mallory"), "{view}");
    assert_eq!(server.ok(&["quarantine"]).as_array().unwrap().len(), 2, "both refused changes are on record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_cannot_write_as_another_device() {
    let (dir, server) = seeded();
    let dir = dir.path();
    let picker = Device::enrol(dir, &server, "hh-1", "picker", Some("wh-1"));
    let _other = Device::enrol(dir, &server, "hh-2", "picker", Some("wh-1"));
    picker.sync();
    let picked = |device: &str, seq: u64| {
        event(
            device,
            seq,
            json!({"type": "picked", "order": "SO-1001", "line": 1, "location": "wh-1", "bin": "A-01",
                   "gtin": "09506000134352", "quantity": 2}),
        )
    };
    // Under hh-2's Automerge actor, as hh-2's event.
    let as_actor = forge(&picker, dir, "order/SO-1001", "hh-2", &picked("hh-2", 1));
    // Under its own actor, but as hh-2's event. Forged from the same state:
    // the two changes are concurrent, each judged on its own.
    let as_author = forge(&picker, dir, "order/SO-1001", "hh-1", &picked("hh-2", 2));
    picker.ok(&["merge", as_actor.to_str().unwrap(), as_author.to_str().unwrap()]);

    let report = picker.sync();
    let reasons = refused(&report);
    assert_eq!(reasons.len(), 2, "{report}");
    let hh2_hex: String = b"hh-2".iter().map(|b| format!("{b:02x}")).collect();
    assert!(reasons.contains(&json!({"reason": "foreign_actor", "actor": hh2_hex})), "{report}");
    assert!(reasons.contains(&json!({"reason": "not_author", "id": "hh-2:2"})), "{report}");
    assert_eq!(picker.ok(&["status"])["quarantined"], 2);
    let view = server.order("SO-1001");
    assert!(!view.to_string().contains("hh-2:"), "{view}");
    assert_eq!(view["lines"][0]["picked"], 0, "{view}");
    let quarantine = server.ok(&["quarantine"]);
    assert_eq!(quarantine.as_array().unwrap().len(), 2, "{quarantine}");

    // The device's own honest work still goes through.
    pick_line_1(&picker);
    assert!(refused(&picker.sync()).is_empty());
    assert_eq!(server.order("SO-1001")["lines"][0]["picked"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_outside_a_devices_scope_are_refused_alike_and_reveal_nothing() {
    let (dir, server) = seeded();
    let dir = dir.path();
    // hh-2 is a picker at wh-1 with no orders assigned.
    let outsider = Device::enrol(dir, &server, "hh-2", "picker", Some("wh-1"));
    let driver = Device::enrol(dir, &server, "drv-1", "driver", None);
    driver.sync();
    let route_before = event_keys(&driver, dir, "route/R-7", "before");

    let client = Client::device(&server, &outsider).await;
    let (_control, manifest) = client.session().await;
    let held: Vec<String> = manifest.iter().map(|e| e.doc.to_string()).collect();
    assert_eq!(held, ["location/wh-1/0"]);

    // An order that exists, one that does not, a route: the same answer.
    let mut answers = Vec::new();
    for doc in ["order/SO-1001", "order/SO-9999", "route/R-7", "route/R-404"] {
        let mut stream = client.open().await;
        // In one write: the server may stop reading once it has refused.
        let ask = [encode(&Message::Open { doc: doc_id(doc) }).unwrap(), encode(&Message::Idle).unwrap()];
        let _ = stream.write(&ask.concat()).await;
        let (got, end) = stream.rest().await;
        assert_eq!(end, End::Finished, "{doc}");
        assert_eq!(got.len(), 1, "{doc}: {got:?}");
        let Message::Refused { reason, message } = &got[0] else { panic!("{doc}: {got:?}") };
        assert_eq!(reason, &RefuseReason::OutOfScope, "{doc}");
        answers.push(message.replace(doc, "<doc>"));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "answers differ: {answers:?}");

    // A write to the route, sent with the Open before any answer: refused
    // at the door, never looked at.
    let route_file = dir.join("route.automerge");
    driver.ok(&["export", "route/R-7", "--out", route_file.to_str().unwrap()]);
    let mut route = AutoCommit::load(&std::fs::read(&route_file).unwrap())
        .unwrap()
        .with_actor(actor_of(&DeviceId::new("hh-2").unwrap()));
    let arrived = event("hh-2", 1, json!({"type": "arrived_at_stop", "route": "R-7", "stop": 1}));
    doc::append(&mut route, &arrived).unwrap();
    let change = route.get_last_local_change().unwrap().raw_bytes().to_vec();
    let sync = automerge::sync::Message {
        heads: route.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: ChunkList::from(vec![change]),
        flags: None,
        version: MessageVersion::V1,
    };
    let mut stream = client.open().await;
    let write = [
        encode(&Message::Open { doc: doc_id("route/R-7") }).unwrap(),
        encode(&Message::Sync { data: sync.encode() }).unwrap(),
    ];
    let _ = stream.write(&write.concat()).await;
    let (got, _) = stream.rest().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(is_refused(&got[0], &RefuseReason::OutOfScope), "{got:?}");
    assert!(server.ok(&["quarantine"]).as_array().unwrap().is_empty());
    driver.sync();
    assert_eq!(event_keys(&driver, dir, "route/R-7", "after"), route_before);

    // The agent, too, gets only its scope.
    let report = outsider.sync();
    assert_eq!(report["in_scope"], 1, "{report}");
    assert_eq!(outsider.ok(&["status"])["documents"], 1);
    outsider.fails(&["order", "SO-1001"]);
}

/// `last_seen` of `device` in `waybill-server devices`.
fn last_seen(server: &Server, device: &str) -> Value {
    let devices = server.ok(&["devices"]);
    devices.as_array().unwrap().iter().find(|d| d["id"] == device).unwrap()["last_seen"].clone()
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(25));
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_cut_off_at_once_and_refused_after() {
    let (dir, server) = seeded();
    // hh-1 runs `sync --watch`; hh-2 holds a raw session, whose close the
    // test sees exactly.
    let watched = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let raw = Device::enrol(dir.path(), &server, "hh-2", "picker", Some("wh-1"));
    assert_eq!(last_seen(&server, "hh-1"), Value::Null);

    // The watch stays connected; its connect shows as `last_seen`, and so
    // will its disconnect (a revoked device cannot connect again to change it).
    let mut watch = Command::new(bin("waybill-agent"))
        .arg("--store")
        .arg(&watched.store)
        .args(["sync", "--watch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the watch connects", Duration::from_secs(10), || !last_seen(&server, "hh-1").is_null());
    let client = Client::device(&server, &raw).await;
    let (_control, _) = client.session().await;
    std::thread::sleep(Duration::from_millis(300));
    let connected = last_seen(&server, "hh-1");
    assert!(watch.try_wait().unwrap().is_none(), "the watch exited while connected");
    assert!(client.conn.close_reason().is_none());

    // Mid-connection: the raw session is closed, with the revoked code.
    server.ok(&["revoke", "--device", "hh-2"]);
    let revoked = Instant::now();
    let close = application_close(client.closed_within(Duration::from_secs(2)).await);
    let took = revoked.elapsed();
    assert_eq!(close, Some((CLOSE_REVOKED, "revoked".to_owned())));
    assert!(took < Duration::from_secs(1), "closed {took:?} after the revocation");
    // Only the revoked device: hh-1's watch is still connected.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(last_seen(&server, "hh-1"), connected, "revoking hh-2 cut hh-1 off");

    // The watch's connection goes too when hh-1 is revoked.
    server.ok(&["revoke", "--device", "hh-1"]);
    let took = wait_until("the watch is cut off", Duration::from_secs(3), || {
        last_seen(&server, "hh-1") != connected
    });
    assert!(took < Duration::from_millis(1500), "the watch was cut off {took:?} after the revocation");
    watch.kill().unwrap();
    watch.wait().unwrap();

    // From now on: refused with the typed reason.
    let err = watched.fails(&["sync"]);
    assert!(err.contains("revoked"), "{err}");
    let client = Client::device(&server, &raw).await;
    let (got, _) = client.hello(PROTOCOL_VERSION).await.rest().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(is_refused(&got[0], &RefuseReason::Revoked), "{got:?}");
    let devices = server.ok(&["devices"]);
    assert!(devices.as_array().unwrap().iter().all(|d| d["revoked_at"].is_string()), "{devices}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_may_hold_only_so_many_connections() {
    let (dir, server) = seeded();
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let mut held = Vec::new();
    for _ in 0..4 {
        let client = Client::device(&server, &picker).await;
        let (control, _) = client.session().await;
        held.push((client, control));
    }
    // The server counts a connection once it has sent the manifest and
    // recorded the device as seen: give it that moment (see the ignored
    // test below for connections that race).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = Client::device(&server, &picker).await;
    let (got, _) = client.hello(PROTOCOL_VERSION).await.rest().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(is_refused(&got[0], &RefuseReason::TooManyConnections), "{got:?}");
    // One goes, another may come.
    let (gone, _) = held.pop().unwrap();
    gone.conn.close(0u32.into(), b"bye");
    drop(gone);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = Client::device(&server, &picker).await;
    let (_control, manifest) = client.session().await;
    assert_eq!(manifest.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_ends_frees_its_connection_at_once() {
    let (dir, server) = seeded();
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    // More syncs in a row than a device may hold connections: each one's
    // close reaches the server before the command exits.
    for _ in 0..6 {
        picker.sync();
    }
}

/// Known bug, kept as its reproduction: the limit is checked before the
/// handshake's awaits and the connection counted after them
/// (connection.rs, `serve` then `session`), so connections opened together
/// all get in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn connections_opened_together_still_meet_the_limit() {
    let (dir, server) = seeded();
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let mut clients = Vec::new();
    for _ in 0..12 {
        clients.push(Client::device(&server, &picker).await);
    }
    let mut controls = Vec::new();
    for c in &clients {
        controls.push(c.hello(PROTOCOL_VERSION).await);
    }
    let mut welcomed = 0;
    for control in &mut controls {
        if matches!(control.next().await, Ok(Message::Welcome { .. })) {
            welcomed += 1;
        }
    }
    assert!(welcomed <= 4, "{welcomed} of 12 connections of one device were let in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_over_the_servers_limit_are_refused_and_the_server_stays_up() {
    let (dir, mut server) = seeded();
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let client = Client::device(&server, &picker).await;
    let (_control, _) = client.session().await;

    // A frame declaring more than the limit: refused from its header.
    let declared = u32::try_from(SERVER_MAX_FRAME + 1024).unwrap();
    let mut frame = declared.to_be_bytes().to_vec();
    frame.extend(vec![0x42; 64 * 1024]);
    assert_eq!(SERVER_MAX_FRAME, MAX_DEVICE_FRAME);
    let mut stream = client.open().await;
    stream.send(&Message::Open { doc: doc_id("order/SO-1001") }).await;
    let _ = stream.write(&frame).await;
    stream.finish();
    let (got, end) = stream.rest().await;
    assert_no_data(&got);
    assert!(
        got.iter().all(|m| matches!(
            m,
            Message::Refused { reason: RefuseReason::TooLarge | RefuseReason::Malformed, .. }
        )),
        "{got:?}"
    );
    assert!(matches!(end, End::Finished | End::Lost(_)), "{end:?}");

    // Just under the limit is read, and answered: not a sync message.
    let mut stream = client.open().await;
    stream.send(&Message::Open { doc: doc_id("order/SO-1001") }).await;
    stream.send(&Message::Sync { data: vec![0x42; SERVER_MAX_FRAME - 16] }).await;
    let (got, _) = stream.rest().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(is_refused(&got[0], &RefuseReason::Malformed), "{got:?}");

    // A blob chunk declared over the limit: not one byte of it is kept.
    let blob = vec![b'x'; 1024 * 1024];
    let hash = waybill_shared::blob::BlobHash::of(&blob);
    let size = blob.len() as u64;
    let mut stream = client.open().await;
    stream.send(&Message::BlobPut { hash, size }).await;
    assert_eq!(stream.next().await, Ok(Message::BlobResume { offset: 0 }));
    let _ = stream.write(&frame).await;
    stream.finish();
    let (got, _) = stream.rest().await;
    assert!(!got.iter().any(|m| matches!(m, Message::BlobStored { .. })), "{got:?}");
    assert_eq!(server.blob(&hash), None);
    assert_eq!(server.blob_partial(&hash), None);
    // The same blob in chunks under the limit is stored.
    let mut stream = client.open().await;
    stream.send(&Message::BlobPut { hash, size }).await;
    assert_eq!(stream.next().await, Ok(Message::BlobResume { offset: 0 }));
    for chunk in blob.chunks(64 * 1024) {
        stream.send(&Message::BlobChunk { data: chunk.to_vec() }).await;
    }
    assert_eq!(stream.next().await, Ok(Message::BlobStored { hash }));
    assert_eq!(server.blob(&hash), Some(blob));

    // An oversized first frame on a new stream.
    let mut stream = client.open().await;
    let _ = stream.write(&frame).await;
    stream.finish();
    let (got, _) = stream.rest().await;
    assert_no_data(&got);

    // The connection and the server carry on.
    assert!(server.is_running());
    assert!(client.conn.close_reason().is_none());
    let mut stream = client.open().await;
    stream.send(&Message::Open { doc: doc_id("order/SO-1001") }).await;
    stream.send(&Message::Idle).await;
    assert!(matches!(stream.next().await, Ok(Message::Sync { .. } | Message::Packed { .. })));
    assert_eq!(picker.sync()["new_documents"], 3);
    pick_line_1(&picker);
    let report = picker.sync();
    assert_eq!(report["pending_events"], 0, "{report}");
    assert_eq!(server.order("SO-1001")["lines"][0]["picked"], 2);
}

/// An honest device whose unsynced work in one document is more than the
/// server reads in one frame (4 MiB) sends it in several messages, and all
/// of it arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_work_larger_than_one_frame_still_syncs() {
    let (dir, server) = seeded();
    let dir = dir.path();
    let picker = Device::enrol(dir, &server, "hh-1", "picker", Some("wh-1"));
    picker.sync();
    // 300 picks the policy accepts (own actor, own ids, a picker's events,
    // in scope), each with a long supervisor note that does not compress:
    // about 5 MiB of changes in one document.
    let plain = dir.join("order.automerge");
    picker.ok(&["export", "order/SO-1001", "--out", plain.to_str().unwrap()]);
    let mut am = AutoCommit::load(&std::fs::read(&plain).unwrap())
        .unwrap()
        .with_actor(actor_of(&DeviceId::new("hh-1").unwrap()));
    let mut x: u32 = 12345;
    let mut note = || -> String {
        (0..14_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                char::from(
                    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[(x % 62) as usize],
                )
            })
            .collect()
    };
    for seq in 1000..1300 {
        let picked = event(
            "hh-1",
            seq,
            json!({"type": "picked", "order": "SO-1001", "line": 1, "location": "wh-1", "bin": "A-01",
                   "gtin": "09506000134352", "quantity": 1, "override_reason": note()}),
        );
        doc::append(&mut am, &picked).unwrap();
    }
    let file = dir.join("work.automerge");
    std::fs::write(&file, am.save()).unwrap();
    picker.ok(&["merge", file.to_str().unwrap()]);

    let out = picker.run(&["sync"]);
    assert!(out.status.success(), "sync: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(server.order("SO-1001")["lines"][0]["picked"], 300);
}
