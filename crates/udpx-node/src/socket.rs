//! `NativeSocket`: the handle under the facade's `Socket`, in the manner of Node's `UDP`
//! handle — methods return `0`/a value or a negative errno, and received datagrams and
//! writability are reported through JS callbacks registered by `recvStart`. Only argument
//! conversion and error mapping live here; the state is a [`Handle`].

use std::net::SocketAddr;
use std::rc::Rc;

use napi::sys;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use udpx::{BindOptions, UdpSocket};

use crate::address::{c_str, format_ip, parse_ip};

use crate::batch_send::{self, BatchSender};
use crate::callback::JsCallback;
use crate::error::{status, uv_code, BIND_IPV6_ONLY, BIND_REUSE_ADDR, BIND_REUSE_PORT, EAFNOSUPPORT, EBADF, EINVAL, EISCONN, UV_EEXIST};
use crate::fds;
use crate::handle::Handle;
use crate::reader::SocketStats;
use crate::uv;
use crate::writer::{bytes_of, Sending};

/// `{ address, family, port }`, as `socket.address()` returns it.
#[napi(object)]
pub struct AddressInfo {
    pub address: String,
    pub family: String,
    pub port: u32,
}

fn address_info(a: SocketAddr) -> AddressInfo {
    AddressInfo { address: format_ip(&a), family: if a.is_ipv4() { "IPv4" } else { "IPv6" }.to_string(), port: a.port() as u32 }
}

/// The native half of a dgram socket.
#[napi]
pub struct NativeSocket {
    inner: Rc<Handle>,
}

#[napi]
impl NativeSocket {
    /// An unbound socket of the family `udp6` (true) or `udp4`; no descriptor yet.
    #[napi(constructor)]
    pub fn new(ipv6: bool) -> Self {
        NativeSocket { inner: Rc::new(Handle::new(ipv6)) }
    }

    /// What kind of handle `fd` is, as Node's `guessHandleType` names it.
    #[napi(catch_unwind)]
    pub fn handle_type(fd: i32) -> String {
        fds::handle_type(fd).to_string()
    }

    /// Adopts `fd` (`bind({ fd })`).
    #[napi(catch_unwind)]
    pub fn open(&self, env: Env, fd: i32) -> i32 {
        let Some(fd) = fds::from_js(fd) else { return EBADF };
        if self.inner.socket.borrow().is_some() || fds::is_owned(fd) {
            return UV_EEXIST;
        }
        // A descriptor some other handle of Node's loop watches is not ours to take.
        if let Ok(lp) = env.get_uv_event_loop() {
            // SAFETY: this thread's running loop; the probe closes at once.
            if unsafe { uv::fd_watched(lp.cast(), fd) } {
                return UV_EEXIST;
            }
        }
        self.inner.adopt(UdpSocket::from_fd(fd))
    }

    /// The descriptor, or `-EBADF` without one.
    #[napi(catch_unwind)]
    pub fn fd(&self) -> i32 {
        self.inner.with_socket(|s| fds::to_js(s.raw_fd())).unwrap_or(EBADF)
    }

    /// Adopts a duplicate of `fd`, leaving `fd` to its owner (a handle from the cluster
    /// primary, shared by every worker as node:dgram shares it).
    #[napi(catch_unwind)]
    pub fn open_dup(&self, fd: i32) -> i32 {
        let Some(fd) = fds::from_js(fd) else { return EBADF };
        if self.inner.socket.borrow().is_some() {
            return UV_EEXIST;
        }
        self.inner.adopt(UdpSocket::from_fd_dup(fd))
    }

    /// Binds to `ip:port`, creating the descriptor first if needed.
    #[napi(catch_unwind)]
    pub fn bind(&self, ip: String, port: u32, flags: u32) -> i32 {
        let Ok(addr) = parse_ip(c_str(&ip), port as u16, self.inner.v6) else { return EINVAL };
        if flags & BIND_IPV6_ONLY != 0 && !addr.is_ipv6() {
            return EINVAL;
        }
        if let Err(e) = self.inner.ensure_socket(addr.is_ipv6()) {
            return uv_code(&e);
        }
        let opts = BindOptions {
            reuse_addr: flags & BIND_REUSE_ADDR != 0,
            reuse_port: flags & BIND_REUSE_PORT != 0,
            ipv6_only: flags & BIND_IPV6_ONLY != 0,
        };
        // Binding a socket of the other family: libuv reports EINVAL, not EAFNOSUPPORT.
        match self.inner.with_socket(|s| status(s.bind(addr, opts))) {
            Some(e) if e == EAFNOSUPPORT => EINVAL,
            Some(e) => e,
            None => EBADF,
        }
    }

