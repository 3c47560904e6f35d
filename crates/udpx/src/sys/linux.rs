//! Linux: `recvmmsg(2)` for batched receive.

use std::io;
use std::mem::{self, MaybeUninit};
use std::os::fd::AsRawFd;

use socket2::{SockAddr, SockAddrStorage, SockRef};

use crate::batch::RecvMeta;

/// Most datagrams taken in one `recvmmsg` call; the scratch lives on the stack.
const MAX_BATCH: usize = 64;

/// Receives up to `metas.len()` datagrams (at most [`MAX_BATCH`]) into consecutive
/// `slot`-sized regions of `storage`.
pub(crate) fn recv_batch(
    socket: &SockRef<'_>,
    storage: &mut [u8],
    slot: usize,
    metas: &mut [RecvMeta],
) -> io::Result<usize> {
    let n = metas.len().min(MAX_BATCH).min(storage.len() / slot.max(1));
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C data; all-zero is valid.
    let mut names: [libc::sockaddr_storage; MAX_BATCH] = unsafe { mem::zeroed() };
    let mut iovs: [MaybeUninit<libc::iovec>; MAX_BATCH] = [MaybeUninit::uninit(); MAX_BATCH];
    let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { mem::zeroed() };
    for (i, chunk) in storage.chunks_exact_mut(slot).take(n).enumerate() {
        iovs[i].write(libc::iovec { iov_base: chunk.as_mut_ptr().cast(), iov_len: slot });
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_iov = iovs[i].as_mut_ptr();
        h.msg_iovlen = 1;
    }
    let got = loop {
        // SAFETY: the first `n` headers point at live iovecs over disjoint `slot`-byte
        // regions of `storage` and at live sockaddr_storage names; the kernel writes no
        // more than those lengths.
        let r = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r >= 0 {
            break r as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    for i in 0..got {
        let h = &hdrs[i];
        let mut st = SockAddrStorage::zeroed();
        // SAFETY: the kernel filled `names[i]` and set `msg_namelen` to its length;
        // SockAddrStorage wraps exactly a sockaddr_storage.
        let addr = unsafe {
            *st.view_as::<libc::sockaddr_storage>() = names[i];
            SockAddr::new(st, h.msg_hdr.msg_namelen)
        };
        let source = addr
            .as_socket()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))?;
        metas[i] = RecvMeta {
            source,
            len: (h.msg_len as usize).min(slot),
            truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
        };
    }
    Ok(got)
}
