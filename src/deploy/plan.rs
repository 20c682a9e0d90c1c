//! The server side of a disk deploy: the [`Plan`] oxcatd gives a node's agent, built from the
//! store, with the cloud-init NoCloud seed the agent writes beside the image (meta-data,
//! user-data, vendor-data, network-config, and oxcat-firstboot.sh for images without
//! cloud-init). The seed carries the node's first-boot token (chain.nexttoken), with which the
//! deployed OS fetches its mypostscript and reports `booted`.

use super::{DiskImage, Plan, Seed};
use crate::boot::servers;
use crate::error::Result;
use crate::store::{self, schema, view::NodeView};
use rusqlite::Connection;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Why a node gets no plan: the HTTP code and one line saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The node's state is no disk deploy, or its image is incomplete (409).
    Conflict(String),
    /// Something the plan needs cannot be read (500): the line names the node and the file.
    Failed(String),
}

impl Refused {
    pub fn code(&self) -> u16 {
        match self {
            Refused::Conflict(_) => 409,
            Refused::Failed(_) => 500,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Refused::Conflict(m) | Refused::Failed(m) => m,
        }
    }
}

/// The compressions the node agent decompresses (linuximage.diskimageformat).
pub const FORMATS: &[&str] = &["raw", "gz", "zst", "xz"];

/// The disk image a recorded state (chain.currstate) deploys: IMAGE when the state is
/// `install IMAGE` and IMAGE's osimage.provmethod is `disk`.
pub fn deploy_image(conn: &Connection, state: &str) -> Result<Option<String>> {
    let Some(image) = state.strip_prefix("install ").map(str::trim).filter(|i| !i.is_empty()) else {
        return Ok(None);
    };
    let osimage = schema::table("osimage").expect("osimage");
    let (col, _) = osimage.column("provmethod").expect("provmethod");
    let disk = store::get_row(conn, osimage, &[image])?.is_some_and(|r| r[col].as_deref() == Some("disk"));
    Ok(disk.then(|| image.to_string()))
}

