//! The DHCP server (dhcproto): answers only MACs the mac table knows, with the address the hosts
//! table reserves for the node, the subnet settings of the networks table entry holding that
//! address, the lease time of site.dhcplease, and a boot answer chosen by the client: option 93
//! (architecture), option 60 (PXEClient / HTTPClient) and option 77 (user class iPXE).
//!
//! The MAC index is rebuilt when the store changes (SQLite's data_version, checked per packet).

use crate::store::{self, view::NodeView, Store};
use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};

/// What a known node is answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub node: String,
    pub ip: Ipv4Addr,
    pub mask: Ipv4Addr,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    /// noderes.netboot: pxe (pxelinux), grub2, or iPXE (xnba, ipxe, unset).
    pub netboot: Option<String>,
}

/// A discovery range: addresses for MACs the store does not know (networks.dynamicrange).
#[derive(Debug, Clone)]
pub struct Range {
    pub start: u32,
    pub end: u32,
    /// Network settings given with these addresses (node and netboot empty).
    pub template: Lease,
}

pub struct Index {
    version: i64,
    by_mac: HashMap<[u8; 6], Lease>,
    /// Addresses reserved for nodes: never handed out of a range.
    reserved: std::collections::HashSet<u32>,
    ranges: Vec<Range>,
    server: Ipv4Addr,
    http_port: u16,
    lease_secs: u32,
}

fn mac_bytes(mac: &str) -> Option<[u8; 6]> {
    let canon = crate::node::parse_mac(mac).ok()?;
    let v: Vec<u8> = canon.split(':').filter_map(|h| u8::from_str_radix(h, 16).ok()).collect();
    v.try_into().ok()
}

/// A networks table row, as DHCP needs it.
struct Network {
    net: u32,
    mask: u32,
    gateway: Option<Ipv4Addr>,
    dns: Vec<Ipv4Addr>,
    domain: Option<String>,
    dynamic: Option<String>,
}

fn networks(conn: &rusqlite::Connection) -> crate::error::Result<Vec<Network>> {
    let mut stmt = conn.prepare(
        "SELECT net, mask, gateway, nameservers, domain, dynamicrange FROM networks WHERE coalesce(disable, '') NOT IN ('yes', '1')",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (net, mask, gateway, dns, domain, dynamic) = row?;
        let (Ok(net), Ok(mask)) = (net.parse::<Ipv4Addr>(), mask.parse::<Ipv4Addr>()) else { continue };
        out.push(Network {
            net: u32::from(net),
            mask: u32::from(mask),
            gateway: gateway.and_then(|g| g.parse().ok()),
            dns: dns.map(|d| d.split(',').filter_map(|a| a.trim().parse().ok()).collect()).unwrap_or_default(),
            domain,
            dynamic,
        });
    }
    Ok(out)
}

fn data_version(conn: &rusqlite::Connection) -> i64 {
    conn.pragma_query_value(None, "data_version", |r| r.get(0)).unwrap_or(-1)
}

