//! The one send path: a run of [`Transmit`]s goes out as `sendmmsg` batches, and a
//! segmented transmit as UDP GSO sends while the socket's GSO holds, falling back to one
//! datagram each where the kernel or the device cannot segment.

use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::{SockAddr, SockRef};

use crate::sys;
use crate::types::{Datagram, Transmit, MAX_GSO_SEGMENTS};
use crate::UdpSocket;

/// Most bytes in one GSO send, under the 64 KiB IP datagram limit with headers.
const MAX_GSO_BYTES: usize = 65000;

/// Most datagrams gathered for one plain batch before it is handed to the kernel; bounds the
/// scratch a call builds.
const PLAIN_WINDOW: usize = 256;

impl UdpSocket {
    /// Sends one transmit: one datagram, or with a segment size several (see
    /// [`Transmit`]). Returns how many datagrams the kernel took: all of them, or a prefix
    /// when the next would block or failed. Fails only when none was sent; a send the kernel
    /// cannot take now fails with [`io::ErrorKind::WouldBlock`].
    ///
    /// ```
    /// # use udpx::{BindOptions, Family, Transmit, UdpSocket};
    /// # fn main() -> std::io::Result<()> {
    /// let s = UdpSocket::new(Family::V4)?;
    /// s.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default())?;
    /// let to = s.local_addr()?;
    /// assert_eq!(s.send(&Transmit::gather(Some(to), &[b"he", b"llo"]))?, 1);
    /// let run = [1u8; 3000];
    /// assert_eq!(s.send(&Transmit::new(Some(to), &run).with_segment_size(1000))?, 3);
    /// # Ok(()) }
    /// ```
    pub fn send(&self, transmit: &Transmit<'_>) -> io::Result<usize> {
        send(&self.sock_ref(), self.gso_flag(), std::slice::from_ref(transmit))
    }

    /// Sends `transmits` in order, many datagrams per system call (`sendmmsg` and GSO on
    /// Linux). Returns how many datagrams were sent, counted over all transmits in order
    /// ([`Transmit::datagrams`] maps that back to transmits); fewer than all means the next
    /// would block or failed (retry from there to learn which). Fails only when none was sent.
    pub fn send_batch(&self, transmits: &[Transmit<'_>]) -> io::Result<usize> {
        send(&self.sock_ref(), self.gso_flag(), transmits)
    }
}

/// A segment size the kernel can take, or the error a send of it gives.
fn checked_segment(size: usize) -> io::Result<u16> {
    if size == 0 {
        return Err(io::Error::from_raw_os_error(sys::errno::EINVAL));
    }
    u16::try_from(size).map_err(|_| io::Error::from_raw_os_error(sys::errno::EMSGSIZE))
}

/// What one call of the path sent before it stopped: `Ok(n)` when `n > 0`, else the error.
fn outcome(sent: usize, e: io::Error) -> io::Result<usize> {
    if sent > 0 {
        Ok(sent)
    } else {
        Err(e)
    }
}

/// Sends `transmits` on `socket`; `gso` is the socket's "GSO still works" flag, cleared for
/// good when the device cannot segment. Returns datagrams sent; fails only when none was.
pub(crate) fn send(socket: &SockRef<'_>, gso: &AtomicBool, transmits: &[Transmit<'_>]) -> io::Result<usize> {
    // The common case, one plain datagram: no scratch beyond the stack.
    if let [t] = transmits {
        if t.datagrams() == 1 {
            if let Some(s) = t.segment_size {
                checked_segment(s)?;
            }
            return send_one(socket, t);
        }
    }
    let mut sent = 0;
    let mut i = 0;
    while i < transmits.len() {
        let t = &transmits[i];
        let seg = match t.segment_size.map(checked_segment).transpose() {
            Ok(s) => s,
            Err(e) => return outcome(sent, e),
        };
        if let (Some(seg), true) = (seg, t.datagrams() > 1 && gso.load(Ordering::Relaxed)) {
            match send_segmented(socket, gso, t, seg) {
                Ok(n) => {
                    sent += n;
                    if n < t.datagrams() {
                        return Ok(sent);
                    }
                }
                Err(e) => return outcome(sent, e),
            }
            i += 1;
            continue;
        }
        // A run of transmits that go out one datagram each, up to the next GSO one.
        let mut end = i;
        let mut count = 0;
        while end < transmits.len() && count < PLAIN_WINDOW {
            let u = &transmits[end];
            if end > i && u.segment_size.is_some() && u.datagrams() > 1 && gso.load(Ordering::Relaxed) {
                break;
            }
            if end > i && u.segment_size.is_some_and(|s| checked_segment(s).is_err()) {
                break;
            }
            count += u.datagrams();
            end += 1;
        }
        match send_plain(socket, &transmits[i..end]) {
            Ok(n) => {
                sent += n;
                if n < count {
                    return Ok(sent);
                }
            }
            Err(e) => return outcome(sent, e),
        }
        i = end;
    }
    Ok(sent)
}

