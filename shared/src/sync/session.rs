//! One document's sync over one stream, sans-IO: Automerge's sync protocol
//! with the write policy at the server's door.
//!
//! The client drives a ping-pong: it sends its next sync message (or
//! `Idle`), the server answers with its own (or `Idle`); the session ends when
//! a round has nothing to say either way, or after [`MAX_ROUNDS`].
//!
//! The server ([`serve`]) takes every change out of an incoming message, runs
//! them through [`crate::policy::check_changes`], puts back only the accepted
//! ones and hands the rest back as refusals; Automerge then takes in the
//! filtered message, so its sync state follows what was really applied.
//! The server's outgoing messages carry no capability flags, so a client never
//! switches to the whole-document (V2) encoding: every change it sends is a
//! separate chunk the policy can read. The server may still send V2 to the
//! client, which is what makes a cold start one message.

use automerge::sync::{self, ChunkList, SyncDoc};
use automerge::{AutoCommit, Change, ChangeHash};

use crate::doc::DocId;
use crate::policy::{DeviceIdentity, Refusal, check_changes};
use crate::sync::MAX_DEVICE_FRAME;

/// Rounds one session may take. Honest peers finish in a few; the cap ends a
/// session that only repeats itself (a peer asking again for a change the
/// policy refused).
pub const MAX_ROUNDS: u32 = 32;

/// A sync message that did not read.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The bytes are not an Automerge sync message.
    #[error("malformed sync message: {0}")]
    Malformed(String),
    /// A change in it does not read.
    #[error("malformed change in sync message: {0}")]
    BadChange(String),
    /// Automerge refused to apply the message.
    #[error(transparent)]
    Automerge(#[from] automerge::AutomergeError),
}

/// What the server did with one incoming message.
#[derive(Debug, Default)]
pub struct Served {
    /// Changes accepted and applied to the document, to be stored.
    pub accepted: Vec<Change>,
    /// Changes refused, with why; the document does not hold them.
    pub refused: Vec<(Change, Refusal)>,
    /// The server's next message, if it has one.
    pub reply: Option<Vec<u8>>,
}