impl Index {
    /// Reads every node's MACs, reserved address and network (done again after each change).
    pub fn build(conn: &rusqlite::Connection, server: Option<Ipv4Addr>) -> crate::error::Result<Index> {
        let view = NodeView::load(conn)?;
        let nets = networks(conn)?;
        let site_domain = store::site_value(conn, "domain")?;
        let mut by_mac = HashMap::new();
        for n in view.nodes() {
            let Some(ip) = view.get(n, "hosts", "ip")?.and_then(|i| i.parse::<Ipv4Addr>().ok()) else { continue };
            let Some(macs) = view.get(n, "mac", "mac")? else { continue };
            let net = nets.iter().find(|w| u32::from(ip) & w.mask == w.net);
            let lease = Lease {
                node: n.clone(),
                ip,
                mask: net.map(|w| Ipv4Addr::from(w.mask)).unwrap_or(Ipv4Addr::new(255, 255, 255, 0)),
                router: net.and_then(|w| w.gateway),
                dns: net.map(|w| w.dns.clone()).unwrap_or_default(),
                domain: net.and_then(|w| w.domain.clone()).or(site_domain.clone()),
                netboot: view.get(n, "noderes", "netboot")?,
            };
            for m in macs.split('|') {
                if let Some(b) = mac_bytes(m.split('!').next().unwrap_or(m)) {
                    by_mac.entry(b).or_insert_with(|| lease.clone());
                }
            }
        }
        let reserved = by_mac.values().map(|l: &Lease| u32::from(l.ip)).collect();
        let ranges = nets
            .iter()
            .filter_map(|w| {
                let (a, b) = w.dynamic.as_deref()?.split_once(['-', ','])?;
                let (a, b): (Ipv4Addr, Ipv4Addr) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                Some(Range {
                    start: u32::from(a),
                    end: u32::from(b),
                    template: Lease {
                        node: String::new(),
                        ip: Ipv4Addr::UNSPECIFIED,
                        mask: Ipv4Addr::from(w.mask),
                        router: w.gateway,
                        dns: w.dns.clone(),
                        domain: w.domain.clone().or(site_domain.clone()),
                        netboot: None,
                    },
                })
            })
            .collect();
        let server = match server {
            Some(s) => s,
            None => store::site_value(conn, "master")?.and_then(|m| m.parse().ok()).ok_or_else(|| {
                crate::error::Error::Input(
                    "DHCP needs the server's address: set site.master or dhcp.server in the config".into(),
                )
            })?,
        };
        Ok(Index {
            version: data_version(conn),
            by_mac,
            reserved,
            ranges,
            server,
            http_port: store::site_value(conn, "httpport")?.and_then(|p| p.parse().ok()).unwrap_or(80),
            lease_secs: store::site_value(conn, "dhcplease")?.and_then(|p| p.parse().ok()).unwrap_or(43200),
        })
    }

    /// Every answered MAC with its lease.
    pub fn leases(&self) -> impl Iterator<Item = (&[u8; 6], &Lease)> {
        self.by_mac.iter()
    }

    pub fn server(&self) -> Ipv4Addr {
        self.server
    }

    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    pub fn lookup(&self, mac: &[u8]) -> Option<&Lease> {
        self.by_mac.get(<&[u8; 6]>::try_from(mac.get(..6)?).ok()?)
    }
}

/// A DISCOVER as a client of this kind would send it (makedhcp -q and the tests use it).
pub fn sample_discover(mac: &[u8], class: Option<&[u8]>, arch: Option<u16>, user_class: Option<&[u8]>) -> Message {
    let z = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(1, z, z, z, z, mac);
    m.opts_mut().insert(DhcpOption::MessageType(MessageType::Discover));
    if let Some(c) = class {
        m.opts_mut().insert(DhcpOption::ClassIdentifier(c.to_vec()));
    }
    if let Some(a) = arch {
        m.opts_mut().insert(DhcpOption::ClientSystemArchitecture(a.into()));
    }
    if let Some(u) = user_class {
        m.opts_mut().insert(DhcpOption::UserClass(u.to_vec()));
    }
    m
}

/// The boot answer for a client: (file or URL, whether the client is an HTTP Boot client).
pub fn boot_answer(req: &Message, lease: &Lease, server: Ipv4Addr, http_port: u16) -> Option<(String, bool)> {
    let class = match req.opts().get(OptionCode::ClassIdentifier) {
        Some(DhcpOption::ClassIdentifier(c)) => String::from_utf8_lossy(c).into_owned(),
        _ => String::new(),
    };
    let ipxe = matches!(req.opts().get(OptionCode::UserClass), Some(DhcpOption::UserClass(u)) if u.windows(4).any(|w| w == b"iPXE"));
    let http = format!("http://{server}:{http_port}");
    if ipxe {
        return Some((format!("{http}/tftpboot/ipxe/{}.ipxe", lease.node), false));
    }
    let arch: Option<u16> = match req.opts().get(OptionCode::ClientSystemArchitecture) {
        Some(DhcpOption::ClientSystemArchitecture(a)) => Some(u16::from(*a)),
        _ => None,
    };
    if class.starts_with("HTTPClient") || arch == Some(16) {
        return Some((format!("{http}/tftpboot/ipxe.efi"), true));
    }
    if !class.starts_with("PXEClient") {
        return None;
    }
    let netboot = lease.netboot.as_deref().unwrap_or("ipxe");
    let file = match arch.unwrap_or(0) {
        // The HTTP-capable pxelinux: nodeset's pxelinux configs fetch kernels over HTTP.
        0 if netboot == "pxe" => "lpxelinux.0",
        0 => "undionly.kpxe",
        6 | 7 | 9 if netboot.starts_with("grub2") => "grub2/grubx64.efi",
        6 | 7 | 9 => "ipxe.efi",
        11 => "grub2/grubaa64.efi",
        _ => "ipxe.efi",
    };
    Some((file.to_string(), false))
}

