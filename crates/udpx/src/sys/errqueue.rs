//! The socket error queue (`IP_RECVERR`, `IPV6_RECVERR`; Linux): ICMP errors about datagrams
//! this socket sent (port or host unreachable, fragmentation needed, TTL exceeded), read with
//! `MSG_ERRQUEUE` so that they never surface as a failed receive or send.
//!
//! The parser works over the control message's bytes only (checked lengths, fuzzable); the
//! receive is one `recvmsg` through socket2.

use std::io;
use std::mem::{self, MaybeUninit};

use socket2::{MaybeUninitSlice, MsgHdrMut, SockAddr, SockAddrStorage, SockRef};

use super::cmsg::{self, CmsgBuf};
use super::unix::sockaddr_from_bytes;
use crate::types::{ErrorOrigin, IcmpError};

/// `struct sock_extended_err` (linux/errqueue.h): errno u32, origin, type, code, pad (u8
/// each), info u32, data u32; the offender's `sockaddr` follows it.
const EXTENDED_ERR_LEN: usize = 16;

/// `SO_EE_ORIGIN_*` (linux/errqueue.h).
const ORIGIN_LOCAL: u8 = 1;
const ORIGIN_ICMP: u8 = 2;
const ORIGIN_ICMP6: u8 = 3;

/// What one `IP_RECVERR`/`IPV6_RECVERR` control message says, with the original
/// destination left unset (it comes from the message's name, not its control data).
/// `None` for another message or one too short for `sock_extended_err`.
pub(crate) fn parse_extended_err(level: libc::c_int, ty: libc::c_int, data: &[u8]) -> Option<IcmpError> {
    let ours = matches!((level, ty), (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR));
    if !ours || data.len() < EXTENDED_ERR_LEN {
        return None;
    }
    let u32_at = |at: usize| data.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_ne_bytes);
    let origin = match data[4] {
        ORIGIN_LOCAL => ErrorOrigin::Local,
        ORIGIN_ICMP => ErrorOrigin::Icmp,
        ORIGIN_ICMP6 => ErrorOrigin::Icmp6,
        other => ErrorOrigin::Other(other),
    };
    Some(IcmpError {
        errno: i32::try_from(u32_at(0)?).unwrap_or(i32::MAX),
        origin,
        icmp_type: data[5],
        icmp_code: data[6],
        info: u32_at(8)?,
        // AF_UNSPEC (a local error) or too short: no offender.
        offender: sockaddr_from_bytes(&data[EXTENDED_ERR_LEN..]).map(|a| a.ip()),
        destination: None,
    })
}

/// Takes one entry off the error queue; `Ok(None)` when it is empty.
pub(crate) fn recv_error(socket: &SockRef<'_>) -> io::Result<Option<IcmpError>> {
    let mut control = CmsgBuf::<256>::new();
    // The payload (the head of the datagram the error is about) is not needed: a short
    // buffer, truncated.
    let mut payload = [0u8; 8];
    // SAFETY: an all-zero sockaddr_storage with its full length is a valid, empty address
    // for the kernel to fill.
    let mut name = unsafe { SockAddr::new(SockAddrStorage::zeroed(), mem::size_of::<libc::sockaddr_storage>().try_into().unwrap_or(0)) };
    // SAFETY: u8 has no invalid bit patterns, so viewing initialised bytes as
    // MaybeUninit<u8> is sound; recvmsg only writes into them.
    let data = unsafe { &mut *(&mut payload[..] as *mut [u8] as *mut [MaybeUninit<u8>]) };
    let mut bufs = [MaybeUninitSlice::new(data)];
    // SAFETY: as above, for the aligned control buffer.
    let ctrl = unsafe { &mut *(&mut control.0[..] as *mut [u8] as *mut [MaybeUninit<u8>]) };
    let mut msg = MsgHdrMut::new().with_addr(&mut name).with_buffers(&mut bufs).with_control(ctrl);
    let r = loop {
        match socket.recvmsg(&mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => break r,
        }
    };
    match r {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
        Err(e) => return Err(e),
    }
    let control_len = msg.control_len().min(control.0.len());
    drop(msg);
    let Some(mut err) = cmsg::walk(&control.0[..control_len]).find_map(|(l, t, d)| parse_extended_err(l, t, d)) else {
        // An entry without an extended error (not one this socket asked for): skip it.
        return Ok(Some(IcmpError::unknown()));
    };
    // SAFETY: the storage is a whole sockaddr_storage, initialised (zeroed, then written by
    // the kernel); the view covers it only.
    let bytes = unsafe { std::slice::from_raw_parts(name.as_ptr().cast::<u8>(), mem::size_of::<libc::sockaddr_storage>()) };
    err.destination = sockaddr_from_bytes(bytes);
    Ok(Some(err))
}

