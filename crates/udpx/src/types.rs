//! The plain data the rest of the crate passes around: what to send, what was received,
//! how to bind. A leaf module: it depends on nothing else in the crate, so the socket, the
//! send and receive paths and every platform backend can all use it without import loops.

use std::io::IoSlice;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use socket2::SockAddr;

/// The largest UDP payload plus one byte, so a receive can tell a full datagram from a
/// truncated one. Every slot of a [`RecvBatch`](crate::RecvBatch) has this size unless
/// chosen otherwise.
pub const MAX_DATAGRAM: usize = 65536;

/// Most datagrams the kernel takes in one segmented (GSO) send (`UDP_MAX_SEGMENTS`).
pub const MAX_GSO_SEGMENTS: usize = 64;

/// The address family of a socket (`udp4` or `udp6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6, which also carries IPv4-mapped traffic unless `ipv6_only` is set.
    V6,
}

impl Family {
    /// True for IPv6.
    pub fn is_v6(self) -> bool {
        self == Family::V6
    }
}

/// Flags applied between socket creation and `bind(2)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BindOptions {
    /// `SO_REUSEADDR`: bind a port another socket holds (multicast listeners do this).
    pub reuse_addr: bool,
    /// `SO_REUSEPORT`: share a port among sockets; the kernel balances datagrams across them.
    pub reuse_port: bool,
    /// `IPV6_V6ONLY`: refuse IPv4-mapped traffic on an IPv6 socket.
    pub ipv6_only: bool,
}

/// The bytes of a [`Transmit`]: one slice, or several gathered in order (saves copying
/// buffers that lie apart; the kernel reads them where they are).
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// One contiguous buffer.
    Contiguous(&'a [u8]),
    /// The concatenation of these slices.
    Gathered(&'a [&'a [u8]]),
}

impl<'a> Payload<'a> {
    /// The payload as a list of slices (one for a contiguous payload).
    pub fn parts(&self) -> &[&'a [u8]] {
        match self {
            Payload::Contiguous(b) => std::slice::from_ref(b),
            Payload::Gathered(p) => p,
        }
    }

    /// Bytes in the payload.
    pub fn len(&self) -> usize {
        match self {
            Payload::Contiguous(b) => b.len(),
            Payload::Gathered(p) => p.iter().map(|c| c.len()).sum(),
        }
    }

    /// True when the payload has no bytes (it still makes one empty datagram).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One unit of sending: a payload for one destination, sent as one datagram, or as many
/// equal-sized datagrams when `segment_size` is set.
///
/// With `segment_size`, the payload is cut into datagrams of that many bytes (the last may
/// be shorter), handed to the kernel as UDP GSO sends where it can segment, and as one
/// datagram each otherwise.
///
/// ```
/// use udpx::Transmit;
/// let to = "127.0.0.1:9".parse().unwrap();
/// let one = Transmit::new(Some(to), b"hello");
/// assert_eq!((one.len(), one.datagrams()), (5, 1));
/// let many = Transmit::new(Some(to), &[7u8; 2500]).with_segment_size(1000);
/// assert_eq!(many.datagrams(), 3); // 1000 + 1000 + 500 bytes
/// let parts = Transmit::gather(None, &[b"head", b"er"]);
/// assert_eq!(parts.len(), 6);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Transmit<'a> {
    /// Where to; `None` for the connected peer.
    pub destination: Option<SocketAddr>,
    /// The bytes.
    pub contents: Payload<'a>,
    /// Cut the payload into datagrams of this many bytes; `None` sends it as one datagram.
    /// Sizes of 0 or over 65535 are refused with `EINVAL` / `EMSGSIZE`.
    pub segment_size: Option<usize>,
}

impl<'a> Transmit<'a> {
    /// One datagram of `contents` to `destination` (`None`: the connected peer).
    pub fn new(destination: Option<SocketAddr>, contents: &'a [u8]) -> Self {
        Transmit { destination, contents: Payload::Contiguous(contents), segment_size: None }
    }

