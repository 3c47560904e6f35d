//! Batched UDP on loopback with tokio: 1000 datagrams out with `send_batch` (sendmmsg),
//! in with `recv_batch` (recvmmsg), and one GSO send split back apart by GRO.
//!
//! Run with `cargo run -p udpx --example batch`.

use std::io;

use udpx::{AsyncUdpSocket, BindOptions, Family, RecvBatch, Transmit, UdpSocket};

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let rx = UdpSocket::new(Family::V4)?;
    rx.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default())?;
    rx.recv_buffer_size(4 << 20)?;
    rx.set_gro(true)?;
    let to = rx.local_addr()?;
    let rx = AsyncUdpSocket::new(rx)?;

    let tx = UdpSocket::new(Family::V4)?;
    tx.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default())?;

    // Many datagrams, one system call per 64.
    let payloads: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let msgs: Vec<Transmit<'_>> = payloads.iter().map(|p| Transmit::new(Some(to), p)).collect();
    let tx = AsyncUdpSocket::new(tx)?;
    let sent = tx.send_batch(&msgs).await?;

    // One buffer, sent as 10 datagrams of 1200 bytes (GSO where the kernel has it).
    let run = vec![7u8; 12_000];
    let segments = tx.send(&Transmit::new(Some(to), &run).with_segment_size(1200)).await?;

    let mut batch = RecvBatch::new(64);
    let (mut received, mut calls) = (0, 0);
    while received < sent + segments {
        rx.recv_batch(&mut batch).await?;
        calls += 1;
        received += batch.datagrams().count();
    }
    println!("sent {sent} + {segments} datagrams; received {received} in {calls} receive calls");
    Ok(())
}
