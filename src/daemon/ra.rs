//! Router advertisements that configure nothing, on the DHCP interfaces (`[dhcp] ipv6_ra`).
//!
//! iPXE configures IPv6 beside DHCPv4 and waits for it: it sends router solicitations and, on a
//! network without an IPv6 router, gives up only after its retry timer runs out (about 14 s per
//! boot). Its `ipv6conf_rx_router_advertisement` (src/net/ndp.c) ends the wait at the first
//! advertisement: with neither the managed (M) nor the other-configuration (O) flag it is done.
//! So oxcatd answers a solicitation with an advertisement that configures nothing: router
//! lifetime 0 (not a default router), no prefix, M = O = 0, only our link-layer address. Hosts
//! that follow RFC 4861 learn nothing from it either.
//!
//! Only where no one else is a router: oxcatd solicits once at startup, and when it sees an
//! advertisement from another address on the interface it stops answering there for good and
//! logs it. Answers go to all nodes (ff02::1), at most one a second per interface (a solicitation
//! in between gets the next one), from the interface's link-local address, hop limit 255;
//! solicitations are answered only when they come from a link-local address with hop limit 255
//! (RFC 4861 6.1.1). The kernel fills in the ICMPv6 checksum.

use super::log::Log;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn6};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::io::Interest;
use tokio::time::Instant;

/// ICMPv6 types (RFC 4861).
const ROUTER_SOLICITATION: u8 = 133;
const ROUTER_ADVERTISEMENT: u8 = 134;

/// Time between two advertisements on one interface at least.
const MIN_GAP: Duration = Duration::from_secs(1);

/// How long the startup solicitation's answers are waited for before answering anyone.
const PROBE: Duration = Duration::from_secs(1);

const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// An advertisement that configures nothing: the 16-byte header (RFC 4861 4.2) with every field 0
/// but the type, and a source link-layer address option when the MAC is known.
pub fn empty_advertisement(mac: Option<[u8; 6]>) -> Vec<u8> {
    let mut p = vec![0u8; 16];
    p[0] = ROUTER_ADVERTISEMENT;
    if let Some(mac) = mac {
        p.extend_from_slice(&[1, 1]);
        p.extend_from_slice(&mac);
    }
    p
}

/// What a received ICMPv6 message means here.
#[derive(Debug, PartialEq)]
pub enum Heard {
    /// A router solicitation to answer.
    Solicitation,
    /// Another router's advertisement.
    Router,
    Other,
}

/// Classifies a message from `src` that arrived with `hops` (RFC 4861 6.1.1/6.1.2: hop limit
/// 255, code 0, at least the fixed header; solicitations from link-local sources only here).
pub fn classify(msg: &[u8], src: &Ipv6Addr, hops: Option<i32>, ours: &[Ipv6Addr]) -> Heard {
    if hops != Some(255) || msg.len() < 8 || msg[1] != 0 || ours.contains(src) {
        return Heard::Other;
    }
    match msg[0] {
        ROUTER_SOLICITATION if is_link_local(src) => Heard::Solicitation,
        ROUTER_ADVERTISEMENT if msg.len() >= 16 => Heard::Router,
        _ => Heard::Other,
    }
}

/// The interface's link-local addresses and MAC, as they are now (a tap gets its link-local
/// address only once its carrier is up).
fn addresses(iface: &str) -> (Vec<Ipv6Addr>, Option<[u8; 6]>) {
    let (mut v6, mut mac) = (Vec::new(), None);
    let Ok(all) = nix::ifaddrs::getifaddrs() else { return (v6, mac) };
    for a in all.filter(|a| a.interface_name == iface) {
        let Some(addr) = a.address else { continue };
        if let Some(s) = addr.as_sockaddr_in6() {
            if is_link_local(&s.ip()) {
                v6.push(s.ip());
            }
        } else if let Some(l) = addr.as_link_addr() {
            mac = l.addr();
        }
    }
    (v6, mac)
}

/// Opens the ICMPv6 socket of `iface` (a startup error when that fails: raw sockets need root or
/// CAP_NET_RAW) and returns the future that answers on it.
pub fn bind(iface: &str, log: Log) -> Result<impl std::future::Future<Output = ()>, String> {
    let fail = |e: std::io::Error| format!("cannot answer IPv6 router solicitations on {iface} ([dhcp] ipv6_ra): {e}");
    let index = nix::net::if_::if_nametoindex(iface).map_err(|e| fail(e.into()))?;
    let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).map_err(fail)?;
    sock.bind_device(Some(iface.as_bytes())).map_err(fail)?;
    sock.set_multicast_hops_v6(255).map_err(fail)?;
    sock.set_unicast_hops_v6(255).map_err(fail)?;
    sock.set_multicast_loop_v6(false).map_err(fail)?;
    sock.set_multicast_if_v6(index).map_err(fail)?;
    sock.set_recv_hoplimit_v6(true).map_err(fail)?;
    sock.join_multicast_v6(&ALL_ROUTERS, index).map_err(fail)?;
    sock.set_nonblocking(true).map_err(fail)?;
    // tokio's datagram socket watches any datagram descriptor's readiness: a raw ICMPv6 socket
    // is one (AsyncFd would need unsafe code to register it).
    let fd = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(sock)).map_err(fail)?;
    let iface = iface.to_string();
    Ok(async move { answer(fd, iface, index, log).await })
}

