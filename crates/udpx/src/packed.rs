//! The packed batch layout: many datagrams back to back in one buffer. For sends, with one
//! length per datagram, and optionally a destination per datagram given as an index into a
//! list of hosts plus a port: a caller in another language (the Node binding) hands over one
//! buffer and three integer arrays instead of one object per datagram. For receives, the
//! other way: one buffer of payloads and an (offset, length) view per datagram ([`put`]).
//!
//! Every length, index and port here comes from the caller and is checked: nothing is read
//! outside `data`, and a short array is an error, not a panic.

use std::net::SocketAddr;

/// The datagrams of a packed buffer: `lengths[i]` bytes each, back to back from the start of
/// `data` (bytes after the last one are ignored). `None` when they run past the end.
///
/// ```
/// let data = b"onetwothree";
/// assert_eq!(udpx::packed::split(data, &[3, 3, 5]), Some(vec![&b"one"[..], b"two", b"three"]));
/// assert_eq!(udpx::packed::split(data, &[3, 9]), None);
/// ```
pub fn split<'a>(data: &'a [u8], lengths: &[u32]) -> Option<Vec<&'a [u8]>> {
    let mut chunks = Vec::with_capacity(lengths.len());
    let mut rest = data;
    for &len in lengths {
        let len = usize::try_from(len).ok()?;
        if len > rest.len() {
            return None;
        }
        let (chunk, tail) = rest.split_at(len);
        chunks.push(chunk);
        rest = tail;
    }
    Some(chunks)
}

/// Why a packed batch's destinations cannot be used at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadDestinations {
    /// `ports` or `host_index` has fewer entries than there are datagrams.
    ShortArrays,
    /// The first datagram's host is missing or did not parse.
    FirstHost,
}

/// Destinations of the first `n` datagrams of a packed batch: datagram `i` goes to
/// `hosts[host_index[i]]` with port `ports[i]` (its low 16 bits; the caller validated it).
/// `hosts` holds each distinct host parsed once (`None`: it did not parse).
///
/// The destinations stop before the first datagram whose host is missing or unparsed: the
/// ones before it can still be sent, and that one fails on its own. When that is the first
/// datagram, or an array is short, nothing can be sent.
pub fn destinations(hosts: &[Option<SocketAddr>], ports: &[u32], host_index: &[u32], n: usize) -> Result<Vec<SocketAddr>, BadDestinations> {
    if ports.len() < n || host_index.len() < n {
        return Err(BadDestinations::ShortArrays);
    }
    let mut out = Vec::with_capacity(n);
    for (&h, &port) in host_index[..n].iter().zip(&ports[..n]) {
        let host = usize::try_from(h).ok().and_then(|h| hosts.get(h)).copied().flatten();
        match host {
            Some(mut a) => {
                a.set_port(port as u16);
                out.push(a);
            }
            None if out.is_empty() => return Err(BadDestinations::FirstHost),
            None => break,
        }
    }
    Ok(out)
}

/// Copies `payload` into `out` at `*at` and moves `*at` past it: the receive side's layout,
/// where each datagram is the view `(offset, length)` on one shared buffer. Returns that
/// view, or `None` (nothing written, `*at` unchanged) when it does not fit in `out` or an
/// offset would not fit in a u32.
pub fn put(out: &mut [u8], at: &mut usize, payload: &[u8]) -> Option<(u32, u32)> {
    let end = at.checked_add(payload.len())?;
    let view = (u32::try_from(*at).ok()?, u32::try_from(payload.len()).ok()?);
    u32::try_from(end).ok()?;
    out.get_mut(*at..end)?.copy_from_slice(payload);
    *at = end;
    Some(view)
}

/// Bytes of fields per datagram in a received batch's region: four native-endian u32s —
/// the datagram's offset among the batch's payloads, its length, the sender's port and the
/// index of the sender's address in the batch's list (what JS reads as a `Uint32Array`).
pub const RECV_FIELDS: usize = 16;