/// One datagram, gathered on the stack when it has few parts.
fn send_one(socket: &SockRef<'_>, t: &Transmit<'_>) -> io::Result<usize> {
    const STACK_PARTS: usize = 8;
    let addr = t.destination.map(SockAddr::from);
    let mut stack = [IoSlice::new(&[]); STACK_PARTS];
    let heap: Vec<IoSlice<'_>>;
    let parts = t.contents.parts();
    let iov: &[IoSlice<'_>] = if parts.len() <= STACK_PARTS {
        for (s, c) in stack.iter_mut().zip(parts) {
            *s = IoSlice::new(c);
        }
        &stack[..parts.len()]
    } else {
        heap = parts.iter().map(|c| IoSlice::new(c)).collect();
        &heap
    };
    sys::send_batch(socket, &[Datagram { destination: addr.as_ref(), contents: iov }])
}

/// Transmits with no GSO: every datagram of each, one `sendmmsg` entry each.
fn send_plain(socket: &SockRef<'_>, run: &[Transmit<'_>]) -> io::Result<usize> {
    let addrs: Vec<Option<SockAddr>> = run.iter().map(|t| t.destination.map(SockAddr::from)).collect();
    let mut pieces: Vec<&[u8]> = Vec::new();
    // (transmit, first iovec, end iovec) per datagram.
    let mut spans: Vec<(usize, usize, usize)> = Vec::new();
    for (k, t) in run.iter().enumerate() {
        let mut cursor = Cursor::new(t.contents.parts());
        let size = t.segment_size.unwrap_or(usize::MAX);
        for _ in 0..t.datagrams() {
            let start = pieces.len();
            cursor.take(size, &mut pieces);
            spans.push((k, start, pieces.len()));
        }
    }
    let iovs: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p)).collect();
    let datagrams: Vec<Datagram<'_>> =
        spans.iter().map(|&(k, a, b)| Datagram { destination: addrs[k].as_ref(), contents: &iovs[a..b] }).collect();
    sys::send_batch(socket, &datagrams)
}

/// One segmented transmit: GSO sends of at most 64 segments (and 65000 bytes) each.
fn send_segmented(socket: &SockRef<'_>, gso: &AtomicBool, t: &Transmit<'_>, seg: u16) -> io::Result<usize> {
    let size = usize::from(seg);
    let total = t.datagrams();
    let per_call = MAX_GSO_SEGMENTS.min(MAX_GSO_BYTES / size).max(1);
    let addr = t.destination.map(SockAddr::from);
    let mut cursor = Cursor::new(t.contents.parts());
    let mut pieces = Vec::new();
    let mut sent = 0;
    while sent < total {
        let n = per_call.min(total - sent);
        pieces.clear();
        cursor.take(n * size, &mut pieces);
        let iovs: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p)).collect();
        let r = if n > 1 && gso.load(Ordering::Relaxed) {
            match sys::send_gso(socket, addr.as_ref(), &iovs, seg) {
                Ok(_) => Ok(n),
                Err(e) if sys::gso_unsupported(&e) => {
                    gso.store(false, Ordering::Relaxed);
                    Err(None)
                }
                // Segments over the path MTU (EINVAL) or a send the kernel will not take
                // whole (EMSGSIZE) go the plain way, where the kernel may fragment them;
                // GSO stays on for the next send.
                Err(e) if matches!(e.raw_os_error(), Some(sys::errno::EINVAL | sys::errno::EMSGSIZE)) => Err(None),
                Err(e) => Err(Some(e)),
            }
        } else {
            Err(None)
        };
        let r = match r {
            Ok(n) => Ok(n),
            Err(Some(e)) => Err(e),
            // One datagram each, from where this call started.
            Err(None) => send_plain(socket, &[Transmit::gather(t.destination, &pieces).with_segment_size(size)]),
        };
        match r {
            Ok(k) => {
                sent += k;
                if k < n {
                    break;
                }
            }
            Err(e) => return outcome(sent, e),
        }
    }
    Ok(sent)
}

