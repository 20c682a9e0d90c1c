//! The DHCP server (dhcproto): answers only MACs the mac table knows, with the address the hosts
//! table reserves for the node, the subnet settings of the networks table entry holding that
//! address, the lease time of site.dhcplease, and a boot answer chosen by the client: option 93
//! (architecture), option 60 (PXEClient / HTTPClient) and option 77 (user class iPXE).
//!
//! The MAC index follows the store: SQLite's data_version, checked per packet, says whether
//! anything changed, and the store's change journal which nodes' entries to read again.

use super::lock;
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
    let facing = std::cell::OnceCell::new();
    Ok(crate::store::networks::rows(conn)?
        .into_iter()
        .map(|r| Network {
            net: r.net,
            mask: r.mask,
            gateway: r.gateway.and_then(|g| Facing::address(&facing, r.net, &g, true)),
            dns: r
                .nameservers
                .map(|d| d.split(',').filter_map(|a| Facing::address(&facing, r.net, a, false)).collect())
                .unwrap_or_default(),
            domain: r.domain,
            dynamic: r.dynamicrange,
        })
        .collect())
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
        // A machine no node has (a discovery lease) boots genesis in discovery mode.
        if lease.node.is_empty() {
            return Some((format!("{http}/discover/boot.ipxe"), false));
        }
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
            // No address asked for (or none to give) is nothing to acknowledge.
            if asked == lease.ip && !asked.is_unspecified() {
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
        // Discovery leases (no node yet) boot genesis in discovery mode (see boot_answer).
        let boot = boot_answer(req, lease, idx.next_server(lease), idx.http_port);
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

/// How long an expired lease is kept (its client gets the same address back if it is still
/// free) before its row is deleted: Kea's default hold-reclaimed-time.
const GRACE_SECS: i64 = 3600;

/// Discovery leases held at most (offers, leases, declined addresses): past that, new clients
/// get nothing until some expire, however large the ranges and however many MACs ask.
pub const LEASES_MAX: usize = 65_536;

/// Addresses looked at per search of a range: a full range costs a bounded search.
const SEARCH_MAX: u32 = 1024;

/// How often expired offers and leases are swept out.
const SWEEP_EVERY_SECS: i64 = 10;

#[derive(Debug, Clone, Copy, PartialEq)]
enum HeldState {
    Offered,
    Bound,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    ip: u32,
    expires: i64,
    state: HeldState,
    /// Whether the dhcplease table has a row for it (bound leases do; offers are memory only).
    stored: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Holder {
    Mac([u8; 6]),
    /// Found in use by something else (DECLINE): kept out of use until then.
    Declined(i64),
}

/// The discovery leases (networks.dynamicrange) of every DHCP socket, held in memory: a packet
/// costs hash look-ups, never a table scan. Leases and declined addresses are written through to
/// the dhcplease table (they outlive a restart; rows go a grace period after they expire);
/// offers are held for a minute in memory only.
#[derive(Default)]
pub struct Leases {
    loaded: bool,
    by_mac: HashMap<[u8; 6], Held>,
    by_ip: HashMap<u32, Holder>,
    /// Next-fit: where the next search of each range (by its start) begins.
    cursor: HashMap<u32, u32>,
    /// Ranges searched in vain, not searched again before this second (a flood of new MACs
    /// against a full range costs a look-up each, not a search each).
    full_until: HashMap<u32, i64>,
    last_sweep: i64,
}

/// What the discovery path gives a client the store does not know.
#[derive(Debug, PartialEq)]
pub enum Grant {
    /// An address (DISCOVER, REQUEST) or the network's settings (INFORM).
    Lease(Lease),
    /// A REQUEST for an address it cannot have.
    Nak(Lease),
    /// No answer, and why (logged for a DISCOVER or REQUEST): no range for its network, or the
    /// range or the table is full.
    Refused(&'static str),
    /// No answer expected: RELEASE, DECLINE, a REQUEST to another server.
    Quiet,
}

fn mac_key(mac: &[u8; 6]) -> String {
    MacText(mac).to_string()
}

fn lease_table() -> &'static crate::store::schema::Table {
    crate::store::schema::table("dhcplease").expect("dhcplease")
}

impl Leases {
    pub fn shared() -> Arc<Mutex<Leases>> {
        Arc::new(Mutex::new(Leases::default()))
    }

    /// True when [`LEASES_MAX`] clients or addresses are held.
    fn full(&self) -> bool {
        self.by_mac.len() >= LEASES_MAX || self.by_ip.len() >= LEASES_MAX
    }

    /// How many clients hold an offer or a lease (the grace period's included).
    pub fn clients(&self) -> usize {
        self.by_mac.len()
    }

    /// Reads the dhcplease table once; rows expired longer than the grace period, and rows past
    /// [`LEASES_MAX`] (the soonest to expire), are deleted.
    fn load(&mut self, st: &mut Store, now: i64) -> crate::error::Result<()> {
        let t = lease_table();
        let mut rows: Vec<(String, Option<u32>, i64)> = crate::store::all_rows(st.conn(), t)?
            .into_iter()
            .map(|r| {
                let ip = r[1].as_deref().and_then(|i| i.parse::<Ipv4Addr>().ok()).map(u32::from);
                let expires = r[2].as_deref().and_then(|e| e.parse::<i64>().ok()).unwrap_or(0);
                (r[0].clone().unwrap_or_default(), ip, expires)
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.2));
        let mut stale = Vec::new();
        for (key, ip, expires) in rows {
            let Some(ip) = ip.filter(|_| expires + GRACE_SECS > now && !self.full()) else {
                stale.push(key);
                continue;
            };
            if self.by_ip.contains_key(&ip) {
                stale.push(key);
            } else if key.strip_prefix("declined:").is_some() {
                self.by_ip.insert(ip, Holder::Declined(expires));
            } else if let Some(mac) = mac_bytes(&key) {
                self.by_mac.insert(mac, Held { ip, expires, state: HeldState::Bound, stored: true });
                self.by_ip.insert(ip, Holder::Mac(mac));
            } else {
                stale.push(key);
            }
        }
        if !stale.is_empty() {
            st.write(|c| {
                for key in &stale {
                    store::delete_row(c, t, &[key])?;
                }
                Ok(())
            })?;
        }
        self.loaded = true;
        self.last_sweep = now;
        Ok(())
    }

    /// Forgets offers that ran out and leases and declines expired longer than the grace
    /// period (deleting their rows).
    fn sweep(&mut self, st: &mut Store, now: i64) -> crate::error::Result<()> {
        self.last_sweep = now;
        let mut stale: Vec<String> = Vec::new();
        let by_ip = &mut self.by_ip;
        self.by_mac.retain(|mac, h| {
            let keep = match h.state {
                HeldState::Offered => h.expires > now,
                HeldState::Bound => h.expires + GRACE_SECS > now,
            };
            if !keep {
                if h.stored {
                    stale.push(mac_key(mac));
                }
                if by_ip.get(&h.ip) == Some(&Holder::Mac(*mac)) {
                    by_ip.remove(&h.ip);
                }
            }
            keep
        });
        by_ip.retain(|ip, h| match h {
            Holder::Declined(expires) if *expires + GRACE_SECS <= now => {
                stale.push(format!("declined:{}", Ipv4Addr::from(*ip)));
                false
            }
            _ => true,
        });
        self.full_until.clear();
        if stale.is_empty() {
            return Ok(());
        }
        st.write(|c| {
            for key in &stale {
                store::delete_row(c, lease_table(), &[key])?;
            }
            Ok(())
        })
    }

    /// Whether `ip` can be given to `mac`: not reserved for a node, and held by nobody else
    /// whose offer, lease or decline is still running.
    fn free_for(&self, ip: u32, mac: &[u8; 6], idx: &Index, now: i64) -> bool {
        if idx.reserved.contains_key(&ip) {
            return false;
        }
        match self.by_ip.get(&ip) {
            None => true,
            Some(Holder::Mac(m)) if m == mac => true,
            Some(Holder::Mac(m)) => self.by_mac.get(m).is_none_or(|h| h.ip != ip || h.expires <= now),
            Some(Holder::Declined(expires)) => *expires <= now,
        }
    }

    /// A free address of `range` (next-fit, at most [`SEARCH_MAX`] looked at).
    fn search(&mut self, range: &Range, mac: &[u8; 6], idx: &Index, now: i64) -> Option<u32> {
        if range.end < range.start || self.full_until.get(&range.start).is_some_and(|t| *t >= now) {
            return None;
        }
        let size = u64::from(range.end - range.start) + 1;
        let probes = size.min(u64::from(SEARCH_MAX));
        let mut ip = self
            .cursor
            .get(&range.start)
            .copied()
            .filter(|c| (range.start..=range.end).contains(c))
            .unwrap_or(range.start);
        let next = |ip: u32| if ip >= range.end { range.start } else { ip + 1 };
        for _ in 0..probes {
            if self.free_for(ip, mac, idx, now) {
                self.cursor.insert(range.start, next(ip));
                return Some(ip);
            }
            ip = next(ip);
        }
        self.cursor.insert(range.start, ip);
        self.full_until.insert(range.start, now);
        None
    }

    /// The row to delete when `ip` goes to `mac`: the expired lease of another client on it.
    fn taken_from(&self, ip: u32, mac: &[u8; 6]) -> Option<String> {
        match self.by_ip.get(&ip) {
            Some(Holder::Mac(prev)) if prev != mac && self.by_mac.get(prev).is_some_and(|h| h.stored) => {
                Some(mac_key(prev))
            }
            Some(Holder::Declined(_)) => Some(format!("declined:{}", Ipv4Addr::from(ip))),
            _ => None,
        }
    }

    /// Gives `held.ip` to `mac` in memory (the caller writes the rows), taking it from an
    /// expired holder and freeing what `mac` held before.
    fn hold(&mut self, mac: [u8; 6], held: Held) {
        if let Some(Holder::Mac(prev)) = self.by_ip.insert(held.ip, Holder::Mac(mac)) {
            if prev != mac {
                self.by_mac.remove(&prev);
            }
        }
        if let Some(old) = self.by_mac.insert(mac, held) {
            if old.ip != held.ip && self.by_ip.get(&old.ip) == Some(&Holder::Mac(mac)) {
                self.by_ip.remove(&old.ip);
                self.full_until.clear();
            }
        }
    }

    /// Forgets what `mac` holds; whether it had a row.
    fn drop_mac(&mut self, mac: &[u8; 6]) -> Option<Held> {
        let h = self.by_mac.remove(mac)?;
        if self.by_ip.get(&h.ip) == Some(&Holder::Mac(*mac)) {
            self.by_ip.remove(&h.ip);
        }
        self.full_until.clear();
        Some(h)
    }

    /// For a MAC the store does not know: an address from the discovery range of the client's
    /// network (the relay's for relayed requests, else the server's). None when that network has
    /// no range (the default), or the range or [`LEASES_MAX`] is full. An offer is held for a
    /// minute; a REQUEST for an address the client may have binds it for site.dhcplease seconds
    /// (written to the dhcplease table, so that it survives restarts), any other REQUEST is
    /// NAKed and binds nothing; RELEASE frees the address, DECLINE keeps it out of use for a
    /// lease time.
    pub fn grant(&mut self, st: &mut Store, idx: &Index, req: &Message, now: i64) -> crate::error::Result<Grant> {
        if !self.loaded {
            self.load(st, now)?;
        }
        if now - self.last_sweep >= SWEEP_EVERY_SECS {
            self.sweep(st, now)?;
        }
        let anchor = u32::from(if req.giaddr().is_unspecified() { idx.server } else { req.giaddr() });
        let Some(range) =
            idx.ranges.iter().find(|r| anchor & u32::from(r.template.mask) == r.start & u32::from(r.template.mask))
        else {
            return Ok(Grant::Refused("no discovery range (networks.dynamicrange) for its network"));
        };
        let Some(mtype) = req.opts().msg_type() else { return Ok(Grant::Quiet) };
        let Some(mac) = req.chaddr().get(..6).and_then(|m| <[u8; 6]>::try_from(m).ok()) else {
            return Ok(Grant::Quiet);
        };
        let in_range = |ip: u32| (range.start..=range.end).contains(&ip);
        let mine = self.by_mac.get(&mac).copied().filter(|h| in_range(h.ip) && self.free_for(h.ip, &mac, idx, now));
        let lease_secs = idx.lease_secs as i64;
        match mtype {
            MessageType::Release => {
                if self.drop_mac(&mac).is_some_and(|h| h.stored) {
                    st.write(|c| store::delete_row(c, lease_table(), &[&mac_key(&mac)]).map(|_| ()))?;
                }
                Ok(Grant::Quiet)
            }
            MessageType::Decline => {
                if let Some(h) = self.drop_mac(&mac) {
                    let expires = now + lease_secs;
                    self.by_ip.insert(h.ip, Holder::Declined(expires));
                    let (ip, expires) = (Ipv4Addr::from(h.ip).to_string(), expires.to_string());
                    st.write(|c| {
                        store::delete_row(c, lease_table(), &[&mac_key(&mac)])?;
                        store::upsert(
                            c,
                            lease_table(),
                            &[&format!("declined:{ip}")],
                            &[("ip", Some(&ip)), ("expires", Some(&expires)), ("state", Some("declined"))],
                        )
                    })?;
                }
                Ok(Grant::Quiet)
            }
            // Settings only: the client has its address.
            MessageType::Inform => Ok(Grant::Lease(range.template.clone())),
            MessageType::Discover => {
                let ip = match mine {
                    Some(h) => h.ip,
                    None => {
                        if self.full() {
                            return Ok(Grant::Refused("the discovery lease table is full"));
                        }
                        match self.search(range, &mac, idx, now) {
                            Some(ip) => ip,
                            None => return Ok(Grant::Refused("its discovery range is full")),
                        }
                    }
                };
                // A client still bound keeps its lease; anyone else gets a minute's hold.
                if !mine.is_some_and(|h| h.state == HeldState::Bound && h.expires > now) {
                    // An expired lease's row stays until the address is bound again or swept.
                    let stored = mine.is_some_and(|h| h.stored);
                    if let Some(key) = self.taken_from(ip, &mac) {
                        st.write(|c| store::delete_row(c, lease_table(), &[&key]).map(|_| ()))?;
                    }
                    self.hold(mac, Held { ip, expires: now + OFFER_HOLD_SECS, state: HeldState::Offered, stored });
                }
                Ok(Grant::Lease(Lease { ip: Ipv4Addr::from(ip), ..range.template.clone() }))
            }
            MessageType::Request => {
                if let Some(DhcpOption::ServerIdentifier(sid)) = req.opts().get(OptionCode::ServerIdentifier) {
                    if *sid != idx.server {
                        // It chose another server's offer: ours is free again.
                        if mine.is_some_and(|h| h.state == HeldState::Offered) {
                            self.drop_mac(&mac);
                        }
                        return Ok(Grant::Quiet);
                    }
                }
                let asked = match req.opts().get(OptionCode::RequestedIpAddress) {
                    Some(DhcpOption::RequestedIpAddress(a)) => u32::from(*a),
                    _ => u32::from(req.ciaddr()),
                };
                let may = asked != 0 && in_range(asked) && self.free_for(asked, &mac, idx, now);
                if !may || (self.full() && !self.by_mac.contains_key(&mac)) {
                    return Ok(Grant::Nak(range.template.clone()));
                }
                // The rows first: memory follows what landed.
                let expires = now + lease_secs;
                let gone = self.taken_from(asked, &mac);
                let (key, ip, until) = (mac_key(&mac), Ipv4Addr::from(asked).to_string(), expires.to_string());
                st.write(|c| {
                    if let Some(gone) = &gone {
                        store::delete_row(c, lease_table(), &[gone])?;
                    }
                    store::upsert(
                        c,
                        lease_table(),
                        &[&key],
                        &[("ip", Some(&ip)), ("expires", Some(&until)), ("state", Some("bound"))],
                    )
                })?;
                self.hold(mac, Held { ip: asked, expires, state: HeldState::Bound, stored: true });
                Ok(Grant::Lease(Lease { ip: Ipv4Addr::from(asked), ..range.template.clone() }))
            }
            _ => Ok(Grant::Quiet),
        }
    }
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

/// Why a received packet is dropped unread. Only Ethernet clients' BOOTREQUESTs carrying the
/// DHCP magic cookie are answered: the MAC table holds Ethernet addresses, and anything else
/// (a hardware address longer than the 16-byte field, random bytes) must never reach the code
/// that reads the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    Short(usize),
    Opcode(u8),
    HType(u8),
    HLen(u8),
    Cookie,
    Options,
}

impl Malformed {
    /// A short name for rate-limiting: one line per sender and kind.
    fn kind(&self) -> &'static str {
        match self {
            Malformed::Short(_) => "short",
            Malformed::Opcode(_) => "op",
            Malformed::HType(_) => "htype",
            Malformed::HLen(_) => "hlen",
            Malformed::Cookie => "cookie",
            Malformed::Options => "options",
        }
    }
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Malformed::Short(n) => write!(f, "{n} bytes, shorter than a DHCP header (240)"),
            Malformed::Opcode(o) => write!(f, "op {o} (neither BOOTREQUEST nor BOOTREPLY)"),
            Malformed::HType(t) => write!(f, "hardware type {t} (only Ethernet, htype 1, is served)"),
            Malformed::HLen(l) => write!(f, "hardware address length {l} (Ethernet's is 6)"),
            Malformed::Cookie => write!(f, "no DHCP magic cookie (99.130.83.99)"),
            Malformed::Options => write!(f, "its options cannot be decoded"),
        }
    }
}

