//! Enrolling bare-metal nodes (addbmnode): one transaction writes nodelist, nodehm (mgt=ipmi), ipmi,
//! mac, hwinv, nodetype, hosts and noderes for every node, or nothing at all. Values may be xCAT
//! regex values, evaluated per node, so one call enrolls a rack.

use crate::defs::mac_owners;
use crate::error::{Error, Result};
use crate::node;
use crate::store::regexval::{is_regex_value, RegexValue};
use crate::store::schema::{self, Kind, ARCHES};
use crate::store::view::{split_list, NodeView};
use crate::store::{delete_row, upsert};
use rusqlite::Connection;
use std::collections::{HashMap, HashSet};

/// What to enroll for one node. Every field may be a plain value or a regex value.
#[derive(Debug, Clone, Default)]
pub struct NodeSpec {
    pub node: String,
    pub bmc: Option<String>,
    pub bmc_user: Option<String>,
    pub bmc_password: Option<String>,
    /// One or more MACs separated by `|`, the first being the boot NIC.
    pub macs: Option<String>,
    pub ip: Option<String>,
    pub groups: Option<String>,
    pub cpus: Option<String>,
    pub memory: Option<String>,
    pub disk: Option<String>,
    pub arch: Option<String>,
    pub servicenode: Option<String>,
    /// nodehm.mgt: ipmi (the default) or redfish.
    pub mgt: Option<String>,
    /// ipmi.bmccert for Redfish BMCs: sha256:FINGERPRINT, ca:FILE or insecure.
    pub bmc_cert: Option<String>,
}

/// The most errors printed for one call; the rest are counted.
const MAX_ERRORS: usize = 50;

/// Evaluates a value for a node, compiling each distinct regex value once.
struct Evaluator {
    cache: HashMap<String, std::result::Result<RegexValue, String>>,
}

impl Evaluator {
    fn eval(&mut self, value: &str, node: &str) -> std::result::Result<Option<String>, String> {
        if !is_regex_value(value) {
            return Ok(Some(value.to_string()).filter(|v| !v.is_empty()));
        }
        let re = self.cache.entry(value.to_string()).or_insert_with(|| RegexValue::parse(value));
        match re {
            Ok(re) => re.eval(node),
            Err(e) => Err(e.clone()),
        }
    }
}

/// A node's values, evaluated and checked.
pub struct Ready {
    pub node: String,
    /// The BMC's host name or address (a URL's host part).
    pub bmc: String,
    /// ipmi or redfish.
    pub mgt: String,
    /// The port a URL named (ipmi.bmcport).
    pub port: Option<u16>,
    /// The system a URL named (`.../redfish/v1/Systems/ID`: ipmi.bmcsystem).
    pub system: Option<String>,
    /// ipmi.bmccert.
    pub cert: Option<String>,
    /// The credentials a login will use (the node's, else the passwd table's `ipmi` row).
    pub login: (String, String),
    user: Option<String>,
    password: Option<String>,
    macs: Vec<String>,
    ip: Option<String>,
    groups: String,
    cpus: Option<String>,
    memory: Option<String>,
    disk: Option<String>,
    arch: Option<String>,
    servicenode: Option<String>,
}

/// Enrolls the nodes; Err lists every problem found (one line each, naming node, field and what is
/// allowed) and nothing is written. Returns the number of nodes enrolled.
pub fn enroll(conn: &Connection, specs: &[NodeSpec], force: bool) -> Result<usize> {
    let ready = prepare(conn, specs, force)?;
    write(conn, &ready, force)?;
    Ok(ready.len())
}

