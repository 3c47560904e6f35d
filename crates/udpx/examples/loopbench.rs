//! The Rust core's own loops for the udpx benchmark (benchmark/run.js): what `udpx::UdpSocket`
//! does with no JS in the way — the practical limit of the batched paths.
//!
//! Built by the benchmark with `cargo build --release -p udpx --example loopbench`; every mode
//! talks only to 127.0.0.1, is bounded in time (alarm), and prints one JSON line with its
//! result on stdout (the receiver prints a {"port":N} line first), as benchmark/native/udpbench.c.
//!
//!   loopbench sendmmsg <port,port,...> <size> <seconds>
//!       `send_batch` (sendmmsg) of 64 datagrams per call, destinations cycling over the ports
//!   loopbench gso <port> <size> <seconds>
//!       `send` of one segmented transmit of min(64, 65000 / size) datagrams (one UDP GSO buffer)
//!   loopbench recv <gro 0|1> [rcvbuf]
//!       bind 127.0.0.1:0, drain with `recv_batch` (recvmmsg), 64 slots, `poll()` when empty;
//!       with gro 1 `set_gro(true)` and datagrams counted per coalesced segment.
//!       stdin: "start" resets counters and CPU time, "stop" prints the result and exits

use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Instant;

use udpx::{BindOptions, Family, RecvBatch, Transmit, UdpSocket};

const BATCH: usize = 64;
const HARD_LIMIT_S: u32 = 300;

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn bound_socket() -> io::Result<UdpSocket> {
    let s = UdpSocket::new(Family::V4)?;
    s.bind(loopback(0), BindOptions::default())?;
    Ok(s)
}

fn cpu_s() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Waits until `fd` is writable (a send said WouldBlock), at most 100 ms.
fn wait_writable(fd: i32) {
    let mut p = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, 100) };
}

/// Runs `step` (one send call, returning datagrams sent) for `seconds`; prints the result.
fn send_loop(sock: &UdpSocket, seconds: f64, mut step: impl FnMut() -> io::Result<usize>) {
    let (mut sent, mut errors, mut blocked) = (0u64, 0u64, 0u64);
    let t0 = Instant::now();
    let mut elapsed = 0.0;
    while elapsed < seconds {
        for _ in 0..8 {
            match step() {
                Ok(n) => sent += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    blocked += 1;
                    wait_writable(sock.as_raw_fd());
                }
                Err(_) => errors += 1,
            }
        }
        elapsed = t0.elapsed().as_secs_f64();
    }
    println!("{{\"sent\":{sent},\"errors\":{errors},\"blocked\":{blocked},\"elapsed\":{elapsed:.6}}}");
}

fn mode_sendmmsg(ports: &[u16], size: usize, seconds: f64) -> io::Result<()> {
    let sock = bound_socket()?;
    let buf = vec![0u8; size];
    let msgs: Vec<Transmit<'_>> = (0..BATCH).map(|i| Transmit::new(Some(loopback(ports[i % ports.len()])), &buf)).collect();
    send_loop(&sock, seconds, || sock.send_batch(&msgs));
    Ok(())
}

fn mode_gso(port: u16, size: usize, seconds: f64) -> io::Result<()> {
    let sock = bound_socket()?;
    let segs = (65000 / size).clamp(1, BATCH);
    let buf = vec![0u8; size * segs];
    let t = Transmit::new(Some(loopback(port)), &buf).with_segment_size(size);
    send_loop(&sock, seconds, || sock.send(&t));
    if !sock.gso_enabled() {
        eprintln!("loopbench: the kernel refused UDP GSO; the send fell back to sendmmsg");
    }
    Ok(())
}

/// Reads one command from stdin (call only when poll says readable): 's' start, 'x' stop/EOF.
fn read_command() -> u8 {
    let mut line = [0u8; 64];
    // SAFETY: reads into a local buffer of that size.
    let n = unsafe { libc::read(0, line.as_mut_ptr().cast(), line.len()) };
    if n <= 0 {
        return b'x';
    }
    let s = String::from_utf8_lossy(&line[..n as usize]);
    if s.contains("stop") {
        b'x'
    } else if s.contains("start") {
        b's'
    } else {
        0
    }
}

fn mode_recv(gro: bool, rcvbuf: usize) -> io::Result<()> {
    let sock = bound_socket()?;
    if rcvbuf > 0 {
        sock.recv_buffer_size(rcvbuf)?;
    }
    if gro {
        sock.set_gro(true)?;
    }
    println!("{{\"port\":{}}}", sock.local_addr()?.port());
    io::stdout().flush()?;
    // Slots of 2 KiB as the C receiver has, 64 KiB with GRO (a coalesced run fills up to that).
    let mut batch = RecvBatch::with_slot_size(BATCH, if gro { udpx::MAX_DATAGRAM } else { 2048 });
    let (mut received, mut bytes, mut calls, mut slots, mut waits) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut cpu0 = cpu_s();
    let mut t0 = Instant::now();
    let fd = sock.as_raw_fd();
    loop {
        let mut check_stdin = false;
        match sock.recv_batch(&mut batch) {
            Ok(n) => {
                slots += n as u64;
                for i in 0..n {
                    let m = batch.meta(i);
                    received += m.segments() as u64;
                    bytes += m.len as u64;
                }
                calls += 1;
                // Under a flood WouldBlock may never come: look at stdin now and then anyway.
                if calls % 1024 == 0 {
                    let mut p = libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 };
                    // SAFETY: one valid pollfd.
                    check_stdin = unsafe { libc::poll(&mut p, 1, 0) } > 0;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                waits += 1;
                let mut p =
                    [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }, libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 }];
                // SAFETY: two valid pollfds.
                let r = unsafe { libc::poll(p.as_mut_ptr(), 2, 1000) };
                check_stdin = r > 0 && p[1].revents & (libc::POLLIN | libc::POLLHUP) != 0;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if !check_stdin {
            continue;
        }
        match read_command() {
            b's' => {
                (received, bytes, calls, slots, waits) = (0, 0, 0, 0, 0);
                cpu0 = cpu_s();
                t0 = Instant::now();
                println!("{{\"started\":true}}");
                io::stdout().flush()?;
            }
            b'x' => break,
            _ => {}
        }
    }
    println!(
        "{{\"received\":{received},\"bytes\":{bytes},\"calls\":{calls},\"slots\":{slots},\"waits\":{waits},\"cpu\":{:.6},\"elapsed\":{:.6}}}",
        cpu_s() - cpu0,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn usage() -> ! {
    eprintln!("usage: see the comment at the top of crates/udpx/examples/loopbench.rs");
    std::process::exit(64);
}

fn num<T: std::str::FromStr>(s: &str) -> T {
    s.parse().unwrap_or_else(|_| usage())
}

fn main() {
    // SAFETY: alarm only schedules SIGALRM, whose default action ends the process.
    unsafe { libc::alarm(HARD_LIMIT_S) };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = match a.as_slice() {
        ["sendmmsg", ports, size, secs] => {
            let ports: Vec<u16> = ports.split(',').map(num).collect();
            mode_sendmmsg(&ports, num(size), num(secs))
        }
        ["gso", port, size, secs] => mode_gso(num(port), num(size), num(secs)),
        ["recv", gro] => mode_recv(*gro == "1", 0),
        ["recv", gro, rcvbuf] => mode_recv(*gro == "1", num(rcvbuf)),
        _ => usage(),
    };
    if let Err(e) = r {
        eprintln!("loopbench: {e}");
        std::process::exit(2);
    }
}
