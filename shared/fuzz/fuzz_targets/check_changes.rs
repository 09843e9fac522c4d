//! Any bytes as a change (and as a sync message) against a real order
//! document, through the write policy and the server's session: refused or
//! accepted, never a panic.
#![no_main]

use automerge::{AutoCommit, Change};
use libfuzzer_sys::fuzz_target;
use waybill_shared::doc::{self, DocId};
use waybill_shared::id::DeviceId;
use waybill_shared::policy::{DeviceIdentity, Scope, actor_of, check_changes};
use waybill_shared::role::Role;
use waybill_shared::sync::session;

fuzz_target!(|data: &[u8]| {
    let id: DocId = "order/SO-1".parse().unwrap();
    let header = serde_json::json!({
        "id": "SO-1", "customer": "c",
        "ship_to": {"name": "n", "line1": "l", "city": "c", "postcode": "p", "country": "GB"},
        "lines": [{"line": 1, "gtin": "09506000134352", "description": "d", "quantity": 5}],
        "created_at": "2026-01-01T00:00:00Z"
    });
    let mut d: AutoCommit = doc::create(actor_of(&DeviceId::new("office").unwrap()), &id, &header);
    let who = DeviceIdentity {
        device: DeviceId::new("hh-1").unwrap(),
        role: Role::Picker,
        scope: Scope::Docs([id.clone()].into()),
    };
    if let Ok(change) = Change::from_bytes(data.to_vec()) {
        let _ = check_changes(&who, &id, d.document(), vec![change]);
    }
    let mut server = session::ServerSession::new(who, id, automerge::sync::State::new());
    let _ = server.handle(&mut d, waybill_shared::sync::Message::Sync { data: data.to_vec() });
});