/// Evaluates and checks every node's values against the store (read only).
pub fn prepare(conn: &Connection, specs: &[NodeSpec], force: bool) -> Result<Vec<Ready>> {
    let view = NodeView::load(conn)?;
    let default_creds = crate::store::default_credentials(conn, "ipmi")?;
    let mut owners = mac_owners(conn, &view)?;
    let hosts = schema::table("hosts").expect("hosts");
    let mut ip_owners: HashMap<String, String> = HashMap::new();
    for n in view.nodes() {
        if let Some(r) = view.value(n, hosts, 1)? {
            ip_owners.insert(r.value, n.clone());
        }
    }
    let ipmi_password = schema::table("ipmi").and_then(|t| t.column("password")).expect("ipmi.password").1;
    let enrolled: HashSet<&str> = specs.iter().map(|s| s.node.as_str()).collect();
    let mut ev = Evaluator { cache: HashMap::new() };
    let mut errors: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut ready = Vec::with_capacity(specs.len());
    for s in specs {
        let n = s.node.as_str();
        let mut err = |field: &str, msg: String| errors.push(format!("{n}: Error: {field}: {msg}"));
        if let Err(e) = node::check_name(n) {
            errors.push(format!("Error: {e}"));
            continue;
        }
        if !seen.insert(n.to_string()) {
            err("node", "given twice".to_string());
            continue;
        }
        if view.is_node(n) && !force {
            err("node", "already enrolled (use --force to replace its definition)".to_string());
            continue;
        }
        if view.is_group(n) {
            err("node", format!("'{n}' is a group; a node cannot have the same name"));
            continue;
        }
        let mut get = |field: &str, v: &Option<String>, kind: Kind| -> Option<String> {
            let v = v.as_deref()?;
            match ev.eval(v, n) {
                Ok(Some(v)) => match kind.check(&v) {
                    Ok(()) => Some(v),
                    Err(e) => {
                        errors.push(format!("{n}: Error: {field}: {e}"));
                        None
                    }
                },
                Ok(None) => {
                    errors.push(format!("{n}: Error: {field}: the regex value '{v}' gives no value for this node"));
                    None
                }
                Err(e) => {
                    errors.push(format!("{n}: Error: {field}: {e}"));
                    None
                }
            }
        };
        let mgt = s.mgt.clone().unwrap_or_else(|| "ipmi".into());
        let bmc_text = get("bmc", &s.bmc, Kind::Text);
        let user = get("bmcusername", &s.bmc_user, Kind::Text);
        let password = get("bmcpassword", &s.bmc_password, Kind::Text);
        let macs = get("mac", &s.macs, Kind::Macs);
        let ip = get("ip", &s.ip, Kind::Ip);
        let groups = get("groups", &s.groups, Kind::List);
        let cpus = get("cpus", &s.cpus, Kind::Int);
        let memory = get("memory", &s.memory, Kind::Int);
        let disk = get("disk", &s.disk, Kind::Int);
        let arch = get("arch", &s.arch, Kind::OneOf(ARCHES));
        let servicenode = get("servicenode", &s.servicenode, Kind::Host);
        let (bmc, port, system) = match bmc_text.as_deref().map(|b| split_bmc_url(b, &mgt)) {
            Some(Ok(u)) => match Kind::Host.check(&u.host) {
                Ok(()) => (Some(u.host), u.port, u.system),
                Err(e) => {
                    errors.push(format!("{n}: Error: bmc: {e}"));
                    (None, None, None)
                }
            },
            Some(Err(e)) => {
                errors.push(format!("{n}: Error: bmc: {e}"));
                (None, None, None)
            }
            None => (None, None, None),
        };
        let cert = match s.bmc_cert.as_deref() {
            Some(c) => match crate::hw::redfish::Trust::parse(c) {
                Ok(_) => Some(c.to_string()),
                Err(e) => {
                    errors.push(format!("{n}: Error: bmccert: {e}"));
                    None
                }
            },
            None => None,
        };
        if !matches!(mgt.as_str(), "ipmi" | "redfish") {
            errors
                .push(format!("{n}: Error: mgt: '{mgt}' is not a BMC protocol oxcat drives (allowed: ipmi, redfish)"));
        }
        let mut err = |field: &str, msg: String| errors.push(format!("{n}: Error: {field}: {msg}"));
        if let Err(e) = password.as_deref().map_or(Ok(()), |p| ipmi_password.check(p)) {
            err("bmcpassword", e);
        }
        if s.bmc.is_none() {
            err("bmc", "missing (give --bmc ADDRESS: an IPv4 address or host name)".into());
        }
        if s.macs.is_none() {
            err("mac", "missing (give --mac MAC, e.g. 52:54:00:12:34:56)".into());
        }
        let (def_user, def_pw) = default_creds.clone();
        if s.bmc_user.is_none() && def_user.is_none() {
            err("bmcusername", "missing BMC credentials (give --bmc-user, or a passwd row with key 'ipmi')".into());
        }
        if s.bmc_password.is_none() && def_pw.is_none() {
            err(
                "bmcpassword",
                "missing BMC credentials (give --bmc-password-file FILE or --bmc-password, or a passwd row with key 'ipmi')"
                    .into(),
            );
        }
        let mut groups_list: Vec<String> = Vec::new();
        for g in split_list(groups.as_deref().unwrap_or("")) {
            match node::check_name(g) {
                Ok(()) if view.is_node(g) || enrolled.contains(g) => {
                    err("groups", format!("'{g}' is a node, not a group"))
                }
                Ok(()) => groups_list.push(g.to_string()),
                Err(_) if g == "all" => {}
                Err(e) => err("groups", e),
            }
        }
        groups_list.push("all".to_string());
        let mut canon = Vec::new();
        if let Some(m) = &macs {
            for part in m.split('|') {
                let Ok(mac) = node::parse_mac(part.split('!').next().unwrap_or(part)) else { continue };
                match owners.get(&mac) {
                    Some(other) if other != n => err("mac", format!("{mac} is already used by node {other}")),
                    _ => {
                        owners.insert(mac.clone(), n.to_string());
                        canon.push(mac);
                    }
                }
            }
        }
        if let Some(ip) = &ip {
            match ip_owners.get(ip) {
                Some(other) if other != n => err("ip", format!("{ip} is already used by node {other}")),
                _ => {
                    ip_owners.insert(ip.clone(), n.to_string());
                }
            }
        }
        if let (Some(bmc), true) = (bmc, errors.is_empty()) {
            let login = (
                user.clone().or_else(|| def_user.clone()).unwrap_or_default(),
                password.clone().or_else(|| def_pw.clone()).unwrap_or_default(),
            );
            ready.push(Ready {
                node: n.to_string(),
                bmc,
                mgt,
                port,
                system,
                cert,
                login,
                user,
                password,
                macs: canon,
                ip,
                groups: groups_list.join(","),
                cpus,
                memory,
                disk,
                arch,
                servicenode,
            });
        }
    }
    if !errors.is_empty() {
        if errors.len() > MAX_ERRORS {
            let more = errors.len() - MAX_ERRORS;
            errors.truncate(MAX_ERRORS);
            errors.push(format!("Error: ... and {more} more errors"));
        }
        errors.push("Error: nothing was enrolled".to_string());
        return Err(Error::Inputs(errors));
    }
    Ok(ready)
}

