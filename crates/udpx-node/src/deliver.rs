//! JS values for received datagrams: the `onMessage` arguments of one datagram, the
//! `onBatch` arguments of many (one buffer, one Uint32Array of fields), and the metadata
//! object of `setRecvMetadata`.

use std::net::SocketAddr;
use std::ptr;

use napi::sys;
use udpx::{packed, RecvBatch, RecvMeta};

use crate::address::format_ip;

use crate::callback::{string, AddressMemo};
use crate::delivery::{self, Sources};

fn ok(s: sys::napi_status) -> bool {
    s == sys::Status::napi_ok
}

/// A JS number.
pub(crate) fn number(env: sys::napi_env, n: f64) -> Option<sys::napi_value> {
    let mut v = ptr::null_mut();
    // SAFETY: creates a number in the open scope; out-pointer is a live local.
    ok(unsafe { sys::napi_create_double(env, n, &mut v) }).then_some(v)
}

/// `undefined`.
pub(crate) fn undefined(env: sys::napi_env) -> Option<sys::napi_value> {
    let mut v = ptr::null_mut();
    // SAFETY: out-pointer is a live local.
    ok(unsafe { sys::napi_get_undefined(env, &mut v) }).then_some(v)
}

/// Segment `seg` of slot `i` (the whole slot without GRO), split by the core.
pub(crate) fn segment(area: &RecvBatch, i: usize, seg: usize) -> &[u8] {
    area.segments(i).nth(seg).unwrap_or(&[])
}

/// `{ destination, interface, tos, timestamp, truncated }` for one received slot; absent
/// fields are left out. `timestamp` is in milliseconds since the epoch, like `Date.now()`.
pub(crate) fn metadata_object(env: sys::napi_env, m: &RecvMeta) -> Option<sys::napi_value> {
    let mut obj = ptr::null_mut();
    // SAFETY: out-pointer is a live local; called with an open handle scope.
    if !ok(unsafe { sys::napi_create_object(env, &mut obj) }) {
        return None;
    }
    let set = |name: &std::ffi::CStr, v: sys::napi_value| {
        // SAFETY: `obj` and `v` are live values of this scope; `name` is NUL-terminated.
        unsafe { sys::napi_set_named_property(env, obj, name.as_ptr(), v) };
    };
    let number = |n: f64| {
        let mut v = ptr::null_mut();
        // SAFETY: creates a number in the open scope.
        unsafe { sys::napi_create_double(env, n, &mut v) };
        v
    };
    if let Some(d) = m.destination {
        set(c"destination", string(env, &format_ip(&SocketAddr::new(d, 0)))?);
    }
    if let Some(i) = m.interface {
        set(c"interface", string(env, &udpx::interface_name(i).unwrap_or_else(|| i.to_string()))?);
    }
    if let Some(t) = m.tos {
        set(c"tos", number(t as f64));
    }
    if let Some(ts) = m.timestamp {
        set(c"timestamp", number(ts.as_secs_f64() * 1000.0));
    }
    let mut b = ptr::null_mut();
    // SAFETY: creates a boolean in the open scope.
    unsafe { sys::napi_get_boolean(env, m.truncated, &mut b) };
    set(c"truncated", b);
    Some(obj)
}

