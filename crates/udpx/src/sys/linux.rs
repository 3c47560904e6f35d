//! Linux: `recvmmsg(2)`/`sendmmsg(2)` batches, UDP GSO (`UDP_SEGMENT`) and GRO (`UDP_GRO`),
//! and the options only Linux has (`SO_RXQ_OVFL`, `IP_MTU_DISCOVER`, `SO_BINDTODEVICE`).
//!
//! glibc and musl declare the same kernel structures with different field types
//! (`msg_iovlen` is `size_t` or `int`, `msg_controllen` and `cmsg_len` `size_t` or
//! `socklen_t`, the `*mmsg` flags `int` or `unsigned`): every such field is written through
//! a checked conversion to whatever type the C library declares.

use std::io::{self, IoSlice};
use std::mem;
use std::os::fd::AsRawFd;

use socket2::{MsgHdr, SockAddr, SockRef};

use super::cmsg::{self, CmsgBuf, SO_RXQ_OVFL, SO_TIMESTAMPNS};
use super::unix::sockaddr_from_bytes;
use crate::types::{Datagram, RecvMeta};

/// Most datagrams taken or given in one system call.
pub(crate) const MAX_BATCH: usize = 64;

/// Control-message space per received datagram: GRO's segment size, the drop counter,
/// packet info (v4 and v6 on a dual-stack socket), TOS, TTL and a timestamp fit with room
/// to spare.
const CMSG_LEN: usize = 320;

