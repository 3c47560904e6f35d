//! Text forms of IP addresses, as libuv (and so Node) reads and writes them.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// An address as libuv reads it: a C string, so it ends at the first NUL.
pub(crate) fn c_str(s: &str) -> &str {
    s.split('\0').next().unwrap_or("")
}

/// Parses `ip` (with an optional `%zone` on IPv6) and `port` into a socket address.
///
/// The zone is an interface name, resolved with `if_nametoindex`; an unknown name gives
/// scope 0, as libuv's `uv_ip6_addr` does. Fails with `EINVAL` where libuv would.
pub(crate) fn parse_ip(ip: &str, port: u16, v6: bool) -> io::Result<SocketAddr> {
    let invalid = || crate::error::from_uv(crate::error::EINVAL);
    if !v6 {
        let a: Ipv4Addr = ip.parse().map_err(|_| invalid())?;
        return Ok(SocketAddr::V4(SocketAddrV4::new(a, port)));
    }
    let (host, zone) = match ip.split_once('%') {
        Some((h, z)) => (h, Some(z)),
        None => (ip, None),
    };
    let a: Ipv6Addr = host.parse().map_err(|_| invalid())?;
    let scope = zone.map(udpx::interface_index).unwrap_or(0);
    Ok(SocketAddr::V6(SocketAddrV6::new(a, port, 0, scope)))
}

/// Formats an address the way libuv's `inet_ntop` does, adding `%iface` to an IPv6
/// link-local address that carries a scope, as Node's `rinfo.address` does.
pub(crate) fn format_ip(addr: &SocketAddr) -> String {
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
                match udpx::interface_name(a.scope_id()) {
                    Some(name) => s.push_str(&name),
                    None => s.push_str(&a.scope_id().to_string()),
                }
            }
            s
        }
    }
}