/// The part of a gathered payload after its first `skip` bytes, as slices of the parts.
#[cfg(any(test, feature = "tokio"))]
pub(crate) fn rest_after<'a>(parts: &[&'a [u8]], skip: usize) -> Vec<&'a [u8]> {
    let mut c = Cursor::new(parts);
    let mut out = Vec::new();
    c.take(skip, &mut out);
    out.clear();
    c.take(usize::MAX, &mut out);
    out
}

/// A read position in a gathered payload: hands out the next `n` bytes as slices of the
/// parts where they lie, without copying.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'p, 'a> {
    parts: &'p [&'a [u8]],
    part: usize,
    offset: usize,
}

impl<'p, 'a> Cursor<'p, 'a> {
    pub(crate) fn new(parts: &'p [&'a [u8]]) -> Self {
        Cursor { parts, part: 0, offset: 0 }
    }

    /// Appends the next `n` bytes (fewer at the end) to `out` as one slice per part they
    /// span; empty parts are skipped.
    pub(crate) fn take(&mut self, mut n: usize, out: &mut Vec<&'a [u8]>) {
        while n > 0 && self.part < self.parts.len() {
            let p: &'a [u8] = self.parts[self.part];
            let rest = &p[self.offset.min(p.len())..];
            if rest.is_empty() {
                self.part += 1;
                self.offset = 0;
                continue;
            }
            let k = rest.len().min(n);
            out.push(&rest[..k]);
            n -= k;
            self.offset += k;
        }
    }
}

/// Successive cuts of `sizes[i]` bytes of a gathered payload, each concatenated: the
/// bookkeeping the send path does, without a socket (tests and fuzzing).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn cut(parts: &[&[u8]], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut c = Cursor::new(parts);
    sizes
        .iter()
        .map(|&n| {
            let mut out = Vec::new();
            c.take(n, &mut out);
            out.concat()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::test_support::proptest_config())]

        /// Cutting a gathered payload into `size`-byte datagrams, as the send path does,
        /// gives `Transmit::datagrams()` pieces that put back together are the payload.
        #[test]
        fn cuts_match_datagram_counts(
            parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..if cfg!(miri) { 20 } else { 300 }), 0..8),
            size in 1usize..if cfg!(miri) { 50 } else { 700 },
        ) {
            let slices: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
            let t = Transmit::gather(None, &slices).with_segment_size(size);
            let n = t.datagrams();
            let cuts = cut(&slices, &vec![size; n + 1]);
            prop_assert_eq!(cuts[..n].concat(), parts.concat());
            prop_assert!(cuts[n].is_empty());
            for c in &cuts[..n.saturating_sub(1)] {
                prop_assert_eq!(c.len(), size);
            }
            let skip = size.min(t.len());
            prop_assert_eq!(rest_after(&slices, skip).concat(), parts.concat()[skip..].to_vec());
        }
    }

    #[test]
    fn cursor_cuts_gathered_parts_in_place() {
        let parts: [&[u8]; 4] = [b"abc", b"", b"de", b"fghij"];
        assert_eq!(cut(&parts, &[4, 4, 4]), [b"abcd".to_vec(), b"efgh".to_vec(), b"ij".to_vec()]);
        assert_eq!(cut(&parts, &[0, 100, 1]), [Vec::new(), b"abcdefghij".to_vec(), Vec::new()]);
        assert_eq!(cut(&[], &[3]), [Vec::<u8>::new()]);
        assert_eq!(rest_after(&parts, 4), [&b"e"[..], b"fghij"]);
        assert!(rest_after(&parts, 10).is_empty());
    }

    #[test]
    fn counts_datagrams_per_transmit() {
        let p: [&[u8]; 2] = [&[0; 10], &[0; 5]];
        let t = Transmit::gather(None, &p);
        assert_eq!(t.datagrams(), 1);
        assert_eq!(t.with_segment_size(5).datagrams(), 3);
        assert_eq!(t.with_segment_size(4).datagrams(), 4);
        assert_eq!(t.with_segment_size(100).datagrams(), 1);
        assert_eq!(Transmit::new(None, &[]).with_segment_size(3).datagrams(), 1);
        assert_eq!(Transmit::new(None, &[0; 7]).with_segment_size(3).datagrams(), 3);
        assert!(checked_segment(0).is_err() && checked_segment(65536).is_err() && checked_segment(65535).is_ok());
    }
}
