//! `Handle`: the state of one native socket, shared by its JS object, its poll handle on
//! Node's loop and the environment cleanup hook. Every piece of a socket's state that the
//! binding keeps lives here, once.

use std::cell::{Cell, RefCell};
use std::ptr;
use std::rc::Rc;

use napi::sys;
use udpx::{Family, UdpSocket};

use crate::callback::{AddressMemo, JsCallback};
use crate::delivery::Sources;
use crate::destination::DestinationCache;
use crate::error::{status, uv_code};
use crate::fds;
use crate::reader::{Counters, ReadAgain};
use crate::uv::{self, Poll, PollTarget};
use crate::writer::SendQueue;

pub(crate) struct Handle {
    pub(crate) v6: bool,
    pub(crate) socket: RefCell<Option<UdpSocket>>,
    pub(crate) poll: RefCell<Option<Poll>>,
    pub(crate) refed: Cell<bool>,
    pub(crate) closed: Cell<bool>,
    // Rc so that a call in progress keeps its callback alive if JS closes the socket.
    pub(crate) on_message: RefCell<Option<Rc<JsCallback>>>,
    /// Sends waiting for writability, and the context their completions run in.
    pub(crate) sends: RefCell<SendQueue>,
    pub(crate) on_batch: RefCell<Option<Rc<JsCallback>>>,
    /// `onIcmpError(...)` per error-queue entry, while `recv_errors` is on.
    pub(crate) on_icmp_error: RefCell<Option<Rc<JsCallback>>>,
    /// Whether the socket has `IP_RECVERR` on (`setRecvErrors`): then a pending socket
    /// error means "read the error queue", never an 'error' event.
    pub(crate) recv_errors: Cell<bool>,
    /// False while JS has paused reading (backpressure from a full iterator queue).
    pub(crate) reading: Cell<bool>,
    pub(crate) stats: Cell<Counters>,
    /// The descriptor came from elsewhere (`open`, `openDup`) and may be read by others.
    pub(crate) shared: Cell<bool>,
    /// Whether `'message'` datagrams reach JS many per call (`recvStart`'s `batched`).
    pub(crate) message_batches: Cell<bool>,
    /// Whether datagrams carry destination/interface/TOS/timestamp (`setRecvMetadata`).
    pub(crate) metadata: Cell<bool>,
    /// Whether `connect` succeeded (and no `disconnect` since): sends take no address.
    pub(crate) connected: Cell<bool>,
    /// The last destination a send to an address parsed.
    pub(crate) destinations: RefCell<DestinationCache>,
    pub(crate) addr_memo: RefCell<AddressMemo>,
    /// Whether reading again after a short batch pays off here (the reader's record).
    pub(crate) read_again: RefCell<ReadAgain>,
    /// The source strings of the last delivered batch.
    pub(crate) sources: RefCell<Sources>,
    /// The env-cleanup registration (a leaked `Rc<Handle>`), removed on close.
    cleanup: Cell<*const Handle>,
    env: Cell<sys::napi_env>,
}

impl Handle {
    /// An unbound socket of the family `udp6` (true) or `udp4`; no descriptor yet.
    pub(crate) fn new(v6: bool) -> Self {
        Handle {
            v6,
            socket: RefCell::new(None),
            poll: RefCell::new(None),
            refed: Cell::new(true),
            closed: Cell::new(false),
            on_message: RefCell::new(None),
            sends: RefCell::new(SendQueue::new()),
            on_batch: RefCell::new(None),
            on_icmp_error: RefCell::new(None),
            recv_errors: Cell::new(false),
            reading: Cell::new(true),
            stats: Cell::new(Counters::default()),
            connected: Cell::new(false),
            destinations: RefCell::new(DestinationCache::new()),
            metadata: Cell::new(false),
            message_batches: Cell::new(false),
            shared: Cell::new(false),
            addr_memo: RefCell::new(AddressMemo::new()),
            read_again: RefCell::new(ReadAgain::default()),
            sources: RefCell::new(Sources::default()),
            cleanup: Cell::new(ptr::null()),
            env: Cell::new(ptr::null_mut()),
        }
    }