/// The fixed BOOTP header (RFC 2131: op .. file) and the magic cookie after it.
const HEADER: usize = 236;

/// Checks the fixed header of a received packet: Some(request) for a BOOTREQUEST this server
/// may answer, None for a BOOTREPLY (another server's answer: not ours to read).
pub fn decode_request(packet: &[u8]) -> Result<Option<Message>, Malformed> {
    if packet.len() < HEADER + 4 {
        return Err(Malformed::Short(packet.len()));
    }
    match packet[0] {
        1 => {}
        2 => return Ok(None),
        op => return Err(Malformed::Opcode(op)),
    }
    if packet[1] != 1 {
        return Err(Malformed::HType(packet[1]));
    }
    if packet[2] != 6 {
        return Err(Malformed::HLen(packet[2]));
    }
    if packet[HEADER..HEADER + 4] != dhcproto::v4::MAGIC {
        return Err(Malformed::Cookie);
    }
    if !options_fit(&packet[HEADER + 4..]) {
        return Err(Malformed::Options);
    }
    Message::decode(&mut Decoder::new(packet)).map(Some).map_err(|_| Malformed::Options)
}

/// Options whose length dhcproto 0.15 asserts or subtracts from unchecked (a panic in a build
/// with debug assertions; found by the fuzz target): code, least and most length (RFC 4039,
/// 4702, 4578, 6926).
const OPTION_LENGTHS: &[(u8, usize, usize)] = &[
    (80, 0, 0),
    (81, 3, usize::MAX),
    (94, 3, 3),
    (151, 1, usize::MAX),
    (152, 4, 4),
    (153, 4, 4),
    (154, 4, 4),
    (155, 4, 4),
];

