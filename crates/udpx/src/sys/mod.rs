//! Platform code: the only place with `unsafe`. Each backend exports the same functions;
//! callers never see `cfg`.

mod unix;
pub(crate) use unix::*;
pub use unix::handle_type;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::recv_batch;

#[cfg(not(target_os = "linux"))]
mod fallback;
#[cfg(not(target_os = "linux"))]
pub(crate) use fallback::recv_batch;
