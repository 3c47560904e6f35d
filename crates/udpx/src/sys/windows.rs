//! Windows: Winsock through socket2 wherever it has the call; `WSARecvMsg` (looked up with
//! `SIO_GET_EXTENSION_FUNCTION_POINTER`, as Winsock requires) for receive metadata;
//! `WSASendMsg` with `UDP_SEND_MSG_SIZE` for UDP send offload (USO) and
//! `UDP_RECV_MAX_COALESCED_SIZE` for receive offload (URO). Same interface as the other
//! backends (see `sys/mod.rs`).
//!
//! Pitfalls this backend handles:
//! - An ICMP "port unreachable" for an earlier send surfaces as `WSAECONNRESET` (or
//!   `WSAENETRESET`) on the next receive of an unconnected socket. libuv, and so node:dgram,
//!   skips those; so does [`recv_batch`].
//! - A datagram larger than the buffer fails the receive with `WSAEMSGSIZE` after filling the
//!   buffer; that is a truncated datagram, not an error.
//! - URO: some drivers (seen on Windows on ARM and with some dock NICs) coalesce datagrams
//!   without the `UDP_COALESCED_INFO` that says where to split them, so a coalesced run would
//!   reach the caller as one datagram. URO is therefore off unless the caller asks
//!   ([`set_gro`]), as quinn-udp and msquic users learnt.
//! - USO: support depends on the driver, which can change at run time; a send that the stack
//!   refuses turns GSO off for that socket ([`gso_unsupported`]), as on Linux.
//!
//! Windows has no equivalent of `SO_BINDTODEVICE` (binding to an interface name) or of
//! `SO_RXQ_OVFL` (the kernel's drop counter), ignores an application's TOS (`IP_TOS` is
//! accepted and dropped), has no load-balancing `SO_REUSEPORT`, and gives no kernel receive
//! timestamps through `WSARecvMsg`: those setters fail with `ERROR_NOT_SUPPORTED` (`ENOTSUP`
//! in Node), and `timestamp` stays `None`.

use std::ffi::{CStr, CString};
use std::io::{self, IoSlice};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::windows::io::{AsRawSocket, BorrowedSocket, FromRawSocket, OwnedSocket, RawSocket};
use std::sync::OnceLock;
use std::{mem, ptr};

use socket2::{Domain, MsgHdr, SockAddr, SockRef, Socket, Type};
use windows_sys::Win32::NetworkManagement::IpHelper;
use windows_sys::Win32::Networking::WinSock as ws;

use crate::types::{Datagram, RecvMeta};

/// Control-message space for one received datagram: packet info (v4 and v6 on a dual-stack
/// socket), TOS, TTL and the coalesced segment size, with room to spare.
const CMSG_LEN: usize = 256;

/// Most `WSAECONNRESET`/`WSAENETRESET` reports one receive call skips before it gives up
/// with `WouldBlock` (each report is one earlier ICMP error; the loop stays bounded).
const MAX_RESET_SKIPS: usize = 64;

/// A control-message buffer aligned as `WSACMSGHDR` needs.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct CmsgBuf<const N: usize>([u8; N]);

/// Nothing to keep between receives: one `WSAMSG` is built per datagram.
#[derive(Debug, Default)]
pub(crate) struct RecvScratch;