/// True when every option lies within the packet and those of [`OPTION_LENGTHS`] have a length
/// allowed (an option given in several consecutive parts counts as one, RFC 3396).
fn options_fit(options: &[u8]) -> bool {
    let allowed = |(code, len): (u8, usize)| {
        OPTION_LENGTHS.iter().find(|(c, ..)| *c == code).is_none_or(|(_, least, most)| (*least..=*most).contains(&len))
    };
    let mut part: Option<(u8, usize)> = None;
    let mut i = 0;
    while let Some(&code) = options.get(i) {
        if code == 0 || code == 255 {
            // Pad ends an option given in parts; End ends them all.
            if part.take().is_some_and(|p| !allowed(p)) {
                return false;
            }
            if code == 255 {
                return true;
            }
            i += 1;
            continue;
        }
        let Some(&len) = options.get(i + 1) else { return false };
        let len = usize::from(len);
        if i + 2 + len > options.len() {
            return false;
        }
        part = match part {
            Some((c, sum)) if c == code => Some((c, sum + len)),
            Some(p) if !allowed(p) => return false,
            _ => Some((code, len)),
        };
        i += 2 + len;
    }
    part.is_none_or(allowed)
}

/// What became of one received packet.
#[derive(Debug)]
pub enum Outcome {
    /// An answer: the message, its bytes, where it goes, and for whom (a node, or "discovery").
    Reply { reply: Message, bytes: Vec<u8>, to: SocketAddr, node: String, req: Message },
    /// A DISCOVER or REQUEST of a MAC no node has, not answered, and why (the line admins look for).
    Unknown { req: Message, why: &'static str },
    /// Nothing to say: another server's BOOTREPLY, a RELEASE, a non-boot client of a proxy, ...
    Quiet,
    /// Dropped unread.
    Malformed(Malformed),
}

/// One DHCP socket's server: the MAC index, the store it follows, and the discovery leases
/// (shared by every socket).
pub struct Server {
    index: Index,
    store: Arc<Mutex<Store>>,
    leases: Arc<Mutex<Leases>>,
    proxy: bool,
    /// The last error met with the store, for the caller to log.
    store_error: Option<String>,
    /// When the store was last asked whether anything changed.
    checked: Option<std::time::Instant>,
    /// Where proxyDHCP notes the address each known node uses (it comes from another server), so
    /// that what a node's token opens can be answered to that address.
    seen: Option<Arc<super::scope::Seen>>,
}

/// How often the store is asked whether the index is current: a change is seen at most this much
/// later, and a flood of packets costs no store read each.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(1);

impl Server {
    pub fn new(
        store: Arc<Mutex<Store>>,
        leases: Arc<Mutex<Leases>>,
        server: Option<Ipv4Addr>,
        proxy: bool,
    ) -> crate::error::Result<Server> {
        let index = {
            let st = lock(&store);
            // A client retries in seconds: better to drop one packet than to wait a minute for
            // another process's write transaction.
            st.conn().busy_timeout(std::time::Duration::from_secs(1))?;
            Index::build(st.conn(), server)?
        };
        Ok(Server { index, store, leases, proxy, store_error: None, checked: None, seen: None })
    }

