//! The receive loop: what a readable event reads (bounded per event) and how it reaches JS,
//! and the traffic counters of `stats()`.

use std::cell::RefCell;

use napi_derive::napi;
use udpx::RecvBatch;

use crate::deliver;
use crate::delivery;
use crate::error::uv_code;
use crate::handle::Handle;

/// Datagrams taken per `recvmmsg` call (and handed to a batch handler at once), and per
/// readiness event: the work one loop turn does is bounded.
const RECV_BATCH: usize = 64;
/// Datagram slots read per readiness event while a batch handler is set: a few full
/// batches, so that a flood costs one trip through the loop and `epoll_wait` per four
/// `recvmmsg` calls, not per call; still bounded (four handler calls per event, where libuv
/// makes 32 `'message'` calls), and reading stops at once when JS pauses it.
const BATCH_EVENT_SLOTS: usize = 4 * RECV_BATCH;
/// Receive calls per readiness event. After a short batch the queue was empty when read,
/// but a peer may have answered while the handlers ran (in ping-pong on one CPU, the peer
/// runs as soon as the handler's send wakes it); reading again then saves a trip through
/// the loop and `epoll_wait`, as libuv's read loop does (up to 32 reads per event). Where
/// that read keeps finding nothing it is left out (see [`ReadAgain`]).
const RECV_CALLS: usize = 32;
/// Single-datagram reads per readiness event on a shared descriptor (libuv reads 32).
const SHARED_READS: usize = 32;
/// Reads again after this many short batches in a row whose read-again found nothing, the
/// socket stops reading again after a short batch...
const MISSES_TO_STOP: u8 = 2;
/// ...except on every this-many-th short batch, to notice when it would pay off again.
const PROBE_EVERY: u8 = 16;
/// Error-queue entries read per readiness event.
const ERRQUEUE_READS: usize = 64;

thread_local! {
    /// One receive area per JS thread: callbacks on a thread never overlap, and datagrams
    /// are copied into JS buffers before the next receive.
    static RECV_AREA: RefCell<RecvBatch> = RefCell::new(RecvBatch::new(RECV_BATCH));
    /// The datagrams of the last receive (GRO runs split), reused.
    static ITEMS: RefCell<Vec<deliver::Item>> = const { RefCell::new(Vec::new()) };
}

/// Traffic counters, as `stats()` reports them.
#[derive(Clone, Copy, Default)]
pub(crate) struct Counters {
    pub(crate) rx_datagrams: u64,
    pub(crate) rx_bytes: u64,
    pub(crate) tx_datagrams: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) kernel_drops: u64,
    pub(crate) icmp_errors: u64,
}

/// Whether reading again after a short batch pays off on a socket. A read that finds
/// nothing is a failed system call; one that finds a datagram saves a trip through the
/// loop (Node polls once without waiting, then again to wait) and a wake-up. Which one a
/// socket gets depends on who runs when: in ping-pong on one CPU the side that the
/// scheduler preempts in its send finds the answer on its next read, the other side never
/// does. So each socket keeps what its own reads again found.
#[derive(Clone, Copy, Default)]
pub(crate) struct ReadAgain {
    /// Read-agains in a row that found nothing.
    misses: u8,
    /// Short batches not followed by a read (counts to the next probe).
    skipped: u8,
}

impl ReadAgain {
    /// Whether to read again after this short batch (counting it when not).
    fn wanted(&mut self) -> bool {
        if self.misses < MISSES_TO_STOP {
            return true;
        }
        self.skipped = self.skipped.wrapping_add(1);
        self.skipped.is_multiple_of(PROBE_EVERY)
    }

    /// What the read again found.
    fn found(&mut self, something: bool) {
        self.misses = if something { 0 } else { self.misses.saturating_add(1) };
    }
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
    /// Error-queue entries read (ICMP errors about sent datagrams), with `recvErrors` on.
    pub icmp_errors: f64,
}

impl From<Counters> for SocketStats {
    fn from(c: Counters) -> Self {
        SocketStats {
            datagrams_received: c.rx_datagrams as f64,
            bytes_received: c.rx_bytes as f64,
            datagrams_sent: c.tx_datagrams as f64,
            bytes_sent: c.tx_bytes as f64,
            kernel_drops: c.kernel_drops as f64,
            icmp_errors: c.icmp_errors as f64,
        }
    }
}

