//! The socket: creation, binding, connection and every unicast and multicast option.
//! Sending is in `send.rs`, receiving in `recv.rs`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sys::RawFd;

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use crate::sys;
use crate::types::{BindOptions, Family};

fn domain(family: Family) -> Domain {
    match family {
        Family::V4 => Domain::IPV4,
        Family::V6 => Domain::IPV6,
    }
}

/// A non-blocking UDP socket.
///
/// Every call returns at once: a receive with nothing queued or a send the kernel cannot take
/// now fails with [`io::ErrorKind::WouldBlock`]. Wait for readiness with your event loop
/// ([`AsyncUdpSocket`](crate::AsyncUdpSocket) uses tokio's).
#[derive(Debug)]
pub struct UdpSocket {
    inner: Socket,
    family: Family,
    /// Cleared the first time the kernel refuses a segmented (GSO) send.
    gso: AtomicBool,
}

impl UdpSocket {
    /// Creates an unbound socket of `family` (non-blocking, close-on-exec).
    pub fn new(family: Family) -> io::Result<Self> {
        let inner = Socket::new(domain(family), Type::DGRAM, Some(Protocol::UDP))?;
        inner.set_nonblocking(true)?;
        Ok(UdpSocket { inner, family, gso: AtomicBool::new(sys::gso_supported()) })
    }

    /// Adopts an open UDP descriptor, taking ownership of it.
    ///
    /// Fails with `EINVAL` when `fd` is not a datagram socket of an IP family; the caller
    /// keeps ownership in that case.
    pub fn from_fd(fd: RawFd) -> io::Result<Self> {
        let family = sys::udp_family(fd)?;
        let inner = sys::adopt_fd(fd);
        inner.set_nonblocking(true)?;
        Ok(UdpSocket { inner, family, gso: AtomicBool::new(sys::gso_supported()) })
    }

    /// A new descriptor for the UDP socket behind `fd` (`dup`); `fd` stays the caller's.
    /// Both then read from and write to one kernel socket.
    pub fn from_fd_dup(fd: RawFd) -> io::Result<Self> {
        let family = sys::udp_family(fd)?;
        let inner = sys::dup_fd(fd)?;
        inner.set_nonblocking(true)?;
        Ok(UdpSocket { inner, family, gso: AtomicBool::new(sys::gso_supported()) })
    }

    /// The family the socket was created with.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Applies `opts` and binds to `addr`.
    pub fn bind(&self, addr: SocketAddr, opts: BindOptions) -> io::Result<()> {
        if opts.reuse_addr {
            self.inner.set_reuse_address(true)?;
        }
        if opts.reuse_port {
            sys::set_reuse_port(&SockRef::from(&self.inner))?;
        }
        if opts.ipv6_only {
            // On an IPv4 socket the kernel answers ENOPROTOOPT.
            self.inner.set_only_v6(true)?;
        }
        self.inner.bind(&SockAddr::from(addr))
    }

    /// Binds to the unspecified address and an ephemeral port with `SO_REUSEADDR`: what a
    /// membership change needs on a socket nobody bound.
    pub fn bind_any(&self) -> io::Result<()> {
        let ip = match self.family {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let any = SocketAddr::new(ip, 0);
        self.bind(any, BindOptions { reuse_addr: true, ..Default::default() })
    }

    /// True once the socket has a local address.
    pub fn is_bound(&self) -> bool {
        self.local_addr().map(|a| a.port() != 0).unwrap_or(false)
    }

    /// Sets the default destination; only datagrams from it are received.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner.connect(&SockAddr::from(addr))
    }

    /// Removes the default destination set by [`connect`](Self::connect).
    pub fn disconnect(&self) -> io::Result<()> {
        sys::disconnect(&self.inner)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        to_std(self.inner.local_addr()?)
    }

