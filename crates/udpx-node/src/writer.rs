//! The send side of a handle: sends, what they add to the counters, and the send queue —
//! libuv's write queue: sends the kernel could not take at once (EAGAIN), or made while
//! others wait, in order; what `getSendQueueSize/Count` report.
//!
//! On a writable event the queue is drained here, as libuv's `uv__udp_io` does: first the
//! waiting sends go to the kernel, in order, until it pushes back; then their completions
//! run, one callback scope each (so that ticks queued by one send callback run before the
//! next), and only for sends that have a callback, as node:dgram's `SendWrap` calls JS
//! only when it has one. A send leaves the queue (and its counts) when its completion
//! runs, so a send made from a completion callback waits behind the rest, as in libuv.
//! Closing the socket completes what is left after `'close'`, in the close phase of the
//! loop, as libuv's `uv__udp_finish_close`: sends handed to the kernel with their outcome,
//! the others with `ECANCELED`.
//!
//! A queued send keeps references to the caller's buffers and reads them when it is sent,
//! as libuv sends from the caller's memory: a buffer changed after `send()` but before the
//! queue drains goes out changed, as on node:dgram. (A buffer whose memory was detached
//! meanwhile goes out empty; libuv would read freed memory.)

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ptr;
use std::rc::Rc;

use napi::sys;
use udpx::Transmit;

use crate::callback::{report_pending, JsCallback};
use crate::destination::destination;
use crate::error::{uv_code, EAGAIN, EBADF, ECANCELED, EDESTADDRREQ, EINVAL, EISCONN};
use crate::handle::Handle;

/// Queued sends handed to the kernel per writable event, bounding the work of one loop turn.
const WRITES_PER_EVENT: usize = 1024;
/// Queued datagrams handed to the kernel per call (libuv's drain sends 20 per `sendmmsg`).
const DRAIN_BATCH: usize = 64;

fn ok(s: sys::napi_status) -> bool {
    s == sys::Status::napi_ok
}

/// What a queued send sends.
enum Payload {
    /// One datagram of these buffers (references to the caller's `Uint8Array`s).
    Buffers(Vec<sys::napi_ref>),
    /// A batch the facade sends itself: `attempt()` returns 0, a negative errno, or
    /// `EAGAIN` to be called again when writable.
    Attempt(sys::napi_ref),
}

/// What a send to be queued holds, as JS values (referenced while it waits).
pub(crate) enum Sending<'a> {
    /// The buffers of one datagram.
    Buffers(&'a [sys::napi_value]),
    /// A batch's `attempt` function.
    Attempt(sys::napi_value),
}

/// One send waiting in the queue.
struct Queued {
    payload: Payload,
    to: Option<SocketAddr>,
    /// What `getSendQueueSize` counts for it.
    bytes: usize,
    /// `done(err, bytes)`, or none: then no JS runs for it.
    done: Option<sys::napi_ref>,
    /// Once handed to the kernel: the bytes sent or a negative errno.
    result: i32,
}

impl Payload {
    fn into_refs(self) -> Vec<sys::napi_ref> {
        match self {
            Payload::Buffers(b) => b,
            Payload::Attempt(f) => vec![f],
        }
    }
}

impl Queued {
    /// Drops the references.
    fn release(self, env: sys::napi_env) {
        let mut refs = self.payload.into_refs();
        refs.extend(self.done);
        release(env, refs);
    }
}

/// Deletes references that [`reference`] made in `env` (taken by value: each once).
fn release(env: sys::napi_env, refs: Vec<sys::napi_ref>) {
    for r in refs {
        // SAFETY: every caller passes references it made in `env` and gives up.
        unsafe { sys::napi_delete_reference(env, r) };
    }
}

/// libuv's write queue and completed queue in one: `entries[..finished]` have been handed
/// to the kernel and wait for their completion; the rest wait for writability.
pub(crate) struct SendQueue {
    entries: VecDeque<Queued>,
    finished: usize,
    bytes: usize,
    /// `onDrain()`, whose async context completions run in; set by `recvStart`.
    pub(crate) completer: Option<Rc<JsCallback>>,
    /// False under Node's `--test-udp-no-try-send`: every send waits for writability.
    pub(crate) try_send: bool,
}

impl SendQueue {
    pub(crate) fn new() -> Self {
        SendQueue { entries: VecDeque::new(), finished: 0, bytes: 0, completer: None, try_send: true }
    }