async fn answer(fd: tokio::net::UdpSocket, iface: String, index: u32, log: Log) {
    let all_nodes = std::net::SocketAddr::V6(SocketAddrV6::new(ALL_NODES, 0, 0, index));
    let all_routers = std::net::SocketAddr::V6(SocketAddrV6::new(ALL_ROUTERS, 0, 0, index));
    // Ask whether a router is there already (it answers within a second, RFC 4861 6.2.6).
    let _ = fd.try_send_to(&[ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0], all_routers);
    let quiet_until = Instant::now() + PROBE;
    let mut last_sent: Option<Instant> = None;
    let mut due: Option<Instant> = None;
    let mut no_address_logged = false;
    let mut buf = vec![0u8; 1500];
    loop {
        let wake = due.map(|d| d.max(quiet_until));
        let heard = tokio::select! {
            r = fd.readable() => {
                if let Err(e) = r {
                    // A service that ends ends oxcatd: this one only stops answering.
                    log.problem(format!("oxcatd: RA: {iface}: {e}: not answering router solicitations any more"));
                    return std::future::pending().await;
                }
                fd.try_io(Interest::READABLE, || receive(&fd, &mut buf)).ok()
            }
            _ = async { tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)).await }, if wake.is_some() => {
                due = None;
                let (ours, mac) = addresses(&iface);
                if ours.is_empty() {
                    if !no_address_logged {
                        log.problem(format!(
                            "oxcatd: RA: {iface} has no IPv6 link-local address yet: router solicitation not answered"
                        ));
                        no_address_logged = true;
                    }
                    continue;
                }
                match fd.try_send_to(&empty_advertisement(mac), all_nodes) {
                    Ok(_) => log.exchange(|| format!("oxcatd: RA: empty router advertisement on {iface} from {}", ours[0])),
                    Err(e) => log.problem(format!("oxcatd: RA: cannot send a router advertisement on {iface}: {e}")),
                }
                last_sent = Some(Instant::now());
                continue;
            }
        };
        let Some((len, src, hops)) = heard else { continue };
        let (ours, _) = addresses(&iface);
        match classify(&buf[..len], &src, hops, &ours) {
            Heard::Solicitation => {
                if due.is_none() {
                    due = Some(last_sent.map_or_else(Instant::now, |t| (t + MIN_GAP).max(Instant::now())));
                }
            }
            Heard::Router => {
                log.problem(format!(
                    "oxcatd: RA: {iface}: router {src} advertises on this network: not answering router solicitations there ([dhcp] ipv6_ra)"
                ));
                return std::future::pending().await;
            }
            Heard::Other => {}
        }
    }
}

/// One message: its length, source and hop limit.
fn receive(s: &impl AsRawFd, buf: &mut [u8]) -> std::io::Result<(usize, Ipv6Addr, Option<i32>)> {
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(nix::libc::c_int);
    let msg = recvmsg::<SockaddrIn6>(s.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
        .map_err(std::io::Error::from)?;
    let hops = msg.cmsgs().ok().and_then(|mut c| {
        c.find_map(|m| match m {
            ControlMessageOwned::Ipv6HopLimit(h) => Some(h),
            _ => None,
        })
    });
    let src = msg.address.map(|a| a.ip()).unwrap_or(Ipv6Addr::UNSPECIFIED);
    Ok((msg.bytes, src, hops))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertisements_configure_nothing() {
        let p = empty_advertisement(Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
        // type, code, checksum (the kernel's), hop limit, M/O flags, router lifetime, reachable,
        // retransmit: all 0 but the type; then the source link-layer address option.
        assert_eq!(p, [134, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(empty_advertisement(None).len(), 16);
    }

    #[test]
    fn only_link_local_solicitations_with_hop_limit_255_are_answered() {
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let rs = [133, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(classify(&rs, &ll, Some(255), &[]), Heard::Solicitation);
        assert_eq!(classify(&rs, &ll, Some(64), &[]), Heard::Other);
        assert_eq!(classify(&rs, &ll, None, &[]), Heard::Other);
        assert_eq!(classify(&rs, &"2001:db8::1".parse().unwrap(), Some(255), &[]), Heard::Other);
        assert_eq!(classify(&rs, &Ipv6Addr::UNSPECIFIED, Some(255), &[]), Heard::Other);
        assert_eq!(classify(&[133, 1, 0, 0, 0, 0, 0, 0], &ll, Some(255), &[]), Heard::Other);
        assert_eq!(classify(&rs[..4], &ll, Some(255), &[]), Heard::Other);
        let ra = empty_advertisement(None);
        assert_eq!(classify(&ra, &ll, Some(255), &[]), Heard::Router);
        // Our own advertisement is not another router's.
        assert_eq!(classify(&ra, &ll, Some(255), &[ll]), Heard::Other);
    }
}
