//! Control messages (`cmsg(3)`), encoded and decoded as typed values over plain byte
//! buffers.
//!
//! The walk is written over `&[u8]` rather than with `CMSG_FIRSTHDR`/`CMSG_NXTHDR` on a
//! `msghdr`, so that it needs no socket, checks every length against the buffer it was given,
//! and can be fuzzed. Header size and alignment still come from the C library's own
//! `CMSG_LEN`/`CMSG_SPACE`, so the layout is the platform's (glibc and musl both align to
//! `size_t`, but type `cmsg_len` differently; macOS aligns to 4 bytes).

use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::types::RecvMeta;

/// `SO_RXQ_OVFL` (asm-generic/socket.h): the drop counter, a `u32`.
#[cfg(target_os = "linux")]
pub(crate) const SO_RXQ_OVFL: libc::c_int = 40;
/// `SO_TIMESTAMPNS` (asm-generic/socket.h; the cmsg type is the same number): a `timespec`.
#[cfg(target_os = "linux")]
pub(crate) const SO_TIMESTAMPNS: libc::c_int = 35;

/// A control buffer aligned for `cmsghdr`, `N` bytes long.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub(crate) struct CmsgBuf<const N: usize>(pub(crate) [u8; N]);

impl<const N: usize> CmsgBuf<N> {
    pub(crate) const fn new() -> Self {
        CmsgBuf([0; N])
    }
}

/// Bytes of the header, padding included: where a message's data starts.
fn header_len() -> usize {
    // SAFETY: CMSG_LEN is arithmetic on its argument.
    to_usize(unsafe { libc::CMSG_LEN(0) })
}

/// `len` rounded up to the platform's cmsg alignment (`CMSG_ALIGN`, which libc does not
/// export: the difference of two `CMSG_SPACE`s is exactly it).
fn align(len: usize) -> Option<usize> {
    let len32 = u32::try_from(len).ok()?;
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let (with, without) = unsafe { (libc::CMSG_SPACE(len32), libc::CMSG_SPACE(0)) };
    Some(to_usize(with) - to_usize(without))
}

/// Bytes one message with `data_len` bytes of data takes in a buffer (`CMSG_SPACE`).
pub(crate) fn space(data_len: usize) -> usize {
    header_len() + align(data_len).unwrap_or(usize::MAX - header_len())
}

fn to_usize(v: libc::c_uint) -> usize {
    // c_uint is 32 bits on every platform Rust supports with a C library, so this widens.
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Types that are valid for any bit pattern, so they may be read from untrusted bytes.
///
/// # Safety
/// Implement only for plain C data without padding invariants, references or enums.
pub(super) unsafe trait Pod: Copy {}
// SAFETY: integers and the plain C structs below accept every bit pattern.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for u16 {}
// SAFETY: as above.
unsafe impl Pod for u32 {}
// SAFETY: as above.
unsafe impl Pod for libc::c_int {}
// SAFETY: as above.
unsafe impl Pod for libc::cmsghdr {}
// SAFETY: as above (two integers).
unsafe impl Pod for libc::timespec {}
// SAFETY: as above (an int and two in_addr).
#[cfg(any(target_os = "linux", target_vendor = "apple"))]
unsafe impl Pod for libc::in_pktinfo {}
// SAFETY: as above (in6_addr and an unsigned int).
unsafe impl Pod for libc::in6_pktinfo {}
// SAFETY: as above: socket addresses are integers and byte arrays.
unsafe impl Pod for libc::sockaddr {}
// SAFETY: as above.
unsafe impl Pod for libc::sockaddr_in {}
// SAFETY: as above.
unsafe impl Pod for libc::sockaddr_in6 {}

/// A `T` read from the start of `bytes`, or `None` if `bytes` is too short.
pub(super) fn read<T: Pod>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < mem::size_of::<T>() {
        return None;
    }
    // SAFETY: `bytes` holds at least size_of::<T>() bytes (checked), the read is unaligned,
    // and `T: Pod` makes any bit pattern a valid T.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// The control messages in `buf` (the bytes the kernel reported in `msg_controllen`), as
/// `(level, type, data)`. Stops at the first header that does not fit or whose length is
/// impossible, as `CMSG_NXTHDR` does; never reads outside `buf`.
pub(crate) fn walk(buf: &[u8]) -> Walk<'_> {
    Walk { buf, offset: 0 }
}

