//! The packed batch JS hands the binding for `sendBatch`: one buffer, a u32 length per
//! datagram, and per datagram a port and an index into the distinct hosts; and the way back,
//! received payloads put into one buffer as (offset, length) views for JS, and received slots
//! (GRO runs) put into a batch region as fields plus payloads (`put_slot`). Input: counts
//! (datagrams, hosts) in two bytes, then u32 lengths, ports and indices (LE), a byte per
//! host (0: did not parse, else a v4 or v6 address), then the data. Nothing may panic or
//! read outside the data; datagrams are back to back; destinations follow the indices.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use udpx::packed::{self, BadDestinations};

fn u32s(bytes: &[u8], n: usize) -> (Vec<u32>, &[u8]) {
    let take = (n * 4).min(bytes.len() / 4 * 4);
    let v = bytes[..take].chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
    (v, &bytes[take..])
}

fuzz_target!(|input: &[u8]| {
    let [n, hosts_n, rest @ ..] = input else { return };
    let (n, hosts_n) = (usize::from(*n % 80), usize::from(*hosts_n % 6));
    // Arrays may come out shorter than n: that is one of the cases.
    let (lengths, rest) = u32s(rest, n);
    let (ports, rest) = u32s(rest, n);
    let (host_index, rest) = u32s(rest, n);
    let take = hosts_n.min(rest.len());
    let hosts: Vec<Option<SocketAddr>> = rest[..take]
        .iter()
        .map(|&b| match b % 3 {
            0 => None,
            1 => Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, b)), 0)),
            _ => Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0)),
        })
        .collect();
    let data = &rest[take..];

    let sum: u64 = lengths.iter().map(|&l| u64::from(l)).sum();
    let Some(chunks) = packed::split(data, &lengths) else {
        assert!(sum > data.len() as u64);
        return;
    };
    assert_eq!(chunks.len(), lengths.len());
    assert_eq!(chunks.concat(), &data[..sum as usize]);
    // Each chunk is the view at its running offset.
    let mut off = 0usize;
    for c in &chunks {
        assert_eq!(c.as_ptr(), data[off..].as_ptr());
        off += c.len();
    }

    // The receive layout: the same datagrams put into a buffer that fits them all, or one
    // byte short (odd n): views read them back; the one that does not fit changes nothing.
    let room = (sum as usize).saturating_sub(usize::from(n % 2 == 1));
    let mut out = vec![0u8; room];
    let mut at = 0usize;
    for c in &chunks {
        let before = at;
        match packed::put(&mut out, &mut at, c) {
            Some((o, l)) => {
                assert_eq!((o as usize, l as usize), (before, c.len()));
                assert_eq!(&out[o as usize..o as usize + l as usize], *c);
            }
            None => assert!(before + c.len() > room && at == before),
        }
    }

    // The received-batch layout: the same datagrams as slots (a GRO stride from the ports,
    // 0 for none), fields and payloads read back as the slots' segments; with one byte of
    // payload room short (odd n), the slot that does not fit writes nothing.
    let strides: Vec<usize> = (0..chunks.len()).map(|i| ports.get(i).map_or(0, |&p| (p % 97) as usize)).collect();
    let segments: usize = chunks.iter().zip(&strides).map(|(c, &st)| udpx::segment_count(c.len(), st)).sum();
    let mut fields = vec![0u8; segments * packed::RECV_FIELDS];
    let mut payloads = vec![0u8; room];
    let (mut at, mut k) = (0usize, 0usize);
    for (i, (c, &stride)) in chunks.iter().zip(&strides).enumerate() {
        let before = (at, payloads.clone());
        match packed::put_slot(&mut fields[k * packed::RECV_FIELDS..], &mut payloads, &mut at, c, stride, i as u16, i as u32) {
            Some(n) => {
                let mut off = before.0;
                for (j, seg) in udpx::gro_segments(c, stride).enumerate() {
                    let f = &fields[(k + j) * packed::RECV_FIELDS..(k + j + 1) * packed::RECV_FIELDS];
                    let v = |x: usize| u32::from_ne_bytes(f[x * 4..x * 4 + 4].try_into().unwrap()) as usize;
                    assert_eq!((v(0), v(1), v(2), v(3)), (off, seg.len(), i % 65536, i));
                    assert_eq!(&payloads[off..off + seg.len()], seg);
                    off += seg.len();
                }
                k += n;
            }
            None => assert!(before.0 + c.len() > room && (at, &payloads) == (before.0, &before.1)),
        }
    }

    match packed::destinations(&hosts, &ports, &host_index, chunks.len()) {
        Err(BadDestinations::ShortArrays) => assert!(ports.len() < chunks.len() || host_index.len() < chunks.len()),
        Err(BadDestinations::FirstHost) => assert!(hosts.get(host_index[0] as usize).copied().flatten().is_none()),
        Ok(d) => {
            assert!(d.len() <= chunks.len());
            for (i, a) in d.iter().enumerate() {
                assert_eq!(a.ip(), hosts[host_index[i] as usize].unwrap().ip());
                assert_eq!(a.port(), ports[i] as u16);
            }
        }
    }
});
