//! Async use from tokio: readiness from tokio's reactor, batched I/O by this crate.

use std::io::{self, IoSlice};
use std::net::SocketAddr;

use socket2::{SockAddr, SockRef};
use tokio::io::Interest;

use crate::{RecvBatch, UdpSocket};

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
}

impl AsyncUdpSocket {
    /// Registers `socket` with the reactor of the current runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime with I/O enabled, as `tokio::net::UdpSocket::from_std` does.
    pub fn new(socket: UdpSocket) -> io::Result<Self> {
        let std: std::net::UdpSocket = socket.into();
        Ok(AsyncUdpSocket { io: tokio::net::UdpSocket::from_std(std)? })
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
            .async_io(Interest::READABLE, || batch.recv_from(&SockRef::from(&self.io)))
            .await
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