    /// The connected peer's address (`ENOTCONN` when not connected).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        to_std(self.inner.peer_addr()?)
    }

    /// The socket as socket2 sees it, for the send and receive paths.
    pub(crate) fn sock_ref(&self) -> SockRef<'_> {
        SockRef::from(&self.inner)
    }

    /// The "GSO still works" flag the send path reads and clears.
    pub(crate) fn gso_flag(&self) -> &AtomicBool {
        &self.gso
    }

    /// Whether segmented sends still use GSO (false once the kernel refused it).
    pub fn gso_enabled(&self) -> bool {
        self.gso.load(Ordering::Relaxed)
    }

    /// `UDP_GRO`: receive runs of same-sized datagrams from one sender as one slot
    /// (see [`RecvMeta::stride`](crate::RecvMeta::stride)).
    pub fn set_gro(&self, on: bool) -> io::Result<()> {
        sys::set_gro(&SockRef::from(&self.inner), on)
    }

    /// How many datagrams the kernel dropped for this socket (its receive buffer was full,
    /// or a checksum or filter failed), read when asked (`SO_MEMINFO` on Linux): cheaper
    /// than [`set_drop_counting`](Self::set_drop_counting), which costs a control message
    /// per datagram. `Unsupported`/`ENOPROTOOPT` where the platform or kernel has no such
    /// counter.
    pub fn kernel_drops(&self) -> io::Result<u32> {
        sys::kernel_drops(&SockRef::from(&self.inner))
    }

    /// `SO_RXQ_OVFL`: report the kernel's drop count with received datagrams
    /// (see [`RecvMeta::drops`](crate::RecvMeta::drops)).
    pub fn set_drop_counting(&self, on: bool) -> io::Result<()> {
        sys::set_drop_counting(&SockRef::from(&self.inner), on)
    }

    /// The TOS byte (DSCP and ECN) of outgoing datagrams: `IP_TOS`, or `IPV6_TCLASS` on
    /// an IPv6 socket.
    pub fn set_tos(&self, tos: u8) -> io::Result<()> {
        sys::set_tos(&SockRef::from(&self.inner), self.family.is_v6(), tos)
    }

    /// Sets the don't-fragment bit on outgoing IPv4 datagrams (and refuses to fragment
    /// IPv6 ones locally): path MTU discovery "do" mode. Datagrams over the path MTU then
    /// fail with `EMSGSIZE` instead of being fragmented.
    pub fn set_dont_fragment(&self, on: bool) -> io::Result<()> {
        sys::set_dont_fragment(&SockRef::from(&self.inner), self.family.is_v6(), on)
    }

    /// Attach destination address, interface, TOS/traffic class and a kernel timestamp to
    /// every received datagram (see [`RecvMeta`](crate::RecvMeta)).
    pub fn set_recv_metadata(&self, on: bool) -> io::Result<()> {
        sys::set_recv_metadata(&SockRef::from(&self.inner), self.family.is_v6(), on)
    }

    /// `IP_RECVERR`/`IPV6_RECVERR` (Linux): ICMP errors about sent datagrams are queued for
    /// [`recv_error`](Self::recv_error). While on, Linux also reports them as a pending
    /// socket error to the next send or receive (`ECONNREFUSED`, ...) until they are read,
    /// and a send that a full qdisc drops fails with `ENOBUFS` instead of vanishing.
    pub fn set_recv_errors(&self, on: bool) -> io::Result<()> {
        sys::set_recv_errors(&SockRef::from(&self.inner), self.family.is_v6(), on)
    }

    /// Takes one entry off the socket's error queue (`MSG_ERRQUEUE`); `Ok(None)` if empty.
    pub fn recv_error(&self) -> io::Result<Option<crate::IcmpError>> {
        sys::recv_error(&SockRef::from(&self.inner))
    }

    /// `SO_BINDTODEVICE`: only traffic of interface `name` (`None`: any interface).
    pub fn bind_device(&self, name: Option<&str>) -> io::Result<()> {
        sys::bind_device(&SockRef::from(&self.inner), name)
    }

    /// `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.set_broadcast(on)
    }

    /// Unicast TTL (IPv4) or hop limit (IPv6).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        match self.family {
            Family::V4 => self.inner.set_ttl_v4(ttl),
            Family::V6 => self.inner.set_unicast_hops_v6(ttl),
        }
    }

    /// Multicast TTL (IPv4) or hop limit (IPv6).
    pub fn set_multicast_ttl(&self, ttl: u32) -> io::Result<()> {
        match self.family {
            Family::V4 => self.inner.set_multicast_ttl_v4(ttl),
            Family::V6 => self.inner.set_multicast_hops_v6(ttl),
        }
    }

    /// Whether multicast sent from this socket loops back to local listeners.
    pub fn set_multicast_loop(&self, on: bool) -> io::Result<()> {
        match self.family {
            Family::V4 => self.inner.set_multicast_loop_v4(on),
            Family::V6 => self.inner.set_multicast_loop_v6(on),
        }
    }

    /// The interface outgoing multicast leaves by: an IPv4 address of it, or an IPv6
    /// address whose scope (`::%eth0`) names it. The option set follows the address's
    /// family, not the socket's; the kernel rejects what does not apply.
    pub fn set_multicast_if(&self, iface: SocketAddr) -> io::Result<()> {
        match iface {
            SocketAddr::V4(a) => self.inner.set_multicast_if_v4(a.ip()),
            SocketAddr::V6(a) => self.inner.set_multicast_if_v6(a.scope_id()),
        }
    }

    /// Joins (`join == true`) or leaves the any-source group `group` on `iface`
    /// (`None`: the kernel's choice).
    pub fn set_membership(&self, group: SocketAddr, iface: Option<SocketAddr>, join: bool) -> io::Result<()> {
        match group {
            SocketAddr::V4(g) => {
                let ifa = match iface {
                    Some(SocketAddr::V4(i)) => *i.ip(),
                    Some(_) => return Err(io::Error::from_raw_os_error(sys::errno::EINVAL)),
                    None => Ipv4Addr::UNSPECIFIED,
                };
                if join {
                    self.inner.join_multicast_v4(g.ip(), &ifa)
                } else {
                    self.inner.leave_multicast_v4(g.ip(), &ifa)
                }
            }
            SocketAddr::V6(g) => {
                let index = match iface {
                    Some(SocketAddr::V6(i)) => i.scope_id(),
                    Some(_) => return Err(io::Error::from_raw_os_error(sys::errno::EINVAL)),
                    None => 0,
                };
                if join {
                    self.inner.join_multicast_v6(g.ip(), index)
                } else {
                    self.inner.leave_multicast_v6(g.ip(), index)
                }
            }
        }
    }

    /// Joins or leaves the source-specific group (`source`, `group`) on `iface`.
    pub fn set_source_membership(&self, source: SocketAddr, group: SocketAddr, iface: Option<SocketAddr>, join: bool) -> io::Result<()> {
        sys::set_source_membership(&self.inner, source, group, iface, join)
    }

    /// `SO_RCVBUF`: `size == 0` reads it; otherwise sets it and returns what the kernel
    /// reports back (Linux doubles the request).
    pub fn recv_buffer_size(&self, size: usize) -> io::Result<usize> {
        if size > 0 {
            self.inner.set_recv_buffer_size(size)?;
        }
        self.inner.recv_buffer_size()
    }

    /// `SO_SNDBUF`, as [`recv_buffer_size`](Self::recv_buffer_size).
    pub fn send_buffer_size(&self, size: usize) -> io::Result<usize> {
        if size > 0 {
            self.inner.set_send_buffer_size(size)?;
        }
        self.inner.send_buffer_size()
    }

    /// The pending socket error (`SO_ERROR`), cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl UdpSocket {
    /// The OS handle: the descriptor on Unix, the `SOCKET` on Windows (what
    /// `AsRawFd`/`AsRawSocket` give, without naming the platform's trait).
    pub fn raw_fd(&self) -> RawFd {
        sys::raw_fd(&self.inner)
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsRawSocket for UdpSocket {
    fn as_raw_socket(&self) -> RawFd {
        self.inner.as_raw_socket()
    }
}

impl From<UdpSocket> for std::net::UdpSocket {
    fn from(s: UdpSocket) -> Self {
        s.inner.into()
    }
}

fn to_std(a: SockAddr) -> io::Result<SocketAddr> {
    a.as_socket().ok_or_else(|| io::Error::from_raw_os_error(sys::errno::EAFNOSUPPORT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RecvBatch, Transmit};
    use std::os::fd::AsRawFd;

    fn bound(family: Family, ip: &str) -> UdpSocket {
        let s = UdpSocket::new(family).unwrap();
        s.bind(SocketAddr::new(ip.parse().unwrap(), 0), BindOptions::default()).unwrap();
        s
    }

    /// Whether `e` is a refusal by a user-mode emulator rather than by the kernel: qemu user
    /// mode (`.ci/arm64` sets `UDPX_TEST_EMULATOR` to its command) does not translate some
    /// socket options and control messages, and answers `ENOPROTOOPT` or `EFAULT`. Says so
    /// on stderr (uncaptured, so every run shows it) when it is.
    fn refused_by_emulator(what: &str, e: &io::Error) -> bool {
        use std::io::Write;
        let Ok(emulator) = std::env::var("UDPX_TEST_EMULATOR") else { return false };
        if !matches!(e.raw_os_error(), Some(libc::ENOPROTOOPT | libc::EFAULT)) {
            return false;
        }
        let line = format!(
            "skipped under emulation: {what} fails with \"{e}\" under `{emulator}` (qemu user mode does not translate it; Linux has it)\n"
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
        true
    }

    /// `$r.unwrap()`, except that the test ends (skipped, with the reason printed) when an
    /// emulator refused the call; any other error still fails the test.
    macro_rules! unless_emulated {
        ($what:expr, $r:expr) => {
            match $r {
                Err(e) if refused_by_emulator($what, &e) => return,
                r => r.unwrap(),
            }
        };
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn gathered_send_arrives_as_one_datagram() {
        let a = bound(Family::V4, "127.0.0.1");
        let b = bound(Family::V4, "127.0.0.1");
        let n = a.send(&Transmit::gather(Some(b.local_addr().unwrap()), &[b"ab", b"", b"cde"])).unwrap();
        assert_eq!(n, 1);
        let mut batch = RecvBatch::new(4);
        let got = crate::recv::tests::recv_wait(&b, &mut batch);
        assert_eq!(got, 1);
        assert_eq!(batch.payload(0), b"abcde");
        assert_eq!(batch.meta(0).source, a.local_addr().unwrap());
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn connect_filters_and_disconnect_restores() {
        let a = bound(Family::V4, "127.0.0.1");
        let b = bound(Family::V4, "127.0.0.1");
        a.connect(b.local_addr().unwrap()).unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        assert_eq!(a.send(&Transmit::new(None, b"x")).unwrap(), 1);
        a.disconnect().unwrap();
        assert_eq!(a.peer_addr().unwrap_err().raw_os_error(), Some(libc::ENOTCONN));
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn reports_address_in_use() {
        let a = bound(Family::V4, "127.0.0.1");
        let b = UdpSocket::new(Family::V4).unwrap();
        let e = b.bind(a.local_addr().unwrap(), BindOptions::default()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EADDRINUSE));
        // SO_REUSEPORT on both lets two sockets share a port.
        let opts = BindOptions { reuse_port: true, ..Default::default() };
        let c = UdpSocket::new(Family::V4).unwrap();
        c.bind("127.0.0.1:0".parse().unwrap(), opts).unwrap();
        let d = UdpSocket::new(Family::V4).unwrap();
        d.bind(c.local_addr().unwrap(), opts).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn options_apply_on_both_families() {
        for (f, ip) in [(Family::V4, "127.0.0.1"), (Family::V6, "::1")] {
            let s = bound(f, ip);
            s.set_ttl(17).unwrap();
            s.set_multicast_ttl(3).unwrap();
            s.set_multicast_loop(false).unwrap();
            s.set_broadcast(true).unwrap();
            assert!(s.recv_buffer_size(65536).unwrap() >= 65536);
            assert!(s.send_buffer_size(0).unwrap() > 0);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn batch_send_reaches_many_peers_in_order() {
        let tx = bound(Family::V4, "127.0.0.1");
        let rx: Vec<UdpSocket> = (0..3).map(|_| bound(Family::V4, "127.0.0.1")).collect();
        // Datagram 4 is empty: a sendmmsg entry of its own (qemu user mode drops one without iovecs).
        let payloads: Vec<Vec<u8>> = (0..9u8).map(|i| vec![i; if i == 4 { 0 } else { 10 + i as usize }]).collect();
        let msgs: Vec<Transmit<'_>> =
            payloads.iter().enumerate().map(|(i, p)| Transmit::new(Some(rx[i % 3].local_addr().unwrap()), p)).collect();
        assert_eq!(tx.send_batch(&msgs).unwrap(), 9);
        for (r, s) in rx.iter().enumerate() {
            let mut batch = RecvBatch::new(8);
            let mut got = Vec::new();
            while got.len() < 3 {
                let n = crate::recv::tests::recv_wait(s, &mut batch);
                got.extend((0..n).map(|i| batch.payload(i).to_vec()));
            }
            assert_eq!(got, vec![payloads[r].clone(), payloads[r + 3].clone(), payloads[r + 6].clone()]);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn segments_arrive_as_datagrams_and_coalesce_with_gro() {
        let tx = bound(Family::V4, "127.0.0.1");
        let plain = bound(Family::V4, "127.0.0.1");
        let gro = bound(Family::V4, "127.0.0.1");
        if crate::backend() == "portable" {
            // No GRO on the portable backend: the setter says so instead of doing nothing.
            let e = gro.set_gro(true).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOPROTOOPT));
            assert!(!tx.gso_enabled());
        } else {
            gro.set_gro(true).unwrap();
        }
        let buf: Vec<u8> = (0..1000u32).map(|i| (i / 100) as u8).collect();
        for rx in [&plain, &gro] {
            let t = Transmit::new(Some(rx.local_addr().unwrap()), &buf).with_segment_size(100);
            assert_eq!(tx.send(&t).unwrap(), 10);
        }
        let collect = |s: &UdpSocket| {
            let mut batch = RecvBatch::new(16);
            let mut got: Vec<Vec<u8>> = Vec::new();
            let mut slots = 0;
            while got.len() < 10 {
                let n = crate::recv::tests::recv_wait(s, &mut batch);
                slots += n;
                got.extend(batch.datagrams().map(|(p, _)| p.to_vec()));
            }
            (got, slots)
        };
        let (a, slots_a) = collect(&plain);
        let (b, slots_b) = collect(&gro);
        let expect: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 100]).collect();
        assert_eq!(a, expect);
        assert_eq!(b, expect);
        assert_eq!(slots_a, 10);
        if tx.gso_enabled() {
            // A GSO send reaches a GRO socket on loopback as one coalesced slot.
            assert_eq!(slots_b, 1);
        } else {
            assert_eq!(slots_b, 10);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn counts_kernel_drops() {
        let tx = bound(Family::V4, "127.0.0.1");
        let rx = bound(Family::V4, "127.0.0.1");
        unless_emulated!("set_drop_counting (SO_RXQ_OVFL)", rx.set_drop_counting(true));
        rx.recv_buffer_size(4096).unwrap();
        let to = rx.local_addr().unwrap();
        for _ in 0..200 {
            let _ = tx.send(&Transmit::new(Some(to), &[0u8; 1000]));
        }
        // Drain what fit, then send one more: the kernel attaches the count to datagrams
        // queued after the first drop.
        let mut batch = RecvBatch::new(64);
        while rx.recv_batch(&mut batch).is_ok() {}
        tx.send(&Transmit::new(Some(to), b"after")).unwrap();
        let n = crate::recv::tests::recv_wait(&rx, &mut batch);
        assert_eq!(batch.payload(n - 1), b"after");
        let drops = batch.meta(n - 1).drops.expect("drop counter attached");
        assert!(drops > 0, "a 4 KiB buffer cannot hold 200 KB");
        assert_eq!(rx.kernel_drops().unwrap(), drops, "the same counter, read on demand");
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    #[cfg(target_os = "linux")]
    fn reads_kernel_drops_on_demand() {
        let tx = bound(Family::V4, "127.0.0.1");
        let rx = bound(Family::V4, "127.0.0.1");
        rx.recv_buffer_size(4096).unwrap();
        assert_eq!(unless_emulated!("kernel_drops (SO_MEMINFO)", rx.kernel_drops()), 0);
        let to = rx.local_addr().unwrap();
        let mut sent = 0;
        for _ in 0..200 {
            sent += usize::from(tx.send(&Transmit::new(Some(to), &[0u8; 1000])).is_ok());
        }
        let mut batch = RecvBatch::new(64);
        let mut received = 0;
        while let Ok(n) = rx.recv_batch(&mut batch) {
            received += n;
        }
        let drops = rx.kernel_drops().unwrap() as usize;
        assert!(drops > 0, "a 4 KiB buffer cannot hold 200 KB");
        assert_eq!(received + drops, sent, "every datagram received or counted as dropped");
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn tos_dont_fragment_and_device_apply() {
        for (f, ip) in [(Family::V4, "127.0.0.1"), (Family::V6, "::1")] {
            let s = bound(f, ip);
            s.set_tos(0xb8).unwrap();
            unless_emulated!("set_dont_fragment (IP_MTU_DISCOVER)", s.set_dont_fragment(true));
            unless_emulated!("bind_device (SO_BINDTODEVICE)", s.bind_device(Some("lo")));
            unless_emulated!("bind_device(None)", s.bind_device(None));
        }
        let s = bound(Family::V4, "127.0.0.1");
        s.set_tos(0x2e << 2).unwrap();
        assert_eq!(s.inner.tos_v4().unwrap(), 0x2e << 2);
        assert!(s.bind_device(Some("no-such-if0")).is_err());
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn reports_destination_interface_tos_and_time() {
        for (f, ip) in [(Family::V4, "127.0.0.1"), (Family::V6, "::1")] {
            let rx = bound(f, ip);
            unless_emulated!("set_recv_metadata (IP_PKTINFO, IP_RECVTOS, SO_TIMESTAMPNS)", rx.set_recv_metadata(true));
            let tx = bound(f, ip);
            tx.set_tos(0xb8).unwrap();
            tx.send(&Transmit::new(Some(rx.local_addr().unwrap()), b"meta")).unwrap();
            let mut batch = RecvBatch::new(1);
            crate::recv::tests::recv_wait(&rx, &mut batch);
            let m = batch.meta(0);
            assert_eq!(m.destination, Some(ip.parse().unwrap()));
            assert_eq!(m.interface, Some(sys::if_nametoindex("lo")));
            assert_eq!(m.tos, Some(0xb8));
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
            let ts = m.timestamp.unwrap();
            assert!(ts <= now && now - ts < std::time::Duration::from_secs(5));
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn adopts_only_udp_descriptors() {
        let s = bound(Family::V6, "::1");
        let addr = s.local_addr().unwrap();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(std::net::UdpSocket::from(s));
        let adopted = UdpSocket::from_fd(fd).unwrap();
        assert_eq!(adopted.family(), Family::V6);
        assert_eq!(adopted.local_addr().unwrap(), addr);
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let e = UdpSocket::from_fd(tcp.as_raw_fd()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}
