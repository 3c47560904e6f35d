//! Text forms of IP addresses, as libuv (and so Node) reads and writes them.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::sys;

/// Parses `ip` (with an optional `%zone` on IPv6) and `port` into a socket address.
///
/// The zone is an interface name, resolved with `if_nametoindex`; an unknown name gives
/// scope 0, as libuv's `uv_ip6_addr` does. Fails with `EINVAL` where libuv would.
pub fn parse_ip(ip: &str, port: u16, v6: bool) -> io::Result<SocketAddr> {
    let invalid = || io::Error::from_raw_os_error(libc::EINVAL);
    if !v6 {
        let a: Ipv4Addr = ip.parse().map_err(|_| invalid())?;
        return Ok(SocketAddr::V4(SocketAddrV4::new(a, port)));
    }
    let (host, zone) = match ip.split_once('%') {
        Some((h, z)) => (h, Some(z)),
        None => (ip, None),
    };
    let a: Ipv6Addr = host.parse().map_err(|_| invalid())?;
    let scope = zone.map(sys::if_nametoindex).unwrap_or(0);
    Ok(SocketAddr::V6(SocketAddrV6::new(a, port, 0, scope)))
}

/// Formats an address the way libuv's `inet_ntop` does, adding `%iface` to an IPv6
/// link-local address that carries a scope, as Node's `rinfo.address` does.
pub fn format_ip(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => {
            let ip = a.ip();
            let seg = ip.segments();
            // ISC inet_ntop writes IPv4-compatible addresses (::a.b.c.d) in dotted form;
            // Rust's Display does that only for IPv4-mapped ones.
            let mut s = if seg[..6].iter().all(|&w| w == 0) && seg[6] != 0 {
                let o = ip.octets();
                format!("::{}", Ipv4Addr::new(o[12], o[13], o[14], o[15]))
            } else {
                ip.to_string()
            };
            let link_local = seg[0] & 0xffc0 == 0xfe80;
            if link_local && a.scope_id() > 0 {
                s.push('%');
                match sys::if_indextoname(a.scope_id()) {
                    Some(name) => s.push_str(&name),
                    None => s.push_str(&a.scope_id().to_string()),
                }
            }
            s
        }
    }
}

/// The name of the interface with index `index` (`if_indextoname`).
pub fn interface_name(index: u32) -> Option<String> {
    sys::if_indextoname(index)
}

/// The unspecified address of a family, for implicit binds.
pub(crate) fn unspecified(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_inet_ntop() {
        let f = |s: &str| format_ip(&SocketAddr::new(s.parse().unwrap(), 1));
        assert_eq!(f("127.0.0.1"), "127.0.0.1");
        assert_eq!(f("::1"), "::1");
        assert_eq!(f("::ffff:127.0.0.1"), "::ffff:127.0.0.1");
        assert_eq!(f("::102:304"), "::1.2.3.4");
        assert_eq!(f("2001:db8::1"), "2001:db8::1");
        assert_eq!(f("::"), "::");
    }

    #[test]
    fn parses_zones_and_rejects_garbage() {
        let a = parse_ip("fe80::1%lo", 5, true).unwrap();
        match a {
            SocketAddr::V6(a) => assert_eq!(a.scope_id(), sys::if_nametoindex("lo")),
            _ => unreachable!(),
        }
        assert_eq!(format_ip(&a), "fe80::1%lo");
        assert!(parse_ip("1.2.3", 1, false).is_err());
        assert!(parse_ip("::1", 1, false).is_err());
        assert!(parse_ip("1.2.3.4", 1, true).is_err());
    }
}
