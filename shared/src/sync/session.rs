//! One document's sync over one stream, sans-IO: Automerge's sync protocol
//! with the write policy at the server's door, as two state machines that
//! the agent, the server and the simulated network all drive.
//!
//! The [`ClientSession`] drives a ping-pong: it sends its next sync message
//! (or `Idle`), the [`ServerSession`] answers with any `Rejected`, then its
//! own `Sync` (or `Idle`); the session ends when a round has nothing to say
//! either way, or after [`MAX_ROUNDS`]. Neither does IO: the client is fed
//! the server's messages and says what to send; the server is fed the
//! client's messages and the document, and returns what to store (accepted
//! changes, with the sync state, durably before the reply goes), what to
//! quarantine, and the reply.
//!
//! The server ([`serve`]) takes every change out of an incoming message, runs
//! them through [`crate::policy::check_changes`], puts back only the accepted
//! ones and hands the rest back as refusals; Automerge then takes in the
//! filtered message, so its sync state follows what was really applied.
//! The server's outgoing messages carry no capability flags, so a client never
//! switches to the whole-document (V2) encoding: every change it sends is a
//! separate chunk the policy can read. The server may still send V2 to a
//! protocol 1 client (a whole document in one message).
//!
//! A client's messages fit in a device's frame ([`MAX_DEVICE_FRAME`]):
//! changes over that go in the next round.
//!
//! From protocol 3, a device that holds none of a document the server
//! lists asks for it whole (`Fetch`): the server sends the stored bytes
//! (`Whole`) without loading them ([`ServerSession::whole`]), and the device
//! loads them; a document over a frame goes as any other session.
//!
//! On a connection that speaks protocol 2 ([`speaking`](ClientSession::speaking)),
//! both sides send their sync messages packed ([`Message::Packed`]); both
//! take either form in. There the client does not offer whole-document
//! messages either, so the server sends a new device the document's
//! changes (packed) rather than encoding and compressing it whole.

use automerge::sync::{self, ChunkList, SyncDoc};
use automerge::{AutoCommit, Change, ChangeHash};

use crate::doc::DocId;
use crate::policy::{DeviceIdentity, Refusal, check_changes};
use crate::sync::message::{fetches, packs};
use crate::sync::{MAX_DEVICE_FRAME, MAX_FRAME, Message, RefuseReason, pack};

/// Rounds one session may take. Honest peers finish in a few; the cap ends a
/// session that only repeats itself (a peer asking again for a change the
/// policy refused).
pub const MAX_ROUNDS: u32 = 32;