/// `n` in the integer type the C library declares for a field, or `EINVAL` if it does not
/// fit (it always does for the small counts and lengths used here).
fn field<T: TryFrom<usize>>(n: usize) -> io::Result<T> {
    T::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The flags argument of `sendmmsg`/`recvmmsg`, typed as the C library declares it.
fn mmsg_flags<T: TryFrom<libc::c_int>>(flags: libc::c_int) -> io::Result<T> {
    T::try_from(flags).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

pub(super) fn set_int_opt(socket: &SockRef<'_>, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    let len: libc::socklen_t = field(mem::size_of::<libc::c_int>())?;
    // SAFETY: `value` is a live c_int and its size is passed; the fd is borrowed.
    let r = unsafe { libc::setsockopt(socket.as_raw_fd(), level, name, (&value as *const libc::c_int).cast(), len) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `UDP_GRO`: let the kernel hand over runs of same-sized datagrams as one buffer.
pub(crate) fn set_gro(socket: &SockRef<'_>, on: bool) -> io::Result<()> {
    set_int_opt(socket, libc::SOL_UDP, libc::UDP_GRO, libc::c_int::from(on))
}

/// Path MTU discovery "do" (don't fragment) or the kernel's default ("want").
pub(crate) fn set_dont_fragment(socket: &SockRef<'_>, v6: bool, on: bool) -> io::Result<()> {
    if v6 {
        let mode = if on { libc::IPV6_PMTUDISC_DO } else { libc::IPV6_PMTUDISC_WANT };
        set_int_opt(socket, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, mode)
    } else {
        let mode = if on { libc::IP_PMTUDISC_DO } else { libc::IP_PMTUDISC_WANT };
        set_int_opt(socket, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, mode)
    }
}

/// `SO_BINDTODEVICE`.
pub(crate) fn bind_device(socket: &SockRef<'_>, name: Option<&str>) -> io::Result<()> {
    socket.bind_device(name.map(str::as_bytes))
}

/// Destination address and interface (`IP_PKTINFO`/`IPV6_RECVPKTINFO`), TOS/traffic class,
/// TTL/hop limit and a receive timestamp (`SO_TIMESTAMPNS`) with every datagram. On an IPv6
/// socket the IPv4 options are set too, for IPv4-mapped traffic, where the kernel allows.
pub(crate) fn set_recv_metadata(socket: &SockRef<'_>, v6: bool, on: bool) -> io::Result<()> {
    let v = libc::c_int::from(on);
    let v4 = |s: &SockRef<'_>| -> io::Result<()> {
        set_int_opt(s, libc::IPPROTO_IP, libc::IP_PKTINFO, v)?;
        s.set_recv_tos_v4(on)?;
        set_int_opt(s, libc::IPPROTO_IP, libc::IP_RECVTTL, v)
    };
    if v6 {
        set_int_opt(socket, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, v)?;
        socket.set_recv_tclass_v6(on)?;
        socket.set_recv_hoplimit_v6(on)?;
        let _ = v4(socket);
    } else {
        v4(socket)?;
    }
    set_int_opt(socket, libc::SOL_SOCKET, SO_TIMESTAMPNS, v)
}

/// `SO_RXQ_OVFL`: attach the socket's drop counter to every received datagram.
pub(crate) fn set_drop_counting(socket: &SockRef<'_>, on: bool) -> io::Result<()> {
    set_int_opt(socket, libc::SOL_SOCKET, SO_RXQ_OVFL, libc::c_int::from(on))
}

/// `SO_MEMINFO` (asm-generic/socket.h): the socket's memory counters, `SK_MEMINFO_VARS` u32s.
const SO_MEMINFO: libc::c_int = 55;
/// Index of the drop counter in `SO_MEMINFO`'s array (linux/sock_diag.h).
const SK_MEMINFO_DROPS: usize = 8;

/// The socket's count of datagrams the kernel dropped (`sk_drops`, the counter
/// `SO_RXQ_OVFL` reports), read on demand with `SO_MEMINFO`: no control message per
/// datagram. `ENOPROTOOPT` on a kernel whose `SO_MEMINFO` has no drop counter.
pub(crate) fn kernel_drops(socket: &SockRef<'_>) -> io::Result<u32> {
    let mut info = [0u32; 16];
    let mut len: libc::socklen_t = field(mem::size_of_val(&info))?;
    // SAFETY: `info` is a live, writable array of `len` bytes; the kernel writes at most
    // `len` bytes and stores the length it wrote in `len`.
    let r = unsafe { libc::getsockopt(socket.as_raw_fd(), libc::SOL_SOCKET, SO_MEMINFO, info.as_mut_ptr().cast(), &mut len) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let have = usize::try_from(len).unwrap_or(0) / mem::size_of::<u32>();
    if have <= SK_MEMINFO_DROPS {
        return Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT));
    }
    Ok(info[SK_MEMINFO_DROPS])
}

/// The kernel-facing headers of a batched receive, kept between calls so that a receive
/// re-points them instead of building (and zeroing) ~25 KiB of scratch each time.
pub(crate) struct RecvScratch {
    names: Box<[libc::sockaddr_storage; MAX_BATCH]>,
    iovs: Box<[libc::iovec; MAX_BATCH]>,
    hdrs: Box<[libc::mmsghdr; MAX_BATCH]>,
    ctrl: Box<[CmsgBuf<CMSG_LEN>; MAX_BATCH]>,
    /// The storage (start, length, slot size) the first `.3` headers point into: while a
    /// receive uses the same, only the lengths the kernel overwrote are reset.
    prepared: (usize, usize, usize, usize),
}

// SAFETY: the raw pointers inside the headers point into the scratch's own boxes (which do
// not move with it) and into the storage of the last receive; a receive reuses them only
// after checking that its storage borrow starts at the same address with the same length
// and slot size, and rewrites them otherwise. Between calls they are never read, so moving
// the scratch to another thread cannot make anything dangle or race.
unsafe impl Send for RecvScratch {}
// SAFETY: as above; shared references never touch the pointers.
unsafe impl Sync for RecvScratch {}

impl Default for RecvScratch {
    fn default() -> Self {
        // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C data; all-zero is valid.
        unsafe {
            RecvScratch {
                names: Box::new(mem::zeroed()),
                iovs: Box::new(mem::zeroed()),
                hdrs: Box::new(mem::zeroed()),
                ctrl: Box::new([CmsgBuf::new(); MAX_BATCH]),
                prepared: (0, 0, 0, 0),
            }
        }
    }
}

impl std::fmt::Debug for RecvScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecvScratch")
    }
}

