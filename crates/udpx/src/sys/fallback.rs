//! Platforms without `recvmmsg`: one `recvfrom` per datagram, same contract.

use std::io;
use std::mem::MaybeUninit;

use socket2::SockRef;

use crate::batch::RecvMeta;

pub(crate) fn recv_batch(
    socket: &SockRef<'_>,
    storage: &mut [u8],
    slot: usize,
    metas: &mut [RecvMeta],
) -> io::Result<usize> {
    let mut got = 0;
    for (chunk, meta) in storage.chunks_exact_mut(slot).zip(metas.iter_mut()) {
        // SAFETY: u8 has no invalid bit patterns, so viewing initialised bytes as
        // MaybeUninit<u8> is sound; recv_from only writes into them.
        let buf = unsafe { &mut *(chunk as *mut [u8] as *mut [MaybeUninit<u8>]) };
        match socket.recv_from_with_flags(buf, libc::MSG_TRUNC) {
            Ok((len, addr)) => {
                let source = addr
                    .as_socket()
                    .ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))?;
                *meta = RecvMeta { source, len: len.min(slot), truncated: len > slot };
                got += 1;
            }
            Err(e) if got > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
