//! UDP sockets with every unicast and multicast option, and the batched I/O the BSD socket
//! calls never made easy.
//!
//! [`UdpSocket`] is a non-blocking socket built on [`socket2`]: binding with reuse flags,
//! connect/disconnect, unicast and multicast options, and one send path — a [`Transmit`],
//! one datagram or many equal-sized ones, sent with `sendmmsg` and UDP GSO on Linux — plus
//! batched receives into a [`RecvBatch`] (`recvmmsg` and GRO on Linux, a `recvmsg` loop
//! elsewhere). With the `tokio` feature, [`AsyncUdpSocket`] wraps it for async Rust.
//!
//! ```
//! use udpx::{BindOptions, Family, RecvBatch, Transmit, UdpSocket};
//! # fn main() -> std::io::Result<()> {
//! let server = UdpSocket::new(Family::V4)?;
//! server.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default())?;
//! let client = UdpSocket::new(Family::V4)?;
//! client.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default())?;
//! client.send(&Transmit::new(Some(server.local_addr()?), b"hello"))?;
//!
//! let mut batch = RecvBatch::new(8);
//! # std::thread::sleep(std::time::Duration::from_millis(20));
//! let n = server.recv_batch(&mut batch)?;
//! assert_eq!(n, 1);
//! assert_eq!(batch.payload(0), b"hello");
//! # Ok(()) }
//! ```
//!
//! Errors are plain [`std::io::Error`]s carrying the OS error number. An option the
//! platform (or the portable backend, see [`backend`]) lacks fails with `ENOPROTOOPT`.
#![deny(missing_docs)]

pub mod packed;
mod recv;
mod send;
mod socket;
mod sys;
#[cfg(test)]
mod test_support;
#[cfg(feature = "tokio")]
mod tokio;
mod types;

#[cfg(feature = "tokio")]
pub use crate::tokio::AsyncUdpSocket;
pub use recv::{gro_segments, segment_count, GroSegments, RecvBatch};
pub use socket::UdpSocket;
pub use sys::RawFd;
pub use types::{BindOptions, ErrorOrigin, Family, IcmpError, Payload, RecvMeta, Transmit, MAX_DATAGRAM, MAX_GSO_SEGMENTS};

/// The name of the interface with index `index` (`if_indextoname(3)`).
pub fn interface_name(index: u32) -> Option<String> {
    sys::if_indextoname(index)
}

/// The index of the interface named `name` (`if_nametoindex(3)`); 0 when there is none.
pub fn interface_index(name: &str) -> u32 {
    sys::if_nametoindex(name)
}

/// Which I/O backend this build uses: `"linux"` (recvmmsg, sendmmsg, GSO, GRO),
/// `"windows"` (a system call per datagram, USO, URO on request) or `"portable"` (a system
/// call per datagram, no GSO or GRO: macOS, the BSDs, and Linux built with the
/// `portable-backend` feature).
pub fn backend() -> &'static str {
    sys::BACKEND
}

/// The byte-level parsers, public for the fuzz targets (`crates/udpx/fuzz`) only.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use std::net::SocketAddr;

    /// Bytes one control message with `data_len` bytes of data takes (`CMSG_SPACE`).
    pub fn control_space(data_len: usize) -> usize {
        crate::sys::cmsg::space(data_len)
    }

    /// Fills a [`RecvMeta`](crate::RecvMeta) from a control buffer as the kernel writes it.
    pub fn parse_control(buf: &[u8]) -> crate::RecvMeta {
        let mut m = crate::RecvMeta::unset();
        crate::sys::cmsg::apply(buf, &mut m);
        m
    }

    /// Every `(level, type, data length)` the walk finds in `buf`.
    pub fn walk_control(buf: &[u8]) -> Vec<(i32, i32, usize)> {
        crate::sys::cmsg::walk(buf).map(|(l, t, d)| (l, t, d.len())).collect()
    }

    /// Writes one control message; its size, or `None` when `buf` is too small.
    pub fn encode_control(buf: &mut [u8], level: i32, ty: i32, data: &[u8]) -> Option<usize> {
        crate::sys::cmsg::encode(buf, level, ty, data)
    }

    /// A socket address from the bytes of a `sockaddr`.
    pub fn sockaddr_from_bytes(bytes: &[u8]) -> Option<SocketAddr> {
        crate::sys::sockaddr_from_bytes(bytes)
    }

    /// The `sockaddr` bytes socket2 makes for `addr`.
    pub fn sockaddr_bytes(addr: SocketAddr) -> Vec<u8> {
        crate::sys::sockaddr_bytes(&socket2::SockAddr::from(addr))
    }

    /// What one error-queue control message (`IP_RECVERR`/`IPV6_RECVERR`) says.
    #[cfg(target_os = "linux")]
    pub fn parse_icmp_error(level: i32, ty: i32, data: &[u8]) -> Option<crate::IcmpError> {
        crate::sys::parse_extended_err(level, ty, data)
    }

    /// The first error-queue entry found in a whole control buffer, as a receive finds it.
    #[cfg(target_os = "linux")]
    pub fn find_icmp_error(buf: &[u8]) -> Option<crate::IcmpError> {
        crate::sys::cmsg::walk(buf).find_map(|(l, t, d)| crate::sys::parse_extended_err(l, t, d))
    }

    /// The gathered payload after `skip` bytes, concatenated; and `n`-byte cuts of it.
    pub fn cut(parts: &[&[u8]], sizes: &[usize]) -> Vec<Vec<u8>> {
        crate::send::cut(parts, sizes)
    }
}