fn os_error(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// What an option Windows lacks fails with: `ERROR_NOT_SUPPORTED`, which libuv (and so
/// Node) reports as `ENOTSUP` (libuv maps neither `WSAENOPROTOOPT` nor `WSAEOPNOTSUPP`).
fn unsupported() -> io::Error {
    os_error(windows_sys::Win32::Foundation::ERROR_NOT_SUPPORTED as i32)
}

fn raw(socket: &Socket) -> ws::SOCKET {
    socket.as_raw_socket() as ws::SOCKET
}

/// `setsockopt` with a `DWORD` value, the type of every Winsock option used here.
fn set_u32_opt(socket: &Socket, level: i32, name: i32, value: u32) -> io::Result<()> {
    // SAFETY: `value` is a live u32 and its size is passed; the socket is borrowed.
    let r = unsafe { ws::setsockopt(raw(socket), level, name, (&value as *const u32).cast(), mem::size_of::<u32>() as i32) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

type WsaRecvMsg = unsafe extern "system" fn(
    ws::SOCKET,
    *mut ws::WSAMSG,
    *mut u32,
    *mut windows_sys::Win32::System::IO::OVERLAPPED,
    ws::LPWSAOVERLAPPED_COMPLETION_ROUTINE,
) -> i32;

/// `WSARecvMsg`, which ws2_32 does not export: Winsock hands out its address through
/// `SIO_GET_EXTENSION_FUNCTION_POINTER`. Looked up once per process.
fn wsa_recvmsg() -> io::Result<WsaRecvMsg> {
    static PTR: OnceLock<Result<WsaRecvMsg, i32>> = OnceLock::new();
    let found = PTR.get_or_init(|| {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, None).map_err(|e| e.raw_os_error().unwrap_or(ws::WSAEINVAL))?;
        let guid = ws::WSAID_WSARECVMSG;
        let mut f: ws::LPFN_WSARECVMSG = None;
        let mut len = 0u32;
        // SAFETY: the in-buffer is the GUID, the out-buffer an Option<fn> of the size passed
        // (a nullable function pointer, so any value Winsock writes, NULL included, is valid).
        let r = unsafe {
            ws::WSAIoctl(
                raw(&s),
                ws::SIO_GET_EXTENSION_FUNCTION_POINTER,
                (&guid as *const windows_sys::core::GUID).cast(),
                mem::size_of_val(&guid) as u32,
                (&mut f as *mut ws::LPFN_WSARECVMSG).cast(),
                mem::size_of_val(&f) as u32,
                &mut len,
                ptr::null_mut(),
                None,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error().raw_os_error().unwrap_or(ws::WSAEOPNOTSUPP));
        }
        match f {
            Some(f) if len as usize == mem::size_of::<WsaRecvMsg>() => Ok(f),
            _ => Err(ws::WSAEOPNOTSUPP),
        }
    });
    found.map_err(os_error)
}

/// Receives up to `metas.len()` datagrams, one `WSARecvMsg` each, into consecutive
/// `slot`-sized regions of `storage`; stops early when nothing more is queued.
pub(crate) fn recv_batch(
    socket: &SockRef<'_>,
    _: &mut RecvScratch,
    storage: &mut [u8],
    slot: usize,
    metas: &mut [RecvMeta],
) -> io::Result<usize> {
    let recvmsg = wsa_recvmsg()?;
    let mut got = 0;
    let mut skips = 0;
    let mut slots = storage.chunks_exact_mut(slot.max(1)).zip(metas.iter_mut());
    let Some(mut next) = slots.next() else { return Ok(0) };
    loop {
        let (chunk, meta) = next;
        match recv_one(socket, recvmsg, chunk) {
            Ok(m) => {
                *meta = m;
                got += 1;
                match slots.next() {
                    Some(s) => next = s,
                    None => return Ok(got),
                }
            }
            Err(e) if is_reset(&e) && skips < MAX_RESET_SKIPS => {
                skips += 1;
                next = (chunk, meta);
            }
            Err(e) if is_reset(&e) && got == 0 => return Err(os_error(ws::WSAEWOULDBLOCK)),
            // What was read stays read; a lasting error shows again on the next call.
            Err(_) if got > 0 => return Ok(got),
            Err(e) => return Err(e),
        }
    }
}

/// `WSAECONNRESET`/`WSAENETRESET`: an ICMP error for an earlier send, not about this receive.
fn is_reset(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(ws::WSAECONNRESET | ws::WSAENETRESET))
}

/// One `WSARecvMsg` into `buf`.
fn recv_one(socket: &SockRef<'_>, recvmsg: WsaRecvMsg, buf: &mut [u8]) -> io::Result<RecvMeta> {
    let mut control = CmsgBuf::<CMSG_LEN>([0; CMSG_LEN]);
    let mut data = ws::WSABUF { len: u32::try_from(buf.len()).unwrap_or(u32::MAX), buf: buf.as_mut_ptr() };
    let mut received = 0u32;
    // SAFETY: try_init hands over a zeroed sockaddr_storage and its length for Winsock to
    // fill; the WSAMSG points at that, at `data` (over `buf`, whose length it states) and at
    // `control`, all live for the call, which is synchronous (no OVERLAPPED).
    let ((flags, control_len, truncated), source) = unsafe {
        SockAddr::try_init(|name, namelen| {
            let mut msg = ws::WSAMSG {
                name: name.cast(),
                namelen: *namelen,
                lpBuffers: &mut data,
                dwBufferCount: 1,
                Control: ws::WSABUF { len: CMSG_LEN as u32, buf: control.0.as_mut_ptr() },
                dwFlags: 0,
            };
            let r = recvmsg(raw(socket), &mut msg, &mut received, ptr::null_mut(), None);
            *namelen = msg.namelen;
            if r == 0 {
                return Ok((msg.dwFlags, msg.Control.len, false));
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(ws::WSAEMSGSIZE) {
                // The buffer is full and the rest of the datagram is gone.
                received = data.len;
                Ok((msg.dwFlags, msg.Control.len, true))
            } else {
                Err(e)
            }
        })?
    };
    let source = source.as_socket().ok_or_else(|| os_error(ws::WSAEAFNOSUPPORT))?;
    let len = (received as usize).min(buf.len());
    let truncated = truncated || flags & ws::MSG_TRUNC as u32 != 0;
    let mut meta = RecvMeta { source, len, stride: len, truncated, ..RecvMeta::unset() };
    let control_len = (control_len as usize).min(CMSG_LEN);
    for (level, ty, data) in walk(&control.0[..control_len]) {
        apply(level, ty, data, &mut meta);
    }
    Ok(meta)
}

/// `WSACMSGHDR` is `{ SIZE_T cmsg_len; INT cmsg_level; INT cmsg_type; }`, data after the
/// header aligned to 8 (`WSA_CMSGDATA_ALIGN`), each header aligned to 8.
const CMSG_HDR: usize = mem::size_of::<usize>() + 8;
const CMSG_ALIGN: usize = 8;

fn align(n: usize) -> usize {
    (n + CMSG_ALIGN - 1) & !(CMSG_ALIGN - 1)
}

/// The control messages in `buf` as (level, type, data), read from bytes so that a short
/// or malformed buffer ends the walk instead of reading past it.
fn walk(buf: &[u8]) -> impl Iterator<Item = (i32, i32, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let len = usize::from_ne_bytes(rest.get(..mem::size_of::<usize>())?.try_into().ok()?);
        let level = i32::from_ne_bytes(rest.get(CMSG_HDR - 8..CMSG_HDR - 4)?.try_into().ok()?);
        let ty = i32::from_ne_bytes(rest.get(CMSG_HDR - 4..CMSG_HDR)?.try_into().ok()?);
        let data_start = align(CMSG_HDR);
        if len < data_start || len > rest.len() {
            return None;
        }
        let data = &rest[data_start..len];
        rest = rest.get(align(len)..).unwrap_or(&[]);
        Some((level, ty, data))
    })
}

