//! Batched receive: many datagrams per system call into one reusable buffer.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::SockRef;

use crate::sys;

/// The largest UDP payload plus one byte, so a receive can tell a full datagram from a
/// truncated one. Every slot of a [`RecvBatch`] has this size unless chosen otherwise.
pub const MAX_DATAGRAM: usize = 65536;

/// Most segments the kernel takes in one GSO send (`UDP_MAX_SEGMENTS`).
pub const MAX_GSO_SEGMENTS: usize = 64;
/// Most bytes in one GSO send, under the 64 KiB IP datagram limit with headers.
const MAX_GSO_BYTES: usize = 65000;

/// `buf` as `segment_size` datagrams to `destination`: GSO while `gso` holds (cleared for
/// good when the device cannot segment), else `sendmmsg`. Returns how many were sent;
/// fails only when none was.
pub(crate) fn send_segments(
    socket: &SockRef<'_>,
    gso: &AtomicBool,
    buf: &[u8],
    segment_size: usize,
    destination: Option<SocketAddr>,
) -> io::Result<usize> {
    if segment_size == 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let datagrams: Vec<&[u8]> = if buf.is_empty() { vec![buf] } else { buf.chunks(segment_size).collect() };
    send_datagrams(socket, gso, &datagrams, segment_size, destination)
}

/// `datagrams` (each `segment_size` bytes but the last, which may be shorter) to
/// `destination`, gathered from where they lie: one GSO `sendmsg` per 64 while `gso` holds,
/// else `sendmmsg`. Returns how many were sent; fails only when none was.
pub(crate) fn send_datagrams(
    socket: &SockRef<'_>,
    gso: &AtomicBool,
    datagrams: &[&[u8]],
    segment_size: usize,
    destination: Option<SocketAddr>,
) -> io::Result<usize> {
    if segment_size == 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    if segment_size > u16::MAX as usize {
        return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
    }
    let per_call = MAX_GSO_SEGMENTS.min(MAX_GSO_BYTES / segment_size).max(1);
    let mut sent = 0;
    while sent < datagrams.len() {
        let chunk = &datagrams[sent..datagrams.len().min(sent + per_call)];
        let n = chunk.len();
        let plain = || {
            let msgs: Vec<Transmit<'_>> = chunk.iter().map(|&contents| Transmit { destination, contents }).collect();
            sys::send_batch(socket, &msgs)
        };
        let r = if n > 1 && gso.load(Ordering::Relaxed) {
            match sys::send_gso(socket, chunk, segment_size as u16, destination) {
                Ok(_) => Ok(n),
                Err(e) if sys::gso_unsupported(&e) => {
                    gso.store(false, Ordering::Relaxed);
                    plain()
                }
                // Segments over the path MTU (EINVAL) or a send the kernel will not take
                // whole (EMSGSIZE) go the plain way, where the kernel may fragment them;
                // GSO stays on for the next send.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EMSGSIZE)) => plain(),
                Err(e) => Err(e),
            }
        } else {
            plain()
        };
        match r {
            Ok(k) => {
                sent += k;
                if k < n {
                    break;
                }
            }
            Err(e) if sent == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(sent)
}

/// What the kernel said about one receive slot.
///
/// With GRO enabled ([`UdpSocket::set_gro`](crate::UdpSocket::set_gro)) a slot may hold
/// several datagrams from one sender, coalesced: each is `stride` bytes except the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// Who sent it.
    pub source: SocketAddr,
    /// Bytes stored in the slot.
    pub len: usize,
    /// Size of each coalesced datagram; equals `len` when the slot holds one.
    pub stride: usize,
    /// True when the datagram was larger than its slot and the rest was discarded.
    pub truncated: bool,
    /// The socket's running count of datagrams the kernel dropped for lack of buffer
    /// space (`SO_RXQ_OVFL`), when enabled with
    /// [`UdpSocket::set_drop_counting`](crate::UdpSocket::set_drop_counting). The kernel
    /// attaches it only once the count is above zero, so `None` may also mean none yet.
    pub drops: Option<u32>,
    /// The address the datagram was sent to (a multicast group, broadcast, or one of this
    /// host's addresses), with [`UdpSocket::set_recv_metadata`](crate::UdpSocket::set_recv_metadata).
    pub destination: Option<IpAddr>,
    /// The index of the interface it arrived on, with `set_recv_metadata`.
    pub interface: Option<u32>,
    /// Its TOS byte (IPv4) or traffic class (IPv6): DSCP << 2 | ECN, with `set_recv_metadata`.
    pub tos: Option<u8>,
    /// When the kernel received it (since the Unix epoch), with `set_recv_metadata`.
    pub timestamp: Option<Duration>,
}

impl RecvMeta {
    pub(crate) fn unset() -> Self {
        RecvMeta {
            source: SocketAddr::from(([0, 0, 0, 0], 0)),
            len: 0,
            stride: 0,
            truncated: false,
            drops: None,
            destination: None,
            interface: None,
            tos: None,
            timestamp: None,
        }
    }

    /// How many datagrams the slot holds.
    pub fn segments(&self) -> usize {
        if self.stride == 0 || self.len == 0 {
            1
        } else {
            self.len.div_ceil(self.stride)
        }
    }
}

/// One datagram to send with [`UdpSocket::send_batch`](crate::UdpSocket::send_batch).
#[derive(Debug, Clone, Copy)]
pub struct Transmit<'a> {
    /// Where to; `None` for the connected peer.
    pub destination: Option<SocketAddr>,
    /// The payload.
    pub contents: &'a [u8],
}

