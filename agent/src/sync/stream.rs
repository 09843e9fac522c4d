//! Messages on a QUIC stream, through the shared frame decoder.

use quinn::{RecvStream, SendStream};
use waybill_shared::sync::{FrameDecoder, Message, encode};

use crate::error::AgentError;

/// A stream's receiving half with its decoder.
pub struct Reader {
    recv: RecvStream,
    decoder: FrameDecoder,
}

fn lost(e: impl std::fmt::Display) -> AgentError {
    AgentError::Offline(format!("the link dropped: {e}"))
}

impl Reader {
    /// Wraps a stream.
    pub fn new(recv: RecvStream) -> Self {
        Self { recv, decoder: FrameDecoder::new() }
    }

    /// The next message; `None` at a clean end of stream.
    pub async fn next(&mut self) -> Result<Option<Message>, AgentError> {
        loop {
            if let Some(msg) = self.decoder.next_frame().map_err(|e| AgentError::Protocol(e.to_string()))? {
                return Ok(Some(msg));
            }
            match self.recv.read_chunk(64 * 1024, true).await.map_err(lost)? {
                Some(chunk) => self.decoder.push(&chunk.bytes),
                None => {
                    self.decoder.finish().map_err(|e| AgentError::Protocol(e.to_string()))?;
                    return Ok(None);
                }
            }
        }
    }
}

/// Sends one message.
pub async fn send(send: &mut SendStream, msg: &Message) -> Result<(), AgentError> {
    let bytes = encode(msg).map_err(|e| AgentError::Protocol(e.to_string()))?;
    send.write_all(&bytes).await.map_err(lost)
}
