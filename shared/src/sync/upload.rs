//! A blob's upload on its own stream, sans-IO, both sides. The device says
//! `BlobPut` (hash and size); the server answers with the offset it already
//! holds (`BlobResume`), or `BlobStored` if it holds all of it, or a
//! refusal; the device sends `BlobChunk`s from that offset; the server
//! checks the whole against its hash and answers `BlobStored` or refuses.
//! The runtimes read and write the bytes (files, the device's store); what
//! is said, and when, is decided here.

use crate::blob::BlobHash;
use crate::sync::{Message, RefuseReason};

/// Bytes per chunk a device sends.
pub const CHUNK: usize = 64 * 1024;

/// An upload that did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// The server refused the blob, saying why.
    #[error("{message}")]
    Refused {
        /// Why, typed.
        reason: RefuseReason,
        /// Its words.
        message: String,
    },
    /// The server said something that has no place here.
    #[error("unexpected message on a blob stream")]
    Unexpected,
    /// The stream ended before the upload did.
    #[error("the server closed the connection")]
    Closed,
}

/// What the device does next in an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadStep {
    /// Send the blob's bytes from this offset to its end, in [`chunk`]s,
    /// then wait for the server's word.
    SendFrom(u64),
    /// The server holds the whole blob.
    Stored,
}

/// Client: one blob's upload. Send what [`new`](Self::new) returns, feed
/// the server's answers to [`handle`](Self::handle).
#[derive(Debug)]
pub struct ClientUpload {
    size: u64,
    sent: bool,
}

impl ClientUpload {
    /// An upload of the blob `hash` of `size` bytes, and its first message.
    pub fn new(hash: BlobHash, size: u64) -> (Self, Message) {
        (Self { size, sent: false }, Message::BlobPut { hash, size })
    }

    /// Takes in the server's answer (`None`: the stream ended).
    pub fn handle(&mut self, msg: Option<Message>) -> Result<UploadStep, UploadError> {
        match msg {
            Some(Message::BlobStored { .. }) => Ok(UploadStep::Stored),
            Some(Message::BlobResume { offset }) if !self.sent => {
                self.sent = true;
                Ok(UploadStep::SendFrom(offset.min(self.size)))
            }
            Some(Message::Refused { reason, message }) => Err(UploadError::Refused { reason, message }),
            Some(_) => Err(UploadError::Unexpected),
            None => Err(UploadError::Closed),
        }
    }
}

/// A piece of a blob, as sent.
pub fn chunk(data: &[u8]) -> Message {
    Message::BlobChunk { data: data.to_vec() }
}

/// What the server does with a device's `BlobPut`.
#[derive(Debug)]
pub enum Offer {
    /// Refuse it: send this and end the stream.
    Refuse(Message),
    /// It is held already: record it for the device, send this, end.
    Stored(Message),
    /// Receive it: see what is held of it, then [`ServerUpload::resume`].
    Receive,
}

/// Server: one blob being received.
#[derive(Debug)]
pub struct ServerUpload {
    hash: BlobHash,
    size: u64,
    received: u64,
}

impl ServerUpload {
    /// Answers a device's offer of blob `hash` of `size` bytes, given the
    /// largest blob taken (`limit`) and whether the whole blob is held.
    pub fn offer(hash: BlobHash, size: u64, limit: u64, whole: bool) -> Offer {
        if size > limit {
            Offer::Refuse(Message::Refused {
                reason: RefuseReason::TooLarge,
                message: format!("blob of {size} bytes is over the {limit}-byte limit"),
            })
        } else if whole {
            Offer::Stored(Message::BlobStored { hash })
        } else {
            Offer::Receive
        }
    }

    /// Receives an offered blob of which `held` bytes are kept from an
    /// upload cut short (0 for a new one): the upload, how many of those
    /// bytes to keep (drop any past it), and the answer to send; then feed
    /// it the device's chunks.
    pub fn resume(hash: BlobHash, size: u64, held: u64) -> (Self, u64, Message) {
        // More than the size declared: what was held is not this blob.
        let from = if held > size { 0 } else { held };
        (Self { hash, size, received: from }, from, Message::BlobResume { offset: from })
    }

