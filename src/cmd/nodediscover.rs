//! nodediscoverstart, nodediscoverstop, nodediscoverstatus, nodediscoverls, nodediscoverdef:
//! xCAT's discovery commands over the discoverydata table and the site keys of `crate::discover`.

use super::{flag, Ctx, Status};
use crate::discover::{self, ON_KEY, SEQ_KEY};
use crate::error::{Error, Result};
use crate::output;
use crate::store::{self, schema};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;

pub const START_ABOUT: &str =
    "Start discovering machines that boot by a discovery lease (sequentially with noderange=)";
pub const STOP_ABOUT: &str = "Stop the running discovery";
pub const STATUS_ABOUT: &str = "Show whether discovery is running, and its parameters";
pub const LS_ABOUT: &str = "List the machines discovery found (discoverydata)";
pub const DEF_ABOUT: &str = "Define a discovered machine as a node, or remove discovery entries";

/// The discovery types of -t (xCAT's, plus mac and mtms, the methods oxcat records).
const TYPES: &[&str] = &["seq", "profile", "switch", "blade", "manual", "mtms", "mac", "undef", "all"];
/// The parameters nodediscoverstart takes.
const PARAMS: &[&str] = &["noderange", "groups", "osimage"];

fn verbose() -> Arg {
    Arg::new("verbose").short('V').long("verbose").action(ArgAction::SetTrue).help("Say more")
}

pub fn start_command() -> Command {
    Command::new("nodediscoverstart")
        .long_about(
            "Starts discovery: a machine no node has that network-boots gets an address from its network's discovery range \
             (networks.dynamicrange), boots genesis in discovery mode and reports its inventory to oxcatd, which matches it \
             to a node: one of whose MACs it has, else the one whose vpd.serial (and vpd.mtm, where set) it has, else, \
             with noderange=, the next free name of the noderange in power-on order (a name that is no node yet, or a node \
             without a MAC; the node is created in groups=, default all). The node's mac, hwinv and vpd are written in one \
             transaction; then its chain (chain.chain) runs: runcmd=bmcsetup sets the BMC up in-band from ipmi.bmc and the \
             BMC credentials, osimage=IMAGE (or osimage= given here) sets the node up to deploy IMAGE, as nodeset does, and \
             genesis reboots into it. A machine nothing matches is kept as an undefined entry (nodediscoverls, \
             nodediscoverdef). Without noderange= discovery matches by MAC and serial only (xCAT requires noderange=; \
             its MTMS discovery runs without nodediscoverstart). The sequential discovery stops by itself when the last \
             free name is taken.",
        )
        .arg(
            Arg::new("params")
                .value_name("NAME=VALUE")
                .num_args(0..)
                .help("noderange=NODERANGE (sequential: the names to hand out), groups=GROUPS, osimage=IMAGE"),
        )
        .arg(Arg::new("dns").short('n').long("dns").action(ArgAction::SetTrue).help("Recorded as dns=yes (as xCAT's; oxcat runs no DNS update)"))
        .arg(
            Arg::new("skipbmcsetup")
                .short('s')
                .long("skipbmcsetup")
                .action(ArgAction::SetTrue)
                .help("Skip the chain's runcmd=bmcsetup"),
        )
        .arg(verbose())
}