/// Writes one control message at the start of `buf`; returns the bytes it takes, or `None`
/// when `buf` is too small.
fn encode(buf: &mut [u8], level: i32, ty: i32, data: &[u8]) -> Option<usize> {
    let len = align(CMSG_HDR) + data.len();
    let total = align(len);
    let out = buf.get_mut(..total)?;
    out.fill(0);
    out[..mem::size_of::<usize>()].copy_from_slice(&len.to_ne_bytes());
    out[CMSG_HDR - 8..CMSG_HDR - 4].copy_from_slice(&level.to_ne_bytes());
    out[CMSG_HDR - 4..CMSG_HDR].copy_from_slice(&ty.to_ne_bytes());
    out[align(CMSG_HDR)..len].copy_from_slice(data);
    Some(total)
}

fn read_u32(data: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(data.get(..4)?.try_into().ok()?))
}

/// A byte that Winsock writes as an `INT` (TOS, traffic class, TTL), or as one byte.
fn int_or_byte(data: &[u8]) -> Option<u8> {
    match data.len() {
        1..=3 => Some(data[0]),
        _ => u8::try_from(read_u32(data)?).ok(),
    }
}

/// Fills `meta` from one control message it understands; ignores the rest.
fn apply(level: i32, ty: i32, data: &[u8], meta: &mut RecvMeta) {
    match (level, ty) {
        (ws::IPPROTO_IP, ws::IP_PKTINFO) if data.len() >= 8 => {
            // IN_PKTINFO: the address (network order), then the interface index.
            let ip = Ipv4Addr::new(data[0], data[1], data[2], data[3]);
            meta.destination = Some(IpAddr::V4(ip));
            meta.interface = read_u32(&data[4..]);
        }
        (ws::IPPROTO_IPV6, ws::IPV6_PKTINFO) if data.len() >= 20 => {
            // IN6_PKTINFO: 16 address bytes, then the interface index.
            let bytes: [u8; 16] = data[..16].try_into().unwrap_or([0; 16]);
            meta.destination = Some(IpAddr::V6(Ipv6Addr::from(bytes)));
            meta.interface = read_u32(&data[16..]);
        }
        (ws::IPPROTO_IP, ws::IP_TOS) | (ws::IPPROTO_IPV6, ws::IPV6_TCLASS) => meta.tos = int_or_byte(data),
        (ws::IPPROTO_IP, ws::IP_TTL) | (ws::IPPROTO_IP, ws::IP_HOPLIMIT) | (ws::IPPROTO_IPV6, ws::IPV6_HOPLIMIT) => {
            meta.ttl = int_or_byte(data)
        }
        (ws::IPPROTO_UDP, t) if t == ws::UDP_COALESCED_INFO as i32 => {
            if let Some(s) = read_u32(data).filter(|&s| s > 0) {
                meta.stride = s as usize;
            }
        }
        _ => {}
    }
}

