//! The server's state machines fed arbitrary bytes as a device's streams:
//! the first frame through the handshake check, then any messages, in any
//! order, to a document session on a real order document, as an enrolled
//! picker. Refused or answered, never a panic, and the session always ends
//! within its round cap.
#![no_main]

use std::sync::LazyLock;

use automerge::AutoCommit;
use libfuzzer_sys::fuzz_target;
use waybill_shared::doc::{self, DocId};
use waybill_shared::id::DeviceId;
use waybill_shared::policy::{DeviceIdentity, Scope, actor_of};
use waybill_shared::role::Role;
use waybill_shared::sync::session::{MAX_ROUNDS, ServerSession};
use waybill_shared::sync::{FrameDecoder, handshake};

/// The order document every input syncs against, built once: making it
/// per input cost more than the session under test.
static ORDER: LazyLock<AutoCommit> = LazyLock::new(|| {
    let id: DocId = "order/SO-1".parse().unwrap();
    let header = serde_json::json!({
        "id": "SO-1", "customer": "c",
        "ship_to": {"name": "n", "line1": "l", "city": "c", "postcode": "p", "country": "GB"},
        "lines": [{"line": 1, "gtin": "09506000134352", "description": "d", "quantity": 5}],
        "created_at": "2026-01-01T00:00:00Z"
    });
    doc::create(actor_of(&DeviceId::new("office").unwrap()), &id, &header)
});

fuzz_target!(|data: &[u8]| {
    let _ = handshake::check_hello(data, waybill_shared::sync::PROTOCOL_VERSION);
    let id: DocId = "order/SO-1".parse().unwrap();
    let mut d = ORDER.clone();
    let who = DeviceIdentity {
        device: DeviceId::new("hh-1").unwrap(),
        role: Role::Picker,
        scope: Scope::Docs([id.clone()].into()),
    };
    let mut session = ServerSession::new(who, id, automerge::sync::State::new());
    let mut decoder = FrameDecoder::with_limit(64 * 1024);
    decoder.push(data);
    let mut rounds = 0;
    while let Ok(Some(msg)) = decoder.next_frame() {
        rounds += 1;
        match session.handle(&mut d, msg) {
            Ok(answer) if answer.done => break,
            Ok(_) => assert!(rounds < MAX_ROUNDS, "the session went past its round cap"),
            Err(_) => break,
        }
    }
});
