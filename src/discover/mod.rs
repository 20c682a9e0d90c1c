//! Discovery (xCAT's nodediscover*): a machine no node has (its MAC gets a discovery-range
//! address) boots genesis in discovery mode; the node agent collects its inventory
//! ([`inventory`]) and posts it to oxcatd (`POST /discover?token=T`, see [`Report`]); oxcatd
//! matches it to a node (by a MAC the node has, by serial and model predefined in vpd, or the
//! next free name of a sequential discovery) and writes the node's mac, hwinv and vpd rows in one
//! transaction ([`record`]); a machine nothing matches is kept in discoverydata as `undef`, for
//! `nodediscoverls` and `nodediscoverdef`. The node's chain (chain.chain: `runcmd=bmcsetup`,
//! `osimage=IMAGE`) says what it does next: the reply carries its BMC settings, and its deploy
//! is set up as nodeset would.
//!
//! Discovery runs between `nodediscoverstart` and `nodediscoverstop` (site.__SEQDiscover holds a
//! sequential discovery's parameters, as xCAT's; site.__Discover=yes one without a noderange):
//! while it is stopped a report changes nothing.

pub mod agent;
pub mod inventory;
pub mod kcs;

use crate::error::Result;
use crate::store::{self, schema, view::NodeView};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// The most of a report's body oxcatd reads (a machine with 64 NICs and 256 disks fits easily).
pub const MAX_REPORT: usize = 64 * 1024;
/// Limits of a report's lists and texts.
const MAX_NICS: usize = 64;
const MAX_DISKS: usize = 256;
const MAX_TEXT: usize = 128;

/// site keys: a sequential discovery's parameters (xCAT's name), and discovery without one.
pub const SEQ_KEY: &str = "__SEQDiscover";
pub const ON_KEY: &str = "__Discover";

/// What the node agent reports: the machine's inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// DMI system UUID (lower case, 8-4-4-4-12 hex).
    pub uuid: String,
    #[serde(default)]
    pub serial: String,
    /// DMI product name: the machine type and model.
    #[serde(default)]
    pub mtm: String,
    #[serde(default)]
    pub vendor: String,
    pub arch: String,
    /// The NIC the machine booted from (its discovery lease).
    pub bootmac: String,
    pub cpu: Cpu,
    pub memory_mb: u64,
    #[serde(default)]
    pub disks: Vec<crate::deploy::disks::Disk>,
    pub nics: Vec<Nic>,
    #[serde(default)]
    pub bmc: Option<Bmc>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cpu {
    pub model: String,
    pub count: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    pub name: String,
    pub mac: String,
    pub carrier: bool,
    /// Link speed in Mb/s where the driver says.
    #[serde(default)]
    pub speed: Option<u32>,
}

/// The BMC as the in-band interface (KCS) reports it: LAN channel address and MAC.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bmc {
    pub ip: String,
    pub mac: String,
}

/// What the agent is told back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The node it is now, if matched.
    pub node: Option<String>,
    /// mac, mtms, sequential, or undef.
    pub method: String,
    /// Set the BMC up in-band (chain `runcmd=bmcsetup`).
    pub bmcsetup: Option<BmcSetup>,
    /// Reboot: the node's next boot is set (chain `osimage=IMAGE`); else stay in genesis.
    pub reboot: bool,
    /// What went wrong with the node's chain, if anything (the discovery itself is recorded).
    #[serde(default)]
    pub problem: Option<String>,
}

/// The BMC's LAN settings and the user to set, from the node's ipmi row and the passwd table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BmcSetup {
    pub ip: String,
    pub netmask: String,
    #[serde(default)]
    pub gateway: Option<String>,
    pub username: String,
    pub password: String,
}

fn text_ok(what: &str, v: &str) -> std::result::Result<(), String> {
    if v.len() > MAX_TEXT {
        return Err(format!("{what} is at most {MAX_TEXT} bytes (got {})", v.len()));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{what} must be printable text (no control characters)"));
    }
    Ok(())
}

