//! The control stream, sans-IO, for both sides. Its opening: the client
//! says `Hello` (then `Enrol`, for a device with no certificate yet); the
//! server checks the version before anything else and answers `Welcome`
//! and the `Manifest`, or a typed refusal with words a person can act on.
//! Then, for as long as the connection lasts, the server announces each
//! document in the device's scope that changed elsewhere (`Changed`).
//!
//! The runtimes read and write the frames; what is said, and what an answer
//! means, is decided here.

use crate::doc::DocId;
use crate::id::DeviceId;
use crate::role::Role;
use crate::sync::{
    ManifestEntry, Message, OLDEST_PROTOCOL, PROTOCOL_VERSION, RefuseReason, decode_payload, peek_protocol,
};

/// A handshake that did not get through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The other side refused, saying why.
    #[error("{message}")]
    Refused {
        /// Why, typed.
        reason: RefuseReason,
        /// Its words.
        message: String,
    },
    /// The other side said something that has no place here.
    #[error("unexpected {0} during the handshake")]
    Unexpected(&'static str),
    /// The stream ended before the handshake did.
    #[error("the server closed the connection")]
    Closed,
}

/// Client: the first message on the control stream; `agent` names the
/// software (`waybill-agent/0.1.0`).
pub fn hello(agent: impl Into<String>) -> Message {
    hello_in(PROTOCOL_VERSION, agent)
}

/// Client: [`hello`] in an older `protocol`, for a server that refused
/// this build's ([`fallback`]).
pub fn hello_in(protocol: u16, agent: impl Into<String>) -> Message {
    Message::Hello { protocol, agent: agent.into() }
}

/// Client: the version to say `Hello` in again after the server refused
/// `said` as one it does not speak (its newest is `max`): that one, when
/// this build still speaks it; `None`: no version in common.
pub fn fallback(said: u16, reason: &RefuseReason) -> Option<u16> {
    match reason {
        RefuseReason::UnsupportedVersion { max, .. } if *max < said && *max >= OLDEST_PROTOCOL => Some(*max),
        _ => None,
    }
}

/// Client: reads the server's answers to `Hello` (`Welcome`, then the
/// `Manifest`). Feed it each message, or `None` at the end of the stream,
/// until it returns the manifest.
#[derive(Debug, Default)]
pub struct ClientHandshake {
    /// The version the server's `Welcome` said the connection speaks.
    welcomed: Option<u16>,
}

impl ClientHandshake {
    /// Takes in one message: the manifest once it came, `None` before.
    pub fn handle(&mut self, msg: Option<Message>) -> Result<Option<Vec<ManifestEntry>>, HandshakeError> {
        match (self.welcomed, msg) {
            (None, Some(Message::Welcome { protocol, .. })) => {
                self.welcomed = Some(protocol);
                Ok(None)
            }
            (Some(_), Some(Message::Manifest { docs })) => Ok(Some(docs)),
            (_, other) => Err(unexpected(other)),
        }
    }

    /// The protocol version the connection speaks, as the server's
    /// `Welcome` said (the oldest before it came).
    pub fn protocol(&self) -> u16 {
        self.welcomed.unwrap_or(OLDEST_PROTOCOL)
    }
}

/// Server: announces that `doc`, in the device's scope, has new changes;
/// with them (`changes`, encoded) on a connection of `protocol` 2 or later,
/// when it has them to send.
pub fn changed(protocol: u16, doc: DocId, changes: Option<Vec<Vec<u8>>>) -> Message {
    match changes {
        Some(changes) if crate::sync::message::packs(protocol) => Message::Pushed { doc, changes },
        _ => Message::Changed { doc },
    }
}

/// Client: reads the control stream after the handshake: the document the
/// server announced, with the changes it pushed (none: sync the document),
/// or `None`: the stream ended.
pub fn announced(msg: Option<Message>) -> Result<(DocId, Vec<Vec<u8>>), HandshakeError> {
    match msg {
        Some(Message::Changed { doc }) => Ok((doc, Vec::new())),
        Some(Message::Pushed { doc, changes }) => Ok((doc, changes)),
        other => Err(unexpected(other)),
    }
}

/// What enrolment gave a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// The device's id.
    pub device: DeviceId,
    /// Its role.
    pub role: Role,
    /// Where it works, for warehouse roles.
    pub location: Option<crate::id::LocationId>,
    /// Its certificate, DER.
    pub certificate_der: Vec<u8>,
    /// The CA to pin from now on, DER.
    pub ca_der: Vec<u8>,
}