    /// Connects to `ip:port`; `EISCONN` when already connected, as libuv answers.
    #[napi(catch_unwind)]
    pub fn connect(&self, ip: String, port: u32) -> i32 {
        if self.inner.connected.get() {
            return EISCONN;
        }
        let Ok(addr) = parse_ip(c_str(&ip), port as u16, self.inner.v6) else { return EINVAL };
        let r = self.inner.with_socket(|s| status(s.connect(addr))).unwrap_or(EBADF);
        if r == 0 {
            self.inner.connected.set(true);
        }
        r
    }

    #[napi(catch_unwind)]
    pub fn disconnect(&self) -> i32 {
        let r = self.inner.with_socket(|s| status(s.disconnect())).unwrap_or(EBADF);
        if r == 0 {
            self.inner.connected.set(false);
        }
        r
    }

    #[napi(catch_unwind)]
    pub fn sockname(&self) -> Either<AddressInfo, i32> {
        match self.inner.with_socket(|s| s.local_addr()) {
            Some(Ok(a)) => Either::A(address_info(a)),
            Some(Err(e)) => Either::B(uv_code(&e)),
            None => Either::B(EBADF),
        }
    }

    /// The connected peer, or a negative errno.
    #[napi(catch_unwind)]
    pub fn peername(&self) -> Either<AddressInfo, i32> {
        match self.inner.with_socket(|s| s.peer_addr()) {
            Some(Ok(a)) => Either::A(address_info(a)),
            Some(Err(e)) => Either::B(uv_code(&e)),
            None => Either::B(EBADF),
        }
    }

    /// Sends `chunks` (Uint8Arrays) as one datagram, to `ip:port` or (with `ip`
    /// undefined) the connected peer. Returns bytes + 1 when the kernel took it, 0 when it
    /// waits in the send queue (then `done(err, bytes)`, if given, runs when it completes),
    /// or a negative errno.
    #[napi(catch_unwind)]
    pub fn send(&self, env: Env, chunks: Vec<Unknown<'_>>, port: u32, ip: Unknown<'_>, done: Unknown<'_>) -> i32 {
        let env = env.raw();
        let values: Vec<sys::napi_value> = chunks.iter().map(|c| c.raw()).collect();
        // SAFETY: the values are arguments of this call, in its environment.
        unsafe { self.inner.send_or_queue(env, &values, port, ip.raw(), done.raw(), true) }
    }

    /// Sends `buf` as one datagram: to `ip:port`, or with `ip` undefined to the connected
    /// peer; as `send`. The address is parsed once per change of destination.
    #[napi(catch_unwind)]
    pub fn send_one(&self, env: Env, buf: Unknown<'_>, port: u32, ip: Unknown<'_>, done: Unknown<'_>) -> i32 {
        // SAFETY: the values are arguments of this call, in its environment.
        unsafe { self.inner.send_or_queue(env.raw(), &[buf.raw()], port, ip.raw(), done.raw(), true) }
    }

    /// Tries to send `buf` now, as `sendOne`, but never queues it: `EAGAIN` when the kernel
    /// pushes back or other sends wait (a coalesced send, which queues its caller's buffer
    /// with `queueOne` instead of the copy tried here).
    #[napi(catch_unwind)]
    pub fn try_send_one(&self, env: Env, buf: &[u8], port: u32, ip: Unknown<'_>) -> i32 {
        // SAFETY: `ip` is an argument of this call, in its environment.
        unsafe { self.inner.try_send_one(env.raw(), buf, port, ip.raw()) }
    }

