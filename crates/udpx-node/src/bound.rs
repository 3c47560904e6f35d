//! A socket's per-datagram sends as plain JS functions bound to its native state. A
//! `#[napi]` class method pays for napi-rs's checks on every call — the receiver's type tag,
//! its unwrap, the borrow bookkeeping — about 3,900 instructions, four fifths of a whole
//! one-datagram send (measured with callgrind, 64 B ping-pong). The functions made here
//! reach their socket through the data pointer N-API hands to the callback, so nothing has
//! to be checked: it can only ever be the socket it was made for.

use std::ffi::c_void;
use std::ptr;
use std::rc::{Rc, Weak};

use napi::sys;

use crate::error::{EBADF, EINVAL};
use crate::handle::Handle;
use crate::writer::bytes_of;

fn ok(s: sys::napi_status) -> bool {
    s == sys::Status::napi_ok
}

/// What a bound function does with its socket and the call's arguments.
type Call = unsafe fn(sys::napi_env, &Handle, &[sys::napi_value; 4]) -> i32;

/// `sendOne(buf, port, ip, done)`: `NativeSocket.sendOne`, bound to `handle`.
pub(crate) fn send_one_function(env: sys::napi_env, handle: &Rc<Handle>) -> Option<sys::napi_value> {
    bind(env, handle, "sendOne", send_one)
}

/// `trySendOne(buf, port, ip)`: `NativeSocket.trySendOne`, bound to `handle`.
pub(crate) fn try_send_one_function(env: sys::napi_env, handle: &Rc<Handle>) -> Option<sys::napi_value> {
    bind(env, handle, "trySendOne", try_send_one)
}

/// # Safety
/// `argv` holds live values of `env`, the current call's environment.
unsafe fn send_one(env: sys::napi_env, h: &Handle, argv: &[sys::napi_value; 4]) -> i32 {
    // SAFETY: per the contract.
    unsafe { h.send_or_queue(env, &argv[..1], port_of(env, argv[1]), argv[2], argv[3], true) }
}

/// # Safety
/// `argv` holds live values of `env`, the current call's environment.
unsafe fn try_send_one(env: sys::napi_env, h: &Handle, argv: &[sys::napi_value; 4]) -> i32 {
    // SAFETY: per the contract; the slice is used before any JS runs.
    let Some(buf) = (unsafe { bytes_of(env, argv[0]) }) else { return EINVAL };
    // SAFETY: per the contract.
    unsafe { h.try_send_one(env, buf, port_of(env, argv[1]), argv[2]) }
}

/// The port argument as napi-rs converts a `u32` (the facade passes a whole number).
fn port_of(env: sys::napi_env, v: sys::napi_value) -> u32 {
    let mut port = 0u32;
    // SAFETY: `v` is a live value of `env`; a non-number fails and leaves 0.
    unsafe { sys::napi_get_value_uint32(env, v, &mut port) };
    port
}

/// The socket a bound function holds (weakly: once the socket is gone it answers EBADF)
/// and what it does.
struct Bound {
    handle: Weak<Handle>,
    call: Call,
}

fn bind(env: sys::napi_env, handle: &Rc<Handle>, name: &str, call: Call) -> Option<sys::napi_value> {
    let data = Box::into_raw(Box::new(Bound { handle: Rc::downgrade(handle), call }));
    let mut f = ptr::null_mut();
    // SAFETY: `name` outlives the call, which copies it; `data` stays valid until the
    // finalizer registered below frees it, after the function is collected.
    let made = unsafe {
        ok(sys::napi_create_function(env, name.as_ptr().cast(), name.len() as isize, Some(callback), data.cast(), &mut f))
            && ok(sys::napi_add_finalizer(env, f, data.cast(), Some(free_bound), ptr::null_mut(), ptr::null_mut()))
    };
    if !made {
        // SAFETY: nothing took ownership of `data` (no finalizer was registered).
        drop(unsafe { Box::from_raw(data) });
        return None;
    }
    Some(f)
}

unsafe extern "C" fn free_bound(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the box made in `bind`, freed once, here.
    drop(unsafe { Box::from_raw(data as *mut Bound) });
}

/// A bound function's call: its result as a JS number. A panic must not unwind into V8;
/// the call then returns EINVAL, which the facade reports as that send's error.
///
/// # Safety
/// `env` and `info` are those of a call of a function made by [`bind`].
unsafe extern "C" fn callback(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: per the contract.
    let code = std::panic::catch_unwind(|| unsafe { call(env, info) }).unwrap_or(EINVAL);
    let mut v = ptr::null_mut();
    // SAFETY: creates a number in the call's scope.
    unsafe { sys::napi_create_int32(env, code, &mut v) };
    v
}

/// # Safety
/// As [`callback`].
unsafe fn call(env: sys::napi_env, info: sys::napi_callback_info) -> i32 {
    let mut argc = 4usize;
    let mut argv = [ptr::null_mut(); 4];
    let mut data = ptr::null_mut();
    // SAFETY: `argv` has room for `argc` values (missing ones are filled with undefined);
    // the out-pointers are live locals.
    if !ok(unsafe { sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) }) || data.is_null() {
        return EINVAL;
    }
    // SAFETY: `data` is the Bound boxed by `bind`, alive while the function is.
    let bound = unsafe { &*(data as *const Bound) };
    let Some(handle) = bound.handle.upgrade() else { return EBADF };
    // SAFETY: the arguments are this call's values.
    unsafe { (bound.call)(env, &handle, &argv) }
}