/// Writes the prepared nodes (inside the caller's transaction).
pub fn write(conn: &Connection, ready: &[Ready], force: bool) -> Result<()> {
    let t = |name| schema::table(name).expect("table in schema");
    let (nodelist, nodehm, ipmi, mac, hwinv, nodetype, hosts, noderes) =
        (t("nodelist"), t("nodehm"), t("ipmi"), t("mac"), t("hwinv"), t("nodetype"), t("hosts"), t("noderes"));
    for r in ready {
        let n = [r.node.as_str()];
        if force {
            for table in schema::TABLES.iter().filter(|t| t.owner == schema::Owner::Node) {
                delete_row(conn, table, &n)?;
            }
        }
        upsert(conn, nodelist, &n, &[("groups", Some(&r.groups)), ("status", Some("defined"))])?;
        upsert(conn, nodehm, &n, &[("mgt", Some(&r.mgt))])?;
        let port = r.port.map(|p| p.to_string());
        upsert(
            conn,
            ipmi,
            &n,
            &[
                ("bmc", Some(&r.bmc)),
                ("bmcport", port.as_deref()),
                ("username", r.user.as_deref()),
                ("password", r.password.as_deref()),
                ("bmccert", r.cert.as_deref()),
                ("bmcsystem", r.system.as_deref()),
            ],
        )?;
        upsert(conn, mac, &n, &[("mac", Some(&r.macs.join("|")))])?;
        upsert(
            conn,
            hwinv,
            &n,
            &[
                ("cpucount", r.cpus.as_deref()),
                ("memory", r.memory.as_deref()),
                ("disksize", r.disk.as_deref()),
                ("arch", r.arch.as_deref()),
            ],
        )?;
        if r.arch.is_some() {
            upsert(conn, nodetype, &n, &[("arch", r.arch.as_deref())])?;
        }
        if r.ip.is_some() {
            upsert(conn, hosts, &n, &[("ip", r.ip.as_deref())])?;
        }
        if r.servicenode.is_some() {
            upsert(conn, noderes, &n, &[("servicenode", r.servicenode.as_deref())])?;
        }
    }
    Ok(())
}

/// A BMC address split up: the host, the port and the Redfish system a URL named.
struct BmcUrl {
    host: String,
    port: Option<u16>,
    system: Option<String>,
}

