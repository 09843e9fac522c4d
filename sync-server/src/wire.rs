//! Frames on QUIC streams: the thin IO around the shared codec.

use quinn::{RecvStream, SendStream};
use waybill_shared::sync::{FrameError, Message, RefuseReason, decode_payload, encode};

/// A stream that failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The frame is bad.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Reading failed (reset, connection lost, or ended inside a frame).
    #[error("read: {0}")]
    Read(String),
    /// Writing failed.
    #[error("write: {0}")]
    Write(String),
}

/// Reads one frame's payload; `None` when the stream ends cleanly between
/// frames. A declared length over `limit` is refused before reading it.
pub async fn read_payload(recv: &mut RecvStream, limit: usize) -> Result<Option<Vec<u8>>, WireError> {
    let mut len = [0u8; 4];
    match recv.read(&mut len[..1]).await.map_err(|e| WireError::Read(e.to_string()))? {
        None => return Ok(None),
        Some(0) => return Err(WireError::Read("empty read".into())),
        Some(_) => {}
    }
    recv.read_exact(&mut len[1..]).await.map_err(|e| WireError::Read(e.to_string()))?;
    let declared = u32::from_be_bytes(len) as usize;
    if declared > limit {
        return Err(FrameError::TooLarge { declared, limit }.into());
    }
    let mut payload = vec![0u8; declared];
    recv.read_exact(&mut payload).await.map_err(|e| WireError::Read(e.to_string()))?;
    Ok(Some(payload))
}

/// Reads one message; `None` at a clean end of stream.
pub async fn read(recv: &mut RecvStream, limit: usize) -> Result<Option<Message>, WireError> {
    match read_payload(recv, limit).await? {
        Some(p) => Ok(Some(decode_payload(&p)?)),
        None => Ok(None),
    }
}

/// Writes one message.
pub async fn write(send: &mut SendStream, msg: &Message) -> Result<(), WireError> {
    let bytes = encode(msg)?;
    send.write_all(&bytes).await.map_err(|e| WireError::Write(e.to_string()))
}

/// Answers with a typed refusal and ends the stream.
pub async fn refuse(send: &mut SendStream, reason: RefuseReason, message: String) -> Result<(), WireError> {
    write(send, &Message::Refused { reason, message }).await?;
    let _ = send.finish();
    Ok(())
}
