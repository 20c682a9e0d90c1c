//! nodestat (what each node is doing: a TCP probe of its sshd plus the status table) and
//! makeknownhosts (the recorded host keys as a known_hosts file for OpenSSH).

use super::{flag, json_arg, timeout_arg, Ctx, Status};
use crate::error::{Error, Result};
use crate::output;
use crate::remote::probe::{self, Probe};
use crate::remote::{hostkeys, keys, targets};
use crate::store::{self, schema, view::NodeView};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

pub const NODESTAT_ABOUT: &str = "Show what nodes are doing: sshd, ping, noping, or their deploy status";
pub const MAKEKNOWNHOSTS_ABOUT: &str = "Write the nodes' recorded SSH host keys to the managed known_hosts file";

/// Statuses that say a node is on its way (shown instead of a bare `sshd` or `ping`).
const UNDER_WAY: &[&str] = &["discovering", "configuring", "standingby", "netbooting", "booting", "postbooting"];

const NODESTAT_LONG_ABOUT: &str = "Show what nodes are doing: sshd, ping, noping, or their deploy status.

Each node's SSH port (hosts.ip, else its name; site.sshport, default 22) is probed with a TCP connect, all nodes at once, and each node is sent ICMP echoes beside it where this process may (as root, or where net.ipv4.ping_group_range admits its group): sshd when the port answers, ping when the node refuses the port or answers the echo (it is up: a hung sshd, a firewalled port), noping when nothing answers in time. A node whose nodelist.status says it is on its way (installing N%, netbooting, booting, postbooting, ...) shows that status instead, and a node that is up without sshd but reported booted shows booted.";

pub fn nodestat_command() -> Command {
    Command::new("nodestat")
        .long_about(NODESTAT_LONG_ABOUT)
        .arg(Arg::new("noderange").required(true).value_name("NODERANGE").help("The nodes"))
        .arg(timeout_arg("Seconds to wait for each node's sshd (and the ICMP echo) to answer (default 2)"))
        .arg(
            Arg::new("updatedb")
                .short('u')
                .long("updatedb")
                .action(ArgAction::SetTrue)
                .help("Record sshd, ping or noping in nodelist.status (nodes under way keep theirs)"),
        )
        .arg(json_arg())
}

const MAKEKNOWNHOSTS_LONG_ABOUT: &str = "Write the nodes' recorded SSH host keys to the managed known_hosts file.

