//! The sync wire protocol: what a device and the sync server say to each
//! other, and how it is cut into frames on a stream.
//!
//! Like the rest of this crate it does no IO. The agent and the server read
//! bytes off QUIC streams and push them into a [`FrameDecoder`], which hands
//! back whole [`Message`]s; what they send is what [`encode`] returns.
//!
//! # Frames
//!
//! A stream carries a sequence of frames. A frame is a `u32` big-endian
//! payload length, then the payload: one postcard-encoded [`Message`]. A
//! payload is at most [`MAX_FRAME`] bytes (20 MiB: a whole document of the
//! largest size allowed, 16 MiB, fits in one sync message from the server;
//! on protocol 2 the server sends changes, cut to fit, over several rounds),
//! and at most [`MAX_DEVICE_FRAME`] (4 MiB) from a device; a larger declared
//! length is an error as soon as the four length bytes are in, before any of
//! the payload is read or room is made for it. A stream ends between frames; one
//! that ends inside a frame is truncated ([`FrameDecoder::finish`]).
//!
//! # Streams and the order of messages
//!
//! One QUIC connection per device, TLS always. Below, C is the device (the
//! client) and S the server.
//!
//! **The control stream** is the first bidirectional stream, opened by C.
//! 1. C sends [`Message::Hello`] with [`PROTOCOL_VERSION`]. S reads the
//!    version before anything else ([`peek_protocol`]); a version it does not
//!    speak is answered with [`Message::Refused`] and
//!    [`RefuseReason::UnsupportedVersion`] naming the versions it does, and
//!    the connection closes.
//! 2. For an enrolled device (its certificate presented in TLS) S answers
//!    [`Message::Welcome`] (the device's id and role, the server's clock),
//!    then [`Message::Manifest`]: the documents in the device's scope, each
//!    with the server's heads, so the device knows which to sync. Or S
//!    answers `Refused` with [`RefuseReason::NotEnrolled`],
//!    [`RefuseReason::Revoked`] or [`RefuseReason::TooManyConnections`].
//! 3. For as long as the connection lasts, S sends [`Message::Changed`]
//!    whenever a document in the device's scope has new changes from
//!    elsewhere; C syncs it on a document stream. On protocol 2, S sends
//!    [`Message::Pushed`] instead when it has the changes at hand: C applies
//!    them if it holds what they build on, and syncs the document if not
//!    (or if they closed an order, so S learns C holds the closing).
//!
//! **Enrolment.** A device with no certificate yet sends `Hello`, then
//! [`Message::Enrol`] with the one-time code the office gave it and its
//! public key. S answers [`Message::Enrolled`] (the device's id, role,
//! certificate, and the CA to pin from now on) or `Refused` with
//! [`RefuseReason::BadEnrolmentCode`]. The device then reconnects with its
//! certificate.
//!
//! **Document streams**: one bidirectional stream per document being synced,
//! opened by C; many run at once.
//! 1. C sends [`Message::Open`]. A document outside the device's scope is
//!    answered `Refused` with [`RefuseReason::OutOfScope`].
//! 2. Then Automerge's sync protocol, in rounds driven by C: C sends its
//!    next [`Message::Sync`] (an Automerge sync message) or, with nothing to
//!    send, [`Message::Idle`]; S answers with its own `Sync` or `Idle`. The
//!    document is in sync after a round with nothing to say either way. On a
//!    connection of protocol 2, both sides send [`Message::Packed`] instead
//!    of `Sync`: the same sync message deflated over [`pack::DICTIONARY`]. Each
//!    side keeps its sync state per peer and document, so a reconnect sends
//!    only what the other lacks. On protocol 3, C asks for a document it
//!    holds none of with [`Message::Fetch`] instead of its first `Sync`;
//!    S answers [`Message::Whole`] (the document's bytes as stored, sent
//!    without loading them), and the session is over; one too large for a
//!    frame is answered from the loaded document, whole if it fits, or
//!    with a first sync message and the rounds above.
//! 3. S sends [`Message::Rejected`] for each change its write policy
//!    refuses, with the typed [`Refusal`](crate::policy::Refusal). The change
//!    is neither stored nor relayed; the device quarantines it.
//!
//! **Blob streams**: one bidirectional stream per blob, opened by C.
//! - Upload: C sends [`Message::BlobPut`] (hash and size). S answers
//!   [`Message::BlobResume`] with how many bytes it already holds (0 for a
//!   new blob), or [`Message::BlobStored`] at once if it holds all of them.
//!   C sends [`Message::BlobChunk`]s from that offset to the end; S checks
//!   the hash of the whole and answers `BlobStored`, or `Refused` with
//!   [`RefuseReason::Malformed`] when the bytes do not hash to the name, or
//!   [`RefuseReason::TooLarge`] for a blob over its limit.
//! - Download: C sends [`Message::BlobGet`] (hash and offset). S sends
//!   `BlobChunk`s from that offset to the end of the blob and finishes the
//!   stream; C checks the hash. A blob the device may not see is answered
//!   `Refused` with [`RefuseReason::OutOfScope`].
//!
//! On any stream, a peer that receives a message it cannot use there answers
//! `Refused` with [`RefuseReason::Malformed`] and closes the stream; either
//! side may send [`Message::Error`] before closing for a failure that has no
//! typed reason.
//!
//! # Versioning
//!
//! [`PROTOCOL_VERSION`] is the newest version this build speaks, and
//! [`OLDEST_PROTOCOL`] the oldest: a server answers `Welcome` in the
//! device's version when it lies between them (2 added `Packed` and
//! `Pushed`, 3 `Fetch` and `Whole`; a device of version 1 is served
//! unpacked). Postcard writes an
//! enum variant as its index in declaration order and a struct's fields in
//! order, with no names or tags, so the wire form *is* the Rust declaration:
//! - `Hello` is variant 0 of [`Message`] and `protocol` its first field,
//!   forever, so any build reads the version of any peer's first frame with
//!   [`peek_protocol`], even when it cannot decode the rest.
//! - `Refused` (variant 2) with [`RefuseReason::UnsupportedVersion`]
//!   (variant 0) keeps its shape forever too, so an older peer can read the
//!   refusal that tells it to upgrade: a clear answer, never a hang.
//! - New messages and refusal reasons are added at the end of their enum.
//!   Within a version nothing is reordered, removed or changed; anything
//!   else bumps the version. [`Refusal`](crate::policy::Refusal) travels as
//!   its JSON text, so a new write-policy refusal is a protocol change too.
//!
//! The tests in [`message`] pin these bytes.
//!
//! # Limits
//!
//! - A frame's payload is at most [`MAX_FRAME`] bytes: [`encode`] refuses to
//!   build a larger one and [`FrameDecoder`] refuses to read one
//!   ([`FrameDecoder::with_limit`] sets a lower limit). Every message, and
//!   so every sync message and blob chunk, is bounded by it; blobs travel in
//!   chunks well under it. A server reads at most [`MAX_DEVICE_FRAME`] from
//!   a device, and [`session::client_step`] keeps a device's messages under
//!   it.
//! - The decoder allocates for bytes received, never for a declared length,
//!   so a four-byte header cannot make it reserve 20 MiB. The server's
//!   reader does the same, within a byte budget per connection
//!   (docs/sync.md, Limits).
//! - Input that is not a frame or not a message is a [`FrameError`], never a
//!   panic; the decoder is what the fuzz target drives.

pub mod download;
pub mod frame;
pub mod handshake;
pub mod message;
pub mod pack;
pub mod session;
#[cfg(test)]
mod strategy;
pub mod stream;
pub mod upload;

pub use frame::{FrameDecoder, FrameError, MAX_DEVICE_FRAME, MAX_FRAME, decode_payload, encode};
/// The name devices expect on the server's certificate, whatever address
/// they dial; the certificate is checked against the pinned CA.
pub const SERVER_NAME: &str = "waybill.server";
/// ALPN of this protocol.
pub const ALPN: &[u8] = b"waybill/1";

pub use message::{ManifestEntry, Message, OLDEST_PROTOCOL, PROTOCOL_VERSION, RefuseReason, peek_protocol};
