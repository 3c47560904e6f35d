//! Batch sends: many datagrams per call, packed in one buffer (sendmmsg) or cut into
//! segments of one size (UDP GSO), as plain functions on the socket's [`BatchSender`], which
//! the facade's `sendBatch` and coalesced flush use (`NativeSocket.sendSegments` also takes
//! separate buffers). A plain
//! function's call skips napi-rs's receiver bookkeeping for `&self` methods (a lock and a
//! map entry per call, several hundred ns), which is most of the binding's own cost of a
//! batch call.

use std::net::SocketAddr;
use std::rc::Rc;

use napi::bindgen_prelude::External;
use napi_derive::napi;
use udpx::Transmit;

use crate::address::{c_str, parse_ip};
use crate::error::EINVAL;
use crate::handle::Handle;

/// A socket's handle for the batch-send functions (`NativeSocket.batchSender()`). It keeps
/// the state alive, not the socket open: after close() every send fails with EBADF.
pub struct BatchSender(pub(crate) Rc<Handle>);

/// `ip:port` parsed for this socket's family; `None` for the connected peer; Err(EINVAL)
/// when it does not parse.
fn destination(h: &Handle, ip: Option<&str>, port: u32) -> Result<Option<SocketAddr>, i32> {
    match ip {
        Some(ip) => parse_ip(c_str(ip), port as u16, h.v6).map(Some).map_err(|_| EINVAL),
        None => Ok(None),
    }
}

/// Sends datagrams with one system call per 64 (`sendmmsg`): `data` holds them back to
/// back, `lengths[i]` bytes each; datagram `i` goes to `hosts[host_index[i]]:ports[i]`, or
/// to the connected peer when `hosts` is empty. Returns how many were sent (fewer than
/// asked: the next would block or failed), or a negative errno when none was.
pub(crate) fn packed(h: &Handle, data: &[u8], lengths: &[u32], ports: &[u32], hosts: &[String], host_index: &[u32]) -> i32 {
    let check = h.address_check(!hosts.is_empty());
    if check != 0 {
        return check;
    }
    let Some(chunks) = udpx::packed::split(data, lengths) else { return EINVAL };
    // Each distinct host is parsed once. Datagrams before the first one whose host does
    // not parse go out; that one then fails on its own, as send() would fail for it.
    let dests = if hosts.is_empty() {
        Vec::new()
    } else {
        let parsed: Vec<Option<SocketAddr>> = hosts.iter().map(|h2| parse_ip(c_str(h2), 0, h.v6).ok()).collect();
        match udpx::packed::destinations(&parsed, ports, host_index, chunks.len()) {
            Ok(d) => d,
            Err(_) => return EINVAL,
        }
    };
    let chunks = if hosts.is_empty() { &chunks[..] } else { &chunks[..dests.len()] };
    let msgs: Vec<Transmit<'_>> = chunks.iter().enumerate().map(|(i, c)| Transmit::new(dests.get(i).copied(), c)).collect();
    let r = h.with_socket(|s| s.send_batch(&msgs));
    h.sent(r, |n| (n, msgs[..n.min(msgs.len())].iter().map(|m| m.len()).sum()))
}

/// See `NativeSocket::send_segments`.
pub(crate) fn segments(h: &Handle, chunks: &[&[u8]], segment_size: u32, port: u32, ip: Option<&str>) -> i32 {
    let check = h.address_check(ip.is_some());
    if check != 0 {
        return check;
    }
    let dest = match destination(h, ip, port) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let seg = segment_size as usize;
    if let [whole] = chunks {
        // One contiguous buffer of many segments (small datagrams, copied together in
        // JS: cheaper for the kernel than one iovec each).
        let r = h.with_socket(|s| s.send(&Transmit::new(dest, whole).with_segment_size(seg)));
        return h.sent(r, |n| (n, whole.len().min(n.saturating_mul(seg))));
    }
    // Separate buffers, gathered where they lie and cut at `seg` bytes.
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    let r = h.with_socket(|s| s.send(&Transmit::gather(dest, chunks).with_segment_size(seg)));
    h.sent(r, |n| (n, total.min(n.saturating_mul(seg))))
}

/// [`packed`] on a [`BatchSender`], of the first `count` datagrams: the
/// arrays may be longer (reused from call to call), as `data` may be (bytes after the last
/// datagram are ignored). EINVAL when `lengths` is shorter than `count`.
#[napi(catch_unwind)]
pub fn send_packed(
    #[napi(ts_arg_type = "ExternalObject<'BatchSender'>")] sender: &External<BatchSender>,
    // Before the views: napi-rs converts in this order, and reading an array's elements can
    // run JS (a getter) that could detach a buffer whose bytes were already taken.
    hosts: Vec<String>,
    data: &[u8],
    count: u32,
    lengths: &[u32],
    ports: &[u32],
    host_index: &[u32],
) -> i32 {
    let Some(lengths) = lengths.get(..count as usize) else { return EINVAL };
    packed(&sender.0, data, lengths, ports, &hosts, host_index)
}

/// `NativeSocket::send_segments` of the first `bytes` of `data`, on a [`BatchSender`].
/// EINVAL when `data` is shorter.
#[napi(catch_unwind)]
pub fn send_segmented(
    #[napi(ts_arg_type = "ExternalObject<'BatchSender'>")] sender: &External<BatchSender>,
    data: &[u8],
    bytes: u32,
    segment_size: u32,
    port: u32,
    ip: Option<String>,
) -> i32 {
    let Some(data) = data.get(..bytes as usize) else { return EINVAL };
    segments(&sender.0, &[data], segment_size, port, ip.as_deref())
}
