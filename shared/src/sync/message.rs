//! The messages of the sync protocol: one [`Message`] per frame, in postcard.
//! The order of the variants and of their fields is the wire format (see
//! [`crate::sync`], Versioning): add at the end, never reorder.

use serde::{Deserialize, Serialize};

use crate::blob::BlobHash;
use crate::doc::DocId;
use crate::id::{DeviceId, LocationId};
use crate::policy::Refusal;
use crate::role::Role;

/// The protocol version this build speaks: the newest. Version 2 adds
/// [`Message::Packed`] and [`Message::Pushed`]; version 3
/// [`Message::Fetch`] and [`Message::Whole`].
pub const PROTOCOL_VERSION: u16 = 3;

/// Whether a connection of `protocol` packs its sync messages and pushes
/// changes with their announcements (2 and later).
pub fn packs(protocol: u16) -> bool {
    protocol >= 2
}

/// Whether a device on a connection of `protocol` asks for a document it
/// holds none of whole ([`Message::Fetch`], 3 and later).
pub fn fetches(protocol: u16) -> bool {
    protocol >= 3
}

/// The oldest version this build still speaks: a server answers a device
/// of any version from this one to [`PROTOCOL_VERSION`] in the device's
/// own.
pub const OLDEST_PROTOCOL: u16 = 1;

/// Postcard's index of [`Message::Hello`]: the first variant, for ever.
const HELLO_INDEX: u32 = 0;

/// One message of the sync protocol. Variants are listed, and numbered on
/// the wire, in the order they were added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Client → server, the first frame of the control stream: the
    /// protocol version the client speaks and the software it runs. First
    /// variant, with `protocol` first, for ever (see [`peek_protocol`]).
    Hello {
        /// The client's [`PROTOCOL_VERSION`].
        protocol: u16,
        /// The client software and release, for logs (`waybill-agent/0.1.0`).
        agent: String,
    },
    /// Server → client, the answer to `Hello` from an enrolled device.
    Welcome {
        /// The protocol version the connection speaks from now on.
        protocol: u16,
        /// The device, as its certificate says.
        device: DeviceId,
        /// The device's role.
        role: Role,
        /// The server's clock, in milliseconds since the Unix epoch, for the
        /// device's hybrid logical clock.
        server_time_ms: u64,
    },
    /// Either way: the request is refused, and the stream (or, on the
    /// control stream, the connection) closes. Keeps its shape for ever, so
    /// any peer can read a version refusal.
    Refused {
        /// Why, for the program.
        reason: RefuseReason,
        /// Why, for a person.
        message: String,
    },
    /// Server → client, after `Welcome`: the device's scope, with the
    /// server's heads of each document.
    Manifest {
        /// One entry per document in scope.
        docs: Vec<ManifestEntry>,
    },
    /// Client → server, the first frame of a document stream: which document
    /// this stream syncs.
    Open {
        /// The document.
        doc: DocId,
    },
    /// Either way, on a document stream: an Automerge sync message.
    Sync {
        /// The encoded sync message, opaque here.
        data: Vec<u8>,
    },
    /// Either way, on a document stream: nothing to send this round.
    Idle,
    /// Server → client, on a document stream: the write policy refused a
    /// change; it is neither stored nor relayed.
    Rejected {
        /// The Automerge hash of the refused change.
        change: [u8; 32],
        /// Why it was refused. Travels as its JSON text (postcard cannot
        /// read an internally tagged enum).
        #[serde(with = "refusal_as_json")]
        refusal: Refusal,
    },
    /// Server → client, on the control stream: this document has new
    /// changes; sync it.
    Changed {
        /// The document.
        doc: DocId,
    },
    /// Client → server, after `Hello` on a connection without a device
    /// certificate: enrol this device.
    Enrol {
        /// The one-time enrolment code the office gave the device.
        code: String,
        /// The device's public key: an uncompressed P-256 point (65 bytes).
        public_key: Vec<u8>,
    },
    /// Server → client, the answer to `Enrol`: the device's identity.
    Enrolled {
        /// The device's id.
        device: DeviceId,
        /// Its role.
        role: Role,
        /// The location it works at, for warehouse roles.
        location: Option<LocationId>,
        /// Its certificate, DER, to present from now on.
        certificate_der: Vec<u8>,
        /// The CA certificate, DER, to pin the server against.
        ca_der: Vec<u8>,
    },
    /// Client → server, the first frame of an upload: this blob follows.
    BlobPut {
        /// The blob's content hash.
        hash: BlobHash,
        /// Its size in bytes.
        size: u64,
    },
    /// Server → client, the answer to `BlobPut`: send from this offset.
    BlobResume {
        /// How many bytes of the blob the server already holds.
        offset: u64,
    },
    /// Either way: the next bytes of a blob.
    BlobChunk {
        /// The bytes.
        data: Vec<u8>,
    },
    /// Server → client: the blob is stored, whole and verified.
    BlobStored {
        /// The blob's content hash.
        hash: BlobHash,
    },
    /// Client → server, the first frame of a download: send this blob.
    BlobGet {
        /// The blob's content hash.
        hash: BlobHash,
        /// Send from this offset (bytes the client already holds).
        offset: u64,
    },
    /// Either way: a failure with no typed reason; the sender closes the
    /// stream.
    Error {
        /// What went wrong, for a person.
        message: String,
    },
    /// Either way, on a document stream of a protocol 2 connection: a
    /// `Sync` whose Automerge sync message is deflated over a preset
    /// dictionary ([`crate::sync::pack`]).
    Packed {
        /// The packed sync message.
        data: Vec<u8>,
    },
    /// Server → client, on the control stream of a protocol 2 connection:
    /// `Changed`, with the new changes themselves. A device holding
    /// everything they build on applies them with no document session; one
    /// that does not syncs the document as for `Changed`.
    Pushed {
        /// The document.
        doc: DocId,
        /// The changes, each as Automerge encodes one, in causal order.
        changes: Vec<Vec<u8>>,
    },
    /// Client → server, on a document stream of a protocol 3 connection,
    /// after `Open` and instead of its first sync message: the device holds
    /// none of the document, so the server may send it whole.
    Fetch,
    /// Server → client, the answer to `Fetch`: the document's bytes (as
    /// stored: its snapshot, then the changes appended since; or saved
    /// afresh), which the device loads whole; the session is over. A
    /// document too large for a frame (or the office's, not stored yet) is
    /// answered with the server's first sync message instead, and the
    /// session goes on as any other.
    Whole {
        /// The document's bytes, as Automerge saves them.
        data: Vec<u8>,
    },
}