    /// Takes in one of the device's messages: the bytes to append, or the
    /// refusal to send (then end the stream, keeping what was appended).
    pub fn handle(&mut self, msg: Message) -> Result<Vec<u8>, Message> {
        let malformed =
            |message: &str| Message::Refused { reason: RefuseReason::Malformed, message: message.into() };
        match msg {
            Message::BlobChunk { data } if self.received + data.len() as u64 > self.size => {
                Err(malformed("more bytes than the blob's size"))
            }
            Message::BlobChunk { data } => {
                self.received += data.len() as u64;
                Ok(data)
            }
            _ => Err(malformed("expected BlobChunk")),
        }
    }

    /// Whether every byte has arrived: then check the whole with [`verify`](Self::verify).
    pub fn is_complete(&self) -> bool {
        self.received >= self.size
    }

    /// Checks the whole blob against its name: `Ok` with the answer to send
    /// once it is stored, or the refusal (drop the bytes).
    pub fn verify(&self, bytes: &[u8]) -> Result<Message, Message> {
        if BlobHash::of(bytes) == self.hash {
            Ok(Message::BlobStored { hash: self.hash })
        } else {
            Err(Message::Refused {
                reason: RefuseReason::Malformed,
                message: format!("the bytes do not hash to {}", self.hash),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs an upload of `blob` between the two machines, the server holding
    /// `held` bytes of it already; returns what the device sent and the end.
    fn upload(blob: &[u8], sent_as: &[u8], held: usize) -> (usize, Result<UploadStep, UploadError>) {
        let hash = BlobHash::of(blob);
        let (mut client, put) = ClientUpload::new(hash, sent_as.len() as u64);
        let Message::BlobPut { size, .. } = put else { panic!("{put:?}") };
        let mut server_bytes = blob[..held].to_vec();
        assert!(matches!(ServerUpload::offer(hash, size, 1 << 20, false), Offer::Receive));
        let (mut server, from, reply) = ServerUpload::resume(hash, size, held as u64);
        server_bytes.truncate(usize::try_from(from).unwrap());
        let Ok(UploadStep::SendFrom(from)) = client.handle(Some(reply)) else { panic!() };
        let mut sent = 0;
        for piece in sent_as[usize::try_from(from).unwrap()..].chunks(CHUNK) {
            sent += piece.len();
            match server.handle(chunk(piece)) {
                Ok(bytes) => server_bytes.extend(bytes),
                Err(refusal) => return (sent, client.handle(Some(refusal))),
            }
        }
        assert!(server.is_complete());
        let answer = server.verify(&server_bytes).unwrap_or_else(|refusal| refusal);
        (sent, client.handle(Some(answer)))
    }

    #[test]
    fn an_upload_resumes_where_the_server_stopped_and_is_checked_whole() {
        let blob: Vec<u8> = (0..3 * CHUNK + 5).map(|i| (i % 251) as u8).collect();
        assert_eq!(upload(&blob, &blob, 0), (blob.len(), Ok(UploadStep::Stored)));
        assert_eq!(upload(&blob, &blob, CHUNK + 7), (blob.len() - CHUNK - 7, Ok(UploadStep::Stored)));
        let mut damaged = blob.clone();
        damaged[9] ^= 1;
        let (_, end) = upload(&blob, &damaged, 0);
        assert!(matches!(end, Err(UploadError::Refused { reason: RefuseReason::Malformed, .. })), "{end:?}");
    }

    #[test]
    fn the_server_refuses_too_large_and_too_many_bytes_and_answers_a_held_blob_at_once() {
        let hash = BlobHash::of(b"x");
        assert!(matches!(ServerUpload::offer(hash, 11, 10, false), Offer::Refuse(_)));
        assert!(matches!(ServerUpload::offer(hash, 11, 10, true), Offer::Refuse(_)));
        assert!(matches!(ServerUpload::offer(hash, 1, 10, true), Offer::Stored(Message::BlobStored { .. })));
        let (mut upload, from, _) = ServerUpload::resume(hash, 4, 9);
        assert_eq!(from, 0, "a partial longer than the blob is dropped");
        assert!(upload.handle(chunk(b"abc")).is_ok());
        assert!(upload.handle(chunk(b"de")).is_err());
        assert!(upload.handle(Message::Idle).is_err());
        let (mut client, _) = ClientUpload::new(hash, 4);
        assert_eq!(client.handle(None), Err(UploadError::Closed));
        assert_eq!(client.handle(Some(Message::Idle)), Err(UploadError::Unexpected));
    }
}