/// The reply to one request (None: no answer) and where to send it.
pub fn answer(req: &Message, idx: &Index) -> Option<(Message, SocketAddr)> {
    if req.opcode() != Opcode::BootRequest {
        return None;
    }
    reply(req, idx.lookup(req.chaddr())?, idx)
}

/// The reply that gives `lease` to the client of `req` (a reservation, or a discovery lease).
pub fn reply(req: &Message, lease: &Lease, idx: &Index) -> Option<(Message, SocketAddr)> {
    let mtype = req.opts().msg_type()?;
    if let Some(DhcpOption::ServerIdentifier(sid)) = req.opts().get(OptionCode::ServerIdentifier) {
        if *sid != idx.server && mtype == MessageType::Request {
            return None; // the client chose another server
        }
    }
    let reply_type = match mtype {
        MessageType::Discover => MessageType::Offer,
        MessageType::Request => {
            let asked = match req.opts().get(OptionCode::RequestedIpAddress) {
                Some(DhcpOption::RequestedIpAddress(a)) => *a,
                _ => req.ciaddr(),
            };
            if asked == lease.ip {
                MessageType::Ack
            } else {
                MessageType::Nak
            }
        }
        MessageType::Inform => MessageType::Ack,
        // Release and Decline need no answer (addresses are reservations).
        _ => return None,
    };
    let mut r = Message::new_with_id(
        req.xid(),
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        idx.server,
        req.giaddr(),
        req.chaddr(),
    );
    r.set_opcode(Opcode::BootReply).set_flags(req.flags());
    let opts = r.opts_mut();
    opts.insert(DhcpOption::MessageType(reply_type));
    opts.insert(DhcpOption::ServerIdentifier(idx.server));
    if reply_type != MessageType::Nak {
        if mtype != MessageType::Inform {
            r.set_yiaddr(lease.ip);
            r.opts_mut().insert(DhcpOption::AddressLeaseTime(idx.lease_secs));
        } else {
            r.set_ciaddr(req.ciaddr());
        }
        let opts = r.opts_mut();
        opts.insert(DhcpOption::SubnetMask(lease.mask));
        if let Some(g) = lease.router {
            opts.insert(DhcpOption::Router(vec![g]));
        }
        if !lease.dns.is_empty() {
            opts.insert(DhcpOption::DomainNameServer(lease.dns.clone()));
        }
        if let Some(d) = &lease.domain {
            opts.insert(DhcpOption::DomainName(d.clone()));
        }
        if !lease.node.is_empty() {
            opts.insert(DhcpOption::Hostname(lease.node.clone()));
        }
        // Discovery leases (no node yet) get an address only.
        let boot = if lease.node.is_empty() { None } else { boot_answer(req, lease, idx.server, idx.http_port) };
        if let Some((file, http_client)) = boot {
            // The file field holds 128 bytes (dhcproto panics beyond); option 67 carries any length.
            if file.len() < 128 {
                r.set_fname_str(&file);
            }
            let opts = r.opts_mut();
            opts.insert(DhcpOption::BootfileName(file.into_bytes()));
            let class: &[u8] = if http_client { b"HTTPClient" } else { b"PXEClient" };
            opts.insert(DhcpOption::ClassIdentifier(class.to_vec()));
        }
    }
    let to = if !req.giaddr().is_unspecified() {
        SocketAddrV4::new(req.giaddr(), 67)
    } else if reply_type == MessageType::Nak || req.ciaddr().is_unspecified() || req.flags().broadcast() {
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
    } else {
        SocketAddrV4::new(req.ciaddr(), 68)
    };
    Some((r, SocketAddr::V4(to)))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// How long an offered (not yet requested) discovery address stays held for its client.
const OFFER_HOLD_SECS: i64 = 60;

/// For a MAC the store does not know: an address from the discovery range of the client's
/// network (the relay's for relayed requests, else the server's), kept in the dhcplease table so
/// that it survives restarts. None when that network has no range (the default) or it is full;
/// RELEASE frees the address and DECLINE marks it in use for a lease time.
pub fn discovery_lease(st: &mut Store, idx: &Index, req: &Message) -> crate::error::Result<Option<Lease>> {
    let anchor = u32::from(if req.giaddr().is_unspecified() { idx.server } else { req.giaddr() });
    let Some(range) =
        idx.ranges.iter().find(|r| anchor & u32::from(r.template.mask) == r.start & u32::from(r.template.mask))
    else {
        return Ok(None);
    };
    let Some(mtype) = req.opts().msg_type() else { return Ok(None) };
    let mac: Vec<String> = req.chaddr().iter().take(6).map(|b| format!("{b:02x}")).collect();
    let mac = mac.join(":");
    let leases = crate::store::schema::table("dhcplease").expect("dhcplease");
    let now = unix_now();
    let lease_secs = idx.lease_secs as i64;
    st.write(|c| {
        match mtype {
            MessageType::Release => {
                store::delete_row(c, leases, &[&mac])?;
                return Ok(None);
            }
            MessageType::Decline => {
                if let Some(row) = store::get_row(c, leases, &[&mac])? {
                    let ip = row[1].clone().unwrap_or_default();
                    store::delete_row(c, leases, &[&mac])?;
                    let expires = (now + lease_secs).to_string();
                    let key = format!("declined:{ip}");
                    store::upsert(
                        c,
                        leases,
                        &[&key],
                        &[("ip", Some(&ip)), ("expires", Some(&expires)), ("state", Some("declined"))],
                    )?;
                }
                return Ok(None);
            }
            MessageType::Discover | MessageType::Request | MessageType::Inform => {}
            _ => return Ok(None),
        }
        // Addresses held by other clients (or declined) and not expired.
        let mut taken = std::collections::HashSet::new();
        let mut mine: Option<u32> = None;
        let mut stmt = c.prepare_cached("SELECT mac, ip, expires FROM dhcplease")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, Option<String>>(2)?))
        })?;
        for row in rows {
            let (m, ip, exp) = row?;
            let Some(ip) = ip.and_then(|i| i.parse::<Ipv4Addr>().ok()).map(u32::from) else { continue };
            if m == mac {
                mine = Some(ip);
            } else if exp.and_then(|e| e.parse::<i64>().ok()).unwrap_or(0) > now {
                taken.insert(ip);
            }
        }
        let free = |ip: &u32| !taken.contains(ip) && !idx.reserved.contains(ip);
        let ip = match mine.filter(|ip| (range.start..=range.end).contains(ip) && free(ip)) {
            Some(ip) => ip,
            None => match (range.start..=range.end).find(free) {
                Some(ip) => ip,
                None => return Ok(None),
            },
        };
        let (state, hold) =
            if mtype == MessageType::Discover { ("offered", OFFER_HOLD_SECS) } else { ("bound", lease_secs) };
        let ip_text = Ipv4Addr::from(ip).to_string();
        let expires = (now + hold).to_string();
        store::upsert(
            c,
            leases,
            &[&mac],
            &[("ip", Some(&ip_text)), ("expires", Some(&expires)), ("state", Some(state))],
        )?;
        Ok(Some(Lease { ip: Ipv4Addr::from(ip), ..range.template.clone() }))
    })
}