pub fn start(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let mut params: Vec<(String, String)> = Vec::new();
    for p in super::values(m, "params") {
        let Some((k, v)) = p.split_once('=') else {
            return Err(Error::Usage(format!("'{p}': give NAME=VALUE (names: {})", PARAMS.join(", "))));
        };
        if !PARAMS.contains(&k) {
            return Err(Error::Usage(format!(
                "Invalid arguement \"{k}\" (allowed: {}; hostiprange, bmciprange and the rack/chassis settings are not supported)",
                PARAMS.join(", ")
            )));
        }
        if v.is_empty() {
            return Err(Error::Usage(format!("The parameter \"{k}\" need a value.")));
        }
        params.push((k.to_string(), v.to_string()));
    }
    let mut text: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if flag(m, "dns") {
        text.push("dns=yes".into());
    }
    if flag(m, "skipbmcsetup") {
        text.push("skipbmcsetup=yes".into());
    }
    let text = text.join(",");
    let range = params.iter().find(|(k, _)| k == "noderange").map(|(_, v)| v.clone());
    if let Some(g) = params.iter().find(|(k, _)| k == "groups") {
        for name in g.1.split(',') {
            crate::node::check_name(name).map_err(|e| Error::Input(format!("groups={}: {e}", g.1)))?;
        }
    }
    let mut st = ctx.store()?;
    if discover::state(st.conn())?.is_some() {
        ctx.error_line(
            "Error: Discovery is running. If you want to rerun the discovery, stop the running discovery first.",
        )?;
        return Ok(Status::SomeFailed);
    }
    let free = match &range {
        Some(r) => Some(discover::free_names(st.conn(), r)?),
        None => None,
    };
    let args = ctx.redacted_args();
    let site = schema::table("site").expect("site");
    st.write(|c| {
        match &range {
            Some(_) => {
                store::upsert(c, site, &[SEQ_KEY], &[("value", Some(&text))])?;
                // A new sequential discovery starts from a clean list, as xCAT's.
                c.execute("DELETE FROM discoverydata WHERE method = 'sequential'", [])?;
            }
            None => store::upsert(c, site, &[ON_KEY], &[("value", Some(if text.is_empty() { "yes" } else { &text }))])?,
        }
        store::audit(c, "nodediscoverstart", range.as_deref().unwrap_or(""), &args)
    })?;
    match free {
        Some(free) => {
            writeln!(ctx.out, "Sequential Discovery: Started:").map_err(output::io)?;
            writeln!(ctx.out, "    Number of free node names: {}", free.len()).map_err(output::io)?;
            if flag(m, "verbose") {
                writeln!(ctx.out, "\n====================Free Nodes===================").map_err(output::io)?;
                writeln!(ctx.out, "{}", format!("{:<20}", "NODE").trim_end()).map_err(output::io)?;
                for n in free {
                    writeln!(ctx.out, "{n}").map_err(output::io)?;
                }
            }
        }
        None => writeln!(ctx.out, "Discovery: Started (matching by MAC and by serial/mtm)").map_err(output::io)?,
    }
    Ok(Status::Ok)
}

pub fn stop_command() -> Command {
    Command::new("nodediscoverstop")
        .long_about(
            "Stops discovery: from now on a discovery report changes nothing. Prints the nodes the sequential discovery \
             defined (NODE, MTM, SERIAL). Exit 1 when no discovery was running.",
        )
        .arg(verbose())
}

fn stopped_lines() -> [&'static str; 2] {
    ["Sequential Discovery is stopped.", "Profile Discovery is stopped."]
}

pub fn stop(ctx: &mut Ctx, _m: &ArgMatches) -> Result<Status> {
    let mut st = ctx.store()?;
    let Some(seq) = discover::state(st.conn())? else {
        for l in stopped_lines() {
            ctx.error_line(&format!("Error: {l}"))?;
        }
        return Ok(Status::SomeFailed);
    };
    let args = ctx.redacted_args();
    let site = schema::table("site").expect("site");
    st.write(|c| {
        store::delete_row(c, site, &[SEQ_KEY])?;
        store::delete_row(c, site, &[ON_KEY])?;
        store::audit(c, "nodediscoverstop", "", &args)
    })?;
    if seq.is_some() {
        let rows: Vec<(String, String, String)> = st
            .conn()
            .prepare("SELECT coalesce(node, ''), coalesce(mtm, ''), coalesce(serial, '') FROM discoverydata WHERE method = 'sequential' ORDER BY discoverytime")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        writeln!(ctx.out, "Discovered {} nodes.", rows.len()).map_err(output::io)?;
        if !rows.is_empty() {
            writeln!(ctx.out, "    {:<20}{:<10}{:<10}", "NODE", "MTM", "SERIAL").map_err(output::io)?;
            for (n, mtm, serial) in rows {
                let serial: String = serial.chars().take(8).collect();
                writeln!(ctx.out, "    {n:<20}{mtm:<10}{serial:<10}").map_err(output::io)?;
            }
        }
    } else {
        writeln!(ctx.out, "Discovery: Stopped.").map_err(output::io)?;
    }
    Ok(Status::Ok)
}

