//! The Node binding of udpx: converts values between JS and the core crate, maps errors to
//! libuv-style negative errno values (the facade turns them into Node-shaped errors), and
//! ties each native socket to Node's event loop and to the lifetime of its environment.
//!
//! Socket logic lives in the `udpx` crate; dgram semantics live in the TypeScript facade.
//!
//! Modules: `socket` (the `#[napi]` methods), `bound` (the per-datagram sends as functions
//! bound to their socket), `batch_send` (batch sends, also as plain
//! functions on a socket's `BatchSender`), `handle` (a socket's state and lifecycle),
//! `reader` (receive loop, stats), `writer` (sends and writability), `destination` (a send's
//! address: libuv's checks, the last one parsed), `deliver` (JS values of
//! received datagrams), `delivery` (the JS memory a batch is delivered in), `callback` (calling JS from the loop), `fds` (descriptors: handle type, owned
//! per thread), `uv` (libuv poll handles), `address` (libuv's
//! address forms), `error` (errno values and flags, exported to JS).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod address;
mod batch_send;
mod bound;
mod callback;
mod deliver;
mod delivery;
mod destination;
mod error;
mod fds;
mod handle;
mod reader;
mod socket;
mod uv;
mod writer;

/// The core's I/O backend in this build: `"linux"` (batched), `"windows"` or `"portable"`
/// (a system call per datagram, no GSO/GRO). `.ci/portable` checks it to know which build
/// it tests; specs use it to say why a batched-only behaviour is absent.
#[napi_derive::napi]
pub fn backend() -> &'static str {
    udpx::backend()
}
