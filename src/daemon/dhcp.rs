//! The DHCP server (dhcproto): answers only MACs the mac table knows, with the address the hosts
//! table reserves for the node, the subnet settings of the networks table entry holding that
//! address, the lease time of site.dhcplease, and a boot answer chosen by the client: option 93
//! (architecture), option 60 (PXEClient / HTTPClient) and option 77 (user class iPXE).
//!
//! The MAC index follows the store: SQLite's data_version, checked per packet, says whether
//! anything changed, and the store's change journal which nodes' entries to read again.

use super::log::{Limiter, Log};
use crate::boot::servers;
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
    /// The node's TFTP server (noderes.tftpserver, else its master: see boot::servers), named as
    /// next-server and in boot URLs; None (discovery leases): this server.
    pub next_server: Option<Ipv4Addr>,
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
    /// The change journal entry the index is up to date with.
    journal: i64,
    by_mac: HashMap<[u8; 6], Lease>,
    /// The MACs each node is answered on (its entries in `by_mac`).
    macs_of: HashMap<String, Vec<[u8; 6]>>,
    /// Addresses reserved for nodes, with how many nodes hold each: never handed out of a range.
    reserved: HashMap<u32, u32>,
    ranges: Vec<Range>,
    networks: Vec<Network>,
    site_domain: Option<String>,
    /// The server address given in the config, if any (else site.master).
    configured_server: Option<Ipv4Addr>,
    server: Ipv4Addr,
    http_port: u16,
    lease_secs: u32,
}

/// What [`Index::refresh`] did.
#[derive(Debug, PartialEq)]
pub enum Refresh {
    /// Nothing the index holds changed (or nothing at all).
    Unchanged,
    /// Only these nodes' entries were read again.
    Nodes(usize),
    /// Everything was read again (settings, networks or group rows changed, or many nodes).
    Rebuilt,
}

/// Past this many changed nodes, reading everything again is cheaper than node by node.
const REFRESH_NODES_MAX: usize = 500;

fn mac_bytes(mac: &str) -> Option<[u8; 6]> {
    let canon = crate::node::parse_mac(mac).ok()?;
    let v: Vec<u8> = canon.split(':').filter_map(|h| u8::from_str_radix(h, 16).ok()).collect();
    v.try_into().ok()
}

/// A networks table row, as DHCP needs it.
#[derive(Clone)]
struct Network {
    net: u32,
    mask: u32,
    gateway: Option<Ipv4Addr>,
    dns: Vec<Ipv4Addr>,
    domain: Option<String>,
    dynamic: Option<String>,
}

/// This machine's address on a network, for `<xcatmaster>` in its gateway and nameservers (as
/// xCAT's dhcp plugin reads them: the address facing the network; a gateway only where this
/// machine forwards IPv4, else none; on a network it has no address on, none).
struct Facing {
    local: servers::LocalNets,
    forwarding: bool,
}

impl Facing {
    fn load() -> Facing {
        let forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1");
        Facing { local: servers::LocalNets::load(), forwarding }
    }

    /// A gateway or nameserver value of network `net` (this machine's addresses are read once,
    /// and only where some value is `<xcatmaster>`).
    fn address(cell: &std::cell::OnceCell<Facing>, net: u32, value: &str, gateway: bool) -> Option<Ipv4Addr> {
        match value.trim() {
            servers::XCATMASTER => {
                let f = cell.get_or_init(Facing::load);
                f.local.facing(Ipv4Addr::from(net)).filter(|_| f.forwarding || !gateway)
            }
            v => v.parse().ok(),
        }
    }
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
    let facing = std::cell::OnceCell::new();
    for row in rows {
        let (net, mask, gateway, dns, domain, dynamic) = row?;
        let (Ok(net), Ok(mask)) = (net.parse::<Ipv4Addr>(), mask.parse::<Ipv4Addr>()) else { continue };
        let net = u32::from(net);
        out.push(Network {
            net,
            mask: u32::from(mask),
            gateway: gateway.and_then(|g| Facing::address(&facing, net, &g, true)),
            dns: dns
                .map(|d| d.split(',').filter_map(|a| Facing::address(&facing, net, a, false)).collect())
                .unwrap_or_default(),
            domain,
            dynamic,
        });
    }
    Ok(out)
}