/// The node's plan, with `nexttoken` as the token of its first boot from disk.
pub fn build(conn: &Connection, node: &str, nexttoken: &str) -> Result<std::result::Result<Plan, Refused>> {
    let view = NodeView::of_nodes(conn, &[node.to_string()])?;
    if !view.is_node(node) {
        return Ok(Err(Refused::Conflict(format!("{node}: no such node"))));
    }
    let get = |t: &str, c: &str| -> Result<Option<String>> {
        Ok(view.get(node, t, c)?.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
    };
    let state = get("chain", "currstate")?.unwrap_or_else(|| "offline".into());
    let Some(image) = deploy_image(conn, &state)? else {
        return Ok(Err(Refused::Conflict(format!(
            "{node}: its state is '{state}', not the install of a disk image (nodeset {node} osimage=DISKIMAGE)"
        ))));
    };
    let linuximage = schema::table("linuximage").expect("linuximage");
    let row = store::get_row(conn, linuximage, &[&image])?.unwrap_or_else(|| vec![None; linuximage.columns.len()]);
    let lcol = |c: &str| {
        row[linuximage.column(c).expect("linuximage column").0]
            .clone()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let conflict = |what: String| Ok(Err(Refused::Conflict(format!("{node}: osimage '{image}': {what}"))));
    let Some(file) = lcol("diskimage") else {
        return conflict(format!("no disk image (linuximage.diskimage; addimage {image} --disk FILE)"));
    };
    let format = lcol("diskimageformat").unwrap_or_else(|| "raw".into());
    if !FORMATS.contains(&format.as_str()) {
        return conflict(format!("diskimageformat '{format}' is not one of {}", FORMATS.join(", ")));
    }
    let Some(sha256) = lcol("diskimagesha256").filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return conflict("no SHA-256 of the image (linuximage.diskimagesha256: 64 hex digits)".into());
    };
    let Some(size) = lcol("diskimagesize").and_then(|s| s.parse::<u64>().ok()).filter(|s| *s > 0) else {
        return conflict("no size of the image (linuximage.diskimagesize: bytes)".into());
    };
    let installdir = PathBuf::from(store::site_value(conn, "installdir")?.unwrap_or_else(|| "/install".into()));
    let path = match crate::boot::install_url_path(&installdir, &file) {
        Ok(p) => p,
        Err(e) => return conflict(e),
    };
    let ip = get("hosts", "ip")?.and_then(|i| i.parse::<Ipv4Addr>().ok());
    let site_master = store::site_value(conn, "master")?;
    let Some(servers) = servers::of_node(&view, node, ip, site_master.as_deref(), &std::cell::OnceCell::new())? else {
        return Ok(Err(Refused::Conflict(format!(
            "{node}: no server for it (noderes.xcatmaster and site.master are not set, and this machine has no address on its network)"
        ))));
    };
    let port = store::site_value(conn, "httpport")?.unwrap_or_else(|| "80".into());
    let rootdevice = match get("noderes", "rootdevice")? {
        Some(r) => r,
        None => lcol("rootdevice").unwrap_or_default(),
    };
    let userdata = match get("noderes", "userdata")?.or_else(|| lcol("userdata")) {
        Some(f) => match std::fs::read_to_string(&f) {
            Ok(t) => Some(t),
            Err(e) => return Ok(Err(Refused::Failed(format!("{node}: cannot read its user data {f}: {e}")))),
        },
        None => None,
    };
    let keys_file = installdir.join("postscripts/_ssh/authorized_keys");
    let mut keys: Vec<String> = match std::fs::read_to_string(&keys_file) {
        Ok(t) => t.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => {
            return Ok(Err(Refused::Failed(format!("{node}: cannot read the SSH keys {}: {e}", keys_file.display()))))
        }
    };
    // The cluster's own key (xdsh, xdcp, updatenode log in with it).
    if let Some(k) = crate::remote::keys::public_line(conn)?.filter(|k| !keys.contains(k)) {
        keys.push(k);
    }
    let mac =
        get("mac", "mac")?.and_then(|m| crate::node::macs_of(&m).next()).and_then(|m| crate::node::parse_mac(&m).ok());
    let network = match (&mac, ip) {
        (Some(mac), ip) => Some(network_config(conn, &view, node, mac, ip, &servers.master)?),
        (None, _) => None,
    };
    let server = format!("http://{}:{port}", servers.master);
    let mut files = BTreeMap::new();
    files.insert("meta-data".to_string(), meta_data(node, nexttoken));
    files.insert("user-data".to_string(), userdata.unwrap_or_else(|| cloud_config(node, &keys)));
    let script = firstboot_script(&server, node, nexttoken);
    files.insert("vendor-data".to_string(), script.clone());
    files.insert("oxcat-firstboot.sh".to_string(), script);
    if let Some(n) = network {
        files.insert("network-config".to_string(), n);
    }
    Ok(Ok(Plan {
        node: node.to_string(),
        image: DiskImage { name: image, url: format!("http://{}:{port}{path}", servers.image), format, sha256, size },
        rootdevice,
        seed: Seed { files },
    }))
}

/// A YAML scalar that reads back as exactly `s`: a JSON string (every JSON string is a YAML
/// double-quoted scalar), so no value can turn into a number, a boolean or more YAML.
fn yaml(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// `'...'` quoting for sh: safe for any value.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// meta-data: a new instance id per deploy (cloud-init runs its once-per-instance work again),
/// and the host name.
fn meta_data(node: &str, nexttoken: &str) -> String {
    format!(
        "instance-id: {}\nlocal-hostname: {}\n",
        yaml(&format!("oxcat-{node}-{}", &crate::boot::nodeset::token_digest(nexttoken)[..12])),
        yaml(node)
    )
}

/// The user-data when neither node nor image names a file: the host name and the cluster's SSH
/// keys (xCAT's postscripts/_ssh/authorized_keys).
fn cloud_config(node: &str, keys: &[String]) -> String {
    let mut s = format!("#cloud-config\nhostname: {}\n", yaml(node));
    if !keys.is_empty() {
        s.push_str("ssh_authorized_keys:\n");
        for k in keys {
            s.push_str(&format!("  - {}\n", yaml(k)));
        }
    }
    s
}

/// The first-boot script (vendor-data for cloud-init, oxcat-firstboot.sh for images without it):
/// POSIX sh that fetches oxcatpost from the node's server and runs it once with the first-boot
/// token, as xCAT's xcatpostinit1 runs the postbootscripts; oxcatpost reports `booted`.
fn firstboot_script(server: &str, node: &str, token: &str) -> String {
    format!(
        r#"#!/bin/sh
# oxcat first boot after a disk deploy: runs this node's postscripts and postbootscripts once
# (oxcatpost, from the oxcat server), which reports the node's status there, ending at booted.
server={server}
node={node}
token={token}
dir=${{OXCAT_FIRSTBOOT_DIR:-/var/lib/oxcat}}
marker=$dir/firstboot.done
[ -e "$marker" ] && exit 0
mkdir -p "$dir" || exit 1
fetched=
tries=0
while [ "$tries" -lt 30 ]; do
	if command -v curl >/dev/null 2>&1; then
		curl -fsS -o "$dir/oxcatpost" "$server/postscripts/oxcatpost" && fetched=1
	else
		wget -q -O "$dir/oxcatpost" "$server/postscripts/oxcatpost" && fetched=1
	fi
	[ -n "$fetched" ] && break
	tries=$((tries + 1))
	sleep 2
done
if [ -z "$fetched" ]; then
	echo "oxcat-firstboot: cannot fetch $server/postscripts/oxcatpost (will try again at the next boot)" >&2
	exit 1
fi
chmod 0755 "$dir/oxcatpost"
OXCAT_SERVER=$server NODE=$node OXCAT_TOKEN=$token sh "$dir/oxcatpost" all
rc=$?
# oxcatpost reported the end (booted or failed), which spends the token: once is all it can run.
: >"$marker"
exit $rc
"#,
        server = sh_quote(server),
        node = sh_quote(node),
        token = sh_quote(token),
    )
}

/// cloud-init network config version 2: the boot NIC (matched by its MAC) with the node's static
/// address and its network's gateway and name servers; DHCP when no networks row holds the
/// address.
fn network_config(
    conn: &Connection,
    view: &NodeView,
    node: &str,
    mac: &str,
    ip: Option<Ipv4Addr>,
    master: &str,
) -> Result<String> {
    let mut s = format!(
        "version: 2\nethernets:\n  oxcat0:\n    match:\n      macaddress: {}\n",
        yaml(&mac.to_ascii_lowercase())
    );
    let net = match ip {
        Some(ip) => store::networks::holding(conn, ip)?.map(|n| (ip, n)),
        None => None,
    };
    let Some((ip, net)) = net else {
        s.push_str("    dhcp4: true\n");
        return Ok(s);
    };
    // <xcatmaster> in a networks row means the node's master, as in xCAT's tables.
    let addr = |v: &str| {
        let v = v.trim();
        if v == servers::XCATMASTER {
            master.to_string()
        } else {
            v.to_string()
        }
    };
    s.push_str(&format!("    dhcp4: false\n    addresses:\n      - {}\n", yaml(&format!("{ip}/{}", net.prefix()))));
    if let Some(gw) = net.gateway.as_deref().map(addr).filter(|g| !g.is_empty()) {
        s.push_str(&format!("    routes:\n      - to: {}\n        via: {}\n", yaml("0.0.0.0/0"), yaml(&gw)));
    }
    let site = |k: &str| store::site_value(conn, k).map(|v| v.filter(|v| !v.trim().is_empty()));
    let dns: Vec<String> = match net.nameservers.filter(|v| !v.trim().is_empty()) {
        Some(v) => Some(v),
        None => view.get(node, "noderes", "nameservers")?.filter(|v| !v.trim().is_empty()).or(site("nameservers")?),
    }
    .map(|v| v.split(',').map(addr).filter(|a| !a.is_empty()).collect())
    .unwrap_or_default();
    let domain = net.domain.filter(|d| !d.trim().is_empty()).or(site("domain")?);
    if !dns.is_empty() || domain.is_some() {
        s.push_str("    nameservers:\n");
        if !dns.is_empty() {
            s.push_str("      addresses:\n");
            for d in &dns {
                s.push_str(&format!("        - {}\n", yaml(d)));
            }
        }
        if let Some(d) = domain {
            s.push_str(&format!("      search:\n        - {}\n", yaml(d.trim())));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_scalars_read_back_as_the_string() {
        assert_eq!(yaml("n1"), "\"n1\"");
        assert_eq!(yaml("yes"), "\"yes\"");
        assert_eq!(yaml("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }

    #[test]
    fn the_first_boot_script_quotes_what_it_is_given() {
        let s = firstboot_script("http://10.0.0.1:80", "n'1", "ab");
        assert!(s.contains("node='n'\\''1'\n"), "{s}");
        assert!(s.starts_with("#!/bin/sh\n"));
    }
}