    pub(crate) fn count(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Removes the front entry, with the outcome it completes with.
    fn pop(&mut self, cancelled: i32) -> Option<(Queued, i32)> {
        let e = self.entries.pop_front()?;
        self.bytes = self.bytes.saturating_sub(e.bytes);
        let result = if self.finished > 0 {
            self.finished -= 1;
            e.result
        } else {
            cancelled
        };
        Some((e, result))
    }
}

/// A strong reference to `v`, or None.
///
/// # Safety
/// `v` is a live value of `env`.
unsafe fn reference(env: sys::napi_env, v: sys::napi_value) -> Option<sys::napi_ref> {
    let mut r = ptr::null_mut();
    // SAFETY: per the contract; `r` is a live local.
    ok(unsafe { sys::napi_create_reference(env, v, 1, &mut r) }).then_some(r)
}

/// The bytes of a `Uint8Array` (any typed array: its bytes), valid while `v` is alive and
/// no JS runs; empty for a detached one; None for anything else.
///
/// # Safety
/// `v` is a live value of `env`; the slice must not be used after JS runs again.
pub(crate) unsafe fn bytes_of<'a>(env: sys::napi_env, v: sys::napi_value) -> Option<&'a [u8]> {
    let mut is_typed = false;
    // SAFETY: per the contract; out-pointer is a live local.
    if !ok(unsafe { sys::napi_is_typedarray(env, v, &mut is_typed) }) || !is_typed {
        return None;
    }
    let mut kind = sys::TypedarrayType::uint8_array;
    let mut length = 0usize;
    let mut data = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut offset = 0usize;
    // SAFETY: `v` is a typed array; out-pointers are live locals.
    if !ok(unsafe { sys::napi_get_typedarray_info(env, v, &mut kind, &mut length, &mut data, &mut buffer, &mut offset) }) {
        return None;
    }
    // Element widths by napi_typedarray_type; an unknown kind (a newer Node's) is refused
    // rather than guessed: too wide a guess would read past the view.
    let width = match kind {
        0..=2 => 1,      // int8, uint8, uint8 clamped
        3 | 4 | 11 => 2, // int16, uint16, float16
        5..=7 => 4,      // int32, uint32, float32
        8..=10 => 8,     // float64, bigint64, biguint64
        _ => return None,
    };
    if data.is_null() || length == 0 {
        return Some(&[]);
    }
    // SAFETY: napi reports `data` as the view's first element, `length` elements of
    // `width` bytes, inside its live (not detached) buffer; per the contract the slice
    // dies before JS can change that.
    Some(unsafe { std::slice::from_raw_parts(data as *const u8, length * width) })
}

impl Handle {
    /// The destination of a send: see [`destination`].
    ///
    /// # Safety
    /// `ip` is a live value of `env`, the current call's environment.
    pub(crate) unsafe fn destination_of(
        &self,
        env: sys::napi_env,
        ip: sys::napi_value,
        port: u32,
    ) -> std::result::Result<Option<SocketAddr>, i32> {
        let inner = self;
        // SAFETY: per the contract.
        unsafe { destination(env, ip, port, inner.connected.get(), inner.v6, &mut inner.destinations.borrow_mut()) }
    }

