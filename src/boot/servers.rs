//! Which servers a node is told to use, as xCAT decides them (one place for nodeset's configs and
//! kernel arguments and for oxcatd's DHCP answers):
//!
//! * its **master** (the server of its postscripts and status reports, xCAT's `XCAT=` kernel
//!   argument): `noderes.xcatmaster`, else the management node's address on the node's network:
//!   the fallback (`site.master`; for DHCP the server's configured address first) where it is on
//!   that network, else this machine's own address there (xCAT's `my_ip_facing`, which xCAT's
//!   Template.pm and boot plugins prefer to site.master, so a multi-homed management node names
//!   the right address on each network), else the fallback;
//! * its **TFTP server** (DHCP next-server, and where the boot loader fetches its config):
//!   `noderes.tftpserver`, else its master;
//! * its **image server** (kernel, initrd and root image URLs): `noderes.nfsserver`, else
//!   `noderes.tftpserver`, else its master.
//!
//! As in xCAT, the value `<xcatmaster>` in tftpserver or nfsserver means "the node's master", and
//! a host name is given to the node as its address where it resolves (an initrd may not resolve
//! names), as it is where it does not.

use crate::error::Result;
use crate::store::view::NodeView;
use std::cell::OnceCell;
use std::net::{Ipv4Addr, ToSocketAddrs};

/// The value that stands for the node's master (xCAT's templates and tables use it too).
pub const XCATMASTER: &str = "<xcatmaster>";

/// The servers of one node (addresses, or names that did not resolve).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Servers {
    pub master: String,
    pub tftp: String,
    pub image: String,
}

/// The management node's IPv4 addresses with their netmasks, read once per command.
#[derive(Debug, Clone, Default)]
pub struct LocalNets(Vec<(Ipv4Addr, u32)>);

impl LocalNets {
    /// This machine's interface addresses (none where they cannot be read).
    pub fn load() -> LocalNets {
        let Ok(addrs) = nix::ifaddrs::getifaddrs() else { return LocalNets::default() };
        LocalNets(
            addrs
                .filter_map(|a| {
                    let ip = a.address.as_ref()?.as_sockaddr_in()?.ip();
                    let mask = a.netmask.as_ref()?.as_sockaddr_in()?.ip();
                    Some((ip, u32::from(mask)))
                })
                .collect(),
        )
    }

    /// Given addresses and netmasks (for tests).
    pub fn of(nets: &[(Ipv4Addr, Ipv4Addr)]) -> LocalNets {
        LocalNets(nets.iter().map(|(a, m)| (*a, u32::from(*m))).collect())
    }

    /// The address this machine has on the network of `ip` (xCAT's `my_ip_facing`).
    pub fn facing(&self, ip: Ipv4Addr) -> Option<Ipv4Addr> {
        self.facing_net(ip).map(|(a, _)| a)
    }

    /// That address and its netmask.
    fn facing_net(&self, ip: Ipv4Addr) -> Option<(Ipv4Addr, u32)> {
        self.0.iter().copied().find(|(a, m)| *m != 0 && u32::from(*a) & m == u32::from(ip) & m)
    }
}

/// The IPv4 address of a server value: itself, or what the name resolves to (hosts file, DNS).
/// A name is looked up once per process: thousands of nodes name the same few servers.
pub fn resolve_v4(name: &str) -> Option<Ipv4Addr> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashMap<String, Option<Ipv4Addr>>>> = OnceLock::new();
    if let Ok(a) = name.parse() {
        return Some(a);
    }
    let names = NAMES.get_or_init(Default::default);
    if let Some(a) = names.lock().ok().and_then(|m| m.get(name).copied()) {
        return a;
    }
    let found = (name, 0).to_socket_addrs().ok().and_then(|mut it| {
        it.find_map(|s| match s.ip() {
            std::net::IpAddr::V4(a) => Some(a),
            _ => None,
        })
    });
    if let Ok(mut m) = names.lock() {
        m.insert(name.to_string(), found);
    }
    found
}

/// The address a node is given for a server value (a name that does not resolve stays a name).
fn as_given(name: &str) -> String {
    resolve_v4(name).map(|a| a.to_string()).unwrap_or_else(|| name.to_string())
}

/// The servers of `node`, whose address is `ip`; `fallback` (site.master) stands for the master
/// when the node has no `noderes.xcatmaster`, unless this machine has an address on the node's
/// network and the fallback is not on it; `local` (this machine's addresses) is read only for
/// nodes without xcatmaster. None when no master is known at all.
pub fn of_node(
    view: &NodeView,
    node: &str,
    ip: Option<Ipv4Addr>,
    fallback: Option<&str>,
    local: &OnceCell<LocalNets>,
) -> Result<Option<Servers>> {
    let own = |column: &str| -> Result<Option<String>> {
        Ok(view.get(node, "noderes", column)?.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
    };
    let master = match own("xcatmaster")?.filter(|v| v != XCATMASTER) {
        Some(m) => as_given(&m),
        None => {
            let fallback = fallback.filter(|f| !f.is_empty());
            let facing = ip.and_then(|ip| Some((ip, local.get_or_init(LocalNets::load).facing_net(ip)?)));
            match (fallback, facing) {
                (Some(f), Some((ip, (_, mask))))
                    if resolve_v4(f).is_some_and(|a| u32::from(a) & mask == u32::from(ip) & mask) =>
                {
                    as_given(f)
                }
                (_, Some((_, (own, _)))) => own.to_string(),
                (Some(f), None) => as_given(f),
                (None, None) => return Ok(None),
            }
        }
    };
    let tftp = own("tftpserver")?.filter(|v| v != XCATMASTER).map(|v| as_given(&v));
    let image = own("nfsserver")?.filter(|v| v != XCATMASTER).map(|v| as_given(&v)).or(tftp.clone());
    Ok(Some(Servers {
        tftp: tftp.unwrap_or_else(|| master.clone()),
        image: image.unwrap_or_else(|| master.clone()),
        master,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facing_finds_the_address_on_the_nodes_network() {
        let local = LocalNets::of(&[
            ("127.0.0.1".parse().unwrap(), "255.0.0.0".parse().unwrap()),
            ("10.0.0.1".parse().unwrap(), "255.255.255.0".parse().unwrap()),
            ("10.1.0.254".parse().unwrap(), "255.255.0.0".parse().unwrap()),
        ]);
        assert_eq!(local.facing("10.0.0.17".parse().unwrap()), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(local.facing("10.1.7.3".parse().unwrap()), Some("10.1.0.254".parse().unwrap()));
        assert_eq!(local.facing("10.2.0.3".parse().unwrap()), None);
        assert_eq!(resolve_v4("10.3.0.1"), Some("10.3.0.1".parse().unwrap()));
        assert_eq!(local.facing_net("10.0.0.17".parse().unwrap()), Some(("10.0.0.1".parse().unwrap(), 0xffff_ff00)));
        assert_eq!(resolve_v4("localhost"), Some("127.0.0.1".parse().unwrap()));
    }
}