/// Sends `datagrams` one `WSASendTo` each (socket2's vectored sends), in order, until all
/// are sent or one fails. Returns how many were sent; an error only when none were.
pub(crate) fn send_batch(socket: &SockRef<'_>, datagrams: &[Datagram<'_>]) -> io::Result<usize> {
    for (i, d) in datagrams.iter().enumerate() {
        let r = match d.destination {
            Some(a) => socket.send_to_vectored(d.contents, a),
            None => socket.send_vectored(d.contents),
        };
        if let Err(e) = r {
            return if i > 0 { Ok(i) } else { Err(e) };
        }
    }
    Ok(datagrams.len())
}

/// Sends the concatenation of `contents` to `destination` as datagrams of `segment` bytes
/// (the last may be shorter) in one `WSASendMsg` carrying `UDP_SEND_MSG_SIZE`; the stack or
/// the NIC splits it.
pub(crate) fn send_gso(socket: &SockRef<'_>, destination: Option<&SockAddr>, contents: &[IoSlice<'_>], segment: u16) -> io::Result<usize> {
    let mut ctrl = CmsgBuf::<32>([0; 32]);
    let len = encode(&mut ctrl.0, ws::IPPROTO_UDP, ws::UDP_SEND_MSG_SIZE, &u32::from(segment).to_ne_bytes())
        .ok_or_else(|| os_error(ws::WSAEINVAL))?;
    let mut msg = MsgHdr::new().with_buffers(contents).with_control(&ctrl.0[..len]);
    if let Some(a) = destination {
        msg = msg.with_addr(a);
    }
    socket.sendmsg(&msg, 0)
}

/// Whether an error from a USO send means "this stack or driver cannot segment", as opposed
/// to "this send does not fit" (`WSAEMSGSIZE`), after which the next send may use it again.
pub(crate) fn gso_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(ws::WSAEINVAL | ws::WSAENOPROTOOPT | ws::WSAEOPNOTSUPP | ws::WSAEAFNOSUPPORT))
}

/// Whether this Winsock has USO (Windows 10 2004 and later), probed once per process by
/// setting `UDP_SEND_MSG_SIZE` on a throwaway socket, as quinn-udp does.
pub(crate) fn gso_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let Ok(s) = Socket::new(Domain::IPV4, Type::DGRAM, None) else { return false };
        set_u32_opt(&s, ws::IPPROTO_UDP, ws::UDP_SEND_MSG_SIZE, 1200).is_ok()
    })
}