impl Enrolment {
    /// Server: the answer that gives a device its identity.
    pub fn message(self) -> Message {
        let Self { device, role, location, certificate_der, ca_der } = self;
        Message::Enrolled { device, role, location, certificate_der, ca_der }
    }
}

/// Server: after `Welcome`, the documents in the device's scope with the
/// server's heads of each.
pub fn manifest(docs: Vec<ManifestEntry>) -> Message {
    Message::Manifest { docs }
}

/// Client: the message that enrols a device with a one-time `code` and its
/// public key.
pub fn enrol(code: &str, public_key: Vec<u8>) -> Message {
    Message::Enrol { code: code.trim().to_owned(), public_key }
}

/// Server: reads what a device with no certificate says after `Hello`:
/// the one-time code and the public key it enrols with, or the refusal to
/// send (it must enrol, or present a certificate).
pub fn enrolment_request(msg: Option<Message>) -> Result<(String, Vec<u8>), Message> {
    match msg {
        Some(Message::Enrol { code, public_key }) => Ok((code, public_key)),
        _ => Err(refusal(RefuseReason::NotEnrolled)),
    }
}

/// Client: what the server answered to `Enrol` (`None`: the stream ended).
pub fn enrolled(answer: Option<Message>) -> Result<Enrolment, HandshakeError> {
    match answer {
        Some(Message::Enrolled { device, role, location, certificate_der, ca_der }) => {
            // (the inverse of [`Enrolment::message`])
            Ok(Enrolment { device, role, location, certificate_der, ca_der })
        }
        other => Err(unexpected(other)),
    }
}

fn unexpected(msg: Option<Message>) -> HandshakeError {
    match msg {
        Some(Message::Refused { reason, message }) => HandshakeError::Refused { reason, message },
        Some(_) => HandshakeError::Unexpected("message"),
        None => HandshakeError::Closed,
    }
}

/// Server: checks the first frame's payload. A version this build does not
/// speak is refused naming the versions it does (read from the frame's
/// first bytes, so any release's `Hello` gets an answer it can read), and
/// so is anything that is not a `Hello`. The server speaks versions up to
/// `newest` (at most [`PROTOCOL_VERSION`]). Returns the version the
/// connection speaks (the client's), or the refusal to send.
pub fn check_hello(payload: &[u8], newest: u16) -> Result<u16, Message> {
    let newest = newest.clamp(OLDEST_PROTOCOL, PROTOCOL_VERSION);
    let version = peek_protocol(payload);
    let Some(spoken) = version.filter(|v| (OLDEST_PROTOCOL..=newest).contains(v)) else {
        let said = version.map_or("no version".to_owned(), |v| format!("version {v}"));
        return Err(Message::Refused {
            reason: RefuseReason::UnsupportedVersion { min: OLDEST_PROTOCOL, max: newest },
            message: format!(
                "this server speaks protocol {OLDEST_PROTOCOL} to {newest}, not {said}: update the app"
            ),
        });
    };
    match decode_payload(payload) {
        Ok(Message::Hello { .. }) => Ok(spoken),
        _ => Err(refusal(RefuseReason::Malformed)),
    }
}

/// Server: the answer to an enrolled device's `Hello`, in the `protocol`
/// [`check_hello`] agreed; `now_ms` is the server's clock, for the device's
/// hybrid logical clock.
pub fn welcome(protocol: u16, device: DeviceId, role: Role, now_ms: u64) -> Message {
    Message::Welcome { protocol, device, role, server_time_ms: now_ms }
}

/// Server: a refusal of the handshake, in the words a person reads.
pub fn refusal(reason: RefuseReason) -> Message {
    let message = match &reason {
        RefuseReason::NotEnrolled => "this device is not enrolled: enrol it with a code from the office",
        RefuseReason::Revoked => "this device is revoked: ask the office to enrol it again",
        RefuseReason::TooManyConnections => "too many connections from this device: close one and retry",
        RefuseReason::BadEnrolmentCode => "the enrolment code is not valid: ask the office for a new one",
        _ => "the first message must be Hello",
    };
    Message::Refused { reason, message: message.into() }
}

