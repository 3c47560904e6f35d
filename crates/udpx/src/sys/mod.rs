//! Platform code: the only place with `unsafe`. Each backend exports the same functions;
//! callers never see `cfg`.

mod unix;
pub(crate) use unix::*;
pub use unix::handle_type;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as imp;

#[cfg(not(target_os = "linux"))]
mod fallback;
#[cfg(not(target_os = "linux"))]
use fallback as imp;

pub(crate) use imp::{
    bind_device, gso_supported, gso_unsupported, recv_batch, send_batch, send_gso, set_dont_fragment, set_drop_counting, set_gro, set_recv_metadata,
    RecvScratch,
};