/// Receives up to `metas.len()` datagrams (at most [`MAX_BATCH`]) into consecutive
/// `slot`-sized regions of `storage`.
pub(crate) fn recv_batch(
    socket: &SockRef<'_>,
    scratch: &mut RecvScratch,
    storage: &mut [u8],
    slot: usize,
    metas: &mut [RecvMeta],
) -> io::Result<usize> {
    let n = metas.len().min(MAX_BATCH).min(storage.len() / slot.max(1));
    if n == 0 {
        return Ok(0);
    }
    let namelen: libc::socklen_t = field(mem::size_of::<libc::sockaddr_storage>())?;
    let controllen = field(CMSG_LEN)?;
    let RecvScratch { names, iovs, hdrs, ctrl, prepared } = scratch;
    let layout = (storage.as_ptr() as usize, storage.len(), slot);
    if (prepared.0, prepared.1, prepared.2) == layout && prepared.3 >= n {
        // The headers already point at this storage: reset what the kernel wrote back.
        for h in hdrs[..n].iter_mut() {
            h.msg_hdr.msg_namelen = namelen;
            h.msg_hdr.msg_controllen = controllen;
        }
    } else {
        // Raw pointers from one base per array, so that filling entry i does not invalidate
        // the pointers already handed out for entries before it.
        let (names_p, iovs_p, ctrl_p) = (names.as_mut_ptr(), iovs.as_mut_ptr(), ctrl.as_mut_ptr());
        for (i, chunk) in storage.chunks_exact_mut(slot).take(n).enumerate() {
            // SAFETY: i < n <= MAX_BATCH, inside each scratch array.
            let (name, iov, control) = unsafe { (names_p.add(i), iovs_p.add(i), ctrl_p.add(i)) };
            // SAFETY: `iov` points at a live iovec of the scratch.
            unsafe { iov.write(libc::iovec { iov_base: chunk.as_mut_ptr().cast(), iov_len: slot }) };
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = name.cast();
            h.msg_namelen = namelen;
            h.msg_iov = iov;
            h.msg_iovlen = field(1)?;
            h.msg_control = control.cast();
            h.msg_controllen = controllen;
            h.msg_flags = 0;
        }
        *prepared = (layout.0, layout.1, layout.2, n);
    }
    let vlen: libc::c_uint = field(n)?;
    let flags = mmsg_flags(libc::MSG_DONTWAIT)?;
    let got = loop {
        // SAFETY: the first `n` headers point at live iovecs over disjoint `slot`-byte
        // regions of `storage`, live sockaddr_storage names and live control buffers, with
        // their true lengths; the kernel writes no more than those.
        let r = unsafe { libc::recvmmsg(socket.as_raw_fd(), hdrs.as_mut_ptr(), vlen, flags, std::ptr::null_mut()) };
        if let Ok(got) = usize::try_from(r) {
            break got.min(n);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    for i in 0..got {
        let h = &hdrs[i].msg_hdr;
        let name_len = usize::try_from(h.msg_namelen).unwrap_or(0).min(mem::size_of::<libc::sockaddr_storage>());
        // SAFETY: sockaddr_storage is plain bytes; the view covers the struct only.
        let name = unsafe { std::slice::from_raw_parts((&names[i] as *const libc::sockaddr_storage).cast::<u8>(), name_len) };
        let source = sockaddr_from_bytes(name).ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))?;
        let len = usize::try_from(hdrs[i].msg_len).unwrap_or(0).min(slot);
        // Written in place, and the control messages walked only when there are any: this
        // runs once per datagram.
        let m = &mut metas[i];
        *m = RecvMeta { source, len, stride: len, truncated: h.msg_flags & libc::MSG_TRUNC != 0, ..RecvMeta::unset() };
        let control_len = usize::try_from(h.msg_controllen).unwrap_or(0).min(CMSG_LEN);
        if control_len > 0 {
            cmsg::apply(&ctrl[i].0[..control_len], m);
        }
    }
    Ok(got)
}