/// A UUID as DMI gives it: 8-4-4-4-12 hex digits.
pub fn check_uuid(u: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = u.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    if lens != [8, 4, 4, 4, 12] || !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(format!("uuid '{}' is not a UUID (allowed: 8-4-4-4-12 hex digits)", u.escape_debug()));
    }
    Ok(())
}

impl Report {
    /// Parses and checks a report's body; the error says which field and what is allowed.
    pub fn parse(body: &[u8]) -> std::result::Result<Report, String> {
        if body.len() > MAX_REPORT {
            return Err(format!("a discovery report is at most {MAX_REPORT} bytes (got {})", body.len()));
        }
        let mut r: Report = serde_json::from_slice(body).map_err(|e| format!("malformed discovery report: {e}"))?;
        r.check()?;
        r.uuid = r.uuid.to_ascii_lowercase();
        r.bootmac = crate::node::parse_mac(&r.bootmac).map_err(|e| format!("bootmac: {e}"))?;
        for n in &mut r.nics {
            n.mac = crate::node::parse_mac(&n.mac).map_err(|e| format!("nic {}: mac: {e}", n.name))?;
        }
        Ok(r)
    }

    /// Checks every field against its limits.
    pub fn check(&self) -> std::result::Result<(), String> {
        check_uuid(&self.uuid)?;
        for (what, v) in
            [("serial", &self.serial), ("mtm", &self.mtm), ("vendor", &self.vendor), ("cpu.model", &self.cpu.model)]
        {
            text_ok(what, v)?;
        }
        if !schema::ARCHES.contains(&self.arch.as_str()) {
            return Err(format!(
                "arch '{}' is not allowed (allowed: {})",
                self.arch.escape_debug(),
                schema::ARCHES.join(", ")
            ));
        }
        if !(1..=65536).contains(&self.cpu.count) {
            return Err(format!("cpu.count {} is not allowed (allowed: 1-65536)", self.cpu.count));
        }
        if self.memory_mb == 0 || self.memory_mb > 1 << 32 {
            return Err(format!("memory_mb {} is not allowed (allowed: 1-{})", self.memory_mb, 1u64 << 32));
        }
        if self.nics.is_empty() || self.nics.len() > MAX_NICS {
            return Err(format!("nics: {} given (allowed: 1-{MAX_NICS})", self.nics.len()));
        }
        if self.disks.len() > MAX_DISKS {
            return Err(format!("disks: {} given (allowed: at most {MAX_DISKS})", self.disks.len()));
        }
        let boot = crate::node::parse_mac(&self.bootmac).map_err(|e| format!("bootmac: {e}"))?;
        let mut boot_listed = false;
        for n in &self.nics {
            text_ok("nic name", &n.name)?;
            if n.name.is_empty() || n.name.contains([',', '!', '|', ' ']) {
                return Err(format!(
                    "nic name '{}' is not allowed (an interface name: no ',', '!', '|' or spaces)",
                    n.name.escape_debug()
                ));
            }
            let mac = crate::node::parse_mac(&n.mac).map_err(|e| format!("nic {}: mac: {e}", n.name))?;
            boot_listed |= mac == boot;
        }
        if !boot_listed {
            return Err(format!("bootmac {boot} is not one of the NICs reported"));
        }
        for d in &self.disks {
            for (what, v) in [
                ("disk name", &d.name),
                ("disk model", &d.model),
                ("disk vendor", &d.vendor),
                ("disk serial", &d.serial),
                ("disk wwn", &d.wwn),
            ] {
                text_ok(what, v)?;
            }
        }
        if let Some(b) = &self.bmc {
            b.ip.parse::<Ipv4Addr>().map_err(|_| format!("bmc.ip '{}' is not an IPv4 address", b.ip.escape_debug()))?;
            crate::node::parse_mac(&b.mac).map_err(|e| format!("bmc.mac: {e}"))?;
        }
        Ok(())
    }

    /// Total disk size in whole GiB (hwinv.disksize).
    pub fn disk_gib(&self) -> u64 {
        self.disks.iter().filter(|d| !d.removable).map(|d| d.size).sum::<u64>() >> 30
    }
}