    pub(crate) fn with_socket<T>(&self, f: impl FnOnce(&UdpSocket) -> T) -> Option<T> {
        self.socket.borrow().as_ref().map(f)
    }

    /// Creates the descriptor on first need, as libuv does at bind time.
    pub(crate) fn ensure_socket(&self, v6: bool) -> std::io::Result<()> {
        if self.socket.borrow().is_none() {
            let family = if v6 { Family::V6 } else { Family::V4 };
            let s = UdpSocket::new(family)?;
            fds::own(&s);
            *self.socket.borrow_mut() = Some(s);
        }
        Ok(())
    }

    /// Takes `s` as this handle's descriptor, one that others may read too.
    pub(crate) fn adopt(&self, s: std::io::Result<UdpSocket>) -> i32 {
        match s {
            Ok(s) => {
                fds::own(&s);
                self.shared.set(true);
                *self.socket.borrow_mut() = Some(s);
                0
            }
            Err(e) => uv_code(&e),
        }
    }

    /// Reports a receive error to JS as `onMessage(-errno)`.
    pub(crate) fn emit_error(&self, code: i32) {
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

    /// Starts watching the descriptor on `lp` with JS callbacks `on_message` and
    /// `on_drain` (the send queue emptied; queued sends complete in its context);
    /// registers the environment cleanup hook.
    ///
    /// # Safety
    /// `env` is the calling thread's environment and `lp` its running loop.
    pub(crate) unsafe fn start(
        self: &Rc<Self>,
        env: sys::napi_env,
        lp: *mut uv::UvLoop,
        on_message: JsCallback,
        on_drain: JsCallback,
    ) -> i32 {
        let Some(fd) = self.with_socket(UdpSocket::raw_fd) else { return crate::error::EBADF };
        // SAFETY: per the contract, `lp` is this thread's running loop; the descriptor stays
        // open until `close`, which closes the poll handle first.
        let poll = match unsafe { Poll::new(lp, fd, Box::new(Ready(self.clone()))) } {
            Ok(p) => p,
            Err(e) => return uv_code(&e),
        };
        poll.set_ref(self.refed.get());
        *self.poll.borrow_mut() = Some(poll);
        *self.on_message.borrow_mut() = Some(Rc::new(on_message));
        self.sends.borrow_mut().completer = Some(Rc::new(on_drain));
        self.env.set(env);
        let leaked = Rc::into_raw(self.clone());
        // SAFETY: registers a hook with a pointer that stays valid until `close` removes it.
        if unsafe { sys::napi_add_env_cleanup_hook(env, Some(cleanup_hook), leaked as *mut _) } == sys::Status::napi_ok {
            self.cleanup.set(leaked);
        } else {
            // SAFETY: registration failed; reclaim the leaked Rc.
            drop(unsafe { Rc::from_raw(leaked) });
        }
        self.update_poll()
    }

    /// Polls for what is wanted: readability while reading, writability while sends wait.
    pub(crate) fn update_poll(&self) -> i32 {
        let mut guard = self.poll.borrow_mut();
        let Some(p) = guard.as_mut() else { return 0 };
        let mut events = 0;
        if self.on_message.borrow().is_some() && self.reading.get() {
            events |= uv::READABLE;
        }
        if self.sends.borrow().completer.is_some() && p.events() & uv::WRITABLE != 0 {
            events |= uv::WRITABLE;
        }
        status(p.set_events(events))
    }

    /// Asks for writability events (or stops asking), keeping readability as it is.
    pub(crate) fn want_writable(&self, on: bool) -> i32 {
        let mut guard = self.poll.borrow_mut();
        let Some(p) = guard.as_mut() else { return crate::error::EBADF };
        let mut events = p.events() & !uv::WRITABLE;
        if on {
            events |= uv::WRITABLE;
        }
        if self.on_message.borrow().is_some() && self.reading.get() {
            events |= uv::READABLE;
        }
        // Sends waiting for writability keep the loop alive even on an unref'd socket, as
        // libuv's registered send requests do; the socket's own ref comes back with the drain.
        p.set_ref(on || self.refed.get());
        status(p.set_events(events))
    }

    /// Closes the poll handle, the descriptor and the JS references. Idempotent.
    pub(crate) fn close(&self, from_cleanup_hook: bool) {
        if self.closed.replace(true) {
            return;
        }
        if let Some(p) = self.poll.borrow_mut().take() {
            p.close();
        }
        if let Some(s) = self.socket.borrow_mut().take() {
            fds::release(&s);
        }
        let env = self.env.get();
        self.on_message.borrow_mut().take();
        if from_cleanup_hook {
            // No JS runs now: queued sends are dropped. Otherwise the poll handle's close
            // callback completes them (`Ready::on_closed`).
            self.cancel_sends(false);
        }
        self.on_batch.borrow_mut().take();
        self.on_icmp_error.borrow_mut().take();
        drop(self.sources.take());
        let hook = self.cleanup.replace(ptr::null());
        if !hook.is_null() && !env.is_null() {
            if !from_cleanup_hook {
                // SAFETY: removes exactly the registration made in `start`.
                unsafe { sys::napi_remove_env_cleanup_hook(env, Some(cleanup_hook), hook as *mut _) };
            }
            // SAFETY: `hook` is the Rc leaked at registration; reclaimed once (swapped out).
            drop(unsafe { Rc::from_raw(hook) });
        }
    }
}

/// Environment teardown (process exit, worker termination): close what is still open.
unsafe extern "C" fn cleanup_hook(arg: *mut std::ffi::c_void) {
    // SAFETY: `arg` is the leaked Rc<Handle> registered in `start`, still alive because
    // only `close` reclaims it and `close` removes this hook first unless called from here.
    let handle = unsafe { &*(arg as *const Handle) };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle.close(true)));
}