/// Iterator returned by [`walk`].
pub(crate) struct Walk<'a> {
    buf: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for Walk<'a> {
    type Item = (libc::c_int, libc::c_int, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.offset..)?;
        let h: libc::cmsghdr = read(rest)?;
        let len = usize::try_from(h.cmsg_len).ok()?;
        let hdr = header_len();
        if len < hdr || len > rest.len() {
            self.offset = self.buf.len();
            return None;
        }
        let data = &rest[hdr..len];
        self.offset = match align(len).and_then(|a| self.offset.checked_add(a)) {
            Some(o) => o,
            None => self.buf.len(),
        };
        Some((h.cmsg_level, h.cmsg_type, data))
    }
}

/// One control message this crate understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmsg {
    /// `UDP_GRO`: the size of each coalesced datagram.
    GroSegment(usize),
    /// `SO_RXQ_OVFL`: the socket's running drop count.
    Drops(u32),
    /// `SO_TIMESTAMPNS`: when the kernel received the datagram.
    Timestamp(Duration),
    /// `IP_PKTINFO` / `IPV6_PKTINFO`: the destination address and arrival interface.
    PacketInfo(IpAddr, u32),
    /// `IP_TOS` / `IPV6_TCLASS`.
    Tos(u8),
    /// `IP_TTL` / `IPV6_HOPLIMIT`.
    Ttl(u8),
}

/// A small C `int` (TTL, traffic class) as a byte, or `None` when out of range.
fn int_byte(data: &[u8]) -> Option<u8> {
    read::<libc::c_int>(data).and_then(|v| u8::try_from(v).ok())
}

/// Decodes one message; `None` for what is unknown or malformed (too short, out of range).
pub(crate) fn decode(level: libc::c_int, ty: libc::c_int, data: &[u8]) -> Option<Cmsg> {
    match (level, ty) {
        #[cfg(target_os = "linux")]
        (libc::SOL_UDP, libc::UDP_GRO) => {
            // The kernel writes an int; a non-positive size would split nothing.
            let v = read::<libc::c_int>(data)?;
            usize::try_from(v).ok().filter(|&s| s > 0).map(Cmsg::GroSegment)
        }
        #[cfg(target_os = "linux")]
        (libc::SOL_SOCKET, SO_RXQ_OVFL) => read::<u32>(data).map(Cmsg::Drops),
        #[cfg(target_os = "linux")]
        (libc::SOL_SOCKET, SO_TIMESTAMPNS) => {
            let ts = read::<libc::timespec>(data)?;
            let secs = u64::try_from(ts.tv_sec).ok()?;
            let nanos = u32::try_from(ts.tv_nsec).ok().filter(|&n| n < 1_000_000_000)?;
            Some(Cmsg::Timestamp(Duration::new(secs, nanos)))
        }
        #[cfg(any(target_os = "linux", target_vendor = "apple"))]
        (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
            let p = read::<libc::in_pktinfo>(data)?;
            let ip = Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr));
            Some(Cmsg::PacketInfo(IpAddr::V4(ip), u32::try_from(p.ipi_ifindex).ok()?))
        }
        (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
            let p = read::<libc::in6_pktinfo>(data)?;
            Some(Cmsg::PacketInfo(IpAddr::V6(Ipv6Addr::from(p.ipi6_addr.s6_addr)), p.ipi6_ifindex))
        }
        // Linux writes the TOS as one byte; BSDs (IP_RECVTOS) do too.
        #[cfg(target_os = "linux")]
        (libc::IPPROTO_IP, libc::IP_TOS) => read::<u8>(data).map(Cmsg::Tos),
        #[cfg(target_vendor = "apple")]
        (libc::IPPROTO_IP, libc::IP_RECVTOS) => read::<u8>(data).map(Cmsg::Tos),
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => int_byte(data).map(Cmsg::Tos),
        #[cfg(target_os = "linux")]
        (libc::IPPROTO_IP, libc::IP_TTL) => int_byte(data).map(Cmsg::Ttl),
        (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => int_byte(data).map(Cmsg::Ttl),
        _ => None,
    }
}

