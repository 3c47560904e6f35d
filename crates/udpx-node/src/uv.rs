//! A libuv poll handle on Node's own event loop, so readiness reaches JS without a thread hop.
//!
//! Node exports libuv's symbols to addons; the few used here are declared by hand because
//! the `-sys` crates for libuv build their own copy, which would be a second, idle loop.

use std::ffi::{c_int, c_void};
use std::io;

use crate::error::{from_uv, uv_code, UV_EEXIST};

#[repr(C)]
pub(crate) struct UvLoop {
    _opaque: [u8; 0],
}

#[repr(C)]
struct UvHandle {
    _opaque: [u8; 0],
}

type PollCb = unsafe extern "C" fn(handle: *mut UvHandle, status: c_int, events: c_int);
type CloseCb = unsafe extern "C" fn(handle: *mut UvHandle);

/// libuv's `uv_os_sock_t`: a descriptor on Unix, a `SOCKET` (pointer-sized) on Windows,
/// which is what the core's `RawFd` is on each.
pub(crate) type OsSock = udpx::RawFd;

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init_socket(lp: *mut UvLoop, handle: *mut UvHandle, sock: OsSock) -> c_int;
    fn uv_poll_start(handle: *mut UvHandle, events: c_int, cb: PollCb) -> c_int;
    fn uv_poll_stop(handle: *mut UvHandle) -> c_int;
    fn uv_close(handle: *mut UvHandle, cb: CloseCb);
    fn uv_ref(handle: *mut UvHandle);
    fn uv_unref(handle: *mut UvHandle);
    #[cfg(windows)]
    fn uv_translate_sys_error(sys_errno: c_int) -> c_int;
}

/// libuv's code for a Windows system error (a Winsock `WSAE*` or a Win32 error), as
/// Node's own handles report it.
#[cfg(windows)]
pub(crate) fn translate_sys_error(code: i32) -> i32 {
    // SAFETY: a pure lookup in libuv's table.
    unsafe { uv_translate_sys_error(code) }
}

/// `UV_POLL` in `uv_handle_type`.
const UV_POLL: c_int = 8;
/// Interest in readability (`UV_READABLE`).
pub(crate) const READABLE: c_int = 1;
/// Interest in writability (`UV_WRITABLE`).
pub(crate) const WRITABLE: c_int = 2;

/// What a poll handle reports to its owner. Called on the loop's thread.
pub(crate) trait PollTarget {
    /// `status` is 0 or a negative libuv error; `events` the ready set.
    fn on_poll(&self, status: i32, events: i32);
    /// The handle is closed; its memory is about to be freed.
    fn on_closed(self: Box<Self>);
}

/// A started `uv_poll_t`. The handle owns a boxed `T` (reached through the handle's `data`
/// field) until libuv confirms the close.
pub(crate) struct Poll {
    handle: *mut UvHandle,
    events: c_int,
}

/// Boxed target as a thin pointer stored in the handle's `data` field.
type Target = Box<dyn PollTarget>;

fn handle_words() -> usize {
    // SAFETY: uv_handle_size only reads a constant table.
    unsafe { uv_handle_size(UV_POLL) }.div_ceil(8)
}

impl Poll {
    /// Creates a poll handle for `fd` on `lp`, owning `target`. Not started.
    ///
    /// # Safety
    /// `lp` must be the running loop of the calling thread, and `fd` must stay open until
    /// [`Poll::close`] has been called.
    pub(crate) unsafe fn new(lp: *mut UvLoop, fd: OsSock, target: Target) -> io::Result<Poll> {
        // 8-byte words keep the handle aligned for its pointer fields.
        let mem: Box<[u64]> = vec![0u64; handle_words()].into_boxed_slice();
        let handle = Box::into_raw(mem) as *mut u64 as *mut UvHandle;
        // SAFETY: `handle` points at uv_handle_size(UV_POLL) zeroed bytes; the caller
        // guarantees `lp` and `fd`.
        let r = unsafe { uv_poll_init_socket(lp, handle, fd) };
        if r != 0 {
            // SAFETY: init failed, so libuv holds no reference to the memory.
            unsafe { free_handle(handle) };
            return Err(from_uv(r));
        }
        // SAFETY: `data` is the first field of every uv handle (uv.h: UV_HANDLE_FIELDS).
        unsafe { *(handle as *mut *mut c_void) = Box::into_raw(Box::new(target)).cast() };
        Ok(Poll { handle, events: 0 })
    }