/// Why a request was refused. The order of the variants is the wire format;
/// `UnsupportedVersion` stays first, with its fields, for ever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RefuseReason {
    /// The server does not speak the client's protocol version.
    #[error("protocol version not supported; the server speaks {min} to {max}")]
    UnsupportedVersion {
        /// The oldest version the server speaks.
        min: u16,
        /// The newest version the server speaks.
        max: u16,
    },
    /// The device's certificate is not one the server enrolled.
    #[error("this device is not enrolled")]
    NotEnrolled,
    /// The device was enrolled and has been revoked.
    #[error("this device has been revoked")]
    Revoked,
    /// The device, or the server, has too many connections open.
    #[error("too many connections")]
    TooManyConnections,
    /// The enrolment code is unknown, used or expired.
    #[error("the enrolment code is not valid")]
    BadEnrolmentCode,
    /// The message cannot be read, or has no place where it arrived.
    #[error("malformed or unexpected message")]
    Malformed,
    /// The document or blob is not in the device's scope.
    #[error("not in this device's scope")]
    OutOfScope,
    /// The message, document or blob is over its size limit.
    #[error("over the size limit")]
    TooLarge,
}

/// One document of a device's scope, in a [`Message::Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The document.
    pub doc: DocId,
    /// The server's heads of it: Automerge change hashes.
    pub heads: Vec<[u8; 32]>,
}

/// The protocol version in a frame's payload, if it is a
/// [`Message::Hello`]. Reads only the variant index and the version, never
/// the rest, so it works on a `Hello` from any release, however its later
/// fields have changed.
pub fn peek_protocol(payload: &[u8]) -> Option<u16> {
    match postcard::take_from_bytes::<(u32, u16)>(payload) {
        Ok(((HELLO_INDEX, protocol), _rest)) => Some(protocol),
        _ => None,
    }
}

/// [`Refusal`] is internally tagged (`{"reason": ...}`), which only a
/// self-describing format can read back; postcard is not one. On the wire it
/// is its JSON text, the same form the office sees.
mod refusal_as_json {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::policy::Refusal;