/// Whether discovery runs, and a sequential discovery's parameters (name=value,...).
pub fn state(conn: &Connection) -> Result<Option<Option<String>>> {
    if let Some(seq) = store::site_value(conn, SEQ_KEY)? {
        return Ok(Some(Some(seq)));
    }
    Ok(store::site_value(conn, ON_KEY)?.map(|_| None))
}

/// One parameter of a sequential discovery's `name=value,...`.
pub fn seq_param(params: &str, name: &str) -> Option<String> {
    // noderange and groups may hold commas: the value runs up to the next known `name=`.
    let names = ["noderange", "groups", "osimage", "dns", "skipbmcsetup"];
    let start = params.find(&format!("{name}="))? + name.len() + 1;
    let rest = &params[start..];
    let end = names.iter().filter_map(|n| rest.find(&format!(",{n}="))).min().unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// The names of a sequential discovery's noderange that are free, in order: not a node yet, or a
/// node without a MAC (xCAT's getfreenodes).
pub fn free_names(conn: &Connection, noderange: &str) -> Result<Vec<String>> {
    let names = crate::noderange::expand_names(noderange)?;
    let view = NodeView::of_nodes(conn, &names)?;
    let mut free = Vec::new();
    for n in names {
        if !view.is_node(&n) || view.get(&n, "mac", "mac")?.is_none() {
            free.push(n);
        }
    }
    Ok(free)
}

fn now_rfc3339(conn: &Connection) -> Result<String> {
    Ok(conn.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now')", [], |r| r.get(0))?)
}

/// Records a report (inside the caller's transaction): matches it to a node and writes the
/// node's rows, or keeps it undefined. None when discovery is stopped (nothing is written).
pub fn record(conn: &Connection, r: &Report) -> Result<Option<Reply>> {
    let Some(seq) = state(conn)? else { return Ok(None) };
    let mut method = "undef";
    let mut node = None;
    for nic in std::iter::once(&r.bootmac).chain(r.nics.iter().map(|n| &n.mac)) {
        if let Some(n) = crate::boot::nodeset::node_with_mac(conn, nic)? {
            (node, method) = (Some(n), "mac");
            break;
        }
    }
    if node.is_none() && !r.serial.is_empty() {
        let found = by_serial(conn, &r.serial, &r.mtm)?;
        if found.len() == 1 {
            (node, method) = (found.into_iter().next(), "mtms");
        }
    }
    let mut groups = None;
    if node.is_none() {
        if let Some(params) = &seq {
            if let Some(range) = seq_param(params, "noderange") {
                let free = free_names(conn, &range)?;
                if let Some(n) = free.first() {
                    (node, method) = (Some(n.clone()), "sequential");
                    groups = seq_param(params, "groups");
                    if free.len() == 1 {
                        // The last free name is taken: the discovery stops, as xCAT's.
                        let site = schema::table("site").expect("site");
                        store::delete_row(conn, site, &[SEQ_KEY])?;
                    }
                }
            }
        }
    }
    let dd = schema::table("discoverydata").expect("discoverydata");
    let nics: Vec<String> = r.nics.iter().map(|n| format!("{}!{}", n.name, n.mac)).collect();
    let other = serde_json::to_string(r).expect("a report is JSON");
    let (time, cpucount, memory) = (now_rfc3339(conn)?, r.cpu.count.to_string(), r.memory_mb.to_string());
    store::upsert(
        conn,
        dd,
        &[&r.uuid],
        &[
            ("node", node.as_deref()),
            ("method", Some(method)),
            ("discoverytime", Some(&time)),
            ("arch", Some(&r.arch)),
            ("cpucount", Some(&cpucount)),
            ("cputype", Some(&r.cpu.model)),
            ("memory", Some(&memory)),
            ("mtm", Some(&r.mtm)),
            ("serial", Some(&r.serial)),
            ("nichwaddr", Some(&nics.join(","))),
            ("otherdata", Some(&other)),
        ],
    )?;
    let Some(node) = node else {
        return Ok(Some(Reply { node: None, method: method.into(), ..Default::default() }));
    };
    define(conn, &node, r, groups.as_deref())?;
    let skip_bmc = seq.as_deref().and_then(|p| seq_param(p, "skipbmcsetup")).is_some_and(|v| v == "yes");
    let image = seq.as_deref().and_then(|p| seq_param(p, "osimage"));
    let mut reply = next_steps(conn, &node, skip_bmc, image.as_deref())?;
    reply.method = method.into();
    Ok(Some(reply))
}

/// The nodes whose vpd.serial is `serial` (and whose vpd.mtm, where set, is `mtm`).
fn by_serial(conn: &Connection, serial: &str, mtm: &str) -> Result<Vec<String>> {
    let rows: Vec<(String, Option<String>)> = conn
        .prepare_cached("SELECT node, mtm FROM vpd WHERE serial = ?1 AND coalesce(disable, '') NOT IN ('yes', '1')")?
        .query_map([serial], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let names: Vec<String> = rows
        .into_iter()
        .filter(|(_, m)| m.as_deref().is_none_or(|m| m.is_empty() || m == mtm))
        .map(|(n, _)| n)
        .collect();
    let view = NodeView::of_nodes(conn, &names)?;
    Ok(names.into_iter().filter(|n| view.is_node(n)).collect())
}

/// Writes a matched machine's rows for `node` (creating the node, in `groups` or `all`, if it
/// is no node yet): mac (the boot NIC first, the others as MAC!NODE-IFNAME), hwinv, vpd.
pub fn define(conn: &Connection, node: &str, r: &Report, groups: Option<&str>) -> Result<()> {
    let t = |n: &str| schema::table(n).expect("table");
    if store::get_row(conn, t("nodelist"), &[node])?.is_none() {
        crate::node::check_name(node).map_err(crate::error::Error::Input)?;
        store::upsert(conn, t("nodelist"), &[node], &[("groups", Some(groups.unwrap_or("all")))])?;
    }
    let boot = r.nics.iter().find(|n| n.mac == r.bootmac);
    let mut macs = vec![r.bootmac.clone()];
    macs.extend(r.nics.iter().filter(|n| n.mac != r.bootmac).map(|n| format!("{}!{node}-{}", n.mac, n.name)));
    let macs = macs.join("|");
    store::upsert(conn, t("mac"), &[node], &[("mac", Some(&macs)), ("interface", boot.map(|n| n.name.as_str()))])?;
    let (count, mem, disk) = (r.cpu.count.to_string(), r.memory_mb.to_string(), r.disk_gib().to_string());
    store::upsert(
        conn,
        t("hwinv"),
        &[node],
        &[
            ("cputype", Some(&r.cpu.model)),
            ("cpucount", Some(&count)),
            ("memory", Some(&mem)),
            ("disksize", Some(&disk)),
            ("arch", Some(&r.arch)),
        ],
    )?;
    let vpd: Vec<(&str, Option<&str>)> = [("serial", &r.serial), ("mtm", &r.mtm), ("uuid", &r.uuid)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(c, v)| (c, Some(v.as_str())))
        .collect();
    store::upsert(conn, t("vpd"), &[node], &vpd)?;
    Ok(())
}

/// What the node's chain asks of a freshly discovered node: its BMC settings (`runcmd=bmcsetup`)
/// and its deploy (`osimage=IMAGE`, set up as `nodeset NODE osimage=IMAGE` would).
fn next_steps(conn: &Connection, node: &str, skip_bmc: bool, image: Option<&str>) -> Result<Reply> {
    let view = NodeView::of_nodes(conn, &[node.to_string()])?;
    let mut reply = Reply { node: Some(node.to_string()), ..Default::default() };
    let mut chain = view.get(node, "chain", "chain")?.unwrap_or_default();
    // nodediscoverstart's osimage= where the node's chain names none.
    if let Some(i) = image.filter(|_| !chain.contains("osimage=")) {
        chain = format!("{chain},osimage={i}");
    }
    let mut problems = Vec::new();
    for step in chain.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if step == "runcmd=bmcsetup" {
            if skip_bmc {
                continue;
            }
            match bmc_setup(conn, &view, node)? {
                Ok(b) => reply.bmcsetup = Some(b),
                Err(why) => problems.push(format!("bmcsetup: {why}")),
            }
        } else if let Some(image) = step.strip_prefix("osimage=") {
            let req = crate::boot::nodeset::Request::Image(Some(image.to_string()));
            let (plans, failed) = crate::boot::nodeset::plan(conn, &view, &[node.to_string()], &req)?;
            if let Some((_, why)) = failed.into_iter().next() {
                problems.push(format!("osimage={image}: {why}"));
            } else {
                crate::boot::nodeset::record(conn, &plans)?;
                reply.reboot = true;
            }
        } else if !matches!(step, "shell" | "standby") {
            problems.push(format!(
                "chain step '{step}' is not supported (allowed: runcmd=bmcsetup, osimage=IMAGE, shell, standby)"
            ));
        }
    }
    if !problems.is_empty() {
        reply.problem = Some(problems.join("; "));
    }
    Ok(reply)
}

/// The BMC settings bmcsetup gives the node's BMC: ipmi.bmc (an IPv4 address), the netmask and
/// gateway of the network that holds it, ipmi.username/password or the passwd table's ipmi row.
fn bmc_setup(conn: &Connection, view: &NodeView, node: &str) -> Result<std::result::Result<BmcSetup, String>> {
    let Some(bmc) = view.get(node, "ipmi", "bmc")? else {
        return Ok(Err(format!("no BMC address (ipmi.bmc): chdef {node} bmc=ADDRESS")));
    };
    let Ok(ip) = bmc.parse::<Ipv4Addr>() else {
        return Ok(Err(format!("ipmi.bmc '{bmc}' is not an IPv4 address (bmcsetup sets an address)")));
    };
    let (duser, dpass) = store::default_credentials(conn, "ipmi")?;
    let user = view.get(node, "ipmi", "username")?.or(duser);
    let pass = view.get(node, "ipmi", "password")?.or(dpass);
    let (Some(username), Some(password)) = (user, pass) else {
        return Ok(Err(format!("no BMC user and password (ipmi.username/password, or the passwd table's ipmi row): chdef {node} bmcusername=U bmcpassword=P")));
    };
    let nets: Vec<(String, String, Option<String>)> = conn
        .prepare_cached("SELECT net, mask, gateway FROM networks WHERE coalesce(disable, '') NOT IN ('yes', '1')")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let found = nets.into_iter().find_map(|(net, mask, gw)| {
        let (n, m) = (net.parse::<Ipv4Addr>().ok()?, mask.parse::<Ipv4Addr>().ok()?);
        (u32::from(ip) & u32::from(m) == u32::from(n) & u32::from(m)).then_some((mask, gw))
    });
    let Some((netmask, gateway)) = found else {
        return Ok(Err(format!(
            "no network (networks table) holds the BMC address {ip}: mkdef -t network ... net=... mask=..."
        )));
    };
    Ok(Ok(BmcSetup { ip: ip.to_string(), netmask, gateway: gateway.filter(|g| !g.is_empty()), username, password }))
}

/// `nodediscoverdef -u UUID -n NODE`: defines an undefined (or any) discovered machine as `node`
/// (method manual); the error names what is missing.
pub fn define_by_hand(conn: &Connection, uuid: &str, node: &str) -> Result<std::result::Result<(), String>> {
    let dd = schema::table("discoverydata").expect("discoverydata");
    let Some(row) = store::get_row(conn, dd, &[uuid])? else {
        return Ok(Err(format!("Cannot find discovery entry with uuid equals {uuid}")));
    };
    let view = NodeView::of_nodes(conn, &[node.to_string()])?;
    if !view.is_node(node) {
        return Ok(Err(format!("The node [{node}] should be a valid xCAT node.")));
    }
    let other = row[dd.column("otherdata").expect("otherdata").0].clone().unwrap_or_default();
    let Ok(report) = serde_json::from_str::<Report>(&other) else {
        return Ok(Err(format!("the discovery entry {uuid} holds no report (discoverydata.otherdata)")));
    };
    define(conn, node, &report, None)?;
    store::upsert(conn, dd, &[uuid], &[("node", Some(node)), ("method", Some("manual"))])?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(uuid: &str, mac: &str, serial: &str) -> Report {
        Report {
            uuid: uuid.into(),
            serial: serial.into(),
            mtm: "M1".into(),
            arch: "x86_64".into(),
            bootmac: mac.into(),
            cpu: Cpu { model: "CPU".into(), count: 4 },
            memory_mb: 4096,
            nics: vec![Nic { name: "eth0".into(), mac: mac.into(), carrier: true, speed: None }],
            ..Default::default()
        }
    }

    #[test]
    fn a_known_mac_wins_and_the_last_free_name_stops_the_sequence() {
        let d = tempfile::tempdir().unwrap();
        let mut st = crate::store::Store::open(&d.path().join("s.db")).unwrap();
        st.write(|c| {
            c.execute_batch(
                "INSERT INTO nodelist (node, groups) VALUES ('old', 'all'), ('s2', 'all');
                 INSERT INTO mac (node, mac) VALUES ('old', '52:54:00:00:00:01'), ('s2', '52:54:00:00:00:99');
                 INSERT INTO vpd (node, serial, mtm) VALUES ('old', 'SN-A', 'OTHER');
                 INSERT INTO site (key, value) VALUES ('__SEQDiscover', 'noderange=s[1-2],groups=g');",
            )?;
            Ok(())
        })
        .unwrap();
        let u = |n: u8| format!("00000000-0000-0000-0000-0000000000{n:02}");
        // By MAC, though its serial would match nothing (the vpd's model differs).
        let r = st.write(|c| record(c, &report(&u(1), "52:54:00:00:00:01", "SN-A"))).unwrap().unwrap();
        assert_eq!((r.node.as_deref(), r.method.as_str()), (Some("old"), "mac"));
        // s2 has a MAC: s1 is the only free name; taking it stops the sequence.
        let r = st.write(|c| record(c, &report(&u(2), "52:54:00:00:00:02", "SN-B"))).unwrap().unwrap();
        assert_eq!((r.node.as_deref(), r.method.as_str()), (Some("s1"), "sequential"));
        assert_eq!(store::site_value(st.conn(), SEQ_KEY).unwrap(), None);
        let groups: String =
            st.conn().query_row("SELECT groups FROM nodelist WHERE node = 's1'", [], |r| r.get(0)).unwrap();
        assert_eq!(groups, "g");
        // Stopped: nothing is recorded.
        assert_eq!(st.write(|c| record(c, &report(&u(3), "52:54:00:00:00:03", ""))).unwrap(), None);
        let n: i64 = st.conn().query_row("SELECT count(*) FROM discoverydata", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn reports_out_of_bounds_are_refused_with_the_field() {
        let good =
            serde_json::to_vec(&report("00000000-0000-0000-0000-000000000001", "52:54:00:00:00:01", "S")).unwrap();
        assert!(Report::parse(&good).is_ok());
        let bad = |f: &dyn Fn(&mut Report)| {
            let mut r = report("00000000-0000-0000-0000-000000000001", "52:54:00:00:00:01", "S");
            f(&mut r);
            Report::parse(&serde_json::to_vec(&r).unwrap()).unwrap_err()
        };
        assert!(bad(&|r| r.cpu.count = 0).starts_with("cpu.count 0 is not allowed"));
        assert!(bad(&|r| r.arch = "sparc".into()).starts_with("arch 'sparc' is not allowed"));
        assert!(bad(&|r| r.bootmac = "52:54:00:00:00:02".into()).contains("is not one of the NICs"));
        assert!(bad(&|r| r.nics[0].name = "eth0,x".into()).starts_with("nic name"));
        assert!(bad(&|r| r.mtm = "a\u{1b}[2J".into()).contains("no control characters"));
        assert!(bad(&|r| r.bmc = Some(Bmc { ip: "x".into(), mac: "52:54:00:00:00:01".into() })).starts_with("bmc.ip"));
        assert!(Report::parse(&vec![b' '; MAX_REPORT + 1]).unwrap_err().contains("at most 65536 bytes"));
    }
}
