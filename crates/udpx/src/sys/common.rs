//! What every platform does the same way, built on the helpers each OS module exports
//! (`unix` or `windows`, as `os`): argument checks, the IPv4 half of source-specific
//! membership (socket2 has it everywhere), and telling a UDP socket's family. No `unsafe`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Socket, Type};

use super::{errno, os, RawFd};
use crate::types::Family;

fn einval() -> io::Error {
    io::Error::from_raw_os_error(errno::EINVAL)
}

/// Joins or leaves a source-specific multicast group: socket2 for IPv4, the OS module's
/// `MCAST_JOIN_SOURCE_GROUP` / `MCAST_LEAVE_SOURCE_GROUP` for IPv6. The interface is an
/// address of the same family as the group (IPv4: the interface's address; IPv6: its scope
/// id); mixed families fail with `EINVAL`.
pub(crate) fn set_source_membership(
    socket: &Socket,
    source: SocketAddr,
    group: SocketAddr,
    iface: Option<SocketAddr>,
    join: bool,
) -> io::Result<()> {
    match (source, group) {
        (SocketAddr::V4(s), SocketAddr::V4(g)) => {
            let ifa = match iface {
                Some(SocketAddr::V4(i)) => *i.ip(),
                Some(_) => return Err(einval()),
                None => Ipv4Addr::UNSPECIFIED,
            };
            if join {
                socket.join_ssm_v4(s.ip(), g.ip(), &ifa)
            } else {
                socket.leave_ssm_v4(s.ip(), g.ip(), &ifa)
            }
        }
        (SocketAddr::V6(s), SocketAddr::V6(g)) => {
            let index = match iface {
                Some(SocketAddr::V6(i)) => i.scope_id(),
                Some(_) => return Err(einval()),
                None => 0,
            };
            os::set_source_membership_v6(socket, s, g, index, join)
        }
        _ => Err(einval()),
    }
}

/// The family of `fd` if it is a UDP socket of an IP family; `EINVAL` otherwise (and the OS
/// module's error when `fd` is not an open socket).
pub(crate) fn udp_family(fd: RawFd) -> io::Result<Family> {
    let (ty, domain) = os::with_socket(fd, |s| (s.r#type(), s.local_addr().map(|a| a.domain())))?;
    match (ty, domain) {
        (Ok(Type::DGRAM), Ok(Domain::IPV4)) => Ok(Family::V4),
        (Ok(Type::DGRAM), Ok(Domain::IPV6)) => Ok(Family::V6),
        _ => Err(einval()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn mixed_families_are_refused_before_any_socket_call() {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        let (v4, g4, v6, g6) = (addr("127.0.0.1:0"), addr("232.1.2.3:0"), addr("[::1]:0"), addr("[ff3e::1234]:0"));
        for (source, group, iface) in [(v4, g6, None), (v6, g4, None), (v4, g4, Some(v6)), (v6, g6, Some(v4))] {
            for join in [true, false] {
                let e = set_source_membership(&s, source, group, iface, join).unwrap_err();
                assert_eq!(e.raw_os_error(), Some(errno::EINVAL), "{source} {group} {iface:?}");
            }
        }
    }

    #[test]
    fn udp_family_names_udp_sockets_and_refuses_others() {
        let udp = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        udp.bind(&addr("127.0.0.1:0").into()).unwrap();
        assert!(matches!(udp_family(os::raw_fd(&udp)), Ok(Family::V4)));
        let tcp = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        tcp.bind(&addr("127.0.0.1:0").into()).unwrap();
        let e = udp_family(os::raw_fd(&tcp)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(errno::EINVAL));
    }
}
