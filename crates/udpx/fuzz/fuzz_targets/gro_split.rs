//! The GRO splitter on any slot: a stride of 0, larger than the buffer, or not dividing it.
//! The first 4 bytes are the stride (little-endian; 0xffffffff stands for usize::MAX), the
//! rest the slot's payload.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let raw = u32::from_le_bytes(data[..4].try_into().unwrap());
    let stride = if raw == u32::MAX { usize::MAX } else { raw as usize };
    let payload = &data[4..];
    let segs: Vec<&[u8]> = udpx::gro_segments(payload, stride).collect();
    assert_eq!(segs.len(), udpx::segment_count(payload.len(), stride));
    assert_eq!(segs.concat(), payload);
    if let Some((last, head)) = segs.split_last() {
        assert!(head.iter().all(|s| s.len() == stride));
        assert!(stride == 0 || last.len() <= stride);
    }
    for k in [0, segs.len() / 2, segs.len().saturating_sub(1), segs.len()] {
        assert_eq!(udpx::gro_segments(payload, stride).nth(k), segs.get(k).copied());
    }
});
