//! OS errors as the negative errno values libuv (and so Node's handle methods) return.

use std::io;

/// `-errno` for `e`, `-EINVAL` for errors that carry none.
pub(crate) fn uv_code(e: &io::Error) -> i32 {
    -e.raw_os_error().unwrap_or(libc::EINVAL)
}

/// `-EBADF`: what every call on a socket without a descriptor returns, as in libuv.
pub(crate) const EBADF: i32 = -libc::EBADF;

/// `-EINVAL`: an address libuv's parser would reject.
pub(crate) const EINVAL: i32 = -libc::EINVAL;

/// Folds a result into libuv's convention: `0` or `-errno`.
pub(crate) fn status(r: io::Result<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => uv_code(&e),
    }
}