/// proxyDHCP (PXE spec): beside another DHCP server, answer PXE, HTTP Boot and iPXE clients with
/// boot information only: no address, no lease, the boot file, and PXE vendor option 43 with
/// discovery control 8 (boot from the file named, no boot server discovery). On port 67 the
/// client's DISCOVER gets such an OFFER; on port 4011 its REQUEST gets an ACK, sent back to it.
pub fn proxy_answer(req: &Message, idx: &Index, from: SocketAddr) -> Option<(Message, SocketAddr)> {
    if req.opcode() != Opcode::BootRequest {
        return None;
    }
    let lease = idx.lookup(req.chaddr())?;
    let reply_type = match req.opts().msg_type()? {
        MessageType::Discover => MessageType::Offer,
        MessageType::Request | MessageType::Inform => MessageType::Ack,
        _ => return None,
    };
    let (file, http_client) = boot_answer(req, lease, idx.server, idx.http_port)?;
    let z = Ipv4Addr::UNSPECIFIED;
    let mut r = Message::new_with_id(req.xid(), req.ciaddr(), z, idx.server, req.giaddr(), req.chaddr());
    r.set_opcode(Opcode::BootReply).set_flags(req.flags());
    if file.len() < 128 {
        r.set_fname_str(&file);
    }
    let opts = r.opts_mut();
    opts.insert(DhcpOption::MessageType(reply_type));
    opts.insert(DhcpOption::ServerIdentifier(idx.server));
    opts.insert(DhcpOption::BootfileName(file.into_bytes()));
    opts.insert(DhcpOption::ClassIdentifier(if http_client { b"HTTPClient".to_vec() } else { b"PXEClient".to_vec() }));
    // PXE_DISCOVERY_CONTROL = 8: download the boot file named here, no boot server discovery.
    opts.insert(DhcpOption::Unknown(dhcproto::v4::UnknownOption::new(
        OptionCode::VendorExtensions,
        vec![6, 1, 8, 255],
    )));
    let to = if from.port() == 68 && req.ciaddr().is_unspecified() {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::BROADCAST, 68))
    } else {
        from
    };
    Some((r, to))
}