    /// Sets the interest set; 0 stops polling (and so stops holding the loop open).
    pub(crate) fn set_events(&mut self, events: c_int) -> io::Result<()> {
        if events == self.events {
            return Ok(());
        }
        // SAFETY: `self.handle` is an initialised, unclosed poll handle.
        let r = unsafe {
            if events == 0 {
                uv_poll_stop(self.handle)
            } else {
                uv_poll_start(self.handle, events, on_poll)
            }
        };
        if r != 0 {
            return Err(from_uv(r));
        }
        self.events = events;
        Ok(())
    }

    /// Starts polling again with the current interest set: libuv stops a poll handle
    /// after reporting an error (`POLLERR` becomes `UV_EBADF`).
    pub(crate) fn restart(&mut self) -> io::Result<()> {
        if self.events == 0 {
            return Ok(());
        }
        // SAFETY: `self.handle` is an initialised, unclosed poll handle.
        let r = unsafe { uv_poll_start(self.handle, self.events, on_poll) };
        if r != 0 {
            return Err(from_uv(r));
        }
        Ok(())
    }

    /// The current interest set.
    pub(crate) fn events(&self) -> c_int {
        self.events
    }

    /// Whether the handle keeps the loop alive while active (`uv_ref`/`uv_unref`).
    pub(crate) fn set_ref(&self, on: bool) {
        // SAFETY: `self.handle` is an initialised, unclosed handle.
        unsafe {
            if on {
                uv_ref(self.handle)
            } else {
                uv_unref(self.handle)
            }
        }
    }

    /// Stops polling and closes the handle; the target gets `on_closed` from the loop.
    pub(crate) fn close(self) {
        // SAFETY: the handle is initialised and closed exactly once (this consumes self);
        // the close callback frees it.
        unsafe {
            uv_poll_stop(self.handle);
            uv_close(self.handle, on_close);
        }
    }
}

/// Whether `lp` already watches `fd` (another handle of Node's, say): libuv refuses a
/// second poll handle on it with EEXIST, which is what `bind({ fd })` must report.
///
/// # Safety
/// `lp` must be the running loop of the calling thread.
pub(crate) unsafe fn fd_watched(lp: *mut UvLoop, fd: OsSock) -> bool {
    struct Probe;
    impl PollTarget for Probe {
        fn on_poll(&self, _: i32, _: i32) {}
        fn on_closed(self: Box<Self>) {}
    }
    // SAFETY: forwarded contract; the probe is closed at once and never started.
    match unsafe { Poll::new(lp, fd, Box::new(Probe)) } {
        Ok(p) => {
            p.close();
            false
        }
        Err(e) => uv_code(&e) == UV_EEXIST,
    }
}

/// # Safety
/// `handle` came from [`Poll::new`] and libuv no longer references it.
unsafe fn free_handle(handle: *mut UvHandle) {
    let words = handle_words();
    // SAFETY: per the contract, this is the boxed slice of `words` u64s made in `new`.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(handle as *mut u64, words)) });
}

/// # Safety
/// `handle` is a poll handle made by [`Poll::new`], whose `data` holds a boxed [`Target`].
unsafe fn target<'a>(handle: *mut UvHandle) -> &'a Target {
    // SAFETY: per the contract, `data` points at the live boxed target.
    unsafe { &**(handle as *mut *mut Target) }
}

unsafe extern "C" fn on_poll(handle: *mut UvHandle, status: c_int, events: c_int) {
    // SAFETY: libuv passes the handle `Poll::new` initialised; its target lives until close.
    let t = unsafe { target(handle) };
    // A panic must not unwind into libuv; the event is dropped instead.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.on_poll(status, events)));
}

unsafe extern "C" fn on_close(handle: *mut UvHandle) {
    // SAFETY: libuv is done with the handle; `data` holds the boxed target from `new`.
    let t: Box<Target> = unsafe { Box::from_raw(*(handle as *mut *mut Target)) };
    // SAFETY: closed handles are not referenced by libuv any more.
    unsafe { free_handle(handle) };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || (*t).on_closed()));
}