/// Server side: takes in one sync message from `who` for document `id`.
pub fn serve(
    doc: &mut AutoCommit,
    state: &mut sync::State,
    who: &DeviceIdentity,
    id: &DocId,
    data: &[u8],
) -> Result<Served, SessionError> {
    let mut message = sync::Message::decode(data).map_err(|e| SessionError::Malformed(e.to_string()))?;
    let changes = message
        .changes
        .iter()
        .map(|chunk| Change::from_bytes(chunk.to_vec()).map_err(|e| SessionError::BadChange(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let sent: std::collections::HashMap<ChangeHash, Change> =
        changes.iter().map(|c| (c.hash(), c.clone())).collect();
    let mut verdict = check_changes(who, id, doc.document(), changes);
    // A change whose parent did not come (a bloom-filter false positive on
    // the sender's side, or a message cut short) is not refused: it is left
    // out, and Automerge asks for the parent in the next round.
    verdict.refused.retain(|(_, r)| !matches!(r, Refusal::MissingDependencies { .. }));
    // Automerge applies what is left: the accepted changes, in order.
    message.changes =
        ChunkList::from(verdict.accepted.iter().map(|c| c.raw_bytes().to_vec()).collect::<Vec<_>>());
    doc.sync().receive_sync_message(state, message)?;
    let refused =
        verdict.refused.into_iter().filter_map(|(h, r)| sent.get(&h).map(|c| (c.clone(), r))).collect();
    Ok(Served { accepted: verdict.accepted, refused, reply: server_message(doc, state) })
}

/// Server side: the server's next message, with no capability flags.
pub fn server_message(doc: &mut AutoCommit, state: &mut sync::State) -> Option<Vec<u8>> {
    doc.sync().generate_sync_message(state).map(|mut m| {
        m.flags = None;
        m.encode()
    })
}

/// Client side: takes in the server's message, if any, and gives the
/// client's next one, if it has one. The message fits in a device's frame
/// ([`MAX_DEVICE_FRAME`]): changes over that wait for the next round.
pub fn client_step(
    doc: &mut AutoCommit,
    state: &mut sync::State,
    incoming: Option<&[u8]>,
) -> Result<Option<Vec<u8>>, SessionError> {
    step_within(doc, state, incoming, MAX_DEVICE_FRAME - WRAPPING)
}

/// [`client_step`] with messages of at most `limit` bytes.
fn step_within(
    doc: &mut AutoCommit,
    state: &mut sync::State,
    incoming: Option<&[u8]>,
    limit: usize,
) -> Result<Option<Vec<u8>>, SessionError> {
    if let Some(data) = incoming {
        let message = sync::Message::decode(data).map_err(|e| SessionError::Malformed(e.to_string()))?;
        doc.sync().receive_sync_message(state, message)?;
    }
    Ok(doc.sync().generate_sync_message(state).map(|m| fit(m, state, limit)))
}

/// Room kept in a device's frame for what wraps a sync message on the wire
/// (the protocol message's tag and the length of its bytes).
const WRAPPING: usize = 64;

/// Encodes `message` in at most `limit` bytes by holding back changes from
/// its end. Held-back changes are marked unsent in `state`, so the next
/// round sends them; Automerge lists changes in causal order, so what goes
/// is never missing a parent that stays. One change always goes, even alone
/// over the limit (the server then refuses it as too large).
fn fit(mut message: sync::Message, state: &mut sync::State, limit: usize) -> Vec<u8> {
    let encoded = message.clone().encode();
    if encoded.len() <= limit {
        return encoded;
    }
    let chunks: Vec<Vec<u8>> = message.changes.iter().map(<[u8]>::to_vec).collect();
    // What is not the changes' bytes (counted high: it keeps every chunk's
    // length), then each change kept costs its bytes and a length of at
    // most 5 (LEB128 of a u32).
    let mut size = encoded.len().saturating_sub(chunks.iter().map(Vec::len).sum());
    let mut keep = 0;
    for chunk in &chunks {
        if keep > 0 && size + chunk.len() + 5 > limit {
            break;
        }
        size += chunk.len() + 5;
        keep += 1;
    }
    for held in &chunks[keep..] {
        if let Ok(change) = Change::from_bytes(held.clone()) {
            state.sent_hashes.remove(&change.hash());
        }
    }
    message.changes = ChunkList::from(chunks[..keep].to_vec());
    message.encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{self, order::OrderHeader};
    use crate::event::warehouse::Picked;
    use crate::event::{Event, Payload};
    use crate::id::DeviceId;
    use crate::policy::{Scope, actor_of};
    use crate::recorder::Recorder;
    use crate::role::Role;
    use chrono::DateTime;

    fn header() -> OrderHeader {
        serde_json::from_value(serde_json::json!({
            "id": "SO-1", "customer": "c",
            "ship_to": {"name": "n", "line1": "l", "city": "c", "postcode": "p", "country": "GB"},
            "lines": [{"line": 1, "gtin": "09506000134352", "description": "d", "quantity": 5}],
            "created_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    fn picked(r: &mut Recorder, ms: i64, gtin: &str) -> Event {
        let p = Payload::Picked(Picked {
            order: "SO-1".parse().unwrap(),
            line: 1,
            location: "wh-1".parse().unwrap(),
            bin: "A-1".parse().unwrap(),
            gtin: gtin.parse().unwrap(),
            quantity: 1,
            lot: None,
            serial: None,
            expiry: None,
            override_reason: None,
        });
        r.record(DateTime::from_timestamp_millis(ms).unwrap(), None, p)
    }

    /// Runs one client-driven session to its end, as the runtimes do;
    /// returns the rounds taken and every refusal.
    fn session(
        client: &mut AutoCommit,
        server: &mut AutoCommit,
        who: &DeviceIdentity,
        id: &DocId,
    ) -> (u32, Vec<(Change, Refusal)>) {
        session_within(client, server, who, id, MAX_DEVICE_FRAME - WRAPPING)
    }

    /// [`session`] with client messages of at most `limit` bytes, checked.
    fn session_within(
        client: &mut AutoCommit,
        server: &mut AutoCommit,
        who: &DeviceIdentity,
        id: &DocId,
        limit: usize,
    ) -> (u32, Vec<(Change, Refusal)>) {
        let (mut cs, mut ss) = (sync::State::new(), sync::State::new());
        let mut incoming: Option<Vec<u8>> = None;
        let mut refused = Vec::new();
        for round in 1..=MAX_ROUNDS {
            let out = step_within(client, &mut cs, incoming.as_deref(), limit).unwrap();
            assert!(out.as_ref().is_none_or(|m| m.len() <= limit), "a message over {limit} bytes");
            let reply = match &out {
                Some(data) => {
                    let served = serve(server, &mut ss, who, id, data).unwrap();
                    refused.extend(served.refused);
                    served.reply
                }
                None => server_message(server, &mut ss),
            };
            if out.is_none() && reply.is_none() {
                return (round, refused);
            }
            incoming = reply;
        }
        (MAX_ROUNDS, refused)
    }

    fn setup() -> (DocId, AutoCommit, DeviceIdentity, Recorder) {
        let id: DocId = "order/SO-1".parse().unwrap();
        let office = DeviceId::new("office").unwrap();
        let server = doc::create(actor_of(&office), &id, &header());
        let device = DeviceId::new("hh-1").unwrap();
        let who = DeviceIdentity {
            device: device.clone(),
            role: Role::Picker,
            scope: Scope::Docs([id.clone()].into()),
        };
        (id, server, who, Recorder::new(device))
    }

    #[test]
    fn a_device_catches_up_then_sends_its_events_and_both_converge() {
        let (id, mut server, who, mut rec) = setup();
        // the device starts with nothing and receives the document
        let mut client = AutoCommit::new().with_actor(actor_of(&who.device));
        let (rounds, refused) = session(&mut client, &mut server, &who, &id);
        assert!(refused.is_empty() && rounds <= 4, "{rounds} rounds");
        assert_eq!(client.get_heads(), server.get_heads());
        // offline work, then sync: only the new changes travel
        for ms in 1..=5 {
            doc::append(&mut client, &picked(&mut rec, ms, "09506000134352")).unwrap();
        }
        let (rounds, refused) = session(&mut client, &mut server, &who, &id);
        assert!(refused.is_empty() && rounds <= 4, "{rounds} rounds");
        assert_eq!(client.get_heads(), server.get_heads());
        assert_eq!(doc::order::read(server.document()).unwrap().events.len(), 5);
    }

    #[test]
    fn a_refused_change_stays_out_of_the_server_and_the_session_still_ends() {
        let (id, mut server, who, mut rec) = setup();
        let mut client = AutoCommit::new().with_actor(actor_of(&who.device));
        session(&mut client, &mut server, &who, &id);
        // a picker writing a cancellation: refused, and so is what builds on it
        let cancel = rec.record(
            DateTime::from_timestamp_millis(9).unwrap(),
            None,
            Payload::Cancelled(crate::event::office::Cancelled { reason: "no".into() }),
        );
        doc::append(&mut client, &cancel).unwrap();
        doc::append(&mut client, &picked(&mut rec, 10, "09506000134352")).unwrap();
        let before = server.get_heads();
        let (rounds, refused) = session(&mut client, &mut server, &who, &id);
        assert_eq!(server.get_heads(), before, "nothing refused reaches the server");
        assert!(matches!(refused[0].1, Refusal::RoleNotAllowed { .. }), "{refused:?}");
        assert!(
            matches!(refused.last().map(|r| &r.1), Some(Refusal::DependsOnRefused { .. })),
            "{refused:?}"
        );
        assert!(rounds <= MAX_ROUNDS);
    }

    #[test]
    fn work_larger_than_a_message_goes_in_several_and_all_of_it_arrives() {
        let (id, mut server, who, mut rec) = setup();
        let mut client = AutoCommit::new().with_actor(actor_of(&who.device));
        session(&mut client, &mut server, &who, &id);
        for ms in 1..=60 {
            doc::append(&mut client, &picked(&mut rec, ms, "09506000134352")).unwrap();
        }
        // about 60 changes of a few hundred bytes, in messages of 4 KiB
        let (rounds, refused) = session_within(&mut client, &mut server, &who, &id, 4096);
        assert!(refused.is_empty(), "{refused:?}");
        assert!(rounds > 2, "{rounds} rounds: the work was not cut");
        assert_eq!(client.get_heads(), server.get_heads());
        assert_eq!(doc::order::read(server.document()).unwrap().events.len(), 60);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let (id, mut server, who, _) = setup();
        let mut state = sync::State::new();
        assert!(matches!(
            serve(&mut server, &mut state, &who, &id, b"garbage"),
            Err(SessionError::Malformed(_))
        ));
        assert!(matches!(serve(&mut server, &mut state, &who, &id, &[]), Err(SessionError::Malformed(_))));
    }
}
