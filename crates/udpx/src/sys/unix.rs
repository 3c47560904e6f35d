//! Calls common to Unix platforms that socket2 does not wrap, and socket addresses read
//! from the bytes the kernel wrote.

use std::ffi::{CStr, CString};
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, RawFd};

use socket2::{SockAddr, SockRef, Socket};

use super::cmsg::read;

/// The socket address in `bytes` (a `sockaddr_in` or `sockaddr_in6` as the kernel wrote it,
/// `bytes.len()` being the length it reported), or `None` for another family or a length
/// too short for the family.
pub(crate) fn sockaddr_from_bytes(bytes: &[u8]) -> Option<SocketAddr> {
    let family = read::<libc::sockaddr>(bytes)?.sa_family;
    match libc::c_int::from(family) {
        libc::AF_INET => {
            let a = read::<libc::sockaddr_in>(bytes)?;
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            let a = read::<libc::sockaddr_in6>(bytes)?;
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(a.sin6_port), a.sin6_flowinfo, a.sin6_scope_id)))
        }
        _ => None,
    }
}

/// The bytes of `addr`, as a `sockaddr` of its own length (what a send passes the kernel).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn sockaddr_bytes(addr: &SockAddr) -> Vec<u8> {
    let len = usize::try_from(addr.len()).unwrap_or(0).min(mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: a SockAddr holds a sockaddr_storage, of which `len` bytes (bounded above) are
    // initialised address bytes.
    unsafe { std::slice::from_raw_parts(addr.as_ptr().cast::<u8>(), len) }.to_vec()
}

/// `if_nametoindex(3)`; 0 for an unknown name.
pub(crate) fn if_nametoindex(name: &str) -> u32 {
    let Ok(c) = CString::new(name) else { return 0 };
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

/// `if_indextoname(3)`.
pub(crate) fn if_indextoname(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes the call may write, NUL included.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the call wrote a NUL-terminated name into `buf`.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Runs `f` on `fd` borrowed as a socket, or fails with `EBADF` when it is not open.
pub(crate) fn with_socket<T>(fd: RawFd, f: impl FnOnce(SockRef<'_>) -> T) -> io::Result<T> {
    // SAFETY: F_GETFD only reads descriptor flags; it fails with EBADF for a closed fd.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the descriptor is open (checked above) and the borrow lives only for `f`,
    // which cannot close it through a SockRef.
    let b = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(f(SockRef::from(&b)))
}

/// The descriptor of `socket`.
pub(crate) fn raw_fd(socket: &Socket) -> RawFd {
    socket.as_raw_fd()
}

/// Takes ownership of `fd`, which the caller has checked is an open socket and gives up.
pub(crate) fn adopt_fd(fd: RawFd) -> Socket {
    // SAFETY: per the contract of `UdpSocket::from_fd`, `fd` is open and its ownership
    // passes to the returned socket, which alone closes it.
    Socket::from(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// A duplicate (`F_DUPFD_CLOEXEC`) of the open socket `fd`, owned by the caller.
pub(crate) fn dup_fd(fd: RawFd) -> io::Result<Socket> {
    with_socket(fd, |s| s.try_clone())?
}

/// `SO_REUSEPORT`: share the port; the kernel balances datagrams across the sockets.
pub(crate) fn set_reuse_port(socket: &SockRef<'_>) -> io::Result<()> {
    socket.set_reuse_port(true)
}

/// The TOS byte of outgoing datagrams: `IP_TOS`, or `IPV6_TCLASS` on an IPv6 socket.
pub(crate) fn set_tos(socket: &SockRef<'_>, v6: bool, tos: u8) -> io::Result<()> {
    if v6 {
        socket.set_tclass_v6(u32::from(tos))
    } else {
        socket.set_tos_v4(u32::from(tos))
    }
}

/// Dissolves a connected UDP socket's association (`connect` to `AF_UNSPEC`).
pub(crate) fn disconnect(socket: &Socket) -> io::Result<()> {
    // SAFETY: an all-zero sockaddr is a valid value; only its family is read.
    let mut addr: libc::sockaddr = unsafe { mem::zeroed() };
    addr.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
    let len = mem::size_of::<libc::sockaddr>() as libc::socklen_t;
    // SAFETY: `addr` is a live sockaddr of `len` bytes; the fd is owned by `socket`.
    let r = unsafe { libc::connect(socket.as_raw_fd(), &addr, len) };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    // BSDs answer AF_UNSPEC with EAFNOSUPPORT after disconnecting anyway.
    match e.raw_os_error() {
        Some(libc::EAFNOSUPPORT) => Ok(()),
        _ => Err(e),
    }
}

/// `MCAST_JOIN_SOURCE_GROUP` / `MCAST_LEAVE_SOURCE_GROUP` for the IPv6 source-specific group
/// (`source`, `group`) on interface `index` (0: the kernel's choice). The portable half, argument
/// checks and IPv4, is `common::set_source_membership`.
pub(crate) fn set_source_membership_v6(
    socket: &Socket,
    source: SocketAddrV6,
    group: SocketAddrV6,
    index: u32,
    join: bool,
) -> io::Result<()> {
    // SAFETY: group_source_req is plain data; all-zero is a valid value.
    let mut req: libc::group_source_req = unsafe { mem::zeroed() };
    req.gsr_interface = index;
    copy_sockaddr(&SockAddr::from(group), &mut req.gsr_group);
    copy_sockaddr(&SockAddr::from(source), &mut req.gsr_source);
    let opt = if join { libc::MCAST_JOIN_SOURCE_GROUP } else { libc::MCAST_LEAVE_SOURCE_GROUP };
    // SAFETY: `req` is a live group_source_req and the length passed is its size.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            opt,
            (&req as *const libc::group_source_req).cast(),
            mem::size_of::<libc::group_source_req>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn copy_sockaddr(from: &SockAddr, to: &mut libc::sockaddr_storage) {
    let len = usize::try_from(from.len()).unwrap_or(0).min(mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: both regions are valid for `len` bytes (bounded by the storage size above)
    // and do not overlap.
    unsafe { std::ptr::copy_nonoverlapping(from.as_ptr().cast::<u8>(), (to as *mut libc::sockaddr_storage).cast::<u8>(), len) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::test_support::proptest_config())]

        #[test]
        fn any_v4_or_v6_address_round_trips(ip in any::<[u8; 16]>(), v4 in any::<bool>(), port in any::<u16>(), flow in any::<u32>(), scope in any::<u32>()) {
            let a = if v4 {
                SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]), port))
            } else {
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope))
            };
            prop_assert_eq!(sockaddr_from_bytes(&sockaddr_bytes(&SockAddr::from(a))), Some(a));
        }

        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
            if let Some(a) = sockaddr_from_bytes(&bytes) {
                let need = if a.is_ipv4() { mem::size_of::<libc::sockaddr_in>() } else { mem::size_of::<libc::sockaddr_in6>() };
                prop_assert!(bytes.len() >= need);
            }
        }
    }

    #[test]
    fn reads_back_what_socket2_writes() {
        for s in ["127.0.0.1:5", "[::1]:7", "[fe80::1%3]:9"] {
            let a: SocketAddr = s.parse().unwrap();
            let bytes = sockaddr_bytes(&SockAddr::from(a));
            assert_eq!(sockaddr_from_bytes(&bytes), Some(a));
            // Every prefix shorter than the family's struct is refused.
            assert_eq!(sockaddr_from_bytes(&bytes[..bytes.len() - 1]), None);
        }
        assert_eq!(sockaddr_from_bytes(&[]), None);
    }
}