impl Handle {
    /// Reads what is queued (bounded per event) and hands it to JS: a datagram per
    /// `onMessage` call, or a whole batch per `onBatch` call when one is set.
    pub(crate) fn read_ready(&self) {
        // A descriptor shared with other processes (cluster, bind({ fd })) is read one
        // datagram at a time, as libuv reads: what this socket does not deliver (it closed
        // in a handler, say) stays in the kernel for the others.
        let shared = self.shared.get();
        let (per_call, mut budget) = if shared {
            (1, SHARED_READS)
        } else if self.on_batch.borrow().is_some() {
            (RECV_BATCH, BATCH_EVENT_SLOTS)
        } else {
            (RECV_BATCH, RECV_BATCH)
        };
        let mut short = false;
        for _ in 0..RECV_CALLS {
            if self.closed.get() || !self.reading.get() || budget == 0 {
                return;
            }
            // A read after a short batch; one datagram per call (shared) cannot tell, so
            // those go on as libuv's.
            let again = short && !shared;
            if again && !self.read_again.borrow_mut().wanted() {
                return;
            }
            let max = per_call.min(budget);
            let got = RECV_AREA.with(|area| {
                let mut area = area.borrow_mut();
                self.with_socket(|s| s.recv_batch_max(&mut area, max))
            });
            if again {
                self.read_again.borrow_mut().found(matches!(got, Some(Ok(_))));
            }
            let n = match got {
                None => return,
                Some(Ok(n)) => n,
                Some(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // With IP_RECVERR a queued ICMP error fails the receive: read the queue
                // (which clears it) and let the next readiness event read the datagrams.
                Some(Err(_)) if self.recv_errors.get() => {
                    self.drain_errors();
                    return;
                }
                Some(Err(e)) => {
                    self.emit_error(uv_code(&e));
                    return;
                }
            };
            let (datagrams, bytes) = RECV_AREA.with(|area| self.account(&area.borrow(), n));
            if self.on_batch.borrow().is_some() {
                self.deliver_batches(n, (datagrams, bytes + udpx::packed::RECV_FIELDS * datagrams));
            } else {
                ITEMS.with(|items| RECV_AREA.with(|area| deliver::items(&area.borrow(), n, &mut items.borrow_mut())));
                if self.message_batches.get() && ITEMS.with(|items| items.borrow().len()) > 1 {
                    self.deliver_messages();
                } else {
                    self.deliver_each(0, n);
                }
            }
            short = n < max;
            budget -= n.min(budget);
        }
    }

    /// Reads the error queue (bounded per event): one `onIcmpError` call and one count per
    /// entry.
    pub(crate) fn drain_errors(&self) {
        for _ in 0..ERRQUEUE_READS {
            if self.closed.get() {
                return;
            }
            let Some(Ok(Some(e))) = self.with_socket(|s| s.recv_error()) else { return };
            let mut stats = self.stats.get();
            stats.icmp_errors += 1;
            self.stats.set(stats);
            if let Some(cb) = self.on_icmp_error.borrow().clone() {
                cb.call(|env| deliver::icmp_error_args(env, &e));
            }
        }
    }

    /// Counts what a receive brought in (GRO runs as the datagrams they hold); returns the
    /// datagrams and payload bytes.
    fn account(&self, area: &RecvBatch, n: usize) -> (usize, usize) {
        let mut stats = self.stats.get();
        let before = stats.rx_bytes;
        let mut datagrams = 0;
        for m in area.metas().iter().take(n) {
            datagrams += m.segments();
            stats.rx_bytes += m.len as u64;
            if let Some(d) = m.drops {
                stats.kernel_drops = stats.kernel_drops.max(d as u64);
            }
        }
        stats.rx_datagrams += datagrams as u64;
        self.stats.set(stats);
        (datagrams, (stats.rx_bytes - before) as usize)
    }

    /// `onMessage(buffer, address, port[, metadata])` for segment `seg` of slot `i`. The
    /// receive area is borrowed only while the arguments are built, never across JS.
    fn deliver(&self, i: usize, seg: usize) {
        let Some(cb) = self.on_message.borrow().clone() else { return };
        let args = |env| RECV_AREA.with(|area| deliver::message_args(env, &area.borrow(), i, seg, &mut self.addr_memo.borrow_mut()));
        if self.metadata.get() {
            // Opted in: a fourth argument with what the kernel said about the datagram.
            cb.call(|env| {
                let [buf, addr, port] = args(env)?;
                let extra = RECV_AREA.with(|area| deliver::metadata_object(env, area.borrow().meta(i)))?;
                Some([buf, addr, port, extra])
            });
        } else {
            cb.call(args);
        }
    }

    /// One `onMessage` call per datagram of slots `from..n`: the path without batches, and
    /// also a lone datagram with batches on, which costs less alone (no slab, no meta
    /// array) — the ping-pong case.
    fn deliver_each(&self, from: usize, n: usize) {
        for i in from..n {
            let segments = RECV_AREA.with(|area| area.borrow().meta(i).segments());
            for seg in 0..segments {
                if self.closed.get() || self.on_message.borrow().is_none() {
                    return;
                }
                self.deliver(i, seg);
            }
        }
    }

    /// `onBatch(arrayBuffer, count, bytes, addresses, metadata)` for what was read: one
    /// ArrayBuffer holding the batch's fields, then its payloads (see [`crate::delivery`]),
    /// which the JS side views. One call for the whole receive unless it passes the byte
    /// cap, then one per part. Should JS stop batch delivery in one of those calls, the rest
    /// goes to `onMessage` one datagram at a time. `all` is `(datagrams, bytes)` of the
    /// whole receive, which is one delivery when it is within the cap.
    fn deliver_batches(&self, n: usize, all: (usize, usize)) {
        let metadata = self.metadata.get();
        let mut start = 0;
        while start < n {
            if self.closed.get() {
                return;
            }
            let Some(cb) = self.on_batch.borrow().clone() else {
                return self.deliver_each(start, n);
            };
            let (end, datagrams, bytes) = if start == 0 && all.1 <= delivery::CAP {
                (n, all.0, all.1)
            } else {
                RECV_AREA.with(|area| deliver::next_delivery(&area.borrow(), start, n))
            };
            cb.call(|env| {
                let (buffer, data) = delivery::batch_buffer(env, bytes)?;
                // SAFETY: `batch_buffer` made an ArrayBuffer of `bytes` bytes at `data` (a
                // dangling aligned pointer for 0 bytes), kept alive by the open scope; no JS
                // runs while the slice lives.
                let out = unsafe { std::slice::from_raw_parts_mut(data, bytes) };
                let mut sources = self.sources.borrow_mut();
                sources.clear();
                RECV_AREA.with(|area| deliver::fill_delivery(&area.borrow(), start..end, datagrams, out, &mut sources));
                let addresses = sources.array(env)?;
                let extras = if metadata {
                    RECV_AREA.with(|area| deliver::metadata_array(env, &area.borrow(), start..end, datagrams))?
                } else {
                    deliver::undefined(env)?
                };
                Some([
                    buffer,
                    deliver::number(env, datagrams as f64)?,
                    deliver::number(env, (bytes - udpx::packed::RECV_FIELDS * datagrams) as f64)?,
                    addresses,
                    extras,
                ])
            });
            start = end;
        }
    }

    /// `'message'` in batches: one `onMessage(buffer, meta, addresses, metadata)` call per
    /// slab of datagrams (see [`deliver::slabs`]); JS emits one event per datagram and runs
    /// the ticks queued by each handler before the next. A handler that throws leaves the
    /// call with an exception (reported as uncaught, as node:dgram's would be); JS then gets
    /// `onMessage()` without arguments to go on with the rest.
    fn deliver_messages(&self) {
        let metadata = self.metadata.get();
        let items = ITEMS.with(|items| std::mem::take(&mut *items.borrow_mut()));
        let runs: Vec<std::ops::Range<usize>> = RECV_AREA.with(|area| {
            let area = area.borrow();
            let mut at = 0;
            deliver::slabs(&area, &items)
                .map(|run| {
                    at += run.len();
                    at - run.len()..at
                })
                .collect()
        });
        for run in runs {
            let Some(cb) = self.on_message.borrow().clone() else { break };
            if self.closed.get() {
                break;
            }
            let mut done = cb.call(|env| RECV_AREA.with(|area| deliver::batch_args(env, &area.borrow(), &items[run.clone()], metadata)));
            // Bounded: each resumed call delivers at least one datagram or finishes.
            for _ in 0..run.len() {
                if done || self.closed.get() {
                    break;
                }
                done = cb.call(|env| {
                    let mut v = std::ptr::null_mut();
                    // SAFETY: creating a value in the open scope.
                    unsafe { napi::sys::napi_get_undefined(env, &mut v) };
                    Some([v])
                });
            }
        }
        ITEMS.with(|slot| *slot.borrow_mut() = items);
    }
}