/// Puts one received slot into a batch region, the layout the Node binding hands to JS:
/// its payload is copied into `payloads` at `*at` (and `*at` moves past it), and `fields`
/// gets [`RECV_FIELDS`] bytes per datagram of the slot — one, or one per segment of a GRO
/// run (`stride` bytes each but the last, as [`gro_segments`](crate::gro_segments) splits
/// them). Returns how many datagrams it wrote; `None` (nothing written) when the payload or
/// the fields do not fit, or an offset would not fit in a u32.
///
/// ```
/// use udpx::packed::{put_slot, RECV_FIELDS};
/// let (mut fields, mut payloads, mut at) = ([0u8; 2 * RECV_FIELDS], [0u8; 5], 0);
/// assert_eq!(put_slot(&mut fields, &mut payloads, &mut at, b"aaabb", 3, 9, 0), Some(2));
/// assert_eq!(&payloads, b"aaabb");
/// assert_eq!(fields[16..20], 3u32.to_ne_bytes()); // the second datagram starts at 3
/// ```
pub fn put_slot(
    fields: &mut [u8],
    payloads: &mut [u8],
    at: &mut usize,
    payload: &[u8],
    stride: usize,
    port: u16,
    source: u32,
) -> Option<usize> {
    let segments = crate::segment_count(payload.len(), stride);
    let fields = fields.get_mut(..segments.checked_mul(RECV_FIELDS)?)?;
    let end = at.checked_add(payload.len())?;
    let base = u32::try_from(*at).ok()?;
    u32::try_from(end).ok()?;
    payloads.get_mut(*at..end)?.copy_from_slice(payload);
    let stride = if stride == 0 || stride > payload.len() { payload.len() } else { stride };
    let mut offset = 0usize;
    for f in fields.chunks_exact_mut(RECV_FIELDS) {
        let len = stride.min(payload.len() - offset);
        // Both fit in a u32: offset + len <= payload.len() and base + payload.len() does.
        let values = [base + offset as u32, len as u32, u32::from(port), source];
        for (dst, v) in f.chunks_exact_mut(4).zip(values) {
            dst.copy_from_slice(&v.to_ne_bytes());
        }
        offset += len;
    }
    *at = end;
    Some(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn split_edges() {
        assert_eq!(split(b"", &[]), Some(vec![]));
        assert_eq!(split(b"", &[0, 0]), Some(vec![&b""[..], b""]));
        assert_eq!(split(b"ab", &[1]), Some(vec![&b"a"[..]]));
        assert_eq!(split(b"ab", &[u32::MAX]), None);
        assert_eq!(split(b"ab", &[1, u32::MAX]), None);
    }

    #[test]
    fn destinations_stop_at_the_first_bad_host() {
        let a: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let hosts = [Some(a), None];
        assert_eq!(destinations(&hosts, &[1, 2, 3], &[0, 0, 1], 3).unwrap().len(), 2);
        assert_eq!(destinations(&hosts, &[1, 2, 3], &[0, 7, 0], 3).unwrap().len(), 1);
        assert_eq!(destinations(&hosts, &[1], &[1], 1), Err(BadDestinations::FirstHost));
        assert_eq!(destinations(&hosts, &[1], &[0, 0], 2), Err(BadDestinations::ShortArrays));
        assert_eq!(destinations(&hosts, &[70000], &[0], 1).unwrap()[0].port(), 70000u32 as u16);
    }

    proptest! {
        #![proptest_config(crate::test_support::proptest_config())]

        /// The receive layout: payloads put one after another into a buffer read back whole
        /// through their views; the first that does not fit is refused and changes nothing.
        #[test]
        fn put_views_give_the_payloads_back(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..10),
            room in 0usize..300,
        ) {
            let mut out = vec![0xAAu8; room];
            let mut at = 0usize;
            let mut views = Vec::new();
            for p in &payloads {
                let before = (at, out.clone());
                match put(&mut out, &mut at, p) {
                    Some(v) => views.push((v, p)),
                    None => {
                        prop_assert!(before.0 + p.len() > room);
                        prop_assert_eq!((at, &out), (before.0, &before.1));
                    }
                }
            }
            let mut expect_at = 0u32;
            for ((off, len), p) in views {
                prop_assert_eq!(off, expect_at);
                prop_assert_eq!(&out[off as usize..(off + len) as usize], &p[..]);
                expect_at += len;
            }
        }

        /// Received slots (any payload, any stride) put one after another into a region with
        /// room for all: reading the fields back gives each slot's GRO segments in order,
        /// with their port and source; a slot that does not fit writes nothing.
        #[test]
        fn put_slot_fields_give_the_segments_back(
            slots in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..300), prop_oneof![Just(0usize), 1usize..400], any::<u16>(), 0u32..70), 0..8),
            short in any::<bool>(),
        ) {
            let datagrams: usize = slots.iter().map(|(p, st, _, _)| crate::segment_count(p.len(), *st)).sum();
            let bytes: usize = slots.iter().map(|(p, ..)| p.len()).sum();
            let room = if short { bytes.saturating_sub(1) } else { bytes };
            let (mut fields, mut payloads) = (vec![0u8; datagrams * RECV_FIELDS], vec![0u8; room]);
            let (mut at, mut k) = (0usize, 0usize);
            let mut want = Vec::new();
            for (p, stride, port, source) in &slots {
                let before = (at, payloads.clone());
                match put_slot(&mut fields[k * RECV_FIELDS..], &mut payloads, &mut at, p, *stride, *port, *source) {
                    Some(n) => {
                        prop_assert_eq!(n, crate::segment_count(p.len(), *stride));
                        for seg in crate::gro_segments(p, *stride) {
                            want.push((seg.to_vec(), *port, *source));
                        }
                        k += n;
                    }
                    None => {
                        prop_assert!(before.0 + p.len() > room);
                        prop_assert_eq!((at, &payloads), (before.0, &before.1));
                    }
                }
            }
            let read = |f: &[u8], i: usize| u32::from_ne_bytes(f[i * 4..i * 4 + 4].try_into().unwrap()) as usize;
            let got: Vec<(Vec<u8>, u16, u32)> = fields[..k * RECV_FIELDS]
                .chunks_exact(RECV_FIELDS)
                .map(|f| (payloads[read(f, 0)..read(f, 0) + read(f, 1)].to_vec(), read(f, 2) as u16, read(f, 3) as u32))
                .collect();
            prop_assert_eq!(got, want);
        }

        /// Any lengths against any buffer: the datagrams lie inside it, back to back, and
        /// `None` comes exactly when their sum passes its end.
        #[test]
        fn split_stays_inside_the_buffer(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            lengths in proptest::collection::vec(prop_oneof![0u32..64, any::<u32>()], 0..12),
        ) {
            let sum: u64 = lengths.iter().map(|&l| u64::from(l)).sum();
            match split(&data, &lengths) {
                None => prop_assert!(sum > data.len() as u64),
                Some(chunks) => {
                    prop_assert!(sum <= data.len() as u64);
                    prop_assert_eq!(chunks.len(), lengths.len());
                    prop_assert_eq!(chunks.concat(), &data[..sum as usize]);
                    for (c, &l) in chunks.iter().zip(&lengths) {
                        prop_assert_eq!(c.len() as u64, u64::from(l));
                    }
                }
            }
        }

        /// Any hosts, ports and indices: never more destinations than datagrams, each the
        /// indexed host with the port's low 16 bits, and an error only for short arrays or a
        /// first datagram without a host.
        #[test]
        fn destinations_follow_the_indices(
            hosts in proptest::collection::vec(proptest::option::of(any::<SocketAddr>()), 0..5),
            ports in proptest::collection::vec(any::<u32>(), 0..10),
            host_index in proptest::collection::vec(prop_oneof![0u32..6, any::<u32>()], 0..10),
            n in 0usize..12,
        ) {
            match destinations(&hosts, &ports, &host_index, n) {
                Err(BadDestinations::ShortArrays) => prop_assert!(ports.len() < n || host_index.len() < n),
                Err(BadDestinations::FirstHost) => {
                    prop_assert!(n > 0);
                    prop_assert!(hosts.get(host_index[0] as usize).copied().flatten().is_none());
                }
                Ok(d) => {
                    prop_assert!(d.len() <= n);
                    for (i, a) in d.iter().enumerate() {
                        let h = hosts[host_index[i] as usize].unwrap();
                        prop_assert_eq!(a.ip(), h.ip());
                        prop_assert_eq!(a.port(), ports[i] as u16);
                    }
                    if d.len() < n {
                        prop_assert!(hosts.get(host_index[d.len()] as usize).copied().flatten().is_none());
                    }
                }
            }
        }
    }
}
