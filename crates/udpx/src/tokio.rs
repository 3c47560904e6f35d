//! Async use from tokio: readiness from tokio's reactor, batched I/O by this crate.

use std::io;

use socket2::SockRef;
use tokio::io::Interest;

use crate::send::{rest_after, send};
use crate::{Payload, RecvBatch, Transmit, UdpSocket};

/// A [`UdpSocket`] registered with the current tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use udpx::{AsyncUdpSocket, BindOptions, Family, RecvBatch, Transmit, UdpSocket};
/// let rx = UdpSocket::new(Family::V4)?;
/// rx.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default())?;
/// let to = rx.local_addr()?;
/// let rx = AsyncUdpSocket::new(rx)?;
/// let tx = UdpSocket::new(Family::V4)?;
/// tx.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default())?;
/// let tx = AsyncUdpSocket::new(tx)?;
/// tx.send(&Transmit::new(Some(to), b"ping")).await?;
/// let mut batch = RecvBatch::new(16);
/// let n = rx.recv_batch(&mut batch).await?;
/// assert_eq!(batch.payload(n - 1), b"ping");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AsyncUdpSocket {
    io: tokio::net::UdpSocket,
    gso: std::sync::atomic::AtomicBool,
}

impl AsyncUdpSocket {
    /// Registers `socket` with the reactor of the current runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime with I/O enabled, as `tokio::net::UdpSocket::from_std` does.
    pub fn new(socket: UdpSocket) -> io::Result<Self> {
        let gso = std::sync::atomic::AtomicBool::new(socket.gso_enabled());
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
        self.io.async_io(Interest::READABLE, || batch.recv_from(&SockRef::from(&self.io), usize::MAX)).await
    }

    /// Sends one transmit (see [`UdpSocket::send`]), waiting while the send buffer is full.
    /// Returns how many datagrams were sent: all, or fewer when one failed.
    ///
    /// Not cancel safe: a cancelled call may have sent a prefix of a segmented transmit.
    pub async fn send(&self, transmit: &Transmit<'_>) -> io::Result<usize> {
        self.send_batch(std::slice::from_ref(transmit)).await
    }

    /// Sends `transmits` in order, many datagrams per system call, waiting while the send
    /// buffer is full. Returns how many datagrams were sent: all of them, or fewer when one
    /// failed (the next call from there reports its error).
    ///
    /// Not cancel safe: a cancelled call may have sent a prefix.
    pub async fn send_batch(&self, transmits: &[Transmit<'_>]) -> io::Result<usize> {
        // Position: transmit `idx`, of which `done` datagrams are already out.
        let (mut idx, mut done, mut sent) = (0usize, 0usize, 0usize);
        while idx < transmits.len() {
            let head = &transmits[idx];
            let rest;
            let r = if done == 0 {
                let batch = &transmits[idx..];
                self.io.async_io(Interest::WRITABLE, || send(&SockRef::from(&self.io), &self.gso, batch)).await
            } else {
                // A segmented transmit cut short: send what is left of it on its own.
                let size = head.segment_size.unwrap_or(usize::MAX);
                rest = rest_after(head.contents.parts(), done.saturating_mul(size));
                let t = Transmit { contents: Payload::Gathered(&rest), ..*head };
                self.io.async_io(Interest::WRITABLE, || send(&SockRef::from(&self.io), &self.gso, std::slice::from_ref(&t))).await
            };
            let mut n = match r {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if sent == 0 => return Err(e),
                Err(_) => break,
            };
            sent += n;
            while n > 0 && idx < transmits.len() {
                let left = transmits[idx].datagrams() - done;
                if n >= left {
                    n -= left;
                    idx += 1;
                    done = 0;
                } else {
                    done += n;
                    n = 0;
                }
            }
        }
        Ok(sent)
    }
}
