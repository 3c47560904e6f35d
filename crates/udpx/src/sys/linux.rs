//! Linux: `recvmmsg(2)`/`sendmmsg(2)` batches, UDP GSO (`UDP_SEGMENT`) and GRO (`UDP_GRO`),
//! and the `SO_RXQ_OVFL` drop counter.

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use std::os::fd::AsRawFd;

use socket2::{SockAddr, SockAddrStorage, SockRef};

use crate::batch::{RecvMeta, Transmit};

/// Most datagrams taken or given in one system call; the scratch lives on the stack.
const MAX_BATCH: usize = 64;

/// `SO_RXQ_OVFL` (asm-generic/socket.h); not exported by libc for every target.
const SO_RXQ_OVFL: libc::c_int = 40;
/// `SO_TIMESTAMPNS` (asm-generic/socket.h; the cmsg type is the same number).
const SO_TIMESTAMPNS: libc::c_int = 35;

/// Control-message space per received datagram: GRO's segment size, the drop counter,
/// packet info, TOS and a timestamp, with room to spare. u64 words keep cmsghdr alignment.
const CMSG_WORDS: usize = 32;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn set_int_opt(socket: &SockRef<'_>, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and its size is passed; the fd is borrowed.
    cvt(unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `UDP_GRO`: let the kernel hand over runs of same-sized datagrams as one buffer.
pub(crate) fn set_gro(socket: &SockRef<'_>, on: bool) -> io::Result<()> {
    set_int_opt(socket, libc::SOL_UDP, libc::UDP_GRO, on as libc::c_int)
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

/// Destination address and interface (`IP_PKTINFO`/`IPV6_RECVPKTINFO`), TOS/traffic class
/// and a receive timestamp (`SO_TIMESTAMPNS`) with every datagram. On an IPv6 socket the
/// IPv4 options are set too, for IPv4-mapped traffic, where the kernel allows them.
pub(crate) fn set_recv_metadata(socket: &SockRef<'_>, v6: bool, on: bool) -> io::Result<()> {
    let v = on as libc::c_int;
    let v4 = [(libc::IPPROTO_IP, libc::IP_PKTINFO), (libc::IPPROTO_IP, libc::IP_RECVTOS)];
    let v6_opts = [(libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO), (libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS)];
    if v6 {
        for (level, name) in v6_opts {
            set_int_opt(socket, level, name, v)?;
        }
        for (level, name) in v4 {
            let _ = set_int_opt(socket, level, name, v);
        }
    } else {
        for (level, name) in v4 {
            set_int_opt(socket, level, name, v)?;
        }
    }
    set_int_opt(socket, libc::SOL_SOCKET, SO_TIMESTAMPNS, v)
}

/// `SO_RXQ_OVFL`: attach the socket's drop counter to every received datagram.
pub(crate) fn set_drop_counting(socket: &SockRef<'_>, on: bool) -> io::Result<()> {
    set_int_opt(socket, libc::SOL_SOCKET, SO_RXQ_OVFL, on as libc::c_int)
}

/// The kernel-facing headers of a batched receive, kept between calls so that a receive
/// re-points them instead of building (and zeroing) ~17 KiB of scratch each time.
pub(crate) struct RecvScratch {
    names: Box<[libc::sockaddr_storage; MAX_BATCH]>,
    iovs: Box<[libc::iovec; MAX_BATCH]>,
    hdrs: Box<[libc::mmsghdr; MAX_BATCH]>,
    ctrl: Box<[[u64; CMSG_WORDS]; MAX_BATCH]>,
}

// SAFETY: the raw pointers inside the headers are rewritten at the start of every receive
// to point at buffers borrowed for that call only; between calls they are never read, so
// moving the scratch to another thread cannot make anything dangle or race.
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
                ctrl: Box::new([[0u64; CMSG_WORDS]; MAX_BATCH]),
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
    let RecvScratch { names, iovs, hdrs, ctrl } = scratch;
    // Raw pointers from one base per array, so that filling entry i does not invalidate
    // the pointers already handed out for entries before it.
    let (names_p, iovs_p, ctrl_p) = (names.as_mut_ptr(), iovs.as_mut_ptr(), ctrl.as_mut_ptr());
    for (i, chunk) in storage.chunks_exact_mut(slot).take(n).enumerate() {
        // SAFETY: i < n <= MAX_BATCH, inside each scratch array.
        let (name, iov, cmsg) = unsafe { (names_p.add(i), iovs_p.add(i), ctrl_p.add(i)) };
        // SAFETY: `iov` points at a live iovec of the scratch.
        unsafe { iov.write(libc::iovec { iov_base: chunk.as_mut_ptr().cast(), iov_len: slot }) };
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = name.cast();
        h.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_iov = iov;
        h.msg_iovlen = 1;
        h.msg_control = cmsg.cast();
        h.msg_controllen = mem::size_of::<[u64; CMSG_WORDS]>();
        h.msg_flags = 0;
    }
    let got = loop {
        // SAFETY: the first `n` headers point at live iovecs over disjoint `slot`-byte
        // regions of `storage`, live sockaddr_storage names and live control buffers, with
        // their true lengths; the kernel writes no more than those.
        let r = unsafe {
            libc::recvmmsg(socket.as_raw_fd(), hdrs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT, std::ptr::null_mut())
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
        let h = &hdrs[i].msg_hdr;
        let mut st = SockAddrStorage::zeroed();
        // SAFETY: the kernel filled `names[i]` and set `msg_namelen` to its length;
        // SockAddrStorage wraps exactly a sockaddr_storage.
        let addr = unsafe {
            *st.view_as::<libc::sockaddr_storage>() = names[i];
            SockAddr::new(st, h.msg_namelen)
        };
        let source = addr.as_socket().ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))?;
        let len = (hdrs[i].msg_len as usize).min(slot);
        let mut m = RecvMeta { source, len, stride: len, truncated: h.msg_flags & libc::MSG_TRUNC != 0, ..RecvMeta::unset() };
        // SAFETY: `h` is a header the kernel completed, its control buffer live above.
        unsafe { parse_cmsgs(h, &mut m) };
        metas[i] = m;
    }
    Ok(got)
}

/// Fills `m` from the control messages of a received header.
///
/// # Safety
/// `h` must be a header completed by the kernel whose control buffer is still live.
unsafe fn parse_cmsgs(h: &libc::msghdr, m: &mut RecvMeta) {
    if h.msg_controllen == 0 {
        return;
    }
    // SAFETY: CMSG_FIRSTHDR/NXTHDR walk within msg_control/msg_controllen as the kernel
    // wrote them; every payload read is checked against the cmsg's own length first.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = ((*c).cmsg_len as usize).saturating_sub(data as usize - c as usize);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::SOL_UDP, libc::UDP_GRO) if len >= 4 => {
                    m.stride = std::ptr::read_unaligned(data as *const libc::c_int) as usize
                }
                (libc::SOL_SOCKET, SO_RXQ_OVFL) if len >= 4 => {
                    m.drops = Some(std::ptr::read_unaligned(data as *const u32))
                }
                (libc::SOL_SOCKET, SO_TIMESTAMPNS) if len >= mem::size_of::<libc::timespec>() => {
                    let ts = std::ptr::read_unaligned(data as *const libc::timespec);
                    m.timestamp = Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
                }
                (libc::IPPROTO_IP, libc::IP_PKTINFO) if len >= mem::size_of::<libc::in_pktinfo>() => {
                    let p = std::ptr::read_unaligned(data as *const libc::in_pktinfo);
                    m.destination = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr))));
                    m.interface = Some(p.ipi_ifindex as u32);
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) if len >= mem::size_of::<libc::in6_pktinfo>() => {
                    let p = std::ptr::read_unaligned(data as *const libc::in6_pktinfo);
                    m.destination = Some(IpAddr::V6(Ipv6Addr::from(p.ipi6_addr.s6_addr)));
                    m.interface = Some(p.ipi6_ifindex);
                }
                (libc::IPPROTO_IP, libc::IP_TOS) if len >= 1 => m.tos = Some(*data),
                (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) if len >= 4 => {
                    m.tos = Some(std::ptr::read_unaligned(data as *const libc::c_int) as u8)
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
}

