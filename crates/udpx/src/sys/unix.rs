//! Calls common to Unix platforms that socket2 does not wrap.

use std::ffi::{CStr, CString};
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, RawFd};

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use crate::Family;

/// `if_nametoindex(3)`; 0 for an unknown name, as libuv's zone parsing gives.
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
fn with_fd<T>(fd: RawFd, f: impl FnOnce(SockRef<'_>) -> T) -> io::Result<T> {
    // SAFETY: F_GETFD only reads descriptor flags; it fails with EBADF for a closed fd.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the descriptor is open (checked above) and the borrow lives only for `f`,
    // which cannot close it through a SockRef.
    let b = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(f(SockRef::from(&b)))
}

/// Takes ownership of `fd`, which the caller has checked is an open socket and gives up.
pub(crate) fn adopt_fd(fd: RawFd) -> Socket {
    // SAFETY: per the contract of `UdpSocket::from_fd`, `fd` is open and its ownership
    // passes to the returned socket, which alone closes it.
    Socket::from(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// A duplicate (`F_DUPFD_CLOEXEC`) of the open socket `fd`, owned by the caller.
pub(crate) fn dup_fd(fd: RawFd) -> io::Result<Socket> {
    with_fd(fd, |s| s.try_clone())?
}

/// The family of `fd` if it is a UDP socket of an IP family; `EINVAL` otherwise.
pub(crate) fn udp_family(fd: RawFd) -> io::Result<Family> {
    let einval = || io::Error::from_raw_os_error(libc::EINVAL);
    let (ty, domain) = with_fd(fd, |s| (s.r#type(), s.local_addr().map(|a| a.domain())))?;
    match (ty, domain) {
        (Ok(Type::DGRAM), Ok(Domain::IPV4)) => Ok(Family::V4),
        (Ok(Type::DGRAM), Ok(Domain::IPV6)) => Ok(Family::V6),
        _ => Err(einval()),
    }
}

/// What kind of handle `fd` is, in the words of Node's `guessHandleType`
/// (`'UDP'`, `'TCP'`, `'PIPE'`, `'TTY'`, `'FILE'` or `'UNKNOWN'`), as libuv's
/// `uv_guess_handle` decides it.
pub fn handle_type(fd: RawFd) -> &'static str {
    if fd < 0 {
        return "UNKNOWN";
    }
    // SAFETY: fstat writes only into `st`, which is sized for it; a bad fd gives -1.
    let mut st: libc::stat = unsafe { mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return "UNKNOWN";
    }
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(fd) } == 1 {
        return "TTY";
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFCHR => return "FILE",
        libc::S_IFIFO => return "PIPE",
        libc::S_IFSOCK => {}
        _ => return "UNKNOWN",
    }
    let Ok((ty, domain)) = with_fd(fd, |s| (s.r#type(), s.local_addr().map(|a| a.domain())))
    else {
        return "UNKNOWN";
    };
    match (ty, domain) {
        (Ok(Type::DGRAM), Ok(Domain::IPV4 | Domain::IPV6)) => "UDP",
        (Ok(Type::STREAM), Ok(Domain::IPV4 | Domain::IPV6)) => "TCP",
        (Ok(Type::STREAM), Ok(Domain::UNIX)) => "PIPE",
        _ => "UNKNOWN",
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

/// Joins or leaves a source-specific multicast group.
pub(crate) fn set_source_membership(
    socket: &Socket,
    source: SocketAddr,
    group: SocketAddr,
    iface: Option<SocketAddr>,
    join: bool,
) -> io::Result<()> {
    let einval = || io::Error::from_raw_os_error(libc::EINVAL);
    match (source, group) {
        (SocketAddr::V4(s), SocketAddr::V4(g)) => {
            let ifa = match iface {
                Some(SocketAddr::V4(i)) => *i.ip(),
                Some(_) => return Err(einval()),
                None => std::net::Ipv4Addr::UNSPECIFIED,
            };
            if join {
                socket.join_ssm_v4(s.ip(), g.ip(), &ifa)
            } else {
                socket.leave_ssm_v4(s.ip(), g.ip(), &ifa)
            }
        }
        (SocketAddr::V6(_), SocketAddr::V6(_)) => {
            let index = match iface {
                Some(SocketAddr::V6(i)) => i.scope_id(),
                Some(_) => return Err(einval()),
                None => 0,
            };
            // SAFETY: group_source_req is plain data; all-zero is a valid value.
            let mut req: libc::group_source_req = unsafe { mem::zeroed() };
            req.gsr_interface = index;
            copy_sockaddr(&SockAddr::from(group), &mut req.gsr_group);
            copy_sockaddr(&SockAddr::from(source), &mut req.gsr_source);
            let opt = if join {
                libc::MCAST_JOIN_SOURCE_GROUP
            } else {
                libc::MCAST_LEAVE_SOURCE_GROUP
            };
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
            if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
        }
        _ => Err(einval()),
    }
}

fn copy_sockaddr(from: &SockAddr, to: &mut libc::sockaddr_storage) {
    let len = (from.len() as usize).min(mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: both regions are valid for `len` bytes (bounded by the storage size above)
    // and do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            from.as_ptr().cast::<u8>(),
            (to as *mut libc::sockaddr_storage).cast::<u8>(),
            len,
        )
    }
}
