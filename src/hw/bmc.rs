//! Which BMC each node has and how to log in to it, from the store: ipmi.bmc/bmcport, the user
//! and password from the ipmi table (node row, then group rows) or the passwd table's `ipmi` row,
//! the cipher suites from ipmi.ciphersuite or site.ipmiciphersuite, and site.ipmitimeout/ipmiretries.
//! Redfish BMCs (nodehm.mgt=redfish) use the same columns (bmcport is the HTTPS port, default 443;
//! a passwd row 'redfish' before 'ipmi') and ipmi.bmccert, the TLS certificate check.

use super::ipmi::crypto::Suite;
use super::ipmi::session::Target;
use super::{redfish, Bmc};
use crate::error::Result;
use crate::store::view::NodeView;
use rusqlite::Connection;
use std::net::ToSocketAddrs;
use std::time::Duration;

/// Timeout and tries for every request, from the command line or the site table.
pub struct Limits {
    pub timeout: Duration,
    pub tries: u32,
}

impl Limits {
    pub fn from_site(conn: &Connection, timeout: Option<f64>, retries: Option<u32>) -> Result<Limits> {
        let site = |k: &str| crate::store::site_value(conn, k);
        let timeout = match timeout {
            Some(t) => t,
            None => site("ipmitimeout")?.and_then(|v| v.parse().ok()).unwrap_or(2.0),
        };
        let tries = match retries {
            Some(r) => r,
            None => site("ipmiretries")?.and_then(|v| v.parse().ok()).unwrap_or(3),
        };
        Ok(Limits { timeout: Duration::from_secs_f64(timeout.max(0.01)), tries: tries.max(1) })
    }
}

/// Each node's BMC target, or why it has none (a per-node error).
pub fn targets(
    conn: &Connection,
    view: &NodeView,
    nodes: &[String],
    limits: &Limits,
) -> Result<Vec<(String, std::result::Result<Target, String>)>> {
    let default_creds = crate::store::default_credentials(conn, "ipmi")?;
    let site_suites = crate::store::site_value(conn, "ipmiciphersuite")?;
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes {
        let target = (|| -> Result<std::result::Result<Target, String>> {
            let mgt = match view.get(n, "nodehm", "power")? {
                Some(p) => Some(p),
                None => view.get(n, "nodehm", "mgt")?,
            };
            if let Some(m) = mgt.filter(|m| m != "ipmi") {
                return Ok(Err(format!(
                    "mgt={m}: oxcat drives IPMI and Redfish BMCs only (nodehm.mgt=ipmi or redfish)"
                )));
            }
            let Some(bmc) = view.get(n, "ipmi", "bmc")? else {
                return Ok(Err(format!("no BMC address (set one: chdef {n} bmc=ADDRESS)")));
            };
            let port = match view.get(n, "ipmi", "bmcport")? {
                None => 623,
                Some(p) => match p.parse::<u16>() {
                    Ok(p) => p,
                    Err(_) => return Ok(Err(format!("ipmi.bmcport '{p}' is not a port number"))),
                },
            };
            let (def_user, def_pw) = default_creds.clone();
            let user = view.get(n, "ipmi", "username")?.or(def_user).unwrap_or_default();
            let Some(password) = view.get(n, "ipmi", "password")?.or(def_pw) else {
                return Ok(Err("no BMC password (ipmi.password, or a passwd row with key 'ipmi')".into()));
            };
            let suites_text = view.get(n, "ipmi", "ciphersuite")?.or(site_suites.clone());
            let suites = match suites_text {
                None => vec![Suite::Cs17, Suite::Cs3],
                Some(t) => {
                    let parsed: Option<Vec<Suite>> =
                        t.split(',').map(|s| s.trim().parse::<u8>().ok().and_then(Suite::from_number)).collect();
                    match parsed {
                        Some(v) if !v.is_empty() => v,
                        _ => return Ok(Err(format!("cipher suite '{t}' is not supported (allowed: 17, 3, or 17,3)"))),
                    }
                }
            };
            let addr = match (bmc.as_str(), port).to_socket_addrs().map(|mut a| a.next()) {
                Ok(Some(a)) => a,
                Ok(None) | Err(_) => return Ok(Err(format!("cannot resolve BMC address '{bmc}'"))),
            };
            Ok(Ok(Target { addr, user, password, suites, timeout: limits.timeout, tries: limits.tries }))
        })()?;
        out.push((n.clone(), target));
    }
    Ok(out)
}

/// Each node's BMC in the protocol nodehm.power (else nodehm.mgt) names, or why it has none.
pub fn bmcs(
    conn: &Connection,
    view: &NodeView,
    nodes: &[String],
    limits: &Limits,
) -> Result<Vec<(String, std::result::Result<Bmc, String>)>> {
    let mut out = Vec::with_capacity(nodes.len());
    let mut ipmi_nodes = Vec::new();
    let redfish_creds = crate::store::default_credentials(conn, "redfish")?;
    let ipmi_creds = crate::store::default_credentials(conn, "ipmi")?;
    for n in nodes {
        let mgt = match view.get(n, "nodehm", "power")? {
            Some(p) => Some(p),
            None => view.get(n, "nodehm", "mgt")?,
        };
        if mgt.as_deref() != Some("redfish") {
            ipmi_nodes.push(n.clone());
            continue;
        }
        let target = (|| -> Result<std::result::Result<redfish::Target, String>> {
            let Some(host) = view.get(n, "ipmi", "bmc")? else {
                return Ok(Err(format!("no BMC address (set one: chdef {n} bmc=ADDRESS)")));
            };
            let port = match view.get(n, "ipmi", "bmcport")? {
                None => redfish::PORT,
                Some(p) => match p.parse::<u16>() {
                    Ok(p) => p,
                    Err(_) => return Ok(Err(format!("ipmi.bmcport '{p}' is not a port number"))),
                },
            };
            let user = view.get(n, "ipmi", "username")?.or(redfish_creds.0.clone()).or(ipmi_creds.0.clone());
            let password = view.get(n, "ipmi", "password")?.or(redfish_creds.1.clone()).or(ipmi_creds.1.clone());
            let Some(password) = password else {
                return Ok(Err("no BMC password (ipmi.password, or a passwd row with key 'redfish' or 'ipmi')".into()));
            };
            let Some(cert) = view.get(n, "ipmi", "bmccert")? else {
                return Ok(Err(format!(
                    "no TLS certificate check for the Redfish BMC (enrol it with addbmnode --mgt redfish, or chdef {n} \
                     bmccert=sha256:FINGERPRINT, ca:/path/ca.pem or insecure)"
                )));
            };
            let trust = match redfish::Trust::parse(&cert) {
                Ok(t) => t,
                Err(e) => return Ok(Err(format!("ipmi.bmccert: {e}"))),
            };
            Ok(Ok(redfish::Target {
                host,
                port,
                user: user.unwrap_or_default(),
                password,
                trust,
                timeout: limits.timeout.max(redfish::MIN_TIMEOUT),
                tries: limits.tries,
                system: view.get(n, "ipmi", "bmcsystem")?.filter(|s| !s.is_empty()),
            }))
        })()?;
        out.push((n.clone(), target.map(Bmc::Redfish)));
    }
    for (n, t) in targets(conn, view, &ipmi_nodes, limits)? {
        out.push((n, t.map(Bmc::Ipmi)));
    }
    Ok(out)
}