    /// `sendOne` as a function bound to this socket, for the facade's per-datagram sends:
    /// the same call without the class method's per-call checks (see `bound.rs`).
    #[napi(
        catch_unwind,
        ts_return_type = "(buf: Uint8Array, port: number, ip: string | undefined, done?: (err: number, sent: number) => void) => number"
    )]
    pub fn send_one_function(&self, env: Env) -> Result<Unknown<'_>> {
        let f = crate::bound::send_one_function(env.raw(), &self.inner)
            .ok_or_else(|| Error::from_reason("cannot create the sendOne function"))?;
        // SAFETY: `f` is a live function value of this call's env.
        unsafe { Unknown::from_napi_value(env.raw(), f) }
    }

    /// `trySendOne` as a function bound to this socket (see `sendOneFunction`).
    #[napi(catch_unwind, ts_return_type = "(buf: Uint8Array, port: number, ip: string | undefined) => number")]
    pub fn try_send_one_function(&self, env: Env) -> Result<Unknown<'_>> {
        let f = crate::bound::try_send_one_function(env.raw(), &self.inner)
            .ok_or_else(|| Error::from_reason("cannot create the trySendOne function"))?;
        // SAFETY: `f` is a live function value of this call's env.
        unsafe { Unknown::from_napi_value(env.raw(), f) }
    }

    /// Puts `buf` (to `ip:port`, as `sendOne`) at the end of the send queue without trying
    /// it: 0, or a negative errno. `done(err, bytes)`, if given, runs when it completes.
    #[napi(catch_unwind)]
    pub fn queue_one(&self, env: Env, buf: Unknown<'_>, port: u32, ip: Unknown<'_>, done: Unknown<'_>) -> i32 {
        // SAFETY: the values are arguments of this call, in its environment.
        unsafe { self.inner.send_or_queue(env.raw(), &[buf.raw()], port, ip.raw(), done.raw(), false) }
    }

    /// Puts a batch the facade sends itself at the end of the send queue: when writable,
    /// `attempt()` is called until it returns anything but `EAGAIN`, then `done(err)` runs
    /// (`ECANCELED` if the socket closed first). `bytes` is what the queue size counts.
    /// 0, or `EISCONN`/`EDESTADDRREQ` (libuv's checks; `hasAddress`: the batch has
    /// destinations), `EBADF` when closed.
    #[napi(catch_unwind)]
    pub fn queue_batch(&self, env: Env, attempt: Function, done: Function, bytes: u32, has_address: bool) -> i32 {
        let check = self.inner.address_check(has_address);
        if check != 0 {
            return check;
        }
        // SAFETY: the values are arguments of this call, in its environment.
        unsafe { self.inner.enqueue(env.raw(), Sending::Attempt(attempt.raw()), None, bytes as usize, Some(done.raw()), None) }
    }

    /// Bytes waiting in the send queue (libuv's `send_queue_size`).
    #[napi(catch_unwind)]
    pub fn send_queue_size(&self) -> f64 {
        self.inner.sends.borrow().bytes() as f64
    }

    /// Sends waiting in the send queue (libuv's `send_queue_count`).
    #[napi(catch_unwind)]
    pub fn send_queue_count(&self) -> u32 {
        self.inner.sends.borrow().count() as u32
    }

    /// `false`: every send waits for writability, as libuv's under Node's
    /// `--test-udp-no-try-send`.
    #[napi(catch_unwind)]
    pub fn set_try_send(&self, on: bool) {
        self.inner.sends.borrow_mut().try_send = on;
    }

    /// Sends `chunks` (each `segmentSize` bytes but the last) to one destination, gathered
    /// into GSO sends where the kernel has GSO; a single chunk is split into segments. Returns how many were sent, or a negative
    /// errno.
    ///
    /// The chunks are taken as values and read only once all are in: reading an array's
    /// element can run JS (a getter), which could detach a buffer read before it.
    #[napi(catch_unwind, ts_args_type = "chunks: Uint8Array[], segmentSize: number, port: number, ip?: string | undefined | null")]
    pub fn send_segments(&self, env: Env, chunks: Vec<Unknown<'_>>, segment_size: u32, port: u32, ip: Option<String>) -> i32 {
        let mut slices = Vec::with_capacity(chunks.len());
        for c in &chunks {
            // SAFETY: `c` is an argument of this call, in its environment; no JS runs from
            // here until the send below is done with the slices.
            let Some(b) = (unsafe { bytes_of(env.raw(), c.raw()) }) else { return EINVAL };
            slices.push(b);
        }
        batch_send::segments(&self.inner, &slices, segment_size, port, ip.as_deref())
    }

    /// This socket's handle for the batch-send functions (`sendPacked`, `sendSegmented`),
    /// which cost less per call than these methods.
    #[napi(catch_unwind, ts_return_type = "ExternalObject<'BatchSender'>")]
    pub fn batch_sender(&self) -> External<BatchSender> {
        External::new(BatchSender(Rc::clone(&self.inner)))
    }

    /// Delivers received datagrams in batches to `onBatch(buffer, meta, addresses)`
    /// instead of one `onMessage` call each; `null` goes back to per-datagram calls.
    #[napi(catch_unwind)]
    pub fn set_batch_handler(&self, env: Env, on_batch: Option<Function>) -> i32 {
        if self.inner.closed.get() {
            return EBADF;
        }
        let cb = match on_batch {
            // SAFETY: the function value comes from this call's arguments.
            Some(f) => match unsafe { JsCallback::new(env.raw(), f.raw(), "UDPXBATCH") } {
                Some(cb) => Some(Rc::new(cb)),
                None => return EINVAL,
            },
            None => None,
        };
        *self.inner.on_batch.borrow_mut() = cb;
        0
    }

    /// Pauses (`false`) or resumes reading; while paused the kernel queues, then drops.
    #[napi(catch_unwind)]
    pub fn set_reading(&self, on: bool) -> i32 {
        self.inner.reading.set(on);
        self.inner.update_poll()
    }

    /// Reports destination address, interface, TOS and a kernel timestamp with every
    /// received datagram (a fourth `onMessage` argument, or `onBatch`'s fourth).
    #[napi(catch_unwind)]
    pub fn set_recv_metadata(&self, on: bool) -> i32 {
        let r = self.inner.with_socket(|s| status(s.set_recv_metadata(on))).unwrap_or(EBADF);
        if r == 0 {
            self.inner.metadata.set(on);
        }
        r
    }

    /// `IP_RECVERR`: ICMP errors about sent datagrams go to `onIcmpError` (see
    /// `setIcmpErrorHandler`) and are counted, never to `onMessage(-errno)`.
    #[napi(catch_unwind)]
    pub fn set_recv_errors(&self, on: bool) -> i32 {
        let r = self.inner.with_socket(|s| status(s.set_recv_errors(on))).unwrap_or(EBADF);
        if r == 0 {
            self.inner.recv_errors.set(on);
        }
        r
    }

    /// `onIcmpError(errno, origin, type, code, info, offender, destination, port)` per
    /// error-queue entry; `null` stops the calls (entries are still read and counted).
    #[napi(catch_unwind)]
    pub fn set_icmp_error_handler(&self, env: Env, on_icmp_error: Option<Function>) -> i32 {
        if self.inner.closed.get() {
            return EBADF;
        }
        let cb = match on_icmp_error {
            // SAFETY: the function value comes from this call's arguments.
            Some(f) => match unsafe { JsCallback::new(env.raw(), f.raw(), "UDPXICMPERROR") } {
                Some(cb) => Some(Rc::new(cb)),
                None => return EINVAL,
            },
            None => None,
        };
        *self.inner.on_icmp_error.borrow_mut() = cb;
        0
    }

    /// The TOS byte (DSCP << 2 | ECN) of outgoing datagrams.
    #[napi(catch_unwind)]
    pub fn set_tos(&self, tos: u32) -> i32 {
        if tos > 255 {
            return EINVAL;
        }
        self.inner.with_socket(|s| status(s.set_tos(tos as u8))).unwrap_or(EBADF)
    }

    /// Don't fragment: datagrams over the path MTU fail with EMSGSIZE.
    #[napi(catch_unwind)]
    pub fn set_dont_fragment(&self, on: bool) -> i32 {
        self.inner.with_socket(|s| status(s.set_dont_fragment(on))).unwrap_or(EBADF)
    }

    /// `SO_BINDTODEVICE` (`null`: unbind).
    #[napi(catch_unwind)]
    pub fn bind_device(&self, name: Option<String>) -> i32 {
        self.inner.with_socket(|s| status(s.bind_device(name.as_deref().map(c_str)))).unwrap_or(EBADF)
    }

    /// The kernel's drop counter (`SO_RXQ_OVFL` on Linux), which `recvStart` turns on by
    /// itself; this says whether the platform has it (`stats().kernelDrops` stays 0 without).
    #[napi(catch_unwind)]
    pub fn set_drop_counting(&self, on: bool) -> i32 {
        self.inner.with_socket(|s| status(s.set_drop_counting(on))).unwrap_or(EBADF)
    }

    /// `UDP_GRO`: let the kernel coalesce runs of same-sized datagrams (split again here).
    #[napi(catch_unwind)]
    pub fn set_gro(&self, on: bool) -> i32 {
        self.inner.with_socket(|s| status(s.set_gro(on))).unwrap_or(EBADF)
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> SocketStats {
        let mut counters = self.inner.stats.get();
        if let Some(Ok(d)) = self.inner.with_socket(|s| s.kernel_drops()) {
            counters.kernel_drops = counters.kernel_drops.max(u64::from(d));
        }
        counters.into()
    }

    /// Starts reading: `onMessage(buffer, address, port)` per datagram, or with `batched`
    /// `onMessage(buffer, meta, addresses, metadata)` per slab of datagrams (a shared
    /// descriptor is still read one datagram at a time); `onMessage(-errno)` on a receive
    /// error; `onDrain()` when the send queue has emptied (queued sends complete in its
    /// async context).
    #[napi(catch_unwind)]
    pub fn recv_start(&self, env: Env, on_message: Function, on_drain: Function, batched: bool) -> i32 {
        let inner = &self.inner;
        if inner.closed.get() {
            return EBADF;
        }
        if inner.poll.borrow().is_some() {
            return 0;
        }
        inner.message_batches.set(batched && !inner.shared.get());
        if inner.socket.borrow().is_none() {
            return EBADF;
        }
        let raw_env = env.raw();
        let Ok(lp) = env.get_uv_event_loop() else { return EINVAL };
        // stats() reads the kernel's drop counter when asked. Only a kernel without that
        // (SO_MEMINFO's drop count) has it ride along with every datagram, a control
        // message each; where the platform lacks both, stats() reports no kernel drops.
        if let Some(Err(_)) = inner.with_socket(|s| s.kernel_drops()) {
            let _ = inner.with_socket(|s| s.set_drop_counting(true));
        }
        // SAFETY: both function values come from this call's arguments.
        let (Some(m), Some(w)) = (unsafe { JsCallback::new(raw_env, on_message.raw(), "UDPWRAP") }, unsafe {
            JsCallback::new(raw_env, on_drain.raw(), "UDPSENDWRAP")
        }) else {
            return EINVAL;
        };
        // SAFETY: `raw_env` is this call's environment and `lp` its running loop.
        unsafe { inner.start(raw_env, lp.cast(), m, w) }
    }

    /// Whether an active socket keeps the event loop alive (`ref()`/`unref()`).
    #[napi(catch_unwind)]
    pub fn set_ref(&self, on: bool) {
        self.inner.refed.set(on);
        if let Some(p) = &*self.inner.poll.borrow() {
            // Queued sends keep the loop alive meanwhile (see Handle::want_writable).
            p.set_ref(on || self.inner.sends.borrow().count() > 0);
        }
    }

    #[napi(catch_unwind)]
    pub fn has_ref(&self) -> bool {
        self.inner.refed.get()
    }

    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.inner.close(false);
    }

    #[napi(catch_unwind)]
    pub fn set_broadcast(&self, on: bool) -> i32 {
        self.inner.with_socket(|s| status(s.set_broadcast(on))).unwrap_or(EBADF)
    }

    /// Unicast TTL; 1..=255 as libuv accepts.
    #[napi(catch_unwind)]
    pub fn set_ttl(&self, ttl: i32) -> i32 {
        if !(1..=255).contains(&ttl) {
            return EINVAL;
        }
        self.inner.with_socket(|s| status(s.set_ttl(ttl as u32))).unwrap_or(EBADF)
    }

    /// Multicast TTL; 0..=255 as libuv accepts.
    #[napi(catch_unwind)]
    pub fn set_multicast_ttl(&self, ttl: i32) -> i32 {
        if !(0..=255).contains(&ttl) {
            return EINVAL;
        }
        self.inner.with_socket(|s| status(s.set_multicast_ttl(ttl as u32))).unwrap_or(EBADF)
    }

    #[napi(catch_unwind)]
    pub fn set_multicast_loopback(&self, on: bool) -> i32 {
        self.inner.with_socket(|s| status(s.set_multicast_loop(on))).unwrap_or(EBADF)
    }

    /// An IPv4 address or an IPv6 address with a `%zone` naming the interface.
    #[napi(catch_unwind)]
    pub fn set_multicast_interface(&self, iface: String) -> i32 {
        let iface = c_str(&iface);
        let Some(addr) = parse_ip(iface, 0, false).or_else(|_| parse_ip(iface, 0, true)).ok() else {
            return EINVAL;
        };
        self.inner.with_socket(|s| status(s.set_multicast_if(addr))).unwrap_or(EBADF)
    }

    /// Joins or leaves `group`, binding the socket first if nobody has, as libuv does.
    #[napi(catch_unwind)]
    pub fn set_membership(&self, group: String, iface: Option<String>, join: bool) -> i32 {
        let group = c_str(&group);
        let Some(g) = parse_ip(group, 0, false).or_else(|_| parse_ip(group, 0, true)).ok() else {
            return EINVAL;
        };
        // libuv binds before it reads the interface, so a bad interface still binds.
        if let Err(e) = self.deferred_bind(g.is_ipv6()) {
            return e;
        }
        let i = match iface.as_deref().map(|i| parse_ip(c_str(i), 0, g.is_ipv6())) {
            Some(Ok(a)) => Some(a),
            Some(Err(_)) => return EINVAL,
            None => None,
        };
        self.inner.with_socket(|s| status(s.set_membership(g, i, join))).unwrap_or(EBADF)
    }

    /// Joins or leaves the source-specific group (`source`, `group`).
    #[napi(catch_unwind)]
    pub fn set_source_membership(&self, source: String, group: String, iface: Option<String>, join: bool) -> i32 {
        let (group, source) = (c_str(&group), c_str(&source));
        let v6 = parse_ip(group, 0, true).is_ok();
        let (Ok(g), Ok(src)) = (parse_ip(group, 0, v6), parse_ip(source, 0, v6)) else {
            return EINVAL;
        };
        if let Err(e) = self.deferred_bind(v6) {
            return e;
        }
        let i = match iface.as_deref().map(|i| parse_ip(c_str(i), 0, v6)) {
            Some(Ok(a)) => Some(a),
            Some(Err(_)) => return EINVAL,
            None => None,
        };
        self.inner.with_socket(|s| status(s.set_source_membership(src, g, i, join))).unwrap_or(EBADF)
    }

    /// `SO_RCVBUF` (`recv`) or `SO_SNDBUF`: `size` 0 reads it. The value, or a negative errno.
    #[napi(catch_unwind)]
    pub fn buffer_size(&self, size: u32, recv: bool) -> i64 {
        // libuv takes the size as a C int.
        if size > i32::MAX as u32 {
            return EINVAL as i64;
        }
        let r = self.inner.with_socket(|s| if recv { s.recv_buffer_size(size as usize) } else { s.send_buffer_size(size as usize) });
        match r {
            Some(Ok(v)) => v as i64,
            Some(Err(e)) => uv_code(&e) as i64,
            None => EBADF as i64,
        }
    }
}

impl NativeSocket {
    /// libuv binds an unbound socket to the wildcard address before a membership change.
    fn deferred_bind(&self, v6: bool) -> std::result::Result<(), i32> {
        if self.inner.socket.borrow().is_some() {
            return Ok(());
        }
        self.inner.ensure_socket(v6).map_err(|e| uv_code(&e))?;
        self.inner.with_socket(|s| s.bind_any()).unwrap_or(Ok(())).map_err(|e| uv_code(&e))
    }
}

impl Drop for NativeSocket {
    fn drop(&mut self) {
        self.inner.close(false);
    }
}