/// A session that cannot go on.
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
    /// The peer sent a message that has no place here.
    #[error("unexpected {0} in a document session")]
    Unexpected(&'static str),
    /// The server refused the session (out of scope, too large, ...).
    #[error("{message}")]
    Refused {
        /// Why, typed.
        reason: RefuseReason,
        /// The server's words.
        message: String,
    },
    /// The server refused changes without saying what it holds, so there
    /// is nothing safe to rebuild the document on; it is left as it is.
    #[error("the server refused changes in {0} without saying what it holds")]
    NoServerHeads(DocId),
    /// An event in the document does not read or write.
    #[error(transparent)]
    Doc(#[from] crate::doc::DocError),
}

/// The client's side of one document's session on one stream. Call
/// [`start`](Self::start), send what it returns, then feed it each message
/// the server sends with [`handle`](Self::handle), sending what that
/// returns, until [`is_done`](Self::is_done); [`finish`](Self::finish) gives
/// the result to store.
#[derive(Debug)]
pub struct ClientSession {
    id: DocId,
    doc: AutoCommit,
    state: sync::State,
    before: Vec<ChangeHash>,
    rejected: Vec<(ChangeHash, Refusal)>,
    rounds: u32,
    /// Whether the last message sent was `Idle`.
    idle: bool,
    done: bool,
    /// Largest sync message sent.
    limit: usize,
    /// Whether sync messages go packed.
    packed: bool,
    /// Whether the server's manifest listed the document.
    listed: bool,
    /// Whether it asks for the document whole ([`Message::Fetch`]).
    fetch: bool,
}

/// What a finished client session brings home.
#[derive(Debug)]
pub struct ClientOutcome {
    /// The document.
    pub id: DocId,
    /// The document after the session.
    pub doc: AutoCommit,
    /// The sync state to persist.
    pub state: sync::State,
    /// The document's heads before the session.
    pub before: Vec<ChangeHash>,
    /// Own changes the server refused, with why.
    pub rejected: Vec<(ChangeHash, Refusal)>,
}

/// A refused change of the device's, taken out of its document: its hash,
/// why, and the keys of the events it wrote (kept for the office to see).
pub type Quarantined = (ChangeHash, Refusal, Vec<String>);

impl ClientOutcome {
    /// Takes the changes the server refused out of the document: rebuilds it
    /// on the server's state and writes again (as `device`) every event of
    /// the device's that the server does not hold, except those of the
    /// changes refused for themselves: work refused only for building on a
    /// refused change, and work recorded since, is not lost with it. Returns
    /// the changes refused for themselves, with their events' keys, for the
    /// quarantine. Does nothing when nothing was refused.
    ///
    /// Merge into [`doc`](Self::doc) first whatever the device recorded in
    /// the document while the session ran, so that is written again too.
    pub fn take_out_refused(
        &mut self,
        device: &crate::id::DeviceId,
    ) -> Result<Vec<Quarantined>, SessionError> {
        if self.rejected.is_empty() {
            return Ok(Vec::new());
        }
        let server_heads =
            self.state.their_heads.clone().ok_or_else(|| SessionError::NoServerHeads(self.id.clone()))?;
        let mut rebuilt = self.doc.fork_at(&server_heads)?.with_actor(crate::policy::actor_of(device));
        let mut quarantined = Vec::new();
        let mut dropped = std::collections::BTreeSet::new();
        for (hash, refusal) in &self.rejected {
            if matches!(refusal, Refusal::DependsOnRefused { .. }) {
                continue;
            }
            let Some(change) = self.doc.get_change_by_hash(hash) else { continue };
            let keys = event_keys(&change);
            dropped.extend(keys.iter().cloned());
            quarantined.push((*hash, refusal.clone(), keys));
        }
        let held: std::collections::BTreeSet<String> =
            crate::doc::events(&self.id, rebuilt.document())?.iter().map(|e| e.id.to_string()).collect();
        for e in crate::doc::events(&self.id, self.doc.document())? {
            let key = e.id.to_string();
            if &e.id.device == device && !held.contains(&key) && !dropped.contains(&key) {
                crate::doc::append(&mut rebuilt, &e)?;
            }
        }
        self.doc = rebuilt;
        Ok(quarantined)
    }
}

/// The event keys a change writes.
fn event_keys(change: &Change) -> Vec<String> {
    change
        .decode()
        .operations
        .iter()
        .filter_map(|op| match &op.key {
            automerge::legacy::Key::Map(k) if k.as_str() != crate::doc::EVENTS => Some(k.to_string()),
            _ => None,
        })
        .collect()
}

impl ClientSession {
    /// A session for `doc`, whose sync state with the server is `state`.
    /// `server_heads` are the heads the server's manifest gave, or none:
    /// when the device holds all of them, the first message carries its
    /// changes instead of spending a round trip asking.
    pub fn new(id: DocId, mut doc: AutoCommit, mut state: sync::State, server_heads: &[ChangeHash]) -> Self {
        prime(&mut state, &mut doc, server_heads);
        let before = doc.get_heads();
        let limit = MAX_DEVICE_FRAME - WRAPPING;
        Self {
            id,
            doc,
            state,
            before,
            rejected: Vec::new(),
            rounds: 0,
            idle: false,
            done: false,
            limit,
            packed: false,
            listed: !server_heads.is_empty(),
            fetch: false,
        }
    }

    /// Sends in the form of the connection's `protocol`: packed from 2 on;
    /// from 3 on, a document the server holds and the device none of is
    /// asked for whole.
    pub fn speaking(mut self, protocol: u16) -> Self {
        self.packed = packs(protocol);
        self.fetch = fetches(protocol) && self.listed && self.before.is_empty();
        self
    }

    /// The first messages: `Open`, then the first round's (or `Fetch`).
    pub fn start(&mut self) -> Result<Vec<Message>, SessionError> {
        let first = if self.fetch {
            self.rounds += 1;
            Message::Fetch
        } else {
            self.round(None)?
        };
        Ok(vec![Message::Open { doc: self.id.clone() }, first])
    }

    /// Takes in one message from the server: what to send next (nothing
    /// while a round's answer is still to come, or once done).
    pub fn handle(&mut self, msg: Message) -> Result<Vec<Message>, SessionError> {
        if self.done {
            return Err(SessionError::Unexpected("message after the session ended"));
        }
        let incoming = match msg {
            Message::Rejected { change, refusal } => {
                self.rejected.push((ChangeHash(change), refusal));
                return Ok(Vec::new());
            }
            Message::Sync { data } => Some(data),
            Message::Packed { data } => Some(unpack(&data, MAX_FRAME)?),
            Message::Idle => None,
            Message::Whole { data } if self.fetch => return self.take_whole(&data),
            Message::Refused { reason, message } => return Err(SessionError::Refused { reason, message }),
            _ => return Err(SessionError::Unexpected("message")),
        };
        if (self.idle && incoming.is_none()) || self.rounds >= MAX_ROUNDS {
            if let Some(data) = &incoming {
                // The last word, taken in (a capped session keeps what came).
                receive(&mut self.doc, &mut self.state, data)?;
            }
            self.done = true;
            return Ok(Vec::new());
        }
        Ok(vec![self.round(incoming.as_deref())?])
    }

    /// The document.
    pub fn id(&self) -> &DocId {
        &self.id
    }

    /// Whether the session has ended: finish the stream and store.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The result, to store.
    pub fn finish(self) -> ClientOutcome {
        ClientOutcome {
            id: self.id,
            doc: self.doc,
            state: self.state,
            before: self.before,
            rejected: self.rejected,
        }
    }

    /// Takes in the document sent whole (the device held none of it): the
    /// session is over, and both sides hold its heads.
    fn take_whole(&mut self, data: &[u8]) -> Result<Vec<Message>, SessionError> {
        let mut doc = AutoCommit::load(data).map_err(|e| SessionError::Malformed(e.to_string()))?;
        doc.set_actor(self.doc.get_actor().clone());
        let heads = doc.get_heads();
        self.doc = doc;
        self.state = sync::State::new();
        self.state.shared_heads = heads.clone();
        prime(&mut self.state, &mut self.doc, &heads);
        self.done = true;
        Ok(Vec::new())
    }

    fn round(&mut self, incoming: Option<&[u8]>) -> Result<Message, SessionError> {
        self.rounds += 1;
        let out = client_step(&mut self.doc, &mut self.state, incoming, self.limit, self.packed)?;
        self.idle = out.is_none();
        Ok(message(out, self.packed))
    }
}

/// A round's message: the sync message, packed or not, or `Idle`.
fn message(data: Option<Vec<u8>>, packed: bool) -> Message {
    match data {
        None => Message::Idle,
        Some(data) if packed => Message::Packed { data: pack::pack(&data) },
        Some(data) => Message::Sync { data },
    }
}

/// A packed sync message, inflated to at most `limit` bytes.
fn unpack(data: &[u8], limit: usize) -> Result<Vec<u8>, SessionError> {
    pack::unpack(data, limit).map_err(|e| SessionError::Malformed(e.to_string()))
}

/// The manifest already told us what the server holds: when we hold all of
/// it, start the sync state from there, so the first message carries our
/// changes instead of spending a round trip asking.
fn prime(state: &mut sync::State, doc: &mut AutoCommit, server: &[ChangeHash]) {
    if server.is_empty() || server.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
        return;
    }
    state.their_heads = Some(server.to_vec());
    state.their_need = Some(Vec::new());
    state.their_have = Some(vec![sync::Have { last_sync: server.to_vec(), bloom: Default::default() }]);
}