/// Sends `datagrams` with `sendmmsg`, up to [`MAX_BATCH`] per call, until all are sent or the
/// kernel stops. Returns how many were sent; an error only when none were.
pub(crate) fn send_batch(socket: &SockRef<'_>, datagrams: &[Datagram<'_>]) -> io::Result<usize> {
    // An empty datagram goes out with one zero-length iovec, never with none: Linux sends
    // either, but qemu user mode (arm64 containers on x86 hosts, and .ci/arm64) reports a
    // header without iovecs as sent and drops it.
    let empty = [IoSlice::new(&[])];
    fn or_empty<'s>(contents: &'s [IoSlice<'s>], empty: &'s [IoSlice<'s>]) -> &'s [IoSlice<'s>] {
        if contents.is_empty() {
            empty
        } else {
            contents
        }
    }
    if let [one] = datagrams {
        // One datagram (every plain `send()`): sendmsg, without a header array to fill.
        let mut msg = MsgHdr::new().with_buffers(or_empty(one.contents, &empty));
        if let Some(a) = one.destination {
            msg = msg.with_addr(a);
        }
        return loop {
            match socket.sendmsg(&msg, libc::MSG_DONTWAIT) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r.map(|_| 1),
            }
        };
    }
    let flags = mmsg_flags(libc::MSG_DONTWAIT)?;
    let mut hdrs: [mem::MaybeUninit<libc::mmsghdr>; MAX_BATCH] = [const { mem::MaybeUninit::uninit() }; MAX_BATCH];
    let mut sent = 0;
    while sent < datagrams.len() {
        let chunk = &datagrams[sent..datagrams.len().min(sent + MAX_BATCH)];
        for (slot, d) in hdrs.iter_mut().zip(chunk) {
            // SAFETY: mmsghdr is plain C data; all-zero is valid (and sets the unused fields).
            let mut h: libc::mmsghdr = unsafe { mem::zeroed() };
            if let Some(a) = d.destination {
                h.msg_hdr.msg_name = a.as_ptr() as *mut _;
                h.msg_hdr.msg_namelen = a.len();
            }
            // IoSlice is ABI-compatible with iovec on Unix (std guarantees it); the kernel
            // only reads through the pointer.
            let parts = or_empty(d.contents, &empty);
            h.msg_hdr.msg_iov = parts.as_ptr() as *mut libc::iovec;
            h.msg_hdr.msg_iovlen = field(parts.len())?;
            slot.write(h);
        }
        let vlen: libc::c_uint = field(chunk.len())?;
        // SAFETY: the first `chunk.len()` headers were initialised above and point at live
        // iovecs over borrowed payloads and, when set, live socket addresses of the stated
        // length; the kernel only reads them.
        let r = unsafe { libc::sendmmsg(socket.as_raw_fd(), hdrs.as_mut_ptr().cast::<libc::mmsghdr>(), vlen, flags) };
        let Ok(k) = usize::try_from(r) else {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return if sent > 0 { Ok(sent) } else { Err(e) };
        };
        sent += k;
        if k < chunk.len() {
            break;
        }
    }
    Ok(sent)
}

/// Sends the concatenation of `contents` to `destination` as datagrams of `segment` bytes
/// (the last may be shorter) in one `sendmsg` with `UDP_SEGMENT`; the kernel (or the NIC)
/// splits it.
pub(crate) fn send_gso(socket: &SockRef<'_>, destination: Option<&SockAddr>, contents: &[IoSlice<'_>], segment: u16) -> io::Result<usize> {
    let mut ctrl = CmsgBuf::<32>::new();
    let len = cmsg::encode(&mut ctrl.0, libc::SOL_UDP, libc::UDP_SEGMENT, &segment.to_ne_bytes())
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut msg = MsgHdr::new().with_buffers(contents).with_control(&ctrl.0[..len]);
    if let Some(a) = destination {
        msg = msg.with_addr(a);
    }
    loop {
        match socket.sendmsg(&msg, libc::MSG_DONTWAIT) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Whether an error from a GSO send means "this device cannot segment" (EIO: no checksum
/// offload), as opposed to "this send does not fit" (EINVAL, EMSGSIZE: segments over the
/// path MTU), after which the next send may well use GSO again.
pub(crate) fn gso_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EIO | libc::ENOPROTOOPT | libc::EOPNOTSUPP))
}

/// Whether this kernel has UDP GSO (Linux 4.18+), probed once per process by setting
/// `UDP_SEGMENT` on a throwaway socket, as quinn-udp does.
pub(crate) fn gso_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let Ok(s) = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None) else {
            return false;
        };
        set_int_opt(&SockRef::from(&s), libc::SOL_UDP, libc::UDP_SEGMENT, 1200).is_ok()
    })
}