/// A BMC address, or for Redfish an `https://HOST[:PORT][/redfish/v1[/Systems/ID]]` URL.
fn split_bmc_url(v: &str, mgt: &str) -> std::result::Result<BmcUrl, String> {
    let Some((scheme, rest)) = v.split_once("://") else {
        return Ok(BmcUrl { host: v.to_string(), port: None, system: None });
    };
    if mgt != "redfish" {
        return Err(format!("'{v}': a URL is a Redfish BMC's address (give --mgt redfish), an IPMI BMC's is a host"));
    }
    if !scheme.eq_ignore_ascii_case("https") {
        return Err(format!("'{v}': Redfish BMCs are reached over https:// only"));
    }
    let (authority, path) = rest.find('/').map(|i| rest.split_at(i)).unwrap_or((rest, ""));
    let path = path.trim_end_matches('/');
    let system = match path.strip_prefix("/redfish/v1/Systems/") {
        Some(id) if !id.is_empty() && !id.contains('/') => Some(id.to_string()),
        _ if matches!(path, "" | "/redfish/v1" | "/redfish") => None,
        _ => {
            return Err(format!(
                "'{v}': the path must be empty, /redfish/v1 (the service root is found there) or /redfish/v1/Systems/ID (one system of several)"
            ))
        }
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse::<u16>() {
            Ok(p) => (h.trim_start_matches('[').trim_end_matches(']').to_string(), Some(p)),
            Err(_) => return Err(format!("'{v}': '{p}' is not a port number")),
        },
        _ => (authority.to_string(), None),
    };
    Ok(BmcUrl { host, port, system })
}

impl Ready {
    /// The Redfish target a login uses (the certificate check must be known by now).
    pub fn redfish_target(
        &self,
        limits: &crate::hw::bmc::Limits,
    ) -> std::result::Result<crate::hw::redfish::Target, String> {
        use crate::hw::redfish;
        let trust = match &self.cert {
            Some(c) => redfish::Trust::parse(c)?,
            None => {
                return Err("no TLS certificate check (give --bmc-cert, or let addbmnode record the fingerprint)".into())
            }
        };
        Ok(redfish::Target {
            host: self.bmc.clone(),
            port: self.port.unwrap_or(redfish::PORT),
            user: self.login.0.clone(),
            password: self.login.1.clone(),
            trust,
            timeout: limits.timeout.max(redfish::MIN_TIMEOUT),
            tries: limits.tries,
            system: self.system.clone(),
        })
    }
}

/// Assigns a `--mac` list to nodes: a regex value applies to each node; otherwise one node takes
/// all the MACs, or N nodes take N MACs in noderange order.
pub fn assign_macs(nodes: &[String], macs: &str) -> Result<Vec<String>> {
    if is_regex_value(macs) {
        return Ok(vec![macs.to_string(); nodes.len()]);
    }
    let list: Vec<&str> = macs.split(',').map(str::trim).filter(|m| !m.is_empty()).collect();
    if nodes.len() == 1 {
        return Ok(vec![list.join("|")]);
    }
    if list.len() == nodes.len() {
        return Ok(list.into_iter().map(str::to_string).collect());
    }
    Err(Error::Input(format!(
        "--mac: {} MACs for {} nodes (give one MAC per node in noderange order, or a regex value such as '|n(\\d+)|52:54:00:00:00:(sprintf(\"%02x\",$1))|')",
        list.len(),
        nodes.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bmc_urls_name_host_port_and_system() {
        let ok = |v: &str| {
            let u = split_bmc_url(v, "redfish").unwrap();
            (u.host, u.port, u.system)
        };
        assert_eq!(ok("10.0.0.1"), ("10.0.0.1".into(), None, None));
        assert_eq!(ok("https://10.0.0.1"), ("10.0.0.1".into(), None, None));
        assert_eq!(ok("https://10.0.0.1:8443/redfish/v1/"), ("10.0.0.1".into(), Some(8443), None));
        assert_eq!(ok("https://[fd00::1]:443/redfish/v1/Systems/2"), ("fd00::1".into(), Some(443), Some("2".into())));
        assert_eq!(
            ok("https://cmm.example/redfish/v1/Systems/blade-3/"),
            ("cmm.example".into(), None, Some("blade-3".into()))
        );
        for bad in [
            "https://10.0.0.1/other",
            "https://10.0.0.1/redfish/v1/Systems/",
            "https://10.0.0.1/redfish/v1/Systems/a/b",
        ] {
            let e = split_bmc_url(bad, "redfish").err().unwrap();
            assert!(e.contains("the path must be empty, /redfish/v1"), "{bad}: {e}");
        }
        assert!(split_bmc_url("https://10.0.0.1", "ipmi").is_err());
    }
}