/// The poll handle's view of a socket: readiness goes to the reader and the writer.
struct Ready(Rc<Handle>);

impl PollTarget for Ready {
    fn on_poll(&self, status: i32, events: i32) {
        let handle = &self.0;
        if status < 0 && handle.recv_errors.get() {
            // IP_RECVERR: POLLERR means the error queue has entries; reading them clears the
            // pending error, so nothing reaches 'error'.
            handle.drain_errors();
            handle.read_ready();
            if !handle.closed.get() {
                if let Some(p) = handle.poll.borrow_mut().as_mut() {
                    let _ = p.restart();
                }
            }
            return;
        }
        if status < 0 {
            // A pending socket error (an ICMP error on a connected socket) raises POLLERR,
            // which libuv's poll reports as EBADF and answers by stopping. Report the real
            // error, as node:dgram's failed recvmsg does, and keep polling.
            let pending = handle.with_socket(|s| s.take_error());
            match pending {
                Some(Ok(Some(e))) => handle.emit_error(uv_code(&e)),
                Some(Err(e)) => handle.emit_error(uv_code(&e)),
                _ => handle.read_ready(),
            }
            if !handle.closed.get() {
                if let Some(p) = handle.poll.borrow_mut().as_mut() {
                    let _ = p.restart();
                }
            }
            return;
        }
        if events & uv::WRITABLE != 0 && !handle.closed.get() {
            handle.write_ready();
        }
        if events & uv::READABLE != 0 {
            handle.read_ready();
        }
    }

    fn on_closed(self: Box<Self>) {
        // libuv completes a closed handle's queued sends in the close phase, after 'close'.
        self.0.cancel_sends(true);
    }
}