    /// One datagram of the concatenation of `parts`, gathered where they lie.
    pub fn gather(destination: Option<SocketAddr>, parts: &'a [&'a [u8]]) -> Self {
        Transmit { destination, contents: Payload::Gathered(parts), segment_size: None }
    }

    /// The same payload cut into datagrams of `size` bytes.
    pub fn with_segment_size(self, size: usize) -> Self {
        Transmit { segment_size: Some(size), ..self }
    }

    /// Bytes in the payload.
    pub fn len(&self) -> usize {
        self.contents.len()
    }

    /// True when the payload is empty (it still makes one empty datagram).
    pub fn is_empty(&self) -> bool {
        self.contents.is_empty()
    }

    /// How many datagrams the payload makes: 1 without a segment size or when empty.
    pub fn datagrams(&self) -> usize {
        match self.segment_size {
            Some(s) if s > 0 => self.len().div_ceil(s).max(1),
            _ => 1,
        }
    }
}

/// What the kernel said about one receive slot.
///
/// With GRO enabled ([`UdpSocket::set_gro`](crate::UdpSocket::set_gro)) a slot may hold
/// several datagrams from one sender, coalesced: each is `stride` bytes except the last
/// (see [`gro_segments`](crate::gro_segments)).
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
    /// Its TTL (IPv4) or hop limit (IPv6) on arrival, with `set_recv_metadata`.
    pub ttl: Option<u8>,
    /// When the kernel received it (since the Unix epoch), with `set_recv_metadata`.
    pub timestamp: Option<Duration>,
}

impl RecvMeta {
    /// A slot with nothing in it yet: from `0.0.0.0:0`, empty, no metadata.
    pub fn unset() -> Self {
        RecvMeta {
            source: SocketAddr::from(([0, 0, 0, 0], 0)),
            len: 0,
            stride: 0,
            truncated: false,
            drops: None,
            destination: None,
            interface: None,
            tos: None,
            ttl: None,
            timestamp: None,
        }
    }
}

/// One datagram as a backend sends it: the destination already in the kernel's form, the
/// payload as the iovecs that gather it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Datagram<'a> {
    pub(crate) destination: Option<&'a SockAddr>,
    pub(crate) contents: &'a [IoSlice<'a>],
}

/// Where an entry of the socket's error queue came from (`ee_origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOrigin {
    /// The sending host itself (a local path MTU, say).
    Local,
    /// An ICMP (IPv4) message from a router or the destination.
    Icmp,
    /// An ICMPv6 message.
    Icmp6,
    /// Another origin number (timestamping, zero-copy: not asked for by this crate).
    Other(u8),
}

/// One error-queue entry (`IP_RECVERR`/`IPV6_RECVERR`, Linux): an ICMP error about a
/// datagram this socket sent, or a local one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpError {
    /// The errno the kernel maps it to: `ECONNREFUSED` (port unreachable), `EHOSTUNREACH`
    /// (host unreachable, TTL exceeded), `ENETUNREACH`, `EMSGSIZE` (fragmentation needed,
    /// packet too big), ...; 0 when unknown.
    pub errno: i32,
    /// Who reported it.
    pub origin: ErrorOrigin,
    /// The ICMP type (3 destination unreachable, 11 time exceeded; ICMPv6: 1, 2, 3).
    pub icmp_type: u8,
    /// The ICMP code (3 port unreachable, 4 fragmentation needed, ...).
    pub icmp_code: u8,
    /// `ee_info`: the next-hop MTU for fragmentation needed / packet too big, else 0.
    pub info: u32,
    /// The address of the host that sent the ICMP message, when the kernel knows it.
    pub offender: Option<IpAddr>,
    /// The destination (address and port) of the datagram the error is about.
    pub destination: Option<SocketAddr>,
}

impl IcmpError {
    /// An entry the kernel gave without an extended error.
    pub(crate) fn unknown() -> Self {
        IcmpError { errno: 0, origin: ErrorOrigin::Other(0), icmp_type: 0, icmp_code: 0, info: 0, offender: None, destination: None }
    }
}
