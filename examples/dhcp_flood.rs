//! A flood of DHCP DISCOVERs from random MACs (bench/dhcpflood.sh): RATE packets a second for
//! SECONDS, relayed as if by GIADDR (so any answer goes back to GIADDR:67, not to the network's
//! broadcast address), sent to TARGET. Prints what it sent and at what rate.
//! Usage: dhcp_flood TARGET GIADDR [RATE] [SECONDS]

use dhcproto::{Encodable, Encoder};
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(target), Some(giaddr)) = (args.next(), args.next()) else {
        eprintln!("usage: dhcp_flood TARGET GIADDR [RATE] [SECONDS]");
        std::process::exit(2);
    };
    let giaddr: Ipv4Addr = giaddr.parse().expect("GIADDR: an IPv4 address");
    let rate: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let mut m = oxcat::daemon::dhcp::sample_discover(&[2, 0, 0, 0, 0, 0], Some(b"PXEClient:Arch:00000"), Some(0), None);
    m.set_giaddr(giaddr);
    let mut packet = Vec::new();
    m.encode(&mut Encoder::new(&mut packet)).expect("encode");
    let sock = UdpSocket::bind((giaddr, 0)).expect("bind to GIADDR");
    sock.connect(&target).expect("TARGET");
    let mut seed = 0x2545_f491_4f6c_dd1du64 ^ u64::from(std::process::id());
    // In ticks of a millisecond: rate / 1000 packets each.
    let per_tick = (rate / 1000).max(1);
    let start = Instant::now();
    let (mut sent, mut failed) = (0u64, 0u64);
    for tick in 0..secs * 1000 {
        for _ in 0..per_tick {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let r = seed.to_le_bytes();
            packet[4..8].copy_from_slice(&r[0..4]); // xid
            packet[29..34].copy_from_slice(&r[3..8]); // chaddr[1..6]: a locally administered MAC
            if sock.send(&packet).is_ok() {
                sent += 1;
            } else {
                failed += 1;
            }
        }
        let due = start + Duration::from_millis(tick + 1);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let took = start.elapsed().as_secs_f64();
    println!(
        "flood: {sent} DISCOVERs from random MACs in {took:.1} s ({:.0}/s), {failed} sends failed",
        sent as f64 / took
    );
}
