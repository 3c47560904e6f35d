//! OS errors as the negative errno values libuv (and so Node's handle methods) return, and
//! the constants the facade needs: one source for errno values and bind flags, exported to
//! JS so that the TypeScript side never writes them as literals.

use std::io;

use napi_derive::napi;

/// `-errno` for `e`, `-EINVAL` for errors that carry none.
pub(crate) fn uv_code(e: &io::Error) -> i32 {
    -e.raw_os_error().unwrap_or(libc::EINVAL)
}

/// Folds a result into libuv's convention: `0` or `-errno`.
pub(crate) fn status(r: io::Result<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => uv_code(&e),
    }
}

/// `-EAGAIN`: the kernel cannot take the datagram now; it waits in the send queue.
#[napi]
pub const UV_EAGAIN: i32 = -libc::EAGAIN;
/// `-EBADF`: what every call on a socket without a descriptor returns, as in libuv.
#[napi]
pub const UV_EBADF: i32 = -libc::EBADF;
/// `-EINVAL`: an address libuv's parser would reject.
#[napi]
pub const UV_EINVAL: i32 = -libc::EINVAL;
/// `-EEXIST`: a descriptor already adopted, or one Node's loop watches.
#[napi]
pub const UV_EEXIST: i32 = -libc::EEXIST;
/// `-EDESTADDRREQ`: a send without address on an unconnected socket.
#[napi]
pub const UV_EDESTADDRREQ: i32 = -libc::EDESTADDRREQ;
/// `-EISCONN`: a send with an address on a connected socket, or a second connect.
#[napi]
pub const UV_EISCONN: i32 = -libc::EISCONN;
/// `-ECANCELED`: a queued send dropped by close.
#[napi]
pub const UV_ECANCELED: i32 = -libc::ECANCELED;

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