fn data_version(conn: &rusqlite::Connection) -> i64 {
    conn.pragma_query_value(None, "data_version", |r| r.get(0)).unwrap_or(-1)
}

/// The lease a node is answered with and the MACs it is answered on (None: it has no address or
/// no MAC, so DHCP does not know it).
fn node_lease(
    view: &NodeView,
    nets: &[Network],
    site_domain: &Option<String>,
    n: &str,
    server: Ipv4Addr,
    local: &std::cell::OnceCell<servers::LocalNets>,
) -> crate::error::Result<Option<(Vec<[u8; 6]>, Lease)>> {
    let Some(ip) = view.get(n, "hosts", "ip")?.and_then(|i| i.parse::<Ipv4Addr>().ok()) else { return Ok(None) };
    let Some(macs) = view.get(n, "mac", "mac")? else { return Ok(None) };
    let next_server = servers::of_node(view, n, Some(ip), Some(&server.to_string()), local)?
        .and_then(|s| servers::resolve_v4(&s.tftp));
    let net = nets.iter().find(|w| u32::from(ip) & w.mask == w.net);
    let lease = Lease {
        node: n.to_string(),
        ip,
        mask: net.map(|w| Ipv4Addr::from(w.mask)).unwrap_or(Ipv4Addr::new(255, 255, 255, 0)),
        router: net.and_then(|w| w.gateway),
        dns: net.map(|w| w.dns.clone()).unwrap_or_default(),
        domain: net.and_then(|w| w.domain.clone()).or(site_domain.clone()),
        netboot: view.get(n, "noderes", "netboot")?,
        next_server,
    };
    let macs = crate::node::macs_of(&macs).filter_map(|m| mac_bytes(&m)).collect();
    Ok(Some((macs, lease)))
}

