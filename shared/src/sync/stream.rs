//! What a stream a device opens is for, sans-IO: the server reads its
//! first frame and learns whether it syncs a document, uploads a blob or
//! downloads one, or what to refuse; and the words of the refusals a
//! stream can end with.

use std::fmt::Display;

use crate::blob::BlobHash;
use crate::doc::DocId;
use crate::sync::{FrameError, Message, RefuseReason};

/// What a stream is for, from its first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// Sync this document ([`session::ServerSession`](crate::sync::session::ServerSession)).
    Doc(DocId),
    /// Receive this blob ([`upload::ServerUpload`](crate::sync::upload::ServerUpload)).
    Upload {
        /// Its name.
        hash: BlobHash,
        /// Its size, as the device declares it.
        size: u64,
    },
    /// Send this blob ([`download::ServerDownload`](crate::sync::download::ServerDownload)).
    Download {
        /// Its name.
        hash: BlobHash,
        /// The bytes the device holds already.
        offset: u64,
    },
}

/// Server: reads a stream's first frame as it came off the wire. `Ok(None)`:
/// the stream ended before saying anything. `Err` is the refusal to send
/// before ending the stream.
pub fn opened(first: Result<Option<Message>, FrameError>) -> Result<Option<Opened>, Message> {
    match first {
        Ok(None) => Ok(None),
        Ok(Some(Message::Open { doc })) => Ok(Some(Opened::Doc(doc))),
        Ok(Some(Message::BlobPut { hash, size })) => Ok(Some(Opened::Upload { hash, size })),
        Ok(Some(Message::BlobGet { hash, offset })) => Ok(Some(Opened::Download { hash, offset })),
        Ok(Some(_)) => Err(malformed("expected Open, BlobPut or BlobGet")),
        Err(e @ FrameError::TooLarge { .. }) => Err(refused(RefuseReason::TooLarge, e)),
        Err(e) => Err(malformed(e)),
    }
}

/// Server: a document this device may not sync. Out of scope and unknown
/// get the same answer, so nothing is revealed.
pub fn out_of_scope(doc: &DocId) -> Message {
    refused(RefuseReason::OutOfScope, format!("{doc} is not in this device's scope"))
}

/// Server: a document that would grow past the `limit` in bytes.
pub fn too_large(doc: &DocId, limit: usize) -> Message {
    refused(RefuseReason::TooLarge, format!("{doc} would be over {limit} bytes"))
}

/// Server: a blob already being received on another stream.
pub fn busy(hash: &BlobHash) -> Message {
    malformed(format!("{hash} is being uploaded already; retry"))
}

/// Either side: a message or bytes that have no place here, saying why.
pub fn malformed(why: impl Display) -> Message {
    refused(RefuseReason::Malformed, why)
}

fn refused(reason: RefuseReason, why: impl Display) -> Message {
    Message::Refused { reason, message: why.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_frame_says_what_the_stream_is_for_or_what_to_refuse() {
        let doc: DocId = "order/SO-1".parse().unwrap();
        let hash = BlobHash::of(b"x");
        assert_eq!(opened(Ok(Some(Message::Open { doc: doc.clone() }))), Ok(Some(Opened::Doc(doc))));
        assert_eq!(
            opened(Ok(Some(Message::BlobPut { hash, size: 1 }))),
            Ok(Some(Opened::Upload { hash, size: 1 }))
        );
        assert_eq!(
            opened(Ok(Some(Message::BlobGet { hash, offset: 2 }))),
            Ok(Some(Opened::Download { hash, offset: 2 }))
        );
        assert_eq!(opened(Ok(None)), Ok(None));
        let reason = |r: Result<Option<Opened>, Message>| match r {
            Err(Message::Refused { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(opened(Ok(Some(Message::Idle)))), RefuseReason::Malformed);
        assert_eq!(
            reason(opened(Err(FrameError::TooLarge { declared: 9, limit: 1 }))),
            RefuseReason::TooLarge
        );
    }
}
