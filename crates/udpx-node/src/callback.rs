//! Calling JS from a libuv callback: a handle scope, `napi_make_callback` (so that
//! `process.nextTick` callbacks and microtasks run after each call, as they do after each of
//! Node's own handle callbacks), and uncaught exceptions routed to `'uncaughtException'`.

use std::ffi::CString;
use std::ptr;

use napi::sys;

/// A JS function kept alive by a strong reference, with the async context it runs in.
pub(crate) struct JsCallback {
    env: sys::napi_env,
    func: sys::napi_ref,
    ctx: sys::napi_async_context,
}

fn ok(s: sys::napi_status) -> bool {
    s == sys::Status::napi_ok
}

impl JsCallback {
    /// References `func` and opens an async context named `name` for it.
    ///
    /// # Safety
    /// `env` and `func` must be valid for the current call into native code.
    pub(crate) unsafe fn new(env: sys::napi_env, func: sys::napi_value, name: &str) -> Option<Self> {
        let mut r = ptr::null_mut();
        let mut resource = ptr::null_mut();
        let mut label = ptr::null_mut();
        let mut ctx = ptr::null_mut();
        let c = CString::new(name).ok()?;
        // SAFETY: valid env and values per the contract; out-pointers are live locals.
        unsafe {
            if !ok(sys::napi_create_reference(env, func, 1, &mut r)) {
                return None;
            }
            if !ok(sys::napi_create_object(env, &mut resource))
                || !ok(sys::napi_create_string_utf8(env, c.as_ptr(), name.len() as isize, &mut label))
                || !ok(sys::napi_async_init(env, resource, label, &mut ctx))
            {
                sys::napi_delete_reference(env, r);
                return None;
            }
        }
        Some(JsCallback { env, func: r, ctx })
    }

    /// The environment the function lives in.
    pub(crate) fn env(&self) -> sys::napi_env {
        self.env
    }

    /// Calls the function with the values `args` builds, inside a fresh handle scope.
    /// `args` returns `None` if it could not build them (the call is then skipped).
    /// Returns whether the function returned `true`.
    pub(crate) fn call<const N: usize>(&self, args: impl FnOnce(sys::napi_env) -> Option<[sys::napi_value; N]>) -> bool {
        self.call_ref(self.func, args)
    }

    /// As [`call`](Self::call), but calls the function `func` refers to, in this
    /// callback's async context: a queued send's completion, in its socket's context.
    pub(crate) fn call_ref<const N: usize>(
        &self,
        func: sys::napi_ref,
        args: impl FnOnce(sys::napi_env) -> Option<[sys::napi_value; N]>,
    ) -> bool {
        let env = self.env;
        let mut truthy = false;
        let mut scope = ptr::null_mut();
        // SAFETY: called on the env's thread from a loop callback, where opening a scope is
        // how native code gets to create values.
        if !ok(unsafe { sys::napi_open_handle_scope(env, &mut scope) }) {
            return false;
        }
        let mut func_value = ptr::null_mut();
        let mut recv = ptr::null_mut();
        // SAFETY: the references (`self.func`, or the caller's `func`, alive for this call)
        // are live; out-pointers are live locals.
        // `this` is the global object: napi_make_callback requires an object.
        let ready = unsafe {
            ok(sys::napi_get_reference_value(env, func, &mut func_value))
                && !func_value.is_null()
                && ok(sys::napi_get_global(env, &mut recv))
        };
        if ready {
            if let Some(argv) = args(env) {
                let mut result = ptr::null_mut();
                // SAFETY: `func_value` is a function value of this env, `argv` holds N values
                // created in the open scope.
                let s = unsafe { sys::napi_make_callback(env, self.ctx, recv, func_value, N, argv.as_ptr(), &mut result) };
                if s == sys::Status::napi_pending_exception {
                    report_pending(env);
                } else if ok(s) && !result.is_null() {
                    let mut b = false;
                    // SAFETY: `result` is a live value of this scope.
                    truthy = ok(unsafe { sys::napi_get_value_bool(env, result, &mut b) }) && b;
                }
            }
        }
        // SAFETY: closes the scope opened above.
        unsafe { sys::napi_close_handle_scope(env, scope) };
        truthy
    }
}

impl Drop for JsCallback {
    /// Drops the reference and the async context.
    fn drop(&mut self) {
        // SAFETY: both were created in `new` for this env and are released once.
        unsafe {
            sys::napi_async_destroy(self.env, self.ctx);
            sys::napi_delete_reference(self.env, self.func);
        }
    }
}

/// Hands `err` to Node's uncaught-exception machinery now, from inside a JS call: an
/// exception thrown by a nextTick callback that the facade runs between two `'message'`
/// handlers. Node's handler then also resets the async-context stack that the throw left
/// unbalanced, before the callback scope around the call closes.
#[napi_derive::napi(catch_unwind)]
pub fn report_uncaught(env: napi::Env, err: napi::bindgen_prelude::Unknown) {
    // SAFETY: `err` is a live value of this call.
    unsafe {
        sys::napi_fatal_exception(env.raw(), napi::bindgen_prelude::ToNapiValue::to_napi_value(env.raw(), err).unwrap_or(ptr::null_mut()))
    };
}

/// Hands the pending exception to Node's uncaught-exception machinery, as an exception
/// thrown from a `'message'` listener is handled with node:dgram.
pub(crate) fn report_pending(env: sys::napi_env) {
    let mut err = ptr::null_mut();
    // SAFETY: an exception is pending on `env`; clearing it yields its value.
    unsafe {
        if ok(sys::napi_get_and_clear_last_exception(env, &mut err)) && !err.is_null() {
            sys::napi_fatal_exception(env, err);
        }
    }
}

/// The last peer address handed to JS on the per-datagram path. N-API 8 cannot hold a
/// reference to a string, so the JS side keeps the string: an unchanged address crosses as
/// `undefined` and a flood from one peer creates no string per datagram.
pub(crate) struct AddressMemo {
    last: Option<std::net::SocketAddr>,
}

impl AddressMemo {
    pub(crate) fn new() -> Self {
        AddressMemo { last: None }
    }

    /// The JS value for `addr`'s IP: `undefined` when it equals the last one, else a new
    /// string from `make` (remembered).
    pub(crate) fn value(
        &mut self,
        env: sys::napi_env,
        addr: std::net::SocketAddr,
        make: impl FnOnce() -> String,
    ) -> Option<sys::napi_value> {
        let mut key = addr;
        key.set_port(0);
        let mut v = ptr::null_mut();
        if self.last == Some(key) {
            // SAFETY: out-pointer is a live local.
            return ok(unsafe { sys::napi_get_undefined(env, &mut v) }).then_some(v);
        }
        let v = string(env, &make())?;
        self.last = Some(key);
        Some(v)
    }
}

/// A new JS string.
pub(crate) fn string(env: sys::napi_env, s: &str) -> Option<sys::napi_value> {
    let mut v = ptr::null_mut();
    // SAFETY: `s` outlives the call, which copies it.
    ok(unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v) }).then_some(v)
}
