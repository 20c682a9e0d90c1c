//! The per-node environment file postscripts read (xCAT's mypostscript): POSIX sh that exports
//! what the node is and where its server is, plus every site setting as SITE<KEY>, and the lists
//! of postscripts and postbootscripts to run (the `xcatdefaults` row first, then the node's or its
//! groups', then its image's).

use crate::boot::servers;
use crate::error::Result;
use crate::store::{self, schema, view::NodeView};
use rusqlite::Connection;

/// `'...'` quoting for sh: safe for any value.
fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

fn list(parts: &[Option<String>]) -> String {
    let mut out: Vec<String> = Vec::new();
    for p in parts.iter().flatten() {
        for s in p.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
    }
    out.join(",")
}

/// The file for `node` (None when no such node).
pub fn mypostscript(conn: &Connection, node: &str) -> Result<Option<String>> {
    // Only this node's rows: every booting node asks for its own.
    let view = NodeView::of_nodes(conn, &[node.to_string()])?;
    if !view.is_node(node) {
        return Ok(None);
    }
    let get = |t: &str, c: &str| view.get(node, t, c);
    // The node's master as nodeset names it (boot::servers); NFSSERVER is nfsserver, else the
    // master (xCAT's mypostscript).
    let ip = get("hosts", "ip")?.and_then(|i| i.parse().ok());
    let site_master = store::site_value(conn, "master")?;
    let servers = servers::of_node(&view, node, ip, site_master.as_deref(), &std::cell::OnceCell::new())?;
    let master = servers.as_ref().map(|s| s.master.clone()).unwrap_or_default();
    let nfsserver = get("noderes", "nfsserver")?
        .filter(|v| !v.is_empty() && v != servers::XCATMASTER)
        .unwrap_or_else(|| master.clone());
    let port = store::site_value(conn, "httpport")?.unwrap_or_else(|| "80".into());
    let image = get("nodetype", "provmethod")?;
    let osimage = schema::table("osimage").expect("osimage");
    let image_row = match &image {
        Some(i) => store::get_row(conn, osimage, &[i])?,
        None => None,
    };
    let image_col = |c: &str| image_row.as_ref().and_then(|r| r[osimage.column(c).expect("osimage column").0].clone());
    let defaults = store::get_row(conn, schema::table("postscripts").expect("postscripts"), &["xcatdefaults"])?;
    let default_col = |i: usize| defaults.as_ref().and_then(|r| r[i].clone());
    let mac = get("mac", "mac")?.map(|m| m.split('|').next().unwrap_or("").split('!').next().unwrap_or("").to_string());
    let mut vars: Vec<(String, String)> = vec![
        ("NODE".into(), node.to_string()),
        ("MASTER".into(), master.clone()),
        ("OXCAT_SERVER".into(), format!("http://{master}:{port}")),
        ("GROUP".into(), view.groups_of(node).join(",")),
    ];
    for (var, table, column) in [
        ("OSVER", "nodetype", "os"),
        ("ARCH", "nodetype", "arch"),
        ("PROFILE", "nodetype", "profile"),
        ("PROVMETHOD", "nodetype", "provmethod"),
        ("NODESETSTATE", "chain", "currstate"),
        ("INSTALLNIC", "noderes", "installnic"),
        ("PRIMARYNIC", "noderes", "primarynic"),
        ("IPADDR", "hosts", "ip"),
    ] {
        vars.push((var.into(), get(table, column)?.unwrap_or_default()));
    }
    vars.push(("NFSSERVER".into(), nfsserver));
    // oxcatpost adds it to root's authorized_keys (xdsh and updatenode log in with it).
    vars.push(("OXCAT_SSH_KEY".into(), crate::remote::keys::public_line(conn)?.unwrap_or_default()));
    vars.push(("MACADDRESS".into(), mac.unwrap_or_default()));
    vars.push((
        "POSTSCRIPTS".into(),
        list(&[default_col(1), get("postscripts", "postscripts")?, image_col("postscripts")]),
    ));
    vars.push((
        "POSTBOOTSCRIPTS".into(),
        list(&[default_col(2), get("postscripts", "postbootscripts")?, image_col("postbootscripts")]),
    ));
    let site = schema::table("site").expect("site");
    for row in store::all_rows(conn, site)?.into_iter().filter(|r| !store::is_disabled(site, r)) {
        let key: String = row[0].clone().unwrap_or_default().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        if !key.is_empty() {
            vars.push((format!("SITE{}", key.to_ascii_uppercase()), row[1].clone().unwrap_or_default()));
        }
    }
    let mut out = format!("# oxcat mypostscript for {node}: source it, then run the scripts it lists\n");
    for (k, v) in vars {
        out.push_str(&format!("{k}={}\nexport {k}\n", quote(&v)));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_lists() {
        assert_eq!(quote("a'b"), "'a'\\''b'");
        assert_eq!(
            list(&[Some("syslog,remoteshell".into()), None, Some("remoteshell, ntp".into())]),
            "syslog,remoteshell,ntp"
        );
    }
}
