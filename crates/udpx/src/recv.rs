//! Batched receive: many datagrams per system call into one reusable buffer, and the one
//! place that splits GRO-coalesced slots back into datagrams.

use std::io;
use std::net::SocketAddr;

use socket2::SockRef;

use crate::sys;
use crate::types::{RecvMeta, MAX_DATAGRAM};
use crate::UdpSocket;

/// How many datagrams a slot of `len` bytes holds when each is `stride` bytes but the last:
/// one when `stride` is 0 (no GRO) or the slot is empty (an empty datagram).
pub fn segment_count(len: usize, stride: usize) -> usize {
    // A slot without GRO has `stride == len`: one datagram, without a division.
    if stride == 0 || len <= stride {
        1
    } else {
        len.div_ceil(stride)
    }
}

/// The datagrams in `payload`, a slot the kernel coalesced with GRO: `stride` bytes each but
/// the last, which may be shorter. A `stride` of 0, or one at least the payload's length,
/// yields the payload whole; an empty payload is one empty datagram.
///
/// ```
/// let parts: Vec<&[u8]> = udpx::gro_segments(b"aaabbbc", 3).collect();
/// assert_eq!(parts, [&b"aaa"[..], b"bbb", b"c"]);
/// assert_eq!(udpx::gro_segments(b"", 3).count(), 1);
/// assert_eq!(udpx::gro_segments(b"abc", 0).count(), 1);
/// ```
pub fn gro_segments(payload: &[u8], stride: usize) -> GroSegments<'_> {
    let stride = if stride == 0 { payload.len() } else { stride };
    GroSegments { rest: payload, stride, left: segment_count(payload.len(), stride) }
}

/// Iterator returned by [`gro_segments`] and [`RecvBatch::segments`].
#[derive(Debug, Clone)]
pub struct GroSegments<'a> {
    rest: &'a [u8],
    stride: usize,
    left: usize,
}

impl<'a> Iterator for GroSegments<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (seg, rest) = self.rest.split_at(self.stride.min(self.rest.len()));
        self.rest = rest;
        Some(seg)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }

    fn nth(&mut self, n: usize) -> Option<&'a [u8]> {
        if n >= self.left {
            self.left = 0;
            return None;
        }
        self.left -= n;
        let skip = n.saturating_mul(self.stride).min(self.rest.len());
        self.rest = &self.rest[skip..];
        self.next()
    }
}

impl ExactSizeIterator for GroSegments<'_> {}

impl RecvMeta {
    /// How many datagrams the slot holds (GRO-coalesced ones counted apart).
    pub fn segments(&self) -> usize {
        segment_count(self.len, self.stride)
    }
}

/// Storage for up to `capacity` datagrams, reused across receives so that the receive path
/// allocates nothing per datagram.
#[derive(Debug)]
pub struct RecvBatch {
    scratch: sys::RecvScratch,
    storage: Vec<u8>,
    slot: usize,
    metas: Vec<RecvMeta>,
    len: usize,
}

/// Bytes added to [`RecvBatch::new`]'s slots so that they do not start a power of two
/// apart. At exactly 64 KiB, the first bytes of every slot (all that a small datagram
/// fills) fall in one cache set and one TLB set: a batch of 64 small datagrams then evicts
/// itself between the kernel's copy in and the reader's copy out, and each datagram costs
/// an L3 access and a TLB miss that contiguous small slots do not. A page and a cache line
/// more spreads them over distinct sets of both; the extra room is never filled by more
/// than a datagram's maximum anyway.
const SLOT_PAD: usize = 4096 + 64;

impl RecvBatch {
    /// A batch of `capacity` slots of at least [`MAX_DATAGRAM`] bytes.
    pub fn new(capacity: usize) -> Self {
        Self::with_slot_size(capacity, MAX_DATAGRAM + SLOT_PAD)
    }

    /// A batch of `capacity` slots of `slot` bytes each (both at least 1).
    pub fn with_slot_size(capacity: usize, slot: usize) -> Self {
        let capacity = capacity.max(1);
        let slot = slot.max(1);
        let unset = RecvMeta::unset();
        RecvBatch { scratch: sys::RecvScratch::default(), storage: vec![0; capacity * slot], slot, metas: vec![unset; capacity], len: 0 }
    }

