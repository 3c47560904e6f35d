//! A socket's hottest call as a plain JS function bound to its native state. A `#[napi]`
//! class method pays for napi-rs's checks on every call — the receiver's type tag, its
//! unwrap, the borrow bookkeeping — about 3,900 instructions, four fifths of a whole
//! `sendOne` (measured with callgrind, 64 B ping-pong). The function made here reaches its
//! socket through the data pointer N-API hands to the callback, so nothing has to be
//! checked: it can only ever be the socket it was made for.

use std::ffi::c_void;
use std::ptr;
use std::rc::{Rc, Weak};

use napi::sys;
use udpx::Transmit;

use crate::error::{EBADF, EINVAL};
use crate::handle::Handle;

fn ok(s: sys::napi_status) -> bool {
    s == sys::Status::napi_ok
}

impl Handle {
    /// Sends `buf` as one datagram: to the `setDestination` address (`to_destination`) or
    /// the connected peer. Bytes sent or a negative errno.
    pub(crate) fn send_one(&self, buf: &[u8], to_destination: bool) -> i32 {
        let r = if to_destination {
            let Some(to) = self.dest.get() else { return EINVAL };
            self.with_socket(|s| s.send(&Transmit::new(Some(to), buf)))
        } else {
            self.with_socket(|s| s.send(&Transmit::new(None, buf)))
        };
        self.sent(r.map(|r| r.map(|_| buf.len())), |n| (1, n))
    }
}

/// `sendOne(buf, toDestination)` bound to `handle`: a JS function that returns what
/// [`Handle::send_one`] returns (or EINVAL when `buf` is not a typed array). It holds the
/// handle weakly: once the socket is gone it answers EBADF.
pub(crate) fn send_one_function(env: sys::napi_env, handle: &Rc<Handle>) -> Option<sys::napi_value> {
    let data = Box::into_raw(Box::new(Rc::downgrade(handle)));
    let mut f = ptr::null_mut();
    let name = "sendOne";
    // SAFETY: `name` outlives the call, which copies it; `data` stays valid until the
    // finalizer registered below frees it, after the function is collected.
    let made = unsafe {
        ok(sys::napi_create_function(env, name.as_ptr().cast(), name.len() as isize, Some(send_one_callback), data.cast(), &mut f))
            && ok(sys::napi_add_finalizer(env, f, data.cast(), Some(free_weak), ptr::null_mut(), ptr::null_mut()))
    };
    if !made {
        // SAFETY: nothing took ownership of `data` (no finalizer was registered).
        drop(unsafe { Box::from_raw(data) });
        return None;
    }
    Some(f)
}

unsafe extern "C" fn free_weak(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the box made in `send_one_function`, freed once, here.
    drop(unsafe { Box::from_raw(data as *mut Weak<Handle>) });
}

unsafe extern "C" fn send_one_callback(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // A panic must not unwind into V8; the call then returns undefined (JS reads it as a
    // failure: not a number ≥ 0).
    std::panic::catch_unwind(|| {
        // SAFETY: called by N-API with this call's env and info.
        let code = unsafe { send_one_call(env, info) };
        let mut v = ptr::null_mut();
        // SAFETY: creates a number in the call's scope.
        unsafe { sys::napi_create_int32(env, code, &mut v) };
        v
    })
    .unwrap_or(ptr::null_mut())
}

/// # Safety
/// `env` and `info` are those of a call of a function made by [`send_one_function`].
unsafe fn send_one_call(env: sys::napi_env, info: sys::napi_callback_info) -> i32 {
    let mut argc = 2usize;
    let mut argv = [ptr::null_mut(); 2];
    let mut data = ptr::null_mut();
    // SAFETY: `argv` has room for `argc` values; the out-pointers are live locals.
    if !ok(unsafe { sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) }) || data.is_null() {
        return EINVAL;
    }
    // SAFETY: `data` is the Weak boxed by `send_one_function`, alive while the function is.
    let Some(handle) = (unsafe { &*(data as *const Weak<Handle>) }).upgrade() else { return EBADF };
    let mut to_destination = false;
    // SAFETY: a missing argument is `undefined`, for which this fails and leaves false.
    unsafe { sys::napi_get_value_bool(env, argv[1], &mut to_destination) };
    let mut kind = 0;
    let mut length = 0usize;
    let mut bytes: *mut c_void = ptr::null_mut();
    // SAFETY: out-pointers are live locals; the array buffer and offset are not asked for.
    let typed = unsafe {
        ok(sys::napi_get_typedarray_info(env, argv[0], &mut kind, &mut length, &mut bytes, ptr::null_mut(), ptr::null_mut()))
    };
    if !typed {
        return EINVAL;
    }
    let size = match kind {
        sys::TypedarrayType::int8_array | sys::TypedarrayType::uint8_array | sys::TypedarrayType::uint8_clamped_array => 1,
        sys::TypedarrayType::int16_array | sys::TypedarrayType::uint16_array => 2,
        sys::TypedarrayType::int32_array | sys::TypedarrayType::uint32_array | sys::TypedarrayType::float32_array => 4,
        _ => 8,
    };
    let buf: &[u8] = if bytes.is_null() || length == 0 {
        &[]
    } else {
        // SAFETY: N-API reports the view's first byte (offset applied) and its element
        // count; the view's bytes stay put during this synchronous call, which runs no JS.
        unsafe { std::slice::from_raw_parts(bytes as *const u8, length * size) }
    };
    handle.send_one(buf, to_destination)
}
