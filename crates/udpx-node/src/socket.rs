//! `NativeSocket`: the handle under the facade's `Socket`, in the manner of Node's `UDP`
//! handle — methods return `0`/a value or a negative errno, and received datagrams and
//! writability are reported through JS callbacks registered by `recvStart`.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::ptr;
use std::rc::Rc;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use udpx::{BindOptions, Family, RecvBatch, Transmit, UdpSocket};

use crate::address::{format_ip, parse_ip};

use crate::callback::{string, AddressMemo, JsCallback};
use crate::error::{status, uv_code, EBADF, EINVAL};
use crate::uv::{self, Poll, PollTarget};

/// Datagrams taken per `recvmmsg` call (and handed to a batch handler at once).
const RECV_BATCH: usize = 64;
/// Batches read per readiness event, bounding the work done per loop turn (libuv reads 32).
const RECV_ROUNDS: usize = 1;
/// Single-datagram reads per readiness event on a shared descriptor (libuv reads 32).
const SHARED_READS: usize = 32;

/// Queued sends completed per writable event, bounding the work of one loop turn.
const WRITES_PER_EVENT: usize = 1024;

/// `bind` flags, as the facade passes them.
const FLAG_REUSE_ADDR: u32 = 1;
const FLAG_IPV6_ONLY: u32 = 2;
const FLAG_REUSE_PORT: u32 = 4;

thread_local! {
    /// One receive area per JS thread: callbacks on a thread never overlap, and datagrams
    /// are copied into JS buffers before the next receive.
    static RECV_AREA: RefCell<RecvBatch> = RefCell::new(RecvBatch::new(RECV_BATCH));
}

thread_local! {
    /// Descriptors owned by sockets of this JS thread: libuv refuses to adopt one its loop
    /// already watches (EEXIST), which stops two sockets from closing one descriptor.
    static OWNED_FDS: RefCell<std::collections::HashSet<i32>> = RefCell::new(Default::default());
}

fn own_fd(s: &UdpSocket) {
    let fd = std::os::fd::AsRawFd::as_raw_fd(s);
    OWNED_FDS.with(|f| f.borrow_mut().insert(fd));
}

fn release_fd(s: &UdpSocket) {
    let fd = std::os::fd::AsRawFd::as_raw_fd(s);
    OWNED_FDS.with(|f| f.borrow_mut().remove(&fd));
}

/// An address as libuv reads it: a C string, so it ends at the first NUL.
fn c_str(s: &str) -> &str {
    s.split('\0').next().unwrap_or("")
}

/// `{ address, family, port }`, as `socket.address()` returns it.
#[napi(object)]
pub struct AddressInfo {
    pub address: String,
    pub family: String,
    pub port: u32,
}

fn address_info(a: SocketAddr) -> AddressInfo {
    AddressInfo {
        address: format_ip(&a),
        family: if a.is_ipv4() { "IPv4" } else { "IPv6" }.to_string(),
        port: a.port() as u32,
    }
}

/// Traffic counters, as `stats()` reports them.
#[derive(Clone, Copy, Default)]
struct Counters {
    rx_datagrams: u64,
    rx_bytes: u64,
    tx_datagrams: u64,
    tx_bytes: u64,
    kernel_drops: u64,
}

/// `stats()`: traffic and drops since the socket was created.
#[napi(object)]
pub struct SocketStats {
    pub datagrams_received: f64,
    pub bytes_received: f64,
    pub datagrams_sent: f64,
    pub bytes_sent: f64,
    /// Datagrams the kernel dropped because the receive buffer was full (`SO_RXQ_OVFL`).
    pub kernel_drops: f64,
}

