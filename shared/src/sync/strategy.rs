//! Test-only proptest strategies: any [`Message`], with every variant and
//! arbitrary field values, for the round-trip tests of the messages and the
//! frames.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

use super::message::{ManifestEntry, Message, RefuseReason};
use crate::blob::BlobHash;
use crate::doc::DocId;
use crate::id::{DeviceId, LocationId, OrderId, RouteId};
use crate::policy::Refusal;
use crate::role::Role;

/// Seeded, so every run tests the same cases.
pub(crate) fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        rng_seed: RngSeed::Fixed(0x5eed),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const ID: &str = "[a-z][a-z0-9-]{0,10}";

fn text() -> impl Strategy<Value = String> {
    any::<String>()
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..64)
}

fn device() -> impl Strategy<Value = DeviceId> {
    ID.prop_map(|s| DeviceId::new(s).expect("the strategy yields valid ids"))
}

fn location() -> impl Strategy<Value = LocationId> {
    ID.prop_map(|s| LocationId::new(s).expect("valid id"))
}

fn doc() -> impl Strategy<Value = DocId> {
    prop_oneof![
        ID.prop_map(|s| DocId::Order(OrderId::new(s).expect("valid id"))),
        (ID, any::<u32>())
            .prop_map(|(s, epoch)| DocId::Location { id: LocationId::new(s).expect("valid id"), epoch }),
        ID.prop_map(|s| DocId::Route(RouteId::new(s).expect("valid id"))),
    ]
}

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL.to_vec())
}

fn blob() -> impl Strategy<Value = BlobHash> {
    bytes().prop_map(|b| BlobHash::of(&b))
}

fn reason() -> impl Strategy<Value = RefuseReason> {
    prop_oneof![
        (any::<u16>(), any::<u16>()).prop_map(|(min, max)| RefuseReason::UnsupportedVersion { min, max }),
        Just(RefuseReason::NotEnrolled),
        Just(RefuseReason::Revoked),
        Just(RefuseReason::TooManyConnections),
        Just(RefuseReason::BadEnrolmentCode),
        Just(RefuseReason::Malformed),
        Just(RefuseReason::OutOfScope),
        Just(RefuseReason::TooLarge),
    ]
}

fn refusal() -> impl Strategy<Value = Refusal> {
    prop_oneof![
        text().prop_map(|doc| Refusal::OutOfScope { doc }),
        text().prop_map(|actor| Refusal::ForeignActor { actor }),
        text().prop_map(|doc| Refusal::UnknownDocument { doc }),
        text().prop_map(|what| Refusal::NotAnAppend { what }),
        text().prop_map(|what| Refusal::RewritesHistory { what }),
        (text(), text()).prop_map(|(key, why)| Refusal::NotAnEvent { key, why }),
        (text(), any::<usize>(), any::<usize>()).prop_map(|(key, bytes, limit)| Refusal::EventTooLarge {
            key,
            bytes,
            limit
        }),
        (text(), text()).prop_map(|(key, id)| Refusal::KeyMismatch { key, id }),
        text().prop_map(|id| Refusal::NotAuthor { id }),
        (text(), text()).prop_map(|(role, event)| Refusal::RoleNotAllowed { role, event }),
        (text(), text()).prop_map(|(event, doc)| Refusal::WrongDocument { event, doc }),
        text().prop_map(|target| Refusal::VoidsOthersEvent { target }),
        text().prop_map(|id| Refusal::DuplicateEvent { id }),
        text().prop_map(|hash| Refusal::DependsOnRefused { hash }),
        any::<usize>().prop_map(|missing| Refusal::MissingDependencies { missing }),
    ]
}

fn entry() -> impl Strategy<Value = ManifestEntry> {
    (doc(), vec(any::<[u8; 32]>(), 0..4)).prop_map(|(doc, heads)| ManifestEntry { doc, heads })
}

/// Any message: every variant, arbitrary fields.
pub(crate) fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (any::<u16>(), text()).prop_map(|(protocol, agent)| Message::Hello { protocol, agent }),
        (any::<u16>(), device(), role(), any::<u64>()).prop_map(
            |(protocol, device, role, server_time_ms)| {
                Message::Welcome { protocol, device, role, server_time_ms }
            }
        ),
        (reason(), text()).prop_map(|(reason, message)| Message::Refused { reason, message }),
        vec(entry(), 0..4).prop_map(|docs| Message::Manifest { docs }),
        doc().prop_map(|doc| Message::Open { doc }),
        bytes().prop_map(|data| Message::Sync { data }),
        Just(Message::Idle),
        (any::<[u8; 32]>(), refusal()).prop_map(|(change, refusal)| Message::Rejected { change, refusal }),
        doc().prop_map(|doc| Message::Changed { doc }),
        (text(), bytes()).prop_map(|(code, public_key)| Message::Enrol { code, public_key }),
        (device(), role(), proptest::option::of(location()), bytes(), bytes()).prop_map(
            |(device, role, location, certificate_der, ca_der)| Message::Enrolled {
                device,
                role,
                location,
                certificate_der,
                ca_der
            }
        ),
        (blob(), any::<u64>()).prop_map(|(hash, size)| Message::BlobPut { hash, size }),
        any::<u64>().prop_map(|offset| Message::BlobResume { offset }),
        bytes().prop_map(|data| Message::BlobChunk { data }),
        blob().prop_map(|hash| Message::BlobStored { hash }),
        (blob(), any::<u64>()).prop_map(|(hash, offset)| Message::BlobGet { hash, offset }),
        text().prop_map(|message| Message::Error { message }),
        bytes().prop_map(|data| Message::Packed { data }),
        (doc(), vec(bytes(), 0..3)).prop_map(|(doc, changes)| Message::Pushed { doc, changes }),
        Just(Message::Fetch),
        bytes().prop_map(|data| Message::Whole { data }),
    ]
}
