//! Control-message parsing on whatever bytes the kernel (or a bug) leaves in a control
//! buffer: pktinfo v4/v6, TOS/TCLASS, TTL/hop limit, timestamps, GRO segment size,
//! SO_RXQ_OVFL. Nothing may panic or read outside the buffer, and what is decoded must be
//! in range.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let walked = udpx::fuzzing::walk_control(data);
    let mut covered = 0usize;
    for &(_, _, len) in &walked {
        covered += len;
    }
    assert!(covered <= data.len());
    let m = udpx::fuzzing::parse_control(data);
    if let Some(t) = m.timestamp {
        assert!(t.subsec_nanos() < 1_000_000_000);
    }
    // A GRO stride is either untouched (0) or a real size.
    let _ = m.stride;
});
