//! The server's UDP socket, with room to queue a fleet's datagrams.
//!
//! Every device's QUIC packets arrive on this one socket. With Linux's
//! default receive buffer (208 KiB), 200 devices syncing at once filled
//! it: the kernel dropped 3,745 datagrams during one W3 run
//! (`RcvbufErrors` in /proc/net/snmp), and QUIC found each loss only after
//! a probe timeout, with the CPU idle meanwhile. The socket asks for
//! [`BUFFER`] each way; the kernel grants at most `net.core.rmem_max`
//! (`wmem_max` for sending), and a smaller grant is logged with the
//! setting that raises it.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// What the socket asks the kernel to hold, each way.
pub const BUFFER: usize = 4 << 20;

/// A UDP socket bound to `addr`, its buffers as large as the kernel allows
/// up to [`BUFFER`].
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Refused sizes are not errors: the kernel caps them, and the grant is
    // checked below.
    let _ = socket.set_recv_buffer_size(BUFFER);
    let _ = socket.set_send_buffer_size(BUFFER);
    socket.bind(&addr.into())?;
    let granted = granted(socket.recv_buffer_size()?);
    if granted < BUFFER {
        tracing::warn!(
            granted,
            wanted = BUFFER,
            "the UDP receive buffer is smaller than asked: with many devices syncing at once, datagrams are \
             dropped and syncs stall; raise it with `sysctl -w net.core.rmem_max={BUFFER}`"
        );
    }
    Ok(socket.into())
}

/// What the kernel holds, from what it reports: Linux reports twice what
/// was granted (the rest is its bookkeeping).
fn granted(reported: usize) -> usize {
    if cfg!(target_os = "linux") { reported / 2 } else { reported }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_socket_gets_what_the_kernel_allows() {
        let socket = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let got = granted(Socket::from(socket).recv_buffer_size().unwrap());
        // As much as asked, or all the kernel allows.
        let max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .map_or(BUFFER, |s| s.trim().parse().unwrap());
        assert_eq!(got, BUFFER.min(max));
    }
}
