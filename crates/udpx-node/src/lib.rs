//! The Node binding of udpx: converts values between JS and the core crate, maps errors to
//! libuv-style negative errno values (the facade turns them into Node-shaped errors), and
//! ties each native socket to Node's event loop and to the lifetime of its environment.
//!
//! Socket logic lives in the `udpx` crate; dgram semantics live in the TypeScript facade.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod address;
mod callback;
mod error;
mod fds;
mod socket;
mod uv;
