//! Frames: how [`Message`]s are cut out of a byte stream. A frame is a `u32`
//! big-endian payload length, then the payload, one postcard-encoded
//! message. [`encode`] builds one; [`FrameDecoder`] takes a stream's bytes
//! in whatever pieces they arrive and hands back whole messages.

use super::message::Message;

/// Largest payload of any frame, in bytes: 20 MiB, so that a whole document
/// of the largest size a server keeps (16 MiB) fits in one sync message from
/// the server (protocol 1; on 2 the server cuts its messages to fit). What a
/// device reads from its server is bounded by this.
pub const MAX_FRAME: usize = 20 * 1024 * 1024;

/// Largest payload a device sends, and so the most a server reads from a
/// device in one frame: 4 MiB. A device's sync messages carry only changes,
/// and [`client_step`](super::session::client_step) cuts its changes into
/// messages under this; blob chunks are far smaller.
pub const MAX_DEVICE_FRAME: usize = 4 * 1024 * 1024;

/// Bytes of the length prefix.
const HEADER: usize = 4;

/// A frame that cannot be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The payload is longer than the limit. When reading, raised on the
    /// length prefix alone, before any of the payload is read.
    #[error("frame of {declared} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// The payload length declared (reading) or needed (writing).
        declared: usize,
        /// The limit.
        limit: usize,
    },
    /// The payload is not a message: postcard's complaint, or trailing bytes.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame, {buffered} bytes in")]
    Truncated {
        /// The bytes of the unfinished frame received.
        buffered: usize,
    },
}

/// Encodes `msg` as one frame: length prefix, then payload. Fails with
/// [`FrameError::TooLarge`] if the payload would be over [`MAX_FRAME`],
/// which the peer would refuse; the size is computed before the frame is
/// built.
pub fn encode(msg: &Message) -> Result<Vec<u8>, FrameError> {
    let malformed = |e: postcard::Error| FrameError::Malformed(format!("cannot encode the message: {e}"));
    let size =
        postcard::serialize_with_flavor(msg, postcard::ser_flavors::Size::default()).map_err(malformed)?;
    let too_large = FrameError::TooLarge { declared: size, limit: MAX_FRAME };
    if size > MAX_FRAME {
        return Err(too_large);
    }
    let prefix = u32::try_from(size).map_err(|_| too_large)?.to_be_bytes();
    let mut frame = Vec::with_capacity(HEADER + size);
    frame.extend_from_slice(&prefix);
    postcard::to_extend(msg, frame).map_err(malformed)
}

/// Decodes one frame's payload (without its length prefix). The payload
/// must be exactly one message: trailing bytes are an error.
pub fn decode_payload(payload: &[u8]) -> Result<Message, FrameError> {
    let (msg, rest) = postcard::take_from_bytes::<Message>(payload)
        .map_err(|e| FrameError::Malformed(format!("not a message: {e}")))?;
    if !rest.is_empty() {
        return Err(FrameError::Malformed(format!("{} bytes after the message", rest.len())));
    }
    Ok(msg)
}

/// Cuts the frames out of one stream's bytes, sans IO: [`push`] what the
/// stream yields, in pieces of any size, then call [`next_frame`] until it
/// returns `Ok(None)`; at the end of the stream, [`finish`] says whether it
/// ended cleanly between frames.
///
/// It allocates for bytes received, never for a declared length: a frame
/// longer than the limit is refused on its four-byte prefix. Drained after
/// each push, it holds at most one unfinished frame plus the last push.
/// After an error the decoder is spent: every later call returns that error
/// and pushed bytes are dropped, since the stream can no longer be trusted.
///
/// [`push`]: FrameDecoder::push
/// [`next_frame`]: FrameDecoder::next_frame
/// [`finish`]: FrameDecoder::finish
#[derive(Debug)]
pub struct FrameDecoder {
    /// Received bytes; those before `start` are consumed.
    buf: Vec<u8>,
    /// Where the unconsumed bytes begin.
    start: usize,
    /// Largest payload accepted.
    limit: usize,
    /// The error that spent the decoder.
    failed: Option<FrameError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder accepting payloads up to [`MAX_FRAME`].
    pub fn new() -> Self {
        Self::with_limit(MAX_FRAME)
    }