    /// One datagram of `buffers` to `ip:port` (or the connected peer): sent now when
    /// `try_first` and nothing waits (bytes + 1, or a negative errno other than `EAGAIN`),
    /// else queued (0, or a negative errno), with `done` if it is a function.
    ///
    /// # Safety
    /// The values are live values of `env`, the current call's environment.
    pub(crate) unsafe fn send_or_queue(
        &self,
        env: sys::napi_env,
        buffers: &[sys::napi_value],
        port: u32,
        ip: sys::napi_value,
        done: sys::napi_value,
        try_first: bool,
    ) -> i32 {
        let inner = self;
        // SAFETY: per the contract.
        let to = match unsafe { self.destination_of(env, ip, port) } {
            Ok(to) => to,
            Err(e) => return e,
        };
        let mut bytes = 0;
        let sendable = try_first && !inner.must_queue();
        let r = if let [one] = buffers {
            // SAFETY: per the contract; the slice is used before any JS runs.
            let Some(b) = (unsafe { bytes_of(env, *one) }) else { return EINVAL };
            bytes = b.len();
            if sendable {
                inner.send_now(to, &[b])
            } else {
                EAGAIN
            }
        } else {
            let mut chunks = Vec::with_capacity(buffers.len());
            for &v in buffers {
                // SAFETY: per the contract; the slices are used before any JS runs.
                let Some(b) = (unsafe { bytes_of(env, v) }) else { return EINVAL };
                bytes += b.len();
                chunks.push(b);
            }
            if sendable {
                inner.send_now(to, &chunks)
            } else {
                EAGAIN
            }
        };
        let handed = (r != EAGAIN).then_some(r);
        if handed.is_some() && !inner.completes_later() {
            return if r >= 0 { r + 1 } else { r };
        }
        let mut ty = sys::ValueType::napi_undefined;
        // SAFETY: per the contract; `ty` is a live local.
        let is_function = !done.is_null()
            && unsafe { sys::napi_typeof(env, done, &mut ty) } == sys::Status::napi_ok
            && ty == sys::ValueType::napi_function;
        // SAFETY: per the contract.
        let queued = unsafe { inner.enqueue(env, Sending::Buffers(buffers), to, bytes, is_function.then_some(done), handed) };
        match handed {
            // Sent already, but its completion could not be queued (closed meanwhile, or
            // the poll failed): report what the kernel said, not the queueing error.
            Some(r) if queued < 0 => {
                if r >= 0 {
                    r + 1
                } else {
                    r
                }
            }
            _ => queued,
        }
    }

    /// Tries to send `buf` now to `ip:port` (or the connected peer), but never queues it:
    /// bytes + 1, a negative errno, or `EAGAIN` when the kernel pushes back or other sends
    /// wait.
    ///
    /// # Safety
    /// `ip` is a live value of `env`, the current call's environment.
    pub(crate) unsafe fn try_send_one(&self, env: sys::napi_env, buf: &[u8], port: u32, ip: sys::napi_value) -> i32 {
        // SAFETY: per the contract.
        let to = match unsafe { self.destination_of(env, ip, port) } {
            Ok(to) => to,
            Err(e) => return e,
        };
        if self.must_queue() {
            return EAGAIN;
        }
        let r = self.send_now(to, &[buf]);
        if r >= 0 {
            r + 1
        } else {
            r
        }
    }

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

    /// Sends `chunks` as one datagram to `to` (or the connected peer).
    pub(crate) fn send_now(&self, to: Option<SocketAddr>, chunks: &[&[u8]]) -> i32 {
        let r = match chunks {
            [one] => self.with_socket(|s| s.send(&Transmit::new(to, one))),
            _ => self.with_socket(|s| s.send(&Transmit::gather(to, chunks))),
        };
        let bytes = chunks.iter().map(|c| c.len()).sum::<usize>();
        self.sent(r.map(|r| r.map(|_| bytes)), |n| (1, n))
    }

    /// Whether a send must wait behind others.
    pub(crate) fn must_queue(&self) -> bool {
        self.sends.borrow().count() > 0
    }

    /// Whether a send the kernel took (or refused) at once completes from the loop
    /// instead, as every send does under Node's `--test-udp-no-try-send`.
    pub(crate) fn completes_later(&self) -> bool {
        !self.sends.borrow().try_send
    }