/// `{ destination, interface, tos, timestamp, truncated }` for one received slot; absent
/// fields are left out. `timestamp` is in milliseconds since the epoch, like `Date.now()`.
fn metadata_object(env: sys::napi_env, m: &udpx::RecvMeta) -> Option<sys::napi_value> {
    let mut obj = ptr::null_mut();
    // SAFETY: out-pointer is a live local; called with an open handle scope.
    if unsafe { sys::napi_create_object(env, &mut obj) } != sys::Status::napi_ok {
        return None;
    }
    let set = |name: &std::ffi::CStr, v: sys::napi_value| {
        // SAFETY: `obj` and `v` are live values of this scope; `name` is NUL-terminated.
        unsafe { sys::napi_set_named_property(env, obj, name.as_ptr(), v) };
    };
    let string = |s: &str| {
        let mut v = ptr::null_mut();
        // SAFETY: `s` outlives the call, which copies it.
        unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v) };
        v
    };
    let number = |n: f64| {
        let mut v = ptr::null_mut();
        // SAFETY: creates a number in the open scope.
        unsafe { sys::napi_create_double(env, n, &mut v) };
        v
    };
    if let Some(d) = m.destination {
        set(c"destination", string(&format_ip(&SocketAddr::new(d, 0))));
    }
    if let Some(i) = m.interface {
        set(c"interface", string(&udpx::interface_name(i).unwrap_or_else(|| i.to_string())));
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

/// The state shared by the JS object, the poll handle and the environment cleanup hook.
struct Inner {
    v6: bool,
    socket: RefCell<Option<UdpSocket>>,
    poll: RefCell<Option<Poll>>,
    refed: Cell<bool>,
    closed: Cell<bool>,
    // Rc so that a call in progress keeps its callback alive if JS closes the socket.
    on_message: RefCell<Option<Rc<JsCallback>>>,
    on_writable: RefCell<Option<Rc<JsCallback>>>,
    on_batch: RefCell<Option<Rc<JsCallback>>>,
    /// False while JS has paused reading (backpressure from a full iterator queue).
    reading: Cell<bool>,
    stats: Cell<Counters>,
    /// The descriptor came from elsewhere (`open`, `openDup`) and may be read by others.
    shared: Cell<bool>,
    /// Whether datagrams carry destination/interface/TOS/timestamp (`setRecvMetadata`).
    metadata: Cell<bool>,
    /// The destination `sendOne` uses, set by `setDestination` (parsed once, not per send).
    dest: Cell<Option<SocketAddr>>,
    addr_memo: RefCell<AddressMemo>,
    /// The env-cleanup registration (a leaked `Rc<Inner>`), removed on close.
    cleanup: Cell<*const Inner>,
    env: Cell<sys::napi_env>,
}

struct Ready(Rc<Inner>);

impl PollTarget for Ready {
    fn on_poll(&self, status: i32, events: i32) {
        let inner = &self.0;
        if status < 0 {
            // A pending socket error (an ICMP error on a connected socket) raises POLLERR,
            // which libuv's poll reports as EBADF and answers by stopping. Report the real
            // error, as node:dgram's failed recvmsg does, and keep polling.
            let pending = inner.with_socket(|s| s.take_error());
            match pending {
                Some(Ok(Some(e))) => inner.emit_error(uv_code(&e)),
                Some(Err(e)) => inner.emit_error(uv_code(&e)),
                _ => inner.read_ready(),
            }
            if !inner.closed.get() {
                if let Some(p) = inner.poll.borrow_mut().as_mut() {
                    let _ = p.restart();
                }
            }
            return;
        }
        if events & uv::WRITABLE != 0 && !inner.closed.get() {
            let cb = inner.on_writable.borrow().clone();
            if let Some(cb) = cb {
                // One queued send completes per call, each in its own callback scope, so
                // that ticks queued by one send callback run before the next, as with
                // libuv's per-request callbacks. JS returns true while it made progress.
                for _ in 0..WRITES_PER_EVENT {
                    let more = cb.call(|env| {
                        let mut v = ptr::null_mut();
                        // SAFETY: creating a value in the open scope.
                        unsafe { sys::napi_get_undefined(env, &mut v) };
                        Some([v])
                    });
                    if !more || inner.closed.get() {
                        break;
                    }
                }
            }
        }
        if events & uv::READABLE != 0 {
            inner.read_ready();
        }
    }

    fn on_closed(self: Box<Self>) {}
}

impl Inner {
    fn with_socket<T>(&self, f: impl FnOnce(&UdpSocket) -> T) -> Option<T> {
        self.socket.borrow().as_ref().map(f)
    }

    /// Creates the descriptor on first need, as libuv does at bind time.
    fn ensure_socket(&self, v6: bool) -> std::io::Result<()> {
        if self.socket.borrow().is_none() {
            let family = if v6 { Family::V6 } else { Family::V4 };
            let s = UdpSocket::new(family)?;
            own_fd(&s);
            *self.socket.borrow_mut() = Some(s);
        }
        Ok(())
    }

    /// A send's outcome for JS — the count the call returns, or a negative errno — with
    /// `account(count)` = (datagrams, bytes) added to the counters.
    fn sent(&self, r: Option<std::io::Result<usize>>, account: impl FnOnce(usize) -> (usize, usize)) -> i32 {
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

    fn emit_error(&self, code: i32) {
        let cb = self.on_message.borrow().clone();
        if let Some(cb) = cb {
            cb.call(|env| {
                let mut v = ptr::null_mut();
                // SAFETY: creating a number in the open scope.
                unsafe { sys::napi_create_int32(env, code, &mut v) };
                Some([v, v, v])
            });
        }
    }

    /// Reads what is queued (bounded per event) and hands it to JS: a datagram per
    /// `onMessage` call, or a whole batch per `onBatch` call when one is set.
    fn read_ready(&self) {
        // A descriptor shared with other processes (cluster, bind({ fd })) is read one
        // datagram at a time, as libuv reads: what this socket does not deliver (it closed
        // in a handler, say) stays in the kernel for the others.
        let (per_call, rounds) = if self.shared.get() { (1, SHARED_READS) } else { (RECV_BATCH, RECV_ROUNDS) };
        for _ in 0..rounds {
            if self.closed.get() || !self.reading.get() {
                return;
            }
            let got = RECV_AREA.with(|area| {
                let mut area = area.borrow_mut();
                let r = self.with_socket(|s| s.recv_batch_max(&mut area, per_call))?;
                Some(r)
            });
            let n = match got {
                None => return,
                Some(Ok(n)) => n,
                Some(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Some(Err(e)) => {
                    self.emit_error(uv_code(&e));
                    return;
                }
            };
            let datagrams = RECV_AREA.with(|area| self.account(&area.borrow(), n));
            if self.on_batch.borrow().is_some() {
                self.deliver_batch(n, datagrams);
            } else {
                for i in 0..n {
                    let segments = RECV_AREA.with(|area| area.borrow().meta(i).segments());
                    for seg in 0..segments {
                        if self.closed.get() || self.on_message.borrow().is_none() {
                            return;
                        }
                        self.deliver(i, seg);
                    }
                }
            }
            if n < per_call {
                return;
            }
        }
    }

    /// Counts what a receive brought in; returns the number of datagrams (GRO split).
    fn account(&self, area: &RecvBatch, n: usize) -> usize {
        let mut stats = self.stats.get();
        let mut datagrams = 0;
        for i in 0..n {
            let m = area.meta(i);
            datagrams += m.segments();
            stats.rx_bytes += m.len as u64;
            if let Some(d) = m.drops {
                stats.kernel_drops = stats.kernel_drops.max(d as u64);
            }
        }
        stats.rx_datagrams += datagrams as u64;
        self.stats.set(stats);
        datagrams
    }

    /// Segment `seg` of slot `i` (the whole slot without GRO), split by the core.
    fn segment(area: &RecvBatch, i: usize, seg: usize) -> &[u8] {
        area.segments(i).nth(seg).unwrap_or(&[])
    }

    fn deliver(&self, i: usize, seg: usize) {
        let Some(cb) = self.on_message.borrow().clone() else { return };
        if self.metadata.get() {
            // Opted in: a fourth argument with what the kernel said about the datagram.
            cb.call(|env| {
                let [buf, addr, port] = self.message_args(env, i, seg)?;
                let extra = RECV_AREA.with(|area| metadata_object(env, area.borrow().meta(i)))?;
                Some([buf, addr, port, extra])
            });
            return;
        }
        cb.call(|env| self.message_args(env, i, seg));
    }

    fn message_args(&self, env: sys::napi_env, i: usize, seg: usize) -> Option<[sys::napi_value; 3]> {
        {
            RECV_AREA.with(|area| {
                let area = area.borrow();
                let (data, meta) = (Self::segment(&area, i, seg), area.meta(i));
                let mut buf = ptr::null_mut();
                let mut port = ptr::null_mut();
                let mut copy = ptr::null_mut();
                // SAFETY: `data` is a live slice of `len` bytes that the call copies.
                let made = unsafe {
                    sys::napi_create_buffer_copy(env, data.len(), data.as_ptr().cast(), &mut copy, &mut buf)
                        == sys::Status::napi_ok
                        && sys::napi_create_uint32(env, meta.source.port() as u32, &mut port)
                            == sys::Status::napi_ok
                };
                if !made {
                    return None;
                }
                let addr = self.addr_memo.borrow_mut().value(env, meta.source, || format_ip(&meta.source))?;
                Some([buf, addr, port])
            })
        }
    }

    /// One JS call for `n` slots holding `datagrams` datagrams: `onBatch(buffer, meta,
    /// addresses, metadata)`, where `buffer` holds every payload back to back, `meta` four
    /// u32s per datagram — offset, length, port, index into `addresses` — and `metadata`
    /// (with `setRecvMetadata(true)`; else undefined) an object per datagram.
    fn deliver_batch(&self, n: usize, datagrams: usize) {
        let Some(cb) = self.on_batch.borrow().clone() else { return };
        cb.call(|env| {
            RECV_AREA.with(|area| {
                let area = area.borrow();
                let total: usize = (0..n).map(|i| area.meta(i).len).sum();
                let mut buf = ptr::null_mut();
                let mut data: *mut std::ffi::c_void = ptr::null_mut();
                let mut ab = ptr::null_mut();
                let mut meta_ptr: *mut std::ffi::c_void = ptr::null_mut();
                let mut meta = ptr::null_mut();
                let mut addrs = ptr::null_mut();
                let mut extras = ptr::null_mut();
                // SAFETY: out-pointers are live locals; sizes are what is written below.
                let made = unsafe {
                    sys::napi_create_buffer(env, total, &mut data, &mut buf) == sys::Status::napi_ok
                        && sys::napi_create_arraybuffer(env, datagrams * 16, &mut meta_ptr, &mut ab)
                            == sys::Status::napi_ok
                        && sys::napi_create_typedarray(env, sys::TypedarrayType::uint32_array, datagrams * 4, ab, 0, &mut meta)
                            == sys::Status::napi_ok
                        && sys::napi_create_array(env, &mut addrs) == sys::Status::napi_ok
                        && if self.metadata.get() {
                            sys::napi_create_array_with_length(env, datagrams, &mut extras) == sys::Status::napi_ok
                        } else {
                            sys::napi_get_undefined(env, &mut extras) == sys::Status::napi_ok
                        }
                };
                if !made || (total > 0 && data.is_null()) || (datagrams > 0 && meta_ptr.is_null()) {
                    return None;
                }
                // SAFETY: napi_create_buffer returned a region of exactly `total` bytes,
                // non-null when `total > 0` (checked above); empty slices are not built
                // from a possibly null pointer.
                let out: &mut [u8] = if total == 0 {
                    &mut []
                } else {
                    unsafe { std::slice::from_raw_parts_mut(data as *mut u8, total) }
                };
                let fields: &mut [u32] = if datagrams == 0 {
                    &mut []
                } else {
                    // SAFETY: as above: `datagrams * 4` u32s, 8-aligned, non-null (checked).
                    unsafe { std::slice::from_raw_parts_mut(meta_ptr as *mut u32, datagrams * 4) }
                };
                let mut sources: Vec<SocketAddr> = Vec::new();
                let (mut off, mut k) = (0usize, 0usize);
                for i in 0..n {
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
                    let extra = if self.metadata.get() { metadata_object(env, m) } else { None };
                    for seg in 0..m.segments() {
                        if let Some(x) = extra {
                            // SAFETY: `extras` is a live array of `datagrams` slots; `k` < that.
                            unsafe { sys::napi_set_element(env, extras, k as u32, x) };
                        }
                        let p = Self::segment(&area, i, seg);
                        out[off..off + p.len()].copy_from_slice(p);
                        fields[k * 4..k * 4 + 4].copy_from_slice(&[off as u32, p.len() as u32, m.source.port() as u32, idx as u32]);
                        off += p.len();
                        k += 1;
                    }
                }
                Some([buf, meta, addrs, extras])
            })
        });
    }

    fn update_poll(&self) -> i32 {
        let mut guard = self.poll.borrow_mut();
        let Some(p) = guard.as_mut() else { return 0 };
        let mut events = 0;
        if self.on_message.borrow().is_some() && self.reading.get() {
            events |= uv::READABLE;
        }
        if self.on_writable.borrow().is_some() && p.events() & uv::WRITABLE != 0 {
            events |= uv::WRITABLE;
        }
        status(p.set_events(events))
    }

    /// Closes the poll handle, the descriptor and the JS references. Idempotent.
    fn close(&self, from_cleanup_hook: bool) {
        if self.closed.replace(true) {
            return;
        }
        if let Some(p) = self.poll.borrow_mut().take() {
            p.close();
        }
        if let Some(s) = self.socket.borrow_mut().take() {
            release_fd(&s);
        }
        let env = self.env.get();
        self.on_message.borrow_mut().take();
        self.on_writable.borrow_mut().take();
        self.on_batch.borrow_mut().take();
        let hook = self.cleanup.replace(ptr::null());
        if !hook.is_null() && !env.is_null() {
            if !from_cleanup_hook {
                // SAFETY: removes exactly the registration made in `recv_start`.
                unsafe { sys::napi_remove_env_cleanup_hook(env, Some(cleanup_hook), hook as *mut _) };
            }
            // SAFETY: `hook` is the Rc leaked at registration; reclaimed once (swapped out).
            drop(unsafe { Rc::from_raw(hook) });
        }
    }
}

/// Environment teardown (process exit, worker termination): close what is still open.
unsafe extern "C" fn cleanup_hook(arg: *mut std::ffi::c_void) {
    // SAFETY: `arg` is the leaked Rc<Inner> registered in `recv_start`, still alive because
    // only `close` reclaims it and `close` removes this hook first unless called from here.
    let inner = unsafe { &*(arg as *const Inner) };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.close(true)));
}

/// The native half of a dgram socket.
#[napi]
pub struct NativeSocket {
    inner: Rc<Inner>,
}

#[napi]
impl NativeSocket {
    /// An unbound socket of the family `udp6` (true) or `udp4`; no descriptor yet.
    #[napi(constructor)]
    pub fn new(ipv6: bool) -> Self {
        NativeSocket {
            inner: Rc::new(Inner {
                v6: ipv6,
                socket: RefCell::new(None),
                poll: RefCell::new(None),
                refed: Cell::new(true),
                closed: Cell::new(false),
                on_message: RefCell::new(None),
                on_writable: RefCell::new(None),
                on_batch: RefCell::new(None),
                reading: Cell::new(true),
                stats: Cell::new(Counters::default()),
                dest: Cell::new(None),
                metadata: Cell::new(false),
                shared: Cell::new(false),
                addr_memo: RefCell::new(AddressMemo::new()),
                cleanup: Cell::new(ptr::null()),
                env: Cell::new(ptr::null_mut()),
            }),
        }
    }

    /// What kind of handle `fd` is, as Node's `guessHandleType` names it.
    #[napi(catch_unwind)]
    pub fn handle_type(fd: i32) -> String {
        crate::fds::handle_type(fd).to_string()
    }

    /// Adopts `fd` (`bind({ fd })`).
    #[napi(catch_unwind)]
    pub fn open(&self, env: Env, fd: i32) -> i32 {
        if self.inner.socket.borrow().is_some() || OWNED_FDS.with(|f| f.borrow().contains(&fd)) {
            return -libc::EEXIST;
        }
        // A descriptor some other handle of Node's loop watches is not ours to take.
        if let Ok(lp) = env.get_uv_event_loop() {
            // SAFETY: this thread's running loop; the probe closes at once.
            if fd >= 0 && unsafe { uv::fd_watched(lp.cast(), fd) } {
                return -libc::EEXIST;
            }
        }
        self.adopt(UdpSocket::from_fd(fd))
    }

    /// The descriptor, or `-EBADF` without one.
    #[napi(catch_unwind)]
    pub fn fd(&self) -> i32 {
        self.inner.with_socket(std::os::fd::AsRawFd::as_raw_fd).unwrap_or(EBADF)
    }

    /// Adopts a duplicate of `fd`, leaving `fd` to its owner (a handle from the cluster
    /// primary, shared by every worker as node:dgram shares it).
    #[napi(catch_unwind)]
    pub fn open_dup(&self, fd: i32) -> i32 {
        if self.inner.socket.borrow().is_some() {
            return -libc::EEXIST;
        }
        self.adopt(UdpSocket::from_fd_dup(fd))
    }

    /// Binds to `ip:port`, creating the descriptor first if needed.
    #[napi(catch_unwind)]
    pub fn bind(&self, ip: String, port: u32, flags: u32) -> i32 {
        let Ok(addr) = parse_ip(c_str(&ip), port as u16, self.inner.v6) else { return EINVAL };
        if flags & FLAG_IPV6_ONLY != 0 && !addr.is_ipv6() {
            return EINVAL;
        }
        if let Err(e) = self.inner.ensure_socket(addr.is_ipv6()) {
            return uv_code(&e);
        }
        let opts = BindOptions {
            reuse_addr: flags & FLAG_REUSE_ADDR != 0,
            reuse_port: flags & FLAG_REUSE_PORT != 0,
            ipv6_only: flags & FLAG_IPV6_ONLY != 0,
        };
        // Binding a socket of the other family: libuv reports EINVAL, not EAFNOSUPPORT.
        match self.inner.with_socket(|s| status(s.bind(addr, opts))) {
            Some(e) if e == -libc::EAFNOSUPPORT => EINVAL,
            Some(e) => e,
            None => EBADF,
        }
    }

    #[napi(catch_unwind)]
    pub fn connect(&self, ip: String, port: u32) -> i32 {
        let Ok(addr) = parse_ip(c_str(&ip), port as u16, self.inner.v6) else { return EINVAL };
        self.inner.with_socket(|s| status(s.connect(addr))).unwrap_or(EBADF)
    }

    #[napi(catch_unwind)]
    pub fn disconnect(&self) -> i32 {
        self.inner.with_socket(|s| status(s.disconnect())).unwrap_or(EBADF)
    }

    /// The bound address, or a negative errno.
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

    /// Sends `chunks` as one datagram, to `ip:port` or (with `ip` absent) the connected
    /// peer. Returns the bytes sent or a negative errno (`-EAGAIN`: queue and retry when
    /// writable).
    #[napi(catch_unwind)]
    pub fn send(&self, chunks: Vec<&[u8]>, port: u32, ip: Option<String>) -> i32 {
        let r = match ip {
            Some(ip) => {
                let Ok(to) = parse_ip(c_str(&ip), port as u16, self.inner.v6) else { return EINVAL };
                self.inner.with_socket(|s| s.send(&Transmit::gather(Some(to), &chunks)))
            }
            None => self.inner.with_socket(|s| s.send(&Transmit::gather(None, &chunks))),
        };
        let bytes = chunks.iter().map(|c| c.len()).sum::<usize>();
        self.inner.sent(r.map(|r| r.map(|_| bytes)), |n| (1, n))
    }

    /// Sets the destination of `sendOne(buf, true)`: the hot path parses an address once
    /// per change of peer, not once per datagram.
    #[napi(catch_unwind)]
    pub fn set_destination(&self, ip: String, port: u32) -> i32 {
        match parse_ip(c_str(&ip), port as u16, self.inner.v6) {
            Ok(a) => {
                self.inner.dest.set(Some(a));
                0
            }
            Err(_) => {
                self.inner.dest.set(None);
                EINVAL
            }
        }
    }

    /// Sends `buf` as one datagram: to the `setDestination` address (`toDestination`) or
    /// the connected peer. Bytes sent or a negative errno, as `send`.
    #[napi(catch_unwind)]
    pub fn send_one(&self, buf: &[u8], to_destination: bool) -> i32 {
        let r = if to_destination {
            let Some(to) = self.inner.dest.get() else { return EINVAL };
            self.inner.with_socket(|s| s.send(&Transmit::new(Some(to), buf)))
        } else {
            self.inner.with_socket(|s| s.send(&Transmit::new(None, buf)))
        };
        self.inner.sent(r.map(|r| r.map(|_| buf.len())), |n| (1, n))
    }

    /// Sends datagrams with one system call per 64 (`sendmmsg`): `data` holds them back to
    /// back, `lengths[i]` bytes each; datagram `i` goes to `hosts[hostIndex[i]]:ports[i]`, or
    /// to the connected peer when `hosts` is empty. `lengths`, `ports` and `hostIndex` are
    /// Uint32Arrays, read in place; one buffer crosses instead of one value per datagram.
    /// Returns how many were sent (fewer than asked: the next would block or failed), or a
    /// negative errno when none was.
    #[napi(catch_unwind)]
    pub fn send_batch(&self, data: &[u8], lengths: &[u32], ports: &[u32], hosts: Vec<String>, host_index: &[u32]) -> i32 {
        let mut chunks = Vec::with_capacity(lengths.len());
        let mut off = 0usize;
        for &len in lengths {
            let Some(chunk) = data.get(off..off + len as usize) else { return EINVAL };
            chunks.push(chunk);
            off += len as usize;
        }
        if !hosts.is_empty() && (ports.len() < chunks.len() || host_index.len() < chunks.len()) {
            return EINVAL;
        }
        // Each distinct host is parsed once. Datagrams before the first one whose host does
        // not parse go out; that one then fails on its own, as send() would fail for it.
        let parsed: Vec<Option<SocketAddr>> = hosts.iter().map(|h| parse_ip(c_str(h), 0, self.inner.v6).ok()).collect();
        let mut dests = Vec::with_capacity(if hosts.is_empty() { 0 } else { chunks.len() });
        if !hosts.is_empty() {
            for (i, &h) in host_index.iter().take(chunks.len()).enumerate() {
                match parsed.get(h as usize).copied().flatten() {
                    Some(mut a) => {
                        a.set_port(ports[i] as u16);
                        dests.push(a);
                    }
                    None if dests.is_empty() => return EINVAL,
                    None => break,
                }
            }
        }
        let chunks = if hosts.is_empty() { &chunks[..] } else { &chunks[..dests.len()] };
        let msgs: Vec<Transmit<'_>> =
            chunks.iter().enumerate().map(|(i, c)| Transmit::new(dests.get(i).copied(), c)).collect();
        let r = self.inner.with_socket(|s| s.send_batch(&msgs));
        self.inner.sent(r, |n| (n, msgs[..n.min(msgs.len())].iter().map(|m| m.len()).sum()))
    }

    /// Sends `chunks` (each `segmentSize` bytes but the last) to one destination, gathered
    /// into GSO sends where the kernel has GSO; a single chunk is split into segments. Returns how many were sent, or a negative
    /// errno.
    #[napi(catch_unwind)]
    pub fn send_segments(&self, chunks: Vec<&[u8]>, segment_size: u32, port: u32, ip: Option<String>) -> i32 {
        let dest = match ip {
            Some(ip) => match parse_ip(c_str(&ip), port as u16, self.inner.v6) {
                Ok(a) => Some(a),
                Err(_) => return EINVAL,
            },
            None => None,
        };
        let seg = segment_size as usize;
        if let [whole] = chunks[..] {
            // One contiguous buffer of many segments (small datagrams, copied together in
            // JS: cheaper for the kernel than one iovec each).
            let r = self.inner.with_socket(|s| s.send(&Transmit::new(dest, whole).with_segment_size(seg)));
            return self.inner.sent(r, |n| (n, whole.len().min(n.saturating_mul(seg))));
        }
        // Separate buffers, gathered where they lie and cut at `seg` bytes.
        let total: usize = chunks.iter().map(|c| c.len()).sum();
        let r = self.inner.with_socket(|s| s.send(&Transmit::gather(dest, &chunks).with_segment_size(seg)));
        self.inner.sent(r, |n| (n, total.min(n.saturating_mul(seg))))
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

    /// `UDP_GRO`: let the kernel coalesce runs of same-sized datagrams (split again here).
    #[napi(catch_unwind)]
    pub fn set_gro(&self, on: bool) -> i32 {
        self.inner.with_socket(|s| status(s.set_gro(on))).unwrap_or(EBADF)
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> SocketStats {
        let c = self.inner.stats.get();
        SocketStats {
            datagrams_received: c.rx_datagrams as f64,
            bytes_received: c.rx_bytes as f64,
            datagrams_sent: c.tx_datagrams as f64,
            bytes_sent: c.tx_bytes as f64,
            kernel_drops: c.kernel_drops as f64,
        }
    }

    /// Starts reading: `onMessage(buffer, address, port)` per datagram, or
    /// `onMessage(-errno)` on a receive error; `onWritable()` after `wantWritable(true)`.
    #[napi(catch_unwind)]
    pub fn recv_start(&self, env: Env, on_message: Function, on_writable: Function) -> i32 {
        let inner = &self.inner;
        if inner.closed.get() {
            return EBADF;
        }
        if inner.poll.borrow().is_some() {
            return 0;
        }
        let fd = match inner.with_socket(std::os::fd::AsRawFd::as_raw_fd) {
            Some(fd) => fd,
            None => return EBADF,
        };
        let raw_env = env.raw();
        let Ok(lp) = env.get_uv_event_loop() else { return EINVAL };
        // The kernel's drop counter rides along with datagrams once it is non-zero; where
        // the platform lacks it, stats() reports no kernel drops.
        let _ = inner.with_socket(|s| s.set_drop_counting(true));
        // SAFETY: both function values come from this call's arguments.
        let (Some(m), Some(w)) = (unsafe { JsCallback::new(raw_env, on_message.raw(), "UDPWRAP") }, unsafe {
            JsCallback::new(raw_env, on_writable.raw(), "UDPSENDWRAP")
        }) else {
            return EINVAL;
        };
        // SAFETY: `lp` is this thread's running loop; the descriptor stays open until
        // `close`, which closes the poll handle first.
        let poll = match unsafe { Poll::new(lp.cast(), fd, Box::new(Ready(inner.clone()))) } {
            Ok(p) => p,
            Err(e) => return uv_code(&e),
        };
        poll.set_ref(inner.refed.get());
        *inner.poll.borrow_mut() = Some(poll);
        *inner.on_message.borrow_mut() = Some(Rc::new(m));
        *inner.on_writable.borrow_mut() = Some(Rc::new(w));
        inner.env.set(raw_env);
        let leaked = Rc::into_raw(inner.clone());
        // SAFETY: registers a hook with a pointer that stays valid until `close` removes it.
        if unsafe { sys::napi_add_env_cleanup_hook(raw_env, Some(cleanup_hook), leaked as *mut _) }
            == sys::Status::napi_ok
        {
            inner.cleanup.set(leaked);
        } else {
            // SAFETY: registration failed; reclaim the leaked Rc.
            drop(unsafe { Rc::from_raw(leaked) });
        }
        inner.update_poll()
    }

    /// Asks for one `onWritable` call when the kernel can take more (or stops asking).
    #[napi(catch_unwind)]
    pub fn want_writable(&self, on: bool) -> i32 {
        let mut guard = self.inner.poll.borrow_mut();
        let Some(p) = guard.as_mut() else { return EBADF };
        let mut events = p.events() & !uv::WRITABLE;
        if on {
            events |= uv::WRITABLE;
        }
        if self.inner.on_message.borrow().is_some() && self.inner.reading.get() {
            events |= uv::READABLE;
        }
        status(p.set_events(events))
    }

    /// Whether an active socket keeps the event loop alive (`ref()`/`unref()`).
    #[napi(catch_unwind)]
    pub fn set_ref(&self, on: bool) {
        self.inner.refed.set(on);
        if let Some(p) = &*self.inner.poll.borrow() {
            p.set_ref(on);
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
        let r = self.inner.with_socket(|s| {
            if recv {
                s.recv_buffer_size(size as usize)
            } else {
                s.send_buffer_size(size as usize)
            }
        });
        match r {
            Some(Ok(v)) => v as i64,
            Some(Err(e)) => uv_code(&e) as i64,
            None => EBADF as i64,
        }
    }
}

impl NativeSocket {
    fn adopt(&self, s: std::io::Result<UdpSocket>) -> i32 {
        match s {
            Ok(s) => {
                own_fd(&s);
                self.inner.shared.set(true);
                *self.inner.socket.borrow_mut() = Some(s);
                0
            }
            Err(e) => uv_code(&e),
        }
    }

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