pub fn status_command() -> Command {
    Command::new("nodediscoverstatus")
        .long_about("Says whether discovery is running, and with which parameters.")
        .arg(verbose())
}

pub fn status(ctx: &mut Ctx, _m: &ArgMatches) -> Result<Status> {
    let st = ctx.store()?;
    match discover::state(st.conn())? {
        Some(Some(params)) => {
            writeln!(ctx.out, "Sequential discovery is running.").map_err(output::io)?;
            writeln!(ctx.out, "    The parameters used for discovery: {params}").map_err(output::io)?;
        }
        Some(None) => writeln!(ctx.out, "Discovery (by MAC and by serial/mtm) is running.").map_err(output::io)?,
        None => {
            for l in stopped_lines() {
                writeln!(ctx.out, "{l}").map_err(output::io)?;
            }
        }
    }
    Ok(Status::Ok)
}

fn type_arg() -> Arg {
    Arg::new("type")
        .short('t')
        .value_name("TYPE")
        .value_parser(clap::builder::PossibleValuesParser::new(TYPES))
        .hide_possible_values(true)
        .help("Only entries discovered this way: seq, mtms, mac, manual, undef, all (profile, switch, blade: xCAT's, never recorded here)")
}

pub fn ls_command() -> Command {
    Command::new("nodediscoverls")
        .long_about(
            "Lists the machines discovery found: UUID, NODE (undef when matched to none), METHOD (sequential, mtms, mac, \
             manual, undef), MTM, SERIAL. Without -t or -u: the sequential discovery's entries while one runs, else all. \
             -l prints every field as a stanza.",
        )
        .arg(type_arg().conflicts_with("uuid"))
        .arg(Arg::new("uuid").short('u').value_name("UUID").help("Only the entry of this machine"))
        .arg(Arg::new("long").short('l').action(ArgAction::SetTrue).help("Every field, as stanzas"))
        .arg(verbose())
}

/// The method a -t type stands for (None: all).
fn method_of(t: &str) -> Option<&str> {
    match t {
        "all" => None,
        "seq" => Some("sequential"),
        other => Some(other),
    }
}

pub fn ls(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let st = ctx.store()?;
    let dd = schema::table("discoverydata").expect("discoverydata");
    let seq_running = matches!(discover::state(st.conn())?, Some(Some(_)));
    let uuid = m.get_one::<String>("uuid");
    let ty = m.get_one::<String>("type").cloned().unwrap_or_else(|| {
        if uuid.is_none() && seq_running {
            "seq".into()
        } else {
            "all".into()
        }
    });
    let mut rows = store::all_rows(st.conn(), dd)?;
    let col = |name: &str| dd.column(name).expect("discoverydata column").0;
    let get = |r: &store::Row, name: &str| r[col(name)].clone().unwrap_or_default();
    rows.retain(|r| match uuid {
        Some(u) => get(r, "uuid").eq_ignore_ascii_case(u),
        None => method_of(&ty).is_none_or(|want| get(r, "method") == want),
    });
    rows.sort_by_key(|r| get(r, "discoverytime"));
    if seq_running && ty == "seq" && uuid.is_none() {
        writeln!(ctx.out, "Discovered {} node.", rows.len()).map_err(output::io)?;
    }
    if flag(m, "long") {
        let attrs =
            ["node", "method", "discoverytime", "arch", "cpucount", "cputype", "memory", "mtm", "serial", "nichwaddr"];
        for r in &rows {
            writeln!(ctx.out, "Object uuid: {}", get(r, "uuid")).map_err(output::io)?;
            for a in attrs {
                let v = get(r, a);
                if !v.is_empty() {
                    writeln!(ctx.out, "    {a}={v}").map_err(output::io)?;
                }
            }
            // The disks, from the report kept in otherdata.
            if let Ok(rep) = serde_json::from_str::<discover::Report>(&get(r, "otherdata")) {
                let disks: Vec<String> = rep
                    .disks
                    .iter()
                    .map(|d| format!("{}!{}MB!{}!{}!{}", d.name, d.size >> 20, d.model, d.serial, d.wwn))
                    .collect();
                if !disks.is_empty() {
                    writeln!(ctx.out, "    disks={}", disks.join(",")).map_err(output::io)?;
                }
                if let Some(b) = rep.bmc {
                    writeln!(ctx.out, "    bmcip={}\n    bmcmac={}", b.ip, b.mac).map_err(output::io)?;
                }
            }
        }
        return Ok(Status::Ok);
    }
    if rows.is_empty() {
        return Ok(Status::Ok);
    }
    let line = |u: &str, n: &str, me: &str, mtm: &str, s: &str| format!("  {u:<40}{n:<20}{me:<15}{mtm:<10}{s:<13}");
    writeln!(ctx.out, "{}", line("UUID", "NODE", "METHOD", "MTM", "SERIAL")).map_err(output::io)?;
    for r in &rows {
        let or_undef = |v: String| if v.is_empty() { "undef".to_string() } else { v };
        let serial: String = get(r, "serial").chars().take(12).collect();
        let text =
            line(&get(r, "uuid"), &or_undef(get(r, "node")), &or_undef(get(r, "method")), &get(r, "mtm"), &serial);
        writeln!(ctx.out, "{text}").map_err(output::io)?;
    }
    Ok(Status::Ok)
}