/// The server's side of one document's session on one stream, after
/// `Open` was accepted. Feed it each message of the client's with the
/// document; it answers with what to do.
#[derive(Debug)]
pub struct ServerSession {
    who: DeviceIdentity,
    id: DocId,
    state: sync::State,
    rounds: u32,
    packed: bool,
    /// Whether the connection's devices may ask for a document whole.
    fetch: bool,
    /// Largest sync message sent.
    limit: usize,
}

/// What the server does with one of the client's messages, in this order:
/// store `accepted` with the sync state (and `refused` in the quarantine),
/// durably, then send `reply`; end the stream if `done`.
#[derive(Debug, Default)]
pub struct Answer {
    /// Changes accepted and applied to the document, to be stored.
    pub accepted: Vec<Change>,
    /// Changes refused, with why; the document does not hold them.
    pub refused: Vec<(Change, Refusal)>,
    /// The messages to send: a `Rejected` per refused change, then `Sync`
    /// or `Idle`.
    pub reply: Vec<Message>,
    /// Whether the session ended with this round.
    pub done: bool,
}

impl ServerSession {
    /// A session with `who` on document `id`, from the persisted `state`.
    pub fn new(who: DeviceIdentity, id: DocId, state: sync::State) -> Self {
        Self { who, id, state, rounds: 0, packed: false, fetch: false, limit: MAX_FRAME - WRAPPING }
    }

