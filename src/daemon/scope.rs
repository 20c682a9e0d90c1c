//! To whom a node's boot token and what it opens are given. Everything that carries the token or
//! needs it (the node's rendered boot config, its mypostscript, its status reports) is answered
//! only to one of the node's own addresses: its hosts.ip (the address DHCP reserves for it), or,
//! with proxyDHCP, where another DHCP server hands out the address, the one oxcatd saw the node's
//! MAC ask for or use in its DHCP requests. (That address is as trustworthy as the boot network:
//! a host that can send DHCP packets with the node's MAC can claim it.)

use crate::store::view::NodeView;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// The addresses proxyDHCP saw nodes use, by node (one entry per known node at most).
#[derive(Default)]
pub struct Seen(Mutex<HashMap<String, IpAddr>>);

impl Seen {
    pub fn note(&self, node: &str, addr: IpAddr) {
        let mut m = super::lock(&self.0);
        if m.get(node) != Some(&addr) {
            m.insert(node.to_string(), addr);
        }
    }

    pub fn get(&self, node: &str) -> Option<IpAddr> {
        super::lock(&self.0).get(node).copied()
    }
}

/// True when `peer` is one of `node`'s addresses (see the module's description).
pub fn is_node_address(
    conn: &rusqlite::Connection,
    node: &str,
    peer: IpAddr,
    seen: &Seen,
) -> crate::error::Result<bool> {
    let peer = peer.to_canonical();
    if seen.get(node) == Some(peer) {
        return Ok(true);
    }
    let view = NodeView::of_nodes(conn, &[node.to_string()])?;
    Ok(view.get(node, "hosts", "ip")?.and_then(|ip| ip.trim().parse::<IpAddr>().ok()) == Some(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_at_its_reserved_or_seen_address_only() {
        let d = tempfile::tempdir().unwrap();
        let mut st = crate::store::Store::open(&d.path().join("s.db")).unwrap();
        st.write(|c| {
            c.execute_batch(
                "INSERT INTO nodelist (node, groups) VALUES ('n1', 'all'), ('n2', 'all');
                 INSERT INTO hosts (node, ip) VALUES ('n1', '10.0.0.1');",
            )?;
            Ok(())
        })
        .unwrap();
        let seen = Seen::default();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(is_node_address(st.conn(), "n1", ip("10.0.0.1"), &seen).unwrap());
        assert!(is_node_address(st.conn(), "n1", ip("::ffff:10.0.0.1"), &seen).unwrap());
        assert!(!is_node_address(st.conn(), "n1", ip("10.0.0.2"), &seen).unwrap());
        assert!(!is_node_address(st.conn(), "n2", ip("10.0.0.1"), &seen).unwrap());
        seen.note("n2", ip("10.0.0.50"));
        assert!(is_node_address(st.conn(), "n2", ip("10.0.0.50"), &seen).unwrap());
        assert!(!is_node_address(st.conn(), "n9", ip("10.0.0.50"), &seen).unwrap());
    }
}