    /// Puts a send at the end of the queue, watching for writability when it was empty.
    /// Its values and `done` stay referenced until it completes. With `handed` (its
    /// outcome) it was sent already and waits only for its completion: libuv's send of a
    /// request into an empty queue, whose callback runs from the loop. 0, or a negative
    /// errno (`EBADF` once closed).
    ///
    /// # Safety
    /// `env` is the current call's environment; the values are live values of it.
    pub(crate) unsafe fn enqueue(
        &self,
        env: sys::napi_env,
        sending: Sending<'_>,
        to: Option<SocketAddr>,
        bytes: usize,
        done: Option<sys::napi_value>,
        handed: Option<i32>,
    ) -> i32 {
        if self.closed.get() || self.sends.borrow().completer.is_none() {
            return EBADF;
        }
        if self.sends.borrow().count() == 0 {
            let w = self.want_writable(true);
            if w < 0 {
                return w;
            }
        }
        let payload = match sending {
            // SAFETY: per the contract.
            Sending::Attempt(f) => unsafe { reference(env, f) }.map(Payload::Attempt),
            Sending::Buffers(buffers) => {
                let mut refs = Vec::with_capacity(buffers.len());
                for &b in buffers {
                    // SAFETY: per the contract.
                    match unsafe { reference(env, b) } {
                        Some(r) => refs.push(r),
                        None => break,
                    }
                }
                if refs.len() == buffers.len() {
                    Some(Payload::Buffers(refs))
                } else {
                    release(env, refs);
                    None
                }
            }
        };
        let Some(payload) = payload else { return EINVAL };
        let done = match done {
            // SAFETY: per the contract.
            Some(d) => match unsafe { reference(env, d) } {
                Some(r) => Some(r),
                None => {
                    release(env, payload.into_refs());
                    return EINVAL;
                }
            },
            None => None,
        };
        let mut q = self.sends.borrow_mut();
        q.bytes += bytes;
        q.entries.push_back(Queued { payload, to, bytes, done, result: handed.unwrap_or(0) });
        if handed.is_some() && q.finished + 1 == q.entries.len() {
            q.finished += 1;
        }
        0
    }

    /// Hands the waiting sends at the front to the kernel: a run of datagrams (up to
    /// [`DRAIN_BATCH`], in one `sendmmsg` where the platform has it, as libuv's drain), or
    /// one batch to its attempt function; records their outcomes. How many were handed
    /// over; None when nothing waits or the kernel pushes back.
    fn hand_over(&self, env: sys::napi_env) -> Option<usize> {
        let mut run: Vec<(Vec<sys::napi_ref>, Option<SocketAddr>)> = Vec::new();
        let mut attempt = None;
        {
            let q = self.sends.borrow();
            for e in q.entries.iter().skip(q.finished).take(DRAIN_BATCH) {
                match &e.payload {
                    Payload::Attempt(f) if run.is_empty() => {
                        attempt = Some(*f);
                        break;
                    }
                    Payload::Attempt(_) => break,
                    Payload::Buffers(b) => run.push((b.clone(), e.to)),
                }
            }
        }
        if let Some(f) = attempt {
            let r = call_attempt(env, f);
            return (r != EAGAIN).then(|| self.record(&[r]));
        }
        if run.is_empty() {
            return None;
        }
        // The payloads, read from the callers' buffers now (no JS runs until they are sent).
        let mut parts: Vec<Vec<&[u8]>> = Vec::with_capacity(run.len());
        for (refs, _) in &run {
            let mut chunks = Vec::with_capacity(refs.len());
            for &r in refs {
                let mut v = ptr::null_mut();
                // SAFETY: the entry holds the reference, so it is alive; `v` is a live local.
                // A handle scope is open (see write_ready).
                if !ok(unsafe { sys::napi_get_reference_value(env, r, &mut v) }) || v.is_null() {
                    return Some(self.record(&[EINVAL]));
                }
                // SAFETY: `v` is live in the open scope; the slices are used before JS runs.
                chunks.push(unsafe { bytes_of(env, v) }.unwrap_or(&[]));
            }
            parts.push(chunks);
        }
        if let [one] = &parts[..] {
            let r = self.send_now(run[0].1, one);
            return (r != EAGAIN).then(|| self.record(&[r]));
        }
        let transmits: Vec<Transmit<'_>> = parts
            .iter()
            .zip(&run)
            .map(|(p, (_, to))| match &p[..] {
                [one] => Transmit::new(*to, one),
                _ => Transmit::gather(*to, p),
            })
            .collect();
        let sizes: Vec<i32> = parts.iter().map(|p| p.iter().map(|c| c.len()).sum::<usize>() as i32).collect();
        let r = self.with_socket(|s| s.send_batch(&transmits));
        // Sent ones count; after a partial send the next call starts at the one that did not
        // go, which then fails (or waits) on its own.
        let n = self.sent(r, |n| (n, sizes[..n.min(sizes.len())].iter().map(|&b| b as usize).sum()));
        if n > 0 {
            let n = (n as usize).min(sizes.len());
            return Some(self.record(&sizes[..n]));
        }
        (n != EAGAIN).then(|| self.record(&[if n == 0 { EINVAL } else { n }]))
    }