    /// How many datagrams one receive can hold.
    pub fn capacity(&self) -> usize {
        self.metas.len()
    }

    /// How many datagrams the last receive stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the last receive stored nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The payload of datagram `i` of the last receive.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn payload(&self, i: usize) -> &[u8] {
        let m = self.meta(i);
        &self.storage[i * self.slot..i * self.slot + m.len]
    }

    /// The metadata of datagram `i` of the last receive.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn meta(&self, i: usize) -> &RecvMeta {
        assert!(i < self.len, "datagram index {i} out of range ({})", self.len);
        &self.metas[i]
    }

    /// The metadata of each slot of the last receive, in order.
    pub fn metas(&self) -> &[RecvMeta] {
        &self.metas[..self.len]
    }

    /// Each slot of the last receive in order: its metadata and its payload (GRO runs
    /// whole). The way to walk a receive once, without an index check per slot.
    pub fn slots(&self) -> impl ExactSizeIterator<Item = (&RecvMeta, &[u8])> + '_ {
        self.metas[..self.len].iter().zip(self.storage.chunks_exact(self.slot)).map(|(m, c)| (m, &c[..m.len.min(c.len())]))
    }

    /// The datagrams in slot `i` of the last receive: one, or several when GRO coalesced
    /// them (see [`gro_segments`]).
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn segments(&self, i: usize) -> GroSegments<'_> {
        gro_segments(self.payload(i), self.meta(i).stride)
    }

    /// Each datagram of the last receive in order, GRO-coalesced slots split apart:
    /// `(payload, source)`.
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> + '_ {
        (0..self.len).flat_map(move |i| {
            let source = self.metas[i].source;
            self.segments(i).map(move |c| (c, source))
        })
    }

    pub(crate) fn recv_from(&mut self, socket: &SockRef<'_>, max: usize) -> io::Result<usize> {
        self.len = 0;
        let limit = max.clamp(1, self.metas.len());
        let n = sys::recv_batch(socket, &mut self.scratch, &mut self.storage, self.slot, &mut self.metas[..limit])?;
        self.len = n;
        Ok(n)
    }
}

