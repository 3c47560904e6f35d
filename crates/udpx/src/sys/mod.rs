//! Platform code: the only place with `unsafe`, and the one place that chooses a backend.
//!
//! Every backend (`imp`) exports the same functions with the same signatures; callers never
//! see `cfg`. The interface a backend provides:
//!
//! | item | what |
//! | --- | --- |
//! | `RecvScratch` | `Default + Debug + Send + Sync`: state a receive reuses |
//! | `recv_batch(&SockRef, &mut RecvScratch, storage: &mut [u8], slot, &mut [RecvMeta]) -> io::Result<usize>` | up to `metas.len()` datagrams into `slot`-sized regions; `WouldBlock` if none |
//! | `send_batch(&SockRef, &[Datagram]) -> io::Result<usize>` | datagrams in order, many per call where it can; an error only if none was sent |
//! | `send_gso(&SockRef, Option<&SockAddr>, &[IoSlice], segment: u16) -> io::Result<usize>` | one segmented send (only called while `gso_supported()`) |
//! | `gso_supported() -> bool`, `gso_unsupported(&io::Error) -> bool` | the once-per-process probe, and which errors turn GSO off for a socket |
//! | `kernel_drops(&SockRef) -> io::Result<u32>` | the kernel's drop count for the socket, read on demand |
//! | `set_gro`, `set_drop_counting`, `set_dont_fragment`, `bind_device`, `set_recv_metadata` | options; `ENOPROTOOPT` where the platform lacks one |
//! | `set_recv_errors(&SockRef, v6, on)`, `recv_error(&SockRef) -> io::Result<Option<IcmpError>>` | the error queue (`errqueue`, Linux; `ENOPROTOOPT` / nothing elsewhere) |
//!
//! Unix-wide helpers (descriptors, interface names, reuse-port, TOS, the IPv6 half of
//! source-specific multicast, socket addresses from kernel bytes) are in `unix`; control
//! messages in `cmsg`. `windows` has the same helpers, taking a `SOCKET` where Unix takes a
//! descriptor ([`RawFd`] names either); either is `os` here. What is the same on both
//! (argument checks, IPv4 source-specific membership, a socket's UDP family) is in `common`.
//!
//! | target | backend |
//! | --- | --- |
//! | Linux | `linux`: recvmmsg, sendmmsg, GSO, GRO |
//! | Linux with feature `portable-backend` | `fallback` for I/O and GRO, `linux` for the other options |
//! | other Unix (macOS, BSDs) | `fallback` |
//! | Windows | `windows`: WSARecvMsg (metadata), WSASendMsg with USO, URO on request |

#[cfg(unix)]
pub(crate) mod cmsg;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as os;
#[cfg(all(unix, any(test, feature = "fuzzing")))]
#[allow(unused_imports)]
pub(crate) use unix::{sockaddr_bytes, sockaddr_from_bytes};

#[cfg(all(unix, any(not(target_os = "linux"), feature = "portable-backend")))]
mod fallback;
#[cfg(target_os = "linux")]
#[cfg_attr(feature = "portable-backend", allow(dead_code))]
mod linux;
// The error queue is Linux's on either backend; elsewhere the fallback refuses the option.
#[cfg(target_os = "linux")]
mod errqueue;
#[cfg(all(target_os = "linux", feature = "fuzzing"))]
pub(crate) use errqueue::parse_extended_err;
#[cfg(target_os = "linux")]
pub(crate) use errqueue::{recv_error, set_recv_errors};
#[cfg(all(unix, not(target_os = "linux")))]
pub(crate) use fallback::{recv_error, set_recv_errors};
#[cfg(windows)]
pub(crate) use windows::{recv_error, set_recv_errors};

#[cfg(all(target_os = "linux", not(feature = "portable-backend")))]
use linux as imp;

#[cfg(all(target_os = "linux", feature = "portable-backend"))]
mod imp {
    //! Linux on the portable backend: per-datagram I/O and no GSO/GRO, as macOS has, with
    //! Linux's own options (metadata, drop counter, don't-fragment, device binding).
    pub(crate) use super::fallback::{gso_supported, gso_unsupported, recv_batch, send_batch, send_gso, set_gro, RecvScratch};
    pub(crate) use super::linux::{bind_device, kernel_drops, set_dont_fragment, set_drop_counting, set_recv_metadata};
}

#[cfg(all(unix, not(target_os = "linux")))]
use fallback as imp;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as imp;
#[cfg(windows)]
use windows as os;

mod common;
pub(crate) use common::{set_source_membership, udp_family};
pub(crate) use os::{adopt_fd, disconnect, dup_fd, if_indextoname, if_nametoindex, raw_fd, set_reuse_port, set_tos};

pub(crate) use imp::{
    bind_device, gso_supported, gso_unsupported, kernel_drops, recv_batch, send_batch, send_gso, set_dont_fragment, set_drop_counting,
    set_gro, set_recv_metadata, RecvScratch,
};

/// Which backend this build uses: `"linux"` (batched), `"windows"` or `"portable"`.
pub(crate) const BACKEND: &str = if cfg!(all(target_os = "linux", not(feature = "portable-backend"))) {
    "linux"
} else if cfg!(windows) {
    "windows"
} else {
    "portable"
};

/// A socket's OS handle: a file descriptor on Unix, a `SOCKET` on Windows.
#[cfg(unix)]
pub use std::os::fd::RawFd;
#[cfg(windows)]
pub use std::os::windows::io::RawSocket as RawFd;

/// The OS error codes the portable code raises or matches: errno values on Unix, Winsock's
/// on Windows (what `io::Error::raw_os_error` reports there).
pub(crate) mod errno {
    #[cfg(unix)]
    pub(crate) use libc::{EAFNOSUPPORT, EINVAL, EMSGSIZE};
    #[cfg(windows)]
    pub(crate) use windows_sys::Win32::Networking::WinSock::{
        WSAEAFNOSUPPORT as EAFNOSUPPORT, WSAEINVAL as EINVAL, WSAEMSGSIZE as EMSGSIZE,
    };
}