/// URO (`UDP_RECV_MAX_COALESCED_SIZE`). Off by default: see the module's notes. Turning it
/// off where Winsock lacks the option succeeds, since off is what the socket does.
pub(crate) fn set_gro(socket: &SockRef<'_>, on: bool) -> io::Result<()> {
    let size = if on { u32::from(u16::MAX) } else { 0 };
    match set_u32_opt(socket, ws::IPPROTO_UDP, ws::UDP_RECV_MAX_COALESCED_SIZE, size) {
        Err(e) if !on && matches!(e.raw_os_error(), Some(ws::WSAENOPROTOOPT | ws::WSAEINVAL)) => Ok(()),
        Err(e) if on && matches!(e.raw_os_error(), Some(ws::WSAENOPROTOOPT | ws::WSAEINVAL)) => Err(unsupported()),
        r => r,
    }
}

/// libuv refuses `UV_UDP_REUSEPORT` on Windows (`ENOTSUP`), and so does node:dgram: Windows
/// has no load-balancing port sharing (its `SO_REUSEADDR` lets a socket take over a port
/// instead).
pub(crate) fn set_reuse_port(_: &SockRef<'_>) -> io::Result<()> {
    Err(unsupported())
}

/// Windows ignores `IP_TOS`/`IPV6_TCLASS` set by applications (its QoS API owns DSCP
/// marking; `DisableUserTOSSetting` is on by default), so a TOS other than the default 0
/// fails with `ENOTSUP` instead of being dropped silently.
pub(crate) fn set_tos(_: &SockRef<'_>, _: bool, tos: u8) -> io::Result<()> {
    match tos {
        0 => Ok(()),
        _ => Err(unsupported()),
    }
}

/// Windows keeps no per-socket count of datagrams dropped for lack of buffer space.
pub(crate) fn kernel_drops(_: &SockRef<'_>) -> io::Result<u32> {
    Err(unsupported())
}

/// As [`kernel_drops`].
pub(crate) fn set_drop_counting(_: &SockRef<'_>, _: bool) -> io::Result<()> {
    Err(unsupported())
}

/// `IP_DONTFRAGMENT` / `IPV6_DONTFRAG` (on an IPv6 socket also the IPv4 option, for
/// IPv4-mapped traffic, where Winsock allows).
pub(crate) fn set_dont_fragment(socket: &SockRef<'_>, v6: bool, on: bool) -> io::Result<()> {
    let v = u32::from(on);
    if v6 {
        set_u32_opt(socket, ws::IPPROTO_IPV6, ws::IPV6_DONTFRAG, v)?;
        let _ = set_u32_opt(socket, ws::IPPROTO_IP, ws::IP_DONTFRAGMENT, v);
        Ok(())
    } else {
        set_u32_opt(socket, ws::IPPROTO_IP, ws::IP_DONTFRAGMENT, v)
    }
}

/// Windows binds sockets to addresses, not to interface names: there is no
/// `SO_BINDTODEVICE`. Undoing a binding that cannot exist succeeds.
pub(crate) fn bind_device(_: &SockRef<'_>, name: Option<&str>) -> io::Result<()> {
    match name {
        Some(_) => Err(unsupported()),
        None => Ok(()),
    }
}

