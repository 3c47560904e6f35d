//! UDP sockets with the options Node's `dgram` exposes and the batched I/O it never had.
//!
//! [`UdpSocket`] is a non-blocking socket built on [`socket2`]: binding with reuse flags,
//! connect/disconnect, every unicast and multicast option, gathered sends and batched
//! receives (`recvmmsg` on Linux, a `recvfrom` loop elsewhere). With the `tokio` feature,
//! [`AsyncUdpSocket`] wraps it for async Rust.
//!
//! ```
//! use udpx::{Family, UdpSocket, BindOptions, RecvBatch};
//! # fn main() -> std::io::Result<()> {
//! let server = UdpSocket::new(Family::V4)?;
//! server.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default())?;
//! let client = UdpSocket::new(Family::V4)?;
//! client.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default())?;
//! client.send_to(&[b"hello"], server.local_addr()?)?;
//!
//! let mut batch = RecvBatch::new(8);
//! # std::thread::sleep(std::time::Duration::from_millis(20));
//! let n = server.recv_batch(&mut batch)?;
//! assert_eq!(n, 1);
//! assert_eq!(batch.payload(0), b"hello");
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod addr;
mod batch;
mod socket;
mod sys;
#[cfg(feature = "tokio")]
mod tokio;

pub use addr::{format_ip, interface_name, parse_ip};
pub use batch::{RecvBatch, RecvMeta, Transmit, MAX_DATAGRAM, MAX_GSO_SEGMENTS};
pub use socket::{BindOptions, Family, UdpSocket};
pub use sys::handle_type;
#[cfg(feature = "tokio")]
pub use crate::tokio::AsyncUdpSocket;