    /// Answers in the form of the connection's `protocol` (packed from 2 on;
    /// `Fetch` taken from 3 on).
    pub fn speaking(mut self, protocol: u16) -> Self {
        self.packed = packs(protocol);
        self.fetch = fetches(protocol);
        self
    }

    /// The answer to a `Fetch`, from the document as stored (`stored`, at
    /// `heads`) without loading it: the bytes whole, the session over, and
    /// the device's sync state at those heads (persist it before sending).
    /// `None` if they do not fit a frame (or hold nothing): load the
    /// document and [`handle`](Self::handle) the `Fetch`.
    pub fn whole(&mut self, stored: Vec<u8>, heads: &[ChangeHash]) -> Option<Message> {
        if !self.fetch || heads.is_empty() || stored.len() > self.limit {
            return None;
        }
        self.state = sync::State::new();
        self.state.shared_heads = heads.to_vec();
        Some(Message::Whole { data: stored })
    }

    /// The sync state to persist.
    pub fn state(&self) -> &sync::State {
        &self.state
    }

    /// The document.
    pub fn id(&self) -> &DocId {
        &self.id
    }

    /// Takes in one of the client's messages against `doc`.
    pub fn handle(&mut self, doc: &mut AutoCommit, msg: Message) -> Result<Answer, SessionError> {
        self.rounds += 1;
        let data = match msg {
            Message::Sync { data } => Some(data),
            // (A protocol 1 connection carries none.)
            Message::Packed { data } if self.packed => Some(unpack(&data, MAX_DEVICE_FRAME)?),
            Message::Idle => None,
            Message::Fetch if self.fetch => return Ok(self.fetched(doc)),
            _ => return Err(SessionError::Unexpected("message (expected Sync, Packed or Idle)")),
        };
        let mut answer = match data {
            Some(data) => {
                let served = serve(doc, &mut self.state, (&self.who, &self.id), &data, self.limit)?;
                Answer { accepted: served.accepted, refused: served.refused, reply: Vec::new(), done: false }
                    .with_reply(served.reply, false, self.packed)
            }
            None => {
                let reply = server_message(doc, &mut self.state, self.limit);
                Answer::default().with_reply(reply, true, self.packed)
            }
        };
        answer.done |= self.rounds >= MAX_ROUNDS;
        Ok(answer)
    }
}

impl ServerSession {
    /// The answer to a `Fetch`, from the loaded document: whole if it fits,
    /// or else the first sync message, and the session goes on.
    fn fetched(&mut self, doc: &mut AutoCommit) -> Answer {
        let heads = doc.get_heads();
        match self.whole(doc.save(), &heads) {
            Some(msg) => Answer { reply: vec![msg], done: true, ..Answer::default() },
            None => {
                let reply = server_message(doc, &mut self.state, self.limit);
                Answer::default().with_reply(reply, false, self.packed)
            }
        }
    }
}

impl Answer {
    /// Adds the `Rejected`s and the reply; done when the client was idle
    /// and so is the server.
    fn with_reply(mut self, reply: Option<Vec<u8>>, client_idle: bool, packed: bool) -> Self {
        self.reply = self
            .refused
            .iter()
            .map(|(c, refusal)| Message::Rejected { change: c.hash().0, refusal: refusal.clone() })
            .collect();
        self.done = client_idle && reply.is_none();
        self.reply.push(message(reply, packed));
        self
    }
}