impl UdpSocket {
    /// Receives as many queued datagrams as fit in `batch` with one system call where the
    /// platform has one (`recvmmsg`). Returns how many slots were filled; `WouldBlock` if
    /// none.
    pub fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.recv_from(&self.sock_ref(), usize::MAX)
    }

    /// As [`recv_batch`](Self::recv_batch), taking at most `max` datagrams (at least one)
    /// from the kernel: for a socket shared with other processes, where what one reads
    /// ahead the others can no longer read.
    pub fn recv_batch_max(&self, batch: &mut RecvBatch, max: usize) -> io::Result<usize> {
        batch.recv_from(&self.sock_ref(), max)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{BindOptions, Family, Transmit, UdpSocket};
    use std::time::{Duration, Instant};

    /// Receives into `batch`, waiting up to two seconds for the first datagram.
    pub(crate) fn recv_wait(s: &UdpSocket, batch: &mut RecvBatch) -> usize {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match s.recv_batch(batch) {
                Ok(n) => return n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(e) => panic!("recv_batch: {e}"),
            }
        }
    }

    fn pair() -> (UdpSocket, UdpSocket) {
        let mk = || {
            let s = UdpSocket::new(Family::V4).unwrap();
            s.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default()).unwrap();
            s
        };
        (mk(), mk())
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn receives_many_in_order_with_sizes() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        for i in 0..10u8 {
            a.send(&Transmit::new(Some(to), &vec![i; i as usize])).unwrap();
        }
        let mut batch = RecvBatch::new(4);
        let mut seen = Vec::new();
        while seen.len() < 10 {
            let n = recv_wait(&b, &mut batch);
            assert!(n >= 1 && n <= 4);
            for i in 0..n {
                assert_eq!(batch.meta(i).source, a.local_addr().unwrap());
                assert!(!batch.meta(i).truncated);
                seen.push(batch.payload(i).to_vec());
            }
        }
        for (i, p) in seen.iter().enumerate() {
            assert_eq!(p, &vec![i as u8; i]);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn slots_walk_what_payload_and_meta_give() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        for i in 0..6u8 {
            a.send(&Transmit::new(Some(to), &vec![i; 3 * i as usize])).unwrap();
        }
        let mut batch = RecvBatch::with_slot_size(8, 64);
        let mut seen = 0;
        while seen < 6 {
            let n = recv_wait(&b, &mut batch);
            assert_eq!(batch.slots().len(), n);
            for (i, (m, p)) in batch.slots().enumerate() {
                assert_eq!((m, p), (batch.meta(i), batch.payload(i)));
                assert_eq!(p, &vec![(seen + i) as u8; 3 * (seen + i)][..]);
            }
            seen += n;
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn flags_truncation_and_empty_datagrams() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        a.send(&Transmit::new(Some(to), b"0123456789")).unwrap();
        a.send(&Transmit::new(Some(to), b"")).unwrap();
        let mut batch = RecvBatch::with_slot_size(2, 4);
        let mut got = Vec::new();
        while got.len() < 2 {
            let n = recv_wait(&b, &mut batch);
            for i in 0..n {
                got.push((batch.payload(i).to_vec(), batch.meta(i).truncated));
            }
        }
        assert_eq!(got[0], (b"0123".to_vec(), true));
        assert_eq!(got[1], (Vec::new(), false));
    }

    use proptest::prelude::*;

    /// Payload sizes for the property tests: large enough to matter, small under Miri.
    const MAX_LEN: usize = if cfg!(miri) { 64 } else { 3000 };

    proptest! {
        #![proptest_config(crate::test_support::proptest_config())]

        /// Any payload and stride (0, larger than the payload, not dividing it): the segments
        /// put back together are the payload, their count is `segment_count`, all but the last
        /// are `stride` long, and `nth` agrees with iteration.
        #[test]
        fn gro_split_is_a_partition(payload in proptest::collection::vec(any::<u8>(), 0..MAX_LEN), stride in prop_oneof![Just(0usize), 1usize..MAX_LEN + 100, Just(usize::MAX)]) {
            let segs: Vec<&[u8]> = gro_segments(&payload, stride).collect();
            prop_assert_eq!(segs.len(), segment_count(payload.len(), stride));
            prop_assert_eq!(segs.concat(), payload.clone());
            for s in &segs[..segs.len() - 1] {
                prop_assert_eq!(s.len(), stride);
            }
            prop_assert!(stride == 0 || segs.last().unwrap().len() <= stride);
            let k = payload.len() % (segs.len() + 1);
            prop_assert_eq!(gro_segments(&payload, stride).nth(k), segs.get(k).copied());
        }
    }

    #[test]
    fn splits_gro_slots_at_every_edge() {
        let cases: [(&[u8], usize, &[&[u8]]); 7] = [
            (b"abcdef", 2, &[b"ab", b"cd", b"ef"]),
            (b"abcde", 2, &[b"ab", b"cd", b"e"]),
            (b"abc", 0, &[b"abc"]),
            (b"abc", 3, &[b"abc"]),
            (b"abc", 99, &[b"abc"]),
            (b"", 5, &[b""]),
            (b"", 0, &[b""]),
        ];
        for (payload, stride, want) in cases {
            let got: Vec<&[u8]> = gro_segments(payload, stride).collect();
            assert_eq!(got, want, "{payload:?} / {stride}");
            assert_eq!(gro_segments(payload, stride).len(), segment_count(payload.len(), stride));
            for (k, w) in want.iter().enumerate() {
                assert_eq!(gro_segments(payload, stride).nth(k), Some(*w));
            }
            assert_eq!(gro_segments(payload, stride).nth(want.len()), None);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls")]
    fn empty_queue_would_block() {
        let (_a, b) = pair();
        let mut batch = RecvBatch::new(1);
        let e = b.recv_batch(&mut batch).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(batch.is_empty());
    }
}