/// Storage for up to `capacity` datagrams, reused across receives so that the receive path
/// allocates nothing per datagram.
#[derive(Debug)]
pub struct RecvBatch {
    scratch: sys::RecvScratch,
    storage: Vec<u8>,
    slot: usize,
    metas: Vec<RecvMeta>,
    len: usize,
}

impl RecvBatch {
    /// A batch of `capacity` slots of [`MAX_DATAGRAM`] bytes.
    pub fn new(capacity: usize) -> Self {
        Self::with_slot_size(capacity, MAX_DATAGRAM)
    }

    /// A batch of `capacity` slots of `slot` bytes each (both at least 1).
    pub fn with_slot_size(capacity: usize, slot: usize) -> Self {
        let capacity = capacity.max(1);
        let slot = slot.max(1);
        let unset = RecvMeta::unset();
        RecvBatch {
            scratch: sys::RecvScratch::default(),
            storage: vec![0; capacity * slot],
            slot,
            metas: vec![unset; capacity],
            len: 0,
        }
    }

    /// How many datagrams one receive can hold.
    pub fn capacity(&self) -> usize {
        self.metas.len()
    }

    /// How many datagrams the last receive stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the last receive stored nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The payload of datagram `i` of the last receive.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn payload(&self, i: usize) -> &[u8] {
        let m = self.meta(i);
        &self.storage[i * self.slot..i * self.slot + m.len]
    }

    /// The metadata of datagram `i` of the last receive.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn meta(&self, i: usize) -> &RecvMeta {
        assert!(i < self.len, "datagram index {i} out of range ({})", self.len);
        &self.metas[i]
    }

    /// Each datagram of the last receive in order, GRO-coalesced slots split apart:
    /// `(payload, source)`.
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> + '_ {
        (0..self.len).flat_map(move |i| {
            let m = self.metas[i];
            let payload = self.payload(i);
            let stride = if m.stride == 0 { payload.len().max(1) } else { m.stride };
            let chunks: Box<dyn Iterator<Item = &[u8]>> = if payload.is_empty() {
                Box::new(std::iter::once(payload))
            } else {
                Box::new(payload.chunks(stride))
            };
            chunks.map(move |c| (c, m.source))
        })
    }

    pub(crate) fn recv_from(&mut self, socket: &SockRef<'_>, max: usize) -> io::Result<usize> {
        self.len = 0;
        let limit = max.clamp(1, self.metas.len());
        let n = sys::recv_batch(socket, &mut self.scratch, &mut self.storage, self.slot, &mut self.metas[..limit])?;
        self.len = n;
        Ok(n)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{BindOptions, Family, UdpSocket};
    use std::time::{Duration, Instant};

    /// Receives into `batch`, waiting up to two seconds for the first datagram.
    pub(crate) fn recv_wait(s: &UdpSocket, batch: &mut RecvBatch) -> usize {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match s.recv_batch(batch) {
                Ok(n) => return n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(e) => panic!("recv_batch: {e}"),
            }
        }
    }

    fn pair() -> (UdpSocket, UdpSocket) {
        let mk = || {
            let s = UdpSocket::new(Family::V4).unwrap();
            s.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default()).unwrap();
            s
        };
        (mk(), mk())
    }

    #[test]
    fn receives_many_in_order_with_sizes() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        for i in 0..10u8 {
            a.send_to(&[&vec![i; i as usize]], to).unwrap();
        }
        let mut batch = RecvBatch::new(4);
        let mut seen = Vec::new();
        while seen.len() < 10 {
            let n = recv_wait(&b, &mut batch);
            assert!(n >= 1 && n <= 4);
            for i in 0..n {
                assert_eq!(batch.meta(i).source, a.local_addr().unwrap());
                assert!(!batch.meta(i).truncated);
                seen.push(batch.payload(i).to_vec());
            }
        }
        for (i, p) in seen.iter().enumerate() {
            assert_eq!(p, &vec![i as u8; i]);
        }
    }

    #[test]
    fn flags_truncation_and_empty_datagrams() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        a.send_to(&[b"0123456789"], to).unwrap();
        a.send_to(&[b""], to).unwrap();
        let mut batch = RecvBatch::with_slot_size(2, 4);
        let mut got = Vec::new();
        while got.len() < 2 {
            let n = recv_wait(&b, &mut batch);
            for i in 0..n {
                got.push((batch.payload(i).to_vec(), batch.meta(i).truncated));
            }
        }
        assert_eq!(got[0], (b"0123".to_vec(), true));
        assert_eq!(got[1], (Vec::new(), false));
    }

    #[test]
    fn empty_queue_would_block() {
        let (_a, b) = pair();
        let mut batch = RecvBatch::new(1);
        let e = b.recv_batch(&mut batch).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(batch.is_empty());
    }
}
