//! The device's state machines fed arbitrary bytes as the server's answers:
//! the handshake and the announcements after it, a blob's download, and a
//! document session on a document holding the device's own work. Refused or taken in, never a panic, never a session
//! past its round cap, and what it sends fits a device's frame.
#![no_main]

use automerge::AutoCommit;
use libfuzzer_sys::fuzz_target;
use waybill_shared::doc::DocId;
use waybill_shared::blob::BlobHash;
use waybill_shared::sync::download::ClientDownload;
use waybill_shared::sync::handshake::{self, ClientHandshake};
use waybill_shared::sync::session::{ClientSession, MAX_ROUNDS};
use waybill_shared::sync::{FrameDecoder, MAX_DEVICE_FRAME, Message, encode};

fuzz_target!(|data: &[u8]| {
    let mut decoder = FrameDecoder::with_limit(64 * 1024);
    decoder.push(data);
    let mut greeting = ClientHandshake::default();
    let (mut download, _) = ClientDownload::new(BlobHash::of(b"photo"), 0);
    let id: DocId = "order/SO-1".parse().unwrap();
    let mut session = ClientSession::new(id, AutoCommit::new(), automerge::sync::State::new(), &[]);
    let fits = |m: &Message| encode(m).map(|b| b.len() <= MAX_DEVICE_FRAME + 4).unwrap_or(false);
    assert!(session.start().unwrap().iter().all(fits));
    let mut sent = 1;
    while let Ok(Some(msg)) = decoder.next_frame() {
        let _ = greeting.handle(Some(msg.clone()));
        let _ = handshake::announced(Some(msg.clone()));
        let _ = download.handle(Some(msg.clone()));
        match session.handle(msg) {
            Ok(out) => {
                assert!(out.iter().all(fits), "a message over the device frame");
                sent += out.len();
                assert!(sent <= MAX_ROUNDS as usize, "the session went past its round cap");
            }
            Err(_) => break,
        }
        if session.is_done() {
            break;
        }
    }
});