/// `IP_RECVERR` (and `IPV6_RECVERR` on an IPv6 socket, plus `IP_RECVERR` for IPv4-mapped
/// traffic where the kernel allows).
pub(crate) fn set_recv_errors(socket: &SockRef<'_>, v6: bool, on: bool) -> io::Result<()> {
    let v = libc::c_int::from(on);
    if v6 {
        super::linux::set_int_opt(socket, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, v)?;
        let _ = super::linux::set_int_opt(socket, libc::IPPROTO_IP, libc::IP_RECVERR, v);
        Ok(())
    } else {
        super::linux::set_int_opt(socket, libc::IPPROTO_IP, libc::IP_RECVERR, v)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn ext(errno: u32, origin: u8, ty: u8, code: u8, info: u32, offender: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&errno.to_ne_bytes());
        v.extend_from_slice(&[origin, ty, code, 0]);
        v.extend_from_slice(&info.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(offender);
        v
    }

    fn sin(a: [u8; 4]) -> Vec<u8> {
        let mut v = vec![0u8; mem::size_of::<libc::sockaddr_in>()];
        v[..2].copy_from_slice(&(libc::AF_INET as libc::sa_family_t).to_ne_bytes());
        v[4..8].copy_from_slice(&a);
        v
    }

    #[test]
    fn fragmentation_needed_with_mtu_and_offender() {
        let d = ext(libc::EMSGSIZE as u32, ORIGIN_ICMP, 3, 4, 1280, &sin([10, 0, 0, 1]));
        let e = parse_extended_err(libc::IPPROTO_IP, libc::IP_RECVERR, &d).unwrap();
        assert_eq!((e.errno, e.origin, e.icmp_type, e.icmp_code, e.info), (libc::EMSGSIZE, ErrorOrigin::Icmp, 3, 4, 1280));
        assert_eq!(e.offender, Some(IpAddr::from([10, 0, 0, 1])));
    }

    #[test]
    fn local_error_has_no_offender() {
        let d = ext(libc::EMSGSIZE as u32, ORIGIN_LOCAL, 0, 0, 1500, &[0u8; 16]);
        let e = parse_extended_err(libc::IPPROTO_IP, libc::IP_RECVERR, &d).unwrap();
        assert_eq!((e.origin, e.offender), (ErrorOrigin::Local, None));
    }

    #[test]
    fn short_or_foreign_messages_are_ignored() {
        let d = ext(1, ORIGIN_ICMP, 3, 3, 0, &[]);
        for n in 0..EXTENDED_ERR_LEN {
            assert_eq!(parse_extended_err(libc::IPPROTO_IP, libc::IP_RECVERR, &d[..n]), None);
        }
        assert!(parse_extended_err(libc::IPPROTO_IP, libc::IP_RECVERR, &d).is_some());
        assert_eq!(parse_extended_err(libc::IPPROTO_IP, libc::IP_TOS, &d), None);
        // A truncated offender: the error without one.
        let d = ext(1, ORIGIN_ICMP, 3, 3, 0, &sin([1, 2, 3, 4])[..6]);
        assert_eq!(parse_extended_err(libc::IPPROTO_IP, libc::IP_RECVERR, &d).unwrap().offender, None);
    }

    proptest::proptest! {
        #![proptest_config(crate::test_support::proptest_config())]

        /// Any bytes as an error-queue message: parsed only when long enough, each field what
        /// its bytes say, the offender what the sockaddr parser makes of the rest; and inside
        /// any control buffer the walk finds nothing it should not.
        #[test]
        fn any_bytes_parse_to_what_they_say(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..if cfg!(miri) { 60 } else { 200 })) {
            for (level, ty) in [(libc::IPPROTO_IP, libc::IP_RECVERR), (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)] {
                match parse_extended_err(level, ty, &data) {
                    None => proptest::prop_assert!(data.len() < EXTENDED_ERR_LEN),
                    Some(e) => {
                        proptest::prop_assert_eq!((e.icmp_type, e.icmp_code), (data[5], data[6]));
                        proptest::prop_assert_eq!(e.info, u32::from_ne_bytes(data[8..12].try_into().unwrap()));
                        proptest::prop_assert_eq!(e.offender, sockaddr_from_bytes(&data[EXTENDED_ERR_LEN..]).map(|a| a.ip()));
                    }
                }
            }
            let _ = cmsg::walk(&data).find_map(|(l, t, d)| parse_extended_err(l, t, d));
        }
    }
}
