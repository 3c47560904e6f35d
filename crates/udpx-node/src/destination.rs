//! Where a send goes: the `ip` argument of a send, read as libuv's checks before a send
//! read it (`EISCONN` with an address on a connected socket, `EDESTADDRREQ` without one on
//! an unconnected socket), and the last address parsed, so that a flood to one peer parses
//! its text once per change of peer instead of once per datagram.

use std::net::SocketAddr;
use std::ptr;

use napi::sys;

use crate::address::parse_ip;
use crate::error::{EDESTADDRREQ, EINVAL, EISCONN};

/// Bytes of an address's text read without an allocation: an IPv6 address with a zone
/// name fits (45 + 1 + 15); a longer text is read into a `String` instead.
const INLINE: usize = 72;

/// The last destination parsed: its text and port, and the address they gave.
pub(crate) struct DestinationCache {
    text: [u8; INLINE],
    len: usize,
    port: u16,
    addr: Option<SocketAddr>,
}

impl DestinationCache {
    pub(crate) fn new() -> Self {
        DestinationCache { text: [0; INLINE], len: 0, port: 0, addr: None }
    }

    /// `text:port` as a socket address of this socket's family (`v6`): the cached one when
    /// they are the last ones asked for, else parsed (and remembered).
    fn resolve(&mut self, text: &[u8], port: u16, v6: bool) -> Option<SocketAddr> {
        if let Some(a) = self.addr {
            if port == self.port && text == &self.text[..self.len] {
                return Some(a);
            }
        }
        // libuv reads the address as a C string: it ends at the first NUL.
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        let parsed = std::str::from_utf8(&text[..end]).ok().and_then(|s| parse_ip(s, port, v6).ok());
        match parsed {
            Some(a) if text.len() <= INLINE => {
                self.text[..text.len()].copy_from_slice(text);
                self.len = text.len();
                self.port = port;
                self.addr = Some(a);
            }
            _ => self.addr = None,
        }
        parsed
    }
}

fn ok(s: sys::napi_status) -> bool {
    s == sys::Status::napi_ok
}

/// The destination of a send from its JS arguments: `ip` undefined or null for the
/// connected peer (`None`), else a string parsed with `port`. A negative errno where libuv
/// refuses the send before trying it, or where the text is no address of the family.
///
/// # Safety
/// `env` is the current call's environment and `ip` a value of that call.
pub(crate) unsafe fn destination(
    env: sys::napi_env,
    ip: sys::napi_value,
    port: u32,
    connected: bool,
    v6: bool,
    cache: &mut DestinationCache,
) -> Result<Option<SocketAddr>, i32> {
    let mut ty = sys::ValueType::napi_undefined;
    // SAFETY: per the contract, `ip` is a live value of `env`; `ty` is a live local.
    if !ip.is_null() && !ok(unsafe { sys::napi_typeof(env, ip, &mut ty) }) {
        return Err(EINVAL);
    }
    match ty {
        sys::ValueType::napi_undefined | sys::ValueType::napi_null => {
            if connected {
                Ok(None)
            } else {
                Err(EDESTADDRREQ)
            }
        }
        sys::ValueType::napi_string => {
            if connected {
                return Err(EISCONN);
            }
            let mut buf = [0u8; INLINE + 1];
            let mut len = 0usize;
            // SAFETY: `buf` has room for INLINE bytes and the NUL napi writes after them.
            if !ok(unsafe { sys::napi_get_value_string_utf8(env, ip, buf.as_mut_ptr().cast(), buf.len(), &mut len) }) {
                return Err(EINVAL);
            }
            if len < INLINE {
                return cache.resolve(&buf[..len], port as u16, v6).map(Some).ok_or(EINVAL);
            }
            // Longer than any address: read whole (it may still start with one before a NUL).
            // SAFETY: a null buffer asks for the length only.
            if !ok(unsafe { sys::napi_get_value_string_utf8(env, ip, ptr::null_mut(), 0, &mut len) }) {
                return Err(EINVAL);
            }
            let mut long = vec![0u8; len + 1];
            // SAFETY: `long` has room for `len` bytes and the NUL.
            if !ok(unsafe { sys::napi_get_value_string_utf8(env, ip, long.as_mut_ptr().cast(), long.len(), &mut len) }) {
                return Err(EINVAL);
            }
            cache.resolve(&long[..len], port as u16, v6).map(Some).ok_or(EINVAL)
        }
        _ => Err(EINVAL),
    }
}
