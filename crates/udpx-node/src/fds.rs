//! Descriptors as Node's loop sees them: what kind of handle one is, and which ones the
//! sockets of this JS thread own (libuv refuses to adopt one its loop already watches
//! (EEXIST), which stops two sockets from closing one descriptor).

use std::cell::RefCell;
use std::collections::HashSet;

use udpx::{RawFd, UdpSocket};

thread_local! {
    static OWNED_FDS: RefCell<HashSet<RawFd>> = RefCell::new(HashSet::new());
}

/// A descriptor (a `SOCKET` on Windows) from JS's number; `None` for one no socket can have.
pub(crate) fn from_js(fd: i32) -> Option<RawFd> {
    RawFd::try_from(fd).ok().filter(|_| fd >= 0)
}

/// A descriptor as JS sees it; `-EBADF` for a `SOCKET` beyond JS's int32.
pub(crate) fn to_js(fd: RawFd) -> i32 {
    i32::try_from(fd).unwrap_or(crate::error::EBADF)
}

/// Records `s`'s descriptor as owned by a socket of this thread.
pub(crate) fn own(s: &UdpSocket) {
    let fd = s.raw_fd();
    OWNED_FDS.with(|f| f.borrow_mut().insert(fd));
}

/// Forgets `s`'s descriptor (it is about to close).
pub(crate) fn release(s: &UdpSocket) {
    let fd = s.raw_fd();
    OWNED_FDS.with(|f| f.borrow_mut().remove(&fd));
}

/// Whether a socket of this thread owns `fd`.
pub(crate) fn is_owned(fd: RawFd) -> bool {
    OWNED_FDS.with(|f| f.borrow().contains(&fd))
}

/// What kind of handle `fd` is, in the words of Node's `guessHandleType`
/// (`'UDP'`, `'TCP'`, `'PIPE'`, `'TTY'`, `'FILE'` or `'UNKNOWN'`), as libuv's
/// `uv_guess_handle` decides it.
#[cfg(unix)]
pub(crate) fn handle_type(fd: i32) -> &'static str {
    use socket2::{Domain, SockRef, Type};
    use std::os::fd::BorrowedFd;

    if fd < 0 {
        return "UNKNOWN";
    }
    // SAFETY: all-zero is a valid `stat`; fstat writes only into it, and a bad fd gives -1.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
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
    // SAFETY: fstat just showed the descriptor open; the borrow ends with this function,
    // and a SockRef cannot close it.
    let b = unsafe { BorrowedFd::borrow_raw(fd) };
    let s = SockRef::from(&b);
    match (s.r#type(), s.local_addr().map(|a| a.domain())) {
        (Ok(Type::DGRAM), Ok(Domain::IPV4 | Domain::IPV6)) => "UDP",
        (Ok(Type::STREAM), Ok(Domain::IPV4 | Domain::IPV6)) => "TCP",
        (Ok(Type::STREAM), Ok(Domain::UNIX)) => "PIPE",
        _ => "UNKNOWN",
    }
}

/// libuv's `uv_guess_handle` on Windows looks at a C runtime descriptor's file type and never
/// answers UDP (a socket is a pipe to `GetFileType`), so `bind({ fd })` is refused there
/// by node:dgram as by udpx. Descriptors are not sockets on Windows; this says `'UNKNOWN'`.
#[cfg(windows)]
pub(crate) fn handle_type(_: i32) -> &'static str {
    "UNKNOWN"
}
