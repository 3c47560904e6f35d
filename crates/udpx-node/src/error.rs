//! OS errors as the negative errno values libuv (and so Node's handle methods) return, and
//! the constants the facade needs: one source for errno values and bind flags, exported to
//! JS so that the TypeScript side never writes them as literals.
//!
//! libuv's error numbers are `-errno` on Unix; on Windows they are libuv's own (uv/errno.h),
//! the numbers Node's `util.getSystemErrorName` knows there, and OS errors (Winsock's) are
//! translated by libuv's `uv_translate_sys_error`, as Node's own handles do.

use std::io;

use napi_derive::napi;

#[cfg(unix)]
mod codes {
    pub(crate) const EAGAIN: i32 = -libc::EAGAIN;
    pub(crate) const EBADF: i32 = -libc::EBADF;
    pub(crate) const EINVAL: i32 = -libc::EINVAL;
    pub(crate) const EEXIST: i32 = -libc::EEXIST;
    pub(crate) const EDESTADDRREQ: i32 = -libc::EDESTADDRREQ;
    pub(crate) const EISCONN: i32 = -libc::EISCONN;
    pub(crate) const ECANCELED: i32 = -libc::ECANCELED;
    pub(crate) const EAFNOSUPPORT: i32 = -libc::EAFNOSUPPORT;
}

#[cfg(windows)]
mod codes {
    pub(crate) const EAGAIN: i32 = -4088;
    pub(crate) const EBADF: i32 = -4083;
    pub(crate) const EINVAL: i32 = -4071;
    pub(crate) const EEXIST: i32 = -4075;
    pub(crate) const EDESTADDRREQ: i32 = -4076;
    pub(crate) const EISCONN: i32 = -4069;
    pub(crate) const ECANCELED: i32 = -4081;
    pub(crate) const EAFNOSUPPORT: i32 = -4089;
    pub(crate) const ENOPROTOOPT: i32 = -4035;
    pub(crate) const UNKNOWN: i32 = -4094;
    /// `WSAENOPROTOOPT`, which `uv_translate_sys_error` leaves `UNKNOWN`.
    pub(crate) const WSAENOPROTOOPT: i32 = 10042;
}

/// libuv's code for `e`: `-errno` (Unix) or the translated Winsock error (Windows); the
/// code itself for errors made by [`from_uv`]; `EINVAL` for errors that carry none.
pub(crate) fn uv_code(e: &io::Error) -> i32 {
    if let Some(UvError(code)) = e.get_ref().and_then(|inner| inner.downcast_ref::<UvError>()) {
        return *code;
    }
    match e.raw_os_error() {
        #[cfg(unix)]
        Some(errno) => -errno,
        #[cfg(windows)]
        Some(code) => match crate::uv::translate_sys_error(code) {
            codes::UNKNOWN if code == codes::WSAENOPROTOOPT => codes::ENOPROTOOPT,
            uv => uv,
        },
        None => EINVAL,
    }
}

/// A libuv return code (negative) carried as an `io::Error`, so that [`uv_code`] gives it
/// back unchanged on every platform.
pub(crate) fn from_uv(code: i32) -> io::Error {
    io::Error::other(UvError(code))
}

#[derive(Debug)]
struct UvError(i32);

impl std::fmt::Display for UvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "libuv error {}", self.0)
    }
}

impl std::error::Error for UvError {}

/// Folds a result into libuv's convention: `0` or `-errno`.
pub(crate) fn status(r: io::Result<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => uv_code(&e),
    }
}

/// `-EAGAIN`: the kernel cannot take the datagram now; it waits in the send queue.
#[napi]
pub const UV_EAGAIN: i32 = crate::error::codes::EAGAIN;
/// `-EBADF`: what every call on a socket without a descriptor returns, as in libuv.
#[napi]
pub const UV_EBADF: i32 = crate::error::codes::EBADF;
/// `-EINVAL`: an address libuv's parser would reject.
#[napi]
pub const UV_EINVAL: i32 = crate::error::codes::EINVAL;
/// `-EEXIST`: a descriptor already adopted, or one Node's loop watches.
#[napi]
pub const UV_EEXIST: i32 = crate::error::codes::EEXIST;
/// `-ECANCELED`: a queued send dropped by close.
#[napi]
pub const UV_ECANCELED: i32 = crate::error::codes::ECANCELED;

/// `bind` flag: `SO_REUSEADDR`.
#[napi]
pub const BIND_REUSE_ADDR: u32 = 1;
/// `bind` flag: `IPV6_V6ONLY`.
#[napi]
pub const BIND_IPV6_ONLY: u32 = 2;
/// `bind` flag: `SO_REUSEPORT`.
#[napi]
pub const BIND_REUSE_PORT: u32 = 4;

pub(crate) const EBADF: i32 = UV_EBADF;
pub(crate) const EINVAL: i32 = UV_EINVAL;
pub(crate) const EAFNOSUPPORT: i32 = crate::error::codes::EAFNOSUPPORT;
pub(crate) const EAGAIN: i32 = UV_EAGAIN;
/// A send without address on an unconnected socket (libuv's check before a send).
pub(crate) const EDESTADDRREQ: i32 = crate::error::codes::EDESTADDRREQ;
/// A send with an address on a connected socket, or a second connect.
pub(crate) const EISCONN: i32 = crate::error::codes::EISCONN;
pub(crate) const ECANCELED: i32 = UV_ECANCELED;