pub fn def_command() -> Command {
    Command::new("nodediscoverdef")
        .long_about(
            "-u UUID -n NODE defines the discovered machine UUID as NODE (which must exist): its mac, hwinv and vpd are \
             written from the machine's report, in one transaction, and the entry's method becomes manual. -r removes \
             entries: the one of -u UUID, or those of -t TYPE.",
        )
        .arg(Arg::new("uuid").short('u').value_name("UUID").help("The discovered machine (nodediscoverls lists them)"))
        .arg(Arg::new("node").short('n').value_name("NODE").help("The node to define it as").conflicts_with("remove"))
        .arg(type_arg().requires("remove").conflicts_with("uuid"))
        .arg(Arg::new("remove").short('r').action(ArgAction::SetTrue).help("Remove discovery entries (-u UUID or -t TYPE)"))
        .arg(verbose())
}

pub fn def(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let uuid = m.get_one::<String>("uuid").map(|u| u.to_ascii_lowercase());
    let mut st = ctx.store()?;
    let args = ctx.redacted_args();
    let dd = schema::table("discoverydata").expect("discoverydata");
    if flag(m, "remove") {
        let ty = m.get_one::<String>("type");
        let missing = st.write(|c| {
            match (&uuid, ty) {
                (Some(u), _) => {
                    if !store::delete_row(c, dd, &[u])? {
                        return Ok(Some(format!("Cannot find discovery entry with uuid equals [{u}].")));
                    }
                }
                (None, Some(t)) => match method_of(t) {
                    None => {
                        c.execute("DELETE FROM discoverydata", [])?;
                    }
                    Some(me) => {
                        c.execute("DELETE FROM discoverydata WHERE method = ?1", [me])?;
                    }
                },
                (None, None) => return Err(Error::Usage("-r needs -u UUID or -t TYPE".into())),
            }
            store::audit(c, "nodediscoverdef", "", &args)?;
            Ok(None)
        })?;
        if let Some(why) = missing {
            ctx.error_line(&format!("Error: {why}"))?;
            return Ok(Status::SomeFailed);
        }
        writeln!(ctx.out, "Removing discovery entries finished.").map_err(output::io)?;
        return Ok(Status::Ok);
    }
    let (Some(uuid), Some(node)) = (uuid, m.get_one::<String>("node")) else {
        return Err(Error::Usage("give -u UUID -n NODE (define), or -r with -u UUID or -t TYPE (remove)".into()));
    };
    let done = st.write(|c| {
        let r = discover::define_by_hand(c, &uuid, node)?;
        if r.is_ok() {
            store::audit(c, "nodediscoverdef", node, &args)?;
        }
        Ok(r)
    })?;
    match done {
        Ok(()) => {
            writeln!(ctx.out, "Defined [{uuid}] to node {node}.").map_err(output::io)?;
            Ok(Status::Ok)
        }
        Err(why) => {
            ctx.error_line(&format!("Error: {why}"))?;
            Ok(Status::SomeFailed)
        }
    }
}
