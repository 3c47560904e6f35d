//! Async use from tokio: readiness from tokio's reactor, batched I/O by this crate.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;

use socket2::{SockAddr, SockRef};
use tokio::io::Interest;

use crate::{RecvBatch, Transmit, UdpSocket};

/// A [`UdpSocket`] registered with the current tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use udpx::{AsyncUdpSocket, BindOptions, Family, RecvBatch, UdpSocket};
/// let rx = UdpSocket::new(Family::V4)?;
/// rx.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default())?;
/// let to = rx.local_addr()?;
/// let rx = AsyncUdpSocket::new(rx)?;
/// let tx = UdpSocket::new(Family::V4)?;
/// tx.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default())?;
/// let tx = AsyncUdpSocket::new(tx)?;
/// tx.send_to(&[b"ping"], to).await?;
/// let mut batch = RecvBatch::new(16);
/// let n = rx.recv_batch(&mut batch).await?;
/// assert_eq!(batch.payload(n - 1), b"ping");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AsyncUdpSocket {
    io: tokio::net::UdpSocket,
    gso: AtomicBool,
}

impl AsyncUdpSocket {
    /// Registers `socket` with the reactor of the current runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime with I/O enabled, as `tokio::net::UdpSocket::from_std` does.
    pub fn new(socket: UdpSocket) -> io::Result<Self> {
        let gso = AtomicBool::new(socket.gso_enabled());
        let std: std::net::UdpSocket = socket.into();
        Ok(AsyncUdpSocket { io: tokio::net::UdpSocket::from_std(std)?, gso })
    }

    /// The tokio socket, for its options and addresses.
    pub fn get_ref(&self) -> &tokio::net::UdpSocket {
        &self.io
    }

    /// Waits until at least one datagram is queued, then receives as many as fit.
    ///
    /// Cancel safe: a cancelled call has received nothing.
    pub async fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        self.io
            .async_io(Interest::READABLE, || batch.recv_from(&SockRef::from(&self.io), usize::MAX))
            .await
    }

    /// Sends `msgs` in order, many per system call, waiting while the send buffer is full.
    /// Returns how many were sent: all of them, or fewer when one failed (the next call
    /// from there reports its error).
    ///
    /// Not cancel safe: a cancelled call may have sent a prefix of `msgs`.
    pub async fn send_batch(&self, msgs: &[Transmit<'_>]) -> io::Result<usize> {
        let mut sent = 0;
        while sent < msgs.len() {
            let rest = &msgs[sent..];
            let r = self.io.async_io(Interest::WRITABLE, || crate::sys::send_batch(&SockRef::from(&self.io), rest)).await;
            match r {
                Ok(n) => sent += n,
                Err(e) if sent == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(sent)
    }

    /// Sends `buf` as datagrams of `segment_size` bytes (the last may be shorter) to
    /// `destination`, with UDP GSO where the kernel has it; waits while the send buffer is
    /// full. Returns how many datagrams were sent.
    ///
    /// Not cancel safe: a cancelled call may have sent a prefix.
    pub async fn send_segments(&self, buf: &[u8], segment_size: usize, destination: Option<SocketAddr>) -> io::Result<usize> {
        let total = buf.len().div_ceil(segment_size.max(1)).max(1);
        let mut sent = 0;
        while sent < total {
            let rest = &buf[(sent * segment_size).min(buf.len())..];
            let r = self
                .io
                .async_io(Interest::WRITABLE, || {
                    crate::batch::send_segments(&SockRef::from(&self.io), &self.gso, rest, segment_size, destination)
                })
                .await;
            match r {
                Ok(n) => sent += n,
                Err(e) if sent == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(sent)
    }

    /// Sends the concatenation of `bufs` as one datagram to `addr`, waiting while the
    /// send buffer is full.
    ///
    /// Cancel safe: a cancelled call has sent nothing.
    pub async fn send_to(&self, bufs: &[&[u8]], addr: SocketAddr) -> io::Result<usize> {
        let to = SockAddr::from(addr);
        let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        self.io
            .async_io(Interest::WRITABLE, || SockRef::from(&self.io).send_to_vectored(&slices, &to))
            .await
    }
}
