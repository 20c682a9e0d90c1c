//! Who to reach for a noderange: each node's address (hosts.ip, else its name), the SSH port
//! (site.sshport, else 22) and its recorded host keys.

use super::hostkeys;
use super::session::Target;
use crate::error::{Error, Result};
use crate::store::{self, view::NodeView};
use rusqlite::Connection;

/// The targets of `nodes`, in their order.
pub fn of_nodes(conn: &Connection, view: &NodeView, nodes: &[String]) -> Result<Vec<Target>> {
    let port = match store::site_value(conn, "sshport")?.filter(|p| !p.is_empty()) {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Error::Input(format!("site.sshport '{p}' is not a port (1-65535)")))?,
        None => 22,
    };
    let mut keys = hostkeys::of_nodes(conn, nodes)?;
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes {
        let host = view.get(n, "hosts", "ip")?.filter(|ip| !ip.is_empty()).unwrap_or_else(|| n.clone());
        out.push(Target { node: n.clone(), host, port, known: keys.remove(n).unwrap_or_default() });
    }
    Ok(out)
}
