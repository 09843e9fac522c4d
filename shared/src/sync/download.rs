//! A blob's download on its own stream, sans-IO, both sides. The device
//! says `BlobGet` (hash, and the offset of the bytes it holds already); the
//! server refuses a blob the device may not see, or sends `BlobChunk`s from
//! that offset to the end and finishes the stream; the device checks the
//! whole against its hash. The runtimes read and write the bytes; what is
//! said, and when, is decided here.

use crate::blob::BlobHash;
use crate::sync::upload::{CHUNK, chunk};
use crate::sync::{Message, RefuseReason};

/// A download that did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// The server refused, saying why.
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
    /// The bytes received do not hash to the blob's name.
    #[error("the bytes received do not hash to {0}")]
    Damaged(BlobHash),
}

/// What the device does with what the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadStep {
    /// Append these bytes.
    Append(Vec<u8>),
    /// The stream ended: check the whole with [`ClientDownload::verify`]
    /// (a stream cut short fails it; ask again from what is held).
    Ended,
}

/// Client: one blob's download. Send what [`new`](Self::new) returns, feed
/// the server's messages to [`handle`](Self::handle).
#[derive(Debug)]
pub struct ClientDownload {
    hash: BlobHash,
}

impl ClientDownload {
    /// A download of blob `hash` of which `held` bytes are here already,
    /// and its first message.
    pub fn new(hash: BlobHash, held: u64) -> (Self, Message) {
        (Self { hash }, Message::BlobGet { hash, offset: held })
    }

    /// Takes in one of the server's messages (`None`: the stream ended).
    pub fn handle(&mut self, msg: Option<Message>) -> Result<DownloadStep, DownloadError> {
        match msg {
            Some(Message::BlobChunk { data }) => Ok(DownloadStep::Append(data)),
            Some(Message::Refused { reason, message }) => Err(DownloadError::Refused { reason, message }),
            Some(_) => Err(DownloadError::Unexpected),
            None => Ok(DownloadStep::Ended),
        }
    }

    /// Checks the whole blob against its name.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), DownloadError> {
        if BlobHash::of(bytes) == self.hash { Ok(()) } else { Err(DownloadError::Damaged(self.hash)) }
    }
}

/// Server: one blob being sent. Ask for [`next_read`](Self::next_read),
/// read those bytes, and send what [`handle_read`](Self::handle_read)
/// returns, until there is nothing left to read; then finish the stream.
#[derive(Debug)]
pub struct ServerDownload {
    at: u64,
    size: u64,
}

impl ServerDownload {
    /// Answers a device's `BlobGet` of `hash` from `offset`, given the
    /// blob's size if this device may have it (`None`: it may not, or the
    /// server holds no such blob; the answer does not say which). `Err` is
    /// the refusal to send before ending the stream.
    pub fn new(hash: BlobHash, offset: u64, size: Option<u64>) -> Result<Self, Message> {
        match size {
            Some(size) => Ok(Self { at: offset.min(size), size }),
            None => Err(Message::Refused {
                reason: RefuseReason::OutOfScope,
                message: format!("{hash} is not available to this device"),
            }),
        }
    }

    /// The bytes to read next, as (offset, length); `None` when all are sent.
    pub fn next_read(&self) -> Option<(u64, usize)> {
        let left = self.size - self.at;
        (left > 0).then(|| (self.at, usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK))))
    }

    /// Takes in the bytes read at [`next_read`](Self::next_read): the
    /// message that carries them. Bytes that stop short (a file shorter
    /// than recorded) end the download: nothing is left to read after them.
    pub fn handle_read(&mut self, data: &[u8]) -> Message {
        let wanted = self.next_read().map_or(0, |(_, len)| len);
        self.at = if data.len() < wanted { self.size } else { self.at + data.len() as u64 };
        chunk(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a download of `blob` from `held`, the server reading from `stored`.
    fn download(blob: &[u8], stored: &[u8], held: usize) -> Result<Vec<u8>, DownloadError> {
        let hash = BlobHash::of(blob);
        let (mut client, get) = ClientDownload::new(hash, held as u64);
        let Message::BlobGet { offset, .. } = get else { panic!("{get:?}") };
        let mut server = ServerDownload::new(hash, offset, Some(blob.len() as u64)).unwrap();
        let mut bytes = blob[..held].to_vec();
        while let Some((at, len)) = server.next_read() {
            let at = usize::try_from(at).unwrap();
            let read = &stored[at.min(stored.len())..(at + len).min(stored.len())];
            match client.handle(Some(server.handle_read(read)))? {
                DownloadStep::Append(data) => bytes.extend(data),
                DownloadStep::Ended => panic!("ended early"),
            }
        }
        assert_eq!(client.handle(None)?, DownloadStep::Ended);
        client.verify(&bytes).map(|()| bytes)
    }

    #[test]
    fn a_download_resumes_from_what_is_held_and_is_checked_whole() {
        let blob: Vec<u8> = (0..2 * CHUNK + 9).map(|i| (i % 249) as u8).collect();
        assert_eq!(download(&blob, &blob, 0).as_deref(), Ok(&blob[..]));
        assert_eq!(download(&blob, &blob, CHUNK + 3).as_deref(), Ok(&blob[..]));
        let mut damaged = blob.clone();
        damaged[CHUNK + 1] ^= 1;
        assert_eq!(download(&blob, &damaged, 0), Err(DownloadError::Damaged(BlobHash::of(&blob))));
        assert_eq!(download(&blob, &blob[..CHUNK], 0), Err(DownloadError::Damaged(BlobHash::of(&blob))));
    }

    #[test]
    fn a_blob_the_device_may_not_see_is_refused_and_an_offset_past_the_end_sends_nothing() {
        let hash = BlobHash::of(b"x");
        let refusal = ServerDownload::new(hash, 0, None).unwrap_err();
        let (mut client, _) = ClientDownload::new(hash, 0);
        assert!(matches!(
            client.handle(Some(refusal)),
            Err(DownloadError::Refused { reason: RefuseReason::OutOfScope, .. })
        ));
        assert_eq!(ServerDownload::new(hash, 5, Some(1)).unwrap().next_read(), None);
        assert_eq!(client.handle(Some(Message::Idle)), Err(DownloadError::Unexpected));
    }
}