/// Destination address and interface (`IP_PKTINFO`/`IPV6_PKTINFO`), required; TOS/traffic
/// class (`IP_RECVTOS`/`IPV6_RECVTCLASS`) and TTL/hop limit (`IP_RECVTTL`/
/// `IPV6_HOPLIMIT`) where this Windows has them (the field stays `None` otherwise). On an
/// IPv6 socket the IPv4 options are set too, for IPv4-mapped traffic, where Winsock allows.
pub(crate) fn set_recv_metadata(socket: &SockRef<'_>, v6: bool, on: bool) -> io::Result<()> {
    let v = u32::from(on);
    let v4 = |s: &SockRef<'_>| -> io::Result<()> {
        set_u32_opt(s, ws::IPPROTO_IP, ws::IP_PKTINFO, v)?;
        let _ = set_u32_opt(s, ws::IPPROTO_IP, ws::IP_RECVTOS, v);
        let _ = set_u32_opt(s, ws::IPPROTO_IP, ws::IP_RECVTTL, v);
        Ok(())
    };
    if v6 {
        set_u32_opt(socket, ws::IPPROTO_IPV6, ws::IPV6_PKTINFO, v)?;
        let _ = set_u32_opt(socket, ws::IPPROTO_IPV6, ws::IPV6_RECVTCLASS, v);
        let _ = set_u32_opt(socket, ws::IPPROTO_IPV6, ws::IPV6_HOPLIMIT, v);
        let _ = v4(socket);
        Ok(())
    } else {
        v4(socket)
    }
}

/// `if_nametoindex` (iphlpapi); 0 for an unknown name.
pub(crate) fn if_nametoindex(name: &str) -> u32 {
    let Ok(c) = CString::new(name) else { return 0 };
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    unsafe { IpHelper::if_nametoindex(c.as_ptr().cast()) }
}

