//! The JS memory that received batches are delivered in, and the address list they share.
//!
//! Each delivered batch gets one `ArrayBuffer` of its own, exactly its size: the batch's
//! fields (16 bytes per datagram), then its payloads back to back, every byte written. A
//! receive larger than [`CAP`] is cut into several deliveries, so a datagram that JS keeps
//! alive pins at most its own delivery: up to 64 KiB (a few KiB for a batch of small ones).
//! (A 64 KiB slab shared by successive batches was tried: it saved the allocation per
//! batch, but a kept datagram pinned the whole slab, and under a flood it still faulted in
//! fresh pages as often, because the collector frees slabs many at a time.)

use std::net::{IpAddr, SocketAddr};
use std::ptr;

use napi::sys;

use crate::address::format_ip;
use crate::callback::string;

/// The byte cap of one delivered batch (fields and payloads): the receive loop cuts larger
/// receives into several deliveries. A delivery of one datagram may pass it by its fields.
pub(crate) const CAP: usize = 64 * 1024;

fn ok(s: sys::napi_status) -> bool {
    s == sys::Status::napi_ok
}

/// A strong reference to a JS object, dropped with the socket's other JS references.
struct JsRef {
    env: sys::napi_env,
    r: sys::napi_ref,
}

impl JsRef {
    fn new(env: sys::napi_env, v: sys::napi_value) -> Option<Self> {
        let mut r = ptr::null_mut();
        // SAFETY: `v` is a live object of this env's open scope; out-pointer is a local.
        ok(unsafe { sys::napi_create_reference(env, v, 1, &mut r) }).then_some(JsRef { env, r })
    }

    fn value(&self) -> Option<sys::napi_value> {
        let mut v = ptr::null_mut();
        // SAFETY: the reference is alive (deleted only on drop); a scope is open.
        let got = ok(unsafe { sys::napi_get_reference_value(self.env, self.r, &mut v) });
        (got && !v.is_null()).then_some(v)
    }
}

impl Drop for JsRef {
    fn drop(&mut self) {
        // SAFETY: created in `new` for this env and deleted once.
        unsafe { sys::napi_delete_reference(self.env, self.r) };
    }
}

/// A new `ArrayBuffer` of `len` bytes for one delivery, and where its memory starts.
pub(crate) fn batch_buffer(env: sys::napi_env, len: usize) -> Option<(sys::napi_value, *mut u8)> {
    let mut v = ptr::null_mut();
    let mut data: *mut std::ffi::c_void = ptr::null_mut();
    // SAFETY: out-pointers are live locals.
    let made = ok(unsafe { sys::napi_create_arraybuffer(env, len, &mut data, &mut v) });
    // A zero-length ArrayBuffer may have no memory at all: a dangling, aligned pointer then,
    // never written through (the delivery's slice is empty).
    let data: *mut u8 = if len == 0 { ptr::NonNull::<u64>::dangling().as_ptr().cast() } else { data.cast() };
    (made && !data.is_null()).then_some((v, data))
}

/// The sources of one delivery, in order of first appearance: the JS array of their
/// strings is made once and reused while deliveries come from the same sources (a batch's
/// address field indexes it, and JS never changes it).
#[derive(Default)]
pub(crate) struct Sources {
    /// This delivery's sources (IP and IPv6 scope: what the string shows).
    pending: Vec<SocketAddr>,
    /// The sources of the array in `array`.
    shown: Vec<SocketAddr>,
    array: Option<JsRef>,
}

/// What tells two sources apart in `rinfo.address`: the IP, and an IPv6 scope.
fn key(a: &SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(v4) => SocketAddr::new(IpAddr::V4(*v4.ip()), 0),
        SocketAddr::V6(v6) => SocketAddr::V6(std::net::SocketAddrV6::new(*v6.ip(), 0, 0, v6.scope_id())),
    }
}

/// Whether `a` and `b` show as the same `rinfo.address` (ports aside).
fn same_source(a: &SocketAddr, b: &SocketAddr) -> bool {
    match (a, b) {
        (SocketAddr::V4(a), SocketAddr::V4(b)) => a.ip() == b.ip(),
        (SocketAddr::V6(a), SocketAddr::V6(b)) => a.ip() == b.ip() && a.scope_id() == b.scope_id(),
        _ => false,
    }
}

impl Sources {
    /// Starts a delivery.
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    /// The index of `source` in this delivery's list, added if new.
    pub(crate) fn index(&mut self, source: &SocketAddr) -> u32 {
        // Most datagrams come from the sender of the one before.
        if let Some(last) = self.pending.last() {
            if same_source(last, source) {
                return (self.pending.len() - 1) as u32;
            }
        }
        let k = key(source);
        let i = match self.pending.iter().position(|a| *a == k) {
            Some(i) => i,
            None => {
                self.pending.push(k);
                self.pending.len() - 1
            }
        };
        i as u32
    }

    /// The JS array of this delivery's source strings.
    pub(crate) fn array(&mut self, env: sys::napi_env) -> Option<sys::napi_value> {
        if self.pending == self.shown {
            if let Some(v) = self.array.as_ref().and_then(JsRef::value) {
                return Some(v);
            }
        }
        let mut arr = ptr::null_mut();
        // SAFETY: out-pointer is a live local; a scope is open.
        if !ok(unsafe { sys::napi_create_array_with_length(env, self.pending.len(), &mut arr) }) {
            return None;
        }
        for (i, a) in self.pending.iter().enumerate() {
            let s = string(env, &format_ip(a))?;
            // SAFETY: `arr` is a live array, `s` a live string.
            unsafe { sys::napi_set_element(env, arr, i as u32, s) };
        }
        self.array = JsRef::new(env, arr);
        self.shown.clone_from(&self.pending);
        Some(arr)
    }
}
