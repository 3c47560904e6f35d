//! The async API end to end on loopback: batches out, batches in, nothing lost or reordered.

use udpx::{AsyncUdpSocket, BindOptions, Family, RecvBatch, Transmit, UdpSocket};

fn bound() -> UdpSocket {
    let s = UdpSocket::new(Family::V4).unwrap();
    s.bind("127.0.0.1:0".parse().unwrap(), BindOptions::default()).unwrap();
    s.recv_buffer_size(1 << 20).unwrap();
    s
}

#[tokio::test(flavor = "current_thread")]
async fn batches_and_segments_round_trip_in_order() {
    let rx = bound();
    let to = rx.local_addr().unwrap();
    let rx = AsyncUdpSocket::new(rx).unwrap();
    let tx = AsyncUdpSocket::new(bound()).unwrap();

    let payloads: Vec<Vec<u8>> = (0..300u32).map(|i| i.to_le_bytes().to_vec()).collect();
    let msgs: Vec<Transmit<'_>> = payloads.iter().map(|p| Transmit::new(Some(to), p)).collect();
    assert_eq!(tx.send_batch(&msgs).await.unwrap(), 300);
    let seg: Vec<u8> = (0..50u8).flat_map(|i| [i; 40]).collect();
    assert_eq!(tx.send(&Transmit::new(Some(to), &seg).with_segment_size(40)).await.unwrap(), 50);

    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut batch = RecvBatch::new(32);
    while got.len() < 350 {
        let n = tokio::time::timeout(std::time::Duration::from_secs(2), rx.recv_batch(&mut batch))
            .await
            .expect("datagrams within 2 s")
            .unwrap();
        assert!(n > 0);
        got.extend(batch.datagrams().map(|(p, _)| p.to_vec()));
    }
    assert_eq!(&got[..300], &payloads[..]);
    for (i, d) in got[300..].iter().enumerate() {
        assert_eq!(d, &vec![i as u8; 40]);
    }
}