/// Sends `msgs` with `sendmmsg`, up to [`MAX_BATCH`] per call, until all are sent or the
/// kernel stops. Returns how many were sent; an error only when none were.
pub(crate) fn send_batch(socket: &SockRef<'_>, msgs: &[Transmit<'_>]) -> io::Result<usize> {
    let mut sent = 0;
    while sent < msgs.len() {
        let chunk = &msgs[sent..msgs.len().min(sent + MAX_BATCH)];
        let names: Vec<Option<SockAddr>> = chunk.iter().map(|m| m.destination.map(SockAddr::from)).collect();
        let mut iovs: Vec<libc::iovec> = chunk
            .iter()
            .map(|m| libc::iovec { iov_base: m.contents.as_ptr() as *mut _, iov_len: m.contents.len() })
            .collect();
        // SAFETY: mmsghdr is plain C data; all-zero is valid.
        let mut hdrs: Vec<libc::mmsghdr> = (0..chunk.len()).map(|_| unsafe { mem::zeroed() }).collect();
        for (i, h) in hdrs.iter_mut().enumerate() {
            if let Some(a) = &names[i] {
                h.msg_hdr.msg_name = a.as_ptr() as *mut _;
                h.msg_hdr.msg_namelen = a.len();
            }
            h.msg_hdr.msg_iov = &mut iovs[i];
            h.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at a live iovec over a borrowed payload and, when
        // set, a live SockAddr of the stated length; the kernel only reads them.
        let r = unsafe { libc::sendmmsg(socket.as_raw_fd(), hdrs.as_mut_ptr(), hdrs.len() as libc::c_uint, libc::MSG_DONTWAIT) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return if sent > 0 { Ok(sent) } else { Err(e) };
        }
        sent += r as usize;
        if (r as usize) < chunk.len() {
            break;
        }
    }
    Ok(sent)
}

/// Sends the concatenation of `bufs` as datagrams of `segment` bytes (the last may be
/// shorter) to `dest` in one `sendmsg` with `UDP_SEGMENT`, gathered from the buffers where
/// they lie; the kernel (or the NIC) splits it.
pub(crate) fn send_gso(socket: &SockRef<'_>, bufs: &[&[u8]], segment: u16, dest: Option<SocketAddr>) -> io::Result<usize> {
    let name = dest.map(SockAddr::from);
    let mut iovs: Vec<libc::iovec> =
        bufs.iter().map(|b| libc::iovec { iov_base: b.as_ptr() as *mut _, iov_len: b.len() }).collect();
    let mut ctrl = [0u64; CMSG_WORDS];
    // SAFETY: msghdr is plain C data; all-zero is valid.
    let mut h: libc::msghdr = unsafe { mem::zeroed() };
    if let Some(a) = &name {
        h.msg_name = a.as_ptr() as *mut _;
        h.msg_namelen = a.len();
    }
    h.msg_iov = iovs.as_mut_ptr();
    h.msg_iovlen = iovs.len();
    h.msg_control = ctrl.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is arithmetic on a constant size.
    h.msg_controllen = unsafe { libc::CMSG_SPACE(mem::size_of::<u16>() as u32) } as usize;
    // SAFETY: the control buffer (64 bytes) holds CMSG_SPACE(2) bytes; FIRSTHDR points into
    // it and the u16 payload is written within the cmsg's length.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&h);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = libc::UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(mem::size_of::<u16>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, segment);
    }
    loop {
        // SAFETY: `h` points at live iovecs over the borrowed `bufs`, a live name and
        // control buffer.
        let r = unsafe { libc::sendmsg(socket.as_raw_fd(), &h, libc::MSG_DONTWAIT) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
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
