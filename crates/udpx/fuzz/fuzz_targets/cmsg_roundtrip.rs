//! Encode, then walk: every message written with `encode_control` comes back from the walk
//! with its level, type and data length, in order. Input: a list of
//! (level: i32, type: i32, length: u8, data) records.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let mut want = Vec::new();
    let mut buf = Vec::new();
    while rest.len() >= 9 && want.len() < 16 {
        let level = i32::from_ne_bytes(rest[0..4].try_into().unwrap());
        let ty = i32::from_ne_bytes(rest[4..8].try_into().unwrap());
        let len = usize::from(rest[8]).min(rest.len() - 9);
        let payload = &rest[9..9 + len];
        rest = &rest[9 + len..];
        let mut one = vec![0u8; udpx::fuzzing::control_space(payload.len())];
        assert_eq!(udpx::fuzzing::encode_control(&mut one, level, ty, payload), Some(one.len()));
        // One byte too few never fits.
        let short = one.len() - 1;
        assert_eq!(udpx::fuzzing::encode_control(&mut one[..short], level, ty, payload), None);
        buf.extend_from_slice(&one);
        want.push((level, ty, payload.len()));
    }
    assert_eq!(udpx::fuzzing::walk_control(&buf), want);
    let _ = udpx::fuzzing::parse_control(&buf);
});