impl Index {
    /// Reads every node's MACs, reserved address and network.
    pub fn build(conn: &rusqlite::Connection, server: Option<Ipv4Addr>) -> crate::error::Result<Index> {
        // Read before the tables: a change committed meanwhile is then seen again, not lost.
        let (version, journal) = (data_version(conn), store::journal_head(conn)?);
        let view = NodeView::load(conn)?;
        let nets = networks(conn)?;
        let site_domain = store::site_value(conn, "domain")?;
        let resolved = match server {
            Some(s) => s,
            None => store::site_value(conn, "master")?.and_then(|m| m.parse().ok()).ok_or_else(|| {
                crate::error::Error::Input(
                    "DHCP needs the server's address: set site.master or dhcp.server in the config".into(),
                )
            })?,
        };
        let mut entries = Vec::new();
        let local = std::cell::OnceCell::new();
        for n in view.nodes() {
            if let Some(entry) = node_lease(&view, &nets, &site_domain, n, resolved, &local)? {
                entries.push(entry);
            }
        }
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
                        next_server: None,
                    },
                })
            })
            .collect();
        let mut index = Index {
            version,
            journal,
            by_mac: HashMap::with_capacity(entries.len()),
            macs_of: HashMap::with_capacity(entries.len()),
            reserved: HashMap::with_capacity(entries.len()),
            ranges,
            networks: nets,
            site_domain,
            configured_server: server,
            server: resolved,
            http_port: store::site_value(conn, "httpport")?.and_then(|p| p.parse().ok()).unwrap_or(80),
            lease_secs: store::site_value(conn, "dhcplease")?.and_then(|p| p.parse().ok()).unwrap_or(43200),
        };
        for (macs, lease) in entries {
            index.insert_node(macs, lease);
        }
        Ok(index)
    }

    /// Answers `lease` on `macs`, those not already answered for another node (the first node in
    /// natural order keeps a MAC given twice).
    fn insert_node(&mut self, macs: Vec<[u8; 6]>, lease: Lease) {
        let mut won = Vec::with_capacity(macs.len());
        for m in macs {
            if let std::collections::hash_map::Entry::Vacant(e) = self.by_mac.entry(m) {
                e.insert(lease.clone());
                won.push(m);
            }
        }
        if !won.is_empty() {
            *self.reserved.entry(u32::from(lease.ip)).or_default() += 1;
            self.macs_of.insert(lease.node, won);
        }
    }

    /// Forgets what `node` is answered on.
    fn remove_node(&mut self, node: &str) {
        let Some(macs) = self.macs_of.remove(node) else { return };
        let mut ip = None;
        for m in macs {
            ip = self.by_mac.remove(&m).map(|l| u32::from(l.ip)).or(ip);
        }
        if let Some(std::collections::hash_map::Entry::Occupied(mut e)) = ip.map(|ip| self.reserved.entry(ip)) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }

    /// Brings the index up to date with the store: nothing to do unless the store changed; when
    /// only some nodes' rows did (the change journal says which), only those nodes are read again.
    pub fn refresh(&mut self, conn: &rusqlite::Connection) -> crate::error::Result<Refresh> {
        let version = data_version(conn);
        if version == self.version {
            return Ok(Refresh::Unchanged);
        }
        let Some((head, changes)) = store::changes_since(conn, self.journal)? else {
            *self = Index::build(conn, self.configured_server)?;
            return Ok(Refresh::Rebuilt);
        };
        if changes.is_empty() {
            self.version = version;
            return Ok(Refresh::Unchanged);
        }
        let mut nodes: Vec<String> = Vec::new();
        for (tab, key) in &changes {
            // A setting or a network: read all again.
            if !matches!(tab.as_str(), "nodelist" | "hosts" | "mac" | "noderes") || nodes.len() > REFRESH_NODES_MAX {
                *self = Index::build(conn, self.configured_server)?;
                return Ok(Refresh::Rebuilt);
            }
            let key = key.as_deref().unwrap_or("");
            if !nodes.iter().any(|n| n == key) {
                nodes.push(key.to_string());
            }
        }
        // Only the changed nodes' rows are read, not the cluster's.
        let view = NodeView::of_nodes(conn, &nodes)?;
        for key in nodes.iter().filter(|k| !view.is_node(k)) {
            // A group row (values every member inherits): read all again. A key that is neither
            // node nor group is a node just removed: its entries go.
            if store::view::is_group_name(conn, key)? {
                *self = Index::build(conn, self.configured_server)?;
                return Ok(Refresh::Rebuilt);
            }
        }
        let mut fresh = Vec::new();
        let local = std::cell::OnceCell::new();
        for n in view.nodes() {
            if let Some(entry) = node_lease(&view, &self.networks, &self.site_domain, n, self.server, &local)? {
                fresh.push(entry);
            }
        }
        for n in &nodes {
            self.remove_node(n);
        }
        for (macs, lease) in fresh {
            self.insert_node(macs, lease);
        }
        (self.version, self.journal) = (version, head);
        Ok(Refresh::Nodes(nodes.len()))
    }

    /// Every answered MAC with its lease.
    pub fn leases(&self) -> impl Iterator<Item = (&[u8; 6], &Lease)> {
        self.by_mac.iter()
    }

    pub fn server(&self) -> Ipv4Addr {
        self.server
    }

    /// The next-server `lease` is answered with: its node's TFTP server, else this server.
    pub fn next_server(&self, lease: &Lease) -> Ipv4Addr {
        lease.next_server.unwrap_or(self.server)
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

/// What a client says of itself that decides its boot answer.
struct Client {
    /// Option 60, e.g. "PXEClient:Arch:00007:UNDI:003016".
    class: String,
    /// Option 77 names iPXE: the client already runs it.
    ipxe: bool,
    /// Option 93.
    arch: Option<u16>,
}

impl Client {
    fn of(req: &Message) -> Client {
        let class = match req.opts().get(OptionCode::ClassIdentifier) {
            Some(DhcpOption::ClassIdentifier(c)) => String::from_utf8_lossy(c).into_owned(),
            _ => String::new(),
        };
        let ipxe = matches!(req.opts().get(OptionCode::UserClass), Some(DhcpOption::UserClass(u)) if u.windows(4).any(|w| w == b"iPXE"));
        let arch = match req.opts().get(OptionCode::ClientSystemArchitecture) {
            Some(DhcpOption::ClientSystemArchitecture(a)) => Some(u16::from(*a)),
            _ => None,
        };
        Client { class, ipxe, arch }
    }

    fn http_boot(&self) -> bool {
        self.class.starts_with("HTTPClient") || self.arch == Some(16)
    }

    /// A network boot client (firmware PXE, UEFI HTTP Boot or iPXE), not an OS's DHCP client.
    fn boots(&self) -> bool {
        self.ipxe || self.http_boot() || self.class.starts_with("PXEClient")
    }
}

/// The boot answer for a client: (file or URL, whether the client is an HTTP Boot client).
pub fn boot_answer(req: &Message, lease: &Lease, server: Ipv4Addr, http_port: u16) -> Option<(String, bool)> {
    let client = Client::of(req);
    let http = format!("http://{server}:{http_port}");
    if client.ipxe {
        return Some((format!("{http}/tftpboot/ipxe/{}.ipxe", lease.node), false));
    }
    if client.http_boot() {
        return Some((format!("{http}/tftpboot/ipxe.efi"), true));
    }
    if !client.boots() {
        return None;
    }
    let arch = client.arch;
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
        idx.next_server(lease),
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
        let boot =
            if lease.node.is_empty() { None } else { boot_answer(req, lease, idx.next_server(lease), idx.http_port) };
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
        let free = |ip: &u32| !taken.contains(ip) && !idx.reserved.contains_key(ip);
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
    let (file, http_client) = boot_answer(req, lease, idx.next_server(lease), idx.http_port)?;
    let z = Ipv4Addr::UNSPECIFIED;
    let mut r = Message::new_with_id(req.xid(), req.ciaddr(), z, idx.next_server(lease), req.giaddr(), req.chaddr());
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
    log: Log,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>), String> {
    let sock = socket(addr, interface)?;
    let bound = sock.local_addr().map_err(|e| e.to_string())?;
    let sock = tokio::net::UdpSocket::from_std(sock).map_err(|e| e.to_string())?;
    let index = {
        let st = store.lock().expect("store lock");
        Index::build(st.conn(), server).map_err(|e| e.to_string())?
    };
    let kind = if proxy { "proxyDHCP" } else { "DHCP" };
    let via = interface.map(|i| format!(" via {i}")).unwrap_or_default();
    let tied = interface.is_some();
    Ok((bound, async move {
        let mut index = index;
        let mut buf = vec![0u8; 1500];
        // Unknown clients retry every few seconds and a broken route fails every reply: one line
        // per client or destination every five minutes.
        let mut limiter = Limiter::new(std::time::Duration::from_secs(300));
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else { continue };
            let Ok(req) = Message::decode(&mut Decoder::new(&buf[..n])) else { continue };
            {
                let st = store.lock().expect("store lock");
                if let Err(e) = index.refresh(st.conn()) {
                    log.problem(format!("oxcatd: {kind}: keeping the previous index: {e}"));
                }
            }
            let node = index.lookup(req.chaddr()).map(|l| l.node.as_str());
            let known = node.is_some();
            let reply = if proxy {
                proxy_answer(&req, &index, from)
            } else if req.opcode() == Opcode::BootRequest && !known {
                let mut st = store.lock().expect("store lock");
                match discovery_lease(&mut st, &index, &req) {
                    Ok(Some(lease)) => reply(&req, &lease, &index),
                    Ok(None) => None,
                    Err(e) => {
                        log.problem(format!("oxcatd: {kind}: discovery lease: {e}"));
                        None
                    }
                }
            } else {
                answer(&req, &index)
            };
            let asked = req.opts().msg_type();
            let Some((reply, to)) = reply else {
                // The silent failure admins hunt for: a node whose MAC was never enrolled.
                let boot_client = !proxy || Client::of(&req).boots();
                if !known
                    && boot_client
                    && matches!(asked, Some(MessageType::Discover | MessageType::Request))
                    && limiter.allow(format!("unknown {:?}", req.chaddr()))
                {
                    log.problem(format!(
                        "oxcatd: {kind}: {} from {}{via} not answered: MAC not in the mac table{}",
                        type_name(asked),
                        mac_text(req.chaddr()),
                        if proxy { "" } else { " and no discovery range (networks.dynamicrange) for its network" }
                    ));
                }
                continue;
            };
            let mut out = Vec::with_capacity(548);
            if reply.encode(&mut Encoder::new(&mut out)).is_err() {
                continue;
            }
            let node = node.unwrap_or("discovery");
            match sock.send_to(&out, to).await {
                Ok(_) => log.exchange(|| {
                    // One allocation: at 10,000 exchanges a second this line is a hot path.
                    use std::fmt::Write;
                    let mut line = String::with_capacity(120);
                    let _ = write!(line, "oxcatd: {kind}: {}", type_name(reply.opts().msg_type()));
                    if !reply.yiaddr().is_unspecified() {
                        let _ = write!(line, " {}", reply.yiaddr());
                    }
                    let _ = write!(line, " to {} ({node}){via}", mac_text(req.chaddr()));
                    if let Some(DhcpOption::BootfileName(f)) = reply.opts().get(OptionCode::BootfileName) {
                        let _ = write!(line, ", boot {}", String::from_utf8_lossy(f));
                    }
                    line
                }),
                Err(e) if limiter.allow(format!("send {to} {:?}", e.kind())) => log.problem(format!(
                    "oxcatd: {kind}: cannot send {} for {node} to {to}: {e}{}",
                    type_name(reply.opts().msg_type()),
                    if !tied && to.ip() == std::net::IpAddr::V4(Ipv4Addr::BROADCAST) {
                        " (no route for broadcast replies: tie DHCP to the boot network's interface with [dhcp] interfaces)"
                    } else {
                        ""
                    }
                )),
                Err(_) => {}
            }
        }
    }))
}

