//! Frames on QUIC streams: the thin IO around the shared codec, with the
//! memory a connection may hold bounded by construction.
//!
//! A stream's bytes are read as they arrive, never sized by what the peer
//! declares: a frame's body grows with what came in. Before a body is read
//! its declared length is reserved from the connection's [`Budget`], and the
//! reservation is returned once the stream asks for its next frame (so it
//! covers the message while it is handled). A stream that cannot get room
//! waits, holding nothing but its four header bytes; QUIC's flow control then
//! holds the peer back. So whatever a device sends, one connection holds at
//! most its budget in frames, plus what quinn buffers (its receive window).
//! Every read has an idle timeout: a stream left silent is dropped.

use std::sync::Arc;
use std::time::Duration;

use quinn::{RecvStream, SendStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use waybill_shared::sync::{FrameError, Message, decode_payload, encode};

/// How long a stream with an idle timeout waits for room in its
/// connection's budget.
pub const BUSY: Duration = Duration::from_secs(30);

/// A stream that failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The frame is bad.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Reading failed (reset, connection lost, or ended inside a frame).
    #[error("read: {0}")]
    Read(String),
    /// The peer sent nothing for this long while a frame was awaited.
    #[error("no bytes for {0:?}")]
    Idle(Duration),
    /// The connection's other streams held its whole budget for this long.
    #[error("no room for a frame for {0:?}: the connection's other streams hold it")]
    Busy(Duration),
    /// Writing failed.
    #[error("write: {0}")]
    Write(String),
}

/// The bytes one connection may hold in frames being read or handled,
/// across all its streams.
#[derive(Debug, Clone)]
pub struct Budget(Arc<Semaphore>);

impl Budget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new(bytes)))
    }
}

/// One stream's receiving half, reading frames within its connection's
/// budget.
pub struct Reader {
    recv: RecvStream,
    budget: Budget,
    /// Largest payload accepted; never more than the budget.
    limit: usize,
    /// How long a read may wait for the peer's bytes (`None`: as long as
    /// the connection lives).
    idle: Option<Duration>,
    /// The reservation of the frame last returned.
    held: Option<OwnedSemaphorePermit>,
}

impl Reader {
    /// Reads `recv` for frames of at most `limit` bytes, reserving them from
    /// `budget`, each read waiting at most `idle` for the peer.
    pub fn new(recv: RecvStream, budget: Budget, limit: usize, idle: Option<Duration>) -> Self {
        Self { recv, budget, limit, idle, held: None }
    }

    /// Reads from now on wait at most `idle` for the peer.
    pub fn set_idle(&mut self, idle: Option<Duration>) {
        self.idle = idle;
    }

    /// Reads one frame's payload; `None` when the stream ends cleanly
    /// between frames. A declared length over the limit is refused before
    /// any of it is read.
    pub async fn payload(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        self.held = None;
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < len.len() {
            match timed(self.idle, self.recv.read(&mut len[got..])).await? {
                None if got == 0 => return Ok(None),
                None => return Err(FrameError::Truncated { buffered: got }.into()),
                Some(n) => got += n,
            }
        }
        let declared = u32::from_be_bytes(len);
        let too_large = FrameError::TooLarge { declared: declared as usize, limit: self.limit };
        if declared as usize > self.limit {
            return Err(too_large.into());
        }
        // Room for the body: the stream holds nothing while it waits. A
        // stream with an idle timeout waits at most BUSY for it (the peer's
        // own streams holding the budget cannot keep it forever).
        let room = self.budget.0.clone().acquire_many_owned(declared);
        let permit = match self.idle {
            Some(_) => tokio::time::timeout(BUSY, room).await.map_err(|_| WireError::Busy(BUSY))?,
            None => room.await,
        }
        .map_err(|_| WireError::Read("the connection is closing".into()))?;
        let declared = declared as usize;
        let mut payload = Vec::new();
        while payload.len() < declared {
            let room = declared - payload.len();
            match timed(self.idle, self.recv.read_chunk(room, true)).await? {
                Some(chunk) => payload.extend_from_slice(&chunk.bytes),
                None => return Err(FrameError::Truncated { buffered: 4 + payload.len() }.into()),
            }
        }
        self.held = Some(permit);
        Ok(Some(payload))
    }

    /// Reads one message; `None` at a clean end of stream.
    pub async fn next(&mut self) -> Result<Option<Message>, WireError> {
        match self.payload().await? {
            Some(p) => Ok(Some(decode_payload(&p)?)),
            None => Ok(None),
        }
    }
}

/// Runs one read within the idle timeout, if there is one.
async fn timed<T, E: std::fmt::Display>(
    idle: Option<Duration>,
    read: impl Future<Output = Result<T, E>>,
) -> Result<T, WireError> {
    let done = match idle {
        Some(idle) => tokio::time::timeout(idle, read).await.map_err(|_| WireError::Idle(idle))?,
        None => read.await,
    };
    done.map_err(|e| WireError::Read(e.to_string()))
}

/// Writes one message.
pub async fn write(send: &mut SendStream, msg: &Message) -> Result<(), WireError> {
    let bytes = encode(msg)?;
    send.write_all(&bytes).await.map_err(|e| WireError::Write(e.to_string()))
}

/// Sends a stream's last word (a refusal, or the answer that ends it) and
/// ends the stream.
pub async fn end_with(send: &mut SendStream, last: &Message) -> Result<(), WireError> {
    write(send, last).await?;
    let _ = send.finish();
    Ok(())
}