/// Server: an enrolment refused, saying why (`why` names what was wrong
/// with the code).
pub fn enrolment_refused(why: &str) -> Message {
    Message::Refused {
        reason: RefuseReason::BadEnrolmentCode,
        message: format!("{why}: ask the office for a new enrolment code"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::encode;

    fn payload(msg: &Message) -> Vec<u8> {
        encode(msg).unwrap()[4..].to_vec()
    }

    #[test]
    fn a_hello_of_this_version_passes_and_any_other_is_refused_with_the_versions_spoken() {
        assert_eq!(check_hello(&payload(&hello("t")), PROTOCOL_VERSION), Ok(PROTOCOL_VERSION));
        let older = Message::Hello { protocol: OLDEST_PROTOCOL, agent: "t".into() };
        assert_eq!(
            check_hello(&payload(&older), PROTOCOL_VERSION),
            Ok(OLDEST_PROTOCOL),
            "an older device is served"
        );
        // A server held to the oldest refuses the newest, naming its range.
        match check_hello(&payload(&hello("t")), OLDEST_PROTOCOL) {
            Err(Message::Refused { reason: RefuseReason::UnsupportedVersion { min, max }, .. }) => {
                assert_eq!((min, max), (OLDEST_PROTOCOL, OLDEST_PROTOCOL));
            }
            other => panic!("{other:?}"),
        }
        for unknown in [0, PROTOCOL_VERSION + 1] {
            let hello = Message::Hello { protocol: unknown, agent: "t".into() };
            match check_hello(&payload(&hello), PROTOCOL_VERSION) {
                Err(Message::Refused { reason: RefuseReason::UnsupportedVersion { min, max }, message }) => {
                    assert_eq!((min, max), (OLDEST_PROTOCOL, PROTOCOL_VERSION));
                    assert!(message.contains("update"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(check_hello(b"", PROTOCOL_VERSION).is_err());
        let not_hello = Message::Idle;
        assert!(check_hello(&payload(&not_hello), PROTOCOL_VERSION).is_err());
    }

    #[test]
    fn a_client_falls_back_to_an_older_servers_newest_when_it_still_speaks_it() {
        let older = |min, max| RefuseReason::UnsupportedVersion { min, max };
        assert_eq!(fallback(2, &older(1, 1)), Some(1));
        assert_eq!(fallback(1, &older(1, 1)), None, "already its version: no common one");
        assert_eq!(fallback(2, &older(0, 0)), None, "older than this build speaks");
        assert_eq!(fallback(2, &older(3, 4)), None, "a newer server: the app must update");
        assert_eq!(fallback(2, &RefuseReason::Revoked), None);
    }

    #[test]
    fn the_client_takes_welcome_then_the_manifest_and_nothing_else() {
        let mut c = ClientHandshake::default();
        let device = DeviceId::new("hh-1").unwrap();
        assert_eq!(c.protocol(), OLDEST_PROTOCOL);
        assert_eq!(c.handle(Some(welcome(2, device, Role::Picker, 1))), Ok(None));
        assert_eq!(c.handle(Some(Message::Manifest { docs: Vec::new() })), Ok(Some(Vec::new())));
        assert_eq!(c.protocol(), 2, "the version the server's welcome said");

        let mut c = ClientHandshake::default();
        let refused = c.handle(Some(refusal(RefuseReason::Revoked)));
        assert!(matches!(refused, Err(HandshakeError::Refused { reason: RefuseReason::Revoked, .. })));
        let mut c = ClientHandshake::default();
        assert_eq!(
            c.handle(Some(Message::Manifest { docs: Vec::new() })),
            Err(HandshakeError::Unexpected("message"))
        );
        assert_eq!(ClientHandshake::default().handle(None), Err(HandshakeError::Closed));
        assert_eq!(enrolled(None), Err(HandshakeError::Closed));
    }

    #[test]
    fn the_server_takes_an_enrolment_and_refuses_anything_else_from_a_device_with_no_certificate() {
        assert_eq!(enrolment_request(Some(enrol(" 1234 ", vec![7]))), Ok(("1234".into(), vec![7])));
        for other in [None, Some(Message::Idle)] {
            assert!(matches!(
                enrolment_request(other),
                Err(Message::Refused { reason: RefuseReason::NotEnrolled, .. })
            ));
        }
    }

    #[test]
    fn after_the_handshake_the_client_takes_announcements_and_nothing_else() {
        let doc: DocId = "order/SO-1".parse().unwrap();
        let changes = Some(vec![vec![1, 2]]);
        assert_eq!(announced(Some(changed(1, doc.clone(), None))), Ok((doc.clone(), Vec::new())));
        assert_eq!(
            announced(Some(changed(1, doc.clone(), changes.clone()))),
            Ok((doc.clone(), Vec::new())),
            "protocol 1 has no Pushed"
        );
        assert_eq!(announced(Some(changed(2, doc.clone(), changes))), Ok((doc.clone(), vec![vec![1, 2]])));
        assert_eq!(announced(Some(changed(2, doc.clone(), None))), Ok((doc, Vec::new())));
        assert_eq!(announced(Some(Message::Idle)), Err(HandshakeError::Unexpected("message")));
        assert_eq!(announced(None), Err(HandshakeError::Closed));
    }
}
