//! The send side of a handle: sends, what they add to the counters, and writability.

use std::ptr;

use napi::sys;

use crate::error::{uv_code, EBADF, EDESTADDRREQ, EISCONN};
use crate::handle::Handle;

/// Queued sends completed per writable event, bounding the work of one loop turn.
const WRITES_PER_EVENT: usize = 1024;

impl Handle {
    /// libuv's checks before a send: 0, `EISCONN` for an address on a connected socket,
    /// `EDESTADDRREQ` for none on an unconnected one.
    pub(crate) fn address_check(&self, has_address: bool) -> i32 {
        match (has_address, self.connected.get()) {
            (true, true) => EISCONN,
            (false, false) => EDESTADDRREQ,
            _ => 0,
        }
    }

    /// A send's outcome for JS — the count the call returns, or a negative errno — with
    /// `account(count)` = (datagrams, bytes) added to the counters.
    pub(crate) fn sent(&self, r: Option<std::io::Result<usize>>, account: impl FnOnce(usize) -> (usize, usize)) -> i32 {
        match r {
            Some(Ok(n)) => {
                let (datagrams, bytes) = account(n);
                let mut c = self.stats.get();
                c.tx_datagrams += datagrams as u64;
                c.tx_bytes += bytes as u64;
                self.stats.set(c);
                n as i32
            }
            Some(Err(e)) => uv_code(&e),
            None => EBADF,
        }
    }

    /// The socket can take more: one queued send completes per `onWritable` call, each in
    /// its own callback scope, so that ticks queued by one send callback run before the
    /// next, as with libuv's per-request callbacks. JS returns true while it made progress.
    pub(crate) fn write_ready(&self) {
        let cb = self.on_writable.borrow().clone();
        let Some(cb) = cb else { return };
        for _ in 0..WRITES_PER_EVENT {
            let more = cb.call(|env| {
                let mut v = ptr::null_mut();
                // SAFETY: creating a value in the open scope.
                unsafe { sys::napi_get_undefined(env, &mut v) };
                Some([v])
            });
            if !more || self.closed.get() {
                break;
            }
        }
    }
}