/// A UDP socket for DHCP on `addr`, tied to `interface` when given (SO_BINDTODEVICE): on a server
/// with several networks, requests are then taken from, and broadcast replies sent out of, that
/// interface only, whatever the routing table says.
fn socket(addr: SocketAddr, interface: Option<&str>) -> Result<std::net::UdpSocket, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let fail = |e: std::io::Error| format!("cannot listen on {addr} for DHCP: {e}");
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(fail)?;
    if let Some(name) = interface {
        s.bind_device(Some(name.as_bytes())).map_err(|e| match e.raw_os_error() {
            Some(19) => format!("DHCP: no such interface '{name}'"),
            _ => format!("DHCP: cannot use interface '{name}': {e}"),
        })?;
        // Several interfaces share the port, one socket each.
        s.set_reuse_address(true).map_err(fail)?;
    }
    s.set_broadcast(true).map_err(fail)?;
    s.bind(&addr.into()).map_err(fail)?;
    s.set_nonblocking(true).map_err(fail)?;
    Ok(s.into())
}

/// Binds (a port in use is a startup error); returns the bound address and the server future.
pub async fn bind(
    addr: SocketAddr,
    interface: Option<&str>,
    store: Arc<Mutex<Store>>,
    server: Option<Ipv4Addr>,
    proxy: bool,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>), String> {
    let sock = socket(addr, interface)?;
    let bound = sock.local_addr().map_err(|e| e.to_string())?;
    let sock = tokio::net::UdpSocket::from_std(sock).map_err(|e| e.to_string())?;
    let index = {
        let st = store.lock().expect("store lock");
        Index::build(st.conn(), server).map_err(|e| e.to_string())?
    };
    Ok((bound, async move {
        let mut index = index;
        let mut buf = vec![0u8; 1500];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else { continue };
            let Ok(req) = Message::decode(&mut Decoder::new(&buf[..n])) else { continue };
            {
                let st = store.lock().expect("store lock");
                if data_version(st.conn()) != index.version {
                    match Index::build(st.conn(), server) {
                        Ok(i) => index = i,
                        Err(e) => eprintln!("oxcatd: DHCP: keeping the previous index: {e}"),
                    }
                }
            }
            let reply = if proxy {
                proxy_answer(&req, &index, from)
            } else if req.opcode() == Opcode::BootRequest && index.lookup(req.chaddr()).is_none() {
                let mut st = store.lock().expect("store lock");
                match discovery_lease(&mut st, &index, &req) {
                    Ok(Some(lease)) => reply(&req, &lease, &index),
                    Ok(None) => None,
                    Err(e) => {
                        eprintln!("oxcatd: DHCP: discovery lease: {e}");
                        None
                    }
                }
            } else {
                answer(&req, &index)
            };
            let Some((reply, to)) = reply else { continue };
            let mut out = Vec::with_capacity(548);
            if reply.encode(&mut Encoder::new(&mut out)).is_ok() {
                let _ = sock.send_to(&out, to).await;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease() -> Lease {
        Lease {
            node: "n1".into(),
            ip: "10.0.0.11".parse().unwrap(),
            mask: "255.255.255.0".parse().unwrap(),
            router: Some("10.0.0.254".parse().unwrap()),
            dns: vec![],
            domain: None,
            netboot: None,
        }
    }

    /// An index that knows n1 (52:54:00:00:00:01) and no range.
    fn index_with_n1() -> Index {
        let mut by_mac = HashMap::new();
        by_mac.insert([0x52, 0x54, 0, 0, 0, 1], lease());
        Index {
            version: 0,
            by_mac,
            reserved: Default::default(),
            ranges: vec![],
            server: "10.0.0.1".parse().unwrap(),
            http_port: 80,
            lease_secs: 600,
        }
    }

    fn request(class: Option<&[u8]>, arch: Option<u16>, user_class: Option<&[u8]>) -> Message {
        sample_discover(&[0x52, 0x54, 0, 0, 0, 1], class, arch, user_class)
    }

    #[test]
    fn boot_answers_by_architecture_and_client() {
        let s: Ipv4Addr = "10.0.0.1".parse().unwrap();
        let f = |class: Option<&[u8]>, arch, uc: Option<&[u8]>, netboot: Option<&str>| {
            let mut l = lease();
            l.netboot = netboot.map(String::from);
            boot_answer(&request(class, arch, uc), &l, s, 80)
        };
        assert_eq!(f(None, None, None, None), None);
        assert_eq!(f(Some(b"PXEClient:Arch:00000"), Some(0), None, None), Some(("undionly.kpxe".into(), false)));
        assert_eq!(f(Some(b"PXEClient:Arch:00000"), Some(0), None, Some("pxe")), Some(("lpxelinux.0".into(), false)));
        assert_eq!(f(Some(b"PXEClient:Arch:00007"), Some(7), None, None), Some(("ipxe.efi".into(), false)));
        assert_eq!(
            f(Some(b"PXEClient:Arch:00007"), Some(7), None, Some("grub2")),
            Some(("grub2/grubx64.efi".into(), false))
        );
        assert_eq!(
            f(Some(b"HTTPClient:Arch:00016"), Some(16), None, None),
            Some(("http://10.0.0.1:80/tftpboot/ipxe.efi".into(), true))
        );
        assert_eq!(
            f(Some(b"PXEClient"), Some(0), Some(b"\x04iPXE"), None),
            Some(("http://10.0.0.1:80/tftpboot/ipxe/n1.ipxe".into(), false))
        );
    }

    #[test]
    fn proxy_answers_carry_boot_information_only() {
        let idx = index_with_n1();
        let from: SocketAddr = "10.0.0.50:68".parse().unwrap();
        let (offer, to) = proxy_answer(&request(Some(b"PXEClient:Arch:00000"), Some(0), None), &idx, from).unwrap();
        assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
        assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED);
        assert!(offer.opts().get(OptionCode::AddressLeaseTime).is_none());
        assert_eq!(offer.fname_str().unwrap().unwrap().trim_end_matches('\0'), "undionly.kpxe");
        assert_eq!(to, "255.255.255.255:68".parse().unwrap());
        // A plain client (no PXE class) is the other server's business.
        assert!(proxy_answer(&request(None, None, None), &idx, from).is_none());
    }

    #[test]
    fn discovery_range_hands_out_kept_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Store::open(&dir.path().join("t.db")).unwrap();
        st.write(|c| {
            c.execute_batch(
                "INSERT INTO networks (netname, net, mask, dynamicrange) VALUES ('lab', '10.0.0.0', '255.255.255.0', '10.0.0.200-10.0.0.202');
                 INSERT INTO nodelist (node, groups) VALUES ('n1', 'all');
                 INSERT INTO mac (node, mac) VALUES ('n1', '52:54:00:00:00:01');
                 INSERT INTO hosts (node, ip) VALUES ('n1', '10.0.0.201');",
            )?;
            Ok(())
        })
        .unwrap();
        let idx = Index::build(st.conn(), Some("10.0.0.1".parse().unwrap())).unwrap();
        let discover = |mac: [u8; 6]| sample_discover(&mac, None, None, None);
        let ip = |st: &mut Store, m: &Message| discovery_lease(st, &idx, m).unwrap().map(|l| l.ip.to_string());
        // 10.0.0.201 is reserved for n1: skipped.
        assert_eq!(ip(&mut st, &discover([2, 0, 0, 0, 0, 1])).as_deref(), Some("10.0.0.200"));
        assert_eq!(ip(&mut st, &discover([2, 0, 0, 0, 0, 2])).as_deref(), Some("10.0.0.202"));
        // The same client keeps its address; the range is full for a third.
        assert_eq!(ip(&mut st, &discover([2, 0, 0, 0, 0, 1])).as_deref(), Some("10.0.0.200"));
        assert_eq!(ip(&mut st, &discover([2, 0, 0, 0, 0, 3])), None);
        // RELEASE frees it; a DECLINE keeps the address out of use.
        let mut release = discover([2, 0, 0, 0, 0, 1]);
        release.opts_mut().insert(DhcpOption::MessageType(MessageType::Release));
        assert_eq!(ip(&mut st, &release), None);
        assert_eq!(ip(&mut st, &discover([2, 0, 0, 0, 0, 3])).as_deref(), Some("10.0.0.200"));
        let mut decline = discover([2, 0, 0, 0, 0, 3]);
        decline.opts_mut().insert(DhcpOption::MessageType(MessageType::Decline));
        assert_eq!(ip(&mut st, &decline), None);
        assert_eq!(ip(&mut st, &discover([2, 0, 0, 0, 0, 4])), None, "the declined address was handed out again");
        // Without a range (another network), unknown MACs get nothing.
        let far = Index::build(st.conn(), Some("192.0.2.1".parse().unwrap())).unwrap();
        assert!(discovery_lease(&mut st, &far, &discover([2, 0, 0, 0, 0, 5])).unwrap().is_none());
    }

    #[test]
    fn offers_acks_naks_and_ignores_strangers() {
        let idx = index_with_n1();
        let (offer, to) = answer(&request(None, None, None), &idx).unwrap();
        assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
        assert_eq!(offer.yiaddr(), "10.0.0.11".parse::<Ipv4Addr>().unwrap());
        assert_eq!(to, "255.255.255.255:68".parse().unwrap());
        let mut req = request(None, None, None);
        req.opts_mut().insert(DhcpOption::MessageType(MessageType::Request));
        req.opts_mut().insert(DhcpOption::RequestedIpAddress("10.0.0.11".parse().unwrap()));
        assert_eq!(answer(&req, &idx).unwrap().0.opts().msg_type(), Some(MessageType::Ack));
        req.opts_mut().insert(DhcpOption::RequestedIpAddress("10.0.0.99".parse().unwrap()));
        assert_eq!(answer(&req, &idx).unwrap().0.opts().msg_type(), Some(MessageType::Nak));
        // A relayed request is answered to the relay agent.
        let mut relayed = request(None, None, None);
        relayed.set_giaddr(Ipv4Addr::new(10, 0, 0, 254));
        assert_eq!(answer(&relayed, &idx).unwrap().1, "10.0.0.254:67".parse().unwrap());
        let mut stranger = request(None, None, None);
        stranger.set_chaddr(&[1, 2, 3, 4, 5, 6]);
        assert!(answer(&stranger, &idx).is_none());
    }
}
