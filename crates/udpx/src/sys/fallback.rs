//! The portable backend: one `recvmsg`/`sendmsg` per datagram (through socket2), no GSO and
//! no GRO, same contract as the batched backends. macOS and the BSDs use it, and so does
//! Linux with the `portable-backend` feature, so that it is tested where the CI runs.
//!
//! What it cannot do fails with `ENOPROTOOPT` from the setter that asks for it, so a caller
//! never gets silently different behaviour.

use std::io::{self, IoSlice};
use std::mem::{self, MaybeUninit};

use socket2::{MaybeUninitSlice, MsgHdr, MsgHdrMut, SockAddr, SockAddrStorage, SockRef};

use super::cmsg::{self, CmsgBuf};
use super::unix::sockaddr_from_bytes;
use crate::types::{Datagram, RecvMeta};

/// Control-message space for one datagram's metadata.
const CMSG_LEN: usize = 320;

/// Nothing to keep between receives: one header is built per datagram.
#[derive(Debug, Default)]
pub(crate) struct RecvScratch;

fn unsupported() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOPROTOOPT)
}

/// Receives up to `metas.len()` datagrams, one `recvmsg` each, into consecutive
/// `slot`-sized regions of `storage`; stops early when nothing more is queued.
pub(crate) fn recv_batch(
    socket: &SockRef<'_>,
    _: &mut RecvScratch,
    storage: &mut [u8],
    slot: usize,
    metas: &mut [RecvMeta],
) -> io::Result<usize> {
    let mut aligned = CmsgBuf::<CMSG_LEN>::new();
    let mut got = 0;
    for (chunk, meta) in storage.chunks_exact_mut(slot.max(1)).zip(metas.iter_mut()) {
        // SAFETY: an all-zero sockaddr_storage with its full length is a valid, empty
        // address for the kernel to fill.
        let mut name =
            unsafe { SockAddr::new(SockAddrStorage::zeroed(), mem::size_of::<libc::sockaddr_storage>().try_into().unwrap_or(0)) };
        // SAFETY: u8 has no invalid bit patterns, so viewing initialised bytes as
        // MaybeUninit<u8> is sound; recvmsg only writes into them.
        let data = unsafe { &mut *(chunk as *mut [u8] as *mut [MaybeUninit<u8>]) };
        let mut bufs = [MaybeUninitSlice::new(data)];
        // SAFETY: as above, for the aligned control buffer.
        let control = unsafe { &mut *(&mut aligned.0[..] as *mut [u8] as *mut [MaybeUninit<u8>]) };
        let mut msg = MsgHdrMut::new().with_addr(&mut name).with_buffers(&mut bufs).with_control(control);
        let r = loop {
            match socket.recvmsg(&mut msg, libc::MSG_DONTWAIT) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        match r {
            Ok(len) => {
                let truncated = msg.flags().is_truncated();
                let control_len = msg.control_len().min(CMSG_LEN);
                drop(msg);
                // SAFETY: the storage is a whole sockaddr_storage, initialised (zeroed, then
                // written by the kernel); the view covers it only.
                let bytes = unsafe { std::slice::from_raw_parts(name.as_ptr().cast::<u8>(), mem::size_of::<libc::sockaddr_storage>()) };
                let source = sockaddr_from_bytes(bytes).ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))?;
                let len = len.min(slot);
                *meta = RecvMeta { source, len, stride: len, truncated, ..RecvMeta::unset() };
                cmsg::apply(&aligned.0[..control_len], meta);
                // GRO is off on this backend; a stride could only come from a bug.
                meta.stride = len;
                got += 1;
            }
            Err(e) if got > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Sends `datagrams` one `sendmsg` each, in order, until all are sent or one fails.
/// Returns how many were sent; an error only when none were.
pub(crate) fn send_batch(socket: &SockRef<'_>, datagrams: &[Datagram<'_>]) -> io::Result<usize> {
    for (i, d) in datagrams.iter().enumerate() {
        let mut msg = MsgHdr::new().with_buffers(d.contents);
        if let Some(a) = d.destination {
            msg = msg.with_addr(a);
        }
        let r = loop {
            match socket.sendmsg(&msg, libc::MSG_DONTWAIT) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        if let Err(e) = r {
            return if i > 0 { Ok(i) } else { Err(e) };
        }
    }
    Ok(datagrams.len())
}

/// No GSO here: the send path never calls this once [`gso_supported`] said no.
pub(crate) fn send_gso(_: &SockRef<'_>, _: Option<&SockAddr>, _: &[IoSlice<'_>], _: u16) -> io::Result<usize> {
    Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
}

pub(crate) fn gso_unsupported(_: &io::Error) -> bool {
    true
}

pub(crate) fn gso_supported() -> bool {
    false
}

/// `UDP_GRO` needs the batched backend.
pub(crate) fn set_gro(_: &SockRef<'_>, _: bool) -> io::Result<()> {
    Err(unsupported())
}

/// The options below are Linux's; other platforms' equivalents are not wired up yet.
#[cfg(not(target_os = "linux"))]
pub(crate) fn kernel_drops(_: &SockRef<'_>) -> io::Result<u32> {
    Err(unsupported())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn set_drop_counting(_: &SockRef<'_>, _: bool) -> io::Result<()> {
    Err(unsupported())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn set_dont_fragment(_: &SockRef<'_>, _: bool, _: bool) -> io::Result<()> {
    Err(unsupported())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn bind_device(_: &SockRef<'_>, _: Option<&str>) -> io::Result<()> {
    Err(unsupported())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn set_recv_metadata(_: &SockRef<'_>, _: bool, _: bool) -> io::Result<()> {
    Err(unsupported())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn set_recv_errors(_: &SockRef<'_>, _: bool, _: bool) -> io::Result<()> {
    Err(unsupported())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn recv_error(_: &SockRef<'_>) -> io::Result<Option<crate::types::IcmpError>> {
    Ok(None)
}