/// `(arrayBuffer, address, port)` for segment `seg` of slot `i`: a copy of the payload in an
/// ArrayBuffer of its own, which JS wraps in a Buffer (`Buffer.from(arrayBuffer)`: the
/// Buffer node:dgram hands over, one exact-size backing store, offset 0), and the address
/// string (or `undefined` when it is the last one sent, see [`AddressMemo`]). Node's
/// C++ `Buffer` constructors cost more than the ArrayBuffer and the JS view together:
/// they set the Buffer prototype on a plain Uint8Array, a runtime call (about 3,300
/// instructions per datagram against 1,500).
pub(crate) fn message_args(
    env: sys::napi_env,
    area: &RecvBatch,
    i: usize,
    seg: usize,
    memo: &mut AddressMemo,
) -> Option<[sys::napi_value; 3]> {
    let (data, meta) = (segment(area, i, seg), area.meta(i));
    let mut ab = ptr::null_mut();
    let mut port = ptr::null_mut();
    let mut bytes: *mut std::ffi::c_void = ptr::null_mut();
    // SAFETY: out-pointers are live locals; the ArrayBuffer has exactly `data.len()` bytes.
    let made = unsafe {
        ok(sys::napi_create_arraybuffer(env, data.len(), &mut bytes, &mut ab))
            && ok(sys::napi_create_uint32(env, meta.source.port() as u32, &mut port))
    };
    if !made || (!data.is_empty() && bytes.is_null()) {
        return None;
    }
    if !data.is_empty() {
        // SAFETY: `bytes` is the new ArrayBuffer's region of `data.len()` bytes (non-null,
        // checked), which nothing else references yet.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), bytes as *mut u8, data.len()) };
    }
    let addr = memo.value(env, meta.source, || format_ip(&meta.source))?;
    Some([ab, addr, port])
}

/// A received datagram: segment `.1` of slot `.0` of the receive area.
pub(crate) type Item = (usize, usize);

/// Every datagram of slots `0..n`, GRO runs split, in order.
pub(crate) fn items(area: &RecvBatch, n: usize, out: &mut Vec<Item>) {
    out.clear();
    for i in 0..n {
        for seg in 0..area.meta(i).segments() {
            out.push((i, seg));
        }
    }
}

/// Bytes of one buffer that datagrams for `'message'` share, as Node's `Buffer.poolSize`:
/// a message kept alive pins at most this much.
const MESSAGE_SLAB: usize = 8 * 1024;
/// Datagrams larger than this get a buffer of their own (Node's pool rule, `poolSize >>> 1`).
const ALONE: usize = MESSAGE_SLAB / 2;

/// `items` cut into runs that share one buffer each under the [`MESSAGE_SLAB`] rule.
pub(crate) fn slabs<'a>(area: &'a RecvBatch, items: &'a [Item]) -> impl Iterator<Item = &'a [Item]> + 'a {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= items.len() {
            return None;
        }
        let (mut end, mut bytes) = (start, 0);
        while end < items.len() {
            let len = segment(area, items[end].0, items[end].1).len();
            if end > start && (len > ALONE || bytes + len > MESSAGE_SLAB) {
                break;
            }
            bytes += len;
            end += 1;
            if len > ALONE {
                break;
            }
        }
        let run = &items[start..end];
        start = end;
        Some(run)
    })
}