    /// Records the outcomes of the next waiting sends, in order; returns how many.
    fn record(&self, results: &[i32]) -> usize {
        let mut q = self.sends.borrow_mut();
        let start = q.finished;
        let mut n = 0;
        for (e, &r) in q.entries.iter_mut().skip(start).zip(results) {
            e.result = r;
            n += 1;
        }
        q.finished += n;
        n
    }

    /// The socket can take more: the waiting sends go to the kernel until it pushes back,
    /// then the completions of those handed over run (see the module's comment); when the
    /// queue is empty, writability is no longer watched and `onDrain()` runs.
    pub(crate) fn write_ready(&self) {
        let Some(completer) = self.sends.borrow().completer.clone() else { return };
        let env = completer.env();
        let mut scope = ptr::null_mut();
        // SAFETY: called on the env's thread from a loop callback; the scope is closed below.
        if !ok(unsafe { sys::napi_open_handle_scope(env, &mut scope) }) {
            return;
        }
        let mut sent = 0;
        while sent < WRITES_PER_EVENT && !self.closed.get() {
            match self.hand_over(env) {
                Some(n) if n > 0 => sent += n,
                _ => break,
            }
        }
        // SAFETY: closes the scope opened above.
        unsafe { sys::napi_close_handle_scope(env, scope) };
        let handed = self.sends.borrow().finished;
        for _ in 0..handed {
            if self.closed.get() {
                // The close phase completes the rest (see cancel_sends).
                return;
            }
            let Some((e, result)) = self.sends.borrow_mut().pop(ECANCELED) else { break };
            complete(&completer, e, result);
        }
        if !self.closed.get() && self.sends.borrow().count() == 0 {
            self.want_writable(false);
            completer.call(|env| {
                let mut v = ptr::null_mut();
                // SAFETY: creating a value in the open scope.
                unsafe { sys::napi_get_undefined(env, &mut v) };
                Some([v])
            });
        }
    }

    /// After the socket closed (its poll handle's close callback): completes what is left
    /// in the queue, in order, `ECANCELED` for sends not handed to the kernel. With
    /// `call_js` false (the environment is going away) only the references are dropped.
    pub(crate) fn cancel_sends(&self, call_js: bool) {
        let completer = self.sends.borrow_mut().completer.take();
        let Some(completer) = completer else { return };
        loop {
            let Some((e, result)) = self.sends.borrow_mut().pop(ECANCELED) else { break };
            if call_js {
                complete(&completer, e, result);
            } else {
                e.release(completer.env());
            }
        }
    }
}

/// Runs `e`'s completion, if it has one, in its own callback scope: `done(err, bytes)` as
/// libuv's send callback reports it (on error, the size that was to be sent).
fn complete(completer: &JsCallback, e: Queued, result: i32) {
    if let Some(done) = e.done {
        let (err, n) = if result < 0 { (result, e.bytes as i32) } else { (0, result) };
        completer.call_ref(done, |env| {
            let mut a = ptr::null_mut();
            let mut b = ptr::null_mut();
            // SAFETY: creating numbers in the open scope.
            let made = unsafe { ok(sys::napi_create_int32(env, err, &mut a)) && ok(sys::napi_create_int32(env, n, &mut b)) };
            made.then_some([a, b])
        });
    }
    e.release(completer.env());
}

/// Calls a queued batch's `attempt()` (no callback scope: no JS of the program runs between
/// two sends of a drain, as in libuv). An exception is reported as uncaught and ends the
/// batch with `EINVAL`.
fn call_attempt(env: sys::napi_env, f: sys::napi_ref) -> i32 {
    let mut func = ptr::null_mut();
    let mut recv = ptr::null_mut();
    let mut result = ptr::null_mut();
    // SAFETY: the entry holds `f`; a handle scope is open (see write_ready); out-pointers
    // are live locals.
    let s = unsafe {
        if !ok(sys::napi_get_reference_value(env, f, &mut func)) || func.is_null() || !ok(sys::napi_get_global(env, &mut recv)) {
            return EINVAL;
        }
        sys::napi_call_function(env, recv, func, 0, ptr::null(), &mut result)
    };
    if s == sys::Status::napi_pending_exception {
        report_pending(env);
        return EINVAL;
    }
    let mut r = EINVAL;
    // SAFETY: `result` is a live value of the open scope.
    if !ok(s) || !ok(unsafe { sys::napi_get_value_int32(env, result, &mut r) }) {
        return EINVAL;
    }
    r
}