/// What the server did with one incoming message.
#[derive(Debug, Default)]
struct Served {
    /// Changes accepted and applied to the document, to be stored.
    pub accepted: Vec<Change>,
    /// Changes refused, with why; the document does not hold them.
    pub refused: Vec<(Change, Refusal)>,
    /// The server's next message, if it has one.
    pub reply: Option<Vec<u8>>,
}

/// Server side: takes in one sync message from `who` for document `id`;
/// the reply is at most `limit` bytes.
fn serve(
    doc: &mut AutoCommit,
    state: &mut sync::State,
    (who, id): (&DeviceIdentity, &DocId),
    data: &[u8],
    limit: usize,
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
    Ok(Served { accepted: verdict.accepted, refused, reply: server_message(doc, state, limit) })
}

/// Server side: the server's next message, with no capability flags, in
/// at most `limit` bytes: a document whose changes are more than that (a
/// protocol 2 device is sent changes, not the document whole) goes in
/// several rounds.
fn server_message(doc: &mut AutoCommit, state: &mut sync::State, limit: usize) -> Option<Vec<u8>> {
    doc.sync().generate_sync_message(state).map(|mut m| {
        m.flags = None;
        fit(m, state, limit)
    })
}

/// Client side: takes in the server's message, if any, and gives the
/// client's next one, if it has one, in at most `limit` bytes: changes over
/// that wait for the next round. A `packed` session asks for changes, not
/// whole documents.
fn client_step(
    doc: &mut AutoCommit,
    state: &mut sync::State,
    incoming: Option<&[u8]>,
    limit: usize,
    packed: bool,
) -> Result<Option<Vec<u8>>, SessionError> {
    if let Some(data) = incoming {
        receive(doc, state, data)?;
    }
    Ok(doc.sync().generate_sync_message(state).map(|mut m| {
        if packed {
            // Not offering Automerge's whole-document messages: one costs
            // the server an encoding of the document and a DEFLATE state
            // (over 256 KiB) per document, where its changes are at hand
            // and go packed anyway (the W2 cold start: 0.9 s, not 1.3-1.5).
            m.flags = None;
        }
        fit(m, state, limit)
    }))
}

/// Client side: takes in one of the server's sync messages.
fn receive(doc: &mut AutoCommit, state: &mut sync::State, data: &[u8]) -> Result<(), SessionError> {
    let message = sync::Message::decode(data).map_err(|e| SessionError::Malformed(e.to_string()))?;
    Ok(doc.sync().receive_sync_message(state, message)?)
}

/// Room kept in a device's frame for what wraps a sync message on the wire
/// (the protocol message's tag and the length of its bytes).
const WRAPPING: usize = 64;