/// `(buffer, meta, addresses, metadata)` for the datagrams `items`: `buffer` holds their
/// payloads back to back, `meta` four u32s per datagram — offset, length, port, index into
/// `addresses` — and `metadata` (with `with_metadata`; else undefined) an object per datagram.
pub(crate) fn batch_args(env: sys::napi_env, area: &RecvBatch, items: &[Item], with_metadata: bool) -> Option<[sys::napi_value; 4]> {
    let datagrams = items.len();
    let total: usize = items.iter().map(|&(i, seg)| segment(area, i, seg).len()).sum();
    let mut buf = ptr::null_mut();
    let mut data: *mut std::ffi::c_void = ptr::null_mut();
    let mut ab = ptr::null_mut();
    let mut meta_ptr: *mut std::ffi::c_void = ptr::null_mut();
    let mut meta = ptr::null_mut();
    let mut addrs = ptr::null_mut();
    let mut extras = ptr::null_mut();
    // SAFETY: out-pointers are live locals; sizes are what is written below.
    let made = unsafe {
        ok(sys::napi_create_buffer(env, total, &mut data, &mut buf))
            && ok(sys::napi_create_arraybuffer(env, datagrams * 16, &mut meta_ptr, &mut ab))
            && ok(sys::napi_create_typedarray(env, sys::TypedarrayType::uint32_array, datagrams * 4, ab, 0, &mut meta))
            && ok(sys::napi_create_array(env, &mut addrs))
            && if with_metadata {
                ok(sys::napi_create_array_with_length(env, datagrams, &mut extras))
            } else {
                ok(sys::napi_get_undefined(env, &mut extras))
            }
    };
    if !made || (total > 0 && data.is_null()) || (datagrams > 0 && meta_ptr.is_null()) {
        return None;
    }
    // SAFETY: napi_create_buffer returned a region of exactly `total` bytes, non-null when
    // `total > 0` (checked above); empty slices are not built from a possibly null pointer.
    let out: &mut [u8] = if total == 0 { &mut [] } else { unsafe { std::slice::from_raw_parts_mut(data as *mut u8, total) } };
    let fields: &mut [u32] = if datagrams == 0 {
        &mut []
    } else {
        // SAFETY: as above: `datagrams * 4` u32s, 8-aligned, non-null (checked).
        unsafe { std::slice::from_raw_parts_mut(meta_ptr as *mut u32, datagrams * 4) }
    };
    let mut sources: Vec<SocketAddr> = Vec::new();
    let mut extra: Option<(usize, sys::napi_value)> = None;
    let mut off = 0usize;
    for (k, &(i, seg)) in items.iter().enumerate() {
        let m = area.meta(i);
        let idx = match sources.iter().position(|a| a.ip() == m.source.ip()) {
            Some(idx) => idx,
            None => {
                let s = string(env, &format_ip(&m.source))?;
                // SAFETY: `addrs` is a live array; `s` a live string.
                unsafe { sys::napi_set_element(env, addrs, sources.len() as u32, s) };
                sources.push(m.source);
                sources.len() - 1
            }
        };
        if with_metadata {
            // One object per slot, shared by the segments of a GRO run.
            let x = match extra {
                Some((slot, x)) if slot == i => x,
                _ => {
                    let x = metadata_object(env, m)?;
                    extra = Some((i, x));
                    x
                }
            };
            // SAFETY: `extras` is a live array of `datagrams` slots; `k` < that.
            unsafe { sys::napi_set_element(env, extras, k as u32, x) };
        }
        // `out` holds exactly the payloads' total, so each one fits.
        let (at, len) = udpx::packed::put(out, &mut off, segment(area, i, seg))?;
        fields[k * 4..k * 4 + 4].copy_from_slice(&[at, len, u32::from(m.source.port()), idx as u32]);
    }
    Some([buf, meta, addrs, extras])
}

/// The first delivery of slots `start..n` under the byte cap ([`delivery::CAP`]): `(end, datagrams,
/// bytes)` — slots `start..end` (at least one), holding `datagrams` datagrams (GRO runs
/// counted apart) and taking `bytes` of JS memory (16 per datagram, then the payloads).
pub(crate) fn next_delivery(area: &RecvBatch, start: usize, n: usize) -> (usize, usize, usize) {
    let (mut end, mut datagrams, mut bytes) = (start, 0, 0);
    while end < n {
        let m = area.meta(end);
        let d = m.segments();
        let b = m.len + packed::RECV_FIELDS * d;
        if end > start && bytes + b > delivery::CAP {
            break;
        }
        datagrams += d;
        bytes += b;
        end += 1;
    }
    (end, datagrams, bytes)
}