/// Fills `meta` from every message in `buf` it understands; the rest is ignored.
pub(crate) fn apply(buf: &[u8], meta: &mut RecvMeta) {
    for (level, ty, data) in walk(buf) {
        match decode(level, ty, data) {
            Some(Cmsg::GroSegment(s)) => meta.stride = s,
            Some(Cmsg::Drops(d)) => meta.drops = Some(d),
            Some(Cmsg::Timestamp(t)) => meta.timestamp = Some(t),
            Some(Cmsg::PacketInfo(ip, index)) => {
                meta.destination = Some(ip);
                meta.interface = Some(index);
            }
            Some(Cmsg::Tos(t)) => meta.tos = Some(t),
            Some(Cmsg::Ttl(t)) => meta.ttl = Some(t),
            None => {}
        }
    }
}

/// Writes one message at the start of `buf`; returns the bytes it takes (`CMSG_SPACE`), or
/// `None` when `buf` is too small.
pub(crate) fn encode(buf: &mut [u8], level: libc::c_int, ty: libc::c_int, data: &[u8]) -> Option<usize> {
    let total = space(data.len());
    let hdr = header_len();
    if buf.len() < total {
        return None;
    }
    // SAFETY: cmsghdr is plain C data (with private padding on musl); all-zero is valid.
    let mut h: libc::cmsghdr = unsafe { mem::zeroed() };
    // CMSG_LEN(data.len()): the header plus the data, without trailing padding. The field
    // is size_t on glibc and socklen_t on musl and the BSDs, hence the checked conversion.
    h.cmsg_len = (hdr + data.len()).try_into().ok()?;
    h.cmsg_level = level;
    h.cmsg_type = ty;
    buf[..total].fill(0);
    // SAFETY: `buf` has at least `total >= size_of::<cmsghdr>()` bytes (checked above);
    // the write is unaligned, so any buffer will do.
    unsafe { std::ptr::write_unaligned(buf.as_mut_ptr().cast::<libc::cmsghdr>(), h) };
    buf[hdr..hdr + data.len()].copy_from_slice(data);
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::test_support::proptest_config())]

        /// Any bytes: the walk ends, every message it yields lies inside the buffer, and
        /// decoding and applying never panic.
        #[test]
        fn walk_stays_inside_any_buffer(buf in proptest::collection::vec(any::<u8>(), 0..if cfg!(miri) { 100 } else { 400 })) {
            let range = buf.as_ptr_range();
            let mut n = 0;
            for (level, ty, data) in walk(&buf) {
                let d = data.as_ptr_range();
                prop_assert!(d.start >= range.start && d.end <= range.end);
                let _ = decode(level, ty, data);
                n += 1;
                prop_assert!(n <= buf.len());
            }
            let mut m = RecvMeta::unset();
            apply(&buf, &mut m);
        }

        /// What `encode` writes, `walk` reads back, in order, for any messages.
        #[test]
        fn encode_then_walk_round_trips(
            msgs in proptest::collection::vec((any::<i32>(), any::<i32>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..6),
        ) {
            let mut buf = Vec::new();
            for (level, ty, data) in &msgs {
                let mut one = vec![0u8; space(data.len())];
                prop_assert_eq!(encode(&mut one, *level, *ty, data), Some(one.len()));
                buf.extend(one);
            }
            let got: Vec<(i32, i32, Vec<u8>)> = walk(&buf).map(|(l, t, d)| (l, t, d.to_vec())).collect();
            prop_assert_eq!(got, msgs);
        }
    }

    fn one(level: libc::c_int, ty: libc::c_int, data: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; space(data.len())];
        assert_eq!(encode(&mut buf, level, ty, data), Some(buf.len()));
        buf
    }

    #[test]
    fn encodes_what_walk_decodes() {
        let mut buf = one(libc::IPPROTO_IPV6, libc::IPV6_TCLASS, &0xb8i32.to_ne_bytes());
        buf.extend(one(libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, &64i32.to_ne_bytes()));
        let got: Vec<_> = walk(&buf).map(|(l, t, d)| decode(l, t, d)).collect();
        assert_eq!(got, vec![Some(Cmsg::Tos(0xb8)), Some(Cmsg::Ttl(64))]);
        let mut m = RecvMeta::unset();
        apply(&buf, &mut m);
        assert_eq!((m.tos, m.ttl), (Some(0xb8), Some(64)));
    }

    #[test]
    fn stops_at_impossible_lengths() {
        let mut buf = one(libc::IPPROTO_IPV6, libc::IPV6_TCLASS, &1i32.to_ne_bytes());
        // A length below the header's, then one past the end: neither is read.
        for bad in [1usize, buf.len() + 1] {
            let mut b = buf.clone();
            let mut h: libc::cmsghdr = read(&b).unwrap();
            h.cmsg_len = bad.try_into().unwrap();
            // SAFETY: `b` holds a whole header.
            unsafe { std::ptr::write_unaligned(b.as_mut_ptr().cast(), h) };
            assert_eq!(walk(&b).count(), 0);
        }
        // A buffer cut short of its header yields nothing; one cut in its data neither.
        buf.truncate(buf.len() - 1);
        assert!(walk(&buf[..3]).next().is_none());
    }

    #[test]
    fn rejects_short_and_out_of_range_data() {
        assert_eq!(decode(libc::IPPROTO_IPV6, libc::IPV6_TCLASS, &[1, 2]), None);
        assert_eq!(decode(libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, &300i32.to_ne_bytes()), None);
        assert_eq!(decode(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &[0; 19]), None);
        assert!(encode(&mut [0u8; 4], libc::IPPROTO_IPV6, libc::IPV6_TCLASS, &[0; 4]).is_none());
    }

    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    #[test]
    fn decodes_linux_messages() {
        assert_eq!(decode(libc::SOL_UDP, libc::UDP_GRO, &1200i32.to_ne_bytes()), Some(Cmsg::GroSegment(1200)));
        assert_eq!(decode(libc::SOL_UDP, libc::UDP_GRO, &0i32.to_ne_bytes()), None);
        assert_eq!(decode(libc::SOL_SOCKET, SO_RXQ_OVFL, &7u32.to_ne_bytes()), Some(Cmsg::Drops(7)));
        assert_eq!(decode(libc::IPPROTO_IP, libc::IP_TOS, &[0xb8]), Some(Cmsg::Tos(0xb8)));
        let ts = libc::timespec { tv_sec: 5, tv_nsec: 6 };
        // SAFETY: timespec is plain data; viewing it as bytes reads nothing uninitialised
        // on 64-bit targets (two 8-byte fields, no padding).
        let bytes = unsafe { std::slice::from_raw_parts((&ts as *const libc::timespec).cast::<u8>(), mem::size_of_val(&ts)) };
        assert_eq!(decode(libc::SOL_SOCKET, SO_TIMESTAMPNS, bytes), Some(Cmsg::Timestamp(Duration::new(5, 6))));
        let mut pi = [0u8; 12];
        pi[..4].copy_from_slice(&3i32.to_ne_bytes());
        pi[8..].copy_from_slice(&[127, 0, 0, 9]);
        assert_eq!(decode(libc::IPPROTO_IP, libc::IP_PKTINFO, &pi), Some(Cmsg::PacketInfo("127.0.0.9".parse().unwrap(), 3)));
    }
}
