//! bmcdiscover's scan: every address of a range is asked Get Channel Authentication Capabilities
//! (the RMCP ping ipmitool and FreeIPMI send before a login), all at once on one event loop
//! ([`super::fanout`]); where a BMC answers and credentials are given, a login reads its FRU
//! (model and serial: chassis part and serial, else product part and serial, as xCAT's) and its
//! LAN MAC.

use super::fanout;
use super::ipmi::crypto::Suite;
use super::ipmi::session::{self, Session, Target};
use super::ipmi::{cmds, fru, IpmiError};
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
}

/// How to scan.
pub struct Scan {
    pub port: u16,
    pub timeout: Duration,
    pub tries: u32,
    /// Log in with these to read model, serial and MAC.
    pub credentials: Option<(String, String)>,
    pub fanout: usize,
}

/// Scans `addrs`: the BMCs that answered, in address order.
pub fn run(addrs: &[Ipv4Addr], scan: &Scan) -> Vec<Found> {
    let items: Vec<(String, Target)> = addrs
        .iter()
        .map(|ip| {
            let (user, password) = scan.credentials.clone().unwrap_or_default();
            let t = Target {
                addr: SocketAddr::from((*ip, scan.port)),
                user,
                password,
                suites: vec![Suite::Cs17, Suite::Cs3],
                timeout: scan.timeout,
                tries: scan.tries,
            };
            (ip.to_string(), t)
        })
        .collect();
    let login = scan.credentials.is_some();
    let opts = fanout::Options { fanout: scan.fanout, stagger: None, progress: false };
    let results = fanout::run(items, &opts, move |t: Target| async move {
        session::probe(&t).await?;
        let ip = match t.addr.ip() {
            std::net::IpAddr::V4(v4) => v4,
            std::net::IpAddr::V6(_) => unreachable!("IPv4 ranges only"),
        };
        let mut found = Found { ip, mtm: String::new(), serial: String::new(), mac: String::new(), login_error: None };
        if login {
            if let Err(e) = inventory(&t, &mut found).await {
                found.login_error = Some(e.to_string());
            }
        }
        Ok::<Found, IpmiError>(found)
    });
    results.into_iter().filter_map(|(_, r)| r.ok()).collect()
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
        };
        let f = Found { mtm: "CH-100".into(), serial: "CHS_01.A".into(), ..none.clone() };
        assert_eq!(node_name(&f), "node-ch-100-chs-01-a");
        let f = Found { mac: "52:54:00:AA:00:01".into(), ..none.clone() };
        assert_eq!(node_name(&f), "node-525400aa0001");
        assert_eq!(node_name(&none), "node-10-1-0-5");
    }
}