/// Encodes `message` in at most `limit` bytes by holding back changes from
/// its end. Held-back changes are marked unsent in `state`, so the next
/// round sends them; Automerge lists changes in causal order, so what goes
/// is never missing a parent that stays. One change always goes, even alone
/// over the limit (the server then refuses a device's as too large).
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
        session_within(client, server, who, id, MAX_DEVICE_FRAME - WRAPPING, 1)
    }

    /// [`session`] with client messages of at most `limit` bytes, checked,
    /// both sides speaking `protocol` (and so packing, or not).
    fn session_within(
        client: &mut AutoCommit,
        server: &mut AutoCommit,
        who: &DeviceIdentity,
        id: &DocId,
        limit: usize,
        protocol: u16,
    ) -> (u32, Vec<(Change, Refusal)>) {
        let doc = std::mem::take(client);
        let mut c = ClientSession::new(id.clone(), doc, sync::State::new(), &[]).speaking(protocol);
        c.limit = limit;
        let mut s = ServerSession::new(who.clone(), id.clone(), sync::State::new()).speaking(protocol);
        s.limit = limit;
        let mut to_server = c.start().unwrap();
        assert!(matches!(to_server.remove(0), Message::Open { .. }));
        let mut refused = Vec::new();
        // Each side sends the form its protocol says, in at most `limit`
        // bytes once inflated.
        let form = |msg: &Message| match msg {
            Message::Sync { data } => {
                assert!(!packs(protocol), "protocol {protocol} sent Sync");
                assert!(data.len() <= limit, "a message over {limit} bytes");
            }
            Message::Packed { data } => {
                assert!(packs(protocol), "protocol {protocol} sent Packed");
                assert!(pack::unpack(data, limit).is_ok(), "a message over {limit} bytes");
            }
            _ => {}
        };
        while let Some(msg) = to_server.pop() {
            form(&msg);
            let answer = s.handle(server, msg).unwrap();
            refused.extend(answer.refused);
            for reply in answer.reply {
                form(&reply);
                to_server.extend(c.handle(reply).unwrap());
            }
            assert_eq!(answer.done, c.is_done(), "the two sides disagree on the end");
        }
        assert!(c.is_done());
        let rounds = c.rounds;
        *client = c.finish().doc;
        (rounds, refused)
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
    fn a_device_holding_none_of_a_document_gets_it_whole_and_works_on_from_there() {
        let (id, mut server, who, mut rec) = setup();
        let heads = server.get_heads();
        let fresh = || AutoCommit::new().with_actor(actor_of(&who.device));
        let mut c = ClientSession::new(id.clone(), fresh(), sync::State::new(), &heads).speaking(3);
        let mut s = ServerSession::new(who.clone(), id.clone(), sync::State::new()).speaking(3);
        assert!(matches!(c.start().unwrap()[..], [Message::Open { .. }, Message::Fetch]));
        // From the bytes as stored, without loading them: the runtime's way.
        let whole = s.whole(server.save(), &heads).unwrap();
        assert!(c.handle(whole).unwrap().is_empty() && c.is_done());
        assert_eq!(s.state().shared_heads, heads);
        let outcome = c.finish();
        assert_eq!((outcome.state.shared_heads.clone(), outcome.before.clone()), (heads.clone(), Vec::new()));
        let mut client = outcome.doc;
        assert_eq!((client.get_heads(), client.get_actor().clone()), (heads.clone(), actor_of(&who.device)));
        // Its work goes to the server as any other's.
        doc::append(&mut client, &picked(&mut rec, 1, "09506000134352")).unwrap();
        let (_, refused) = session(&mut client, &mut server, &who, &id);
        assert!(refused.is_empty());
        assert_eq!(client.get_heads(), server.get_heads());
        assert_eq!(doc::order::read(server.document()).unwrap().events.len(), 1);

        // A `Fetch` the runtime hands on is answered from the loaded
        // document: whole if it fits a frame, else as a session.
        for limit in [MAX_FRAME - WRAPPING, server.save().len() - 1] {
            let heads = server.get_heads();
            let mut c = ClientSession::new(id.clone(), fresh(), sync::State::new(), &heads).speaking(3);
            let mut s = ServerSession::new(who.clone(), id.clone(), sync::State::new()).speaking(3);
            s.limit = limit;
            let mut to_server = c.start().unwrap().split_off(1);
            let mut replies = Vec::new();
            while let Some(msg) = to_server.pop() {
                let answer = s.handle(&mut server, msg).unwrap();
                for reply in answer.reply {
                    replies.push(matches!(reply, Message::Whole { .. }));
                    to_server.extend(c.handle(reply).unwrap());
                }
                assert_eq!(answer.done, c.is_done(), "the two sides disagree on the end");
            }
            assert_eq!(replies.first(), Some(&(limit == MAX_FRAME - WRAPPING)), "{limit}: {replies:?}");
            assert_eq!(c.finish().doc.get_heads(), heads);
        }
    }

    #[test]
    fn a_refused_change_stays_out_of_the_server_and_the_session_still_ends() {
        let (id, mut server, who, mut rec) = setup();
        let mut client = AutoCommit::new().with_actor(actor_of(&who.device));
        session(&mut client, &mut server, &who, &id);
        // a picker writing a cancellation: refused, and so is what builds on
        // it; a second cancellation built on it is refused for itself, so the
        // device drops it now rather than writing it again
        let mut cancel = |ms| {
            let payload = Payload::Cancelled(crate::event::office::Cancelled { reason: "no".into() });
            rec.record(DateTime::from_timestamp_millis(ms).unwrap(), None, payload)
        };
        let (first, second) = (cancel(9), cancel(11));
        doc::append(&mut client, &first).unwrap();
        doc::append(&mut client, &picked(&mut rec, 10, "09506000134352")).unwrap();
        doc::append(&mut client, &second).unwrap();
        let before = server.get_heads();
        let (rounds, refused) = session(&mut client, &mut server, &who, &id);
        assert_eq!(server.get_heads(), before, "nothing refused reaches the server");
        let reasons: Vec<&Refusal> = refused.iter().map(|r| &r.1).collect();
        assert!(
            matches!(
                reasons[..],
                [
                    Refusal::RoleNotAllowed { .. },
                    Refusal::DependsOnRefused { .. },
                    Refusal::RoleNotAllowed { .. }
                ]
            ),
            "{reasons:?}"
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
        let (rounds, refused) = session_within(&mut client, &mut server, &who, &id, 4096, 1);
        assert!(refused.is_empty(), "{refused:?}");
        assert!(rounds > 2, "{rounds} rounds: the work was not cut");
        assert_eq!(client.get_heads(), server.get_heads());
        assert_eq!(doc::order::read(server.document()).unwrap().events.len(), 60);
        // A new device of protocol 2 is sent the changes, not the document
        // whole: they too come in several messages, and all arrive.
        let mut fresh = AutoCommit::new().with_actor(actor_of(&DeviceId::new("hh-2").unwrap()));
        let (rounds, _) = session_within(&mut fresh, &mut server, &who, &id, 4096, 2);
        assert!(rounds > 2, "{rounds} rounds: the server's messages were not cut");
        assert_eq!(fresh.get_heads(), server.get_heads());
    }

    #[test]
    fn protocol_2_packs_both_ways_and_converges_on_the_same_document() {
        let (id, mut server, who, mut rec) = setup();
        let mut client = AutoCommit::new().with_actor(actor_of(&who.device));
        let limit = MAX_DEVICE_FRAME - WRAPPING;
        session_within(&mut client, &mut server, &who, &id, limit, 2);
        for ms in 1..=5 {
            doc::append(&mut client, &picked(&mut rec, ms, "09506000134352")).unwrap();
        }
        let (rounds, refused) = session_within(&mut client, &mut server, &who, &id, limit, 2);
        assert!(refused.is_empty() && rounds <= 4, "{rounds} rounds");
        assert_eq!(client.get_heads(), server.get_heads());
        assert_eq!(doc::order::read(server.document()).unwrap().events.len(), 5);
        // A packed message that does not inflate is malformed, not a panic;
        // on a protocol 1 connection, none has a place.
        let mut s = ServerSession::new(who.clone(), id.clone(), sync::State::new()).speaking(2);
        let garbage = Message::Packed { data: b"garbage".to_vec() };
        assert!(matches!(s.handle(&mut server, garbage), Err(SessionError::Malformed(_))));
        let mut s = ServerSession::new(who, id, sync::State::new()).speaking(1);
        let packed = Message::Packed { data: pack::pack(b"x") };
        assert!(matches!(s.handle(&mut server, packed), Err(SessionError::Unexpected(_))));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let (id, mut server, who, _) = setup();
        let mut s = ServerSession::new(who, id.clone(), sync::State::new());
        let garbage = Message::Sync { data: b"garbage".to_vec() };
        assert!(matches!(s.handle(&mut server, garbage), Err(SessionError::Malformed(_))));
        let empty = Message::Sync { data: Vec::new() };
        assert!(matches!(s.handle(&mut server, empty), Err(SessionError::Malformed(_))));
        let open = Message::Open { doc: id };
        assert!(matches!(s.handle(&mut server, open), Err(SessionError::Unexpected(_))));
    }

    #[test]
    fn a_refused_open_ends_the_clients_session_with_the_reason() {
        let (id, _, _, _) = setup();
        let mut c = ClientSession::new(id, AutoCommit::new(), sync::State::new(), &[]);
        c.start().unwrap();
        let refused = Message::Refused { reason: RefuseReason::OutOfScope, message: "no".into() };
        assert!(matches!(
            c.handle(refused),
            Err(SessionError::Refused { reason: RefuseReason::OutOfScope, .. })
        ));
    }
}