/// A message type as logs name it: DISCOVER, OFFER, ...
fn type_name(t: Option<MessageType>) -> &'static str {
    match t {
        Some(MessageType::Discover) => "DISCOVER",
        Some(MessageType::Offer) => "OFFER",
        Some(MessageType::Request) => "REQUEST",
        Some(MessageType::Decline) => "DECLINE",
        Some(MessageType::Ack) => "ACK",
        Some(MessageType::Nak) => "NAK",
        Some(MessageType::Release) => "RELEASE",
        Some(MessageType::Inform) => "INFORM",
        Some(_) => "DHCP",
        None => "BOOTP",
    }
}

/// A MAC address as `52:54:00:12:34:01`.
struct MacText<'a>(&'a [u8]);

impl std::fmt::Display for MacText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for (i, b) in self.0.iter().take(6).enumerate() {
            write!(f, "{}{b:02x}", if i == 0 { "" } else { ":" })?;
        }
        Ok(())
    }
}

fn mac_text(chaddr: &[u8]) -> MacText<'_> {
    MacText(chaddr)
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
            next_server: None,
        }
    }

    /// An index that knows n1 (52:54:00:00:00:01) and no range.
    fn index_with_n1() -> Index {
        let mut by_mac = HashMap::new();
        by_mac.insert([0x52, 0x54, 0, 0, 0, 1], lease());
        Index {
            version: 0,
            journal: 0,
            by_mac,
            macs_of: HashMap::from([("n1".to_string(), vec![[0x52, 0x54, 0, 0, 0, 1]])]),
            reserved: HashMap::from([(u32::from(Ipv4Addr::new(10, 0, 0, 11)), 1)]),
            ranges: vec![],
            networks: vec![],
            site_domain: None,
            configured_server: None,
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
    fn index_follows_changes_node_by_node() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(&dir.path().join("t.db")).unwrap();
        // Changes come from other processes: data_version only counts other connections' commits.
        let mut writer = Store::open(&dir.path().join("t.db")).unwrap();
        let mut sql = |q: &str| writer.write(|c| Ok(c.execute_batch(q)?)).unwrap();
        sql("INSERT INTO networks (netname, net, mask) VALUES ('lab', '10.0.0.0', '255.255.255.0');
             INSERT INTO nodelist (node, groups) VALUES ('n1', 'rack1,all'), ('n2', 'rack1,all');
             INSERT INTO mac (node, mac) VALUES ('n1', '52:54:00:00:00:01'), ('n2', '52:54:00:00:00:02');
             INSERT INTO hosts (node, ip) VALUES ('n1', '10.0.0.11'), ('n2', '10.0.0.12');");
        let mut idx = Index::build(st.conn(), Some("10.0.0.1".parse().unwrap())).unwrap();
        let ip_of = |idx: &Index, last: u8| idx.lookup(&[0x52, 0x54, 0, 0, 0, last]).map(|l| l.ip.to_string());
        assert_eq!(idx.refresh(st.conn()).unwrap(), Refresh::Unchanged);
        // A status report changes the store but nothing the index holds.
        sql("UPDATE nodelist SET status = 'booted', statustime = 'now' WHERE node = 'n1'");
        assert_eq!(idx.refresh(st.conn()).unwrap(), Refresh::Unchanged);
        // One node's MAC and address: that node alone is read again.
        sql("UPDATE mac SET mac = '52:54:00:00:00:09' WHERE node = 'n1'; UPDATE hosts SET ip = '10.0.0.21' WHERE node = 'n1'");
        assert_eq!(idx.refresh(st.conn()).unwrap(), Refresh::Nodes(1));
        assert_eq!(ip_of(&idx, 1), None);
        assert_eq!(ip_of(&idx, 9).as_deref(), Some("10.0.0.21"));
        assert_eq!(ip_of(&idx, 2).as_deref(), Some("10.0.0.12"));
        // A node removed: its entries go.
        sql("DELETE FROM nodelist WHERE node = 'n2'; DELETE FROM mac WHERE node = 'n2'; DELETE FROM hosts WHERE node = 'n2'");
        assert_eq!(idx.refresh(st.conn()).unwrap(), Refresh::Nodes(1));
        assert_eq!(ip_of(&idx, 2), None);
        // A group row (inherited by every member) or a network: everything is read again.
        sql("INSERT INTO noderes (node, netboot) VALUES ('rack1', 'pxe')");
        assert_eq!(idx.refresh(st.conn()).unwrap(), Refresh::Rebuilt);
        assert_eq!(idx.lookup(&[0x52, 0x54, 0, 0, 0, 9]).unwrap().netboot.as_deref(), Some("pxe"));
        sql("UPDATE networks SET gateway = '10.0.0.254'");
        assert_eq!(idx.refresh(st.conn()).unwrap(), Refresh::Rebuilt);
        assert_eq!(idx.lookup(&[0x52, 0x54, 0, 0, 0, 9]).unwrap().router, Some("10.0.0.254".parse().unwrap()));
        // The result is what a fresh build gives.
        let fresh = Index::build(st.conn(), Some("10.0.0.1".parse().unwrap())).unwrap();
        assert_eq!(idx.by_mac, fresh.by_mac);
        assert_eq!(idx.reserved, fresh.reserved);
        assert_eq!(idx.macs_of, fresh.macs_of);
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
