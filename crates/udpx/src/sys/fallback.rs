//! Platforms without `recvmmsg`/`sendmmsg`/GSO: one call per datagram, same contract.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;

use socket2::{SockAddr, SockRef};

use crate::batch::{RecvMeta, Transmit};

/// Nothing to keep between receives here.
#[derive(Debug, Default)]
pub(crate) struct RecvScratch;

pub(crate) fn recv_batch(
    socket: &SockRef<'_>,
    _: &mut RecvScratch,
    storage: &mut [u8],
    slot: usize,
    metas: &mut [RecvMeta],
) -> io::Result<usize> {
    let mut got = 0;
    for (chunk, meta) in storage.chunks_exact_mut(slot).zip(metas.iter_mut()) {
        // SAFETY: u8 has no invalid bit patterns, so viewing initialised bytes as
        // MaybeUninit<u8> is sound; recv_from only writes into them.
        let buf = unsafe { &mut *(chunk as *mut [u8] as *mut [MaybeUninit<u8>]) };
        match socket.recv_from(buf) {
            Ok((len, addr)) => {
                let source = addr
                    .as_socket()
                    .ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))?;
                let len = len.min(slot);
                *meta = RecvMeta { source, len, stride: len, ..RecvMeta::unset() };
                got += 1;
            }
            Err(e) if got > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

pub(crate) fn send_batch(socket: &SockRef<'_>, msgs: &[Transmit<'_>]) -> io::Result<usize> {
    for (i, m) in msgs.iter().enumerate() {
        let r = match m.destination {
            Some(d) => socket.send_to(m.contents, &SockAddr::from(d)),
            None => socket.send(m.contents),
        };
        if let Err(e) = r {
            return if i > 0 { Ok(i) } else { Err(e) };
        }
    }
    Ok(msgs.len())
}

pub(crate) fn send_gso(_: &SockRef<'_>, _: &[&[u8]], _: u16, _: Option<SocketAddr>) -> io::Result<usize> {
    Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
}

pub(crate) fn gso_unsupported(_: &io::Error) -> bool {
    true
}

pub(crate) fn gso_supported() -> bool {
    false
}

pub(crate) fn set_gro(_: &SockRef<'_>, _: bool) -> io::Result<()> {
    Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT))
}

pub(crate) fn set_drop_counting(_: &SockRef<'_>, _: bool) -> io::Result<()> {
    Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT))
}

pub(crate) fn set_dont_fragment(_: &SockRef<'_>, _: bool, _: bool) -> io::Result<()> {
    Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT))
}

pub(crate) fn bind_device(_: &SockRef<'_>, _: Option<&str>) -> io::Result<()> {
    Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT))
}

pub(crate) fn set_recv_metadata(_: &SockRef<'_>, _: bool, _: bool) -> io::Result<()> {
    Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT))
}