    /// Notes in `seen` the address each known node uses (proxyDHCP only).
    pub fn noting_addresses(mut self, seen: Arc<super::scope::Seen>) -> Server {
        self.seen = Some(seen);
        self
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    /// An error met with the store since the last call, as a log line says it.
    pub fn take_store_error(&mut self) -> Option<String> {
        self.store_error.take()
    }

    /// Everything done with the bytes of a received packet: checked, decoded, the index brought
    /// up to date with the store, and answered (a reservation, a discovery lease, proxyDHCP).
    pub fn handle(&mut self, packet: &[u8], from: SocketAddr) -> Outcome {
        let req = match decode_request(packet) {
            Ok(Some(req)) => req,
            Ok(None) => return Outcome::Quiet,
            Err(m) => return Outcome::Malformed(m),
        };
        let now = std::time::Instant::now();
        if self.checked.is_none_or(|t| now.duration_since(t) >= CHECK_EVERY) {
            self.checked = Some(now);
            if let Err(e) = self.index.refresh(lock(&self.store).conn()) {
                self.store_error = Some(format!("keeping the previous index: {e}"));
            }
        }
        let node = self.index.lookup(req.chaddr()).map(|l| l.node.clone());
        if let (true, Some(seen), Some(node), Some(addr)) = (self.proxy, &self.seen, &node, address_used(&req)) {
            // chaddr and ciaddr are the sender's say-so: an address is noted only when the packet
            // comes from it, or from a client on this link that has none yet (0.0.0.0, not
            // relayed), never from another host speaking for the node.
            let direct = from.ip() == std::net::IpAddr::V4(addr)
                || (from.ip().is_unspecified() && req.giaddr().is_unspecified());
            if direct {
                seen.note(node, addr.into());
            }
        }
        let answer = if self.proxy {
            if node.is_none() && Client::of(&req).boots() {
                return unknown(req, "");
            }
            proxy_answer(&req, &self.index, from)
        } else if node.is_none() {
            // A lease is a store write, which may wait for another process's writer: off the
            // runtime's workers, so HTTP and TFTP keep serving meanwhile.
            let granted = tokio::task::block_in_place(|| {
                let mut st = lock(&self.store);
                lock(&self.leases).grant(&mut st, &self.index, &req, unix_now())
            });
            match granted {
                Ok(Grant::Lease(lease) | Grant::Nak(lease)) => reply(&req, &lease, &self.index),
                Ok(Grant::Refused(why)) => return unknown(req, why),
                Ok(Grant::Quiet) => None,
                Err(e) => {
                    self.store_error = Some(format!("discovery lease: {e}"));
                    None
                }
            }
        } else {
            answer(&req, &self.index)
        };
        let Some((reply, to)) = answer else { return Outcome::Quiet };
        let mut bytes = Vec::with_capacity(548);
        if reply.encode(&mut Encoder::new(&mut bytes)).is_err() {
            return Outcome::Quiet;
        }
        Outcome::Reply { reply, bytes, to, node: node.unwrap_or_else(|| "discovery".into()), req }
    }
}

/// Only DISCOVERs and REQUESTs of unknown MACs are worth a line: the rest is quiet.
fn unknown(req: Message, why: &'static str) -> Outcome {
    if matches!(req.opts().msg_type(), Some(MessageType::Discover | MessageType::Request)) {
        Outcome::Unknown { req, why }
    } else {
        Outcome::Quiet
    }
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

/// Binds (a port in use is a startup error); returns the bound address and the future that serves
/// `srv` there.
pub async fn bind(
    addr: SocketAddr,
    interface: Option<&str>,
    mut srv: Server,
    log: Log,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>), String> {
    let sock = socket(addr, interface)?;
    let bound = sock.local_addr().map_err(|e| e.to_string())?;
    let sock = tokio::net::UdpSocket::from_std(sock).map_err(|e| e.to_string())?;
    let kind = if srv.proxy { "proxyDHCP" } else { "DHCP" };
    let via = interface.map(|i| format!(" via {i}")).unwrap_or_default();
    let tied = interface.is_some();
    Ok((bound, async move {
        let mut buf = vec![0u8; 1500];
        // Unknown clients retry every few seconds and a broken route fails every reply: one line
        // per client or destination every five minutes.
        let mut limiter = Limiter::new(std::time::Duration::from_secs(300));
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else { continue };
            // A bug met on one packet drops that packet, not the service.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| srv.handle(&buf[..n], from)));
            if let Some(e) = srv.take_store_error() {
                if limiter.allow(format!("store {e}")) {
                    log.problem(format!("oxcatd: {kind}: {e}"));
                }
            }
            let outcome = match outcome {
                Ok(o) => o,
                Err(_) => {
                    if limiter.allow(format!("panic {}", from.ip())) {
                        log.problem(format!(
                            "oxcatd: {kind}: packet from {from}{via} dropped: oxcatd failed on it (a bug)"
                        ));
                    }
                    continue;
                }
            };
            let (reply, bytes, to, node, req) = match outcome {
                Outcome::Reply { reply, bytes, to, node, req } => (reply, bytes, to, node, req),
                Outcome::Quiet => continue,
                Outcome::Malformed(m) => {
                    if limiter.allow(format!("malformed {} {}", from.ip(), m.kind())) {
                        log.problem(format!("oxcatd: {kind}: packet from {from}{via} dropped: {m}"));
                    }
                    continue;
                }
                Outcome::Unknown { req, why } => {
                    // The silent failure admins hunt for: a node whose MAC was never enrolled.
                    if limiter.allow(format!("unknown {:?}", req.chaddr())) {
                        log.problem(format!(
                            "oxcatd: {kind}: {} from {}{via} not answered: MAC not in the mac table{}{why}",
                            type_name(req.opts().msg_type()),
                            mac_text(req.chaddr()),
                            if why.is_empty() { "" } else { " and " },
                        ));
                    }
                    continue;
                }
            };
            match sock.send_to(&bytes, to).await {
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

/// The address a client says it has (ciaddr) or asks for (option 50): with proxyDHCP, what
/// another server gave it, and where its requests for boot files come from (see `daemon::scope`).
fn address_used(req: &Message) -> Option<Ipv4Addr> {
    if !req.ciaddr().is_unspecified() {
        return Some(req.ciaddr());
    }
    match req.opts().get(OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(a)) if !a.is_unspecified() => Some(*a),
        _ => None,
    }
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

    /// A store with network lab (range 10.0.0.200-10.0.0.202) and n1 reserved 10.0.0.201.
    fn range_store(dir: &std::path::Path) -> Store {
        let mut st = Store::open(&dir.join("t.db")).unwrap();
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
        st
    }

    fn with_type(mac: [u8; 6], t: MessageType, asked: Option<&str>) -> Message {
        let mut m = sample_discover(&mac, None, None, None);
        m.opts_mut().insert(DhcpOption::MessageType(t));
        if let Some(a) = asked {
            m.opts_mut().insert(DhcpOption::RequestedIpAddress(a.parse().unwrap()));
        }
        m
    }

    fn lease_rows(st: &Store) -> Vec<String> {
        let rows = store::all_rows(st.conn(), lease_table()).unwrap();
        rows.iter()
            .map(|r| format!("{} {} {}", r[0].as_deref().unwrap(), r[1].as_deref().unwrap(), r[3].as_deref().unwrap()))
            .collect()
    }

    #[test]
    fn discovery_range_hands_out_kept_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = range_store(dir.path());
        let idx = Index::build(st.conn(), Some("10.0.0.1".parse().unwrap())).unwrap();
        let mut leases = Leases::default();
        let now = 1_000_000;
        let mut ip = |st: &mut Store, m: &Message| match leases.grant(st, &idx, m, now).unwrap() {
            Grant::Lease(l) => Some(l.ip.to_string()),
            _ => None,
        };
        let discover = |mac: [u8; 6]| sample_discover(&mac, None, None, None);
        // 10.0.0.201 is reserved for n1: skipped.
        assert_eq!(ip(&mut st, &discover([2, 0, 0, 0, 0, 1])).as_deref(), Some("10.0.0.200"));
        assert_eq!(ip(&mut st, &discover([2, 0, 0, 0, 0, 2])).as_deref(), Some("10.0.0.202"));
        // The same client keeps its address; the range is full for a third.
        assert_eq!(ip(&mut st, &discover([2, 0, 0, 0, 0, 1])).as_deref(), Some("10.0.0.200"));
        assert_eq!(ip(&mut st, &discover([2, 0, 0, 0, 0, 3])), None);
        // Offers are held in memory only; a REQUEST for the offered address binds it, in the table.
        assert!(lease_rows(&st).is_empty());
        let req = with_type([2, 0, 0, 0, 0, 1], MessageType::Request, Some("10.0.0.200"));
        assert_eq!(ip(&mut st, &req).as_deref(), Some("10.0.0.200"));
        assert_eq!(lease_rows(&st), ["02:00:00:00:00:01 10.0.0.200 bound"]);
        // RELEASE frees it; a DECLINE keeps the address out of use.
        assert_eq!(ip(&mut st, &with_type([2, 0, 0, 0, 0, 1], MessageType::Release, None)), None);
        assert!(lease_rows(&st).is_empty());
        assert_eq!(ip(&mut st, &discover([2, 0, 0, 0, 0, 3])).as_deref(), Some("10.0.0.200"));
        assert_eq!(ip(&mut st, &with_type([2, 0, 0, 0, 0, 3], MessageType::Decline, None)), None);
        assert_eq!(lease_rows(&st), ["declined:10.0.0.200 10.0.0.200 declined"]);
        assert_eq!(ip(&mut st, &discover([2, 0, 0, 0, 0, 4])), None, "the declined address was handed out again");
        // Without a range (another network), unknown MACs get nothing.
        let far = Index::build(st.conn(), Some("192.0.2.1".parse().unwrap())).unwrap();
        assert_eq!(
            Leases::default().grant(&mut st, &far, &discover([2, 0, 0, 0, 0, 5]), now).unwrap(),
            Grant::Refused("no discovery range (networks.dynamicrange) for its network")
        );
    }

    #[test]
    fn a_nak_binds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = range_store(dir.path());
        let idx = Index::build(st.conn(), Some("10.0.0.1".parse().unwrap())).unwrap();
        let mut leases = Leases::default();
        let mac = [2, 0, 0, 0, 0, 1];
        // An address outside the range, the one reserved for n1, or none at all: NAKed, no row.
        for asked in [Some("10.0.0.99"), Some("10.0.0.201"), None] {
            let req = with_type(mac, MessageType::Request, asked);
            let g = leases.grant(&mut st, &idx, &req, 1_000_000).unwrap();
            assert!(matches!(g, Grant::Nak(_)), "{asked:?}: {g:?}");
            let (nak, _) = reply(
                &req,
                &match g {
                    Grant::Nak(l) => l,
                    _ => unreachable!(),
                },
                &idx,
            )
            .unwrap();
            assert_eq!(nak.opts().msg_type(), Some(MessageType::Nak));
            assert!(lease_rows(&st).is_empty(), "{asked:?}: {:?}", lease_rows(&st));
        }
        assert_eq!(leases.clients(), 0);
        // An address another client holds: NAKed too.
        leases
            .grant(&mut st, &idx, &with_type([2, 0, 0, 0, 0, 2], MessageType::Request, Some("10.0.0.202")), 1_000_000)
            .unwrap();
        let g =
            leases.grant(&mut st, &idx, &with_type(mac, MessageType::Request, Some("10.0.0.202")), 1_000_000).unwrap();
        assert!(matches!(g, Grant::Nak(_)), "{g:?}");
        assert_eq!(lease_rows(&st), ["02:00:00:00:00:02 10.0.0.202 bound"]);
    }

    #[test]
    fn expired_leases_are_pruned_after_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = range_store(dir.path());
        let idx = Index::build(st.conn(), Some("10.0.0.1".parse().unwrap())).unwrap();
        let (t0, lease) = (1_000_000, i64::from(idx.lease_secs));
        // Rows written by an older oxcatd: one long expired, one still running.
        st.write(|c| {
            c.execute_batch(&format!(
                "INSERT INTO dhcplease (mac, ip, expires, state) VALUES ('02:00:00:00:00:09', '10.0.0.202', '{}', 'bound'),
                 ('02:00:00:00:00:08', '10.0.0.200', '{}', 'bound')",
                t0 - GRACE_SECS - 1,
                t0 + 10
            ))?;
            Ok(())
        })
        .unwrap();
        let mut leases = Leases::default();
        let req = with_type([2, 0, 0, 0, 0, 1], MessageType::Request, Some("10.0.0.202"));
        assert!(matches!(leases.grant(&mut st, &idx, &req, t0).unwrap(), Grant::Lease(_)));
        assert_eq!(lease_rows(&st), ["02:00:00:00:00:01 10.0.0.202 bound", "02:00:00:00:00:08 10.0.0.200 bound"]);
        // Expired, but within the grace period: the row stays and its client gets the address back.
        let later = t0 + 10 + 1;
        let d8 = sample_discover(&[2, 0, 0, 0, 0, 8], None, None, None);
        assert!(
            matches!(leases.grant(&mut st, &idx, &d8, later).unwrap(), Grant::Lease(l) if l.ip.to_string() == "10.0.0.200")
        );
        assert_eq!(lease_rows(&st).len(), 2);
        // Past the grace period, both expired rows go at the next sweep.
        let gone = t0 + lease + GRACE_SECS + 1;
        let d7 = sample_discover(&[2, 0, 0, 0, 0, 7], None, None, None);
        assert!(matches!(leases.grant(&mut st, &idx, &d7, gone).unwrap(), Grant::Lease(_)));
        assert!(lease_rows(&st).is_empty(), "{:?}", lease_rows(&st));
        assert_eq!(leases.clients(), 1, "only the new offer is held");
    }

    #[test]
    fn a_flood_of_new_macs_holds_a_bounded_number_of_leases() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Store::open(&dir.path().join("t.db")).unwrap();
        // A /8 range: far more addresses than clients may hold.
        st.write(|c| {
            c.execute_batch("INSERT INTO networks (netname, net, mask, dynamicrange) VALUES ('big', '10.0.0.0', '255.0.0.0', '10.0.0.10-10.255.255.250')")?;
            Ok(())
        })
        .unwrap();
        let idx = Index::build(st.conn(), Some("10.0.0.1".parse().unwrap())).unwrap();
        let mut leases = Leases::default();
        let mut offered = 0;
        for i in 0..(LEASES_MAX as u32 + 1000) {
            let b = i.to_be_bytes();
            let d = sample_discover(&[2, 0, b[0], b[1], b[2], b[3]], None, None, None);
            if matches!(leases.grant(&mut st, &idx, &d, 1_000_000).unwrap(), Grant::Lease(_)) {
                offered += 1;
            }
        }
        assert_eq!(offered, LEASES_MAX);
        assert_eq!(leases.clients(), LEASES_MAX);
        // A minute later the offers ran out: new clients are served again.
        let d = sample_discover(&[2, 1, 0, 0, 0, 1], None, None, None);
        assert!(matches!(
            leases.grant(&mut st, &idx, &d, 1_000_000 + OFFER_HOLD_SECS + SWEEP_EVERY_SECS).unwrap(),
            Grant::Lease(_)
        ));
        assert_eq!(leases.clients(), 1);
    }

    fn encoded(m: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        m.encode(&mut Encoder::new(&mut out)).unwrap();
        out
    }

    #[test]
    fn packets_that_are_not_ethernet_dhcp_requests_are_dropped_unread() {
        let good = encoded(&request(None, None, None));
        assert!(decode_request(&good).unwrap().is_some());
        let with = |at: usize, b: u8| {
            let mut p = good.clone();
            p[at] = b;
            decode_request(&p)
        };
        // hlen 17 made dhcproto's chaddr() panic.
        assert_eq!(with(2, 17).unwrap_err(), Malformed::HLen(17));
        assert_eq!(with(2, 255).unwrap_err(), Malformed::HLen(255));
        assert_eq!(with(1, 0).unwrap_err(), Malformed::HType(0));
        assert_eq!(with(236, 0).unwrap_err(), Malformed::Cookie);
        assert_eq!(with(0, 7).unwrap_err(), Malformed::Opcode(7));
        assert!(with(0, 2).unwrap().is_none(), "another server's BOOTREPLY is not ours to read");
        assert_eq!(decode_request(&good[..239]).unwrap_err(), Malformed::Short(239));
        assert_eq!(decode_request(&[]).unwrap_err(), Malformed::Short(0));
        // Option lengths dhcproto asserts: the fuzz target's first crash was option 81 (client
        // FQDN) with length 0 (fuzz/artifacts/dhcp/crash-c4293e60...).
        let with_option = |opt: &[u8]| {
            let mut p = good[..240].to_vec();
            p.extend_from_slice(&[53, 1, 1]);
            p.extend_from_slice(opt);
            p.push(255);
            decode_request(&p)
        };
        for bad in
            [&[81, 0][..], &[81, 2, 0, 0], &[80, 1, 0], &[94, 2, 1, 2], &[151, 0], &[152, 3, 0, 0, 0], &[60, 9, 1]]
        {
            assert_eq!(with_option(bad).unwrap_err(), Malformed::Options, "{bad:?}");
        }
        // In two parts (RFC 3396), the whole counts; a client FQDN of 3 bytes and more is fine.
        assert!(with_option(&[81, 1, 0, 81, 2, 0, 0]).unwrap().is_some());
        assert!(with_option(&[81, 3, 0, 0, 0]).unwrap().is_some());
        assert_eq!(with_option(&[81, 1, 0, 0, 81, 2, 0, 0]).unwrap_err(), Malformed::Options);
        assert!(with_option(&[94, 3, 1, 2, 0, 80, 0]).unwrap().is_some());
    }

    #[test]
    fn the_server_answers_known_macs_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let st = range_store(dir.path());
        let mut srv =
            Server::new(Arc::new(Mutex::new(st)), Leases::shared(), Some("10.0.0.1".parse().unwrap()), false).unwrap();
        let from: SocketAddr = "0.0.0.0:68".parse().unwrap();
        let good = encoded(&request(None, None, None));
        match srv.handle(&good, from) {
            Outcome::Reply { reply, node, .. } => {
                assert_eq!(node, "n1");
                assert_eq!(reply.yiaddr(), Ipv4Addr::new(10, 0, 0, 201));
            }
            other => panic!("{other:?}"),
        }
        let mut long = good.clone();
        long[2] = 17;
        assert!(matches!(srv.handle(&long, from), Outcome::Malformed(Malformed::HLen(17))));
        // The reproducer: a 244-byte BOOTREQUEST with hlen 17.
        assert!(matches!(srv.handle(&long[..244], from), Outcome::Malformed(Malformed::HLen(17))));
    }

    /// proxyDHCP notes the address a node uses only from the node itself: a host elsewhere that
    /// sends a REQUEST with the node's MAC and its own address as ciaddr gains nothing.
    #[test]
    fn proxy_notes_a_nodes_address_only_from_that_address() {
        let dir = tempfile::tempdir().unwrap();
        let st = range_store(dir.path());
        let seen = Arc::new(super::super::scope::Seen::default());
        let mut srv = Server::new(Arc::new(Mutex::new(st)), Leases::shared(), Some("10.0.0.1".parse().unwrap()), true)
            .unwrap()
            .noting_addresses(seen.clone());
        let mut req = with_type([0x52, 0x54, 0, 0, 0, 1], MessageType::Request, None);
        req.set_ciaddr(Ipv4Addr::new(10, 9, 9, 9));
        let packet = encoded(&req);
        srv.handle(&packet, "10.1.1.1:68".parse().unwrap());
        assert_eq!(seen.get("n1"), None, "a relayed or forged claim is not noted");
        srv.handle(&packet, "10.9.9.9:4011".parse().unwrap());
        assert_eq!(seen.get("n1"), Some("10.9.9.9".parse().unwrap()));
        // A client without an address yet asks for one from 0.0.0.0 (option 50).
        let asked = encoded(&with_type([0x52, 0x54, 0, 0, 0, 1], MessageType::Request, Some("10.0.0.77")));
        srv.handle(&asked, "0.0.0.0:68".parse().unwrap());
        assert_eq!(seen.get("n1"), Some("10.0.0.77".parse().unwrap()));
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
