//! The send path's bookkeeping: a gathered payload cut into datagrams of `size` bytes, as
//! the sendmmsg fallback of a segmented transmit cuts it. Input: size (2 bytes LE, 0 means
//! 1), then parts, each a length byte and its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let size = usize::from(u16::from_le_bytes([data[0], data[1]])).max(1);
    let mut rest = &data[2..];
    let mut parts: Vec<&[u8]> = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        parts.push(&tail[..len]);
        rest = &tail[len..];
    }
    let t = udpx::Transmit::gather(None, &parts).with_segment_size(size);
    let n = t.datagrams();
    let cuts = udpx::fuzzing::cut(&parts, &vec![size; n + 1]);
    assert_eq!(cuts[..n].concat(), parts.concat());
    assert!(cuts[n].is_empty());
    assert!(cuts[..n.saturating_sub(1)].iter().all(|c| c.len() == size));
});