Nodes report their host keys to oxcatd at boot (oxcatpost, with the node's boot token); they are kept in the hostkeys table, which xdsh, xdcp and updatenode check every node against. makeknownhosts writes them as 'NODE,IP TYPE KEY' lines to site.sshknownhosts (default known_hosts beside the cluster key) for OpenSSH (ssh -o UserKnownHostsFile=...), replacing these nodes' lines and keeping the others. -r forgets the nodes' keys (after a reinstall whose new keys did not arrive): the next boot reports them again, or xdsh --accept-hostkey records what the node presents.";

pub fn makeknownhosts_command() -> Command {
    Command::new("makeknownhosts")
        .long_about(MAKEKNOWNHOSTS_LONG_ABOUT)
        .arg(Arg::new("noderange").required(true).value_name("NODERANGE").help("The nodes"))
        .arg(
            Arg::new("remove")
                .short('r')
                .long("remove")
                .action(ArgAction::SetTrue)
                .help("Forget the nodes' host keys (after a reinstall): remove them from the table and the file"),
        )
}

fn state(probe: Probe, status: Option<&str>) -> String {
    let status = status.filter(|s| !s.is_empty());
    let under_way = status.is_some_and(|s| UNDER_WAY.contains(&s) || s.starts_with("installing"));
    match (probe, status) {
        (Probe::Sshd | Probe::Ping, Some(s)) if under_way => s.to_string(),
        (Probe::Sshd, _) => "sshd".into(),
        (Probe::Ping, Some(s)) if s == "booted" => s.to_string(),
        (Probe::Ping, _) => "ping".into(),
        (Probe::NoPing, _) => "noping".into(),
    }
}

pub fn nodestat(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let mut st = ctx.store()?;
    let range = m.get_one::<String>("noderange").cloned().unwrap_or_default();
    let (nodes, targets, statuses) = {
        let conn = st.conn();
        let (view, nodes) = NodeView::for_range(conn, &range)?;
        let t = targets::of_nodes(conn, &view, &nodes)?;
        let mut s = HashMap::new();
        for n in &nodes {
            s.insert(n.clone(), view.get(n, "nodelist", "status")?);
        }
        (nodes, t, s)
    };
    let wait = Duration::from_secs_f64(m.get_one::<f64>("timeout").copied().unwrap_or(2.0).max(0.01));
    let probes = probe::probe_all(&targets, wait);
    let json = flag(m, "json");
    let mut seen: Vec<(String, &'static str)> = Vec::new();
    for (n, p) in nodes.iter().zip(&probes) {
        let s = state(*p, statuses.get(n).and_then(|s| s.as_deref()));
        if json {
            output::json_line(ctx.out.as_mut(), &serde_json::json!({"node": n, "state": s}))?;
        } else {
            writeln!(ctx.out, "{n}: {s}").map_err(output::io)?;
        }
        let under_way = s != "sshd" && s != "ping" && s != "noping" && s != "booted";
        if !under_way {
            seen.push((n.clone(), p.as_str()));
        }
    }
    if flag(m, "updatedb") && !seen.is_empty() {
        super::hwctl::record_power_status(&mut st, &seen)?;
    }
    Ok(Status::Ok)
}

/// The managed known_hosts: `site.sshknownhosts`, else `known_hosts` beside the cluster key.
fn known_hosts_path(st: &store::Store) -> Result<std::path::PathBuf> {
    if let Some(p) = store::site_value(st.conn(), "sshknownhosts")?.filter(|p| !p.is_empty()) {
        return Ok(p.into());
    }
    let key = keys::path(st)?;
    Ok(key.with_file_name("known_hosts"))
}

pub fn makeknownhosts(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let mut st = ctx.store()?;
    let range = m.get_one::<String>("noderange").cloned().unwrap_or_default();
    let (nodes, ips) = {
        let conn = st.conn();
        let (view, nodes) = NodeView::for_range(conn, &range)?;
        let mut ips = HashMap::new();
        for n in &nodes {
            if let Some(ip) = view.get(n, "hosts", "ip")?.filter(|i| !i.is_empty()) {
                ips.insert(n.clone(), ip);
            }
        }
        (nodes, ips)
    };
    let path = known_hosts_path(&st)?;
    let remove = flag(m, "remove");
    let fresh = if remove {
        let args = ctx.redacted_args();
        st.write(|c| {
            for n in &nodes {
                hostkeys::forget(c, n)?;
            }
            store::audit(c, "makeknownhosts", &range, &args)
        })?;
        Vec::new()
    } else {
        hostkeys::known_hosts_lines(st.conn(), &nodes, &ips)?
    };
    // The file keeps other nodes' lines; these nodes' lines are replaced.
    let old = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(path.display(), e)),
    };
    let mine = |line: &str| {
        let names = line.split_whitespace().next().unwrap_or("");
        names.split(',').next().is_some_and(|n| nodes.iter().any(|x| x == n))
    };
    let mut text: String = old.lines().filter(|l| !mine(l)).map(|l| format!("{l}\n")).collect();
    for l in &fresh {
        text.push_str(l);
        text.push('\n');
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(tmp.display(), e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(path.display(), e))?;
    if !remove {
        let have = hostkeys::of_nodes(st.conn(), &nodes)?;
        for n in nodes.iter().filter(|n| !have.contains_key(*n)) {
            ctx.error_line(&format!(
                "{n}: Warning: no host key recorded (boot it so that it reports its keys, or use xdsh {n} --accept-hostkey)"
            ))?;
        }
    }
    let _ = schema::table("hostkeys");
    Ok(Status::Ok)
}
