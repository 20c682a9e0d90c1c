//! nodestat's probe: is a node up, and does its sshd answer? A TCP connect to every node's SSH
//! port at once and, beside it, ICMP echoes where this process may send them: a raw socket with
//! CAP_NET_RAW (root), else a ping socket where net.ipv4.ping_group_range admits this group, else
//! none. So a node whose sshd hangs, or whose firewall drops the port, still shows `ping`.

use super::session::Target;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the probe saw of a node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Probe {
    /// Its SSH port accepted a connection.
    Sshd,
    /// It is up: it refused the port, or answered an ICMP echo.
    Ping,
    NoPing,
}

impl Probe {
    pub fn as_str(self) -> &'static str {
        match self {
            Probe::Sshd => "sshd",
            Probe::Ping => "ping",
            Probe::NoPing => "noping",
        }
    }
}

/// Probes every target within `wait`, all at once; results in the targets' order. Returns as
/// soon as every port has answered (or refused).
pub fn probe_all(targets: &[Target], wait: Duration) -> Vec<Probe> {
    let deadline = Instant::now() + wait;
    let stop = Arc::new(AtomicBool::new(false));
    let hosts: Vec<String> = targets.iter().map(|t| t.host.clone()).collect();
    let icmp = {
        let stop = stop.clone();
        std::thread::spawn(move || echo_replies(&hosts, deadline, &stop))
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let tcp: Vec<Option<Probe>> = rt.block_on(async {
        let tasks: Vec<_> = targets
            .iter()
            .map(|t| {
                let (host, port) = (t.host.clone(), t.port);
                tokio::spawn(async move {
                    let connect = async {
                        let addr = tokio::net::lookup_host((host.as_str(), port)).await.ok()?.next()?;
                        Some(tokio::net::TcpStream::connect(addr).await)
                    };
                    match tokio::time::timeout_at(deadline.into(), connect).await {
                        Ok(Some(Ok(_))) => Some(Probe::Sshd),
                        Ok(Some(Err(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(Probe::Ping),
                        _ => None,
                    }
                })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.unwrap_or(None));
        }
        out
    });
    // Every port answered: the echoes are not needed. Otherwise the deadline has passed, and the
    // echo thread ends with it.
    if tcp.iter().all(Option::is_some) {
        stop.store(true, Ordering::Relaxed);
    }
    let replied = icmp.join().unwrap_or_default();
    tcp.into_iter()
        .zip(targets)
        .map(|(p, t)| p.unwrap_or(if replied.contains(&t.host) { Probe::Ping } else { Probe::NoPing }))
        .collect()
}

/// ICMP echo request and reply types, IPv4 and IPv6.
const ECHO_V4: (u8, u8) = (8, 0);
const ECHO_V6: (u8, u8) = (128, 129);

/// An ICMP socket of one family. std's UdpSocket wraps it for its safe send_to/recv_from (the
/// descriptor is an ICMP socket all the same).
struct Icmp {
    sock: UdpSocket,
    /// A raw socket: IPv4 replies come with their IP header, and every reply to this host comes
    /// in (told apart by the echo identifier). A ping socket gets only its own.
    raw: bool,
    v6: bool,
}

impl Icmp {
    fn open(v6: bool) -> Option<Icmp> {
        use socket2::{Domain, Protocol, Socket, Type};
        let (domain, proto) = if v6 { (Domain::IPV6, Protocol::ICMPV6) } else { (Domain::IPV4, Protocol::ICMPV4) };
        let (sock, raw) = match Socket::new(domain, Type::RAW, Some(proto)) {
            Ok(s) => (s, true),
            Err(_) => (Socket::new(domain, Type::DGRAM, Some(proto)).ok()?, false),
        };
        sock.set_read_timeout(Some(Duration::from_millis(20))).ok()?;
        Some(Icmp { sock: sock.into(), raw, v6 })
    }

    fn send(&self, to: IpAddr, id: u16, seq: u16) {
        let kind = if self.v6 { ECHO_V6.0 } else { ECHO_V4.0 };
        let mut packet = [
            kind,
            0,
            0,
            0,
            (id >> 8) as u8,
            id as u8,
            (seq >> 8) as u8,
            seq as u8,
            b'o',
            b'x',
            b'c',
            b'a',
            b't',
            0,
            0,
            0,
        ];
        // The kernel sums ICMPv6 and ping-socket packets itself; a raw IPv4 one is ours to sum.
        if self.raw && !self.v6 {
            let sum = checksum(&packet);
            packet[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        // A node this host has no route to is one that does not answer.
        let _ = self.sock.send_to(&packet, SocketAddr::new(to, 0));
    }

    /// The next echo reply within the socket's read timeout: who sent it.
    fn reply(&self, id: u16, buf: &mut [u8]) -> Option<IpAddr> {
        let (n, from) = self.sock.recv_from(buf).ok()?;
        let mut icmp = &buf[..n];
        if self.raw && !self.v6 {
            icmp = icmp.get(usize::from(icmp.first()? & 0x0f) * 4..)?;
        }
        let reply = if self.v6 { ECHO_V6.1 } else { ECHO_V4.1 };
        let ours = !self.raw || icmp.get(4..6) == Some(&id.to_be_bytes()[..]);
        (icmp.first() == Some(&reply) && ours).then_some(from.ip())
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends echoes to `hosts` (again every 250 ms to those that have not answered) until
/// `deadline` or `stop`; the hosts that answered. Empty where no ICMP socket may be opened.
fn echo_replies(hosts: &[String], deadline: Instant, stop: &AtomicBool) -> HashSet<String> {
    // Addresses: literals as they are, names resolved (the TCP probe resolves them too).
    let mut addrs: Vec<(IpAddr, &String)> = Vec::new();
    for h in hosts {
        match h.parse::<IpAddr>() {
            Ok(ip) => addrs.push((ip, h)),
            Err(_) => {
                if let Some(a) = (h.as_str(), 0).to_socket_addrs().ok().and_then(|mut a| a.next()) {
                    addrs.push((a.ip(), h));
                }
            }
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    let v4 = addrs.iter().any(|(a, _)| a.is_ipv4()).then(|| Icmp::open(false)).flatten();
    let v6 = addrs.iter().any(|(a, _)| a.is_ipv6()).then(|| Icmp::open(true)).flatten();
    let mut seed = [0u8; 2];
    let _ = getrandom::fill(&mut seed);
    let id = u16::from_be_bytes(seed);
    let mut answered: HashSet<IpAddr> = HashSet::new();
    let mut buf = [0u8; 1500];
    let mut seq = 0u16;
    let mut next_round = Instant::now();
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) && (v4.is_some() || v6.is_some()) {
        if Instant::now() >= next_round {
            for (ip, _) in addrs.iter().filter(|(ip, _)| !answered.contains(ip)) {
                if let Some(s) = if ip.is_ipv4() { &v4 } else { &v6 } {
                    s.send(*ip, id, seq);
                }
            }
            seq = seq.wrapping_add(1);
            next_round = Instant::now() + Duration::from_millis(250);
        }
        for s in [&v4, &v6].into_iter().flatten() {
            while let Some(from) = s.reply(id, &mut buf) {
                answered.insert(from);
            }
        }
        if addrs.iter().all(|(ip, _)| answered.contains(ip)) {
            break;
        }
    }
    addrs.into_iter().filter(|(ip, _)| answered.contains(ip)).map(|(_, h)| h.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_rfc_1071_s() {
        // RFC 1071's example words, and an echo request whose sum makes the packet sum to zero.
        assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), !0xddf2);
        let mut p = [8, 0, 0, 0, 0x12, 0x34, 0, 1, b'x'];
        let s = checksum(&p);
        p[2..4].copy_from_slice(&s.to_be_bytes());
        assert_eq!(checksum(&p), 0);
    }
}
