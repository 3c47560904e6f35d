//! The JS memory that received batches are delivered in, and the address list they share.
//!
//! A socket keeps one `ArrayBuffer` (a slab of [`SLAB`] bytes) and carves one region per
//! delivered batch out of it: the batch's meta fields, then its payloads back to back. When
//! the rest of the slab is too small, a new slab is made and the old one is left to JS, which
//! frees it once no batch views it any more. So a batch costs no allocation most of the
//! time, and a datagram that JS keeps alive pins at most one slab — or, for a delivery
//! larger than a slab (one slot of a big GRO run, say), that delivery's own buffer.
//!
//! Regions are only ever handed out once: a batch JS still holds is never written again. A
//! slab's memory is reused (zeroed) only after JS has collected its `ArrayBuffer`.

use std::net::{IpAddr, SocketAddr};
use std::ptr;

use napi::sys;

use crate::address::format_ip;
use crate::callback::string;

/// Bytes per slab: the most a kept datagram pins, and the byte cap of one delivered batch
/// (the receive loop cuts larger batches into several deliveries).
pub(crate) const SLAB: usize = 64 * 1024;

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

/// A region of `len` bytes at `offset` in the `ArrayBuffer` `buffer`, starting at `data`.
pub(crate) struct Region {
    pub(crate) buffer: sys::napi_value,
    pub(crate) offset: usize,
    pub(crate) data: *mut u8,
}

/// Spare slabs kept per thread for the next ones.
const SPARE_SLABS: usize = 8;

thread_local! {
    /// Slab memory that JS has let go of (its `ArrayBuffer` was collected), kept for the
    /// next slab: a fresh 64 KiB block from malloc costs a page fault per 4 KiB and zeroing
    /// each time, because freed blocks go back to the kernel. Bounded by [`SPARE_SLABS`].
    static SPARE: std::cell::RefCell<Vec<Box<[u8]>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Node calls this on the JS thread once a slab's `ArrayBuffer` is collected (or at
/// environment teardown): the memory goes to the spares, or is freed.
unsafe extern "C" fn release_slab(_env: sys::napi_env, data: *mut std::ffi::c_void, _hint: *mut std::ffi::c_void) {
    // SAFETY: `data` is what `Box::into_raw` gave for a box of SLAB bytes in `new_slab`,
    // handed back exactly once by this finalizer.
    let block = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(data.cast::<u8>(), SLAB)) };
    let kept = SPARE.try_with(|spare| match spare.try_borrow_mut() {
        Ok(mut spare) if spare.len() < SPARE_SLABS => {
            spare.push(block);
            None
        }
        _ => Some(block),
    });
    // Dropped here when there is no room, or the thread is going away.
    drop(kept);
}

/// A new slab: an `ArrayBuffer` of [`SLAB`] zeroed bytes over memory of our own (a spare
/// block if there is one), returned to the spares when JS collects it. Where Node refuses
/// external memory (a V8 sandbox), a plain `ArrayBuffer`.
fn new_slab(env: sys::napi_env) -> Option<(sys::napi_value, *mut u8)> {
    let spare = SPARE.try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop())).ok().flatten();
    let block = match spare {
        Some(mut b) => {
            // What it held last time (datagrams) is not for whoever gets it next.
            b.fill(0);
            b
        }
        None => vec![0u8; SLAB].into_boxed_slice(),
    };
    let data = Box::into_raw(block).cast::<u8>();
    let mut buf = ptr::null_mut();
    // SAFETY: `data` points at SLAB bytes that stay allocated until `release_slab` gets
    // them back; out-pointer is a live local.
    let made = unsafe { sys::napi_create_external_buffer(env, SLAB, data.cast(), Some(release_slab), ptr::null_mut(), &mut buf) };
    if !ok(made) {
        // SAFETY: Node did not take the block (the call failed): reclaim it once.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(data, SLAB)) });
        return array_buffer(env, SLAB);
    }
    let mut ab = ptr::null_mut();
    // SAFETY: `buf` is the Buffer just made; only its ArrayBuffer is asked for.
    let got = ok(unsafe { sys::napi_get_typedarray_info(env, buf, ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), &mut ab, ptr::null_mut()) });
    (got && !ab.is_null()).then_some((ab, data))
}

/// A new `ArrayBuffer` of `len` bytes and where its memory starts.
fn array_buffer(env: sys::napi_env, len: usize) -> Option<(sys::napi_value, *mut u8)> {
    let mut v = ptr::null_mut();
    let mut data: *mut std::ffi::c_void = ptr::null_mut();
    // SAFETY: out-pointers are live locals.
    let made = ok(unsafe { sys::napi_create_arraybuffer(env, len, &mut data, &mut v) });
    (made && !data.is_null()).then_some((v, data.cast()))
}

/// The memory and length of the `ArrayBuffer` `v`: length 0 once it was detached (a user
/// transferred `batch.buffer.buffer` to a worker), so a detached slab is never written.
fn array_buffer_info(env: sys::napi_env, v: sys::napi_value) -> Option<(*mut u8, usize)> {
    let mut data: *mut std::ffi::c_void = ptr::null_mut();
    let mut len = 0usize;
    // SAFETY: `v` is a live ArrayBuffer of the open scope; out-pointers are locals.
    let got = ok(unsafe { sys::napi_get_arraybuffer_info(env, v, &mut data, &mut len) });
    (got && !data.is_null()).then_some((data.cast(), len))
}

/// A socket's current slab and how much of it has been handed out.
#[derive(Default)]
pub(crate) struct Slab {
    buffer: Option<JsRef>,
    used: usize,
}

impl Slab {
    /// A fresh region of `len` bytes, 8-aligned (its meta fields are read as a
    /// `Uint32Array`): from the current slab, a new one, or — when `len` is more than a
    /// slab — a buffer of its own.
    pub(crate) fn reserve(&mut self, env: sys::napi_env, len: usize) -> Option<Region> {
        if len > SLAB {
            let (buffer, data) = array_buffer(env, len)?;
            return Some(Region { buffer, offset: 0, data });
        }
        let start = self.used.checked_next_multiple_of(8)?;
        if let Some(buffer) = self.buffer.as_ref().and_then(JsRef::value) {
            if let Some((base, size)) = array_buffer_info(env, buffer) {
                if start.checked_add(len).is_some_and(|end| end <= size) {
                    self.used = start + len;
                    // SAFETY: `start + len <= size`: inside the buffer's memory.
                    return Some(Region { buffer, offset: start, data: unsafe { base.add(start) } });
                }
            }
        }
        let (buffer, data) = new_slab(env)?;
        self.buffer = JsRef::new(env, buffer);
        self.used = len;
        Some(Region { buffer, offset: 0, data })
    }
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
