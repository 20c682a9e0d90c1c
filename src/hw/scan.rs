//! bmcdiscover's scan: every address of a range is asked Get Channel Authentication Capabilities
//! (the RMCP ping ipmitool and FreeIPMI send before a login) and, beside it, for the Redfish
//! service root over HTTPS (unauthenticated, as DSP0266 allows), all at once on one event loop
//! ([`super::fanout`]). Where a BMC answers and credentials are given, a login reads its model
//! and serial: over IPMI from the FRU (chassis part and serial, else product part and serial, as
//! xCAT's) with the LAN MAC; over Redfish from the first ComputerSystem.

use super::fanout;
use super::ipmi::crypto::Suite;
use super::ipmi::session::{self, Session, Target};
use super::ipmi::{cmds, fru, IpmiError};
use super::redfish;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The most addresses one scan takes (a /16).
pub const MAX_ADDRESSES: usize = 65536;

/// The addresses of a range: `10.1.0.0/24` (its hosts), `10.1.0.1-254` or `10.1.0-3.1-254` (a
/// range per octet, nmap's form), `10.1.0.5`, several separated by commas or spaces.
pub fn addresses(range: &str) -> Result<Vec<Ipv4Addr>, String> {
    let mut out = Vec::new();
    for part in range.split([',', ' ']).filter(|p| !p.is_empty()) {
        let bad =
            |why: &str| format!("range '{part}': {why} (allowed: A.B.C.D/PREFIX, A.B.C.D-E, A.B.C-D.E-F, A.B.C.D)");
        if let Some((ip, prefix)) = part.split_once('/') {
            let ip: Ipv4Addr = ip.parse().map_err(|_| bad("not an IPv4 address"))?;
            let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(|| bad("the prefix is 0-32"))?;
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
            let net = u32::from(ip) & mask;
            let size = 1u64 << (32 - prefix);
            if size > MAX_ADDRESSES as u64 {
                return Err(bad(&format!("at most {MAX_ADDRESSES} addresses")));
            }
            // Network and broadcast addresses are no hosts, but in /31 and /32.
            let (first, last) =
                if prefix >= 31 { (net, net + size as u32 - 1) } else { (net + 1, net + size as u32 - 2) };
            out.extend((first..=last).map(Ipv4Addr::from));
        } else {
            let octets: Vec<&str> = part.split('.').collect();
            if octets.len() != 4 {
                return Err(bad("not an IPv4 address"));
            }
            let mut spans = Vec::new();
            for o in octets {
                let (a, b) = o.split_once('-').unwrap_or((o, o));
                let (a, b) = (
                    a.parse::<u8>().map_err(|_| bad("an octet is 0-255"))?,
                    b.parse::<u8>().map_err(|_| bad("an octet is 0-255"))?,
                );
                if a > b {
                    return Err(bad("a range runs upwards"));
                }
                spans.push(a..=b);
            }
            let count: usize = spans.iter().map(|s| s.clone().count()).product();
            if out.len() + count > MAX_ADDRESSES {
                return Err(bad(&format!("at most {MAX_ADDRESSES} addresses")));
            }
            for a in spans[0].clone() {
                for b in spans[1].clone() {
                    for c in spans[2].clone() {
                        for d in spans[3].clone() {
                            out.push(Ipv4Addr::new(a, b, c, d));
                        }
                    }
                }
            }
        }
        if out.len() > MAX_ADDRESSES {
            return Err(bad(&format!("at most {MAX_ADDRESSES} addresses")));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// What a BMC that answered told a login (empty where no login was tried or it failed).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub ip: Ipv4Addr,
    pub mtm: String,
    pub serial: String,
    pub mac: String,
    /// Why the login failed, if it did.
    pub login_error: Option<String>,
    /// It answered IPMI (else only Redfish).
    pub ipmi: bool,
    /// Its Redfish service, where one answered.
    pub redfish: Option<RedfishFound>,
}

/// A Redfish service that answered: its port and the certificate it presented (what
/// `ipmi.bmccert` pins).
#[derive(Debug, Clone, PartialEq)]
pub struct RedfishFound {
    pub port: u16,
    pub cert: String,
}

/// How to scan.
pub struct Scan {
    pub port: u16,
    pub timeout: Duration,
    pub tries: u32,
    /// Log in with these to read model, serial and MAC.
    pub credentials: Option<(String, String)>,
    pub fanout: usize,
    /// The HTTPS port asked for a Redfish service root (None: no Redfish probe).
    pub redfish_port: Option<u16>,
}

/// Scans `addrs`: the BMCs that answered, in address order.
pub fn run(addrs: &[Ipv4Addr], scan: &Scan) -> Vec<Found> {
    let items: Vec<(String, Ipv4Addr)> = addrs.iter().map(|ip| (ip.to_string(), *ip)).collect();
    let (credentials, port, redfish_port) = (scan.credentials.clone(), scan.port, scan.redfish_port);
    let (timeout, tries) = (scan.timeout, scan.tries);
    let opts = fanout::Options { fanout: scan.fanout, stagger: None, progress: false };
    let results = fanout::run(items, &opts, move |ip: Ipv4Addr| {
        let credentials = credentials.clone();
        async move {
            let (user, password) = credentials.clone().unwrap_or_default();
            let t = Target {
                addr: SocketAddr::from((ip, port)),
                user,
                password,
                suites: vec![Suite::Cs17, Suite::Cs3],
                timeout,
                tries,
            };
            let rf = redfish_port.map(|p| redfish_target(ip, p, timeout * tries, &t));
            let (ipmi, rf) = tokio::join!(session::probe(&t), async {
                match rf {
                    Some(rf) => redfish_root(&rf).await,
                    None => None,
                }
            });
            let mut found = Found {
                ip,
                mtm: String::new(),
                serial: String::new(),
                mac: String::new(),
                login_error: None,
                ipmi: ipmi.is_ok(),
                redfish: rf.as_ref().map(|(t, cert)| RedfishFound { port: t.port, cert: cert.clone() }),
            };
            if !found.ipmi && found.redfish.is_none() {
                return Err(());
            }
            if credentials.is_some() {
                let login = match (&rf, found.ipmi) {
                    (_, true) => inventory(&t, &mut found).await.map_err(|e| e.to_string()),
                    (Some((rt, _)), false) => redfish_inventory(rt, &mut found).await.map_err(|e| e.to_string()),
                    (None, false) => Ok(()),
                };
                found.login_error = login.err();
            }
            Ok::<Found, ()>(found)
        }
    });
    results.into_iter().filter_map(|(_, r)| r.ok()).collect()
}

/// The Redfish target of a scanned address: any certificate accepted (and recorded: a BMC's
/// is self-signed until someone installs another), one try within the scan's whole timeout
/// (but long enough for an embedded BMC's TLS handshake).
fn redfish_target(ip: Ipv4Addr, port: u16, timeout: Duration, ipmi: &Target) -> redfish::Target {
    redfish::Target {
        host: ip.to_string(),
        port,
        user: ipmi.user.clone(),
        password: ipmi.password.clone(),
        trust: redfish::Trust::Insecure,
        timeout: timeout.max(Duration::from_secs(3)),
        tries: 1,
        system: None,
    }
}

/// The service root, unauthenticated: a Redfish service answers JSON naming its RedfishVersion.
/// The target (now pinned to the certificate it presented) and that certificate's fingerprint.
async fn redfish_root(t: &redfish::Target) -> Option<(redfish::Target, String)> {
    let mut c = redfish::client::Client::new(t).ok()?;
    let root = c.get("/redfish/v1/").await.ok();
    let fp = c.seen_fingerprint()?;
    c.close().await;
    root.filter(|r| r.get("RedfishVersion").is_some_and(|v| v.is_string()))?;
    let pinned = redfish::Target { trust: redfish::Trust::Pinned(fp), ..t.clone() };
    Some((pinned, redfish::fingerprint_text(&fp)))
}

/// Model and serial of the service's first ComputerSystem (a login).
async fn redfish_inventory(t: &redfish::Target, found: &mut Found) -> Result<(), redfish::RedfishError> {
    let mut c = redfish::client::Client::open(t).await?;
    let result = async {
        let systems = redfish::client::odata_id(&c.root["Systems"]).unwrap_or_else(|| "/redfish/v1/Systems".into());
        if let Some(first) = c.members(&systems).await?.first() {
            let s = c.get(first).await?;
            let text = |k: &str| s[k].as_str().unwrap_or("").trim().to_string();
            (found.mtm, found.serial) = (text("Model"), text("SerialNumber"));
        }
        Ok(())
    }
    .await;
    c.close().await;
    result
}

async fn inventory(t: &Target, found: &mut Found) -> Result<(), IpmiError> {
    let mut s = Session::open(t, false).await?;
    let result = async {
        if let Ok(data) = cmds::read_fru(&mut s).await {
            if let Ok(f) = fru::parse(&data) {
                let pick = |a: &Option<String>, b: &Option<String>| match (a, b) {
                    (Some(x), Some(y)) if !x.is_empty() && !y.is_empty() => Some((x.clone(), y.clone())),
                    _ => None,
                };
                if let Some((m, sn)) =
                    pick(&f.chassis_part, &f.chassis_serial).or_else(|| pick(&f.product_part, &f.product_serial))
                {
                    (found.mtm, found.serial) = (m, sn);
                }
            }
        }
        if let Ok((mac, _)) = cmds::lan_mac_and_ip(&mut s).await {
            found.mac = mac;
        }
        Ok(())
    }
    .await;
    s.close().await;
    result
}

/// xCAT's node name for a found BMC: node-MTM-SERIAL (lower case, spaces, colons, dots and
/// underscores as dashes), else node-MAC (hex digits only), else node-IP with dashes.
pub fn node_name(f: &Found) -> String {
    let name = if !f.mtm.is_empty() && !f.serial.is_empty() {
        format!("node-{}-{}", f.mtm, f.serial)
    } else if !f.mac.is_empty() && f.mac != "00:00:00:00:00:00" {
        format!("node-{}", f.mac.replace(':', ""))
    } else {
        format!("node-{}", f.ip)
    };
    name.to_lowercase().chars().map(|c| if matches!(c, ' ' | ':' | '.' | '_') { '-' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_in_every_form() {
        let a = |r: &str| addresses(r).map(|v| v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" "));
        assert_eq!(a("10.1.0.0/30").unwrap(), "10.1.0.1 10.1.0.2");
        assert_eq!(a("10.1.0.7/32").unwrap(), "10.1.0.7");
        assert_eq!(a("10.1.0.1-3").unwrap(), "10.1.0.1 10.1.0.2 10.1.0.3");
        assert_eq!(a("10.1.0-1.5,10.1.0.5 10.9.9.9").unwrap(), "10.1.0.5 10.1.1.5 10.9.9.9");
        assert_eq!(addresses("10.0.0.0/24").unwrap().len(), 254);
        assert!(a("10.0.0.0/8").unwrap_err().contains("at most 65536 addresses"));
        assert!(a("10.1.0.300").unwrap_err().contains("an octet is 0-255"));
        assert!(a("10.1.0.9-3").unwrap_err().contains("upwards"));
        assert!(a("bmc.example").unwrap_err().contains("not an IPv4 address"));
    }

    #[test]
    fn xcat_node_names() {
        let none = Found {
            ip: Ipv4Addr::new(10, 1, 0, 5),
            mtm: String::new(),
            serial: String::new(),
            mac: String::new(),
            login_error: None,
            ipmi: true,
            redfish: None,
        };
        let f = Found { mtm: "CH-100".into(), serial: "CHS_01.A".into(), ..none.clone() };
        assert_eq!(node_name(&f), "node-ch-100-chs-01-a");
        let f = Found { mac: "52:54:00:AA:00:01".into(), ..none.clone() };
        assert_eq!(node_name(&f), "node-525400aa0001");
        assert_eq!(node_name(&none), "node-10-1-0-5");
    }
}