/// `if_indextoname` (iphlpapi): the interface's name as Windows spells it
/// (`loopback_0`, `ethernet_32768`, ...), as libuv's `uv_if_indextoname` returns.
pub(crate) fn if_indextoname(index: u32) -> Option<String> {
    // IF_MAX_STRING_SIZE + 1 (NDIS_IF_MAX_STRING_SIZE is 256).
    let mut buf = [0u8; 257];
    // SAFETY: `buf` is larger than the IF_NAMESIZE bytes the call may write, NUL included.
    let p = unsafe { IpHelper::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    let name = CStr::from_bytes_until_nul(&buf).ok()?;
    Some(name.to_string_lossy().into_owned())
}

/// Runs `f` on `socket` borrowed, or fails with `WSAENOTSOCK` when it is not a socket.
pub(crate) fn with_socket<T>(socket: RawSocket, f: impl FnOnce(SockRef<'_>) -> T) -> io::Result<T> {
    if socket == ws::INVALID_SOCKET as RawSocket {
        return Err(os_error(ws::WSAENOTSOCK));
    }
    let mut ty = 0i32;
    let mut len = mem::size_of::<i32>() as i32;
    // SAFETY: SO_TYPE writes an int into `ty`, whose size is passed; an invalid handle makes
    // the call fail (WSAENOTSOCK) without touching anything.
    let r = unsafe { ws::getsockopt(socket as ws::SOCKET, ws::SOL_SOCKET, ws::SO_TYPE, (&mut ty as *mut i32).cast(), &mut len) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the handle is an open socket (checked above) and the borrow lives only for
    // `f`, which cannot close it through a SockRef.
    let b = unsafe { BorrowedSocket::borrow_raw(socket) };
    Ok(f(SockRef::from(&b)))
}

/// The `SOCKET` of `socket`.
pub(crate) fn raw_fd(socket: &Socket) -> RawSocket {
    socket.as_raw_socket()
}

/// Takes ownership of `socket`, which the caller has checked is an open socket and gives up.
pub(crate) fn adopt_fd(socket: RawSocket) -> Socket {
    // SAFETY: per the contract of `UdpSocket::from_fd`, `socket` is open and its ownership
    // passes to the returned socket, which alone closes it.
    Socket::from(unsafe { OwnedSocket::from_raw_socket(socket) })
}

/// A duplicate (`WSADuplicateSocketW` for this process) of the open `socket`.
pub(crate) fn dup_fd(socket: RawSocket) -> io::Result<Socket> {
    with_socket(socket, |s| s.try_clone())?
}

/// Dissolves a connected UDP socket's association: Winsock does that for a `connect` to the
/// all-zero address of the socket's family (what libuv does too).
pub(crate) fn disconnect(socket: &Socket) -> io::Result<()> {
    let any = match socket.local_addr()?.domain() {
        Domain::IPV6 => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        _ => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
    };
    socket.connect(&SockAddr::from(any))
}

/// `MCAST_JOIN_SOURCE_GROUP` / `MCAST_LEAVE_SOURCE_GROUP` for the IPv6 source-specific group
/// (`source`, `group`) on interface `index` (0: the stack's choice). The portable half, argument
/// checks and IPv4, is `common::set_source_membership`.
pub(crate) fn set_source_membership_v6(
    socket: &Socket,
    source: SocketAddrV6,
    group: SocketAddrV6,
    index: u32,
    join: bool,
) -> io::Result<()> {
    // SAFETY: GROUP_SOURCE_REQ is plain data; all-zero is a valid value.
    let mut req: ws::GROUP_SOURCE_REQ = unsafe { mem::zeroed() };
    req.gsr_interface = index;
    copy_sockaddr(&SockAddr::from(group), &mut req.gsr_group);
    copy_sockaddr(&SockAddr::from(source), &mut req.gsr_source);
    let opt = if join { ws::MCAST_JOIN_SOURCE_GROUP } else { ws::MCAST_LEAVE_SOURCE_GROUP } as i32;
    // SAFETY: `req` is a live GROUP_SOURCE_REQ and the length passed is its size.
    let r = unsafe {
        ws::setsockopt(
            raw(socket),
            ws::IPPROTO_IPV6,
            opt,
            (&req as *const ws::GROUP_SOURCE_REQ).cast(),
            mem::size_of::<ws::GROUP_SOURCE_REQ>() as i32,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn copy_sockaddr(from: &SockAddr, to: &mut ws::SOCKADDR_STORAGE) {
    let len = usize::try_from(from.len()).unwrap_or(0).min(mem::size_of::<ws::SOCKADDR_STORAGE>());
    // SAFETY: both regions are valid for `len` bytes (bounded by the storage size above)
    // and do not overlap.
    unsafe { ptr::copy_nonoverlapping(from.as_ptr().cast::<u8>(), (to as *mut ws::SOCKADDR_STORAGE).cast::<u8>(), len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_round_trip_and_malformed_ones_end_the_walk() {
        let mut buf = [0u8; 64];
        let n = encode(&mut buf, ws::IPPROTO_UDP, ws::UDP_SEND_MSG_SIZE, &1200u32.to_ne_bytes()).unwrap();
        assert_eq!(n, 24);
        let all: Vec<_> = walk(&buf[..n]).collect();
        assert_eq!(all, vec![(ws::IPPROTO_UDP, ws::UDP_SEND_MSG_SIZE, &1200u32.to_ne_bytes()[..])]);
        // A length past the buffer, or shorter than a header, stops the walk.
        assert_eq!(walk(&buf[..n - 1]).count(), 0);
        buf[0] = 3;
        assert_eq!(walk(&buf[..n]).count(), 0);
        assert!(encode(&mut [0u8; 20], 0, 0, &[0; 4]).is_none());
    }

    #[test]
    fn packet_info_and_coalescing_fill_the_meta() {
        let mut meta = RecvMeta::unset();
        apply(ws::IPPROTO_IP, ws::IP_PKTINFO, &[127, 0, 0, 1, 1, 0, 0, 0], &mut meta);
        assert_eq!(meta.destination, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(meta.interface, Some(1));
        apply(ws::IPPROTO_IP, ws::IP_TOS, &0xb8u32.to_ne_bytes(), &mut meta);
        assert_eq!(meta.tos, Some(0xb8));
        apply(ws::IPPROTO_UDP, ws::UDP_COALESCED_INFO as i32, &1000u32.to_ne_bytes(), &mut meta);
        assert_eq!(meta.stride, 1000);
        // Short data is ignored, not read past.
        let before = meta;
        apply(ws::IPPROTO_IPV6, ws::IPV6_PKTINFO, &[0; 19], &mut meta);
        assert_eq!(meta, before);
    }
}

/// No error queue (`IP_RECVERR`) on Windows: the option is refused.
pub(crate) fn set_recv_errors(_: &SockRef<'_>, _: bool, _: bool) -> io::Result<()> {
    Err(unsupported())
}

/// No error queue on Windows: always empty.
pub(crate) fn recv_error(_: &SockRef<'_>) -> io::Result<Option<crate::types::IcmpError>> {
    Ok(None)
}