/// Writes the delivery of `slots` into `out` (exactly its `bytes`): the fields of its
/// `datagrams` datagrams, then their payloads back to back. One pass over the slots; a slot
/// holding one datagram (every slot without GRO) is written here directly, a GRO run by
/// `udpx::packed::put_slot`. The source index is looked up once per run of slots from the
/// same sender, not per datagram.
pub(crate) fn fill_delivery(area: &RecvBatch, slots: std::ops::Range<usize>, datagrams: usize, out: &mut [u8], sources: &mut Sources) {
    // Every offset below is under `out.len()`, so one check here covers the u32 casts.
    if u32::try_from(out.len()).is_err() {
        return;
    }
    let (fields, payloads) = out.split_at_mut((packed::RECV_FIELDS * datagrams).min(out.len()));
    let (mut k, mut at) = (0usize, 0usize);
    let mut last: Option<(SocketAddr, u32)> = None;
    for (m, payload) in area.slots().skip(slots.start).take(slots.len()) {
        let source = match last {
            Some((a, i)) if a == m.source => i,
            _ => {
                let i = sources.index(&m.source);
                last = Some((m.source, i));
                i
            }
        };
        let port = u32::from(m.source.port());
        if m.stride == 0 || payload.len() <= m.stride {
            let end = at + payload.len();
            // `out` was sized for exactly these slots, so every one fits.
            let (Some(f), Some(p)) = (fields.get_mut(k..k + packed::RECV_FIELDS), payloads.get_mut(at..end)) else { return };
            p.copy_from_slice(payload);
            f.copy_from_slice(&field_bytes([at as u32, payload.len() as u32, port, source]));
            k += packed::RECV_FIELDS;
            at = end;
        } else {
            let Some(rest) = fields.get_mut(k..) else { return };
            let Some(n) = packed::put_slot(rest, payloads, &mut at, payload, m.stride, m.source.port(), source) else { return };
            k += n * packed::RECV_FIELDS;
        }
    }
}

/// One datagram's fields as JS reads them (native-endian u32s).
fn field_bytes(v: [u32; 4]) -> [u8; packed::RECV_FIELDS] {
    let mut b = [0u8; packed::RECV_FIELDS];
    for (dst, x) in b.chunks_exact_mut(4).zip(v) {
        dst.copy_from_slice(&x.to_ne_bytes());
    }
    b
}

/// The `metadata` argument of a delivery of `slots`: one object per datagram (the segments
/// of a GRO run share their slot's).
pub(crate) fn metadata_array(
    env: sys::napi_env,
    area: &RecvBatch,
    slots: std::ops::Range<usize>,
    datagrams: usize,
) -> Option<sys::napi_value> {
    let mut arr = ptr::null_mut();
    // SAFETY: out-pointer is a live local; a scope is open.
    if !ok(unsafe { sys::napi_create_array_with_length(env, datagrams, &mut arr) }) {
        return None;
    }
    let mut k = 0u32;
    for i in slots {
        let m = area.meta(i);
        let x = metadata_object(env, m)?;
        for _ in 0..m.segments() {
            // SAFETY: `arr` is a live array, `x` a live object.
            unsafe { sys::napi_set_element(env, arr, k, x) };
            k += 1;
        }
    }
    Some(arr)
}

/// `(errno, origin, type, code, info, offender, destination, port)` for one error-queue
/// entry: `errno` negative as libuv's, `origin` "local" | "icmp" | "icmp6" | "other",
/// `offender`/`destination` strings or `undefined`.
pub(crate) fn icmp_error_args(env: sys::napi_env, e: &udpx::IcmpError) -> Option<[sys::napi_value; 8]> {
    let number = |n: f64| {
        let mut v = ptr::null_mut();
        // SAFETY: creates a number in the open scope.
        unsafe { sys::napi_create_double(env, n, &mut v) };
        v
    };
    let undefined = || {
        let mut v = ptr::null_mut();
        // SAFETY: gets `undefined` in the open scope.
        unsafe { sys::napi_get_undefined(env, &mut v) };
        v
    };
    let origin = match e.origin {
        udpx::ErrorOrigin::Local => "local",
        udpx::ErrorOrigin::Icmp => "icmp",
        udpx::ErrorOrigin::Icmp6 => "icmp6",
        udpx::ErrorOrigin::Other(_) => "other",
    };
    let offender = match e.offender {
        Some(ip) => string(env, &format_ip(&SocketAddr::new(ip, 0)))?,
        None => undefined(),
    };
    let (destination, port) = match e.destination {
        Some(d) => (string(env, &format_ip(&d))?, number(f64::from(d.port()))),
        None => (undefined(), undefined()),
    };
    Some([
        number(-f64::from(e.errno)),
        string(env, origin)?,
        number(f64::from(e.icmp_type)),
        number(f64::from(e.icmp_code)),
        number(f64::from(e.info)),
        offender,
        destination,
        port,
    ])
}