    /// A decoder accepting payloads up to `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        Self { buf: Vec::new(), start: 0, limit, failed: None }
    }

    /// The largest payload accepted, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes received and not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Adds bytes from the stream. Dropped if the decoder is spent.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() || bytes.is_empty() {
            return;
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, `Ok(None)` if more bytes are needed, or the
    /// error that spends the decoder.
    pub fn next_frame(&mut self) -> Result<Option<Message>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let pending = &self.buf[self.start..];
        let Some(prefix) = pending.first_chunk::<HEADER>() else {
            return Ok(None);
        };
        // A length that does not fit a usize is over any limit.
        let declared = usize::try_from(u32::from_be_bytes(*prefix)).unwrap_or(usize::MAX);
        if declared > self.limit {
            return Err(self.fail(FrameError::TooLarge { declared, limit: self.limit }));
        }
        let Some(payload) = pending[HEADER..].get(..declared) else {
            return Ok(None);
        };
        match decode_payload(payload) {
            Ok(msg) => {
                self.start += HEADER + declared;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                Ok(Some(msg))
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Checks that the stream ended cleanly: between frames, with no error.
    /// Call it at the end of the stream, once [`next_frame`] has returned
    /// `Ok(None)`.
    ///
    /// [`next_frame`]: FrameDecoder::next_frame
    pub fn finish(&self) -> Result<(), FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.buffered() {
            0 => Ok(()),
            buffered => Err(FrameError::Truncated { buffered }),
        }
    }

    /// Spends the decoder on `e`, releasing its buffer.
    fn fail(&mut self, e: FrameError) -> FrameError {
        self.buf = Vec::new();
        self.start = 0;
        self.failed = Some(e.clone());
        e
    }
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::sync::strategy::{config, message};

    /// Pushes `bytes` in pieces cut at `cuts` (taken modulo the length),
    /// draining the decoder after each push.
    fn feed(decoder: &mut FrameDecoder, bytes: &[u8], cuts: &[usize]) -> Result<Vec<Message>, FrameError> {
        let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        at.push(0);
        at.push(bytes.len());
        at.sort_unstable();
        let mut out = Vec::new();
        for piece in at.windows(2) {
            decoder.push(&bytes[piece[0]..piece[1]]);
            while let Some(msg) = decoder.next_frame()? {
                out.push(msg);
            }
        }
        Ok(out)
    }

    fn header(len: u32) -> [u8; 4] {
        len.to_be_bytes()
    }

    #[test]
    fn a_frame_is_a_big_endian_length_then_the_payload() {
        let frame = encode(&Message::Hello { protocol: 1, agent: "a".into() }).unwrap();
        assert_eq!(frame, [0, 0, 0, 4, 0, 1, 1, b'a']);
        assert_eq!(decode_payload(&frame[4..]).unwrap(), Message::Hello { protocol: 1, agent: "a".into() });
    }

    #[test]
    fn encode_refuses_a_payload_over_the_limit() {
        let msg = Message::BlobChunk { data: vec![0; MAX_FRAME] };
        let Err(FrameError::TooLarge { declared, limit }) = encode(&msg) else { panic!("encoded") };
        assert_eq!(limit, MAX_FRAME);
        assert!(declared > MAX_FRAME);
        // variant (1 byte) + length varint (4 bytes) + data
        let fits = Message::BlobChunk { data: vec![0; MAX_FRAME - 5] };
        assert_eq!(encode(&fits).unwrap().len(), 4 + MAX_FRAME);
    }

    #[test]
    fn trailing_bytes_in_a_payload_are_malformed() {
        let mut payload = encode(&Message::Idle).unwrap()[4..].to_vec();
        payload.push(0);
        assert!(matches!(decode_payload(&payload), Err(FrameError::Malformed(_))));
        assert!(matches!(decode_payload(&[]), Err(FrameError::Malformed(_))));
        assert!(matches!(decode_payload(&[200]), Err(FrameError::Malformed(_))), "no such variant");
    }

    #[test]
    fn a_declared_length_over_the_limit_errors_on_the_prefix_alone() {
        let mut decoder = FrameDecoder::with_limit(16);
        decoder.push(&header(16)[..3]);
        assert_eq!(decoder.next_frame(), Ok(None));
        decoder.push(&header(17)[3..]); // completes the prefix 0, 0, 0, 17
        let too_large = FrameError::TooLarge { declared: 17, limit: 16 };
        assert_eq!(decoder.next_frame(), Err(too_large.clone()));
        assert_eq!(decoder.buffered(), 0);
        decoder.push(&[0; 17]);
        assert_eq!(decoder.buffered(), 0, "a spent decoder buffers nothing");
        assert_eq!(decoder.next_frame(), Err(too_large.clone()));
        assert_eq!(decoder.finish(), Err(too_large));
    }

    #[test]
    fn the_default_limit_refuses_a_4_gib_prefix_without_allocating() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&header(u32::MAX));
        assert_eq!(
            decoder.next_frame(),
            Err(FrameError::TooLarge { declared: u32::MAX as usize, limit: MAX_FRAME })
        );
        assert_eq!(decoder.buf.capacity(), 0);
    }

    #[test]
    fn a_frame_at_the_limit_is_accepted() {
        let frame = encode(&Message::Sync { data: vec![1; 10] }).unwrap();
        let mut decoder = FrameDecoder::with_limit(frame.len() - 4);
        decoder.push(&frame);
        assert_eq!(decoder.next_frame(), Ok(Some(Message::Sync { data: vec![1; 10] })));
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn a_stream_ending_inside_a_frame_is_truncated() {
        let frame = encode(&Message::Error { message: "x".into() }).unwrap();
        let mut decoder = FrameDecoder::new();
        assert_eq!(decoder.finish(), Ok(()));
        decoder.push(&frame[..2]);
        assert_eq!(decoder.next_frame(), Ok(None));
        assert_eq!(decoder.finish(), Err(FrameError::Truncated { buffered: 2 }));
        decoder.push(&frame[2..frame.len() - 1]);
        assert_eq!(decoder.next_frame(), Ok(None));
        assert_eq!(decoder.finish(), Err(FrameError::Truncated { buffered: frame.len() - 1 }));
        decoder.push(&frame[frame.len() - 1..]);
        assert!(decoder.next_frame().unwrap().is_some());
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn a_malformed_payload_spends_the_decoder() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&[0, 0, 0, 1, 200]);
        decoder.push(&encode(&Message::Idle).unwrap());
        let Err(e @ FrameError::Malformed(_)) = decoder.next_frame() else { panic!("decoded") };
        assert_eq!(decoder.next_frame(), Err(e.clone()));
        assert_eq!(decoder.finish(), Err(e));
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn every_message_round_trips_through_a_frame(msg in message()) {
            let frame = encode(&msg).unwrap();
            let declared = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
            prop_assert_eq!(declared, frame.len() - 4);
            prop_assert_eq!(decode_payload(&frame[4..]).unwrap(), msg);
        }

        #[test]
        fn concatenated_frames_in_any_pieces_decode_in_order(
            msgs in vec(message(), 0..6),
            cuts in vec(any::<usize>(), 0..24),
        ) {
            let stream: Vec<u8> = msgs.iter().flat_map(|m| encode(m).unwrap()).collect();
            let mut decoder = FrameDecoder::new();
            prop_assert_eq!(feed(&mut decoder, &stream, &cuts).unwrap(), msgs);
            prop_assert_eq!(decoder.buffered(), 0);
            prop_assert_eq!(decoder.finish(), Ok(()));
        }

        #[test]
        fn one_byte_at_a_time_decodes_too(msgs in vec(message(), 1..4)) {
            let stream: Vec<u8> = msgs.iter().flat_map(|m| encode(m).unwrap()).collect();
            let cuts: Vec<usize> = (0..stream.len()).collect();
            let mut decoder = FrameDecoder::new();
            prop_assert_eq!(feed(&mut decoder, &stream, &cuts).unwrap(), msgs);
            prop_assert_eq!(decoder.finish(), Ok(()));
        }

        #[test]
        fn a_truncated_stream_fails_to_finish(
            msgs in vec(message(), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let stream: Vec<u8> = msgs.iter().flat_map(|m| encode(m).unwrap()).collect();
            let last = encode(&msgs[msgs.len() - 1]).unwrap().len();
            // Cut inside the last frame: at least one byte of it in, one out.
            let end = stream.len() - last + 1 + cut.index(last - 1);
            let mut decoder = FrameDecoder::new();
            let decoded = feed(&mut decoder, &stream[..end], &[]).unwrap();
            prop_assert_eq!(&decoded[..], &msgs[..msgs.len() - 1]);
            let truncated = FrameError::Truncated { buffered: end - (stream.len() - last) };
            prop_assert_eq!(decoder.finish(), Err(truncated));
        }

        #[test]
        fn any_declared_length_over_the_limit_errors_before_its_payload(
            limit in 0usize..1024,
            over in 1u32..u32::MAX / 2,
            tail in vec(any::<u8>(), 0..64),
        ) {
            let declared = limit as u32 + over;
            let mut decoder = FrameDecoder::with_limit(limit);
            decoder.push(&header(declared));
            decoder.push(&tail);
            let too_large = FrameError::TooLarge { declared: declared as usize, limit };
            prop_assert_eq!(decoder.next_frame(), Err(too_large));
            prop_assert_eq!(decoder.buffered(), 0);
        }

        #[test]
        fn garbage_never_panics(
            garbage in vec(any::<u8>(), 0..512),
            cuts in vec(any::<usize>(), 0..8),
            limit in prop_oneof![Just(MAX_FRAME), 0usize..64],
        ) {
            let mut decoder = FrameDecoder::with_limit(limit);
            let _ = feed(&mut decoder, &garbage, &cuts);
            let _ = decoder.finish();
            let _ = decode_payload(&garbage);
        }

        #[test]
        fn garbage_after_good_frames_never_loses_them(
            msgs in vec(message(), 1..4),
            garbage in vec(any::<u8>(), 0..64),
        ) {
            let mut stream: Vec<u8> = msgs.iter().flat_map(|m| encode(m).unwrap()).collect();
            stream.extend_from_slice(&garbage);
            let mut decoder = FrameDecoder::new();
            decoder.push(&stream);
            for msg in &msgs {
                prop_assert_eq!(decoder.next_frame(), Ok(Some(msg.clone())));
            }
            let _ = decoder.next_frame();
        }
    }
}