    pub(super) fn serialize<S: Serializer>(refusal: &Refusal, s: S) -> Result<S::Ok, S::Error> {
        let json = serde_json::to_string(refusal).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&json)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Refusal, D::Error> {
        let json = String::deserialize(d)?;
        serde_json::from_str(&json).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::sync::strategy::{config, message};

    fn payload(msg: &Message) -> Vec<u8> {
        postcard::to_stdvec(msg).unwrap()
    }

    fn blob() -> BlobHash {
        BlobHash::of(b"photo")
    }

    fn doc() -> DocId {
        "order/SO-1".parse().unwrap()
    }

    fn device() -> DeviceId {
        DeviceId::new("hh-1").unwrap()
    }

    /// One of each variant, in declaration order.
    fn one_of_each() -> Vec<Message> {
        vec![
            Message::Hello { protocol: 1, agent: "a".into() },
            Message::Welcome { protocol: 1, device: device(), role: Role::Driver, server_time_ms: 1 },
            Message::Refused { reason: RefuseReason::TooLarge, message: String::new() },
            Message::Manifest { docs: vec![ManifestEntry { doc: doc(), heads: vec![[7; 32]] }] },
            Message::Open { doc: doc() },
            Message::Sync { data: vec![1, 2] },
            Message::Idle,
            Message::Rejected { change: [9; 32], refusal: Refusal::MissingDependencies { missing: 2 } },
            Message::Changed { doc: doc() },
            Message::Enrol { code: "C0DE".into(), public_key: vec![3] },
            Message::Enrolled {
                device: device(),
                role: Role::Picker,
                location: Some("wh-1".parse().unwrap()),
                certificate_der: vec![4],
                ca_der: vec![5],
            },
            Message::BlobPut { hash: blob(), size: 10 },
            Message::BlobResume { offset: 4 },
            Message::BlobChunk { data: vec![6] },
            Message::BlobStored { hash: blob() },
            Message::BlobGet { hash: blob(), offset: 0 },
            Message::Error { message: "boom".into() },
            Message::Packed { data: vec![8] },
            Message::Pushed { doc: doc(), changes: vec![vec![9]] },
            Message::Fetch,
            Message::Whole { data: vec![10] },
        ]
    }

    #[test]
    fn variant_indices_are_the_wire_format() {
        for (index, msg) in one_of_each().iter().enumerate() {
            assert_eq!(usize::from(payload(msg)[0]), index, "{msg:?} moved");
        }
    }

    #[test]
    fn hello_and_version_refusal_bytes_are_pinned() {
        let hello = Message::Hello { protocol: 1, agent: "a".into() };
        assert_eq!(payload(&hello), [0, 1, 1, b'a']);
        let refused = Message::Refused {
            reason: RefuseReason::UnsupportedVersion { min: 1, max: 300 },
            message: "up".into(),
        };
        assert_eq!(payload(&refused), [2, 0, 1, 0xac, 0x02, 2, b'u', b'p']);
    }

    #[test]
    fn ids_and_hashes_travel_as_text() {
        let msg = Message::BlobGet { hash: blob(), offset: 0 };
        let bytes = payload(&msg);
        assert_eq!(bytes[1], 71, "length of sha256:<64 hex>");
        assert_eq!(&bytes[2..9], b"sha256:");
        assert_eq!(postcard::from_bytes::<Message>(&bytes).unwrap(), msg);
        let open = Message::Open { doc: "location/wh-1/3".parse().unwrap() };
        assert_eq!(postcard::from_bytes::<Message>(&payload(&open)).unwrap(), open);
    }

    #[test]
    fn an_invalid_id_on_the_wire_is_an_error() {
        // Open { doc: "order/a b" }: the id grammar has no space.
        let mut bytes = vec![4, 9];
        bytes.extend_from_slice(b"order/a b");
        assert!(postcard::from_bytes::<Message>(&bytes).is_err());
    }

    #[test]
    fn peek_reads_the_version_past_a_garbage_tail() {
        let full = payload(&Message::Hello { protocol: 300, agent: "waybill-agent/9.0".into() });
        // variant 0, then 300 as a varint (0xac 0x02); the rest is the agent.
        assert_eq!(full[..3], [0, 0xac, 0x02]);
        let mut garbled = full[..3].to_vec();
        garbled.extend_from_slice(&[0xff; 12]);
        assert!(postcard::from_bytes::<Message>(&garbled).is_err());
        assert_eq!(peek_protocol(&garbled), Some(300));
    }

    #[test]
    fn peek_refuses_what_is_not_a_hello() {
        assert_eq!(peek_protocol(&[]), None);
        assert_eq!(peek_protocol(&[0]), None);
        assert_eq!(peek_protocol(&[0, 0x80]), None, "unfinished varint");
        assert_eq!(peek_protocol(&[0, 0xff, 0xff, 0x04]), None, "over u16::MAX");
        assert_eq!(peek_protocol(&[1, 1]), None);
        assert_eq!(peek_protocol(&payload(&Message::Idle)), None);
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn every_message_round_trips_through_postcard(msg in message()) {
            let bytes = payload(&msg);
            let (back, rest) = postcard::take_from_bytes::<Message>(&bytes).unwrap();
            prop_assert_eq!(back, msg);
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn peek_finds_exactly_the_hellos(msg in message()) {
            let expected = match &msg {
                Message::Hello { protocol, .. } => Some(*protocol),
                _ => None,
            };
            prop_assert_eq!(peek_protocol(&payload(&msg)), expected);
        }

        #[test]
        fn peek_reads_any_version_before_any_tail(
            protocol in any::<u16>(),
            tail in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut bytes = payload(&Message::Hello { protocol, agent: String::new() });
            bytes.truncate(bytes.len() - 1); // drop the empty agent's length
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(peek_protocol(&bytes), Some(protocol));
        }

        #[test]
        fn peek_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = peek_protocol(&bytes);
        }
    }
}
