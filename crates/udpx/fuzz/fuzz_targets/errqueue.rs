//! The error queue's parser (`sock_extended_err` and the offender's sockaddr after it) on
//! whatever a control buffer holds: as one control message's data for both levels, and as a
//! whole control buffer walked the way a receive walks it. Nothing may panic or read outside
//! the buffer, and what is decoded must be what the bytes say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use udpx::ErrorOrigin;

const IPPROTO_IP: i32 = 0;
const IP_RECVERR: i32 = 11;
const IPPROTO_IPV6: i32 = 41;
const IPV6_RECVERR: i32 = 25;

fuzz_target!(|data: &[u8]| {
    for (level, ty) in [(IPPROTO_IP, IP_RECVERR), (IPPROTO_IPV6, IPV6_RECVERR)] {
        let Some(e) = udpx::fuzzing::parse_icmp_error(level, ty, data) else {
            assert!(data.len() < 16, "a full sock_extended_err must parse");
            continue;
        };
        assert!(data.len() >= 16);
        let errno = u32::from_ne_bytes(data[0..4].try_into().unwrap());
        assert_eq!(e.errno, i32::try_from(errno).unwrap_or(i32::MAX));
        assert_eq!((e.icmp_type, e.icmp_code), (data[5], data[6]));
        assert_eq!(e.info, u32::from_ne_bytes(data[8..12].try_into().unwrap()));
        match (data[4], e.origin) {
            (1, ErrorOrigin::Local) | (2, ErrorOrigin::Icmp) | (3, ErrorOrigin::Icmp6) => {}
            (o, ErrorOrigin::Other(p)) => assert_eq!(o, p),
            (o, other) => panic!("origin byte {o} decoded as {other:?}"),
        }
        // The offender is exactly what the sockaddr parser makes of the bytes after.
        assert_eq!(e.offender, udpx::fuzzing::sockaddr_from_bytes(&data[16..]).map(|a| a.ip()));
        assert_eq!(e.destination, None);
    }
    // Another level or type is never taken for an error.
    assert!(udpx::fuzzing::parse_icmp_error(IPPROTO_IP, IPV6_RECVERR, data).is_none());
    let _ = udpx::fuzzing::find_icmp_error(data);
});
